"""Task-card filtering: what export applies and ``--dry-run`` shows.

Attack class: over-release through metadata. A card field that identifies patients
or internal systems rides along with an otherwise harmless fingerprint.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secfp.governance import CardRules, card_field_paths, filter_card

RULES = CardRules(allow=("task", "modality", "dataset"), never=("patient_ids", "dataset.site"))

CARD = {
    "task": "pneumothorax classification",
    "modality": "CR",
    "patient_ids": ["P001", "P002"],
    "notes": "ask Bob for the PACS password",
    "dataset": {"name": "chest-2024", "site": {"building": "B7", "pacs": "10.0.0.3"}, "size": 1200},
}


def test_filter_keeps_allowed_fields_and_withholds_the_rest():
    result = filter_card(CARD, RULES)
    assert result.released == {
        "task": "pneumothorax classification",
        "modality": "CR",
        "dataset": {"name": "chest-2024", "size": 1200},
    }
    assert result.withheld == ("dataset.site.building", "dataset.site.pacs", "notes", "patient_ids")


def test_filter_does_not_modify_its_input():
    before = copy.deepcopy(CARD)
    filter_card(CARD, RULES)
    assert CARD == before


def test_filtered_card_passes_the_card_rule():
    released = filter_card(CARD, RULES).released
    assert all(RULES.why_withheld(path) is None for path in card_field_paths(released))


def test_never_list_matches_regardless_of_case():
    # Attack: "Patient_IDs" instead of "patient_ids".
    rules = CardRules(allow=("task", "record"), never=("record.patient_ids",))
    result = filter_card({"record": {"Patient_IDs": [1], "date": "2024"}, "task": "x"}, rules)
    assert result.released == {"record": {"date": "2024"}, "task": "x"}
    assert result.withheld == ("record.Patient_IDs",)


def test_key_with_a_dot_never_leaves():
    # Attack: a literal key "dataset.name" that would read as an allowed path.
    result = filter_card({"dataset.name": "x", "dataset": {"name": "y"}}, RULES)
    assert result.released == {"dataset": {"name": "y"}}
    assert result.withheld == ("dataset.name",)


def test_without_card_rules_nothing_leaves():
    result = filter_card(CARD, CardRules())
    assert result.released == {}
    assert len(result.withheld) == len(card_field_paths(CARD))


def test_allow_entry_hidden_by_a_never_entry_is_a_policy_error():
    with pytest.raises(ValueError, match="withheld anyway by never entry 'Dataset'"):
        CardRules(allow=("dataset.name",), never=("Dataset",))


def test_card_field_paths_lists_leaves():
    assert card_field_paths(CARD) == (
        "dataset.name",
        "dataset.site.building",
        "dataset.site.pacs",
        "dataset.size",
        "modality",
        "notes",
        "patient_ids",
        "task",
    )


_keys = st.sampled_from(["task", "modality", "dataset", "site", "patient_ids", "Patient_IDs", "name", "a.b", "notes"])
_cards = st.recursive(
    st.one_of(st.integers(), st.text(max_size=3)),
    lambda children: st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
).filter(lambda v: isinstance(v, dict))


@settings(max_examples=200, deadline=None)
@given(_cards)
def test_no_withheld_field_is_ever_released(card):
    # Invariant: whatever the card, every released leaf is allowed and none is on the never-list.
    result = filter_card(card, RULES)
    for path in card_field_paths(result.released):
        assert RULES.why_withheld(path) is None, path
        assert not path.casefold().startswith(("patient_ids", "dataset.site"))
    assert filter_card(result.released, RULES).released == result.released
