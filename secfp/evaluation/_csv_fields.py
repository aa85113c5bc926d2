"""CSV reading and cell parsing for :mod:`secfp.evaluation.study`: strict, with file and line in errors."""

from __future__ import annotations

import ast
import csv
import io
import math
from pathlib import Path

from secfp._io import read_capped
from secfp.errors import BadInput

# Generous: the real study files are below 200 kB each. The cap bounds memory on a hostile folder.
CSV_CAP = 32 * 1024 * 1024


def read_csv(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise BadInput(f"missing study file {path}")
    try:
        text = read_capped(path, cap=CSV_CAP, what="study file").decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not UTF-8 text") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise BadInput(f"{path} is not valid CSV: {exc}") from None
    if not rows:
        raise BadInput(f"{path} is empty")
    return rows


def parse_int(text: str, where: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadInput(f"{where}: {text!r} is not an integer") from None
    if value < minimum:
        raise BadInput(f"{where}: {value} is below {minimum}")
    return value


def parse_float(text: str, where: str, *, allow_nan: bool) -> float:
    if allow_nan and text.strip().lower() in ("", "nan"):
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise BadInput(f"{where}: {text!r} is not a finite number")
    return value


def parse_keywords(text: str, where: str) -> tuple[str, ...]:
    # The study writes Python list literals ("['a', 'b']"); literal_eval evaluates no code.
    if not text.strip():
        return ()
    if len(text) > 10_000:
        raise BadInput(f"{where}: keywords are longer than 10000 characters")
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise BadInput(f"{where}: keywords {text[:60]!r} are not a list of strings") from None
    if not isinstance(value, list | tuple) or not all(isinstance(k, str) and k for k in value):
        raise BadInput(f"{where}: keywords {text[:60]!r} are not a list of strings")
    return tuple(value)
