"""Adding to the pool: verification comes first, and nothing unverified ever enters."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest
from pool_helpers import card, make_fingerprint, snapshot

from secfp.errors import DecryptionError, PolicyViolation, VerificationError
from secfp.exchange.errors import Replayed, UntrustedSigner
from secfp.governance import parse_policy
from policy_texts import dp_import_policy  # noqa: E402


def test_verified_bundle_is_stored_byte_for_byte_with_its_facts(world):
    data = world.bundle(card=card("lung-ct", body_region="chest"),
                        policy={"id": "export-1", "digest": "ab" * 32, "data_use": ["HMB", "NCU"]})
    result = world.add(data)
    entry = result.entry
    assert result.added
    path = world.pool.bundles_dir / f"{entry.bundle_id}.bundle"
    assert path.read_bytes() == data
    assert entry.file_digest == hashlib.sha256(data).hexdigest()
    (stored,) = world.pool.entries()
    assert stored.bundle_id == entry.bundle_id
    assert (stored.issuer_name, stored.task_name, stored.modality, stored.body_region) == ("alice", "lung-ct", "CT", "chest")
    assert (stored.num_classes, stored.images, stored.privacy_mechanism, stored.epsilon) == (2, 1000, "none", None)
    assert stored.data_use == ("HMB", "NCU") and stored.policy_id == "export-1"
    assert stored.spec_id == make_fingerprint().spec_id and (stored.features, stored.bins) == (6, 8)
    assert "privacy-ledger" in stored.checks and "trusted-signer" in stored.checks
    assert stat.S_IMODE(world.pool.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(world.pool.index_path.stat().st_mode) == 0o600
    (record,) = world.audit()
    assert (record.event.event, record.event.outcome, record.event.bundle_id) == ("pool-add", "ok", entry.bundle_id)


def test_bundle_from_untrusted_signer_never_enters(world):
    # Arbitrary-content attack: mallory (in no trust store) sends a well-formed bundle.
    world.add(world.bundle())
    before = snapshot(world.pool.directory)
    with pytest.raises(UntrustedSigner, match="trust"):
        world.add(world.bundle(issuer="mallory"))
    assert snapshot(world.pool.directory) == before
    assert len(world.pool.entries()) == 1
    assert world.audit()[-1].event.outcome == "failed"


def test_tampered_bundle_never_enters(world):
    # Bit-flip attack on the ciphertext of a sealed bundle.
    obj = json.loads(world.bundle())
    ct = bytearray(obj["ciphertext"].encode())
    ct[40] = ord("A") if ct[40] != ord("A") else ord("B")
    obj["ciphertext"] = ct.decode()
    before = snapshot(world.pool.directory)
    with pytest.raises(DecryptionError):
        world.add(world.peers.encode(obj))
    assert snapshot(world.pool.directory) == before
    assert world.pool.entries() == []


def test_adding_the_same_bundle_twice_is_a_noop(world):
    data = world.bundle()
    first = world.add(data)
    before = snapshot(world.pool.directory)
    again = world.add(data)
    assert first.added and not again.added
    assert again.entry.bundle_id == first.entry.bundle_id
    assert snapshot(world.pool.directory) == before
    assert len(world.pool.entries()) == 1


def test_same_statement_resealed_is_already_present(world):
    # The same signed statement in another wrapping (bob re-seals it to himself) is the same content.
    data = world.bundle()
    world.add(data)
    resealed = world.peers.seal_envelope(world.peers.envelope_of(data), to=("bob",))
    assert resealed != data
    assert not world.add(resealed).added
    (entry,) = world.pool.entries()
    assert (world.pool.bundles_dir / f"{entry.bundle_id}.bundle").read_bytes() == data


def test_known_bundle_id_with_different_content_is_rejected_as_replay(world):
    # Replay with substitution: alice (trusted) signs another statement under an id already pooled.
    data = world.bundle(card=card("first"))
    world.add(data)
    statement = world.peers.statement_of(data)
    statement["card"] = card("second")
    forged = world.peers.seal_envelope(world.peers.sign(statement), to=("bob",))
    before = snapshot(world.pool.directory)
    with pytest.raises(Replayed, match="already in the pool with different content"):
        world.add(forged)
    assert isinstance(Replayed("x"), VerificationError)
    assert snapshot(world.pool.directory) == before
    assert world.pool.entries()[0].task_name == "first"
    last = world.audit()[-1].event
    assert (last.event, last.outcome) == ("pool-add", "failed") and "different content" in last.reasons[0]


IMPORT_POLICY = dp_import_policy("pool-import", valid_from="2025-01-01", valid_until="2026-01-01")


def test_import_policy_refusal_leaves_pool_unchanged_and_is_audited(world):
    policy = parse_policy(IMPORT_POLICY.encode(), source="pool-import.toml", now=world.now)
    receiver = world.with_receiver(import_policy=policy)
    before = snapshot(world.pool.directory)
    with pytest.raises(PolicyViolation, match="dp_required"):
        world.add(world.bundle(policy={"id": "e", "digest": "cd" * 32, "data_use": ["HMB"]}), receiver=receiver)
    assert snapshot(world.pool.directory) == before
    assert world.pool.entries() == []
    last = world.audit()[-1]
    assert (last.event.event, last.event.outcome, last.event.policy_id) == ("pool-add", "refused", "pool-import")
    assert last.event.bundle_id is not None


def test_concurrent_adds_of_one_bundle_store_it_once(world):
    # Race: two receivers add the same bundle at once; the pool lock lets exactly one write it.
    from concurrent.futures import ThreadPoolExecutor

    data = world.bundle()
    with ThreadPoolExecutor(max_workers=4) as ex:
        results = list(ex.map(lambda _: world.add(data), range(4)))
    assert sorted(r.added for r in results) == [False, False, False, True]
    assert len(world.pool.entries()) == 1 and len(list(world.pool.bundles_dir.iterdir())) == 1
