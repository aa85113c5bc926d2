"""On-disk layout of a :class:`~secfp.matching.engine.SourceMatrix`: one file, arrays at fixed offsets.

::

    bytes 0-7     magic  b"SECFPIX1"
    bytes 8-15    header offset (little-endian u64)      bytes 16-23  header length
    4096 ...      the arrays, each at a 4096-aligned offset (so each can be memory-mapped)
    header        canonical JSON: format version, spec id, shape, levels, dtypes, names,
                  and per array its offset, shape and dtype

The header comes last so a pool can be streamed into the file source by source;
the file is written under a temporary name and renamed into place only when
complete, so an interrupted build or save (Ctrl-C included) leaves no partial index.
Loading checks the header strictly and that every array lies inside the file.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from secfp._io import canonical_json, strict_json_loads
from secfp.errors import BadInput

__all__ = ["MAGIC", "layout", "write_header", "read_header", "open_array", "temporary_file"]

MAGIC = b"SECFPIX1"
_ALIGN = 4096
_PREAMBLE = struct.Struct("<8sQQ")
MAX_HEADER_BYTES = 256 * 1024 * 1024


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def layout(arrays: dict[str, tuple[tuple[int, ...], str]]) -> tuple[dict[str, dict[str, Any]], int]:
    """Offsets of the arrays ``{name: (shape, dtype)}`` and the offset where the header goes."""
    out, offset = {}, _ALIGN
    for name, (shape, dtype) in arrays.items():
        out[name] = {"offset": offset, "shape": list(shape), "dtype": dtype}
        offset = _aligned(offset + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
    return out, offset


def open_array(path: str | os.PathLike[str], spec: dict[str, Any], mode: str) -> np.ndarray:
    """One array of the file as a memory map (``mode`` ``r+`` while building, ``c`` when loaded)."""
    shape = tuple(spec["shape"])
    if int(np.prod(shape, dtype=np.int64)) == 0:
        return np.zeros(shape, dtype=spec["dtype"])
    return np.memmap(path, dtype=spec["dtype"], mode=mode, offset=spec["offset"], shape=shape)


def write_header(fh, header: dict[str, Any], offset: int) -> None:  # noqa: ANN001 - binary file object
    data = canonical_json(header)
    fh.seek(offset)
    fh.write(data)
    fh.seek(0)
    fh.write(_PREAMBLE.pack(MAGIC, offset, len(data)))


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header, checked: magic, bounds, strict JSON, every array inside the file."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            magic, offset, length = _PREAMBLE.unpack(fh.read(_PREAMBLE.size))
            if magic != MAGIC or length > MAX_HEADER_BYTES or offset + length > size:
                raise BadInput(f"{path} is not a secfp source matrix (or is truncated)")
            fh.seek(offset)
            header = strict_json_loads(fh.read(length), what=f"source matrix header of {path}")
    except (OSError, struct.error) as exc:
        raise BadInput(f"cannot read source matrix {path}: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), dict):
        raise BadInput(f"{path}: malformed source matrix header")
    for name, spec in header["arrays"].items():
        try:
            nbytes = int(np.prod(spec["shape"], dtype=np.int64)) * np.dtype(spec["dtype"]).itemsize
            ok = spec["offset"] % _ALIGN == 0 and spec["offset"] + nbytes <= offset
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise BadInput(f"{path}: array {name!r} does not lie inside the file")
    return header


@contextmanager
def temporary_file(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temp file beside ``target``, renamed onto it (after fsync) only if the block completes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
