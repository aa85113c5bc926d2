"""The knowledge cloud over TLS: a real CNCF Distribution registry serving HTTPS with certificates made here.

The public key infrastructure is built in the test with ``cryptography``: a private
consortium CA, a server certificate it issues for ``127.0.0.1`` and ``localhost``
(SubjectAltName), a second, unrelated CA, a certificate from the consortium CA for
``registry.example`` only, and a self-signed server certificate. Each test names the
attack a certificate check stops: a man in the middle with a certificate from a CA we
never chose, one with a valid certificate for another host, one with a self-signed
certificate; and a downgrade to plain HTTP.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from registry_server import PASSWORDS, TOKEN_AUTH, RunningRegistry, ServerTLS, requires_registry, start_registry
from token_server import ISSUER, SERVICE, TokenServer

from secfp.cloud.state import SEEN_FILE
from secfp.governance import read_log

pytestmark = requires_registry

_NOW = datetime.now(timezone.utc)


# Certificates -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Authority:
    """A CA: its certificate (also written to ``pem``, the file given as --ca-file) and its signing key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    pem: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "secfp test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def make_ca(folder: Path, common_name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - timedelta(days=1)).not_valid_after(_NOW + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    return Authority(cert, key, _write_pem(folder / f"{common_name}.pem", cert))


def _server_builder(subject: str, key: ec.EllipticCurvePrivateKey, *, dns: tuple[str, ...],
                    ips: tuple[str, ...]) -> x509.CertificateBuilder:
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return (x509.CertificateBuilder().subject_name(_name(subject)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - timedelta(days=1)).not_valid_after(_NOW + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))


def issue_server_cert(folder: Path, ca: Authority, name: str, *, dns: tuple[str, ...],
                      ips: tuple[str, ...] = ()) -> ServerTLS:
    """A server certificate from ``ca`` for exactly the names given (SubjectAltName); the PEM holds leaf then CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_server_builder(name, key, dns=dns, ips=ips).issuer_name(ca.cert.subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    chain = folder / f"{name}.chain.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca.cert.public_bytes(serialization.Encoding.PEM))
    return ServerTLS(certificate=chain, key=_write_key(folder / f"{name}.key", key))


def self_signed_server_cert(folder: Path, name: str) -> ServerTLS:
    """A server certificate signed by its own key (the kind ``openssl req -x509`` makes) for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_server_builder(name, key, dns=("localhost",), ips=("127.0.0.1",)).issuer_name(_name(name))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return ServerTLS(certificate=_write_pem(folder / f"{name}.pem", cert), key=_write_key(folder / f"{name}.key", key))


@dataclass(frozen=True)
class PKI:
    consortium: Authority  # the private CA the consortium's registry certificate comes from
    unrelated: Authority  # a CA that issued nothing to this registry
    good: ServerTLS  # consortium CA, SAN 127.0.0.1 and localhost
    wrong_host: ServerTLS  # consortium CA, SAN registry.example only
    self_signed: ServerTLS  # its own issuer, SAN 127.0.0.1 and localhost
    impostor_token: ServerTLS  # unrelated CA, SAN 127.0.0.1: a token service we must not trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    folder = tmp_path_factory.mktemp("pki")
    consortium, unrelated = make_ca(folder, "consortium-ca"), make_ca(folder, "unrelated-ca")
    return PKI(consortium=consortium, unrelated=unrelated,
               good=issue_server_cert(folder, consortium, "registry", dns=("localhost",), ips=("127.0.0.1",)),
               wrong_host=issue_server_cert(folder, consortium, "other-host", dns=("registry.example",)),
               self_signed=self_signed_server_cert(folder, "self-signed"),
               impostor_token=issue_server_cert(folder, unrelated, "impostor-token", dns=(), ips=("127.0.0.1",)))


@pytest.fixture
def start_tls(tmp_path: Path) -> Callable[..., RunningRegistry]:
    """Start real registries serving HTTPS with a given certificate (and auth section); stopped after the test."""
    started: list[RunningRegistry] = []

    def start(tls: ServerTLS, *, auth: str | None = None) -> RunningRegistry:
        running = start_registry(tmp_path / f"registry-tls-{len(started)}", PASSWORDS, tls=tls, auth=auth)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def tls_registry(start_tls, pki) -> RunningRegistry:
    return start_tls(pki.good)


# The command line, over TLS -----------------------------------------------------------------------------------
def publish(cloud, registry: RunningRegistry, user: str, repository: str, *paths: Path, transport: tuple = (),
            extra: tuple = ()):
    """``secfp publish`` without --plain-http (the cloud fixture's helper always adds it)."""
    return cloud.run("publish", *paths, registry.ref(repository), "--username", user,
                     "--audit-log", cloud.tmp / f"{user}-audit.jsonl", *transport, *extra,
                     env={"SECFP_REGISTRY_PASSWORD": PASSWORDS[user]})


def sync(cloud, registry: RunningRegistry, namespace: str, *extra: Any, host: str | None = None):
    """``secfp pool sync`` as bob, with his registry password, without --plain-http."""
    reference = f"oci://{host or registry.host}:{registry.port}/{namespace}"
    return cloud.run("pool", "sync", reference, "--pool", cloud.pool, "--key", cloud.key, "--trust", cloud.trust,
                     "--audit-log", cloud.audit, "--username", "bob", *extra,
                     env={"SECFP_REGISTRY_PASSWORD": PASSWORDS["bob"]})


def publish_two_institutions(cloud, registry: RunningRegistry, ca: Path) -> None:
    ct = cloud.bundle("chest-ct", issuer="alice", fp="ct")
    mr = cloud.bundle("brain-mr", issuer="carol", fp="mr", public=True, modality="MR")
    for user, bundle in (("alice", ct), ("carol", mr)):
        result = publish(cloud, registry, user, f"consortium/{user}", bundle, transport=("--ca-file", ca))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("published ")


def assert_refused_cleanly(result, *, exit_code: int, says: str) -> dict[str, Any]:
    """One line on stderr saying ``says``, the documented exit code, no traceback; returns the --json error document."""
    assert result.exit_code == exit_code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert says in lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    doc = json.loads(result.stdout)
    assert set(doc) == {"error"}
    assert doc["error"]["code"] == exit_code and says in doc["error"]["message"]
    return doc["error"]


TLS_REFUSED = "TLS verification failed"


def assert_sync_refused(cloud, result) -> None:
    """Refused as a transport failure (exit 3): nothing pooled, nothing remembered, the failure audited."""
    error = assert_refused_cleanly(result, exit_code=3, says=TLS_REFUSED)
    assert error["kind"] == "registry_error"
    assert cloud.pooled() == []
    assert cloud.audit_events("pool-add") == [] and not (cloud.pool / SEEN_FILE).exists()
    assert [e.outcome for e in cloud.audit_events("pool-sync")] == ["failed"]
    assert TLS_REFUSED in cloud.audit_events("pool-sync")[0].reasons[0]


# Tests ---------------------------------------------------------------------------------------------------------
def test_two_institutions_publish_and_a_third_syncs_over_tls_with_the_consortium_ca(cloud, tls_registry, pki):
    publish_two_institutions(cloud, tls_registry, pki.consortium.pem)
    result = sync(cloud, tls_registry, "consortium", "--ca-file", pki.consortium.pem, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["counts"] == {"added": 2, "present": 0, "seen": 0, "refused": 0}
    assert len(cloud.pooled()) == 2
    adds = cloud.audit_events("pool-add")
    assert [e.outcome for e in adds] == ["ok", "ok"]
    assert all(e.details["file"].startswith(f"oci://{tls_registry.registry}/consortium/") for e in adds)
    # The same registry dialled by its DNS name (the certificate's DNS SubjectAltName) over TLS: nothing new.
    again = sync(cloud, tls_registry, "consortium", "--ca-file", pki.consortium.pem, "--json", host="localhost")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["counts"] == {"added": 0, "present": 0, "seen": 2, "refused": 0}


def test_mitm_with_a_certificate_from_a_private_ca_is_refused_by_the_default_trust_store(cloud, tls_registry, pki):
    # Without --ca-file only the default trust store counts; a private CA (or an interceptor's) is not in it.
    publish_two_institutions(cloud, tls_registry, pki.consortium.pem)
    assert_sync_refused(cloud, sync(cloud, tls_registry, "consortium", "--json"))
    # Publishing is refused the same way, and the failed push is audited.
    ct = cloud.bundle("chest-ct-2", issuer="alice", fp="ct")
    log = cloud.tmp / "alice-audit.jsonl"
    before = len(read_log(log))
    result = publish(cloud, tls_registry, "alice", "consortium/alice", ct, extra=("--json",))
    assert_refused_cleanly(result, exit_code=3, says=TLS_REFUSED)
    assert [(r.event.event, r.event.outcome) for r in read_log(log)[before:]] == [("publish", "failed")]


def test_mitm_with_a_certificate_from_an_unrelated_ca_is_refused(cloud, tls_registry, pki):
    # --ca-file names the consortium's CA only: a certificate from any other CA is refused.
    publish_two_institutions(cloud, tls_registry, pki.consortium.pem)
    assert_sync_refused(cloud, sync(cloud, tls_registry, "consortium", "--ca-file", pki.unrelated.pem, "--json"))


def test_mitm_with_a_valid_certificate_for_another_host_is_refused(cloud, start_tls, pki):
    # The consortium CA signed this certificate, but for registry.example: dialling 127.0.0.1 or localhost must fail.
    registry = start_tls(pki.wrong_host)
    assert_sync_refused(cloud, sync(cloud, registry, "consortium", "--ca-file", pki.consortium.pem, "--json"))
    result = sync(cloud, registry, "consortium", "--ca-file", pki.consortium.pem, "--json", host="localhost")
    assert_refused_cleanly(result, exit_code=3, says=TLS_REFUSED)
    assert cloud.pooled() == []


def test_self_signed_server_certificate_is_trusted_only_as_its_own_ca_file(cloud, start_tls, pki):
    registry = start_tls(pki.self_signed)
    ct = cloud.bundle("chest-ct", issuer="alice", fp="ct")
    # A self-signed certificate is accepted by nothing but itself: not by the default store, not by another CA.
    for transport in ((), ("--ca-file", pki.consortium.pem)):
        refused = publish(cloud, registry, "alice", "consortium/alice", ct, transport=transport, extra=("--json",))
        assert_refused_cleanly(refused, exit_code=3, says=TLS_REFUSED)
    assert_sync_refused(cloud, sync(cloud, registry, "consortium", "--json"))
    # Pinned as its own CA file, it works both ways.
    ok = publish(cloud, registry, "alice", "consortium/alice", ct, transport=("--ca-file", pki.self_signed.certificate))
    assert ok.exit_code == 0, ok.output
    result = sync(cloud, registry, "consortium", "--ca-file", pki.self_signed.certificate, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["added"] == 1 and len(cloud.pooled()) == 1


def test_downgrade_to_plain_http_against_a_tls_registry_fails_cleanly(cloud, tls_registry, pki):
    publish_two_institutions(cloud, tls_registry, pki.consortium.pem)
    result = sync(cloud, tls_registry, "consortium", "--plain-http", "--json")
    error = assert_refused_cleanly(result, exit_code=3, says=f"registry {tls_registry.registry}")
    assert error["kind"] == "registry_error"
    assert cloud.pooled() == []
    assert [e.outcome for e in cloud.audit_events("pool-sync")] == ["failed"]
    ct = cloud.bundle("chest-ct-2", issuer="alice", fp="ct")
    pushed = publish(cloud, tls_registry, "alice", "consortium/alice", ct, transport=("--plain-http",),
                     extra=("--json",))
    assert_refused_cleanly(pushed, exit_code=3, says=f"registry {tls_registry.registry}")


def test_ca_file_together_with_plain_http_is_a_usage_error(cloud, tls_registry, pki):
    # Asking for certificate checks and for no TLS at once is a contradiction, not a silent downgrade.
    result = sync(cloud, tls_registry, "consortium", "--ca-file", pki.consortium.pem, "--plain-http", "--json")
    error = assert_refused_cleanly(result, exit_code=2, says="--ca-file and --plain-http do not go together")
    assert error["kind"] == "usage_error"
    assert cloud.pooled() == [] and cloud.audit_events() == []
    ct = cloud.bundle("chest-ct", issuer="alice", fp="ct")
    pushed = publish(cloud, tls_registry, "alice", "consortium/alice", ct,
                     transport=("--ca-file", pki.consortium.pem, "--plain-http"), extra=("--json",))
    assert_refused_cleanly(pushed, exit_code=2, says="--ca-file and --plain-http do not go together")
    assert not (tls_registry.root / "docker/registry/v2/repositories/consortium").exists()


# Bearer tokens: the registry sends clients to a token service, which must pass the same certificate checks --------
@pytest.fixture
def start_token_registry(start_tls, tmp_path: Path, pki):
    """A TLS registry (consortium CA) with Distribution's token auth, its token service serving ``token_tls``."""
    services: list[TokenServer] = []

    def start(token_tls: ServerTLS) -> tuple[RunningRegistry, TokenServer]:
        service = TokenServer(tmp_path / f"token-{len(services)}", PASSWORDS, certificate=token_tls.certificate,
                              key=token_tls.key)
        services.append(service)
        auth = TOKEN_AUTH.format(realm=service.realm, service=SERVICE, issuer=ISSUER,
                                 rootcertbundle=service.root_bundle)
        return start_tls(pki.good, auth=auth), service

    yield start
    for service in services:
        service.stop()


def test_bearer_token_requests_go_over_tls_checked_against_the_ca_file(cloud, start_token_registry, pki):
    # The token service (another port, another server) has a consortium-CA certificate too: it is trusted
    # through --ca-file alone, exactly as the registry is.
    registry, service = start_token_registry(pki.good)
    publish_two_institutions(cloud, registry, pki.consortium.pem)
    result = sync(cloud, registry, "consortium", "--ca-file", pki.consortium.pem, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"] == {"added": 2, "present": 0, "seen": 0, "refused": 0}
    assert len(cloud.pooled()) == 2
    assert service.requests >= 3  # both pushes and the sync were authorised by bearer tokens


def test_impostor_token_service_gets_no_password(cloud, start_token_registry, pki):
    # The registry's realm points at a token service whose certificate comes from a CA we never chose (a
    # man in the middle on the way to the token service): the handshake fails before bob's password is sent.
    registry, service = start_token_registry(pki.impostor_token)
    result = sync(cloud, registry, "consortium", "--ca-file", pki.consortium.pem, "--json")
    error = assert_refused_cleanly(result, exit_code=3, says="TLS verification of the token service failed")
    assert error["kind"] == "registry_error"
    assert service.requests == 0
    assert cloud.pooled() == []
    assert [e.outcome for e in cloud.audit_events("pool-sync")] == ["failed"]


def test_ca_file_without_a_certificate_is_a_usage_error_not_a_tls_failure(cloud, tls_registry, pki):
    # A private key or a truncated file given as --ca-file would otherwise read as "TLS verification failed".
    empty = cloud.tmp / "empty.pem"
    empty.write_bytes(b"")
    for wrong in (pki.good.key, empty):
        result = sync(cloud, tls_registry, "consortium", "--ca-file", wrong, "--json")
        assert_refused_cleanly(result, exit_code=2, says=f"CA file {wrong} holds no PEM certificate")
    assert cloud.audit_events() == []
