"""Loading a transfer study folder: the protocol rules, and malformed folders rejected with a reason."""

from __future__ import annotations

import pytest
from transfer_helpers import ARCH_BA_800, TASKS, make_study

from secfp.errors import BadInput
from secfp.evaluation.study import (
    SCENARIOS,
    baseline,
    distance_column,
    load_transfer_study,
    valid_sources,
)


def test_real_study_loads_with_the_documented_shape(real_study):
    assert len(real_study.tasks) == 71
    assert sum(t.split == "dev" for t in real_study.tasks.values()) == 28
    assert sorted(real_study.distances) == ["bkld_large", "bkld_small", "fed", "fid", "manual", "p2l", "sinkhorn",
                                            "vdna"]
    assert {e.scenario for e in real_study.experiments.values()} == set(SCENARIOS)
    assert len(real_study.experiment("pretraining", "BA", "800").scores) == 23
    assert "pretraining_BA_full" not in real_study.experiments


def test_dev_target_draws_only_on_dev_tasks_outside_its_image_group(real_study):
    sources = valid_sources(real_study, "cholec80_hook_presence")
    assert len(sources) == 20
    assert not any(s.startswith("cholec80") for s in sources)
    assert "lapgyn4_instrument_count" not in sources  # shares images with cholec80
    assert all(real_study.tasks[s].split == "dev" for s in sources)
    assert len(valid_sources(real_study, "svhn")) == 27


def test_val_target_draws_on_all_tasks_but_itself_and_its_group(real_study):
    sources = valid_sources(real_study, "chexpert_edema")
    assert len(sources) == 71 - 13
    assert "svhn" in sources and "pneumonia_classification" in sources
    assert not any(s.startswith("chexpert") for s in sources)


def test_val_rule_on_a_hand_built_folder(tiny_study):
    assert valid_sources(tiny_study, "v1") == ("t1", "t2", "t3", "t4")
    assert valid_sources(tiny_study, "t1") == ("t2", "t3", "t4")
    assert valid_sources(tiny_study, "t3") == ("t1", "t2")


def test_shrunk_targets_use_the_800_column_and_baseline_where_they_exist(tiny_study):
    table = tiny_study.distances["bkld_small"]
    assert distance_column(table, "t1", shrunk=True) == "t1@800"
    assert distance_column(table, "t1", shrunk=False) == "t1"
    assert distance_column(table, "t3", shrunk=True) == "t3"
    exp = tiny_study.experiment("architecture", "BA", "800")
    assert dict(exp.baselines["t1"]) == {0: 0.64, 1: 0.66}
    assert dict(exp.baselines["t3"]) == {0: 0.55, 1: 0.65}  # not shrinkable: the full baseline
    assert dict(exp.scores["t1"]["t2"]) == {0: 0.78, 1: 0.82}


def test_baseline_missing_for_a_target_is_an_error():
    with pytest.raises(BadInput, match="no baseline_BA_800 or full column for target 't9'"):
        baseline({}, "BA", "t9", shrunk=True)


def _with_column(tasks: str, column: str, first_value: str) -> str:
    """``tasks`` with one more column, ``first_value`` in the first task's row and empty elsewhere."""
    lines = tasks.strip("\n").split("\n")
    return "\n".join([lines[0] + "," + column, lines[1] + "," + first_value, *(x + "," for x in lines[2:])]) + "\n"


def test_optional_imbalance_and_resolution_columns_are_read_where_present(tmp_path):
    text = _with_column(_with_column(_with_column(TASKS, "imbalance_ratios", "4.0"), "min_resolution", "100"),
                        "max_resolution", "400")
    study = load_transfer_study(make_study(tmp_path / "study", **{"tasks.csv": text}))
    assert study.tasks["t1"].imbalance_ratio == 4.0 and study.tasks["t1"].image_pixels == 200.0
    assert study.tasks["t2"].imbalance_ratio is None and study.tasks["t2"].image_pixels is None


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"tasks.csv": None}, "missing study file .*tasks.csv"),
        ({"tasks.csv": TASKS.replace("split,group", "splitt,group")}, r"missing columns \['split'\]"),
        ({"tasks.csv": TASKS.replace("t2,3,1000", "t2,3,many")}, "num_samples: 'many' is not an integer"),
        ({"tasks.csv": TASKS.replace(",dev,\n", ",test,\n", 1)}, "split must be 'dev' or 'val'"),
        ({"tasks.csv": TASKS + "t1,2,100,x,\"[]\",d,dev,\n"}, "task 't1' listed twice"),
        ({"tasks.csv": _with_column(TASKS, "imbalance_ratios", "-2")}, "imbalance_ratios must be a positive number"),
        ({"tasks.csv": _with_column(TASKS, "max_resolution", "big")}, "max_resolution: 'big' is not"),
        ({"tasks.csv": TASKS.replace("\"['ct_scan']\"", "\"__import__('os')\"")}, "not a list of strings"),
        ({"groups.json": '{"g": ["t3"]}'}, "tasks.csv says 't4' is in group 'g'"),
        ({"groups.json": '{"g": ["t3", "t4"], "g": []}'}, "duplicate key"),
        ({"groups.json": '{"g": ["t3", "t4", "nope"]}'}, "unknown task 'nope'"),
        ({"distances__bkld_small.csv": ",t1,zz\nt1,0,0\n"}, "column 'zz' is not a task"),
        ({"distances__bkld_small.csv": ",t1\nt1,0\nt2,inf\n"}, "'inf' is not a finite number"),
        ({"distances__Bad-Name.csv": ",t1\nt1,0\n"}, "measure names are lower-case"),
        ({"outcomes__architecture_BA_800.csv": ARCH_BA_800 + "0,t4,t3,0.5\n1,t4,t3,0.5\n"},
         r"sources of target 't3' do not match the valid sources \(not allowed: \['t4'\]"),
        ({"outcomes__architecture_BA_800.csv": ARCH_BA_800.replace("1,t4,t1,0.70\n", "")},
         r"t4 -> t1 has seeds \[0\], baseline has \[0, 1\]"),
        ({"outcomes__architecture_BA_800.csv": ARCH_BA_800 + "0,t2,t1,0.5\n"}, "seed 0 for t2 -> t1 repeated"),
        ({"outcomes__architecture_BA_800.csv": ARCH_BA_800.replace("0.78", "nan")}, "'nan' is not a finite number"),
        ({"outcomes__architecture_BA_800.csv": "seed,src,target,score\n"}, "header must be seed,source,target,score"),
        ({"outcomes__baseline_BA_full.csv": None}, "no baseline_BA_800 or full column for target 't3'"),
        ({"outcomes__finetune_BA_800.csv": "seed,source,target,score\n"}, "unknown scenario 'finetune'"),
        ({"outcomes__notes.csv": "x\n"}, "expected <scenario>_<metric>_<800|full>.csv"),
        ({"distances__other.csv": ",t1,t1@800\nt1,0,0\nt2,1,1\nt3,1,1\nt4,1,1\n"},
         "distances/other.csv has no column for target 't3'"),
    ],
)
def test_malformed_study_is_rejected_with_a_reason(tmp_path, changes, match):
    root = make_study(tmp_path / "study", **changes)
    with pytest.raises(BadInput, match=match):
        load_transfer_study(root)


def test_missing_folder_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        load_transfer_study(tmp_path / "nope")
