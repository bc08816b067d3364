"""`mlops-actions <command>`: what each action runs, and what a person runs at a terminal.

Each command's inputs come from `--flags`, else from the INPUT_* variables its action sets, else from
their defaults. A command's module is imported only when that command runs, so start-up stays fast.
Exit codes: 0 passed, 1 the check failed, 2 bad input or the tool could not run, 3 a bug in mlops-actions
(an unexpected exception: one annotation saying so, the traceback in a log group), 130 interrupted (Ctrl-C,
or a cancelled job's SIGTERM: what was being started is stopped first).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import signal
import sys
import textwrap
import traceback
from typing import Any

from mlops_actions import __version__, github
from mlops_actions.inputs import Inputs

# command -> (module, one line of help)
COMMANDS = {
    "lint": ("lint", "Lint with flake8; each violation becomes an annotation."),
    "unit-test": ("unit_test", "Run pytest with JUnit XML and coverage; each failure becomes an annotation."),
    "pr-check": ("pr_check", "Lint, then unit tests; both always run."),
    "train": ("train", "Run the training on the runner (tracked in MLflow) or as an Azure ML command job."),
    "register-model": ("register", "Check a metrics gate and register a model version (idempotent)."),
    "promote-model": ("promote", "Copy a model version into a registry or another workspace (idempotent)."),
    "compare-model": ("compare", "Compare a pull request's model with the one production serves, on the pull request."),
    "deploy-endpoint": ("deploy", "Deploy a model version to an online endpoint beside the live one, at 0%."),
    "shift-traffic": ("traffic", "Move an endpoint's traffic between deployments; retire the idle ones."),
    "smoke-test": ("smoke", "Send real requests to an endpoint, assert the answers and latency; roll back."),
    "invoke": ("invoke", "Send one request to an endpoint; print the answer and the deployment that gave it."),
    "monitor": ("monitor", "Compare what an endpoint served with its training data (PSI, KS), and its health."),
    "endpoints": ("endpoints", "List or stop the local backend's endpoints, or print one's key."),
    "setup": ("setup", "Check (or --apply: create) what the workflows need, with the exact fix for each gap."),
    "init": ("starter", "Write a starter mlops.yml, the config the workflows are generated from."),
    "schema": ("schema", "Print (or --output: write) mlops.yml's JSON Schema, for editors to check it with."),
    "generate": ("generate", "Write the pull-request, CI and CD workflows from mlops.yml (--check: compare)."),
    "local": ("local_run", "Run the project's generated workflows on this machine through act (local backend)."),
    "hook": ("hooks", "What the pre-commit hooks run: lint over the folders mlops.yml names."),
}


def command_parser(name: str, job) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"mlops-actions {name}", description=COMMANDS[name][1],
        epilog="Each --option can also be set as the INPUT_<NAME> environment variable, as the action does.")
    for spec in job.INPUTS:
        default = f" (default: {spec.default!r})" if spec.default else ""
        switch: dict[str, Any] = {"nargs": "?", "const": "true"} if spec.default in ("true", "false") else {}
        parser.add_argument(f"--{spec.name}", dest=spec.name, metavar="VALUE", help=spec.description + default,
                            **switch)
    return parser


def command_list() -> str:
    """The commands and what each does: names in a column of their own, descriptions wrapped to the terminal."""
    width = max(map(len, COMMANDS)) + 4
    columns = max(shutil.get_terminal_size().columns, width + 30)
    lines = ["commands:"]
    for name, (_, text) in COMMANDS.items():
        wrapped = textwrap.wrap(text, columns - width - 1) or [""]
        lines.append(f"  {name:<{width - 2}}{wrapped[0]}")
        lines += [" " * width + rest for rest in wrapped[1:]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    top = argparse.ArgumentParser(
        prog="mlops-actions", description="Reusable MLOps steps for GitHub Actions and your terminal.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=command_list())
    top.add_argument("--version", action="version", version=f"mlops-actions {__version__}")
    top.add_argument("command", choices=COMMANDS, metavar="command", help="one of: " + ", ".join(COMMANDS))
    top.add_argument("options", nargs=argparse.REMAINDER, help="the command's options (see COMMAND --help)")
    args = top.parse_args(argv)

    github.track_stdout()
    job = importlib.import_module(f"mlops_actions.{COMMANDS[args.command][0]}")
    flags = vars(command_parser(args.command, job).parse_args(args.options))
    signal.signal(signal.SIGTERM, interrupted)  # a cancelled job: clean up as after Ctrl-C
    try:
        return job.run(Inputs.read(job.INPUTS, flags))
    except github.ActionError as exc:
        exc.report()
        return 2
    except KeyboardInterrupt:
        github.end_line()
        github.warning(f"mlops-actions {args.command} was interrupted; what it had started was stopped.",
                       title="Interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - anything else is a bug, and says so
        github.end_line()
        with github.group("Traceback"):
            traceback.print_exc(file=sys.stdout)
        github.error(f"mlops-actions {args.command} stopped on an unexpected {type(exc).__name__}: {exc}. This is a "
                     "bug in mlops-actions: please report it with the traceback above.", title="Bug in mlops-actions")
        return 3


def interrupted(signum, frame):
    raise KeyboardInterrupt
