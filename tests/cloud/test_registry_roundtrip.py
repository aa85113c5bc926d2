"""Publish and sync through a real CNCF Distribution registry with htpasswd authentication."""

from __future__ import annotations

import json

from registry_server import PASSWORDS, requires_registry

from secfp.cloud.state import SEEN_FILE
from policy_texts import dp_import_policy  # noqa: E402

pytestmark = requires_registry


def _publish_two_institutions(cloud, registry):
    ct = cloud.bundle("chest-ct", issuer="alice", fp="ct")
    mr = cloud.bundle("brain-mr", issuer="carol", fp="mr", public=True, modality="MR")
    a = cloud.publish(registry, "alice", "consortium/alice", ct, extra=("--json",))
    assert a.exit_code == 0, a.output
    c = cloud.publish(registry, "carol", "consortium/carol", mr)
    assert c.exit_code == 0, c.output
    assert c.stdout.startswith("published ")
    return json.loads(a.stdout)["results"][0]


def test_publish_from_two_institutions_sync_into_a_third_then_match_and_plan(cloud, registry):
    pushed = _publish_two_institutions(cloud, registry)
    # The sealed bundle's tag and annotations say nothing from inside it.
    assert pushed["tag"].startswith("sealed-") and pushed["manifest_digest"].startswith("sha256:")
    cloud.docker_login(registry, "bob")
    result = cloud.sync(registry.ref("consortium"), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["counts"] == {"added": 2, "present": 0, "seen": 0, "refused": 0}
    assert sorted(r["artifact"].split("/")[-1].split(":")[0] for r in doc["results"]) == ["alice", "carol"]
    assert len(cloud.pooled()) == 2
    # Each bundle went through the pool-add receive path, and the sync left a summary.
    adds = cloud.audit_events("pool-add")
    assert [e.outcome for e in adds] == ["ok", "ok"]
    assert all(e.details["file"].startswith(f"oci://{registry.registry}/consortium/") for e in adds)
    assert cloud.audit_events("pool-sync")[-1].outcome == "ok"

    query = cloud.tmp / "query.fp.json"
    from secfp.fingerprint.histogram import save_fingerprint

    save_fingerprint(cloud.fps["ct-query"], query)
    match = cloud.run("match", query, "--pool", cloud.pool, "--key", cloud.key, "--trust", cloud.trust,
                      "--audit-log", cloud.audit, "--json")
    assert match.exit_code == 0, match.output
    ranking = json.loads(match.stdout)
    rows = ranking["results"] if isinstance(ranking, dict) else ranking
    assert len(rows) == 2
    plan = cloud.run("plan", query, "--pool", cloud.pool, "--key", cloud.key, "--trust", cloud.trust,
                     "--audit-log", cloud.audit, "--json")
    assert plan.exit_code == 0, plan.output
    the_plan = json.loads(plan.stdout)
    assert the_plan["pool"]["used"] == 2
    # The CT source is the closest to a CT query; the planner ranks both (its order also weighs card facts).
    suggested = the_plan["scenarios"]["architecture"]
    assert len(suggested) == 2
    closest = next(s for s in suggested if s["closeness_rank"] == 1)
    assert closest["task"] == "chest-ct"


def test_second_sync_adds_nothing_and_downloads_no_manifest(cloud, registry):
    _publish_two_institutions(cloud, registry)
    cloud.docker_login(registry, "bob")
    assert cloud.sync(registry.ref("consortium")).exit_code == 0
    before = (cloud.pool / SEEN_FILE).read_bytes()
    again = cloud.sync(registry.ref("consortium"), "--json")
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert doc["counts"] == {"added": 0, "present": 0, "seen": 2, "refused": 0}
    assert (cloud.pool / SEEN_FILE).read_bytes() == before
    assert [e.outcome for e in cloud.audit_events("pool-add")] == ["ok", "ok"]


def test_sync_without_seen_state_finds_bundles_present(cloud, registry):
    # Resumability: losing the sync state costs downloads only; the pool says "present".
    _publish_two_institutions(cloud, registry)
    cloud.docker_login(registry, "bob")
    assert cloud.sync(registry.ref("consortium/alice")).exit_code == 0
    (cloud.pool / SEEN_FILE).unlink()
    doc = json.loads(cloud.sync(registry.ref("consortium"), "--json").stdout)
    assert doc["counts"] == {"added": 1, "present": 1, "seen": 0, "refused": 0}


def test_unauthenticated_sync_is_refused_and_audited(cloud, registry):
    # Access control is the registry's: without credentials nothing is listed or taken.
    _publish_two_institutions(cloud, registry)
    result = cloud.sync(registry.ref("consortium"))
    assert result.exit_code == 3
    assert "requires authentication" in result.stderr
    assert cloud.pooled() == []
    failed = cloud.audit_events("pool-sync")
    assert [e.outcome for e in failed] == ["failed"] and "authentication" in failed[0].reasons[0]


def test_sync_with_a_wrong_password_is_refused(cloud, registry):
    result = cloud.sync(registry.ref("consortium"), "--username", "bob", env={"SECFP_REGISTRY_PASSWORD": "wrong"})
    assert result.exit_code == 3 and "refused our credentials" in result.stderr
    assert cloud.pooled() == []


def test_blob_tampered_in_registry_storage_is_rejected(cloud, registry):
    # Storage tampering: the registry operator rewrites a stored blob in place.
    pushed = _publish_two_institutions(cloud, registry)
    blob = registry.blob_path(pushed["layer_digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    cloud.docker_login(registry, "bob")
    result = cloud.sync(registry.ref("consortium"), "--json")
    assert result.exit_code == 4
    error = json.loads(result.stdout)["error"]  # the one error document, every artifact's outcome in its details
    assert (error["code"], error["kind"]) == (4, "digest_mismatch")
    refused = [r for r in error["details"]["outcomes"] if r["outcome"] == "refused"]
    assert len(refused) == 1 and "digest check failed" in refused[0]["reason"] and refused[0]["exit_code"] == 4
    assert error["details"]["counts"]["added"] == 1  # carol's untouched bundle still arrives
    assert len(cloud.pooled()) == 1
    assert any(e.outcome == "failed" and "digest check failed" in e.reasons[0] for e in cloud.audit_events("pool-sync"))
    # Refused artifacts are not remembered: the next sync tries (and audits) it again.
    assert cloud.sync(registry.ref("consortium")).exit_code == 4


def test_bundle_from_an_untrusted_publisher_is_refused_by_the_receive_path(cloud, registry):
    # A registry account is not trust: mallory can push (here with alice's account), bob's trust store decides.
    evil = cloud.bundle("evil", issuer="mallory", fp="ct")
    assert cloud.publish(registry, "alice", "consortium/alice", evil).exit_code == 0
    cloud.docker_login(registry, "bob")
    result = cloud.sync(registry.ref("consortium"), "--json")
    assert result.exit_code == 4
    assert cloud.pooled() == []
    assert [e.outcome for e in cloud.audit_events("pool-add")] == ["failed"]


def test_publish_without_credentials_is_refused_and_audited(cloud, registry):
    ct = cloud.bundle("chest-ct", issuer="alice", fp="ct")
    log = cloud.tmp / "publish-audit.jsonl"
    result = cloud.run("publish", ct, registry.ref("consortium/alice"), "--plain-http", "--audit-log", log)
    assert result.exit_code == 3 and "requires authentication" in result.stderr
    from secfp.governance import read_log

    assert [(r.event.event, r.event.outcome) for r in read_log(log)] == [("publish", "failed")]


def test_publish_of_a_file_that_is_not_a_bundle_pushes_nothing(cloud, registry):
    junk = cloud.tmp / "junk.bundle"
    junk.write_bytes(b"{}\n")
    result = cloud.publish(registry, "alice", "consortium/alice", junk)
    assert result.exit_code == 3
    assert not (registry.root / "docker/registry/v2/repositories/consortium").exists()


def test_public_bundle_annotations_show_only_what_the_file_shows(cloud, registry):
    mr = cloud.bundle("brain-mr", issuer="carol", fp="mr", public=True, modality="MR")
    assert cloud.publish(registry, "carol", "consortium/carol", mr).exit_code == 0
    from secfp.cloud import Connection, Credentials, RegistryClient, parse_reference
    from secfp.cloud.remote import get_manifest, list_tags

    ref = parse_reference(registry.ref("consortium/carol"))
    client = RegistryClient(Connection(ref, credentials=Credentials("carol", PASSWORDS["carol"]), plain_http=True))
    (tag,) = list_tags(client, ref.path)
    _, manifest = get_manifest(client, ref.path, tag, expected=None)
    annotations = json.loads(manifest)["annotations"]
    assert annotations["dev.secfp.bundle.id"] == tag
    assert set(annotations) == {"dev.secfp.bundle.sealed", "dev.secfp.bundle.id", "dev.secfp.bundle.spec-id",
                                "dev.secfp.bundle.issuer-signing-key-id", "dev.secfp.bundle.expires"}
    assert b"brain-mr" not in manifest


def test_credentials_from_a_docker_credential_helper(cloud, registry, tmp_path, monkeypatch):
    # The credential-helper protocol: `docker-credential-NAME get` reads the registry on stdin, prints JSON.
    _publish_two_institutions(cloud, registry)
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    helper = helpers / "docker-credential-secfptest"
    helper.write_text("#!/bin/sh\nread host\n"
                      f"[ \"$host\" = \"{registry.registry}\" ] || exit 1\n"
                      f"printf '{{\"Username\": \"bob\", \"Secret\": \"{PASSWORDS['bob']}\"}}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helpers}:{__import__('os').environ['PATH']}")
    docker = tmp_path / "docker-helper"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps({"credHelpers": {registry.registry: "secfptest"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker))
    result = cloud.sync(registry.ref("consortium/carol"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["added"] == 1


def test_sync_of_one_tagged_artifact_takes_only_that_one(cloud, registry):
    pushed = _publish_two_institutions(cloud, registry)
    cloud.docker_login(registry, "bob")
    result = cloud.sync(registry.ref(f"consortium/alice:{pushed['tag']}"), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"] == {"added": 1, "present": 0, "seen": 0, "refused": 0}


IMPORT_POLICY = dp_import_policy("cloud-import")


def test_import_policy_refuses_synced_bundles_with_exit_5_and_remembers_nothing(cloud, registry):
    # The newcomer's policy requires DP; the published bundles have none.
    _publish_two_institutions(cloud, registry)
    cloud.docker_login(registry, "bob")
    policy = cloud.tmp / "import.toml"
    policy.write_text(IMPORT_POLICY)
    result = cloud.sync(registry.ref("consortium"), "--policy", policy, "--json")
    assert result.exit_code == 5, result.output
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["kind"], error["details"]["counts"]["refused"]) == (5, "policy_violation", 2)
    assert [o["kind"] for o in error["details"]["outcomes"]] == ["policy_violation", "policy_violation"]
    assert cloud.pooled() == [] and not (cloud.pool / SEEN_FILE).exists()
    refused = cloud.audit_events("pool-add")
    assert [e.outcome for e in refused] == ["refused", "refused"] and refused[0].policy_id == "cloud-import"
