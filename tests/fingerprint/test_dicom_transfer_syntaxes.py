"""Compressed DICOM as hospitals store it: every transfer syntax decodes, and failures are found at scan time.

The files ship in pydicom's test data and in pydicom-data; each is read through
secfp's own scan and decode, as a fingerprint run reads it.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from secfp.errors import UnreadableImages
from secfp.fingerprint.images import decode, require_readable, scan

# (file, transfer syntax UID, frames)
COMPRESSED = [
    ("SC_rgb_jpeg_dcmtk.dcm", "1.2.840.10008.1.2.4.50", 1),  # JPEG baseline (process 1), RGB
    ("JPGExtended.dcm", "1.2.840.10008.1.2.4.51", 1),  # JPEG extended (process 2 and 4), 12-bit
    ("JPEG-LL.dcm", "1.2.840.10008.1.2.4.70", 1),  # JPEG lossless, first-order prediction
    ("MR_small_jpeg_ls_lossless.dcm", "1.2.840.10008.1.2.4.80", 1),  # JPEG-LS lossless
    ("JPEGLSNearLossless_16.dcm", "1.2.840.10008.1.2.4.81", 1),  # JPEG-LS near-lossless
    ("MR_small_jp2klossless.dcm", "1.2.840.10008.1.2.4.90", 1),  # JPEG 2000 lossless
    ("US1_J2KR.dcm", "1.2.840.10008.1.2.4.90", 1),  # JPEG 2000 lossless, RGB ultrasound
    ("JPEG2000.dcm", "1.2.840.10008.1.2.4.91", 1),  # JPEG 2000
    ("emri_small_jpeg_2k_lossless.dcm", "1.2.840.10008.1.2.4.90", 10),  # JPEG 2000, multi-frame
    ("MR_small_RLE.dcm", "1.2.840.10008.1.2.5", 1),  # RLE lossless
    ("SC_rgb_rle.dcm", "1.2.840.10008.1.2.5", 1),  # RLE lossless, RGB
]


@pytest.mark.parametrize("name,uid,frames", COMPRESSED, ids=[c[0] for c in COMPRESSED])
def test_compressed_transfer_syntax_scans_and_decodes(name, uid, frames):
    import pydicom

    path = get_testdata_file(name)
    assert str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID) == uid
    report = scan([path])
    assert report.unreadable == [] and len(report.refs) == frames
    image = decode(report.refs[-1])
    assert image.dtype == np.uint8 and image.ndim in (2, 3) and min(image.shape[:2]) >= 10
    assert image.max() > image.min()  # real content, not a blank frame


def _mixed_folder(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    shutil.copy(get_testdata_file("MR_small_RLE.dcm"), folder / "good.dcm")
    # Non-conformant JPEG extended data (scan start/stop markers), shipped by pydicom as a known-bad file.
    shutil.copy(get_testdata_file("JPEG-lossy.dcm"), folder / "bad.dcm")
    return folder


def test_undecodable_file_is_found_at_scan_time_with_an_actionable_message(tmp_path):
    report = scan([_mixed_folder(tmp_path)])
    assert len(report.refs) == 1  # only the good file's frame is ever sampled
    ((path, message),) = report.unreadable
    assert path.endswith("bad.dcm")
    assert "JPEG Extended" in message and "1.2.840.10008.1.2.4.51" in message
    assert "did not decode" in message and "pylibjpeg" in message
    assert "convert it to an uncompressed transfer syntax" in message


def test_strict_refuses_a_scan_with_an_unreadable_file(tmp_path):
    report = scan([_mixed_folder(tmp_path)])
    with pytest.raises(UnreadableImages, match="--strict: 1 unreadable input files, e.g. .*bad.dcm"):
        require_readable(report)


def test_fingerprint_strict_fails_before_any_forward_pass(tmp_path):
    from typer.testing import CliRunner

    from secfp.cli import app

    out = tmp_path / "out.fp"
    result = CliRunner().invoke(app, ["fingerprint", str(_mixed_folder(tmp_path)), "-o", str(out), "--strict", "--json"])
    assert result.exit_code == 3, result.output
    assert "bad.dcm" in result.stderr and not out.exists()


def test_export_strict_fails_before_any_forward_pass(tmp_path):
    from typer.testing import CliRunner

    from secfp.cli import app

    out = tmp_path / "out.bundle"
    result = CliRunner().invoke(app, ["export", str(_mixed_folder(tmp_path)), "--key", str(tmp_path / "no.key"),
                                      "--public", "-o", str(out), "--strict", "--dry-run", "--json"])
    assert result.exit_code == 3, result.output
    assert "bad.dcm" in result.stderr and not out.exists()
