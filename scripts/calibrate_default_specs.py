"""Regenerate the shipped specs (secfp/specs/mobilenet_v2-b100.json and -b1000.json).

Edges are the 5% / 95% quantiles of mobilenet_v2 (torchvision IMAGENET1K_V1) features
over a public reference set: every readable image that ships inside scikit-image,
pydicom, pydicom-data and nibabel (natural photographs plus CT, MR, CR, US, NM, fundus,
histology, fMRI), 4000 samples with the paper's random crop and flip, seed 0.
Run: python scripts/calibrate_default_specs.py   (needs the weights imported first)
"""

from __future__ import annotations

from pathlib import Path

from secfp.fingerprint.pipeline import calibrate_spec
from secfp.fingerprint.spec import save_spec
from secfp.sample_tasks import package_file

REFERENCE = (
    "all readable images shipped in scikit-image/data, pydicom/data/test_files, "
    "pydicom-data (data_store/data) and nibabel/tests/data"
)


def main() -> None:
    folders = [
        package_file("skimage", "data"),
        package_file("pydicom", "data", "test_files"),
        package_file("data_store", "data"),
        package_file("nibabel", "tests", "data"),
    ]
    spec = calibrate_spec(folders, probe="mobilenet_v2", bins=100, samples=4000, seed=0, reference=REFERENCE)
    out = Path(__file__).resolve().parent.parent / "secfp" / "specs"
    for bins in (100, 1000):
        s = spec.with_bins(bins)
        save_spec(s, out / f"mobilenet_v2-b{bins}.json")
        print(f"mobilenet_v2-b{bins}: {s.spec_id} ({s.calibration['reference_images']} reference images, "
              f"{s.calibration['degenerate_features']} degenerate features)")


if __name__ == "__main__":
    main()
