"""Task cards: free-form TOML carried as JSON."""

from __future__ import annotations

import pytest

from secfp.errors import BadInput
from secfp.exchange import load_task_card


def test_task_card_dates_become_iso_strings(tmp_path):
    path = tmp_path / "task.toml"
    path.write_text('title = "Lung nodules"\ncollected = 2024-03-01\n[labels]\nclasses = ["benign", "malignant"]\nsize = 1.5\n')
    assert load_task_card(path) == {"title": "Lung nodules", "collected": "2024-03-01", "labels": {"classes": ["benign", "malignant"], "size": 1.5}}


@pytest.mark.parametrize("text", ["x = nan\n", "x = inf\n", "x = = 1\n", "x = 1\nx = 2\n"])
def test_bad_task_cards_are_refused(tmp_path, text):
    path = tmp_path / "task.toml"
    path.write_text(text)
    with pytest.raises(BadInput):
        load_task_card(path)
