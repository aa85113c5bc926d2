"""The frozen learned planner: its provenance, its features, and refusal of a tampered model file."""

from __future__ import annotations

import dataclasses
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
    booster = next(iter(doc["boosters"]))
    for broken in ({**doc, "features": doc["features"][:-1]}, {**doc, "kind": "oracle"},
                   {**doc, "blend": ["future_outcome"]}, {k: v for k, v in doc.items() if k != "kind"},
                   {**doc, "features": [*doc["features"][:-1], "target_outcome"]},
                   {**doc, "features": [*doc["features"][:-1], doc["features"][0]]},
                   {**doc, "prior": "target_outcome"},
                   {**doc, "boosters": {**doc["boosters"], booster: "tree\nnot a booster"}}):
        path = tmp_path / "m.json"
        path.write_text(json.dumps(broken))
        with pytest.raises(BadInput):
            load_frozen_model(str(path))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(BadInput):
        load_frozen_model(str(tmp_path / "bad.json"))


def test_card_imbalance_and_image_size_features_default_to_the_study_median():
    srcs = [TaskFacts(images=100, imbalance_ratio=10.0, image_pixels=512 * 512), TaskFacts()]
    query = TaskFacts(imbalance_ratio=1.0, image_pixels=224 * 224)
    x = pool_features(bkld_small=[0.2, 0.4], bkld_large=None, sources=srcs, query=query)
    col = {name: x[:, i] for i, name in enumerate(FEATURES)}
    assert col["log_src_imbalance"].tolist() == pytest.approx([1.0, 0.46])
    assert col["log_tgt_imbalance"].tolist() == pytest.approx([0.0, 0.0])
    assert col["log_src_pixels"].tolist() == pytest.approx([np.log10(512 * 512), 5.44])
    assert col["abs_log_pixels_gap"].tolist() == pytest.approx(
        [abs(np.log10(512 * 512) - np.log10(224 * 224)), abs(5.44 - np.log10(224 * 224))])


def test_a_prior_model_adds_the_size_prior_to_its_trees_and_reads_only_its_own_columns():
    model = frozen_model()
    assert model.prior == "size" and set(model.features) <= set(FEATURES)
    srcs = [TaskFacts(images=10 ** (2 + i / 2), num_classes=2 + i % 3) for i in range(7)]
    x = pool_features(bkld_small=np.linspace(0.1, 0.7, 7), bkld_large=None, sources=srcs, query=TaskFacts(images=800))
    trees_only = dataclasses.replace(model, prior=None)
    log_src = x[:, FEATURES.index("log_src_images")]
    prior = -(log_src - log_src.mean()) / log_src.std()
    for scenario in SCENARIOS:
        assert model.score(scenario, x) - trees_only.score(scenario, x) == pytest.approx(prior)
        # Columns the model does not read change nothing.
        other = x.copy()
        for name in set(FEATURES) - set(model.features):
            other[:, FEATURES.index(name)] = 99.0
        assert model.score(scenario, other) == pytest.approx(model.score(scenario, x))


def test_frozen_model_carries_the_study_evidence_a_plan_quotes():
    evidence = frozen_model().provenance["evidence"]
    oof = frozen_model().provenance["cv_out_of_fold"]
    assert set(evidence) == set(SCENARIOS)
    for scenario, ev in evidence.items():
        assert ev["percentile@1"] == pytest.approx(oof[scenario]["percentile@1"], abs=1e-4)
        assert 0.0 <= ev["beats_size_only_share"] <= 1.0 and ev["targets"] in (23, 28)


def test_the_benchmarks_deployment_check_builds_the_features_a_pool_builds():
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_planner", ROOT / "benchmarks" / "fit_planner.py")
    fit_planner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit_planner)
    srcs = [TaskFacts(images=100 * (i + 1), num_classes=2 + i) for i in range(5)]
    small, large = [0.5, 0.7, 0.6, 0.9, 1.1], [1.4, 2.0, 1.1, 2.5, 3.0]
    with_large = pool_features(bkld_small=small, bkld_large=large, sources=srcs, query=TaskFacts())
    at_run_time = pool_features(bkld_small=small, bkld_large=None, sources=srcs, query=TaskFacts())
    assert np.array_equal(fit_planner.small_stands_in(with_large), at_run_time)


def test_planner_similarity_diagnostic_prints_every_scenario():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "planner_similarity.py"), "--data", str(DATA)],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.split()[:1] and line.split()[0] in SCENARIOS]
    assert [r[0] for r in rows] == list(SCENARIOS)
    assert all(-1.0 <= float(v) <= 1.0 for r in rows for v in r[1:4]) and all(int(r[4]) in (46, 56) for r in rows)
