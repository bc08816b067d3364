"""`mlops-actions hook`: what the pre-commit hooks run (.pre-commit-hooks.yaml), the pull-request workflow's
lint over the folders mlops.yml names (project.source and project.tests, with its flake8-config); without an
mlops.yml, over the whole project. Virtual environments, build and cache folders are never linted (lint.py)."""

from __future__ import annotations

from pathlib import Path

from mlops_actions import config as project_config, environment, lint, paths
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("name", "The hook to run: 'lint' (flake8, as the pull-request workflow runs it).", "lint",
          choices=("lint",)),
    Input("config", "The project's config file, whose project.source, project.tests and project.flake8-config "
          "are linted and used; when there is none, the whole project with its own flake8 configuration.",
          "mlops.yml"),
]
OUTPUTS = lint.OUTPUTS


def lint_inputs(inputs: Inputs) -> Inputs:
    """The lint job's inputs: from mlops.yml when there is one (its keys named in errors), else the defaults."""
    config_path = paths.confined("config", inputs["config"], Path(inputs["config"] or "mlops.yml"))
    values = {spec.name: spec.default for spec in lint.INPUTS}
    if not config_path.is_file():
        return Inputs(lint.INPUTS, values)
    environment.require("generate", ("jsonschema", "yaml"))
    project = project_config.load(config_path)["project"]
    folder = config_path.parent
    values.update({"working-directory": str(folder), "paths": f"{project['source']} {project['tests']}",
                   "flake8-config": project["flake8-config"]})
    return Inputs(lint.INPUTS, values, labels={
        "working-directory": f"the folder of {config_path.name}",
        "paths": f"{config_path.name}'s project.source and project.tests",
        "flake8-config": f"{config_path.name}'s project.flake8-config"})


def run(inputs: Inputs) -> int:
    inputs.choice("name")
    return lint.run(lint_inputs(inputs))
