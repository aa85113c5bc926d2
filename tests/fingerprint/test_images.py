"""Readers on real medical files: frames, rescale, MONOCHROME1, NIfTI slices, arrays, corrupt files."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from secfp.errors import UnreadableImages
from secfp.fingerprint.images import decode, scan, window_to_uint8
from secfp.sample_tasks import package_file


def _pydicom_data(name: str) -> Path:
    return package_file("data_store", "data", name)


def test_multiframe_dicom_gives_one_image_per_frame():
    report = scan([_pydicom_data("emri_small.dcm")])
    assert len(report.refs) == 10
    frames = [decode(r) for r in report.refs]
    assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[9])


def test_dicom_rescale_slope_and_intercept_are_applied(tmp_path):
    # A CT stored with a non-trivial slope: decoding must equal windowing the rescaled values.
    ds = pydicom.dcmread(package_file("pydicom", "data", "test_files", "CT_small.dcm"))
    raw = ds.pixel_array.astype(np.float64)
    ds.RescaleSlope, ds.RescaleIntercept = 2, -1024
    path = tmp_path / "ct.dcm"
    ds.save_as(path)
    ref = scan([path]).refs[0]
    expected = window_to_uint8(raw * 2 - 1024)
    np.testing.assert_array_equal(decode(ref)[:, :, 0], expected)
    # The rescale must have an effect with a negative slope: the image inverts.
    ds.RescaleSlope = -1
    ds.save_as(path)
    np.testing.assert_array_equal(decode(scan([path]).refs[0])[:, :, 0], window_to_uint8(-raw - 1024))


def test_monochrome1_is_inverted():
    ds = pydicom.dcmread(_pydicom_data("RG1_UNCR.dcm"))
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    ref = scan([_pydicom_data("RG1_UNCR.dcm")]).refs[0]
    expected = 255 - window_to_uint8(ds.pixel_array.astype(np.float64))
    np.testing.assert_array_equal(decode(ref)[:, :, 0], expected)


def test_nifti_slices_along_axis_skip_empty_slices(tmp_path):
    volume = np.zeros((20, 24, 9), dtype=np.int16)
    rng = np.random.default_rng(0)
    for z in (1, 4, 5, 8):
        volume[:, :, z] = rng.integers(0, 4000, size=(20, 24))
    path = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image(volume, np.eye(4)), str(path))
    refs = scan([path]).refs
    assert [r.index for r in refs] == [1, 4, 5, 8]
    np.testing.assert_array_equal(decode(refs[1])[:, :, 0], window_to_uint8(volume[:, :, 4]))
    assert len(scan([path], nifti_axis=0).refs) == 20


def test_real_nifti_4d_volume_gives_every_nonempty_slice_of_every_volume():
    path = package_file("nibabel", "tests", "data", "example4d.nii.gz")
    shape = nib.load(str(path)).shape
    refs = scan([path]).refs
    assert 0 < len(refs) <= shape[2] * shape[3]
    assert decode(refs[0]).shape == (shape[0], shape[1], 3)


def test_arrays_npy_npz_stacks_and_16_bit(tmp_path):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "single.npy", rng.integers(0, 65535, (40, 50), dtype=np.uint16))
    np.save(tmp_path / "stack.npy", rng.normal(size=(3, 30, 30)).astype(np.float32))
    np.savez(tmp_path / "both.npz", rgb=rng.integers(0, 255, (20, 20, 3), dtype=np.uint8), grey=rng.normal(size=(2, 16, 16)))
    refs = scan([tmp_path]).refs
    assert len(refs) == 1 + 3 + 1 + 2
    for ref in refs:
        image = decode(ref)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_16_bit_png_is_windowed_robustly(tmp_path):
    values = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)
    values[0, 0] = 65535  # one hot outlier must not squash the rest (1st-99th percentile)
    Image.fromarray(values).save(tmp_path / "x.png")
    image = decode(scan([tmp_path]).refs[0])
    assert image[:, :, 0].max() == 255 and image[:, :, 0].min() == 0
    assert np.median(image) > 100


def test_unreadable_files_are_counted_not_fatal(tmp_path):
    shutil.copy(package_file("pydicom", "data", "test_files", "CT_small.dcm"), tmp_path / "good.dcm")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "truncated.dcm").write_bytes(package_file("pydicom", "data", "test_files", "CT_small.dcm").read_bytes()[:100])
    (tmp_path / "notes.txt").write_text("not an image")
    report = scan([tmp_path])
    assert len(report.refs) == 1
    assert sorted(Path(p).name for p, _ in report.unreadable) == ["broken.png", "truncated.dcm"]
    assert report.ignored == 1


def test_folder_with_nothing_readable_names_the_folder(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"garbage")
    with pytest.raises(UnreadableImages, match=str(tmp_path)):
        scan([tmp_path])


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(UnreadableImages, match="no such file"):
        scan([tmp_path / "nope"])
