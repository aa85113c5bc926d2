"""What a release declares about its privacy, and how much of a dataset's budget is spent.

:class:`PrivacyLedger` travels inside the signed statement (``secfp inspect --json``
shows it as ``privacy``). A release without DP says so explicitly with
``"mechanism": "none"``; absence is never a claim. :func:`verify_ledger` re-runs
the accountants on the declared parameters, so a receiver need not trust the
sender's arithmetic.

:class:`BudgetStore` is the data holder's local, per-dataset epsilon budget under
basic composition (epsilons and deltas add up across releases). One JSON file
per dataset, guarded by a ``filelock`` lock and replaced atomically. A release
first *reserves* its epsilon (the reservation already counts as spent), and the
reservation becomes a charge only once the release has succeeded; if the release
fails the reservation is withdrawn. A process killed between the two leaves the
reservation in place: the budget errs towards privacy and never silently regains
epsilon that may already have been released.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from secfp._io import atomic_write_bytes, canonical_json, read_capped, strict_json_loads
from secfp.errors import BadInput, BudgetExceeded, SecfpError, UsageError, VerificationError
from secfp.mechanisms import Mechanism
from secfp.privacy.accounting import (
    DELTA_MAX,
    DELTA_MIN,
    EPSILON_MAX,
    MAX_IMAGES_PER_UNIT,
    ROWS_MAX,
    AccountantRecord,
    Calibration,
    account,
)

__all__ = ["PrivacyLedger", "PRIVACY_UNITS", "verify_ledger", "BudgetCharge", "BudgetState", "BudgetStore", "MECHANISMS"]

LEDGER_VERSION = 2
MECHANISMS = tuple(m.value for m in Mechanism)
PRIVACY_UNITS = ("patient", "volume", "image")
_NUMERIC = ("sensitivity_l2", "sigma", "sample_rate", "epsilon", "delta")
_LEDGER_KEYS = {"v", "mechanism", "spec_id", "accountants", "privacy_unit", "max_images_per_unit", "not_covered", *_NUMERIC}
MAX_NOT_COVERED = 64
BUDGET_KIND = "secfp.privacy-budget"
MAX_BUDGET_BYTES = 4 * 1024 * 1024
# Sums of float epsilons may land a hair above an exactly reachable total (0.1 * 10).
_BUDGET_TOLERANCE = 1e-12


def _finite_number(x: Any) -> bool:
    return type(x) in (int, float) and math.isfinite(x)


@dataclass(frozen=True)
class PrivacyLedger:
    """The privacy claim of one release: mechanism, parameters, and every accountant's epsilon.

    ``sigma`` is the discrete Gaussian's scale parameter per count (exactly what the
    sampler used), ``epsilon`` the declared value: at least every accountant's.
    ``privacy_unit`` is what one neighbouring step adds or removes (a patient, a volume
    or one image), ``max_images_per_unit`` the k of contribution bounding, so
    ``sensitivity_l2`` is at least k sqrt(rows). ``not_covered`` names the fields of
    the bundle that the guarantee does not cover (released exactly, outside the noise).
    """

    mechanism: str
    spec_id: str
    sensitivity_l2: float | None = None
    sigma: float | None = None
    sample_rate: float | None = None
    epsilon: float | None = None
    delta: float | None = None
    accountants: tuple[AccountantRecord, ...] = ()
    privacy_unit: str | None = None
    max_images_per_unit: int | None = None
    not_covered: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mechanism not in MECHANISMS:
            raise BadInput(f"unknown privacy mechanism {self.mechanism!r} (known: {', '.join(MECHANISMS)})")
        if not isinstance(self.spec_id, str) or not self.spec_id:
            raise BadInput("privacy ledger has no spec id")
        if not isinstance(self.accountants, tuple) or not all(isinstance(a, AccountantRecord) for a in self.accountants):
            raise BadInput("privacy ledger accountants must be a tuple of AccountantRecord")
        values = {name: getattr(self, name) for name in _NUMERIC}
        if not isinstance(self.not_covered, tuple) or len(self.not_covered) > MAX_NOT_COVERED or not all(
            isinstance(f, str) and 0 < len(f) <= 200 for f in self.not_covered
        ):
            raise BadInput(f"privacy ledger not_covered must be at most {MAX_NOT_COVERED} field names")
        if self.mechanism == "none":
            if any(v is not None for v in values.values()) or self.accountants or self.privacy_unit is not None \
                    or self.max_images_per_unit is not None or self.not_covered:
                raise BadInput("a ledger with mechanism 'none' carries no privacy parameters")
            return
        for name, value in values.items():
            if not _finite_number(value):
                raise BadInput(f"privacy ledger {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.sensitivity_l2 <= 0 or self.sigma <= 0 or self.epsilon <= 0:  # type: ignore[operator]
            raise BadInput("privacy ledger sensitivity_l2, sigma and epsilon must be > 0")
        if not 0 < self.sample_rate <= 1 or not 0 < self.delta < 1:  # type: ignore[operator]
            raise BadInput("privacy ledger needs sample_rate in (0, 1] and delta in (0, 1)")
        if self.privacy_unit not in PRIVACY_UNITS:
            raise BadInput(f"privacy ledger privacy_unit must be one of {', '.join(PRIVACY_UNITS)}, got {self.privacy_unit!r}")
        k = self.max_images_per_unit
        if type(k) is not int or k < 1:
            raise BadInput(f"privacy ledger max_images_per_unit must be a positive integer, got {k!r}")
        names = [a.name for a in self.accountants]
        if not names or len(set(names)) != len(names):
            raise BadInput("a DP ledger needs at least one accountant, each named once")
        worst = max(a.epsilon for a in self.accountants)
        if self.epsilon < worst:  # type: ignore[operator]
            raise BadInput(f"privacy ledger declares epsilon {self.epsilon} below its own accountant's {worst}")

    @classmethod
    def none(cls, *, spec_id: str) -> "PrivacyLedger":
        """The explicit statement that a release carries no differential privacy."""
        return cls(mechanism="none", spec_id=spec_id)

    @classmethod
    def from_calibration(
        cls, calibration: Calibration, *, spec_id: str, privacy_unit: str, not_covered: tuple[str, ...] = ()
    ) -> "PrivacyLedger":
        return cls(
            privacy_unit=privacy_unit,
            max_images_per_unit=calibration.max_images_per_unit,
            not_covered=tuple(not_covered),
            mechanism="discrete_gaussian",
            spec_id=spec_id,
            sensitivity_l2=calibration.sensitivity_l2,
            sigma=calibration.sigma,
            sample_rate=calibration.sample_rate,
            epsilon=calibration.epsilon,
            delta=calibration.delta,
            accountants=calibration.accountants,
        )

    @property
    def is_private(self) -> bool:
        return self.mechanism != "none"

    @property
    def noise_multiplier(self) -> float | None:
        return None if self.sigma is None else self.sigma / self.sensitivity_l2  # type: ignore[operator]

    def to_json(self) -> dict[str, Any]:
        return {
            "v": LEDGER_VERSION,
            "mechanism": self.mechanism,
            "sensitivity_l2": self.sensitivity_l2,
            "sigma": self.sigma,
            "sample_rate": self.sample_rate,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "privacy_unit": self.privacy_unit,
            "max_images_per_unit": self.max_images_per_unit,
            "accountants": [a.to_json() for a in self.accountants],
            "not_covered": list(self.not_covered),
            "spec_id": self.spec_id,
        }

    @classmethod
    def from_json(cls, obj: Any) -> "PrivacyLedger":
        """Strict parse: exactly the known keys, version 2, numbers or null, no NaN."""
        if not isinstance(obj, dict):
            raise BadInput("privacy ledger must be a JSON object")
        if set(obj) != _LEDGER_KEYS:
            extra, missing = sorted(set(obj) - _LEDGER_KEYS), sorted(_LEDGER_KEYS - set(obj))
            raise BadInput(f"privacy ledger fields wrong: unexpected {extra}, missing {missing}")
        if type(obj["v"]) is not int or obj["v"] != LEDGER_VERSION:
            raise BadInput(f"not a version-{LEDGER_VERSION} privacy ledger")
        if not isinstance(obj["mechanism"], str) or not isinstance(obj["spec_id"], str):
            raise BadInput("privacy ledger mechanism and spec_id must be strings")
        for name in _NUMERIC:
            if obj[name] is not None and not _finite_number(obj[name]):
                raise BadInput(f"privacy ledger {name} must be a finite number or null")
        if not isinstance(obj["accountants"], list) or not isinstance(obj["not_covered"], list):
            raise BadInput("privacy ledger accountants and not_covered must be lists")
        if obj["privacy_unit"] is not None and not isinstance(obj["privacy_unit"], str):
            raise BadInput("privacy ledger privacy_unit must be a string or null")
        if obj["max_images_per_unit"] is not None and type(obj["max_images_per_unit"]) is not int:
            raise BadInput("privacy ledger max_images_per_unit must be an integer or null")
        return cls(
            privacy_unit=obj["privacy_unit"],
            max_images_per_unit=obj["max_images_per_unit"],
            not_covered=tuple(obj["not_covered"]),
            mechanism=obj["mechanism"],
            spec_id=obj["spec_id"],
            accountants=tuple(AccountantRecord.from_json(a) for a in obj["accountants"]),
            **{name: obj[name] for name in _NUMERIC},
        )


def verify_ledger(unverified: PrivacyLedger, *, rows: int, tolerance: float = 1e-6) -> PrivacyLedger:
    """Bind the ledger to the fingerprint it travels with, then recompute every accountant.

    ``rows`` is the number of feature rows of that fingerprint. Refused (VerificationError,
    exit 4) before any accounting: a sensitivity below ``max_images_per_unit * sqrt(rows)``
    (the ledger would under-declare), and sigma, k, rows, noise multiplier, delta or epsilon
    outside what the accountants are run on (they would need unbounded memory or time).
    Then refused when the declared epsilon is below what our accountants certify for the
    parameters (by more than ``tolerance``). It does not check that the noise was really
    drawn, that sampling really was Poisson at that rate, nor that units were what the
    ledger names.
    """
    if not unverified.is_private:
        return unverified
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= ROWS_MAX:
        raise VerificationError(f"privacy ledger check failed: the fingerprint has {rows!r} rows, secfp accounts 1 to {ROWS_MAX}")
    k = unverified.max_images_per_unit
    assert k is not None and unverified.sensitivity_l2 is not None and unverified.sigma is not None
    if k > MAX_IMAGES_PER_UNIT:
        raise VerificationError(f"privacy ledger check failed: max_images_per_unit {k} is above the {MAX_IMAGES_PER_UNIT} secfp accounts for")
    bound = k * math.sqrt(rows)
    if unverified.sensitivity_l2 < bound * (1.0 - 1e-12):
        raise VerificationError(
            f"privacy ledger check failed: it declares sensitivity {unverified.sensitivity_l2:.6g}, but {k} image(s) per unit "
            f"on {rows} rows need at least {bound:.6g}"
        )
    if not unverified.epsilon <= EPSILON_MAX or not DELTA_MIN <= unverified.delta <= DELTA_MAX:  # type: ignore[operator]
        raise VerificationError(
            f"privacy ledger check failed: epsilon {unverified.epsilon:.6g} and delta {unverified.delta:.3g} must lie in "
            f"(0, {EPSILON_MAX:g}] and [{DELTA_MIN:g}, {DELTA_MAX:g}], where secfp's accountants certify"
        )
    try:
        records = account(
            sigma=unverified.sigma,
            contributions=rows,
            sample_rate=unverified.sample_rate,  # type: ignore[arg-type]
            delta=unverified.delta,  # type: ignore[arg-type]
            max_images_per_unit=k,
            sensitivity_l2=unverified.sensitivity_l2,
        )
    except UsageError as exc:
        raise VerificationError(f"privacy ledger check failed: {exc.diagnostics()}") from None
    worst = max(r.epsilon for r in records)
    if worst > unverified.epsilon + tolerance:  # type: ignore[operator]
        raise VerificationError(
            f"privacy ledger declares epsilon {unverified.epsilon:.6g}, but its parameters give {worst:.6g}"
        )
    return unverified


@dataclass(frozen=True)
class BudgetCharge:
    """One release's cost: ``pending`` while the release runs, then ``charged``."""

    charge_id: str
    state: str
    epsilon: float
    delta: float
    label: str
    at: str

    def __post_init__(self) -> None:
        if self.state not in ("pending", "charged"):
            raise BadInput(f"budget entry state must be 'pending' or 'charged', got {self.state!r}")
        if not _finite_number(self.epsilon) or self.epsilon <= 0:
            raise BadInput("budget entry epsilon must be a finite number > 0")
        if not _finite_number(self.delta) or not 0 <= self.delta < 1:
            raise BadInput("budget entry delta must be a number in [0, 1)")
        for name in ("charge_id", "label", "at"):
            if not isinstance(getattr(self, name), str):
                raise BadInput(f"budget entry {name} must be a string")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.charge_id, "state": self.state, "epsilon": self.epsilon, "delta": self.delta, "label": self.label, "at": self.at}

    @classmethod
    def from_json(cls, obj: Any) -> "BudgetCharge":
        if not isinstance(obj, dict) or set(obj) != {"id", "state", "epsilon", "delta", "label", "at"}:
            raise BadInput("budget entry must have exactly: id, state, epsilon, delta, label, at")
        return cls(obj["id"], obj["state"], obj["epsilon"], obj["delta"], obj["label"], obj["at"])


@dataclass(frozen=True)
class BudgetState:
    """A dataset's releases so far, against the configured total."""

    dataset_id: str
    total_epsilon: float
    charges: tuple[BudgetCharge, ...] = ()

    @property
    def spent_epsilon(self) -> float:
        return math.fsum(c.epsilon for c in self.charges)

    @property
    def spent_delta(self) -> float:
        return math.fsum(c.delta for c in self.charges)

    @property
    def remaining_epsilon(self) -> float:
        return max(0.0, self.total_epsilon - self.spent_epsilon)

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, "kind": BUDGET_KIND, "dataset_id": self.dataset_id, "charges": [c.to_json() for c in self.charges]}

    @classmethod
    def from_json(cls, obj: Any, *, total_epsilon: float) -> "BudgetState":
        if not isinstance(obj, dict) or set(obj) != {"v", "kind", "dataset_id", "charges"}:
            raise BadInput("budget file must have exactly: v, kind, dataset_id, charges")
        if obj["v"] != 1 or obj["kind"] != BUDGET_KIND or not isinstance(obj["charges"], list):
            raise BadInput("not a version-1 secfp privacy budget file")
        if not isinstance(obj["dataset_id"], str):
            raise BadInput("budget dataset_id must be a string")
        return cls(obj["dataset_id"], total_epsilon, tuple(BudgetCharge.from_json(c) for c in obj["charges"]))


@dataclass(frozen=True)
class BudgetStore:
    """Per-dataset epsilon budgets in ``folder`` (one JSON file each), safe across processes."""

    folder: Path
    total_epsilon: float
    lock_timeout: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))
        if not _finite_number(self.total_epsilon) or self.total_epsilon <= 0:
            raise BadInput(f"total privacy budget must be a finite number > 0, got {self.total_epsilon!r}")

    def _paths(self, dataset_id: str) -> tuple[Path, Path]:
        if not isinstance(dataset_id, str) or not dataset_id:
            raise BadInput("dataset id must be a non-empty string")
        # Hashing keeps any id (paths, URLs, unicode) a safe, fixed-length file name.
        stem = hashlib.sha256(dataset_id.encode("utf-8")).hexdigest()[:32]
        return self.folder / f"{stem}.json", self.folder / f"{stem}.lock"

    @contextmanager
    def _locked(self, dataset_id: str) -> Iterator[Path]:
        path, lock_path = self._paths(dataset_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(lock_path), timeout=self.lock_timeout):
                yield path
        except Timeout:
            # Not "exhausted" (exit 7): the budget could not be read, so nothing is released.
            raise SecfpError(f"privacy budget of dataset {dataset_id!r} is locked by another export; try again") from None

    def _read(self, path: Path, dataset_id: str) -> BudgetState:
        if not path.exists():
            return BudgetState(dataset_id, float(self.total_epsilon))
        data = read_capped(path, cap=MAX_BUDGET_BYTES, what="privacy budget file")
        state = BudgetState.from_json(strict_json_loads(data, what=f"privacy budget file {path}"), total_epsilon=float(self.total_epsilon))
        if state.dataset_id != dataset_id:
            raise BadInput(f"privacy budget file {path} belongs to another dataset")
        return state

    def _write(self, path: Path, state: BudgetState) -> None:
        atomic_write_bytes(path, canonical_json(state.to_json()) + b"\n", mode=0o600)

    def state(self, dataset_id: str) -> BudgetState:
        """The dataset's budget as it stands (pending reservations count as spent)."""
        with self._locked(dataset_id) as path:
            return self._read(path, dataset_id)

    def datasets(self) -> tuple[BudgetState, ...]:
        """Every dataset with a budget file in the folder, sorted by id (each read under its lock)."""
        if not self.folder.is_dir():
            return ()
        states = []
        for path in sorted(self.folder.glob("*.json")):
            data = read_capped(path, cap=MAX_BUDGET_BYTES, what="privacy budget file")
            obj = strict_json_loads(data, what=f"privacy budget file {path}")
            dataset_id = obj.get("dataset_id") if isinstance(obj, dict) else None
            if not isinstance(dataset_id, str) or self._paths(dataset_id)[0] != path:
                raise BadInput(f"privacy budget file {path} is not named after its dataset id")
            states.append(self.state(dataset_id))
        return tuple(sorted(states, key=lambda st: st.dataset_id))

    def _refuse_if_over(self, state: BudgetState, epsilon: float) -> None:
        if not _finite_number(epsilon) or epsilon <= 0:
            raise BadInput(f"a release must cost a finite epsilon > 0, got {epsilon!r}")
        if math.fsum([state.spent_epsilon, epsilon]) > state.total_epsilon + _BUDGET_TOLERANCE:
            pending = sum(1 for c in state.charges if c.state == "pending")
            note = f", {pending} release(s) in progress" if pending else ""
            raise BudgetExceeded(
                f"privacy budget of dataset {state.dataset_id!r} exhausted: this release needs epsilon {epsilon:.6g}, "
                f"only {state.remaining_epsilon:.6g} of {state.total_epsilon:.6g} left "
                f"({state.spent_epsilon:.6g} spent in {len(state.charges)} release(s){note})"
            )

    def check(self, dataset_id: str, *, epsilon: float) -> BudgetState:
        """Raise BudgetExceeded (exit 7) if ``epsilon`` does not fit; change nothing."""
        state = self.state(dataset_id)
        self._refuse_if_over(state, epsilon)
        return state

    def _add(self, dataset_id: str, *, epsilon: float, delta: float, label: str, now: datetime | None, state: str) -> tuple[BudgetState, str]:
        with self._locked(dataset_id) as path:
            current = self._read(path, dataset_id)
            self._refuse_if_over(current, epsilon)
            stamp = (now or datetime.now(timezone.utc)).isoformat()
            entry = BudgetCharge(secrets.token_hex(8), state, float(epsilon), float(delta), str(label), stamp)
            updated = replace(current, charges=current.charges + (entry,))
            self._write(path, updated)
            return updated, entry.charge_id

    def charge(self, dataset_id: str, *, epsilon: float, delta: float, label: str = "", now: datetime | None = None) -> BudgetState:
        """Record a release that has already succeeded; refuses (state unchanged) if it does not fit."""
        return self._add(dataset_id, epsilon=epsilon, delta=delta, label=label, now=now, state="charged")[0]

    @contextmanager
    def reserve(self, dataset_id: str, *, epsilon: float, delta: float, label: str = "", now: datetime | None = None) -> Iterator[BudgetState]:
        """Hold ``epsilon`` while a release runs; charge it if the block succeeds, withdraw it if it raises."""
        reserved, charge_id = self._add(dataset_id, epsilon=epsilon, delta=delta, label=label, now=now, state="pending")
        try:
            yield reserved
        except BaseException:
            with self._locked(dataset_id) as path:
                current = self._read(path, dataset_id)
                self._write(path, replace(current, charges=tuple(c for c in current.charges if c.charge_id != charge_id)))
            raise
        with self._locked(dataset_id) as path:
            current = self._read(path, dataset_id)
            charges = tuple(replace(c, state="charged") if c.charge_id == charge_id else c for c in current.charges)
            if not any(c.charge_id == charge_id for c in current.charges):
                # Someone removed our reservation: charge it again rather than lose it.
                charges += (BudgetCharge(charge_id, "charged", float(epsilon), float(delta), str(label), (now or datetime.now(timezone.utc)).isoformat()),)
            self._write(path, replace(current, charges=charges))
