"""Privacy units: which images belong together (one patient, one volume), without duplicates.

Differential privacy protects whatever one neighbouring step adds or removes. For
medical images that must be the patient: a patient with many slices would otherwise
be protected only at roughly k^2 times the declared epsilon. :func:`assign_units`
gives every image a unit:

``patient``
    a ``--units`` mapping (path -> unit id, a CSV the data holder writes) for every
    image, else the DICOM ``PatientID`` of every image. Available only when *every*
    image has one.
``volume``
    the DICOM series (``SeriesInstanceUID``), else the file: a NIfTI volume, a
    multi-frame DICOM, a multi-page TIFF, an array stack, or one 2-D file.
``image``
    every 2-D image (frame, slice, plane) on its own.

The default is the coarsest available (``patient``, else ``volume``); an explicit
level overrides it, and asking for ``patient`` where some image has no patient id
is a usage error. Inputs are de-duplicated first: an image whose file has the same
content (SHA-256) as an earlier one of the same unit, under whatever path, is dropped, so
``secfp export imgs imgs`` or a copied folder counts every image once. Without a
``--units`` mapping, files of equal content always fall in one unit (the DICOM ids are
part of the content); a mapping that gives equal files to two units keeps one copy in
each, so no unit's images depend on which other units are present. The content
digests also name the dataset for the privacy budget (:attr:`Units.dataset_id`), so a
copy or a renamed folder shares the budget of the original. What still escapes:
a subset or a superset of the files, or re-encoded images, is another dataset.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from secfp._io import read_capped
from secfp.errors import BadInput, UsageError
from secfp.fingerprint.images import ImageRef, ScanReport

__all__ = ["PRIVACY_UNITS", "DEFAULT_MAX_IMAGES_PER_UNIT", "Units", "assign_units", "read_unit_map", "content_dataset_id"]

PRIVACY_UNITS = ("patient", "volume", "image")  # coarsest first
# k, the images drawn at most from one sampled unit. A unit of one image never gives more
# than one, so k = 1 there; for patients and volumes see README ("Privacy units").
DEFAULT_MAX_IMAGES_PER_UNIT = {"patient": 4, "volume": 4, "image": 1}
MAX_UNIT_MAP_BYTES = 64 * 1024 * 1024
_CHUNK = 1 << 20


@dataclass(frozen=True, eq=False)
class Units:
    """De-duplicated images, the unit of each (indices into ``unit_ids``), and the dataset's content id."""

    refs: tuple[ImageRef, ...]
    unit_index: np.ndarray
    unit_ids: tuple[str, ...]
    privacy_unit: str
    dataset_id: str
    duplicates_dropped: int
    # Images that carry a patient (a DICOM PatientID, or a --units mapping): all, none or some of them.
    with_patient: int = 0

    @property
    def unit_count(self) -> int:
        return len(self.unit_ids)

    def report(self, scanned: ScanReport) -> ScanReport:
        """The scan report with the de-duplicated images."""
        return ScanReport(refs=list(self.refs), files_read=scanned.files_read, unreadable=list(scanned.unreadable),
                          ignored=scanned.ignored)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def content_dataset_id(digests: list[str] | tuple[str, ...] | set[str]) -> str:
    """``content:`` and the SHA-256 of the sorted, distinct file digests (first 24 hex digits)."""
    joined = "\n".join(sorted(set(digests)))
    return "content:" + hashlib.sha256(joined.encode("ascii")).hexdigest()[:24]


def read_unit_map(path: Path) -> dict[str, str]:
    """A CSV of ``path,unit`` rows (a ``path,unit`` header is optional); paths relative to the CSV's folder.

    Returns resolved path -> unit id. BadInput (exit 3) for a malformed file or a path
    mapped twice to different units.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--units {path}: no such file")
    text = read_capped(path, cap=MAX_UNIT_MAP_BYTES, what="units mapping").decode("utf-8", errors="strict")
    mapping: dict[str, str] = {}
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise BadInput(f"units mapping {path}, line {line}: need two columns, path and unit id")
        if line == 1 and [c.strip().lower() for c in row] == ["path", "unit"]:
            continue
        target = (path.parent / row[0].strip()).resolve()
        unit = row[1].strip()
        if mapping.get(str(target), unit) != unit:
            raise BadInput(f"units mapping {path}, line {line}: {row[0].strip()} is mapped to two units")
        mapping[str(target)] = unit
    if not mapping:
        raise BadInput(f"units mapping {path} maps no file")
    return mapping


def _dicom_ids(path: str) -> tuple[str | None, str | None]:
    """(PatientID, SeriesInstanceUID) of a DICOM file, None where absent or empty."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID", "SeriesInstanceUID"])
    patient = str(ds.get("PatientID", "") or "").strip() or None
    series = str(ds.get("SeriesInstanceUID", "") or "").strip() or None
    return patient, series


def assign_units(
    report: ScanReport, *, privacy_unit: str | None = None, unit_map: Mapping[str, str] | None = None
) -> Units:
    """De-duplicate the scanned images and give each its privacy unit (see the module docstring)."""
    if privacy_unit is not None and privacy_unit not in PRIVACY_UNITS:
        raise UsageError(f"--privacy-unit must be one of {', '.join(PRIVACY_UNITS)}, got {privacy_unit!r}")
    digests: dict[str, str] = {}
    resolved_of: dict[str, str] = {}
    kept: list[ImageRef] = []
    file_of: list[str] = []
    seen: set[tuple[str, str, int, str, str]] = set()
    for ref in report.refs:
        resolved = resolved_of.setdefault(ref.path, str(Path(ref.path).resolve()))
        digest = digests.get(resolved)
        if digest is None:
            digest = digests[resolved] = _file_digest(Path(resolved))
        # A duplicate is dropped only within its own unit: across units, dropping the later copy would
        # make one patient's contribution depend on whether another patient is in the dataset.
        owner = unit_map.get(resolved, "") if unit_map is not None else ""
        identity = (digest, ref.kind, ref.index, ref.key, owner)
        if identity in seen:
            continue
        seen.add(identity)
        kept.append(ref)
        file_of.append(resolved)
    dropped = len(report.refs) - len(kept)

    dicom: dict[str, tuple[str | None, str | None]] = {}
    for ref, resolved in zip(kept, file_of, strict=True):
        if ref.kind == "dicom" and resolved not in dicom:
            dicom[resolved] = _dicom_ids(resolved)
    if unit_map is not None:
        unmapped = sorted({p for p in file_of if p not in unit_map})
        if unmapped:
            raise UsageError(f"--units maps no unit for {len(unmapped)} input file(s), e.g. {unmapped[0]}: map every file")
        patients: list[str | None] = ["map:" + unit_map[p] for p in file_of]
    else:
        patients = [("patient:" + dicom[p][0]) if ref.kind == "dicom" and dicom[p][0] else None
                    for ref, p in zip(kept, file_of, strict=True)]
    has_patients = bool(kept) and all(p is not None for p in patients)
    chosen = privacy_unit or ("patient" if has_patients else "volume")
    if chosen == "patient" and not has_patients:
        missing = sum(p is None for p in patients)
        raise UsageError(
            f"privacy unit 'patient': {missing} image(s) carry no DICOM PatientID; "
            "give --units FILE.csv (path,unit) for every file, or choose --privacy-unit volume"
        )
    if chosen == "patient":
        keys = [str(p) for p in patients]
    elif chosen == "volume":
        keys = [("series:" + dicom[p][1]) if ref.kind == "dicom" and dicom[p][1] else "file:" + digests[p]
                for ref, p in zip(kept, file_of, strict=True)]
    else:
        keys = [f"image:{digests[p]}:{ref.kind}:{ref.index}:{ref.key}" for ref, p in zip(kept, file_of, strict=True)]
    unit_ids, unit_index = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    return Units(
        refs=tuple(kept),
        unit_index=unit_index.astype(np.int64).reshape(-1),
        unit_ids=tuple(str(u) for u in unit_ids),
        privacy_unit=chosen,
        dataset_id=content_dataset_id(list(digests.values())),
        duplicates_dropped=dropped,
        with_patient=sum(p is not None for p in patients),
    )
