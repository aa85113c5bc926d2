"""Fixtures for the knowledge-cloud tests: a real registry, institutions with real keys and real fingerprints.

The registry is CNCF Distribution (Debian's ``docker-registry``) started on a free
loopback port with htpasswd authentication; the hostile registry
(``hostile_registry.py``) is a small HTTP server on 127.0.0.1 for what a well-behaved
registry never sends. Fingerprints are of real sample-task images (8 per task).
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile_registry import HostileRegistry  # noqa: E402
from registry_server import PASSWORDS, RunningRegistry, start_registry  # noqa: E402

from secfp.exchange import generate_identity, save_identity, seal_bundle, trust_add  # noqa: E402
from secfp.governance import read_log  # noqa: E402
from secfp.privacy import PrivacyLedger  # noqa: E402

NOW = datetime.now(timezone.utc)


def card(name: str, *, modality: str) -> dict[str, Any]:
    return {"v": 1, "task": {"name": name, "modality": modality, "num_classes": 2, "images": 400},
            "knowledge": {"architecture": {"name": "resnet50", "score": 0.8, "metric": "BA"},
                          "cotraining": {"data_shareable": True, "terms": "DUA required", "contact": "dpo@example.org"}}}


@pytest.fixture(scope="session")
def cloud_fps(tmp_path_factory, default_spec, torch_home) -> dict[str, Any]:
    """Fingerprints of real images: half 'a' of the CT and MR sample tasks, and half 'b' of CT as the query."""
    from secfp.fingerprint.pipeline import fingerprint_paths
    from secfp.sample_tasks import build_sample_tasks

    tasks = build_sample_tasks(tmp_path_factory.mktemp("cloud-tasks"), names=["ct", "mr"])
    wanted = {"ct": tasks["ct"][0], "mr": tasks["mr"][0], "ct-query": tasks["ct"][1]}
    return {name: fingerprint_paths([folder], spec=default_spec, samples=8, seed=0).fingerprint
            for name, folder in wanted.items()}


@pytest.fixture(scope="session")
def people() -> dict[str, Any]:
    """alice and carol publish, bob is the newcomer; mallory is trusted by no one. Valid today (the CLI reads the clock)."""
    born = NOW - timedelta(days=1)
    return {n: generate_identity(n, now=born, valid_for=timedelta(days=30)) for n in ("alice", "carol", "bob", "mallory")}


@pytest.fixture
def registry(tmp_path: Path):
    """A real registry with one account per institution; stopped after the test."""
    if shutil.which("docker-registry") is None:
        pytest.skip("Debian's docker-registry is not installed (.ci/run installs it)")
    running = start_registry(tmp_path / "registry", PASSWORDS)
    yield running
    running.stop()


@pytest.fixture
def hostile(tmp_path: Path):
    server = HostileRegistry()
    yield server
    server.stop()


class Cloud:
    """Bob's site (key, trust store trusting alice and carol, pool, audit log) and a CLI runner."""

    def __init__(self, tmp: Path, people: dict[str, Any], fps: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp, self.people, self.fps, self.monkeypatch = tmp, people, fps, monkeypatch
        save_identity(people["bob"], tmp / "bob", passphrase=None, unsafe_no_passphrase=True)
        self.key = tmp / "bob" / "bob.key"
        self.trust = tmp / "trust"
        for name in ("alice", "carol"):
            trust_add(self.trust, people[name].card, now=NOW)
        self.pool = tmp / "pool"
        self.audit = tmp / "audit.jsonl"
        self.runner = CliRunner()

    def bundle(self, name: str, *, issuer: str, fp: str, public: bool = False, modality: str = "CT") -> Path:
        fingerprint = self.fps[fp]
        data = seal_bundle(fingerprint, issuer=self.people[issuer],
                           recipients=[] if public else [self.people["bob"].card], public=public, now=NOW,
                           card=card(name, modality=modality),
                           privacy=PrivacyLedger.none(spec_id=fingerprint.spec_id).to_json()).data
        path = self.tmp / f"{name}.bundle"
        path.write_bytes(data)
        return path

    def run(self, *args: Any, env: dict[str, str] | None = None):
        from secfp.cli import app

        return self.runner.invoke(app, [str(a) for a in args], env=env)

    def publish(self, registry: RunningRegistry, user: str, repository: str, *paths: Path, extra: tuple = ()):
        return self.run("publish", *paths, registry.ref(repository), "--username", user, "--plain-http",
                        "--audit-log", self.tmp / f"{user}-audit.jsonl", *extra,
                        env={"SECFP_REGISTRY_PASSWORD": PASSWORDS[user]})

    def sync(self, reference: str, *extra: Any, env: dict[str, str] | None = None):
        return self.run("pool", "sync", reference, "--pool", self.pool, "--key", self.key, "--trust", self.trust,
                        "--audit-log", self.audit, "--plain-http", *extra, env=env)

    def docker_login(self, registry: RunningRegistry, user: str) -> None:
        """Bob's credentials the way `docker login` stores them: $DOCKER_CONFIG/config.json."""
        folder = self.tmp / "docker"
        folder.mkdir(exist_ok=True)
        auth = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
        (folder / "config.json").write_text(json.dumps({"auths": {registry.registry: {"auth": auth}}}))
        self.monkeypatch.setenv("DOCKER_CONFIG", str(folder))

    def audit_events(self, event: str | None = None) -> list[Any]:
        if not self.audit.exists():
            return []
        return [r.event for r in read_log(self.audit) if event is None or r.event.event == event]

    def pooled(self) -> list[str]:
        folder = self.pool / "bundles"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def cloud(tmp_path, people, cloud_fps, monkeypatch) -> Cloud:
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.docker/config.json of the machine
    return Cloud(tmp_path, people, cloud_fps, monkeypatch)
