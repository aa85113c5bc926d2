"""The one place where ``pool sync`` enters the receive path of ``pool add``.

Every bundle from a registry goes through exactly what ``secfp pool add`` does with a
file: :meth:`secfp.pool.store.Pool.add`, which runs the receiver (size cap, strict
parse, decryption, signature, trust, audience, expiry, privacy ledger, import policy,
audit record ``pool-add``) before anything is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["add_to_pool"]


def add_to_pool(store: Any, unverified_bytes: bytes, *, receiver: Any, now: datetime, label: str) -> Any:
    """Verify and store one bundle as ``pool add`` does; return its AddResult or raise what verification raised."""
    return store.add(unverified_bytes, receiver=receiver, now=now, label=label)
