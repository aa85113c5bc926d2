"""The task card carried in a statement: for now a free-form TOML file, stored as JSON.

A later issue gives the card a schema (``knowledge/card.py``); until then any
TOML table is accepted, read with the standard library's strict parser.
TOML dates and times become ISO 8601 strings, because the statement is JSON.
"""

from __future__ import annotations

import datetime as _dt
import math
import tomllib
from pathlib import Path
from typing import Any

from secfp._io import canonical_json, read_capped
from secfp.errors import BadInput
from secfp.exchange._internal.encoding import check_json_value
from secfp.exchange._internal.format import MAX_CARD_BYTES, MAX_JSON_DEPTH

__all__ = ["load_task_card", "task_card_from_toml"]


def _to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput("task card holds nan or inf, which JSON cannot carry")
    return value


def task_card_from_toml(text: str) -> dict[str, Any]:
    try:
        table = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise BadInput(f"task card is not valid TOML: {exc}") from None
    try:
        card = _to_json(table)
    except RecursionError:
        raise BadInput("task card is nested too deeply") from None
    check_json_value(card, what="task card", max_depth=MAX_JSON_DEPTH)
    if len(canonical_json(card)) > MAX_CARD_BYTES:
        raise BadInput(f"task card is larger than {MAX_CARD_BYTES} bytes")
    return card


def load_task_card(path: str | Path) -> dict[str, Any]:
    """Read ``TASK.toml`` into a JSON object (dates as ISO strings; nan/inf refused)."""
    data = read_capped(path, cap=MAX_CARD_BYTES, what="task card")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"task card {path} is not UTF-8") from None
    return task_card_from_toml(text)
