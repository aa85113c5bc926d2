"""Planning over the pool: cards decide what is offered, data-use terms gate co-training."""

from __future__ import annotations

import pytest
from pool_helpers import card, make_fingerprint

from secfp.governance import Purpose
from secfp.cards.task_card import TaskCard
from secfp.planning.planner import TransferPlan
from secfp.pool.ranking import DEFAULT_PURPOSE, cotraining_data_use_rule, plan_from_ranking

DUA = {"id": "export-1", "digest": "ab" * 32}


def _add(world, name, seed, **kwargs):
    policy = kwargs.pop("data_use", None)
    data = world.bundle(make_fingerprint(seed=seed), card=kwargs.pop("card_json", None) or card(name, **kwargs),
                        policy=None if policy is None else {**DUA, "data_use": policy})
    return world.add(data).entry.bundle_id


def _cotraining(plan: TransferPlan) -> tuple[list[str], dict[str, str]]:
    suggested = [s.source_id for s in plan.suggestions["cotraining"]]
    excluded = {e.source_id: e.reason for e in plan.excluded if e.scenario == "cotraining"}
    return suggested, excluded


def test_plan_excludes_cotraining_when_card_says_data_not_shareable(world):
    open_ = _add(world, "open", 1, shareable=True)
    closed = _add(world, "closed", 2, shareable=False)
    plan = world.plan(make_fingerprint(seed=9))
    assert isinstance(plan, TransferPlan)
    suggested, excluded = _cotraining(plan)
    assert suggested == [open_] and "cannot be shared" in excluded[closed]
    assert {s.source_id for s in plan.suggestions["architecture"]} == {open_, closed}


def test_plan_excludes_cotraining_when_data_use_terms_forbid_our_purpose(world):
    # GSO: genetic studies only; IRB: ethics approval our (default) purpose does not declare.
    allowed = _add(world, "ncu", 1, data_use=["HMB", "NCU", "NPU"])
    genetic = _add(world, "gso", 2, data_use=["GRU", "GSO"])
    ethics = _add(world, "irb", 3, data_use=["HMB", "IRB"])
    plan = world.plan(make_fingerprint(seed=9))
    suggested, excluded = _cotraining(plan)
    assert suggested == [allowed]
    assert "GSO allows only genetic studies" in excluded[genetic]
    assert "IRB requires ethics approval" in excluded[ethics]
    assert {s.source_id for s in plan.suggestions["architecture"]} == {allowed, genetic, ethics}
    # A purpose that declares ethics approval (from an import policy) lets the IRB source in.
    ranking = world.rank(make_fingerprint(seed=9))
    with_irb = plan_from_ranking(ranking, purpose=Purpose(research_area="biomedical", ethics_approval=True))
    assert set(_cotraining(with_irb)[0]) == {allowed, ethics}
    # The smallest eligible source survives the pool's exclusions and is one the plan may suggest.
    assert plan.smallest["cotraining"] == allowed
    assert plan.smallest["architecture"] in {allowed, genetic, ethics}


def test_data_use_rule_leaves_other_scenarios_and_code_less_sources_alone():
    from secfp.planning.planner import Candidate

    candidate = Candidate("s1", 0.1, TaskCard(name="t"))
    rule = cotraining_data_use_rule({"s1": ("GRU", "GSO")}, DEFAULT_PURPOSE)
    assert rule(candidate, "architecture") is None and rule(candidate, "cotraining") is not None
    assert cotraining_data_use_rule({}, DEFAULT_PURPOSE)(candidate, "cotraining") is None


@pytest.mark.parametrize("bad_card, reason", [
    ({}, "carries no task card"),
    ({"v": 1, "task": {"name": "x", "num_classes": "many"}}, "task.num_classes"),
    ({"free": "form"}, "unknown field"),
])
def test_source_with_missing_or_invalid_card_is_excluded_not_a_crash(world, bad_card, reason):
    good = _add(world, "good", 1)
    bad = _add(world, "bad", 2, card_json=bad_card) if bad_card else world.add(
        world.bundle(make_fingerprint(seed=2))).entry.bundle_id
    plan = world.plan(make_fingerprint(seed=9))
    reasons = [e.reason for e in plan.excluded if e.source_id == bad]
    assert len(reasons) == 4 and all(reason in r for r in reasons)
    assert [s.source_id for s in plan.suggestions["architecture"]] == [good]


def test_plan_suggestions_carry_what_to_take_and_why(world):
    _add(world, "small", 1, images=500)
    _add(world, "big", 2, images=500_000)
    query_card = TaskCard.from_json(card("mine"))
    plan = world.plan(make_fingerprint(seed=9), query_card=query_card,
                           top=1)
    (best,) = plan.suggestions["architecture"]
    assert best.offer["name"] == "resnet50" and "train resnet50" in best.why and "bKLD" in best.why
    assert plan.to_json()["v"] == 1


def test_plan_suggestions_carry_the_distance_evidence_of_the_pool_ranking(world):
    # The planner's readable distances reach the plan: the query's floor, a bootstrap interval
    # around the measured distance, and a tie group; the report gets the same per bundle.
    from secfp.matching.bkld import bkld
    from secfp.workflows.use import plan_from_pool

    ids = [_add(world, f"task{i}", i) for i in range(1, 4)]
    query = make_fingerprint(seed=9)
    result = plan_from_pool(world.pool, "query", query, receiver=world.receiver, now=world.now)
    suggested = result.plan.suggestions["architecture"]
    assert {s.source_id for s in suggested} == set(ids)
    for s in suggested:
        low, high = s.distance_ci
        assert low <= s.distance <= high and high > low
        assert s.distance_floor == pytest.approx(bkld(query, query, variant="small"))
        assert isinstance(s.tie_group, int) and s.closeness_rank is not None
    evidence = result.ranking.evidence()
    assert set(evidence) == set(ids)
    closest = result.ranking.matches[0].source
    assert evidence[closest]["pool_percentile"] == 0.0 and evidence[closest]["tied"] is False
