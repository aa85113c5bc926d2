"""The answer first: per-scenario summaries, honest closeness ranks, evidence shown when present and absent."""

from __future__ import annotations

import copy
import re
from dataclasses import replace

import pytest
from report_helpers import DOM, NOW, card_json
from browser import TextOutsideDetails

from secfp.cards.task_card import TaskCard
from secfp.planning.planner import SCENARIOS, Candidate, plan_transfer
from secfp.report import build_report, plan_document, render_html, render_markdown, render_plan_text
from secfp.report._style import CONTRAST_PAIRS, CSS, PALETTE
from secfp.report.summary import scenario_summaries, source_names

HEX64 = re.compile(r"[0-9a-f]{64}")
POLICY = {"__version__": "1.4.0", "transform": {"__class_fullname__": "Compose", "p": 1.0, "bbox_params": None,
          "transforms": [{"__class_fullname__": "HorizontalFlip", "p": 0.5},
                         {"__class_fullname__": "OneOf", "p": 0.3, "transforms": [
                             {"__class_fullname__": "GaussianBlur", "p": 1.0, "blur_limit": [3, 7]},
                             {"__class_fullname__": "RandomBrightnessContrast", "p": 1.0}]}]}}


def _with_p_gain(report, value):
    plan = copy.deepcopy(report.plan)
    for listed in plan["scenarios"].values():
        for s in listed:
            s["p_gain"] = value
    return replace(report, plan=plan)


def test_every_scenario_gets_one_sentence_naming_institution_and_task(report, scenario):
    summaries = {s.scenario: s for s in scenario_summaries(report)}
    assert list(summaries) == list(SCENARIOS)
    top = scenario.plan.suggestions["architecture"][0]
    statement = scenario.statements[top.source_id]
    text = summaries["architecture"].text
    assert statement.issuer_name in text and top.task in text and "Train resnet50" in text
    assert "Chance that it helps: not estimated" in text
    # Pre-training requires its licence and terms; co-training its terms and contact.
    assert "licence CC-BY-4.0" in summaries["pretraining"].requires
    assert any("dua@example.org" in r for r in summaries["cotraining"].requires)


def test_closeness_rank_counts_all_matched_sources_not_only_planned_ones(report, scenario):
    # The bug: with closer sources left out (no card), the farthest was called "rank 1 of 1".
    farthest = [r for r in scenario.ranking if scenario.statements[r.source] is not None][-1]
    card = TaskCard.from_json(scenario.statements[farthest.source].card)
    plan = plan_transfer([Candidate(farthest.source, farthest.distance, card)])
    assert "closeness rank 1 of 1" in plan.suggestions["architecture"][0].why  # the planner alone cannot know
    built = build_report(query_name="q", query_fp=scenario.query_fp, ranking=scenario.ranking,
                         statements=scenario.statements, plan=plan, variant="small", now=NOW)
    doc = plan_document(built)
    s = doc["scenarios"]["architecture"][0]
    assert (s["closeness_rank"], s["matched_sources"]) == (farthest.rank, len(scenario.ranking))
    assert f"of {len(scenario.ranking)} matched sources" in doc["summary"]["architecture"]
    assert "Closest of" not in doc["summary"]["architecture"]


def test_planner_takes_closeness_among_all_matched_sources_from_its_caller(scenario):
    farthest = [r for r in scenario.ranking if scenario.statements[r.source] is not None][-1]
    card = TaskCard.from_json(scenario.statements[farthest.source].card)
    plan = plan_transfer([Candidate(farthest.source, farthest.distance, card)],
                         closeness={farthest.source: (farthest.rank, len(scenario.ranking))})
    assert f"closeness rank {farthest.rank} of {len(scenario.ranking)}" in plan.suggestions["architecture"][0].why


def test_left_out_sources_are_listed_with_their_reasons(report, scenario):
    doc = plan_document(report)
    left = {x["source_id"]: x for x in doc["not_suggested"]}
    ct = left[scenario.labels["ct"]]
    assert ct["institution"] == "alice" and ct["task"] == "abdominal CT"
    assert ct["reasons"] == [{"scenarios": "co-training", "reason":
                              "its card says the data cannot be shared, so co-training is not suggested"}]


def test_plan_document_names_every_suggestion_with_all_score_components(report):
    doc = plan_document(report)
    assert set(doc["summary"]) == set(SCENARIOS)
    for listed in doc["scenarios"].values():
        for s in listed:
            assert s["institution"] in ("alice", "carol") and s["task"]
            assert [c["name"] for c in s["score"]["components"]] == ["similarity", "size", "classes", "keywords"]
            assert "above our task's own floor" in s["distance"]
    assert report.plan.get("summary") is None  # the report's own plan is not changed


def test_p_gain_is_said_in_words_when_the_planner_gives_it(report):
    with_p = _with_p_gain(report, 0.7)
    assert "Helped in about 7 of 10 similar cases in the study." in scenario_summaries(with_p)[0].text
    page = render_html(with_p)
    assert "70%" in page and "helped in about 7 of 10 similar cases" in page
    assert "chance of gain 70%" in render_plan_text(with_p) and "chance of gain 70%" in render_markdown(with_p)
    # Absent or out of range: no number is invented.
    for plan_report in (report, _with_p_gain(report, 1.7), _with_p_gain(report, "high")):
        assert "Helped in about" not in scenario_summaries(plan_report)[0].text
        assert "not estimated" in render_html(plan_report)


def test_distance_evidence_is_drawn_when_present(scenario):
    first, second = scenario.ranking[0], scenario.ranking[1]
    evidence = {first.source: {"distance_floor": first.distance - 0.2, "distance_low": first.distance - 0.01,
                               "distance_high": first.distance + 0.02, "pool_percentile": 5.0},
                second.source: {"distance_low": second.distance - 0.03, "distance_high": second.distance + 0.01,
                                "tied": True, "pool_percentile": 40.0}}
    built = build_report(query_name="q", query_fp=scenario.query_fp, ranking=scenario.ranking,
                         statements=scenario.statements, plan=scenario.plan, variant="small", now=NOW,
                         evidence=evidence)
    assert built.query_floor == pytest.approx(first.distance - 0.2)
    page = render_html(built)
    dom = DOM(page)
    assert len(dom.find("span", "whisker")) == 2
    assert "tied with #1" in page and "percentile 40 of distances in the pool" in page
    assert "uncertainty" in page and "without an uncertainty estimate" not in page
    assert "tied with the closest source (within noise)" in " ".join(render_plan_text(built).split())


def test_without_distance_evidence_the_page_says_gaps_cannot_be_judged(report, scenario):
    page = render_html(report)
    assert not DOM(page).find("span", "whisker")
    assert "without an uncertainty estimate" in page
    # The floor is computed from our own fingerprint: bars start there, not at 0.
    from secfp.matching.bkld import bkld

    assert report.query_floor == pytest.approx(bkld(scenario.query_fp, scenario.query_fp, variant="small"))
    assert f"floor, bKLD {report.query_floor:.3f}" in page


def test_augmentation_policy_is_a_list_of_transforms_and_booleans_are_words(scenario):
    statements = dict(scenario.statements)
    ct = scenario.labels["ct"]
    card = card_json("abdominal CT", images=800, classes=2, modality="CT", share=True)
    card["knowledge"]["augmentation"] = {"policy": POLICY}
    card = TaskCard.from_json(card)
    plan = plan_transfer([Candidate(ct, 0.5, card)])
    built = build_report(query_name="q", query_fp=scenario.query_fp, ranking=scenario.ranking,
                         statements=statements, plan=plan, variant="small", now=NOW)
    page = render_html(built)
    offer = next(r for r in DOM(page).find("tr", "suggestion-row") if r["attrs"]["data-scenario"] == "augmentation")
    for line in ("HorizontalFlip (p = 0.5)", "OneOf (p = 0.3), of:", "GaussianBlur (blur_limit = [3, 7], p = 1)",
                 "RandomBrightnessContrast (p = 1)"):
        assert line in offer["text"], line
    assert "__class_fullname__" not in page and '{"' not in offer["text"]
    cotraining = next(r for r in DOM(page).find("tr", "suggestion-row") if r["attrs"]["data-scenario"] == "cotraining")
    assert "data may be sharedyes" in cotraining["text"] and "True" not in cotraining["text"]


def test_ids_and_digests_appear_only_inside_details(report, scenario):
    page = render_html(report)
    assert not HEX64.findall(TextOutsideDetails(page).text)
    assert scenario.query_fp.spec_id in page  # one click away, in "Our fingerprint"


def test_markdown_keeps_issuer_text_inert(report, scenario):
    # Markdown/HTML injection into an approval ticket: a card name is the issuer's text.
    text = render_markdown(report)
    assert "<script" not in text and "&lt;script&gt;alert(1)&lt;/script&gt; ultrasound" in text
    hostile = copy.deepcopy(report.plan)
    hostile["scenarios"]["architecture"][0]["offer"]["name"] = "resnet\n# Approved | [x](http://evil)"
    out = render_markdown(replace(report, plan=hostile))
    assert "\n# Approved" not in out and "[x](http" not in out and "\\# Approved \\| \\[x\\](http" in out


def test_terminal_plan_answers_first_and_replaces_control_characters(report):
    plan = copy.deepcopy(report.plan)
    plan["scenarios"]["architecture"][0]["task"] = "x"
    rows = tuple(replace(r, task="CT \u202eevil\x1b[31m") if r.task == "abdominal CT" else r for r in report.rows)
    text = render_plan_text(replace(report, rows=rows, plan=plan))
    assert text.index("Recommendation") < text.index("How close each source is") < text.index("Not suggested")
    assert "\u202e" not in text and "\x1b" not in text and "CT \ufffdevil\ufffd[31m" in text


@pytest.mark.parametrize("fg,bg", CONTRAST_PAIRS)
def test_colours_meet_wcag_aa_contrast(fg, bg):
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    hi, lo = sorted((luminance(PALETTE[fg]), luminance(PALETTE[bg])), reverse=True)
    assert (hi + 0.05) / (lo + 0.05) >= 4.5


def test_page_is_laid_out_for_a4_paper():
    assert "@page { size: A4" in CSS and "@media print" in CSS
    assert "thead { display: table-header-group; }" in CSS and "break-inside: avoid" in CSS


def test_distance_evidence_on_ranking_results_and_on_plan_suggestions_is_read(scenario):
    from dataclasses import dataclass

    from secfp.matching.ranking import MatchResult

    @dataclass(frozen=True)
    class MatchWithEvidence(MatchResult):  # the shape a matcher with uncertainty returns
        distance_ci: tuple[float, float] | None = None
        pool_percentile: float | None = None

    ranking = [MatchWithEvidence(r.source, r.distance, r.rank, (r.distance - 0.01, r.distance + 0.01), 10.0 * r.rank)
               for r in scenario.ranking]
    plan = copy.deepcopy(scenario.plan.to_json())
    top = plan["scenarios"]["architecture"][0]
    top["tied"], top["distance_floor"] = True, "not a number"  # a wrong type is left out, not fatal
    built = build_report(query_name="q", query_fp=scenario.query_fp, ranking=ranking,
                         statements=scenario.statements, plan=None, variant="small", now=NOW)
    assert all(r.evidence["distance_low"] < r.distance < r.evidence["distance_high"] for r in built.rows)
    assert [r.evidence["pool_percentile"] for r in built.rows] == [10.0, 20.0, 30.0]
    class PlanJSON:  # build_report takes any plan with to_json(); this one carries a newer planner's fields
        def to_json(self):
            return plan

    with_plan = build_report(query_name="q", query_fp=scenario.query_fp, ranking=scenario.ranking,
                             statements=scenario.statements, plan=PlanJSON(), variant="small", now=NOW)
    row = next(r for r in with_plan.rows if r.source == top["source_id"])
    assert row.evidence == {"tied": True}


def test_study_evidence_says_when_the_size_prior_was_the_better_first_choice():
    from secfp.report.summary import study_evidence

    won = study_evidence({"targets": 28, "percentile@1": 0.713, "size_only_percentile@1": 0.697,
                          "beats_size_only_share": 0.63})
    assert won == ("Evidence: in the study (28 tasks, out of fold) its first pick was at the 71st percentile of "
                   "sources, picking the smallest source at the 70th.")
    lost = study_evidence({"targets": 23, "percentile@1": 0.627, "size_only_percentile@1": 0.663,
                           "beats_size_only_share": 0.22})
    assert lost.endswith("the smallest source was the better first choice.") and "63rd" in lost and "66th" in lost
    assert study_evidence({"targets": "23", "percentile@1": 0.6}) == ""
    assert study_evidence({}) == ""


def test_every_summary_quotes_the_frozen_models_study_evidence(report, scenario):
    # The fixture's plan is the linear score (no evidence); the default planner's plan carries it.
    candidates = [Candidate(s.source_id, s.distance, TaskCard.from_json(scenario.statements[s.source_id].card))
                  for s in scenario.plan.suggestions["architecture"]]
    plan = plan_transfer(candidates, query_card=TaskCard.from_json(card_json("q", images=500, classes=2,
                                                                             modality="CT", share=False)))
    with_model = replace(report, plan=plan.to_json())
    evidence = with_model.plan["model"]["evidence"]
    summaries = [s for s in scenario_summaries(with_model) if s.source]
    assert summaries
    for summary in summaries:
        assert f"({evidence[summary.scenario]['targets']} tasks, out of fold)" in summary.confidence
    # Without a learned model (the linear score) nothing is claimed.
    assert not any("out of fold" in s.confidence for s in scenario_summaries(report))


def test_terms_shared_by_every_source_are_never_the_reason_a_source_was_chosen(report):
    plan = copy.deepcopy(report.plan)
    for listed in plan["scenarios"].values():
        for s in listed:
            s["score"]["components"] = [
                {"name": "baseline", "contribution": 5.0}, {"name": "query", "contribution": 4.0},
                {"name": "modality", "contribution": 0.5}, {"name": "similarity", "contribution": -1.0}]
    texts = [s.confidence for s in scenario_summaries(replace(report, plan=plan)) if s.source]
    assert texts and all("chosen mainly for its modality" in t for t in texts)
    assert not any("baseline" in t or "query term" in t for t in texts)


def test_where_size_alone_did_better_the_summary_names_the_smallest_source_here(report):
    plan = copy.deepcopy(report.plan)
    top = {sc: listed[0]["source_id"] for sc, listed in plan["scenarios"].items() if listed}
    scenario = next(iter(top))
    others = [r.source for r in report.rows if r.source != top[scenario] and r.verified]
    plan["model"] = {"evidence": {scenario: {"targets": 23, "percentile@1": 0.6, "size_only_percentile@1": 0.7,
                                             "beats_size_only_share": 0.1}}}
    plan["smallest_source"] = {scenario: others[0]}
    names = source_names(report)
    text = next(s for s in scenario_summaries(replace(report, plan=plan)) if s.scenario == scenario).confidence
    assert f"The smallest eligible source here is \u201c{names[others[0]].task}\u201d" in text
    plan["smallest_source"] = {scenario: top[scenario]}
    text = next(s for s in scenario_summaries(replace(report, plan=plan)) if s.scenario == scenario).confidence
    assert text.endswith("This pick is also the smallest eligible source here.")
    # Where the planner did better, no alternative is offered.
    plan["model"]["evidence"][scenario]["beats_size_only_share"] = 0.9
    text = next(s for s in scenario_summaries(replace(report, plan=plan)) if s.scenario == scenario).confidence
    assert "smallest eligible" not in text
