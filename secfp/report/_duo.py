"""Data-use (GA4GH DUO) codes in words, for every renderer."""

from __future__ import annotations

from secfp.governance.duo import MODIFIERS, PERMISSIONS

__all__ = ["DUO_LABELS", "duo_label", "duo_id"]

DUO_LABELS = {
    "NRES": "no restriction", "GRU": "general research use", "HMB": "health, medical or biomedical research",
    "DS": "disease-specific research", "POA": "population origins or ancestry research only",
    "NPOA": "no population origins or ancestry research", "NMDS": "no general methods research",
    "GSO": "genetic studies only", "NCU": "non-commercial use only", "NPU": "not-for-profit organisations only",
    "NPUNCU": "not-for-profit, non-commercial use only", "IRB": "ethics approval required",
    "CC": "clinical care use allowed", "PUB": "publication required", "COL": "collaboration required",
    "RTN": "return derived data to the source", "MOR": "publication moratorium", "TS": "time limit on use",
    "US": "user-specific restriction", "PS": "project-specific restriction", "IS": "institution-specific restriction",
    "GS": "geographic restriction", "RS": "research-specific restriction",
}


def duo_label(code: str) -> str:
    """``HMB`` -> ``health, medical or biomedical research``; an unknown code says so."""
    return DUO_LABELS.get(code.partition(":")[0], "code not known to secfp")


def duo_id(code: str) -> str | None:
    base = code.partition(":")[0]
    return PERMISSIONS.get(base) or MODIFIERS.get(base)
