"""The fingerprint heat map: a real PNG of the right kind, matplotlib loaded only when drawing."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

from secfp.errors import UsageError
from secfp.report import heatmap_png, save_heatmap


def test_importing_secfp_report_does_not_load_matplotlib():
    code = "import sys, secfp.report; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_heatmap_of_a_real_fingerprint_is_a_png(tmp_path, report_fingerprints):
    from PIL import Image

    path = tmp_path / "ct.png"
    save_heatmap(report_fingerprints["ct_a"], path)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (960, 720)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 100  # a colour map, not a blank canvas
    assert [p.name for p in tmp_path.iterdir()] == ["ct.png"]


def test_heatmap_of_a_noisy_fingerprint_uses_a_symmetric_scale(report_fingerprints, default_spec):
    from secfp.privacy.release import SeededNoiseWarning, privatize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeededNoiseWarning)
        noisy, _ = privatize(report_fingerprints["us"], epsilon=4.0, delta=1e-5, sample_rate=1.0,
                             spec=default_spec, rng=np.random.default_rng(0))
    assert noisy.counts.min() < 0
    assert heatmap_png(noisy)[:8] == b"\x89PNG\r\n\x1a\n"


def test_title_from_a_bundle_is_not_parsed_as_mathtext(report_fingerprints):
    # A '$' pair would be parsed by matplotlib's mathtext; unbalanced ones would raise.
    assert heatmap_png(report_fingerprints["fundus"], title="$\\frac{ task $ \u202e")[:4] == b"\x89PNG"


def test_heatmap_needs_a_png_file_name(tmp_path, report_fingerprints):
    with pytest.raises(UsageError, match=r"\.png"):
        save_heatmap(report_fingerprints["fundus"], tmp_path / "ct.jpg")
    assert list(tmp_path.iterdir()) == []
