"""Attack: read two DP bundles of datasets that differ by one patient (or by one image that fails to
decode) and look for any byte outside the noisy counts that differs. Real CT images with real DICOM
PatientIDs, the real probe, real signed bundles; the only masked fields are the noise, its
post-processing (n-hat, the feature-mean estimate, the card's image-count estimate) and the random
bundle id."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from secfp._io import canonical_json
from secfp.exchange import generate_identity
from secfp.fingerprint.images import scan
from secfp.fingerprint.units import assign_units
from secfp.privacy import BudgetStore
from secfp.workflows.export import DPRequest, prepare_export, release

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
# A card whose author typed the exact image count: under DP it leaves only as the noisy estimate.
CARD = {"v": 1, "task": {"name": "abdomen", "modality": "CT", "images": 42}}
ISSUER = generate_identity("alice", now=NOW - timedelta(days=1))


def _statement(folder: Path, spec, tmp_path: Path, name: str, *, unit: str = "patient",
               warnings: list | None = None) -> dict:
    """The signed statement of a real public DP bundle of ``folder``; checks that no dataset id is in the file."""
    plan = prepare_export([folder], spec=spec, samples=10, seed=0,
                          dp=DPRequest(epsilon=4.0, privacy_unit=unit), recipients=(), public=True,
                          lifetime=timedelta(days=30), card=CARD, policy=None, dataset=None,
                          budget=BudgetStore(tmp_path / "budgets", total_epsilon=100.0), now=NOW)
    sealed = release(plan, tmp_path / f"{name}.bundle", issuer=ISSUER,
                     budget=BudgetStore(tmp_path / "budgets", total_epsilon=100.0),
                     audit_log=tmp_path / "audit.jsonl", actor="test", now=NOW)
    if warnings is not None:
        warnings.extend(plan.warnings)
    # The content id (a digest of the file digests) would confirm membership of a known image set.
    assert plan.content_dataset.startswith("content:")
    assert plan.content_dataset.split(":")[1].encode() not in sealed.data
    assert plan.content_dataset.split(":")[1] not in canonical_json(sealed.statement.to_json()).decode()
    return sealed.statement.to_json()


def _outside_the_noise(statement: dict) -> bytes:
    """Every byte of the statement except the noise, its post-processing and the random bundle id."""
    masked = dict(statement, bundle_id="*")
    masked["fingerprint"] = dict(statement["fingerprint"], counts="*", n="*", feature_mean="*")
    masked["card"] = dict(statement["card"], task=dict(statement["card"]["task"], images="*"))
    return canonical_json(masked)


@pytest.fixture
def one_patient_less(sample_tasks, tmp_path) -> tuple[Path, Path]:
    """The CT task (two patients by DICOM PatientID) and a copy holding only the first patient."""
    full = sample_tasks["ct"][0]
    units = assign_units(scan([str(full)]))
    by_patient: dict[int, list[str]] = defaultdict(list)
    for ref, unit in zip(units.refs, units.unit_index.tolist(), strict=True):
        by_patient[unit].append(ref.path)
    assert len(by_patient) == 2
    smaller = tmp_path / "one-patient"
    smaller.mkdir()
    for path in by_patient[0]:
        shutil.copy(path, smaller)
    return full, smaller


def test_bundles_of_neighbouring_datasets_differ_only_in_the_noise(one_patient_less, default_spec, tmp_path,
                                                                      torch_home) -> None:
    full, smaller = one_patient_less
    statements = [_statement(folder, default_spec, tmp_path / name, name)
                  for folder, name in ((full, "full"), (smaller, "smaller"))]
    assert all(s["privacy"]["mechanism"] == "discrete_gaussian" for s in statements)
    assert all(s["card"]["task"]["images_kind"] == "dp_estimate" for s in statements)
    assert _outside_the_noise(statements[0]) == _outside_the_noise(statements[1])
    # The masked fields really are the ones that carry the data (they differ between the two releases).
    assert statements[0]["fingerprint"]["counts"] != statements[1]["fingerprint"]["counts"]


def test_an_image_that_fails_to_decode_leaves_no_trace_in_the_bundle(sample_tasks, default_spec, tmp_path,
                                                                     torch_home) -> None:
    import numpy as np

    from secfp.fingerprint.pipeline import fingerprint_poisson

    clean = sample_tasks["fundus"][0]
    broken = tmp_path / "with-a-broken-image"
    shutil.copytree(clean, broken)
    data = sorted(broken.iterdir())[0].read_bytes()
    (broken / "zz-broken.png").write_bytes(data[: len(data) // 2])  # the header reads, the pixels do not
    # The broken image is scanned as an image and dropped only when it is decoded.
    assert len(scan([str(broken)]).refs) == len(scan([str(clean)]).refs) + 1
    run = fingerprint_poisson([str(broken)], spec=default_spec, sample_rate=1.0, rng=np.random.default_rng(0))
    assert [path for path, _ in run.failed] == [f"{broken / 'zz-broken.png'}#0"]
    statements = [_statement(folder, default_spec, tmp_path / name, name, unit="image")
                  for folder, name in ((clean, "clean"), (broken, "broken"))]
    assert _outside_the_noise(statements[0]) == _outside_the_noise(statements[1])


def test_warnings_stay_on_the_custodians_terminal(sample_tasks, default_spec, tmp_path, torch_home) -> None:
    clean = sample_tasks["fundus"][0]
    copied = tmp_path / "with-a-copy"
    shutil.copytree(clean, copied)
    shutil.copy(sorted(copied.iterdir())[0], copied / "zz-copy.png")
    shown: list[list[str]] = [[], []]
    statements = [_statement(folder, default_spec, tmp_path / name, name, unit="image", warnings=seen)
                  for folder, name, seen in ((clean, "clean", shown[0]), (copied, "copied", shown[1]))]
    assert not any("duplicate" in w for w in shown[0]) and any("1 duplicate image" in w for w in shown[1])
    assert _outside_the_noise(statements[0]) == _outside_the_noise(statements[1])
