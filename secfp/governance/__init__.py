"""secfp.governance: sharing policies as data, their pure evaluation, and the audit trail.

Typical use by the command line::

    policy = load_policy(path, now=now)                      # InvalidPolicy (exit 3)
    card = filter_card(task_card, policy.export.card)        # what may leave
    verdict = evaluate_export(policy, ExportRequest(...))    # pure, every reason
    append_event(resolve_audit_log(flag, policy.audit_log), AuditEvent(...), now=now)
    verdict.raise_if_refused()                               # PolicyViolation (exit 5)

Refusals are logged too: append the event (outcome "refused", with the verdict's
reasons) before raising.
"""

from secfp.governance.audit import (
    GENESIS,
    AuditEvent,
    AuditRecord,
    AuditSummary,
    append_event,
    default_actor,
    default_audit_log,
    read_log,
    record_hash,
    resolve_audit_log,
    verify_chain,
    verify_log,
)
from secfp.governance.card import CardRules, FilteredCard, card_field_paths, filter_card
from secfp.governance.duo import Purpose, code_problems, incompatibilities
from secfp.governance.facts import ExportRequest, ImportFacts, Party, Verdict
from secfp.governance.policy import ExportRules, ImportRules, IssuerRule, Policy, load_policy, parse_policy
from secfp.governance.rules import AllOf, compile_export, compile_import, evaluate_export, evaluate_import

__all__ = [
    "AllOf",
    "AuditEvent",
    "AuditRecord",
    "AuditSummary",
    "CardRules",
    "ExportRequest",
    "ExportRules",
    "FilteredCard",
    "GENESIS",
    "ImportFacts",
    "ImportRules",
    "IssuerRule",
    "Party",
    "Policy",
    "Purpose",
    "Verdict",
    "append_event",
    "card_field_paths",
    "code_problems",
    "compile_export",
    "compile_import",
    "default_actor",
    "default_audit_log",
    "evaluate_export",
    "evaluate_import",
    "filter_card",
    "incompatibilities",
    "load_policy",
    "parse_policy",
    "read_log",
    "record_hash",
    "resolve_audit_log",
    "verify_chain",
    "verify_log",
]
