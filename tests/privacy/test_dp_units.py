"""Privacy units and contribution bounding on real images: patients from DICOM PatientID, volumes,
a user's mapping, de-duplication by content, and at most k images per sampled unit."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from secfp.errors import UsageError
from secfp.fingerprint.images import scan
from secfp.fingerprint.sampling import plan_units_poisson
from secfp.fingerprint.units import assign_units, read_unit_map


def _units(*folders: Path, **kwargs):
    return assign_units(scan([str(f) for f in folders]), **kwargs)


def test_dicom_patient_id_makes_the_patient_the_default_unit(sample_tasks) -> None:
    units = _units(sample_tasks["ct"][0])
    assert units.privacy_unit == "patient"
    # 42 CT tiles from two patients: two units of 21 images, not 42 units of one.
    assert sorted(Counter(units.unit_index.tolist()).values()) == [21, 21]
    assert all(u.startswith("patient:") for u in units.unit_ids)


def test_a_nifti_volume_is_one_unit_when_there_is_no_patient_id(sample_tasks) -> None:
    units = _units(sample_tasks["fmri"][0])
    assert units.privacy_unit == "volume" and units.unit_count == 1 and len(units.refs) == 24
    assert _units(sample_tasks["fmri"][0], privacy_unit="image").unit_count == 24


def test_patient_unit_without_patient_ids_is_a_usage_error(sample_tasks) -> None:
    with pytest.raises(UsageError, match="PatientID"):
        _units(sample_tasks["fundus"][0], privacy_unit="patient")


def test_a_units_mapping_gives_patients_to_images_that_have_none(sample_tasks, tmp_path) -> None:
    folder = sample_tasks["fundus"][0]
    files = sorted(p for p in folder.iterdir() if p.is_file())
    mapping = tmp_path / "units.csv"
    mapping.write_text("path,unit\n" + "".join(f"{f},p{i % 3}\n" for i, f in enumerate(files)))
    units = _units(folder, unit_map=read_unit_map(mapping))
    assert units.privacy_unit == "patient" and units.unit_count == 3
    mapping.write_text("".join(f"{f},p{i % 3}\n" for i, f in enumerate(files[:-1])))
    with pytest.raises(UsageError, match="map every file"):
        _units(folder, unit_map=read_unit_map(mapping))


def test_the_same_folder_twice_counts_every_image_once(sample_tasks) -> None:
    # Attack: `secfp export imgs imgs` doubled every image's contribution.
    folder = sample_tasks["ct"][0]
    once, twice = _units(folder), _units(folder, folder)
    assert len(twice.refs) == len(once.refs) and twice.duplicates_dropped == len(once.refs)
    assert twice.dataset_id == once.dataset_id


def test_a_copied_and_renamed_folder_shares_the_dataset_id(sample_tasks, tmp_path) -> None:
    # Attack: a copy or a new name used to start a fresh budget.
    folder = sample_tasks["histology"][0]
    copy = tmp_path / "renamed"
    shutil.copytree(folder, copy)
    for i, f in enumerate(sorted(copy.iterdir())):
        f.rename(copy / f"x{i}{f.suffix}")
    assert _units(copy).dataset_id == _units(folder).dataset_id
    (copy / "x0.png").unlink()
    assert _units(copy).dataset_id != _units(folder).dataset_id  # a subset is another dataset (SECURITY.md)


def test_a_sampled_unit_never_gives_more_than_k_images() -> None:
    unit_index = np.repeat(np.arange(50), np.arange(1, 51))  # units of 1 to 50 images
    rng = np.random.default_rng(1)
    for k in (1, 4):
        plan = plan_units_poisson(unit_index, rate=1.0, max_per_unit=k, rng=rng)
        per_unit = Counter(unit_index[plan.image_index].tolist())
        assert len(per_unit) == 50 and all(count == min(k, u + 1) for u, count in per_unit.items())
        assert len(set(plan.image_index.tolist())) == len(plan)  # without replacement


def test_units_are_sampled_at_the_public_rate() -> None:
    unit_index = np.repeat(np.arange(4000), 3)
    plan = plan_units_poisson(unit_index, rate=0.25, max_per_unit=2, rng=np.random.default_rng(2))
    sampled_units = len(set(unit_index[plan.image_index].tolist()))
    assert abs(sampled_units - 1000) < 5 * np.sqrt(4000 * 0.25 * 0.75)
    assert len(plan) == 2 * sampled_units
