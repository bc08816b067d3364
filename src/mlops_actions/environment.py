"""The third-party packages a command needs: each action installs only its own extra."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from mlops_actions import github

# requirements/<extra>.txt in a checkout of this repository, where actions run from: ranges, from which
# pyproject.toml builds the package's extras; requirements/locked/<extra>.txt: what an action installs on a
# runner, exact versions with hashes (scripts/lock compiles them from the ranges).
REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
# What each extra must make importable.
MODULES = {
    "lint": ("flake8",),
    "test": ("pytest", "pytest_cov"),
    "local": ("mlflow", "sqlalchemy", "alembic", "yaml", "gunicorn", "azureml_inference_server_http", "psutil"),
    "azureml": ("azure.ai.ml", "azure.identity", "yaml"),
    "schema": ("jsonschema",),
    "generate": ("jinja2", "jsonschema", "yaml"),
    "monitor": ("numpy", "pandas", "scipy", "matplotlib"),
}


def importable(modules) -> bool:
    try:
        return all(importlib.util.find_spec(module) is not None for module in modules)
    except ModuleNotFoundError:  # a parent package of a dotted name (azure of azure.ai.ml) is missing
        return False


def require(extra: str, modules: tuple[str, ...] | None = None) -> None:
    """Make the extra's modules importable: on a runner install the extra when one is missing, elsewhere
    say how."""
    modules = MODULES[extra] if modules is None else modules
    if importable(modules):
        return
    locked = REQUIREMENTS / "locked" / f"{extra}.txt"
    if github.on_runner() and locked.is_file():
        with github.group(f"Installing the {extra} requirements into {sys.executable}"):
            subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                            "--require-hashes", "-r", str(locked)], check=False)
        importlib.invalidate_caches()
    if not importable(modules):
        raise github.ActionError(
            "Missing packages",
            f"{', '.join(modules)} cannot all be imported by {sys.executable}. "
            f"Fix: pip install 'mlops-actions[{extra}]' in that environment.")
