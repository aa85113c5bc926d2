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


def test_side_by_side_heat_map_uses_one_clustered_row_order(report_fingerprints):
    from PIL import Image
    import io

    from secfp.report.heatmap import _row_shares, cluster_order, comparison_png

    png = comparison_png(report_fingerprints["ct_a"], report_fingerprints["ct_b"], query_title="ours $x$",
                         source_title="closest \u202e")
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (1100, 682)
    shares = _row_shares(report_fingerprints["ct_a"])
    order = cluster_order(shares)
    assert sorted(order.tolist()) == list(range(shares.shape[0]))
    # Clustering puts similar rows next to each other: neighbours are closer than in the original order.
    step = np.abs(np.diff(shares[order], axis=0)).sum(axis=1).mean()
    assert step < np.abs(np.diff(shares, axis=0)).sum(axis=1).mean()


def test_side_by_side_of_two_specs_is_refused(report_fingerprints):
    from secfp.errors import IncompatibleFingerprints
    from secfp.fingerprint.histogram import Fingerprint
    from secfp.report.heatmap import comparison_png

    fp = report_fingerprints["ct_a"]
    other = Fingerprint("ab" * 32, fp.counts, fp.n, fp.feature_mean)
    with pytest.raises(IncompatibleFingerprints):
        comparison_png(fp, other, query_title="a", source_title="b")


def test_inspect_plot_against_writes_the_side_by_side_png(tmp_path, report_fingerprints):
    from PIL import Image
    from typer.testing import CliRunner

    from secfp.cli import app
    from secfp.fingerprint.histogram import save_fingerprint

    save_fingerprint(report_fingerprints["ct_a"], tmp_path / "ours.fp.json")
    save_fingerprint(report_fingerprints["ct_b"], tmp_path / "best.fp.json")
    runner = CliRunner()
    result = runner.invoke(app, ["inspect", str(tmp_path / "ours.fp.json"), "--plot", str(tmp_path / "vs.png"),
                                 "--against", str(tmp_path / "best.fp.json")])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "vs.png") as im:
        assert im.size == (1100, 682)
    alone = runner.invoke(app, ["inspect", str(tmp_path / "ours.fp.json"), "--against", str(tmp_path / "best.fp.json")])
    assert alone.exit_code == 2 and "--plot" in alone.output


def test_report_embeds_the_heat_map_of_the_closest_source(scenario, report_fingerprints):
    from report_helpers import DOM, NOW

    from secfp.errors import BadInput
    from secfp.report import Report, build_report, render_html

    best = scenario.ranking[0]
    fps = {scenario.labels["ct"]: report_fingerprints["ct_b"], scenario.labels["fundus"]: report_fingerprints["fundus"]}
    built = build_report(query_name="q", query_fp=scenario.query_fp, ranking=scenario.ranking,
                         statements=scenario.statements, plan=scenario.plan, variant="small", now=NOW,
                         best_match_fp=fps.get(best.source, report_fingerprints["us"]))
    assert built.heatmap["source"] == best.source
    images = DOM(render_html(built)).find("img")
    assert len(images) == 1 and images[0]["attrs"]["src"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert Report.from_json(built.to_json()) == built
    # A report file whose "heat map" is something else than a PNG is refused.
    for bad in ({"source": "x", "png_base64": "PHN2Zz4="}, {"source": "x", "png_base64": "not base64!"}):
        with pytest.raises(BadInput):
            Report.from_json({**built.to_json(), "heatmap": bad})
