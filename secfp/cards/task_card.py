"""The task card: what a task is, and what its owner offers to others.

A card describes a task (name, modality, body region, label type, number of classes,
image count or its differentially private estimate) and the knowledge offered for the
four transfer scenarios of Godau et al. (arXiv 2412.08763, Sec. 4.1): the best
architecture found, pretrained weights, an augmentation policy and co-training.

It is written as TOML by the data holder (:func:`load_card`) and travels as JSON inside
the signed statement (:meth:`TaskCard.from_json` / :meth:`TaskCard.to_json`). The JSON
form is a nested object whose leaves are named by dotted paths
(:meth:`TaskCard.field_paths`); export policies allow or withhold fields by these paths.
Withhold an offer as a whole (``knowledge.pretrained_weights``), not one of its required
leaves: an offer that lacks, say, its licence is refused on receipt, because weights
without terms cannot be used responsibly.

Validation is strict and happens on construction: unknown keys, wrong types, control
characters (terminal and HTML injection), non-finite numbers and unknown versions are
:class:`secfp.errors.BadInput` errors that name the field. What is *not* checked: that a
URI resolves, that the digest matches the file behind it, or that an architecture name
exists in torchvision or timm (we only check its spelling).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secfp._io import canonical_json, read_capped, strict_json_loads
from secfp.errors import BadInput
from secfp.cards import _fields as _f

__all__ = ["CARD_VERSION", "LABEL_TYPES", "IMAGE_COUNT_KINDS", "Architecture", "PretrainedWeights",
           "AugmentationPolicy", "Cotraining", "Knowledge", "TaskCard", "load_card", "card_from_toml"]

CARD_VERSION = 1
MAX_CARD_BYTES = 256 * 1024
LABEL_TYPES = ("binary", "multiclass", "multilabel", "ordinal")
IMAGE_COUNT_KINDS = ("exact", "dp_estimate")
URI_SCHEMES = _f.URI_SCHEMES


@dataclass(frozen=True)
class Architecture:
    """The best architecture found for the task, in torchvision or timm naming (``resnet50``)."""

    name: str
    score: float
    metric: str

    def __post_init__(self) -> None:
        p = "knowledge.architecture"
        _f.pattern(self.name, f"{p}.name", _f.ARCH, "a torchvision/timm model name such as 'resnet50'")
        if isinstance(self.score, bool) or not isinstance(self.score, int | float) or not math.isfinite(self.score):
            raise _f.fail(f"{p}.score", f"must be a finite number, got {self.score!r:.80}")
        _f.pattern(self.metric, f"{p}.metric", _f.METRIC, "a metric name such as 'BA' or 'AUROC'")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "score": float(self.score), "metric": self.metric}


@dataclass(frozen=True)
class PretrainedWeights:
    """Weights trained on the task: where, which digest, and under which licence and terms."""

    uri: str
    sha256: str
    licence: str
    terms: str

    def __post_init__(self) -> None:
        p = "knowledge.pretrained_weights"
        _f.uri(self.uri, f"{p}.uri")
        _f.pattern(self.sha256, f"{p}.sha256", _f.SHA256, "64 lower-case hex digits")
        _f.text(self.licence, f"{p}.licence", limit=200)
        _f.text(self.terms, f"{p}.terms", limit=4000)

    def to_json(self) -> dict[str, Any]:
        return {"uri": self.uri, "sha256": self.sha256, "licence": self.licence, "terms": self.terms}


@dataclass(frozen=True)
class AugmentationPolicy:
    """An augmentation policy: inline JSON (the paper's are albumentations JSON) or a URI.

    Exactly one of the two. The inline policy is kept as canonical JSON text so the card
    stays immutable; :attr:`policy` returns a fresh parsed copy.
    """

    policy_json: str | None = None
    uri: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        p = "knowledge.augmentation"
        if (self.policy_json is None) == (self.uri is None):
            raise BadInput(f"task card: field {p} needs exactly one of policy (inline JSON) or uri")
        if self.policy_json is not None:
            parsed = strict_json_loads(self.policy_json, what=f"task card field {p}.policy")
            if not isinstance(parsed, dict):
                raise _f.fail(f"{p}.policy", "must be a JSON object")
            object.__setattr__(self, "policy_json", canonical_json(parsed).decode("utf-8"))
            if self.sha256 is not None:
                raise _f.fail(f"{p}.sha256", "is only for a policy given by uri")
        else:
            _f.uri(self.uri, f"{p}.uri")
            if self.sha256 is not None:
                _f.pattern(self.sha256, f"{p}.sha256", _f.SHA256, "64 lower-case hex digits")

    @property
    def policy(self) -> dict[str, Any] | None:
        return None if self.policy_json is None else strict_json_loads(self.policy_json)

    def to_json(self) -> dict[str, Any]:
        if self.policy_json is not None:
            return {"policy": self.policy}
        out: dict[str, Any] = {"uri": self.uri}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        return out


@dataclass(frozen=True)
class Cotraining:
    """Whether the task's data may be shared for joint training, under which terms, with whom.

    ``data_shareable = false`` is an answer, not a missing field: the planner then never
    suggests co-training with this task (data-use terms are respected).
    """

    data_shareable: bool
    terms: str | None = None
    contact: str | None = None

    def __post_init__(self) -> None:
        p = "knowledge.cotraining"
        if not isinstance(self.data_shareable, bool):
            raise _f.fail(f"{p}.data_shareable", f"must be true or false, got {self.data_shareable!r:.80}")
        if self.data_shareable:
            for name in ("terms", "contact"):
                if getattr(self, name) is None:
                    raise BadInput(f"task card: field {p}.{name} is required when data_shareable is true")
        if self.terms is not None:
            _f.text(self.terms, f"{p}.terms", limit=4000)
        if self.contact is not None:
            _f.text(self.contact, f"{p}.contact", limit=200)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"data_shareable": self.data_shareable}
        for name in ("terms", "contact"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class Knowledge:
    """The four offers; each is optional (None = not offered, or withheld by export policy)."""

    architecture: Architecture | None = None
    pretrained_weights: PretrainedWeights | None = None
    augmentation: AugmentationPolicy | None = None
    cotraining: Cotraining | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_json() for k in _OFFERS if getattr(self, k) is not None}


_OFFERS = {"architecture": Architecture, "pretrained_weights": PretrainedWeights,
           "augmentation": AugmentationPolicy, "cotraining": Cotraining}
_OFFER_FIELDS = {"architecture": ("name", "score", "metric"),
                 "pretrained_weights": ("uri", "sha256", "licence", "terms"),
                 "augmentation": ("policy", "uri", "sha256"),
                 "cotraining": ("data_shareable", "terms", "contact")}
_TASK_FIELDS = ("name", "modality", "body_region", "label_type", "num_classes", "images", "images_kind", "keywords")
_REQUIRED = {"architecture": ("name", "score", "metric"), "pretrained_weights": ("uri", "sha256", "licence", "terms"),
             "augmentation": (), "cotraining": ("data_shareable",)}


@dataclass(frozen=True)
class TaskCard:
    """A checked task card. Only ``name`` is required; absent fields are None (or empty)."""

    name: str
    modality: str | None = None
    body_region: str | None = None
    label_type: str | None = None
    num_classes: int | None = None
    images: int | None = None
    images_kind: str | None = None
    keywords: tuple[str, ...] = ()
    knowledge: Knowledge = field(default_factory=Knowledge)

    def __post_init__(self) -> None:
        _f.text(self.name, "task.name", limit=200)
        for key in ("modality", "body_region"):
            if getattr(self, key) is not None:
                _f.text(getattr(self, key), f"task.{key}", limit=100)
        if self.label_type is not None:
            _f.choice(self.label_type, "task.label_type", LABEL_TYPES)
        if self.num_classes is not None:
            _f.integer(self.num_classes, "task.num_classes", minimum=2)
            if self.label_type == "binary" and self.num_classes != 2:
                raise _f.fail("task.num_classes", f"must be 2 for label_type binary, got {self.num_classes}")
        if self.images is not None:
            _f.integer(self.images, "task.images", minimum=1)
            object.__setattr__(self, "images_kind", _f.choice(self.images_kind or "exact", "task.images_kind",
                                                            IMAGE_COUNT_KINDS))
        elif self.images_kind is not None:
            raise _f.fail("task.images_kind", "is given without task.images")
        if not isinstance(self.keywords, tuple | list) or len(self.keywords) > 32:
            raise _f.fail("task.keywords", "must be a list of at most 32 strings")
        words = tuple(_f.text(k, "task.keywords", limit=64) for k in self.keywords)
        if len(set(words)) != len(words):
            raise _f.fail("task.keywords", "lists a keyword twice")
        object.__setattr__(self, "keywords", words)
        if not isinstance(self.knowledge, Knowledge):
            raise _f.fail("knowledge", "must be a Knowledge value")

    @staticmethod
    def field_paths() -> tuple[str, ...]:
        """Every dotted leaf path the JSON form can hold, for export allow/never lists.

        ``knowledge.augmentation.policy`` is an object; policies should treat it as one field.
        """
        paths = [f"task.{k}" for k in _TASK_FIELDS]
        paths += [f"knowledge.{offer}.{k}" for offer, keys in _OFFER_FIELDS.items() for k in keys]
        return ("v", *paths)

    def to_json(self) -> dict[str, Any]:
        task: dict[str, Any] = {"name": self.name}
        for key in _TASK_FIELDS[1:]:
            value = getattr(self, key)
            if value is not None and value != ():
                task[key] = list(value) if key == "keywords" else value
        out: dict[str, Any] = {"v": CARD_VERSION, "task": task}
        knowledge = self.knowledge.to_json()
        if knowledge:
            out["knowledge"] = knowledge
        return out

    @classmethod
    def from_json(cls, obj: Any) -> TaskCard:
        """Parse the JSON form (as carried in a statement); raises :class:`BadInput` naming the field."""
        try:
            return cls._from_json(obj)
        except RecursionError:
            raise BadInput("task card is nested too deeply") from None

    @classmethod
    def _from_json(cls, obj: Any) -> TaskCard:
        if not isinstance(obj, Mapping):
            raise BadInput("task card must be a JSON object / TOML document")
        top = _f.table(obj, "", ("v", "task", "knowledge"))
        if "v" not in top:
            raise BadInput("task card: field v (format version) is required")
        version = top["v"]
        if isinstance(version, bool) or version != CARD_VERSION:
            raise BadInput(f"task card: unsupported version v = {version!r:.20}; this secfp reads v = {CARD_VERSION}")
        if "task" not in top:
            raise BadInput("task card: table task is required")
        task = _f.table(top["task"], "task", _TASK_FIELDS)
        _f.required(task, "task", "name")
        keywords = task.pop("keywords", ())
        if not isinstance(keywords, list | tuple):
            raise _f.fail("task.keywords", "must be a list of strings")
        knowledge = _f.table(top.get("knowledge", {}), "knowledge", tuple(_OFFERS))
        offers: dict[str, Any] = {}
        for name, value in knowledge.items():
            path = f"knowledge.{name}"
            table = _f.table(value, path, _OFFER_FIELDS[name])
            for key in _REQUIRED[name]:
                _f.required(table, path, key)
            if name == "augmentation" and "policy" in table:
                if not isinstance(table["policy"], Mapping):
                    raise _f.fail(f"{path}.policy", "must be a JSON object")
                table["policy_json"] = canonical_json(table.pop("policy")).decode("utf-8")
            offers[name] = _OFFERS[name](**table)
        return cls(keywords=tuple(keywords), knowledge=Knowledge(**offers), **task)


def card_from_toml(text: str) -> TaskCard:
    """Parse a TOML card. Identical to the JSON form, except that an inline augmentation
    policy is written as a JSON string, ``policy_json = '''{...}'''`` (TOML has no null)."""
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise BadInput(f"task card is not valid TOML: {exc}") from None
    aug = doc.get("knowledge", {}).get("augmentation") if isinstance(doc.get("knowledge"), dict) else None
    if isinstance(aug, dict):
        if "policy" in aug:
            raise BadInput("task card: field knowledge.augmentation.policy is written as policy_json (a JSON string) "
                           "in TOML")
        if "policy_json" in aug:
            raw = aug.pop("policy_json")
            if not isinstance(raw, str):
                raise _f.fail("knowledge.augmentation.policy_json", "must be a string holding a JSON object")
            aug["policy"] = strict_json_loads(raw, what="task card field knowledge.augmentation.policy_json")
    return TaskCard.from_json(doc)


def load_card(path: str | Path) -> TaskCard:
    """Read and check a TOML task card file (at most 256 KiB)."""
    data = read_capped(path, cap=MAX_CARD_BYTES, what="task card")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"task card {path} is not UTF-8") from None
    return card_from_toml(text)
