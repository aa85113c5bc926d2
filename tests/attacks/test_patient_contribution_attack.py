"""Attack: make one patient contribute more than k images, or make one patient's contribution depend
on another patient, through the inputs: copies of a file, a multi-frame DICOM, a patient split
across DICOM series, several files mapped to one patient, and equal files mapped to two patients.
The declared sensitivity k sqrt(m) holds only if every sampled patient adds at most k images and
those images depend on that patient alone. Real DICOM, NIfTI and PNG files; the real probe where
counts are checked."""

from __future__ import annotations

import shutil
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file

from secfp.fingerprint.images import ScanReport, scan
from secfp.fingerprint.pipeline import fingerprint_poisson
from secfp.fingerprint.units import assign_units, read_unit_map


def _units(*inputs: Path, **kwargs):
    return assign_units(scan([str(p) for p in inputs]), **kwargs)


def _row_sums(units, spec, k: int) -> set[int]:
    """Exact counts at q = 1: every row sums to the number of images drawn."""
    run = fingerprint_poisson([], spec=spec, sample_rate=1.0, rng=np.random.default_rng(0),
                              report=ScanReport(refs=list(units.refs)), unit_index=units.unit_index,
                              max_images_per_unit=k)
    assert not run.failed
    return set(run.counts.sum(axis=1).tolist())


def _per_unit(units) -> dict[str, int]:
    return {units.unit_ids[u]: c for u, c in Counter(units.unit_index.tolist()).items()}


def _multiframe_with_patient(folder: Path, patient: str) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("emri_small.dcm"))  # 10 frames, no PatientID
    ds.PatientID = patient
    out = folder / "cine.dcm"
    ds.save_as(out)
    return out


def test_copies_and_frames_of_one_patient_add_at_most_k_images(tmp_path, default_spec, torch_home) -> None:
    folder = tmp_path / "one-patient"
    folder.mkdir()
    cine = _multiframe_with_patient(folder, "P-1")
    for i in range(3):
        shutil.copy(cine, folder / f"copy-{i}.dcm")  # the same file again under other names
    units = _units(folder)
    assert units.privacy_unit == "patient" and units.unit_count == 1
    assert len(units.refs) == 10 and units.duplicates_dropped == 30  # ten frames, once
    for k in (1, 4):
        assert _row_sums(units, default_spec, k) == {k}


def test_a_patient_split_across_series_is_still_one_unit(sample_tasks, tmp_path) -> None:
    folder = tmp_path / "split"
    shutil.copytree(sample_tasks["ct"][0], folder)
    files = sorted(folder.iterdir())
    for path in files[::2]:  # every other tile moves to a new series of the same patient
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[str(ds.PatientID)])
        ds.save_as(path)
    patients = _units(folder)
    assert patients.privacy_unit == "patient" and patients.unit_count == 2  # two patients, however many series
    volumes = _units(folder, privacy_unit="volume")
    assert volumes.unit_count == 4  # per series: protected only as a group (SECURITY.md)


def test_many_files_mapped_to_one_patient_add_at_most_k_images(sample_tasks, tmp_path, default_spec,
                                                               torch_home) -> None:
    folder = sample_tasks["fundus"][0]
    files = sorted(p for p in folder.iterdir() if p.is_file())
    mapping = tmp_path / "units.csv"
    mapping.write_text("".join(f"{f},{'A' if i < 10 else 'B'}\n" for i, f in enumerate(files)))
    units = _units(folder, unit_map=read_unit_map(mapping))
    assert units.unit_count == 2 and min(_per_unit(units).values()) > 4
    assert _row_sums(units, default_spec, 4) == {8}  # two patients, four images each


def test_a_file_mapped_to_two_patients_does_not_tie_their_contributions(sample_tasks, tmp_path) -> None:
    # Attack: de-duplication by content across units kept the first copy only, so patient B's images
    # depended on whether patient A was in the dataset: removing A changed B's contribution too,
    # and the difference between neighbours could reach 2k images per row, not k.
    source = sorted(p for p in sample_tasks["fundus"][0].iterdir() if p.is_file())
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for p in source[:3]:
        shutil.copy(p, a)
    for p in source[2:6]:  # source[2] is in both folders: one file content, two patients
        shutil.copy(p, b)
    mapping = tmp_path / "units.csv"
    mapping.write_text("".join(f"{f},A\n" for f in sorted(a.iterdir())) + "".join(f"{f},B\n" for f in sorted(b.iterdir())))
    unit_map = read_unit_map(mapping)
    with_a = _units(a, b, unit_map=unit_map)
    without_a = _units(b, unit_map=unit_map)
    assert _per_unit(with_a) == {"map:A": 3, "map:B": 4} and with_a.duplicates_dropped == 0
    assert _per_unit(without_a) == {"map:B": 4}
    b_images = lambda units: sorted(r.path for r, u in zip(units.refs, units.unit_index, strict=True)  # noqa: E731
                                    if units.unit_ids[u] == "map:B")
    assert b_images(with_a) == b_images(without_a)
    # Within one patient, a copy is still counted once.
    shutil.copy(source[3], b / "again.png")
    mapping.write_text(mapping.read_text() + f"{b / 'again.png'},B\n")
    again = _units(b, unit_map=read_unit_map(mapping))
    assert _per_unit(again) == {"map:B": 4} and again.duplicates_dropped == 1
