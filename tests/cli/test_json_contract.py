"""The machine contract: with --json, every failure is one JSON document whose error.code is the exit code.

A pipeline reads stdout as JSON and branches on the exit code; both must agree,
for every command and every kind of failure (usage 2, bad input 3, verification 4,
policy 5, incompatible fingerprints 6). The table below covers every command that
has --json; a new command without a case here fails
``test_every_json_command_has_a_failing_case``.
"""

from __future__ import annotations

import json

import pytest
from typer.main import get_command

from secfp.cli import app
from secfp.fingerprint.histogram import save_fingerprint

from cli_site import OTHER_SPEC_ID, make_fingerprint

HEADER = '[policy]\nid = "{id}"\nversion = 1\nvalid_from = 2025-01-01\nvalid_until = 2099-01-01\n'
IMPORT_DP_ONLY = """
[import]
allow_any_issuer = true
dp_required = true
max_epsilon = 8.0
max_age_days = 365
spec_ids = ["any"]

[import.purpose]
research_area = "biomedical"
methods_development = true
commercial = false
for_profit_organisation = false
ethics_approval = true
accept_obligations = []
"""
BAD_POLICY = HEADER.format(id="typo") + "bogus = 1\n"


def _garbage(site):
    path = site.root / "garbage.bin"
    path.write_bytes(b"\x00\x01 not anything secfp knows")
    return path


def _other_spec_fp(site):
    path = site.root / "other.fp"
    save_fingerprint(make_fingerprint(spec_id=OTHER_SPEC_ID), path)
    return path


def _truncated_bundle(site):
    path = site.root / "truncated.bundle"
    path.write_bytes(site.bundle.read_bytes()[:100])
    return path


def _bad_policy(site):
    path = site.root / "policy.toml"
    path.write_text(BAD_POLICY)
    return path


def _broken_log(site):
    path = site.root / "audit.jsonl"
    path.write_text('{"v": 1, "seq": 0}\n')
    return path


def _empty_folder(site):
    path = site.root / "empty"
    path.mkdir()
    return path


# (command path, arguments builder, expected exit code)
CASES = [
    (("fingerprint",), lambda s: ["fingerprint", _empty_folder(s), "-o", s.root / "out.fp"], 3),
    (("fingerprint",), lambda s: ["fingerprint", _empty_folder(s), "-o", s.root], 2),
    (("inspect",), lambda s: ["inspect", _garbage(s)], 3),
    (("match",), lambda s: ["match", s.fp, _other_spec_fp(s)], 6),
    (("match",), lambda s: ["match"], 2),
    (("verify",), lambda s: ["verify", _truncated_bundle(s), "--trust", s.trust, "--key", s.bob_key], 3),
    (("verify",), lambda s: ["verify", s.bundle, "--trust", s.root / "nobody", "--key", s.bob_key], 4),
    (("export",), lambda s: ["export", s.fp, "--key", s.alice_key, "--to", "nobody", "-o", s.root / "x.bundle"], 2),
    (("export",), lambda s: ["export", s.fp, "--key", s.alice_key, "--public", "-o", s.fp], 2),
    (("keygen",), lambda s: ["keygen", "bad name!", "--out", s.root / "k", "--no-passphrase"], 2),
    (("trust", "add"), lambda s: ["trust", "add", s.alice_key, "--trust", s.root / "t"], 3),
    (("trust", "list"), lambda s: ["trust", "list", "--trust", _garbage(s)], 3),
    (("policy", "check"), lambda s: ["policy", "check", _bad_policy(s)], 3),
    (("audit", "verify"), lambda s: ["audit", "verify", _broken_log(s)], 4),
    (("audit", "show"), lambda s: ["audit", "show", _broken_log(s)], 4),
    (("spec", "show"), lambda s: ["spec", "show", "no-such-spec"], 3),
    (("privacy", "explain"), lambda s: ["privacy", "explain", "--dp-epsilon", "-1"], None),
    (("privacy", "budget", "list"), lambda s: ["privacy", "budget", "list", "--policy", _bad_policy(s)], 3),
    (("privacy", "budget", "show"), lambda s: ["privacy", "budget", "show", "x", "--policy", _bad_policy(s)], 3),
    (("publish",), lambda s: ["publish", s.bundle, "not-a-registry-reference"], 2),
    (("pool", "sync"), lambda s: ["pool", "sync", "not-a-registry-reference", "--pool", s.root / "pool"], 2),
    (("pool", "add"), lambda s: ["pool", "add", _garbage(s), "--pool", s.root / "pool"], 3),
    (("pool", "add"), lambda s: ["pool", "add", s.bundle, _garbage(s), "--pool", s.root / "pool",
                                 "--trust", s.root / "nobody", "--key", s.bob_key], 4),
    (("pool", "list"), lambda s: ["pool", "list", "--pool", s.root / "no-pool"], None),
    (("pool", "show"), lambda s: ["pool", "show", "0" * 32, "--pool", s.root / "no-pool"], None),
    (("plan",), lambda s: ["plan", s.fp, "--pool", s.root / "no-pool"], None),
    (("bench", "transfer"), lambda s: ["bench", "transfer", "--data", s.root / "no-study"], None),
]


def _commands_with_json():
    found = []

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, path + (name,))
        elif any("--json" in getattr(p, "opts", ()) for p in command.params):
            found.append(path)

    walk(get_command(app), ())
    return sorted(found)


def test_every_json_command_has_a_failing_case():
    covered = {path for path, _, _ in CASES}
    missing = [" ".join(p) for p in _commands_with_json() if p not in covered]
    assert not missing, f"commands with --json but no failing case: {missing}"


@pytest.mark.parametrize("path,build,expected", CASES, ids=[" ".join(c[0]) + f"-{i}" for i, c in enumerate(CASES)])
def test_failure_prints_one_json_document_whose_code_is_the_exit_code(site, path, build, expected):
    args = [str(a) for a in build(site)] + ["--json"]
    result = site.run(*args)
    assert result.exit_code != 0, result.output
    if expected is not None:
        assert result.exit_code == expected, result.output
    doc = json.loads(result.stdout)  # exactly one document: trailing data would not parse
    assert set(doc) == {"error"}, doc
    error = doc["error"]
    assert error["code"] == result.exit_code
    assert isinstance(error["kind"], str) and error["kind"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    assert "Traceback" not in result.output


def test_pool_add_failure_is_one_error_document_with_every_outcome(site):
    # A batch: one bundle from a signer we do not trust (4), one file of garbage (3). The document is the error
    # of the most severe one (its code and kind, as `verify` of that bundle alone) and lists both outcomes.
    garbage = _garbage(site)
    pool = site.root / "pool"
    result = site.run("pool", "add", site.bundle, garbage, "--pool", pool, "--trust", site.root / "nobody",
                      "--key", site.bob_key, "--json")
    assert result.exit_code == 4, result.output
    error = json.loads(result.stdout)["error"]
    alone = json.loads(site.run("verify", site.bundle, "--trust", site.root / "nobody", "--key", site.bob_key,
                                "--json").stdout)["error"]
    assert (error["code"], error["kind"]) == (alone["code"], alone["kind"]) == (4, "untrusted_signer")
    assert error["message"].startswith("pool add: 2 of 2 bundles refused, 0 added, 0 already present; ")
    details = error["details"]
    assert details["pool"] == str(pool) and details["counts"] == {"added": 0, "present": 0, "refused": 2}
    assert [(o["file"], o["outcome"], o["exit_code"], o["kind"]) for o in details["outcomes"]] == [
        (str(site.bundle), "refused", 4, "untrusted_signer"), (str(garbage), "refused", 3, "invalid_bundle")]
    assert all(isinstance(o["reason"], str) and o["reason"] for o in details["outcomes"])
    assert result.stderr.startswith("secfp: error: pool add: 2 of 2 bundles refused")


def test_version_prints_the_version_and_exits_0(site):
    from secfp import __version__

    plain = site.run("--version")
    assert plain.exit_code == 0 and plain.stdout.strip() == f"secfp {__version__}"
    doc = site.run("--version", "--json")
    assert doc.exit_code == 0 and json.loads(doc.stdout) == {"name": "secfp", "version": __version__}


def test_usage_error_under_json_is_a_document_with_code_2(site):
    result = site.run("no-such-command", "--json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"] == {"code": 2, "kind": "usage", "message": "No such command 'no-such-command'.",
                                                  "details": {}}


def test_policy_refusal_carries_every_reason_in_details(site):
    # An import policy that wants DP and another spec: the refusal's reasons are in the document.
    policy = site.root / "deny.toml"
    policy.write_text(HEADER.format(id="dp-only") + IMPORT_DP_ONLY)
    result = site.run("verify", site.bundle, "--trust", site.trust, "--key", site.bob_key, "--policy", policy, "--json")
    assert result.exit_code == 5, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == 5 and error["kind"] == "policy_violation"
    assert error["details"]["policy_id"] == "dp-only" and len(error["details"]["reasons"]) >= 2


# Commands that read one file given by the user, with the file's place in the arguments.
READERS = [
    lambda f, s: ["verify", f, "--trust", s.trust, "--key", s.bob_key],
    lambda f, s: ["inspect", f, "--trust", s.trust],
    lambda f, s: ["match", s.fp, f],
    lambda f, s: ["trust", "add", f, "--trust", s.root / "t"],
    lambda f, s: ["policy", "check", f],
    lambda f, s: ["audit", "show", f],
    lambda f, s: ["export", f, "--key", s.alice_key, "--public", "-o", s.root / "never.bundle", "--dry-run"],
]


def test_any_bytes_in_any_reader_give_one_document_with_the_exit_code(site):
    # Property: whatever the bytes (garbage, truncated bundles, other secfp files, JSON of any shape),
    # every reader answers with one JSON document whose error.code is its exit code, never exit 1.
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = [site.bundle.read_bytes(), site.fp.read_bytes(), site.alice_key.read_bytes(), site.alice_card.read_bytes()]
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                               lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
                               max_leaves=8)
    contents = st.one_of(
        st.binary(max_size=200),
        st.tuples(st.sampled_from(seeds), st.integers(min_value=0, max_value=400)).map(lambda t: t[0][: t[1]]),
        json_values.map(lambda v: json.dumps(v).encode()),
    )

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(content=contents, reader=st.sampled_from(READERS))
    def check(content, reader):
        path = site.root / "input.any"
        path.write_bytes(content)
        result = site.run(*[str(a) for a in reader(path, site)], "--json")
        if result.exit_code == 0:
            json.loads(result.stdout)  # a success is one document too
            return
        assert result.exit_code != 1, result.output
        doc = json.loads(result.stdout)
        assert doc["error"]["code"] == result.exit_code, result.output

    check()
