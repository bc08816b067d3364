"""Paths from inputs and mlops.yml, held to where an action may touch: a pull request can commit a symbolic
link (say `test-results -> /etc`) and the action runs as whoever runs the job.

- On a runner, a path an action reads or writes must resolve inside the workspace (GITHUB_WORKSPACE), or
  inside the state folder or another root the command names.
- Nothing is written or deleted through a symbolic link: neither the file nor a folder on the way to it.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlops_actions import github
from mlops_actions.inputs import InputError

MAX_PATH, MAX_NAME = 4096, 255  # Linux's PATH_MAX and NAME_MAX: longer is refused before any file call


def _roots(extra: tuple[Path, ...]) -> list[Path]:
    return [github.workspace(), *(Path(root).resolve() for root in extra)]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def usable(name: str, value: str, path: Path) -> Path:
    """`path` if the system can take it: not too long, in whole or in any part, and without a NUL."""
    if len(os.fsencode(path)) > MAX_PATH or any(len(os.fsencode(part)) > MAX_NAME for part in path.parts) \
            or "\0" in str(path):
        raise InputError(name, value[:200], f"not a usable path (longer than {MAX_PATH} bytes, a name longer than "
                         f"{MAX_NAME}, or a NUL)", "give a shorter path")
    return path


def confined(name: str, value: str, path: Path, *roots: Path) -> Path:
    """`path` (the input `name`'s value `value`) resolved; on a runner it must be inside the workspace or one
    of `roots`. An InputError names the input otherwise."""
    resolved = usable(name, value, path).resolve()
    if github.on_runner() and not _inside(resolved, _roots(roots)):
        raise InputError(name, value, f"resolves to {resolved}, outside the workspace "
                         f"{github.workspace()}", "give a path inside the repository (symbolic links that point "
                         "out of it are not followed)")
    return resolved


def writable(name: str, value: str, path: Path, *roots: Path) -> Path:
    """A file the action (re)writes or deletes at `path`: confined, and with no symbolic link at it or on the way
    to it (below the root that holds it, or at its last two parts when it is outside every root)."""
    path = Path(os.path.abspath(path))
    confined(name, value, path, *roots)
    holder = next((root for root in _roots(roots) if path.is_relative_to(root)), None)
    parts = path.relative_to(holder).parts if holder else path.parts[-2:]
    current = holder or path.parent.parent
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise InputError(name, value, f"{current} is a symbolic link (to {os.readlink(current)}), which a write "
                             "would follow", "write to a path without symbolic links; remove the link from the "
                             "repository")
    return path


def make_folder(name: str, value: str, folder: Path, *roots: Path) -> Path:
    """Create `folder` (and its parents) after checking that no part of it is a symbolic link."""
    writable(name, value, folder, *roots)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
