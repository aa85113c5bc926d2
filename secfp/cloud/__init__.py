"""The knowledge cloud: publish bundles to, and sync a pool from, any OCI registry.

The registry is untrusted storage (SECURITY.md): it brings authentication, access
control and replication; secfp's signatures, encryption, ledgers and policies decide
what enters a pool. Modules: :mod:`reference` (``oci://`` parsing), :mod:`client` (the
``oras`` client with bounded, same-origin requests), :mod:`artifact` (the manifest
format and its checks), :mod:`remote` (listing, capped downloads, push),
:mod:`state` (digests already taken), :mod:`publish` and :mod:`sync` (the journeys).
"""

from secfp.cloud.client import Connection, Credentials, RegistryClient
from secfp.cloud.errors import ArtifactRejected, DigestMismatch, RegistryError, RegistryRefused
from secfp.cloud.publish import Published, publish_bundles
from secfp.cloud.reference import RegistryRef, parse_reference
from secfp.cloud.sync import ArtifactOutcome, SyncReport, sync_pool

__all__ = ["Connection", "Credentials", "RegistryClient", "RegistryRef", "parse_reference", "publish_bundles",
           "Published", "sync_pool", "SyncReport", "ArtifactOutcome", "RegistryError", "RegistryRefused",
           "ArtifactRejected", "DigestMismatch"]
