"""`mlops-actions init`: a commented starter mlops.yml to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_actions import config, github, paths
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("config", "Where to write it.", "mlops.yml"),
    Input("force", "Overwrite an existing file ('true' or 'false').", "false"),
]
OUTPUTS = {"config": "The file written."}


def run(inputs: Inputs) -> int:
    target = paths.writable("config", inputs["config"], Path(inputs["config"] or "mlops.yml"))
    force = inputs.flag("force")
    if target.exists() and not force:
        raise inputs.error("config", "a file that exists", "edit it, or pass --force to overwrite it")
    paths.make_folder("config", inputs["config"], target.parent)
    shutil.copyfile(config.TEMPLATES / "mlops.yml", target)
    print(f"wrote {target}: edit it, then run `mlops-actions generate`")
    github.set_output("config", target)
    return 0
