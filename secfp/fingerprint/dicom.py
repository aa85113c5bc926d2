"""DICOM images: enumerate frames, check that the pixel data decodes, decode one frame.

Compressed transfer syntaxes (JPEG baseline and extended, JPEG lossless,
JPEG-LS, JPEG 2000, RLE) decode through pydicom's pixel-data plugins:
``pylibjpeg`` with ``pylibjpeg-libjpeg``, ``pylibjpeg-openjpeg`` and
``pylibjpeg-rle`` (declared in pyproject), or Pillow and GDCM where installed.

:func:`dicom_refs` decodes the first frame of every file once, at scan time,
so an undecodable file is reported as unreadable however many images are
later sampled (the count no longer depends on ``--samples``). The message of
an undecodable file names the transfer syntax, the plugins tried, and what to
install or do.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DicomDecodeError", "dicom_refs", "decode_dicom_frame", "transfer_syntax_of"]


class DicomDecodeError(ValueError):
    """The pixel data of a DICOM file cannot be decoded here (the message says why and what to do)."""


# What to install for a transfer syntax that no available plugin decodes.
_INSTALL_HINT = {
    "jpeg": "pip install pylibjpeg pylibjpeg-libjpeg",
    "jpegls": "pip install pylibjpeg pylibjpeg-libjpeg",
    "jpeg2000": "pip install pylibjpeg pylibjpeg-openjpeg",
    "rle": "pip install pylibjpeg pylibjpeg-rle",
}


def _family(uid: str) -> str:
    if uid == "1.2.840.10008.1.2.5":
        return "rle"
    if uid.startswith("1.2.840.10008.1.2.4.8"):
        return "jpegls"
    if uid.startswith("1.2.840.10008.1.2.4.9") or uid.startswith("1.2.840.10008.1.2.4.20"):
        return "jpeg2000"
    return "jpeg"


def transfer_syntax_of(ds: Any) -> Any:
    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if uid is None:
        from pydicom.uid import ImplicitVRLittleEndian

        uid = ImplicitVRLittleEndian
    return uid


def _decode_error(path: str | Path, ds: Any, exc: BaseException) -> DicomDecodeError:
    """A complete, actionable message: file, transfer syntax, plugins, and the fix."""
    from pydicom.pixels import get_decoder

    uid = transfer_syntax_of(ds)
    name = getattr(uid, "name", str(uid))
    detail = " ".join(str(exc).split())[:240]
    if not getattr(uid, "is_compressed", False):
        return DicomDecodeError(f"DICOM {path}: pixel data ({name}) is malformed: {detail}")
    try:
        decoder = get_decoder(uid)
        available = ", ".join(decoder.available_plugins) or "none"
    except (NotImplementedError, ValueError):
        return DicomDecodeError(f"DICOM {path}: transfer syntax {name} ({uid}) has no pixel-data decoder in pydicom; "
                                "convert the file to an uncompressed transfer syntax (e.g. dcmdjpeg, gdcmconv --raw)")
    if not decoder.is_available:
        hint = _INSTALL_HINT[_family(str(uid))]
        return DicomDecodeError(f"DICOM {path}: no plugin installed that decodes {name} ({uid}): {hint}")
    return DicomDecodeError(f"DICOM {path}: the {name} ({uid}) pixel data did not decode with the installed plugins "
                            f"({available}); the file may be damaged or non-conformant: re-export it, or convert it "
                            f"to an uncompressed transfer syntax (dcmdjpeg, gdcmconv --raw). Plugins said: {detail}")


def _frame(ds: Any, index: int, path: str | Path) -> np.ndarray:
    from pydicom.pixels import pixel_array

    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not 0 <= index < frames:
        raise DicomDecodeError(f"DICOM {path}: frame {index} does not exist ({frames} frames)")
    logger = logging.getLogger("pydicom")
    level = logger.level
    try:
        # pydicom logs each failing plugin at ERROR level; the one message raised below says it all.
        logger.setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns on harmless header quirks and plugin fallbacks
            return pixel_array(ds, index=index if frames > 1 else None)
    except Exception as exc:  # noqa: BLE001 - any plugin failure becomes one actionable message
        raise _decode_error(path, ds, exc) from None
    finally:
        logger.setLevel(level)


def dicom_refs(path: Path) -> list[tuple[str, int]]:
    """``[(path, frame), ...]`` for a DICOM file whose first frame decodes; raises otherwise.

    Raises :class:`ValueError` for a file without an image and
    :class:`DicomDecodeError` for pixel data that does not decode.
    """
    import pydicom

    ds = pydicom.dcmread(path)
    if "Rows" not in ds or "Columns" not in ds or "PixelData" not in ds and "FloatPixelData" not in ds \
            and "DoubleFloatPixelData" not in ds:
        raise ValueError("DICOM file holds no image")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    _frame(ds, 0, path)
    return [(str(path), i) for i in range(frames)]


def decode_dicom_frame(path: str | Path, index: int) -> tuple[np.ndarray, Any]:
    """The raw frame (after pydicom's colour conversion) and the dataset, for windowing by the caller."""
    import pydicom

    ds = pydicom.dcmread(path)
    return _frame(ds, index, path), ds
