"""What finding undecodable DICOM files at scan time costs: header-only read vs first-frame decode.

Prints, for the compressed and uncompressed DICOM files that ship with pydicom and
pydicom-data, the time per file of reading the header only (the scan before) and
of reading and decoding the first frame (``secfp.fingerprint.dicom.dicom_refs``).

    python benchmarks/dicom_scan.py
"""

from __future__ import annotations

import time
import warnings

import pydicom
from pydicom.data import get_testdata_files

from secfp.fingerprint.dicom import dicom_refs


def main() -> None:
    files = []
    for path in sorted(set(get_testdata_files("*.dcm"))):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            if "Rows" in ds and "Columns" in ds:
                files.append(path)
        except Exception:  # noqa: BLE001 - the test data holds deliberately broken files
            continue
    header = decode = 0.0
    failed = 0
    for path in files:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pydicom.dcmread(path, stop_before_pixels=True)
        t1 = time.perf_counter()
        try:
            dicom_refs(path)
        except Exception:  # noqa: BLE001 - counted: these are the files the scan now reports
            failed += 1
        t2 = time.perf_counter()
        header += t1 - t0
        decode += t2 - t1
    n = len(files)
    print(f"{n} DICOM image files from pydicom and pydicom-data; {failed} do not decode here")
    print(f"header only:        {1000 * header / n:7.2f} ms per file")
    print(f"first-frame decode: {1000 * decode / n:7.2f} ms per file")


if __name__ == "__main__":
    main()
