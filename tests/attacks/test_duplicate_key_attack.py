"""Parser differential: JSON with a duplicate key, which two parsers could read differently.

Strict parsing rejects duplicate keys at every layer: the bundle file, the
decrypted envelope and the signed statement (even when correctly signed).
"""

from __future__ import annotations

import pytest

from secfp.errors import InvalidBundle


def test_bundle_file_with_duplicate_key_is_rejected(peers):
    # Parser-differential attack on the outer file.
    data = peers.bundle()
    tampered = data.replace(b'{"ciphertext":', b'{"suite":"x","ciphertext":', 1)
    with pytest.raises(InvalidBundle, match="duplicate key"):
        peers.open(tampered)


def test_envelope_with_duplicate_key_is_rejected(peers):
    # Parser-differential attack inside the encryption: a second payloadType.
    envelope = canonical_json_of(peers.envelope_of(peers.bundle()))
    tampered = envelope.replace(b'"payloadType":', b'"payloadType":"text/plain","payloadType":', 1)
    with pytest.raises(InvalidBundle, match="duplicate key"):
        peers.open(peers.seal_envelope(tampered))


def test_signed_statement_with_duplicate_key_is_rejected(peers):
    # Parser-differential attack in the signed bytes: two "audience" keys, correctly signed by alice.
    from secfp._io import canonical_json

    statement = peers.statement_of(peers.bundle())
    payload = canonical_json(statement)
    tampered = payload.replace(b'"audience":', b'"audience":[],"audience":', 1)
    with pytest.raises(InvalidBundle, match="duplicate key"):
        peers.open(peers.seal_envelope(peers.sign(tampered)))
    assert peers.replay_state() is None


def canonical_json_of(envelope):
    from secfp._io import canonical_json

    return canonical_json(envelope.to_json())
