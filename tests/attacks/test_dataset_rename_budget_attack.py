"""Attack: start a fresh privacy budget for images that already spent theirs, by naming the dataset
(`--dataset NEW`), by exporting a copy, or by changing one image. Real images, the real probe, the
real CLI, budget files and audit log."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from secfp.governance import read_log


def _export(alice_cli, tmp_path, folder, out: str, *extra):
    return alice_cli("export", folder, "--key", tmp_path / "alice" / "alice.key", "--public", "--dp-epsilon", 6,
                     "--dp-budget", 10, "--privacy-unit", "image", "-o", tmp_path / out, *extra)


def _spent(alice_cli) -> dict[str, float]:
    listed = json.loads(alice_cli("privacy", "budget", "list", "--dp-budget", 10, "--json").stdout)["datasets"]
    return {d["dataset"]: d["spent_epsilon"] for d in listed}


def test_a_new_dataset_name_does_not_reset_the_budget_of_the_same_images(alice_cli, sample_tasks, tmp_path) -> None:
    folder = sample_tasks["histology"][0]
    first = _export(alice_cli, tmp_path, folder, "1.bundle")
    assert first.exit_code == 0, first.output
    (content,) = _spent(alice_cli)
    assert content.startswith("content:")
    # The same images under a new name: the content's budget is charged too, and it has only 4 left.
    renamed = _export(alice_cli, tmp_path, folder, "2.bundle", "--dataset", "fresh-start")
    assert renamed.exit_code == 7, renamed.output
    assert content in renamed.stderr and not (tmp_path / "2.bundle").exists()
    assert "fresh-start" in renamed.stderr and "a new name never resets" in renamed.stderr  # the warning
    assert _spent(alice_cli) == pytest.approx({content: 6.0}, abs=0.01)  # the failed reservation was withdrawn
    refused = read_log(tmp_path / "home" / "audit.jsonl")[-1].event
    assert refused.outcome == "refused" and refused.dataset == "fresh-start"
    assert refused.details["content_dataset"] == content


def test_a_named_release_charges_both_budgets_and_is_audited_with_both(alice_cli, sample_tasks, tmp_path) -> None:
    folder = sample_tasks["histology"][0]
    named = _export(alice_cli, tmp_path, folder, "1.bundle", "--dataset", "histology-2024", "--json")
    assert named.exit_code == 0, named.output
    assert any("a new name never resets" in w for w in json.loads(named.stdout)["warnings"])
    spent = _spent(alice_cli)
    assert set(spent) == {"histology-2024", next(d for d in spent if d.startswith("content:"))}
    assert all(v == pytest.approx(6.0, abs=0.01) for v in spent.values())
    event = read_log(tmp_path / "home" / "audit.jsonl")[-1].event
    assert event.outcome == "ok" and event.dataset == "histology-2024" and event.details["content_dataset"] in spent
    # Back to the derived id: its budget already paid for the named release.
    assert _export(alice_cli, tmp_path, folder, "2.bundle").exit_code == 7


def test_a_copy_with_one_image_changed_is_another_dataset_unless_named(alice_cli, sample_tasks, tmp_path) -> None:
    # The documented limit (SECURITY.md): the content id binds only the exact files; a name binds a collection.
    folder = sample_tasks["histology"][0]
    changed = tmp_path / "changed"
    shutil.copytree(folder, changed)
    victim = sorted(changed.iterdir())[0]
    with Image.open(victim) as img:  # one pixel of one image changed
        pixels = np.array(img)
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(victim)
    assert _export(alice_cli, tmp_path, folder, "1.bundle", "--dataset", "histology").exit_code == 0
    assert _export(alice_cli, tmp_path, changed, "2.bundle").exit_code == 0  # the limit: a fresh content budget
    # Named as the collection it belongs to, the changed copy finds the collection's budget spent.
    assert _export(alice_cli, tmp_path, changed, "3.bundle", "--dataset", "histology").exit_code == 7


def test_two_concurrent_releases_of_the_same_images_under_two_names_never_overspend(sample_tasks, default_spec,
                                                                                    tmp_path, torch_home) -> None:
    import threading
    from datetime import datetime, timedelta, timezone

    from secfp.errors import BudgetExceeded
    from secfp.exchange import generate_identity
    from secfp.privacy import BudgetStore
    from secfp.workflows.export import DPRequest, prepare_export, release

    now = datetime.now(timezone.utc)
    budget = BudgetStore(tmp_path / "budgets", total_epsilon=10.0)
    plans = [prepare_export([sample_tasks["histology"][0]], spec=default_spec, samples=10, seed=0,
                            dp=DPRequest(epsilon=6.0, privacy_unit="image"), recipients=(), public=True,
                            lifetime=timedelta(days=30), card=None, policy=None, dataset=name, budget=budget, now=now)
             for name in ("name-a", "name-b")]
    issuer = generate_identity("alice", now=now - timedelta(days=1))
    start, outcomes = threading.Barrier(2), {}

    def run(i: int) -> None:
        start.wait()
        try:
            release(plans[i], tmp_path / f"{i}.bundle", issuer=issuer, budget=budget, audit_log=tmp_path / "audit.jsonl",
                    actor="test", now=now)
            outcomes[i] = "ok"
        except BudgetExceeded:
            outcomes[i] = "exhausted"

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["exhausted", "ok"]
    spent = {s.dataset_id: s.spent_epsilon for s in budget.datasets()}
    winner = next(i for i, o in outcomes.items() if o == "ok")
    assert spent[plans[0].content_dataset] == pytest.approx(plans[0].ledger.epsilon)
    assert spent[plans[winner].dataset] == pytest.approx(plans[winner].ledger.epsilon)
    assert spent.get(plans[1 - winner].dataset, 0.0) == 0.0
    assert [p.name for p in tmp_path.glob("*.bundle")] == [f"{winner}.bundle"]
