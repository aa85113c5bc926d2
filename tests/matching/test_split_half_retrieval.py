"""The paper's sanity check on real data: each task's first half finds its own second half.

Seven tasks of six modalities (CT, MR, CR, US, fundus photography, histopathology,
plus fMRI EPI), built from disjoint halves of real images shipped in the dependencies.
"""

from __future__ import annotations

import pytest

from secfp.matching.ranking import rank_sources
from secfp.sample_tasks import SAMPLE_TASKS


def test_at_least_six_tasks_of_four_modalities():
    assert len(SAMPLE_TASKS) >= 6
    assert len({t.modality for t in SAMPLE_TASKS}) >= 4


@pytest.mark.parametrize("task", [t.name for t in SAMPLE_TASKS])
def test_first_half_ranks_its_own_second_half_closest(task_fingerprints, task):
    sources = [(name, fp) for (name, half), fp in task_fingerprints.items() if half == "b"]
    ranking = rank_sources(task_fingerprints[(task, "a")], sources, variant="small")
    assert ranking[0].source == task, [(r.source, round(r.distance, 4)) for r in ranking]
