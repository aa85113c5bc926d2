"""Probe weights are checked byte for byte; specs are content-addressed and never fall back silently."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from secfp.errors import BadInput, IncompatibleFingerprints, MissingWeights
from secfp.fingerprint.pipeline import calibrate_spec, extract_features, fingerprint_paths
from secfp.fingerprint.probe import PROBES, checkpoint_path, import_weights, load_probe_network
from secfp.fingerprint.images import scan
from secfp.fingerprint.sampling import plan_with_replacement
from secfp.fingerprint.spec import load_spec, save_spec, shipped_spec_names
from secfp.matching.bkld import bkld
from tests.conftest import mobilenet_checkpoint


def test_import_weights_installs_the_real_checkpoint_where_torchvision_looks(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    info, target = import_weights(mobilenet_checkpoint())
    assert info.name == "mobilenet_v2"
    assert target == checkpoint_path(info) and target.is_file()
    assert str(tmp_path) in str(target)
    net = load_probe_network("mobilenet_v2", "IMAGENET1K_V1", PROBES["mobilenet_v2"].known_sha256)
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 224, 224)).shape == (1, 1280)


def test_import_weights_rejects_a_tampered_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    bad = tmp_path / "mobilenet_v2-b0353104.pth"
    data = bytearray(mobilenet_checkpoint().read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(BadInput, match="not a known torchvision checkpoint"):
        import_weights(bad)
    assert not (tmp_path / "home").exists()


def test_missing_weights_name_the_file_and_the_import_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeights, match=r"mobilenet_v2-b0353104\.pth.*secfp probe import-weights"):
        load_probe_network("mobilenet_v2", "IMAGENET1K_V1", PROBES["mobilenet_v2"].known_sha256)


def test_weights_that_differ_from_the_spec_digest_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    target = checkpoint_path(PROBES["mobilenet_v2"])
    target.parent.mkdir(parents=True)
    shutil.copy(mobilenet_checkpoint(), target)
    with open(target, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(MissingWeights, match="the spec expects"):
        load_probe_network("mobilenet_v2", "IMAGENET1K_V1", PROBES["mobilenet_v2"].known_sha256)


def test_shipped_specs_verify_and_record_their_calibration():
    assert {"mobilenet_v2-b100", "mobilenet_v2-b1000"} <= set(shipped_spec_names())
    small, large = load_spec("mobilenet_v2-b100"), load_spec("mobilenet_v2-b1000")
    assert small.bins == 100 and large.bins == 1000 and small.num_features == 1280
    assert small.spec_id != large.spec_id
    assert small.weights_sha256 == PROBES["mobilenet_v2"].known_sha256
    assert "scikit-image" in small.calibration["reference"]
    assert np.all(small.high > small.low)


def test_edited_spec_file_is_rejected(tmp_path, default_spec):
    obj = default_spec.to_json()
    obj["low"][0] -= 0.5
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(BadInput, match="does not match its content"):
        load_spec(path)


def test_calibration_edges_are_the_feature_quantiles(sample_tasks):
    folders = [sample_tasks["us"][0], sample_tasks["cr"][0]]
    spec = calibrate_spec(folders, probe="mobilenet_v2", bins=10, samples=64, seed=5, reference="test set")
    refs = scan(folders).refs
    plan = plan_with_replacement(len(refs), samples=64, rng=np.random.default_rng(5))
    net = load_probe_network("mobilenet_v2", "IMAGENET1K_V1", spec.weights_sha256)
    feats = torch.cat([f for _, f in extract_features(refs, plan, network=net)]).double().numpy()
    np.testing.assert_allclose(spec.low, np.quantile(feats, 0.05, axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(spec.high[spec.high > spec.low + 1e-3], np.quantile(feats, 0.95, axis=0)[spec.high > spec.low + 1e-3], rtol=1e-6, atol=1e-6)
    assert spec.calibration["samples"] == 64 and spec.calibration["reference"] == "test set"


def test_random_weights_only_on_request_and_never_comparable_with_real(tmp_path, sample_tasks, default_spec, task_fingerprints):
    folder = sample_tasks["fundus"][0]
    random_spec = calibrate_spec([folder], probe="mobilenet_v2", weights="random:0", bins=100, samples=16, seed=0, reference="t")
    assert random_spec.random_weights and random_spec.weights_sha256 == ""
    save_spec(random_spec, tmp_path / "random.json")
    fp = fingerprint_paths([folder], spec=load_spec(tmp_path / "random.json"), samples=16, seed=0).fingerprint
    with pytest.raises(IncompatibleFingerprints, match=random_spec.spec_id):
        bkld(task_fingerprints[("fundus", "b")], fp)
