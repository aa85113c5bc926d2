"""The README's main job: examples/walkthrough.sh runs end to end on real images (small n)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_walkthrough_runs_end_to_end(tmp_path, torch_home):
    env = dict(os.environ, SAMPLES="60", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               TORCH_HOME=str(torch_home), COLUMNS="200")
    out = tmp_path / "wt"
    result = subprocess.run(["bash", str(REPO / "examples" / "walkthrough.sh"), str(out)], env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "exit code: 5" in result.stdout  # the refused public export
    assert result.stdout.count("chain intact") == 4
    assert "Recommendation" in result.stdout and "Co-training:" in result.stdout
    html = (out / "newcomer" / "report.html").read_text()
    assert "radboud" in html and "<script" not in html.lower()
