"""The frozen learned planner: its provenance, its features, and refusal of a tampered model file."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from secfp.errors import BadInput, UsageError
from secfp.planning.learned import FEATURES, MODEL_FILE, SCENARIOS, TaskFacts, frozen_model, load_frozen_model, \
    pool_features

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "paper-transfer-dev"


def test_frozen_model_names_the_exact_data_it_was_fitted_on():
    prov = frozen_model().provenance
    digests = prov["data_sha256"]
    assert "outcomes/pretraining_BA_800.csv" in digests and "distances/bkld_small.csv" in digests
    for rel, digest in digests.items():
        assert hashlib.sha256((DATA / rel).read_bytes()).hexdigest() == digest, rel
    assert prov["candidate"] == frozen_model().name
    assert 0.0 < prov["cv_criterion"] < 1.0 and prov["date"] >= "2026-11-29"
    assert set(prov["cv_out_of_fold"]) == set(SCENARIOS)


def test_model_file_is_package_data():
    assert f'"secfp.planning" = ["{MODEL_FILE}"]' in (ROOT / "pyproject.toml").read_text()
    assert (ROOT / "secfp" / "planning" / MODEL_FILE).is_file()


def test_features_are_pool_z_scores_and_card_facts():
    srcs = [TaskFacts(images=100, num_classes=2, keywords=frozenset({"x_ray"}), domain="x_ray"),
            TaskFacts(images=10_000, num_classes=10, keywords=frozenset({"mri"}), domain="mri"),
            TaskFacts()]
    query = TaskFacts(images=800, num_classes=2, keywords=frozenset({"x_ray", "chest"}), domain="x_ray")
    x = pool_features(bkld_small=[0.2, 0.4, 0.6], bkld_large=[0.5, math.nan, 0.7], sources=srcs, query=query)
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    assert col["sim_small"].tolist() == [-0.2, -0.4, -0.6]
    assert col["sim_large"][1] == pytest.approx(-0.6)  # missing large distance: the pool's median
    assert col["z_small"].mean() == pytest.approx(0.0) and col["z_small"].std() == pytest.approx(1.0)
    assert col["log_src_images"].tolist() == pytest.approx([2.0, 4.0, 3.75])  # unknown counts as typical
    assert col["keyword_jaccard"].tolist() == pytest.approx([0.5, 0.0, 0.25])
    assert col["same_domain"].tolist() == [1.0, 0.0, 0.0]
    assert np.all(col["log_tgt_images"] == pytest.approx(np.log10(800)))
    with pytest.raises(UsageError):
        pool_features(bkld_small=[0.1, math.nan], bkld_large=None, sources=srcs[:2], query=query)


def test_model_scores_every_scenario_and_p_gain_is_a_probability():
    srcs = [TaskFacts(images=200 * (i + 1), num_classes=2 + i) for i in range(6)]
    x = pool_features(bkld_small=np.linspace(0.1, 0.6, 6), bkld_large=None, sources=srcs, query=TaskFacts())
    model = frozen_model()
    for scenario in SCENARIOS:
        scores = model.score(scenario, x)
        assert scores.shape == (6,) and np.all(np.isfinite(scores))
        p = model.p_gain(scenario, scores, x)
        assert np.all((p > 0) & (p < 1))
    with pytest.raises(UsageError):
        model.score("distillation", x)


def test_tampered_model_files_are_refused(tmp_path):
    doc = json.loads((ROOT / "secfp" / "planning" / MODEL_FILE).read_text())
    for broken in ({**doc, "features": doc["features"][:-1]}, {**doc, "kind": "oracle"},
                   {**doc, "blend": ["future_outcome"]}, {k: v for k, v in doc.items() if k != "kind"}):
        path = tmp_path / "m.json"
        path.write_text(json.dumps(broken))
        with pytest.raises(BadInput):
            load_frozen_model(str(path))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BadInput):
        load_frozen_model(str(tmp_path / "bad.json"))
