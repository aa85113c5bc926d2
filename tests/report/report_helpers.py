"""Real inputs for report tests: fingerprints of real images, real signed bundles, a real plan.

Nothing is mocked. The fingerprints come from the sample tasks (medical images that ship
inside pydicom-data and scikit-image) with 16 samples each, which keeps a test run to
seconds; the statements are real bundles sealed by ``alice``/``carol`` and opened by
``bob`` with :func:`secfp.exchange.open_bundle`; the plan is
:func:`secfp.planning.planner.plan_transfer` on the verified cards.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "exchange"))

from secfp_peers import NOW, identity  # noqa: E402

from secfp.exchange import TrustStore, VerifiedStatement, open_bundle, seal_bundle  # noqa: E402
from secfp.fingerprint.histogram import Fingerprint  # noqa: E402
from secfp.cards.task_card import TaskCard  # noqa: E402
from secfp.matching.ranking import MatchResult, rank_sources  # noqa: E402
from secfp.planning.planner import FITTED_WEIGHTS, Candidate, TransferPlan, plan_transfer  # noqa: E402

SCRIPT_NAME = "<script>alert(1)</script> ultrasound"
POLICY_DIGEST = "d1" * 32
TRUST = TrustStore(tuple(identity(n).card for n in ("alice", "carol")))
SHA = "ab" * 32


def card_json(name: str, *, images: int, classes: int, modality: str, share: bool,
              keywords: tuple[str, ...] = ()) -> dict[str, Any]:
    """A checked task card (TaskCard validates it) offering all four kinds of knowledge."""
    knowledge: dict[str, Any] = {
        "architecture": {"name": "resnet50", "score": 0.87, "metric": "BA"},
        "pretrained_weights": {"uri": f"https://models.example.org/{images}.pt", "sha256": SHA,
                               "licence": "CC-BY-4.0", "terms": "cite the source paper"},
        "augmentation": {"policy": {"transform": "HorizontalFlip", "p": 0.5}},
        "cotraining": ({"data_shareable": True, "terms": "data use agreement", "contact": "dua@example.org"}
                       if share else {"data_shareable": False}),
    }
    return TaskCard.from_json({"v": 1, "task": {"name": name, "modality": modality, "num_classes": classes,
                                                "images": images, "keywords": list(keywords)},
                               "knowledge": knowledge}).to_json()


def seal_and_open(fp: Fingerprint, *, issuer: str, card: dict[str, Any] | None = None,
                  privacy: dict[str, Any] | None = None, policy: dict[str, Any] | None = None,
                  public: bool = False) -> VerifiedStatement:
    """A real bundle from ``issuer`` (sealed to bob unless public), opened and verified as bob."""
    sealed = seal_bundle(fp, issuer=identity(issuer), recipients=[] if public else [identity("bob").card],
                         public=public, now=NOW - timedelta(hours=1), card=card, privacy=privacy, policy=policy)
    return open_bundle(sealed.data, identity=identity("bob"), trust_store=TRUST, now=NOW)


@dataclass
class Scenario:
    """Everything ``build_report`` takes, made from real data."""

    query_fp: Fingerprint
    ranking: list[MatchResult]
    statements: dict[str, VerifiedStatement | None]
    plan: TransferPlan
    labels: dict[str, str]


def build_scenario(fps: dict[str, Fingerprint], spec: Any) -> Scenario:
    """Query ``ct/a``; sources: ``ct/b`` public from alice, ``us`` sealed by carol with DP, a card named
    with a script tag and data-use terms, and ``fundus`` as an unsigned file."""
    from secfp.privacy.release import SeededNoiseWarning, privatize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeededNoiseWarning)
        noisy, ledger = privatize(fps["us"], epsilon=4.0, delta=1e-5, sample_rate=1.0, spec=spec,
                                  rng=np.random.default_rng(0))
    labels = {"ct": "bundles/alice-ct.bundle", "us": "bundles/carol-us.bundle", "fundus": "files/fundus.fp.json"}
    statements: dict[str, VerifiedStatement | None] = {
        labels["ct"]: seal_and_open(fps["ct_b"], issuer="alice", public=True,
                                    card=card_json("abdominal CT", images=800, classes=2, modality="CT",
                                                   share=False, keywords=("abdomen",))),
        labels["us"]: seal_and_open(noisy, issuer="carol", privacy=ledger.to_json(),
                                    policy={"id": "carol-export-2025", "digest": POLICY_DIGEST,
                                            "data_use": ["HMB", "NCU", "IRB"]},
                                    card=card_json(SCRIPT_NAME, images=12000, classes=4, modality="US", share=True)),
        labels["fundus"]: None,
    }
    sources = [(labels["ct"], fps["ct_b"]), (labels["us"], noisy), (labels["fundus"], fps["fundus"])]
    ranking = rank_sources(fps["ct_a"], sources, variant="small")
    candidates = [Candidate(r.source, r.distance, TaskCard.from_json(statements[r.source].card))
                  for r in ranking if statements[r.source] is not None]
    query_card = TaskCard.from_json(card_json("our CT task", images=500, classes=2, modality="CT", share=False,
                                              keywords=("abdomen",)))
    # The four-term linear planner gives no p_gain: the scenario shows how the report degrades without it
    # (tests add p_gain where they need it).
    plan = plan_transfer(candidates, query_card=query_card, weights=FITTED_WEIGHTS)
    return Scenario(fps["ct_a"], ranking, statements, plan, labels)


class DOM(HTMLParser):
    """A tiny DOM walk: every element's tag, attributes and (flattened) text, in document order."""

    VOID = {"meta", "br", "link", "img", "input", "hr", "rect", "line", "path", "circle", "source"}

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": ""})

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i]["tag"] == tag:
                del self._open[i:]
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element["text"] += data

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, Any]]:
        return [el for el in self.elements if el["tag"] == tag
                and (cls is None or cls in (el["attrs"].get("class") or "").split())]
