"""Helpers and fixtures for the pool tests: a receiving institution (bob), bundles from the peer simulator.

Bundles are real (signed, sealed, with a privacy ledger); fingerprints are the
simulator's small multinomial ones, or, where distances matter, fingerprints of real
sample-task images (16 images each, a few seconds per task).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "exchange"))

from secfp_peers import NOW, PeerSimulator, identity, make_fingerprint  # noqa: E402

from secfp.exchange import TrustStore, seal_bundle  # noqa: E402
from secfp.governance import read_log  # noqa: E402
from secfp.pool.store import Pool  # noqa: E402
from secfp.privacy import PrivacyLedger  # noqa: E402
from secfp.workflows.receive import Receiver  # noqa: E402
from secfp.workflows.use import add_bundle, plan_from_pool, rank_pool  # noqa: E402

__all__ = ["NOW", "World", "make_fingerprint", "card", "snapshot"]


def card(name: str, *, shareable: bool | None = True, images: int = 1000, classes: int = 2,
         modality: str = "CT", **extra: Any) -> dict[str, Any]:
    """A task card (JSON form) offering an architecture and, unless ``shareable`` is None, co-training."""
    knowledge: dict[str, Any] = {"architecture": {"name": "resnet50", "score": 0.8, "metric": "BA"}}
    if shareable is not None:
        knowledge["cotraining"] = ({"data_shareable": True, "terms": "DUA required", "contact": "dpo@example.org"}
                                   if shareable else {"data_shareable": False})
    task = {"name": name, "modality": modality, "num_classes": classes, "images": images, **extra}
    return {"v": 1, "task": task, "knowledge": knowledge}


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes (the lock file excluded: it is empty and harmless)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != "pool.lock"}


@dataclass
class World:
    """bob receives into a pool; alice, carol and dave are trusted, mallory is not."""

    tmp: Path
    peers: PeerSimulator
    now: datetime = NOW
    policy: Any = None
    receiver: Receiver = field(init=False)
    pool: Pool = field(init=False)

    def __post_init__(self) -> None:
        self.audit_log = self.tmp / "audit.jsonl"
        self.receiver = Receiver(identity=identity("bob"), trust_store=self.peers.trust, audit_log=self.audit_log,
                                 actor="bob@test", import_policy=self.policy)
        self.pool = Pool.open(self.tmp / "pool", create=True)

    def bundle(self, fp: Any = None, *, issuer: str = "alice", to: tuple[str, ...] = ("bob",), public: bool = False,
               now: datetime | None = None, lifetime: timedelta = timedelta(days=90), card: Any = None,
               policy: Any = None) -> bytes:
        fp = fp if fp is not None else make_fingerprint()
        return seal_bundle(fp, issuer=identity(issuer), recipients=[] if public else [identity(n).card for n in to],
                           public=public, now=now or self.now, lifetime=lifetime, card=card,
                           privacy=PrivacyLedger.none(spec_id=fp.spec_id).to_json(), policy=policy).data

    def add(self, data: bytes, *, now: datetime | None = None, receiver: Any = None) -> Any:
        return add_bundle(self.pool, data, receiver=receiver or self.receiver, now=now or self.now, label="test.bundle")

    def rank(self, query: Any, *, receiver: Any = None, now: datetime | None = None, **kw: Any) -> Any:
        return rank_pool(self.pool, "query", query, receiver=receiver or self.receiver, now=now or self.now, **kw)

    def plan(self, query: Any, *, receiver: Any = None, now: datetime | None = None, **kw: Any) -> Any:
        return plan_from_pool(self.pool, "query", query, receiver=receiver or self.receiver, now=now or self.now,
                              **kw).plan

    def with_receiver(self, **changes: Any) -> Receiver:
        from dataclasses import replace

        return replace(self.receiver, **changes)

    def audit(self) -> list[Any]:
        return list(read_log(self.audit_log)) if self.audit_log.exists() else []


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, PeerSimulator(tmp_path))


@pytest.fixture(scope="session")
def real_fps(tmp_path_factory, default_spec, torch_home) -> dict[str, Any]:
    """Fingerprints of real images (8 per task, to keep the suite fast): half 'a' of three
    sample tasks as sources, and half 'b' of the CT task as the query."""
    from secfp.fingerprint.pipeline import fingerprint_paths
    from secfp.sample_tasks import build_sample_tasks

    tasks = build_sample_tasks(tmp_path_factory.mktemp("pool-tasks"), names=["ct", "mr", "cr"])
    wanted = {"ct": tasks["ct"][0], "mr": tasks["mr"][0], "cr": tasks["cr"][0], "ct-query": tasks["ct"][1]}
    return {name: fingerprint_paths([folder], spec=default_spec, samples=8, seed=0).fingerprint
            for name, folder in wanted.items()}


def trust_without(names: tuple[str, ...]) -> TrustStore:
    return TrustStore(tuple(identity(n).card for n in ("alice", "carol", "dave") if n not in names))
