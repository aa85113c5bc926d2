"""How much the frozen planner follows fingerprint similarity, next to what the study's outcomes say.

Run:  python benchmarks/planner_similarity.py [--data tests/data/paper-transfer-dev]

Prints, per scenario, the mean over development targets (shrunk protocol, seeds averaged, BA and
AUROC pooled) of three Spearman correlations within each target's pool of valid sources:

* outcome vs closeness: measured transfer score against -bKLD small (what the data says);
* planner vs closeness: the frozen planner's score against -bKLD small (in sample on this folder);
* planner vs closeness, card facts held equal: the same on pools whose sources share one card
  (1,000 images, 3 classes, same modality) and differ only in their real bKLD values, so the
  correlation is the model's own use of similarity.

A negative value means "farther first". Nothing here is fitted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from secfp.evaluation.selectors import study_pool  # noqa: E402
from secfp.evaluation.study import SCENARIOS, load_transfer_study  # noqa: E402
from secfp.planning.learned import FEATURES, TaskFacts, frozen_model, pool_features  # noqa: E402


def main() -> None:
    default = os.environ.get("SECFP_TRANSFER_DATA", str(Path(__file__).resolve().parents[1] / "tests" / "data" /
                                                         "paper-transfer-dev"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default)
    args = parser.parse_args()
    study = load_transfer_study(args.data)
    model = frozen_model()
    same = TaskFacts(images=1000, num_classes=3, keywords=frozenset({"ct_scan"}), domain="ct_scan")
    rows: dict[str, list[tuple[float, float, float]]] = {sc: [] for sc in SCENARIOS}
    for exp in sorted(study.experiments.values(), key=lambda e: e.key):
        if exp.size != "800":
            continue
        for target in sorted(exp.scores):
            sources, x = study_pool(study, target, shrunk=True)
            seeds = sorted(exp.baselines[target])
            y = np.array([np.mean([exp.scores[target][s][k] for k in seeds]) for s in sources])
            closeness = x[:, FEATURES.index("sim_small")]
            large = -x[:, FEATURES.index("sim_large")]
            equal = pool_features(bkld_small=-closeness, bkld_large=large, sources=[same] * len(sources), query=same)
            rho = [scipy.stats.spearmanr(v, closeness).statistic
                   for v in (y, model.score(exp.scenario, x), model.score(exp.scenario, equal))]
            rows[exp.scenario].append(tuple(rho))
    print(f"model: {model.name}; data: {args.data}")
    print(f"{'scenario':14s}{'outcome~closeness':>20s}{'planner~closeness':>20s}{'same cards':>14s}{'items':>7s}")
    for sc in SCENARIOS:
        r = np.nanmean(np.array(rows[sc]), axis=0)
        print(f"{sc:14s}{r[0]:20.3f}{r[1]:20.3f}{r[2]:14.3f}{len(rows[sc]):7d}")


if __name__ == "__main__":
    main()
