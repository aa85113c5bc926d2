"""Attack: read the ledger's privacy_unit to learn whether one added patient's images carry a DICOM
PatientID. The default unit is the coarsest the inputs provide, so one image without an id used to
turn a 'patient' ledger into a 'volume' ledger. Real CT DICOM tiles with real PatientIDs, a real
fundus PNG, the real probe and the real CLI."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from secfp.cli import app
from secfp.errors import UsageError
from secfp.workflows.export import DPRequest, prepare_export

NOW = datetime.now(timezone.utc)


def _ledger(folder: Path, spec, **dp) -> dict:
    plan = prepare_export([folder], spec=spec, samples=10, seed=0, dp=DPRequest(epsilon=4.0, **dp), recipients=(),
                          public=True, lifetime=timedelta(days=30), card=None, policy=None, dataset=None, budget=None,
                          now=NOW)
    return plan.ledger.to_json()


@pytest.fixture
def plus_one_without_id(sample_tasks, tmp_path) -> tuple[Path, Path]:
    """The CT task (every image has a PatientID) and the same plus one image of a patient without one."""
    with_ids = sample_tasks["ct"][0]
    mixed = tmp_path / "mixed"
    shutil.copytree(with_ids, mixed)
    shutil.copy(sorted(sample_tasks["fundus"][0].iterdir())[0], mixed / "no-patient-id.png")
    return with_ids, mixed


def test_one_image_without_a_patient_id_cannot_flip_the_published_unit(plus_one_without_id, default_spec,
                                                                       torch_home) -> None:
    with_ids, mixed = plus_one_without_id
    assert _ledger(with_ids, default_spec)["privacy_unit"] == "patient"
    # The default is refused on mixed inputs, before anything is sampled: no ledger says 'volume' for it.
    with pytest.raises(UsageError, match="42 of 43 images carry a DICOM PatientID"):
        _ledger(mixed, default_spec)
    # A public choice gives equal ledgers on both sides.
    assert _ledger(with_ids, default_spec, privacy_unit="volume") == _ledger(mixed, default_spec, privacy_unit="volume")


def test_the_cli_refuses_mixed_inputs_without_a_unit_with_exit_2_and_writes_nothing(plus_one_without_id, tmp_path,
                                                                                    monkeypatch) -> None:
    _, mixed = plus_one_without_id
    monkeypatch.setenv("SECFP_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    assert runner.invoke(app, ["keygen", "alice", "--out", str(tmp_path / "alice"), "--no-passphrase"]).exit_code == 0
    args = ["export", str(mixed), "--key", str(tmp_path / "alice" / "alice.key"), "--public", "--dp-epsilon", "4"]
    refused = runner.invoke(app, [*args, "-o", str(tmp_path / "x.bundle")])
    assert refused.exit_code == 2 and "--privacy-unit" in refused.stderr and "Traceback" not in refused.output
    assert not (tmp_path / "x.bundle").exists() and not (tmp_path / "home" / "budgets").exists()
    chosen = runner.invoke(app, [*args, "--privacy-unit", "volume", "-o", str(tmp_path / "y.bundle")])
    assert chosen.exit_code == 0, chosen.output
