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


def result_evidence(result: Any, extra: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Distance evidence from the ranking result's attributes (or its ``evidence`` mapping), then ``extra``."""
    found: dict[str, Any] = {}
    attached = getattr(result, "evidence", None)
    sources = [attached.to_json() if hasattr(attached, "to_json") else attached, extra]
    for source in sources:
        if isinstance(source, Mapping):
            found.update({k: source[k] for k in EVIDENCE_KEYS if source.get(k) is not None})
    for key in EVIDENCE_KEYS:
        value = getattr(result, key, None)
        if value is not None and key not in found:
            found[key] = value
    interval = getattr(result, "distance_ci", None) or (extra or {}).get("distance_ci")
    if isinstance(interval, tuple | list) and len(interval) == 2:
        found.setdefault("distance_low", interval[0])
        found.setdefault("distance_high", interval[1])
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
