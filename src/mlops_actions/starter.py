"""`mlops-actions init`: a commented starter mlops.yml to edit, for the Python that runs it, with the comment
that lets editors check it against the schema."""

from __future__ import annotations

import sys
from pathlib import Path

from mlops_actions import config, github, paths
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("config", "Where to write it.", "mlops.yml"),
    Input("force", "Overwrite an existing file ('true' or 'false').", "false"),
]
OUTPUTS = {"config": "The file written."}
TEMPLATE_PYTHON = 'python: "3.12"'  # the template's line, replaced by the running Python's version


def starter() -> str:
    """templates/mlops.yml with the running Python's major.minor."""
    text = (config.TEMPLATES / "mlops.yml").read_text()
    if TEMPLATE_PYTHON not in text:
        raise AssertionError(f"templates/mlops.yml has no line {TEMPLATE_PYTHON!r}")  # a bug in the template
    return text.replace(TEMPLATE_PYTHON, f'python: "{sys.version_info.major}.{sys.version_info.minor}"', 1)


def run(inputs: Inputs) -> int:
    target = paths.writable("config", inputs["config"], Path(inputs["config"] or "mlops.yml"))
    force = inputs.flag("force")
    if target.exists() and not force:
        raise inputs.error("config", "a file that exists", "edit it, or pass --force to overwrite it")
    paths.make_folder("config", inputs["config"], target.parent)
    target.write_text(starter())
    print(f"wrote {target}: edit it, then run `mlops-actions generate`")
    github.set_output("config", target)
    return 0
