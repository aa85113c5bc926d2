from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_helpers import NOW, Scenario, build_scenario  # noqa: E402

from secfp.report import Report, build_report  # noqa: E402

SAMPLES = 16


@pytest.fixture(scope="session")
def report_fingerprints(sample_tasks, default_spec, torch_home):
    """Real fingerprints (16 sampled images, one batch) of the CT halves, ultrasound and fundus tasks."""
    from secfp.fingerprint.pipeline import fingerprint_paths

    folders = {"ct_a": sample_tasks["ct"][0], "ct_b": sample_tasks["ct"][1], "us": sample_tasks["us"][0],
               "fundus": sample_tasks["fundus"][0]}
    return {key: fingerprint_paths([folder], spec=default_spec, samples=SAMPLES, seed=0,
                                   batch_size=SAMPLES).fingerprint
            for key, folder in folders.items()}


@pytest.fixture(scope="session")
def scenario(report_fingerprints, default_spec) -> Scenario:
    return build_scenario(report_fingerprints, default_spec)


@pytest.fixture(scope="session")
def report(scenario) -> Report:
    return build_report(query_name="our CT task (ct/a)", query_fp=scenario.query_fp, ranking=scenario.ranking,
                        statements=scenario.statements, plan=scenario.plan, variant="small", now=NOW)
