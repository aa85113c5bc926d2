"""Fuzzing: structured garbage at every layer never escapes as anything but a secfp error.

Three layers, each with hypothesis: raw bytes; bundle-shaped JSON with random
values (re-serialised canonically so it reaches the checks); and random
statements that a *trusted* signer actually signed and sealed to us, which
exercises the statement and fingerprint parsers behind the signature.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest
from secfp_peers import PeerSimulator

from secfp._io import canonical_json
from secfp.errors import SecfpError

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))

json_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return PeerSimulator(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def sealed_template(sim):
    return json.loads(sim.bundle(to=("bob", "carol")))


@pytest.fixture(scope="module")
def statement_template(sim):
    return sim.statement_of(sim.bundle())


def _only_secfp_errors(sim, data: bytes, *, as_="bob") -> None:
    try:
        sim.open(data, as_=as_, replay=False)
    except SecfpError:
        return


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_random_bytes_raise_only_secfp_errors(sim, data):
    # Fuzzing attack: arbitrary bytes.
    _only_secfp_errors(sim, data)


@SETTINGS
@given(field=st.sampled_from(["v", "kind", "suite", "sealed", "nonce", "recipients", "ciphertext", "extra"]), value=json_values)
def test_bundle_with_random_field_values_raises_only_secfp_errors(sim, sealed_template, field, value):
    # Fuzzing attack on the outer bundle: one field replaced by random JSON.
    outer = dict(sealed_template)
    outer[field] = value
    _only_secfp_errors(sim, canonical_json(outer) + b"\n")


@SETTINGS
@given(index=st.integers(min_value=0, max_value=1), field=st.sampled_from(["key_id", "wrapped_key", "x"]), value=json_values)
def test_bundle_with_random_recipient_entries_raises_only_secfp_errors(sim, sealed_template, index, field, value):
    # Fuzzing attack on the recipient list.
    outer = json.loads(json.dumps(sealed_template))
    outer["recipients"][index][field] = value
    _only_secfp_errors(sim, canonical_json(outer) + b"\n")


@SETTINGS
@given(envelope=st.dictionaries(st.sampled_from(["payload", "payloadType", "signatures", "x"]), json_values, max_size=4))
def test_sealed_random_envelope_raises_only_secfp_errors(sim, envelope):
    # Fuzzing attack behind the encryption: anyone can seal garbage to bob.
    _only_secfp_errors(sim, sim.seal_envelope(envelope))


statement_fields = st.sampled_from(["v", "kind", "bundle_id", "issuer", "audience", "issued_at", "expires_at", "fingerprint", "card", "privacy", "policy"])
fingerprint_fields = st.sampled_from(["v", "kind", "spec_id", "n", "shape", "noisy", "feature_mean", "counts"])


@SETTINGS
@given(field=statement_fields, value=json_values)
def test_signed_statement_with_random_field_raises_only_secfp_errors(sim, statement_template, field, value):
    # Fuzzing attack behind the signature: a trusted signer's software emits a broken statement.
    statement = json.loads(json.dumps(statement_template))
    statement[field] = value
    _only_secfp_errors(sim, sim.seal_envelope(sim.sign(statement)))


@SETTINGS
@given(field=fingerprint_fields, value=json_values | st.lists(st.lists(st.integers(min_value=-(2**80), max_value=2**80), max_size=8), max_size=6))
def test_signed_fingerprint_with_random_field_raises_only_secfp_errors(sim, statement_template, field, value):
    # Fuzzing attack on the fingerprint inside a signed statement (huge integers included).
    statement = json.loads(json.dumps(statement_template))
    statement["fingerprint"][field] = value
    _only_secfp_errors(sim, sim.seal_envelope(sim.sign(statement)))
