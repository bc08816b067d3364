"""Copying a project's files, as git sees them: what the project tracks or would track, never `.git` itself,
nor what it ignores (a virtual environment, caches, reports)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def copy_files(source: Path, target: Path) -> Path:
    """Copy the files of `source` to `target`: in a git working tree its tracked and untracked files, not the
    ignored ones; elsewhere every file but `.git`. Symbolic links are copied as links, never followed."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z", "."], cwd=source,
                            capture_output=True, text=True)
    if listed.returncode != 0:  # not a git working tree
        shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git"), dirs_exist_ok=True)
        return target
    for name in filter(None, listed.stdout.split("\0")):
        path = source / name
        if path.is_file() or path.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / name, follow_symlinks=False)
    return target
