"""Options every command spells the same way: ``--json``, ``--force``, ``--trust`` (``--store``), ``--strict``.

Commands import these instead of declaring their own, so a script that works
with one command's option works with every other command's (README,
"Automation"). Flags are declared with ``is_flag`` semantics (plain ``bool``),
so help shows no ``<bool>`` placeholder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["JsonOption", "ForceOption", "TrustOption", "StrictOption", "JSON_FLAG"]

#: The flag the top-level error handler looks for to answer failures in JSON too.
JSON_FLAG = "--json"

JsonOption = Annotated[bool, typer.Option(JSON_FLAG, help="Print exactly one JSON document on stdout, also on failure.")]
ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")]
TrustOption = Annotated[Optional[Path], typer.Option(
    "--trust", "--store", help="Trust store folder (default: $SECFP_HOME/trust); --store is an alias.")]
StrictOption = Annotated[bool, typer.Option(
    "--strict", help="Fail (exit 3) if any input file is unreadable or any image cannot be decoded.")]
