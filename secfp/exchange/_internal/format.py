"""Constants of bundle format version 1: kinds, the one suite, and size caps.

A 2048 x 1000 fingerprint is about 20 MB of JSON and ``load_fingerprint``
refuses more than 64 MiB; the caps below leave room for that plus the card
and the privacy ledger, and grow by base64's 4/3 at each layer (the signed
envelope carries the statement in base64, and a sealed bundle carries the
encrypted envelope in base64).
"""

from __future__ import annotations

FORMAT_VERSION = 1
BUNDLE_KIND = "secfp.bundle"
STATEMENT_KIND = "secfp.statement"
# One fixed suite per format version, compared for equality and never parsed:
# DSSE v1 + Ed25519 signature; content AES-256-GCM; content key wrapped with
# HPKE base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM (RFC 9180).
SUITE = "secfp-v1:dsse-ed25519:aes-256-gcm:hpke-base-x25519-hkdf-sha256-aes-256-gcm"

MIB = 1024 * 1024
MAX_STATEMENT_BYTES = 80 * MIB
MAX_ENVELOPE_BYTES = MAX_STATEMENT_BYTES * 4 // 3 + 64 * 1024
MAX_BUNDLE_BYTES = 160 * MIB
MAX_RECIPIENTS = 64
MAX_CARD_BYTES = 256 * 1024
MAX_PRIVACY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
BUNDLE_ID_BYTES = 16
