"""The pull-request check: lint, then unit tests, in one step; both always run."""

from __future__ import annotations

from dataclasses import replace

from mlops_actions import github, lint, unit_test
from mlops_actions.inputs import Input, Inputs

# Both jobs take `paths`; here they are told apart. Every other input keeps its name.
RENAMED = {lint: {"paths": "lint-paths"}, unit_test: {"paths": "test-paths"}}


def _inputs() -> list[Input]:
    declared = {"working-directory": Input("working-directory", "Folder to run flake8 and pytest in, relative to the "
                                           "repository root; they find their configuration from here.", ".")}
    for job, renamed in RENAMED.items():
        for spec in job.INPUTS:
            name = renamed.get(spec.name, spec.name)
            declared.setdefault(name, replace(spec, name=name))
    return list(declared.values())


INPUTS = _inputs()
OUTPUTS = {**lint.OUTPUTS, **unit_test.OUTPUTS}


def job_inputs(job, inputs: Inputs) -> Inputs:
    """This check's inputs under the names `job` knows them by."""
    renamed = RENAMED[job]
    values = {spec.name: inputs[renamed.get(spec.name, spec.name)] for spec in job.INPUTS}
    return Inputs(job.INPUTS, values, labels=renamed)


def run(inputs: Inputs) -> int:
    """Run lint and unit tests; fail when either failed, after both have reported. Exit codes as for one
    job: 1 a check failed, 2 bad input or a tool that could not run (the worse of the two)."""
    worst = 0
    for job in RENAMED:
        try:
            worst = max(worst, job.run(job_inputs(job, inputs)))
        except github.ActionError as exc:  # reported here, so that the other job still runs
            exc.report()
            worst = 2
    return worst
