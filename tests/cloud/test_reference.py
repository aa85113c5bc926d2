"""Registry references and connection rules: what may reach a URL, and when plain HTTP is allowed."""

from __future__ import annotations

import pytest

from secfp.cloud import Connection, Credentials, parse_reference
from secfp.errors import UsageError


@pytest.mark.parametrize(("text", "host", "port", "path", "tag"), [
    ("oci://registry.example.org/consortium", "registry.example.org", None, "consortium", None),
    ("oci://Registry.Example.org:5000/consortium/alice:v1", "registry.example.org", 5000, "consortium/alice", "v1"),
    ("oci://127.0.0.1:5000/a/b/c", "127.0.0.1", 5000, "a/b/c", None),
    ("oci://[::1]:5000/ns/name:0123abcd", "::1", 5000, "ns/name", "0123abcd"),
])
def test_reference_parses(text, host, port, path, tag):
    ref = parse_reference(text)
    assert (ref.host, ref.port, ref.path, ref.tag) == (host, port, path, tag)
    assert parse_reference(str(ref)) == ref


@pytest.mark.parametrize("text", [
    "https://registry.example.org/ns",            # not oci://
    "oci://registry.example.org",                 # no namespace
    "oci://user:pw@registry.example.org/ns",      # credentials in the reference
    "oci://registry.example.org/ns?x=1",          # query
    "oci://registry.example.org/ns/../etc",       # path traversal
    "oci://registry.example.org/NS",              # upper case repository
    "oci://registry.example.org/ns@sha256:00",    # digest references are not taken
    "oci://registry.example.org:99999/ns",        # port out of range
    "oci://registry.example.org/ns:bad/tag",      # a tag cannot hold a slash
    "oci://reg istry/ns",                         # space
    "oci://registry.example.org/ns\n",            # control character
])
def test_malformed_reference_is_a_usage_error(text):
    with pytest.raises(UsageError):
        parse_reference(text)


@pytest.mark.parametrize("host", ["registry.example.org", "10.0.0.5", "192.168.1.10"])
def test_plain_http_to_a_non_loopback_registry_is_refused(host):
    # Downgrade: a password and bundles in clear over the network.
    with pytest.raises(UsageError, match="loopback"):
        Connection(parse_reference(f"oci://{host}:5000/ns"), plain_http=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.8.9.10"])
def test_plain_http_to_loopback_is_allowed(host):
    assert Connection(parse_reference(f"oci://{host}:5000/ns"), plain_http=True).scheme == "http"


def test_tls_is_the_default_and_a_missing_ca_file_is_a_usage_error(tmp_path):
    ref = parse_reference("oci://registry.example.org/ns")
    assert Connection(ref).scheme == "https"
    with pytest.raises(UsageError, match="does not exist"):
        Connection(ref, ca_file=tmp_path / "missing.pem")


def test_credentials_never_show_the_password():
    assert "s3cret" not in repr(Credentials("bob", "s3cret"))
    with pytest.raises(UsageError):
        Credentials("bob", "")


def test_plain_http_flag_refused_on_the_command_line_for_a_remote_registry(tmp_path):
    from typer.testing import CliRunner

    from secfp.cli import app

    bundle = tmp_path / "x.bundle"
    bundle.write_bytes(b"{}\n")
    result = CliRunner().invoke(app, ["publish", str(bundle), "oci://registry.example.org/ns/x", "--plain-http"])
    assert result.exit_code == 2 and "loopback" in result.stderr
