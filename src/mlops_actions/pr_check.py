"""The pull-request check: lint, then unit tests, in one step; both always run."""

from __future__ import annotations

from dataclasses import replace

from mlops_actions import github, lint, unit_test
from mlops_actions.inputs import Input, Inputs

# Both jobs take `paths`; here they are told apart. Every other input keeps its name.
RENAMED = {lint: {"paths": "lint-paths"}, unit_test: {"paths": "test-paths"}}


def _inputs() -> list[Input]:
    declared = {}
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
    """Run lint and unit tests; fail when either failed, after both have reported."""
    failed = False
    for job in RENAMED:
        try:
            failed |= job.run(job_inputs(job, inputs)) != 0
        except github.ActionError as exc:  # reported here, so that the other job still runs
            exc.report()
            failed = True
    return int(failed)
