"""The third-party packages a command needs: each action installs only its own extra."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.parse
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
}  # the cli extra (pyproject.toml) is all of them, and act


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
    missing = [module for module in modules if not importable((module,))]
    if missing:
        raise github.ActionError("Missing packages", f"{', '.join(missing)} cannot be imported by {sys.executable}. "
                                 f"Fix: {install_command(extra)} (or the cli extra: every command's packages).")


def install_command(extra: str) -> str:
    """The one command that installs `extra` for this installation: from the folder it was installed from, from
    the package index, or, running from a checkout that is not installed, from its requirements file."""
    from importlib import metadata

    pip = f"{sys.executable} -m pip install"
    try:
        origin = json.loads(metadata.distribution("mlops-actions").read_text("direct_url.json") or "{}")
    except metadata.PackageNotFoundError:
        return f"{pip} -r {REQUIREMENTS / (extra + '.txt')}"
    if origin.get("url", "").startswith("file://"):
        folder = urllib.parse.unquote(urllib.parse.urlparse(origin["url"]).path)
        editable = "-e " if origin.get("dir_info", {}).get("editable") else ""
        return f"{pip} {editable}'{folder}[{extra}]'"
    return f"{pip} 'mlops-actions[{extra}]'"
