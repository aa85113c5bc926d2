"""secfp.exchange: identities, trust, signed and encrypted fingerprint bundles, the verifier.

Recipe-level API (STYLE.md: only ``exchange/_internal`` touches ``cryptography.hazmat``):

* identities: :func:`generate_identity`, :func:`save_identity`, :func:`load_identity`, :func:`load_card`
* trust: :func:`load_trust_store`, :func:`trust_add`, :func:`trust_remove`
* export: :func:`seal_bundle`, :func:`export_bundle`
* receive: :func:`open_bundle`, :func:`load_fingerprint_or_bundle`, :class:`ReplayStore`;
  :mod:`secfp.exchange.received` (``ReceivedBundle``, sealed: only the receive workflow makes
  one) is imported from its module, so that importing this package stays free of the
  privacy accountants

See SECURITY.md for the threat model and the verifier's order.
"""

from secfp.exchange.bundle import DEFAULT_LIFETIME, SealedBundle, export_bundle, read_bundle_file, seal_bundle
from secfp.exchange.keyfile import IdentityFiles, load_identity, save_identity
from secfp.exchange.keys import IdentityCard, PrivateIdentity, generate_identity, key_id, load_card
from secfp.exchange.paths import default_replay_dir, default_trust_dir, secfp_home
from secfp.exchange.replay import ReplayStore
from secfp.exchange.statement import Statement
from secfp.exchange.trust import TrustStore, load_trust_store, trust_add, trust_remove
from secfp.exchange.verify import DEFAULT_MAX_SKEW, VerifiedStatement, load_fingerprint_or_bundle, open_bundle

__all__ = [
    "DEFAULT_LIFETIME",
    "DEFAULT_MAX_SKEW",
    "IdentityCard",
    "IdentityFiles",
    "PrivateIdentity",
    "ReplayStore",
    "SealedBundle",
    "Statement",
    "TrustStore",
    "VerifiedStatement",
    "default_replay_dir",
    "default_trust_dir",
    "export_bundle",
    "generate_identity",
    "key_id",
    "load_card",
    "load_fingerprint_or_bundle",
    "load_identity",
    "load_trust_store",
    "open_bundle",
    "read_bundle_file",
    "save_identity",
    "seal_bundle",
    "secfp_home",
    "trust_add",
    "trust_remove",
]
