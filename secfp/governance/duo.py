"""GA4GH Data Use Ontology (DUO) terms and a small, documented compatibility check.

DUO (https://github.com/EBISPOT/DUO, ``duo.csv``) tags a dataset with exactly one
*permission* (what kind of use is allowed) and any number of *modifiers* (extra
conditions), following the consent codes of Dyke et al. 2016 (PLoS Genet 12(3):
e1005772). secfp writes the codes by their shorthand: ``HMB``, ``NCU``, ``IRB``. A
disease-specific permission carries its disease term after a colon (``DS:MONDO:0004992``);
the modifiers that name a region, project or date may carry one too (``GS:EU``).

The check below is deliberately small. It compares the codes a bundle declares with a
:class:`Purpose` that the import policy states about *our* use, and returns one reason
for every code we cannot honour. It does not reason over an ontology (``DS:cancer`` does
not cover ``DS:lung cancer``: terms must match exactly) and it cannot verify that we keep
promises such as publishing results; those obligations are accepted only when the policy
lists them in ``accept_obligations``. Unknown codes are never compatible (deny by default).

Rules (bundle code -> what our purpose must satisfy):

=========  ===========  ==========================================================
code       DUO id       our purpose must ...
=========  ===========  ==========================================================
NRES       DUO:0000004  (nothing: no restriction)
GRU        DUO:0000042  be research of any area (clinical care needs CC as well)
HMB        DUO:0000006  be biomedical or disease research (not ancestry research)
DS:<term>  DUO:0000007  be disease research on exactly that term
POA        DUO:0000011  be population origins or ancestry research
NPOA       DUO:0000044  not be ancestry research
NMDS       DUO:0000015  not be methods development (matching tasks for transfer
                        learning *is* methods development: see Purpose)
GSO        DUO:0000016  be genetic studies
NCU        DUO:0000046  not be commercial use
NPU        DUO:0000045  not be done by a for-profit organisation
NPUNCU     DUO:0000018  neither commercial use nor a for-profit organisation
IRB        DUO:0000021  have ethics (IRB/ERB) approval
CC         DUO:0000043  (widens the permission to clinical care)
PUB COL    19, 20       be listed in accept_obligations (publication required,
RTN MOR    29, 24       collaboration, return derived data, publication moratorium,
TS US PS   25, 26, 27   time limit, user, project, institution, geography or research
IS GS RS   28, 22, 12   type restrictions: promises a machine cannot check)
=========  ===========  ==========================================================

Our purpose needs clinical care permission (``clinical_care = true``) only from ``NRES``
or from a permission combined with ``CC``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "PERMISSIONS",
    "MODIFIERS",
    "OBLIGATIONS",
    "RESEARCH_AREAS",
    "Purpose",
    "code_problems",
    "incompatibilities",
]

PERMISSIONS: dict[str, str] = {
    "NRES": "DUO:0000004",
    "GRU": "DUO:0000042",
    "HMB": "DUO:0000006",
    "DS": "DUO:0000007",
    "POA": "DUO:0000011",
}

MODIFIERS: dict[str, str] = {
    "NPOA": "DUO:0000044",
    "NMDS": "DUO:0000015",
    "GSO": "DUO:0000016",
    "NCU": "DUO:0000046",
    "NPU": "DUO:0000045",
    "NPUNCU": "DUO:0000018",
    "IRB": "DUO:0000021",
    "CC": "DUO:0000043",
    "PUB": "DUO:0000019",
    "COL": "DUO:0000020",
    "RTN": "DUO:0000029",
    "MOR": "DUO:0000024",
    "TS": "DUO:0000025",
    "US": "DUO:0000026",
    "PS": "DUO:0000027",
    "IS": "DUO:0000028",
    "GS": "DUO:0000022",
    "RS": "DUO:0000012",
}

#: Modifiers that are promises or restrictions outside what a machine can check.
OBLIGATIONS: frozenset[str] = frozenset({"PUB", "COL", "RTN", "MOR", "TS", "US", "PS", "IS", "GS", "RS"})

#: Codes that may carry a qualifier after a colon; DS must.
_QUALIFIED: frozenset[str] = frozenset({"DS"}) | OBLIGATIONS

#: What our research is about, as the import policy states it.
RESEARCH_AREAS: tuple[str, ...] = ("biomedical", "disease", "general", "ancestry")


def _split(code: str) -> tuple[str, str]:
    base, _, qualifier = code.partition(":")
    return base, qualifier


def code_problems(codes: Iterable[str]) -> tuple[str, ...]:
    """Why a list of codes is not a well-formed DUO tag set (empty tuple when it is).

    Well formed: every code known, no duplicate, exactly one permission, a disease
    term on ``DS`` and a qualifier only where DUO defines one.
    """
    codes = tuple(codes)
    problems: list[str] = []
    seen: set[str] = set()
    permissions = 0
    for code in codes:
        if not isinstance(code, str):
            problems.append(f"data-use code {code!r} is not a string")
            continue
        base, qualifier = _split(code)
        if code in seen:
            problems.append(f"data-use code {code} is listed twice")
        seen.add(code)
        if base not in PERMISSIONS and base not in MODIFIERS:
            problems.append(f"unknown data-use code {code!r} (not a GA4GH DUO shorthand secfp knows)")
            continue
        if base in PERMISSIONS:
            permissions += 1
        if base == "DS" and not qualifier:
            problems.append("data-use code DS needs its disease term, for example DS:MONDO:0004992")
        elif qualifier and base not in _QUALIFIED:
            problems.append(f"data-use code {base} takes no qualifier, got {code!r}")
    if permissions != 1:
        problems.append(
            f"exactly one data-use permission ({', '.join(PERMISSIONS)}) is required, got {permissions}"
        )
    return tuple(problems)


@dataclass(frozen=True)
class Purpose:
    """What we, the importing institution, will do with received fingerprints.

    ``methods_development`` defaults to true in the shipped import policy: choosing a
    source task for transfer learning is methods research in DUO's sense (NMDS).
    """

    research_area: str
    diseases: tuple[str, ...] = ()
    methods_development: bool = True
    commercial: bool = False
    for_profit_organisation: bool = False
    ethics_approval: bool = False
    clinical_care: bool = False
    genetic_studies: bool = False
    accept_obligations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.research_area not in RESEARCH_AREAS:
            raise ValueError(f"research_area must be one of {', '.join(RESEARCH_AREAS)}")
        if (self.research_area == "disease") != bool(self.diseases):
            raise ValueError("diseases are required for, and only for, research_area = 'disease'")
        unknown = set(self.accept_obligations) - OBLIGATIONS
        if unknown:
            raise ValueError(f"not an obligation code: {', '.join(sorted(unknown))}")

    def to_json(self) -> dict:
        return {
            "research_area": self.research_area,
            "diseases": list(self.diseases),
            "methods_development": self.methods_development,
            "commercial": self.commercial,
            "for_profit_organisation": self.for_profit_organisation,
            "ethics_approval": self.ethics_approval,
            "clinical_care": self.clinical_care,
            "genetic_studies": self.genetic_studies,
            "accept_obligations": list(self.accept_obligations),
        }


def _permission_reason(base: str, qualifier: str, purpose: Purpose) -> str | None:
    area = purpose.research_area
    if base == "HMB" and area not in ("biomedical", "disease"):
        return f"HMB allows only health/medical/biomedical research, our purpose is {area} research"
    if base == "DS":
        if area != "disease":
            return f"DS:{qualifier} allows only research on that disease, our purpose is {area} research"
        if qualifier not in purpose.diseases:
            return f"DS:{qualifier} allows only research on {qualifier}, we research {', '.join(purpose.diseases)}"
    if base == "POA" and area != "ancestry":
        return f"POA allows only population origins or ancestry research, our purpose is {area} research"
    return None


def _modifier_reason(base: str, code: str, purpose: Purpose) -> str | None:
    if base == "NPOA" and purpose.research_area == "ancestry":
        return "NPOA forbids population origins or ancestry research, which is our purpose"
    if base == "NMDS" and purpose.methods_development:
        return "NMDS forbids methods development, and our purpose includes it"
    if base == "GSO" and not purpose.genetic_studies:
        return "GSO allows only genetic studies, our purpose is not one"
    if base in ("NCU", "NPUNCU") and purpose.commercial:
        return f"{base} forbids commercial use, and our purpose is commercial"
    if base in ("NPU", "NPUNCU") and purpose.for_profit_organisation:
        return f"{base} allows only not-for-profit organisations, and we are for-profit"
    if base == "IRB" and not purpose.ethics_approval:
        return "IRB requires ethics approval, and our purpose does not declare it"
    if base in OBLIGATIONS and base not in purpose.accept_obligations:
        return f"{code} is an obligation our policy does not accept (import.purpose.accept_obligations)"
    return None


def incompatibilities(codes: Iterable[str], purpose: Purpose) -> tuple[str, ...]:
    """Every reason why data tagged ``codes`` may not be used for ``purpose``.

    An empty result means compatible. Malformed tag sets (see :func:`code_problems`)
    are incompatible, with those problems as the reasons: an unknown code is a
    restriction we cannot honour.
    """
    codes = tuple(codes)
    if not codes:
        return ("the bundle declares no data-use terms",)
    problems = code_problems(codes)
    if problems:
        return problems
    reasons: list[str] = []
    bases = {_split(code)[0] for code in codes}
    for code in codes:
        base, qualifier = _split(code)
        reason = (
            _permission_reason(base, qualifier, purpose)
            if base in PERMISSIONS
            else _modifier_reason(base, code, purpose)
        )
        if reason:
            reasons.append(reason)
    if purpose.clinical_care and "NRES" not in bases and "CC" not in bases:
        reasons.append("our purpose includes clinical care, which needs NRES or the CC modifier")
    return tuple(reasons)
