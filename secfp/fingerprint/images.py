"""Medical image readers: folders, DICOM, NIfTI, arrays and ordinary rasters to 8-bit RGB.

Every input becomes a list of :class:`ImageRef` (one per 2-D image: a file, a
DICOM frame, a NIfTI slice, an array plane). Enumeration reads only headers
where it can; :func:`decode` turns a ref into an ``uint8`` H x W x 3 array.
Any bit depth is windowed robustly to 8 bits (1st to 99th percentile), grey is
repeated to three channels. Files that cannot be read are counted and reported
in :class:`ScanReport`; only "nothing readable at all" is an error.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from secfp.errors import UnreadableImages

__all__ = ["ImageRef", "ScanReport", "scan", "decode", "window_to_uint8", "RASTER_SUFFIXES"]

RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
DICOM_SUFFIXES = {".dcm", ".dicom"}
NIFTI_SUFFIXES = {".nii", ".nii.gz"}
ARRAY_SUFFIXES = {".npy", ".npz"}
# Files we never try to read as images (sidecars next to scans).
_IGNORED_SUFFIXES = {".txt", ".json", ".md", ".csv", ".xml", ".toml", ".py", ".dump", ".icc", ".gz.md5"}


@dataclass(frozen=True, order=True)
class ImageRef:
    """One 2-D image inside a file: ``index`` is the frame, slice or plane (0 for single images)."""

    path: str
    kind: str
    index: int = 0
    key: str = ""  # npz member name, NIfTI "axis:volume"


@dataclass
class ScanReport:
    """What a scan found: images, and the files it could not read (with the reason)."""

    refs: list[ImageRef] = field(default_factory=list)
    files_read: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0

    def summary(self) -> str:
        text = f"{len(self.refs)} images from {self.files_read} files"
        if self.unreadable:
            text += f"; {len(self.unreadable)} unreadable files skipped"
        return text


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _looks_like_dicom(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _kind_of(path: Path) -> str | None:
    suffix = _suffix(path)
    if suffix in RASTER_SUFFIXES:
        return "raster"
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    if suffix in NIFTI_SUFFIXES:
        return "nifti"
    if suffix in ARRAY_SUFFIXES:
        return "array"
    if suffix in _IGNORED_SUFFIXES or path.name.startswith("."):
        return None
    return "dicom" if _looks_like_dicom(path) else None


def _raster_refs(path: Path) -> list[ImageRef]:
    from PIL import Image

    with Image.open(path) as img:
        frames = getattr(img, "n_frames", 1)
    return [ImageRef(str(path), "raster", i) for i in range(frames)]


def _dicom_refs(path: Path) -> list[ImageRef]:
    from secfp.fingerprint.dicom import dicom_refs

    return [ImageRef(p, "dicom", i) for p, i in dicom_refs(path)]


def _nifti_refs(path: Path, axis: int) -> list[ImageRef]:
    import nibabel as nib

    data = np.asanyarray(nib.load(str(path)).dataobj)
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim < 3:
        raise ValueError("NIfTI file holds no 2-D slices")
    volumes = data.reshape(*data.shape[:3], -1)
    refs = []
    for v in range(volumes.shape[3]):
        vol = np.moveaxis(volumes[..., v], axis, 0)
        flat = vol.reshape(vol.shape[0], -1)
        nonempty = np.flatnonzero(flat.max(axis=1) > flat.min(axis=1))  # empty slices are skipped
        refs += [ImageRef(str(path), "nifti", int(s), f"{axis}:{v}") for s in nonempty]
    return refs


def _array_planes(arr: np.ndarray) -> int:
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4)):
        return 1
    if arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] in (3, 4)):
        return arr.shape[0]
    raise ValueError(f"array of shape {arr.shape} is not an image or a stack of images")


def _array_refs(path: Path) -> list[ImageRef]:
    if _suffix(path) == ".npy":
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        return [ImageRef(str(path), "array", i) for i in range(_array_planes(arr))]
    refs = []
    with np.load(path, allow_pickle=False) as npz:
        for key in sorted(npz.files):
            refs += [ImageRef(str(path), "array", i, key) for i in range(_array_planes(npz[key]))]
    return refs


def _refs_of(path: Path, kind: str, nifti_axis: int) -> list[ImageRef]:
    if kind == "raster":
        return _raster_refs(path)
    if kind == "dicom":
        return _dicom_refs(path)
    if kind == "nifti":
        return _nifti_refs(path, nifti_axis)
    return _array_refs(path)


def _files_under(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files += [Path(dirpath) / f for f in sorted(filenames)]
    return files


def scan(paths: list[str | os.PathLike[str]], *, nifti_axis: int = 2) -> ScanReport:
    """Enumerate every 2-D image under ``paths`` (folders are searched recursively).

    Raises :class:`UnreadableImages` (exit 3) naming the inputs when nothing at
    all is readable; otherwise unreadable files are only counted in the report.
    """
    if nifti_axis not in (0, 1, 2):
        raise UnreadableImages(f"NIfTI slice axis must be 0, 1 or 2, not {nifti_axis}")
    report = ScanReport()
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            raise UnreadableImages(f"no such file or folder: {root}")
        for path in _files_under(root):
            kind = _kind_of(path)
            if kind is None:
                report.ignored += 1
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # pydicom warns on harmless header quirks
                    refs = _refs_of(path, kind, nifti_axis)
            except Exception as exc:  # noqa: BLE001 - any reader failure means "unreadable"
                report.unreadable.append((str(path), f"{type(exc).__name__}: {exc}"[:600]))
                continue
            report.files_read += 1
            report.refs += refs
    if not report.refs:
        where = ", ".join(str(p) for p in paths)
        raise UnreadableImages(f"no readable images in {where} ({len(report.unreadable)} unreadable files)")
    return report


def window_to_uint8(image: np.ndarray, *, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Robustly map any bit depth to 8 bits: 1st..99th percentile to 0..255.

    8-bit input is returned unchanged (it is already display-ready); constant
    images map to 0.
    """
    if image.dtype == np.uint8:
        return image
    values = image.astype(np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.zeros(image.shape, dtype=np.uint8)
    lo, hi = np.percentile(finite, [low_pct, high_pct])
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.zeros(image.shape, dtype=np.uint8)
    scaled = (np.nan_to_num(values, nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] == 4:
        return image[:, :, :3]
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    raise ValueError(f"cannot make an RGB image from shape {image.shape}")


def _decode_raster(ref: ImageRef) -> np.ndarray:
    from PIL import Image

    with Image.open(ref.path) as img:
        img.seek(ref.index)
        if img.mode in ("RGB", "L"):
            return np.asarray(img)
        if img.mode in ("RGBA", "P", "PA", "LA", "CMYK", "YCbCr", "1"):
            return np.asarray(img.convert("RGB"))
        return np.asarray(img)  # 16/32-bit grey ("I;16", "I", "F"): windowed later


def _decode_dicom(ref: ImageRef) -> np.ndarray:
    from pydicom.pixels import apply_color_lut, apply_rescale

    from secfp.fingerprint.dicom import decode_dicom_frame

    arr, ds = decode_dicom_frame(ref.path, ref.index)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        return arr if arr.dtype == np.uint8 else window_to_uint8(arr)
    if arr.ndim == 2:
        arr = apply_rescale(arr, ds)  # modality LUT: slope and intercept (e.g. CT to HU)
        out = window_to_uint8(np.asarray(arr))
        if photometric == "MONOCHROME1":
            out = 255 - out  # MONOCHROME1: low values are bright
        return out
    return arr  # colour frames are already RGB after pydicom's conversion


def _decode_nifti(ref: ImageRef) -> np.ndarray:
    import nibabel as nib

    axis, volume = (int(x) for x in ref.key.split(":"))
    data = np.asanyarray(nib.load(ref.path).dataobj)
    if data.ndim == 2:
        data = data[:, :, None]
    data = data.reshape(*data.shape[:3], -1)[..., volume]
    return np.take(data, ref.index, axis=axis)


def _decode_array(ref: ImageRef) -> np.ndarray:
    if ref.key:
        with np.load(ref.path, allow_pickle=False) as npz:
            arr = npz[ref.key]
    else:
        arr = np.load(ref.path, mmap_mode="r", allow_pickle=False)
    if _array_planes(arr) > 1 or arr.ndim == 4:
        arr = arr[ref.index]
    return np.asarray(arr)


_DECODERS = {"raster": _decode_raster, "dicom": _decode_dicom, "nifti": _decode_nifti, "array": _decode_array}


def decode(ref: ImageRef) -> np.ndarray:
    """Decode one image to ``uint8`` H x W x 3 (windowed, grey repeated, alpha dropped)."""
    image = np.asarray(_DECODERS[ref.kind](ref))
    if image.ndim == 3 and image.shape[2] in (3, 4) and image.dtype != np.uint8:
        image = window_to_uint8(image[:, :, :3])
    elif image.dtype != np.uint8:
        image = window_to_uint8(image)
    rgb = _to_rgb(image)
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise ValueError(f"image {ref.path} is too small ({rgb.shape[0]}x{rgb.shape[1]})")
    return np.ascontiguousarray(rgb)


def require_readable(report: ScanReport) -> ScanReport:
    """``--strict``: raise :class:`UnreadableImages` (exit 3) if the scan skipped any file, naming the first."""
    if report.unreadable:
        path, reason = report.unreadable[0]
        raise UnreadableImages(f"--strict: {len(report.unreadable)} unreadable input files, e.g. {path}: {reason}")
    return report
