"""The command-line contract of the fingerprint journey: outputs, JSON shapes and exit codes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from secfp.cli import app
from secfp.fingerprint.histogram import load_fingerprint

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_fingerprint_then_inspect_json_has_the_contract_fields(tmp_path, sample_tasks):
    out = tmp_path / "ct.json"
    result = _run("fingerprint", sample_tasks["ct"][0], "--samples", 24, "--seed", 3, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    shown = _run("inspect", out, "--json")
    assert shown.exit_code == 0, shown.output
    obj = json.loads(shown.stdout)
    assert obj["n"] == 24 and obj["shape"] == [1280, 100]
    assert len(obj["counts"]) == 1280 and all(sum(row) == 24 for row in obj["counts"])
    assert len(obj["feature_mean"]) == 1280
    assert obj["spec_id"] == load_fingerprint(out).spec_id
    assert obj["privacy"] == {"mechanism": "none"}


def test_match_json_ranks_sources_closest_first(tmp_path, task_fingerprints):
    from secfp.fingerprint.histogram import save_fingerprint

    paths = {}
    for (name, half), fp in task_fingerprints.items():
        paths[(name, half)] = tmp_path / f"{name}-{half}.json"
        save_fingerprint(fp, paths[(name, half)])
    sources = [paths[(n, "b")] for n in ("ct", "us", "fundus", "histology")]
    result = _run("match", paths[("us", "a")], *sources, "--json", "--top", 3)
    assert result.exit_code == 0, result.output
    obj = json.loads(result.stdout)
    assert obj["variant"] == "small"
    assert [r["rank"] for r in obj["results"]] == [1, 2, 3]
    assert obj["results"][0]["source"] == str(paths[("us", "b")])
    distances = [r["distance"] for r in obj["results"]]
    assert distances == sorted(distances)
    large = json.loads(_run("match", paths[("us", "a")], *sources, "--json", "--variant", "large").stdout)
    assert large["variant"] == "large" and len(large["results"]) == 4


def test_unreadable_folder_exits_3_with_one_line_naming_it(tmp_path):
    (tmp_path / "x.png").write_bytes(b"junk")
    result = _run("fingerprint", tmp_path, "-o", tmp_path / "out.json", "--quiet")
    assert result.exit_code == 3
    assert str(tmp_path) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.json").exists()


def test_spec_mismatch_exits_6_and_names_both_spec_ids(tmp_path, task_fingerprints):
    from secfp.fingerprint.histogram import Fingerprint, save_fingerprint

    fp = task_fingerprints[("ct", "a")]
    save_fingerprint(fp, tmp_path / "ours.json")
    save_fingerprint(Fingerprint("ab" * 32, fp.counts, fp.n, fp.feature_mean), tmp_path / "theirs.json")
    result = _run("match", tmp_path / "ours.json", tmp_path / "theirs.json")
    assert result.exit_code == 6
    assert fp.spec_id in result.stderr and "ab" * 32 in result.stderr


def test_corrupt_fingerprint_file_exits_3(tmp_path, task_fingerprints):
    from secfp.fingerprint.histogram import save_fingerprint

    save_fingerprint(task_fingerprints[("ct", "a")], tmp_path / "fp.json")
    text = (tmp_path / "fp.json").read_text()
    (tmp_path / "fp.json").write_text(text[: len(text) // 2])
    result = _run("inspect", tmp_path / "fp.json", "--json")
    assert result.exit_code == 3 and "Traceback" not in result.output


def test_missing_weights_exit_3_and_say_how_to_import(tmp_path, monkeypatch, sample_tasks):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    from secfp.fingerprint import pipeline

    pipeline._network.cache_clear()
    try:
        result = _run("fingerprint", sample_tasks["ct"][0], "-o", tmp_path / "o.json", "--quiet", "--samples", 4)
    finally:
        pipeline._network.cache_clear()
    assert result.exit_code == 3
    assert "secfp probe import-weights mobilenet_v2-b0353104.pth" in result.stderr


def test_usage_errors_exit_2(tmp_path):
    assert _run("match").exit_code == 2
    assert _run("fingerprint", tmp_path).exit_code == 2  # no -o


def test_probe_import_weights_command(tmp_path, monkeypatch):
    from tests.conftest import mobilenet_checkpoint

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    result = _run("probe", "import-weights", mobilenet_checkpoint())
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth").is_file()
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"0" * 100)
    bad = _run("probe", "import-weights", junk)
    assert bad.exit_code == 3 and "not a known torchvision checkpoint" in bad.stderr


def test_spec_calibrate_writes_a_loadable_spec(tmp_path, sample_tasks):
    out = tmp_path / "spec.json"
    result = _run("spec", "calibrate", sample_tasks["fundus"][0], "--reference", "fundus tiles", "--bins", 20,
                  "--samples", 16, "-o", out, "--quiet")
    assert result.exit_code == 0, result.output
    shown = json.loads(_run("spec", "show", out, "--json").stdout)
    assert shown["bins"] == 20 and shown["calibration"]["reference"] == "fundus tiles"


def test_demo_runs_end_to_end_on_shipped_images(tmp_path, torch_home):
    result = _run("demo", "--out", tmp_path / "demo", "--samples", 12, "--quiet")
    assert result.exit_code == 0, result.output
    assert "retrieve their own other half first" in result.stdout
    assert len(list((tmp_path / "demo" / "fingerprints").glob("*.json"))) == 14
