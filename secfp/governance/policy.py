"""Sharing policies as data: TOML files read strictly into frozen values.

A policy file has a ``[policy]`` header and at least one of ``[export]`` and
``[import]`` (see ``policies/*.toml`` for commented examples and
:mod:`secfp.governance.rules` for what each key enforces). Reading is strict: the
standard library's ``tomllib`` (TOML 1.0, which forbids duplicate keys and tables),
then every table is read key by key; unknown keys, wrong types, missing required keys,
contradictions and a policy outside its validity window all raise
:class:`secfp.errors.InvalidPolicy` (exit 3) naming the file and the key.

**Digest.** ``Policy.digest`` is the lower-case hex SHA-256 of the file bytes, the exact
bytes on disk, comments included. We chose the bytes over a canonical form because the
comments are part of what a data-protection officer signed off, because anyone can
recompute the digest with ``sha256sum``, and because no canonicaliser then has to be
trusted. The cost: re-indenting a file changes its digest (and so does any edit).

**Validity.** ``valid_from`` <= now < ``valid_until``. A TOML date means 00:00 UTC of
that day; a date-time needs an offset. The clock is a parameter (``now``).

What this module does not check: that key ids belong to real identity cards, or that
spec ids exist. Those are facts of the trust store and the spec registry.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from secfp._io import format_utc, read_capped
from secfp.errors import BadInput, InvalidPolicy
from secfp.governance._schema import Table, fail
from secfp.governance._sections import ExportRules, ImportRules, IssuerRule, read_export, read_import

__all__ = [
    "POLICY_FILE_CAP",
    "ExportRules",
    "IssuerRule",
    "ImportRules",
    "Policy",
    "parse_policy",
    "load_policy",
]

#: Policies are short text; anything larger is refused before it is read.
POLICY_FILE_CAP = 1 << 20

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


def _iso(value: _dt.datetime) -> str:
    return format_utc(value, precise=True)


@dataclass(frozen=True, kw_only=True)
class Policy:
    """A parsed policy. Build it with :func:`load_policy` or :func:`parse_policy` only."""

    id: str
    version: int
    description: str
    valid_from: _dt.datetime
    valid_until: _dt.datetime
    digest: str
    source: str
    audit_log: Path | None
    export: ExportRules | None
    import_: ImportRules | None

    def to_json(self) -> dict:
        return {
            "v": 1,
            "id": self.id,
            "version": self.version,
            "description": self.description,
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "digest": self.digest,
            "source": self.source,
            "audit_log": None if self.audit_log is None else str(self.audit_log),
            "export": None if self.export is None else self.export.to_json(),
            "import": None if self.import_ is None else self.import_.to_json(),
        }


def _duplicate_key_hint(text: str, exc: tomllib.TOMLDecodeError) -> str:
    # tomllib reports "Cannot overwrite a value (at line 7, column 12)" without the key.
    match = re.search(r"at line (\d+)", str(exc))
    if "overwrite" not in str(exc) or not match:
        return ""
    lines = text.splitlines()
    number = int(match.group(1))
    if not 1 <= number <= len(lines):
        return ""
    key = re.match(r"\s*([^=\[\]]+?)\s*=", lines[number - 1])
    return f" (duplicate key {key.group(1)!r})" if key else " (duplicate key)"


def parse_policy(
    data: bytes, *, source: str, now: _dt.datetime, base_dir: Path | None = None
) -> Policy:
    """Parse and validate policy bytes; ``source`` names the file in every error.

    ``base_dir`` resolves a relative ``[policy] audit_log`` (the policy file's folder,
    so the setting means the same from any working directory).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(source, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(source, "", f"not valid TOML: {exc}{_duplicate_key_hint(text, exc)}") from None
    root = Table(document, source=source, prefix="")
    header = root.table("policy")
    policy_id = header.string("id")
    if not _ID.match(policy_id):
        raise fail(source, "policy.id", "use letters, digits, '.', '_' and '-' (at most 128)")
    version = header.integer("version", minimum=1)
    description = header.string("description", required=False) or ""
    valid_from = header.instant("valid_from")
    valid_until = header.instant("valid_until")
    if valid_until <= valid_from:
        raise fail(source, "policy.valid_until", "must be after valid_from")
    audit_log = header.string("audit_log", required=False)
    header.finish()
    export_table = root.table("export", required=False)
    import_table = root.table("import", required=False)
    root.finish()
    if export_table is None and import_table is None:
        raise fail(source, "", "a policy needs an [export] or an [import] table (an empty policy allows nothing)")
    if now < valid_from:
        raise fail(source, "policy.valid_from", f"policy is not valid yet (from {_iso(valid_from)})")
    if now >= valid_until:
        raise fail(source, "policy.valid_until", f"policy expired at {_iso(valid_until)}")
    log_path = None
    if audit_log is not None:
        log_path = Path(os.path.expanduser(audit_log))
        if not log_path.is_absolute() and base_dir is not None:
            log_path = base_dir / log_path
    return Policy(
        id=policy_id,
        version=version,
        description=description,
        valid_from=valid_from,
        valid_until=valid_until,
        digest=hashlib.sha256(data).hexdigest(),
        source=source,
        audit_log=log_path,
        export=None if export_table is None else read_export(export_table),
        import_=None if import_table is None else read_import(import_table),
    )


def load_policy(path: str | os.PathLike[str], *, now: _dt.datetime) -> Policy:
    """Read, parse and validate the policy file at ``path`` as of ``now``.

    Raises :class:`InvalidPolicy` (exit 3) for an unreadable, malformed, expired or
    not-yet-valid policy; the message names the file and the key.
    """
    p = Path(path)
    try:
        data = read_capped(p, cap=POLICY_FILE_CAP, what="policy")
    except BadInput as exc:
        raise InvalidPolicy(str(exc)) from None
    return parse_policy(data, source=str(p), now=now, base_dir=p.parent)
