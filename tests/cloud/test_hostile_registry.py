"""A hostile registry cannot hurt the pool: each lie is refused with a clear error, audited, and nothing is pooled.

The registry is a small HTTP server on 127.0.0.1 that sends what a well-behaved
registry never would; the bundles it serves are real (sealed to bob, signed by alice).
"""

from __future__ import annotations

import json

import pytest
from hostile_registry import HostileRegistry, digest, manifest_for

from secfp.cloud.artifact import MAX_BLOB_BYTES, MAX_MANIFEST_BYTES
from secfp.cloud.remote import MAX_PAGES

REPO = "consortium/alice"


@pytest.fixture
def served(cloud, hostile):
    """A real sealed bundle, its bytes, and a helper that syncs from the hostile registry."""
    data = cloud.bundle("chest-ct", issuer="alice", fp="ct").read_bytes()

    def sync(reference: str = hostile.ref(REPO), *extra):
        result = cloud.sync(reference, "--json", *extra)
        doc = json.loads(result.stdout) if result.stdout.strip() else None
        if doc is not None and "error" in doc:
            # A failed sync prints the one error document; a partly failed one has the report in its details.
            assert doc["error"]["code"] == result.exit_code, doc
            details = doc["error"]["details"]
            doc = {**details, "results": details["outcomes"]} if "outcomes" in details else None
        return result, doc

    return data, sync


def _refused_and_audited(cloud, doc, fragment: str) -> None:
    refused = [r for r in doc["results"] if r["outcome"] == "refused"]
    assert refused and fragment in refused[0]["reason"], doc
    assert cloud.pooled() == []
    assert any(e.outcome == "failed" and fragment in e.reasons[0] for e in cloud.audit_events("pool-sync"))


def test_well_behaved_artifact_from_the_test_server_is_added(cloud, hostile, served):
    # The control case: the same server, telling the truth, gets the bundle in.
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data), blob=data)
    result, doc = sync()
    assert result.exit_code == 0, result.output
    assert doc["counts"]["added"] == 1 and len(cloud.pooled()) == 1


def test_manifest_with_a_wrong_stated_digest_is_rejected(cloud, hostile, served):
    # Substitution: the registry states one manifest digest and serves other bytes.
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data), blob=data, manifest_digest=digest(b"other"))
    result, doc = sync()
    assert result.exit_code == 4
    _refused_and_audited(cloud, doc, "digest check failed")
    assert not hostile.asked("/blobs/")


def test_layer_whose_bytes_do_not_match_its_digest_is_rejected(cloud, hostile, served):
    # Tampered blob: the manifest names the real bundle, the blob holds a modified one.
    data, sync = served
    middle = len(data) // 2
    tampered = data[:middle] + (b"A" if data[middle:middle + 1] != b"A" else b"B") + data[middle + 1:]
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data), blob=tampered, blob_digest=digest(data))
    result, doc = sync()
    assert result.exit_code == 4
    _refused_and_audited(cloud, doc, "digest check failed")


def test_oversized_layer_is_refused_before_download(cloud, hostile, served):
    # Endless-data attack, announced: a layer larger than any bundle is never fetched.
    data, sync = served
    layers = [{"mediaType": "application/vnd.secfp.bundle.v1+json", "digest": digest(data), "size": MAX_BLOB_BYTES + 1}]
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data, layers=layers), blob=data)
    result, doc = sync()
    assert result.exit_code == 3
    _refused_and_audited(cloud, doc, "not downloaded")
    assert not hostile.asked("/blobs/")


def test_endless_layer_is_cut_off_at_its_announced_size(cloud, hostile, served):
    # Endless-data attack: the manifest announces a small layer, the blob never ends.
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data))
    hostile.routes[f"/v2/{REPO}/blobs/{digest(data)}"] = lambda h: h.endless()
    result, doc = sync()
    assert result.exit_code == 3
    _refused_and_audited(cloud, doc, "longer than the limit")
    assert hostile.endless_sent < 64 * 1024 * 1024  # we hung up long before the server's own bound


def test_layer_with_a_content_length_over_its_size_is_refused_unread(cloud, hostile, served):
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data))
    hostile.routes[f"/v2/{REPO}/blobs/{digest(data)}"] = lambda h: h.send(200, b"", length=10**12)
    result, doc = sync()
    assert result.exit_code == 3
    _refused_and_audited(cloud, doc, "announced as 1000000000000 bytes")


def test_manifest_with_many_layers_is_refused(cloud, hostile, served):
    data, sync = served
    layer = {"mediaType": "application/vnd.secfp.bundle.v1+json", "digest": digest(data), "size": len(data)}
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data, layers=[layer] * 200), blob=data)
    result, doc = sync()
    assert result.exit_code == 3
    _refused_and_audited(cloud, doc, "exactly one layer, this one has 200")
    assert not hostile.asked("/blobs/")


def test_oversized_manifest_is_refused(cloud, hostile, served):
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data, annotations={"x": "y" * MAX_MANIFEST_BYTES}))
    result, doc = sync()
    assert result.exit_code == 3
    _refused_and_audited(cloud, doc, "more than the limit")


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"mediaType": "application/vnd.docker.distribution.manifest.v2+json"}, "wrong manifest media type"),
    ({"artifactType": "application/vnd.example.other+json"}, "not a secfp bundle artifact"),
    ({"layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "0" * 64, "size": 9}]},
     "wrong layer media type"),
    ({"layers": [{"mediaType": "application/vnd.secfp.bundle.v1+json", "digest": "md5:" + "0" * 32, "size": 9}]},
     "not a SHA-256 digest"),
])
def test_manifest_with_wrong_media_types_or_digest_algorithm_is_refused(cloud, hostile, served, changes, fragment):
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data, **changes), blob=data)
    result, doc = sync()
    assert result.exit_code == 3
    _refused_and_audited(cloud, doc, fragment)
    assert not hostile.asked("/blobs/")


def test_redirect_to_another_host_is_refused(cloud, hostile, served):
    # Redirect attack: the blob "moved" to a host the operator never named (our credentials would follow).
    data, sync = served
    elsewhere = HostileRegistry()
    try:
        elsewhere.routes[f"/v2/{REPO}/blobs/{digest(data)}"] = lambda h: h.send(200, data)
        hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data))
        location = f"http://{elsewhere.registry}/v2/{REPO}/blobs/{digest(data)}"
        hostile.routes[f"/v2/{REPO}/blobs/{digest(data)}"] = lambda h: h.send(307, headers={"Location": location})
        result, doc = sync()
        assert result.exit_code == 3
        _refused_and_audited(cloud, doc, "refused a redirect to another host")
        assert elsewhere.requests == []
    finally:
        elsewhere.stop()


def test_same_origin_redirect_is_followed(cloud, hostile, served):
    # Registries legitimately redirect blob downloads within themselves.
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data))
    hostile.routes[f"/v2/{REPO}/blobs/{digest(data)}"] = lambda h: h.send(307, headers={"Location": "/storage/x"})
    hostile.routes["/storage/x"] = lambda h: h.send(200, data)
    result, doc = sync()
    assert result.exit_code == 0, result.output


def test_redirect_loop_is_bounded(cloud, hostile, served):
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data))
    hostile.routes[f"/v2/{REPO}/blobs/{digest(data)}"] = lambda h: h.send(
        302, headers={"Location": f"/v2/{REPO}/blobs/{digest(data)}"})
    result, doc = sync()
    assert result.exit_code == 3
    _refused_and_audited(cloud, doc, "redirects")


def test_endless_tag_pagination_is_bounded(cloud, hostile, served):
    # Endless listing: every page links to a next one.
    data, sync = served
    hostile.routes[f"/v2/{REPO}/tags/list"] = lambda h: h.send(
        200, json.dumps({"tags": [f"t{len(hostile.requests)}"]}).encode(), content_type="application/json",
        headers={"Link": f'</v2/{REPO}/tags/list?last=x{len(hostile.requests)}>; rel="next"'})
    result, doc = sync()
    assert result.exit_code == 3
    assert f"more than {MAX_PAGES} pages" in result.stderr
    assert len(hostile.requests) <= MAX_PAGES + 2
    assert cloud.audit_events("pool-sync")[-1].outcome == "failed"


def test_pagination_link_to_another_host_is_refused(cloud, hostile, served):
    data, sync = served
    hostile.routes[f"/v2/{REPO}/tags/list"] = lambda h: h.send(
        200, b'{"tags": ["t1"]}', content_type="application/json",
        headers={"Link": '<http://198.51.100.7/v2/x/tags/list>; rel="next"'})
    result, _ = sync()
    assert result.exit_code == 3 and "another host" in result.stderr


def test_bearer_realm_over_plain_http_on_another_host_is_refused(cloud, hostile, served):
    # Credential phishing: a token realm elsewhere over plain HTTP would receive our password.
    data, sync = served
    hostile.routes[f"/v2/{REPO}/tags/list"] = lambda h: h.send(
        401, b"", headers={"WWW-Authenticate": 'Bearer realm="http://198.51.100.7/token",service="x"'})
    result = cloud.sync(hostile.ref(REPO), "--username", "bob", env={"SECFP_REGISTRY_PASSWORD": "pw"})
    assert result.exit_code == 3 and "token realm" in result.stderr


def test_sync_broken_off_resumes_without_fetching_twice(cloud, hostile, served):
    # Resumability: the first artifact arrives, the second fails; the next run takes only the second.
    data, sync = served
    other = cloud.bundle("chest-ct-2", issuer="alice", fp="mr").read_bytes()
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data), blob=data)
    hostile.serve_artifact("consortium/carol", "t2", manifest=manifest_for(other))  # blob missing: 404
    hostile.routes["/v2/_catalog"] = lambda h: h.send(
        200, json.dumps({"repositories": [REPO, "consortium/carol", "elsewhere/x"]}).encode(),
        content_type="application/json")
    result, doc = sync(hostile.ref("consortium"))
    assert result.exit_code == 3
    assert doc["counts"] == {"added": 1, "present": 0, "seen": 0, "refused": 1}
    assert not hostile.asked("elsewhere")
    hostile.routes[f"/v2/consortium/carol/blobs/{digest(other)}"] = lambda h: h.send(200, other)
    hostile.requests.clear()
    result, doc = sync(hostile.ref("consortium"))
    assert result.exit_code == 0, result.output
    assert doc["counts"] == {"added": 1, "present": 0, "seen": 1, "refused": 0}
    assert not hostile.asked(f"/blobs/{digest(data)}")
    assert len(cloud.pooled()) == 2


def test_compressed_layer_is_refused_unread(cloud, hostile, served):
    # Decompression bomb: a few bytes on the wire that would expand past any cap.
    data, sync = served
    hostile.serve_artifact(REPO, "t1", manifest=manifest_for(data))
    hostile.routes[f"/v2/{REPO}/blobs/{digest(data)}"] = lambda h: h.send(
        200, b"\x1f\x8b" + b"\0" * 20, headers={"Content-Encoding": "gzip"})
    result, doc = sync()
    assert result.exit_code == 3
    _refused_and_audited(cloud, doc, "content encoding 'gzip'")


def test_unreachable_registry_fails_at_once_and_is_audited(cloud, served):
    # No retry storm: a closed port is one refusal (exit 3), not minutes of back-off.
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    result = cloud.sync(f"oci://127.0.0.1:{port}/consortium")
    assert result.exit_code == 3 and "unreachable" in result.stderr
    assert time.monotonic() - started < 10
    assert [e.outcome for e in cloud.audit_events("pool-sync")] == ["failed"]
