"""The third-party packages a command needs: each action installs only its own extra."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from mlops_actions import github

# requirements/<extra>.txt in a checkout of this repository, where actions run from;
# pyproject.toml builds the package's extras from the same files.
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"


def importable(modules) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in modules)


def require(extra: str, *modules: str) -> None:
    """Make `modules` importable: on a runner install the extra when one is missing, elsewhere say how."""
    if importable(modules):
        return
    requirements = REQUIREMENTS / f"{extra}.txt"
    if github.on_runner() and requirements.is_file():
        with github.group(f"Installing the {extra} requirements into {sys.executable}"):
            subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                            "-r", str(requirements)], check=False)
        importlib.invalidate_caches()
    if not importable(modules):
        raise github.ActionError(
            "Missing packages",
            f"{', '.join(modules)} cannot be imported by {sys.executable}. "
            f"Fix: pip install 'mlops-actions[{extra}]' in that environment.")
