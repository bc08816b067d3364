"""`mlops-actions schema`: mlops.yml's JSON Schema, for an editor that cannot fetch it (offline, a private fork):
written beside mlops.yml, its first line `# yaml-language-server: $schema=mlops.schema.json` points at it."""

from __future__ import annotations

from pathlib import Path

from mlops_actions import config, github, paths
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("output", "The file to write it to, e.g. mlops.schema.json (relative paths in the $schema comment are "
          "relative to mlops.yml). Empty: print it."),
]
OUTPUTS = {"schema": "The file written (empty when printed)."}


def run(inputs: Inputs) -> int:
    text = config.SCHEMA.read_text()
    if not inputs["output"]:
        print(text, end="")
        return 0
    target = paths.writable("output", inputs["output"], Path(inputs["output"]))
    if target.is_dir():
        raise inputs.error("output", "a folder", "give a file name, e.g. mlops.schema.json")
    paths.make_folder("output", inputs["output"], target.parent)
    target.write_text(text)
    print(f"wrote {target}")
    github.set_output("schema", target)
    return 0
