"""Real medical imaging tasks built from images that ship inside secfp's dependencies.

No download at run time: the sources are the DICOM files of ``pydicom`` and
``pydicom-data`` (CT, MR, computed radiography with MONOCHROME1, ultrasound
cine), the fundus and immunohistochemistry photographs of ``scikit-image`` and
an fMRI volume of ``nibabel``. Several tasks come from few source images, so
each task is built from tiles, frames or slices, and every task is written as
two halves, ``a`` and ``b``, that share no pixels (left vs right half of each
image, first vs second half of a cine or a volume). Tiles keep their original
format where that is practical (DICOM tiles keep rescale slope/intercept and
MONOCHROME1; NIfTI halves stay NIfTI), so the demo exercises the real readers.
"""

from __future__ import annotations

import copy
import importlib.util
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from secfp.errors import BadInput

__all__ = ["SampleTask", "SAMPLE_TASKS", "build_sample_tasks", "package_file"]


def package_file(package: str, *parts: str) -> Path:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BadInput(f"package {package} is not installed (pip install {package.replace('_', '-')})")
    path = Path(list(spec.submodule_search_locations)[0], *parts)
    if not path.exists():
        raise BadInput(f"{path} is missing from the installed {package} package")
    return path


@dataclass(frozen=True)
class SampleTask:
    name: str
    modality: str
    description: str
    build: Callable[[Path, Path], int]  # (dir_a, dir_b) -> number of images written


def _tiles(h: int, w: int) -> Iterator[tuple[str, int, int, int]]:
    """Overlapping square tiles, each wholly in the left ('a') or right ('b') half."""
    size = int(0.25 * min(h, w))
    step = max(size // 2, 1)
    half = w // 2
    for y in range(0, h - size + 1, step):
        for x in range(0, half - size + 1, step):
            yield "a", y, x, size
        for x in range(half, w - size + 1, step):
            yield "b", y, x, size


def _dicom_tiles(sources: list[Path], dir_a: Path, dir_b: Path) -> int:
    import pydicom

    written = 0
    for src in sources:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(src)
            pixels = ds.pixel_array
        for half, y, x, size in _tiles(*pixels.shape[:2]):
            tile = copy.deepcopy(ds)
            tile.Rows, tile.Columns = size, size
            tile.PixelData = np.ascontiguousarray(pixels[y : y + size, x : x + size]).tobytes()
            out = (dir_a if half == "a" else dir_b) / f"{src.stem}_{y}_{x}.dcm"
            tile.save_as(out, enforce_file_format=False)
            written += 1
    return written


def _png_tiles(images: list[tuple[str, np.ndarray]], dir_a: Path, dir_b: Path) -> int:
    from PIL import Image

    written = 0
    for stem, image in images:
        for half, y, x, size in _tiles(*image.shape[:2]):
            out = (dir_a if half == "a" else dir_b) / f"{stem}_{y}_{x}.png"
            Image.fromarray(image[y : y + size, x : x + size]).save(out)
            written += 1
    return written


def _build_ct(a: Path, b: Path) -> int:
    return _dicom_tiles(
        [package_file("data_store", "data", "693_UNCR.dcm"), package_file("pydicom", "data", "test_files", "CT_small.dcm")], a, b
    )


def _build_mr(a: Path, b: Path) -> int:
    return _dicom_tiles(
        [package_file("data_store", "data", "MR2_UNCR.dcm"), package_file("data_store", "data", "MR-SIEMENS-DICOM-WithOverlays.dcm")], a, b
    )


def _build_cr(a: Path, b: Path) -> int:
    return _dicom_tiles([package_file("data_store", "data", "RG1_UNCR.dcm"), package_file("data_store", "data", "RG3_UNCR.dcm")], a, b)


def _build_us(a: Path, b: Path) -> int:
    """Ultrasound cine (120 JPEG frames): first 60 frames vs last 60, as PNG."""
    from PIL import Image
    from pydicom.pixels import iter_pixels

    frames = list(iter_pixels(package_file("data_store", "data", "color3d_jpeg_baseline.dcm")))
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save((a if i < len(frames) // 2 else b) / f"frame_{i:03d}.png")
    return len(frames)


def _build_fundus(a: Path, b: Path) -> int:
    from skimage import data

    return _png_tiles([("retina", data.retina())], a, b)


def _build_histology(a: Path, b: Path) -> int:
    from skimage import data

    return _png_tiles([("ihc", data.immunohistochemistry())], a, b)


def _build_fmri(a: Path, b: Path) -> int:
    """fMRI EPI volume (2 time points x 24 slices): slices 0-11 vs 12-23, kept as NIfTI."""
    import nibabel as nib

    img = nib.load(str(package_file("nibabel", "tests", "data", "example4d.nii.gz")))
    data = np.asanyarray(img.dataobj)
    half = data.shape[2] // 2
    nib.save(nib.Nifti1Image(data[:, :, :half], img.affine), str(a / "epi_lower.nii.gz"))
    nib.save(nib.Nifti1Image(data[:, :, half:], img.affine), str(b / "epi_upper.nii.gz"))
    return data.shape[2] * data.shape[3]


SAMPLE_TASKS: tuple[SampleTask, ...] = (
    SampleTask("ct", "CT", "abdominal CT slices (pydicom-data 693, pydicom CT_small), DICOM tiles", _build_ct),
    SampleTask("mr", "MR", "MR slices (pydicom-data MR2, MR-SIEMENS), DICOM tiles", _build_mr),
    SampleTask("cr", "CR", "computed radiographs, MONOCHROME1 (pydicom-data RG1, RG3), DICOM tiles", _build_cr),
    SampleTask("us", "US", "ultrasound cine, 120 frames (pydicom-data color3d_jpeg_baseline)", _build_us),
    SampleTask("fundus", "fundus photography", "retina fundus photograph (scikit-image), tiles", _build_fundus),
    SampleTask("histology", "histopathology", "immunohistochemistry slide (scikit-image), tiles", _build_histology),
    SampleTask("fmri", "MR (EPI)", "fMRI EPI volume (nibabel example4d), NIfTI slices", _build_fmri),
)


def build_sample_tasks(out_dir: str | Path, names: list[str] | None = None) -> dict[str, tuple[Path, Path]]:
    """Write every sample task as ``out_dir/<task>/a`` and ``out_dir/<task>/b``; return the folders.

    Existing task folders are reused as they are (delete ``out_dir`` to rebuild).
    """
    root = Path(out_dir)
    chosen = [t for t in SAMPLE_TASKS if names is None or t.name in names]
    if names is not None and len(chosen) != len(set(names)):
        unknown = set(names) - {t.name for t in SAMPLE_TASKS}
        raise BadInput(f"unknown sample tasks: {', '.join(sorted(unknown))}")
    result = {}
    for task in chosen:
        dir_a, dir_b = root / task.name / "a", root / task.name / "b"
        done = root / task.name / ".complete"
        if not done.exists():
            for d in (dir_a, dir_b):
                d.mkdir(parents=True, exist_ok=True)
                for old in d.iterdir():
                    old.unlink()
            task.build(dir_a, dir_b)
            done.write_text("ok\n")
        result[task.name] = (dir_a, dir_b)
    return result
