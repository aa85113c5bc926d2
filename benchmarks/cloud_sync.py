"""Time to publish bundles to a real OCI registry and to sync them into a pool, first and second time.

Run: python benchmarks/cloud_sync.py [--bundles 50]   (needs Debian's docker-registry and bcrypt)

Starts CNCF Distribution (``docker-registry``) on a loopback port with htpasswd auth, seals
``--bundles`` bundles of the default shape (1280 features x 100 bins, random multinomial
counts, no DP) from alice to bob, then prints wall-clock seconds and ms per bundle for:
publish (upload), sync (list, download, digest checks, full verification, pool add, audit),
and a second sync (nothing new: one HEAD per artifact).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "cloud"))

from registry_server import start_registry  # noqa: E402

from secfp.cloud import Connection, Credentials, RegistryClient, parse_reference, publish_bundles, sync_pool  # noqa: E402
from secfp.exchange import TrustStore, generate_identity, seal_bundle  # noqa: E402
from secfp.fingerprint.histogram import Fingerprint  # noqa: E402
from secfp.pool.store import Pool  # noqa: E402
from secfp.privacy import PrivacyLedger  # noqa: E402
from secfp.workflows.receive import Receiver  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=50)
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    alice, bob = (generate_identity(n, now=now - timedelta(days=1), valid_for=timedelta(days=30)) for n in ("alice", "bob"))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="secfp-cloud-bench-") as tmp:
        folder = Path(tmp)
        paths = []
        for i in range(args.bundles):
            counts = np.stack([rng.multinomial(1000, np.full(100, 0.01)) for _ in range(1280)]).astype(np.int64)
            fp = Fingerprint(spec_id="ab" * 32, counts=counts, n=1000, feature_mean=rng.normal(size=1280))
            data = seal_bundle(fp, issuer=alice, recipients=[bob.card], public=False, now=now,
                               privacy=PrivacyLedger.none(spec_id=fp.spec_id).to_json()).data
            paths.append(folder / f"b{i}.bundle")
            paths[-1].write_bytes(data)
        size = paths[0].stat().st_size
        registry = start_registry(folder / "registry", {"alice": "a-pw", "bob": "b-pw"})
        try:
            def client(user: str, password: str, path: str):
                ref = parse_reference(registry.ref(path))
                return ref, RegistryClient(Connection(ref, credentials=Credentials(user, password), plain_http=True))

            print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; "
                  f"docker-registry on loopback; {args.bundles} sealed bundles of {size:,} bytes")
            ref, c = client("alice", "a-pw", "consortium/alice")
            start = time.perf_counter()
            publish_bundles(paths, ref, client=c, audit_log=folder / "alice.jsonl", actor="alice", now=now)
            rows = [("publish", time.perf_counter() - start)]
            receiver = Receiver(identity=bob, trust_store=TrustStore((alice.card,)), audit_log=folder / "bob.jsonl",
                                actor="bob")
            store = Pool.open(folder / "pool", create=True)
            for label in ("sync (all new)", "sync again (nothing new)"):
                ref, c = client("bob", "b-pw", "consortium")
                start = time.perf_counter()
                report = sync_pool(ref, client=c, store=store, receiver=receiver, now=now)
                rows.append((f"{label}: {report.count('added')} added, {report.count('seen')} seen",
                             time.perf_counter() - start))
                assert report.exit_code == 0
        finally:
            registry.stop()
    for label, seconds in rows:
        print(f"{label:<45} {seconds:8.2f} s {1000 * seconds / args.bundles:8.1f} ms/bundle")


if __name__ == "__main__":
    main()
