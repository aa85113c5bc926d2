"""Values a report may carry beside the ranking: distance evidence per source, the query's floor, a heat map.

Pure helpers of :mod:`secfp.report.model`. Distance evidence comes from the matcher when
it provides it (attributes of a ranking result, or a mapping per source) under the names
of :data:`EVIDENCE_KEYS`; renderers show what is present and say when it is absent.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from secfp.errors import BadInput, UsageError

__all__ = ["EVIDENCE_KEYS", "MAX_HEATMAP_BYTES", "check_evidence", "result_evidence", "check_heatmap",
           "comparison", "query_floor"]

#: Distance evidence a ranking may carry per match, under these names (renderers show
#: what is present): the query's floor (its distance to an exact copy of itself), the
#: low and high end of the distance's uncertainty interval, the percentile of the
#: source's distance in the pool, and whether it is tied (within noise) with the closest.
EVIDENCE_KEYS = ("distance_floor", "distance_low", "distance_high", "pool_percentile", "tied")


def check_evidence(value: Any) -> dict[str, Any] | None:
    """The known distance-evidence fields of ``value`` (finite numbers; ``tied`` a boolean); None when empty."""
    if not isinstance(value, Mapping):
        raise BadInput("report row evidence must be an object or null")
    out: dict[str, Any] = {}
    for key in EVIDENCE_KEYS:
        v = value.get(key)
        if v is None:
            continue
        if key == "tied":
            if not isinstance(v, bool):
                raise BadInput("report row evidence tied must be true or false")
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise BadInput(f"report row evidence {key} must be a finite number")
        out[key] = v if key == "tied" else float(v)
    return out or None


MAX_HEATMAP_BYTES = 4 * 1024 * 1024


def check_heatmap(value: Any) -> dict[str, str]:
    """``{"source": id, "png_base64": ...}``: a PNG (checked by its signature) of at most 4 MiB."""
    if not isinstance(value, Mapping) or set(value) != {"source", "png_base64"} \
            or not all(isinstance(v, str) for v in value.values()):
        raise BadInput("report heatmap needs exactly source and png_base64 (strings)")
    if len(value["png_base64"]) > MAX_HEATMAP_BYTES * 4 // 3 + 4:
        raise BadInput("report heatmap is larger than 4 MiB")
    try:
        data = base64.b64decode(value["png_base64"], validate=True)
    except ValueError:
        raise BadInput("report heatmap is not base64") from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise BadInput("report heatmap is not a PNG image")
    return {"source": value["source"], "png_base64": value["png_base64"]}


#: Other names a matcher or planner may use for the same fields.
ALIASES = {"floor": "distance_floor", "query_floor": "distance_floor", "distance_percentile": "pool_percentile",
           "within_noise": "tied", "tied_with_best": "tied"}


def _valid(name: str, value: Any) -> bool:
    if name == "tied":
        return isinstance(value, bool)
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    value = value.to_json() if hasattr(value, "to_json") else value
    return value if isinstance(value, Mapping) else None


def _collect(found: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        name = ALIASES.get(key, key)
        if name in EVIDENCE_KEYS and _valid(name, value):
            found.setdefault(name, value)
    interval = source.get("distance_ci", source.get("ci"))
    if isinstance(interval, tuple | list) and len(interval) == 2 and all(_valid("low", v) for v in interval):
        found.setdefault("distance_low", interval[0])
        found.setdefault("distance_high", interval[1])


def result_evidence(result: Any, *extra: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Distance evidence for one source: ``extra`` mappings first (the caller's, then the plan's), then the
    ranking result's ``evidence`` (a mapping or an object with ``to_json``), then its attributes.

    Values of the wrong type are left out rather than refused: evidence is optional, and a
    report is still useful without it.
    """
    found: dict[str, Any] = {}
    for source in (*extra, _as_mapping(getattr(result, "evidence", None))):
        if isinstance(source, Mapping):
            _collect(found, source)
    attributes = {k: getattr(result, k) for k in (*EVIDENCE_KEYS, *ALIASES, "distance_ci", "ci")
                  if getattr(result, k, None) is not None}
    _collect(found, attributes)
    return found or None


def comparison(query_fp: Any, best_fp: Any, best: Any, query_label: str) -> dict[str, str] | None:
    if best_fp is None:
        return None
    from secfp.report.heatmap import comparison_png

    who = f"{best.task or 'closest source'} ({best.issuer or 'unsigned file'})"
    png = comparison_png(query_fp, best_fp, query_title=f"ours: {PurePath(query_label).name or query_label}",
                         source_title=f"closest: {who}", dpi=80, caption=False)
    return {"source": best.source, "png_base64": base64.b64encode(png).decode("ascii")}


def query_floor(query_fp: Any, variant: str) -> float | None:
    """bKLD of the query to an exact copy of itself: the lowest distance any source can reach in practice."""
    from secfp.matching.bkld import bkld

    try:
        value = bkld(query_fp, query_fp, variant=variant)
    except (UsageError, BadInput, ValueError, TypeError, AttributeError):
        return None
    return value if math.isfinite(value) else None
