"""A tiny, hand-checkable transfer study folder, and where the real one lives.

Tasks: dev ``t1`` (100 images), ``t2`` (1000), ``t3`` (10000) and ``t4`` (500), where
``t3`` and ``t4`` share images (group ``g``); val ``v1`` (300). Experiment
``architecture_BA_800`` has targets ``t1`` (shrunk: ``t1@800`` column, 800 baseline) and
``t3`` (not shrunk: full column, full baseline), two seeds each.

For ``t1`` the valid sources are t2, t3, t4; mean scores t2 0.80, t3 0.60, t4 0.70;
mean 800-image baseline 0.65. ``bkld_small`` on ``t1@800``: t3 0.1 < t4 0.2 < t2 0.3.
"""

from __future__ import annotations

import os
from pathlib import Path

TASKS = """name,num_classes,num_samples,domains,keywords,datasets,split,group
t1,2,100,x_ray,"['x_ray', 'chest', 'medical']",d1,dev,
t2,3,1000,x_ray,"['x_ray', 'medical']",d2,dev,
t3,2,10000,ct_scan,"['ct_scan', 'medical']",d3,dev,g
t4,4,500,ct_scan,"['ct_scan']",d3,dev,g
v1,2,300,mri_scan,"['mri_scan', 'medical']",d5,val,
"""

GROUPS = '{"g": ["t3", "t4"]}'

# Rows are sources, columns targets. The t1 column (full size) deliberately ranks the other way.
BKLD_SMALL = """,t1,t1@800,t3,v1
t1,0.0,0.05,0.5,0.4
t2,0.1,0.3,0.2,0.3
t3,0.2,0.1,0.0,0.2
t4,0.3,0.2,0.1,0.1
v1,0.9,0.9,0.9,0.0
"""

OTHER = """,t1,t1@800,t3,v1
t1,0.0,0.0,0.7,0.4
t2,0.6,0.6,0.1,0.3
t3,0.4,0.4,0.0,0.2
t4,0.5,nan,0.2,0.1
v1,0.9,0.9,0.9,0.0
"""

ARCH_BA_800 = """seed,source,target,score
0,t2,t1,0.78
1,t2,t1,0.82
0,t3,t1,0.58
1,t3,t1,0.62
0,t4,t1,0.70
1,t4,t1,0.70
0,t1,t3,0.90
1,t1,t3,0.90
0,t2,t3,0.50
1,t2,t3,0.70
"""

BASELINE_BA_800 = """seed,t1
0,0.64
1,0.66
"""

BASELINE_BA_FULL = """seed,t1,t3
0,0.90,0.55
1,0.90,0.65
"""

FILES = {
    "tasks.csv": TASKS,
    "groups.json": GROUPS,
    "distances/bkld_small.csv": BKLD_SMALL,
    "distances/other.csv": OTHER,
    "outcomes/architecture_BA_800.csv": ARCH_BA_800,
    "outcomes/baseline_BA_800.csv": BASELINE_BA_800,
    "outcomes/baseline_BA_full.csv": BASELINE_BA_FULL,
}


def make_study(root: Path, **changes: str | None) -> Path:
    """Write the tiny study under ``root``; ``changes`` maps a file (``/`` as ``__``) to new text or None."""
    files = dict(FILES)
    for key, text in changes.items():
        name = key.replace("__", "/")
        if text is None:
            files.pop(name, None)
        else:
            files[name] = text
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def real_study_path() -> Path:
    """The study's development split vendored in ``tests/data`` (MIT, licence beside it), or ``$SECFP_TRANSFER_DATA``."""
    override = os.environ.get("SECFP_TRANSFER_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1] / "data" / "paper-transfer-dev"
