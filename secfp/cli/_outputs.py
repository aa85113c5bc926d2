"""Output paths are checked before any work: never overwrite silently, never fail after the run.

:func:`check_output` runs first in every command that writes a file given by
the user (``-o``, ``--html``, ``--plot``): an existing file is refused unless
``--force``; a folder, or a path whose parent folder does not exist, is refused
outright. All are usage errors (exit 2), raised before anything is read or
computed.
"""

from __future__ import annotations

from pathlib import Path

from secfp.errors import UsageError

__all__ = ["check_output"]


def check_output(path: Path | None, *, force: bool, option: str = "-o") -> Path | None:
    """Return ``path`` if a file may be written there now; raise :class:`UsageError` otherwise.

    Does not create anything and does not check write permission (the atomic
    write reports that as bad input when it happens).
    """
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder: give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: folder {parent} does not exist")
    if path.exists() or path.is_symlink():
        if not force:
            raise UsageError(f"{option} {path} exists: pass --force to overwrite it")
    return path
