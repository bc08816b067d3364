"""The lint job: flake8 over the project, every violation an annotation on its line."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mlops_actions import environment, github
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("working-directory", "Folder to run flake8 in, relative to the repository root; flake8 finds "
          "its configuration (.flake8, setup.cfg, tox.ini) here.", "."),
    Input("paths", "Files or folders to lint, relative to working-directory, separated by spaces or new "
          "lines.", "."),
    Input("flake8-config", "A flake8 configuration file to use instead of the one flake8 finds, relative to "
          "working-directory. Empty: the project's own."),
    Input("max-line-length", "Maximum line length, overriding the configuration. Empty: the configuration's "
          "(flake8's default is 79)."),
    Input("flake8-args", "More flake8 arguments, e.g. '--select E,F,W --extend-ignore E203'."),
    Input("fail-on-violations", "Fail the step when there are violations ('true'); 'false' only reports "
          "them.", "true"),
]
OUTPUTS = {
    "violations": "Number of flake8 violations.",
}

SEPARATOR = "\t"
FORMAT = SEPARATOR.join(["%(path)s", "%(row)d", "%(col)d", "%(code)s", "%(text)s"])
DETAILS_LIMIT = 200  # rows of the summary's full list; annotations are never capped by us
# never the project's own code, whatever its flake8 configuration says, added to its excludes (flake8's own
# default, .git, __pycache__, .tox, ..., stays); so are virtual environments by any name (a pyvenv.cfg in them)
SKIPPED_FOLDERS = (".venv", "venv", ".tox", ".nox", ".eggs", "node_modules", "site-packages", "__pypackages__",
                   "build", "dist")


@dataclass(frozen=True)
class Violation:
    path: str  # relative to the workspace, as annotations want it
    line: int
    col: int
    code: str
    text: str


def parse(output: str, base: Path) -> tuple[list[Violation], list[str]]:
    """flake8 lines in FORMAT -> violations; anything else flake8 printed is returned as is."""
    violations, other = [], []
    for row in output.splitlines():
        fields = row.split(SEPARATOR, 4)
        if len(fields) == 5 and fields[1].isdigit() and fields[2].isdigit():
            path, line, col, code, text = fields
            violations.append(Violation(github.relative_to_workspace(path, base), int(line), int(col), code, text))
        elif row.strip():
            other.append(row)
    return violations, other


def virtual_environments(base: Path) -> list[str]:
    """Folders up to two levels under `base` that are virtual environments (env/, .venv-3.12/, ...)."""
    found = [*base.glob("*/pyvenv.cfg"), *base.glob("*/*/pyvenv.cfg")]
    return sorted(str(path.parent.resolve()) for path in found)


def flake8(options: list[str], paths: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run flake8 in this process (a second interpreter would cost more than the linting of a small
    project), in `cwd`, where it finds the project's config; returns (exit code, report, messages)."""
    from flake8.main.application import Application

    skipped = (*SKIPPED_FOLDERS, *virtual_environments(cwd))

    class Skipping(Application):
        """flake8 with SKIPPED_FOLDERS added to the excludes the project's configuration and options give (an
        --extend-exclude option would replace the configuration's)."""

        def make_file_checker_manager(self, argv):
            super().make_file_checker_manager(argv)
            self.file_checker_manager.exclude = (*self.file_checker_manager.exclude, *skipped)

    application, messages, previous = Skipping(), io.StringIO(), os.getcwd()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder, "report")
        try:
            os.chdir(cwd)
            with contextlib.redirect_stdout(messages), contextlib.redirect_stderr(messages):
                # no "--" before the paths: flake8's two-pass parsing mistakes options for paths after it
                safe = [f"./{path}" if path.startswith("-") else path for path in paths]
                application.run([*options, f"--output-file={report}", *safe])
            code = application.exit_code()
        except SystemExit as exc:  # flake8's own argument errors
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception as exc:  # noqa: BLE001 - a config flake8 cannot parse, a plugin that crashed: flake8's
            code = 2
            print(f"{type(exc).__name__}: {exc}", file=messages)
        finally:
            os.chdir(previous)
        return code, report.read_text() if report.is_file() else "", messages.getvalue()


def summary(violations: list[Violation], paths: list[str], failing: bool) -> str:
    if not violations:
        return f"### ✅ flake8: no violations\nLinted: `{' '.join(paths)}`"
    icon = "❌" if failing else "⚠️"
    files = Counter(v.path for v in violations)
    codes = Counter(v.code for v in violations)
    example: dict[str, str] = {}
    for v in violations:
        example.setdefault(v.code, v.text)
    parts = [
        f"### {icon} flake8: {len(violations)} violation{'s' * (len(violations) != 1)} in {len(files)} "
        f"file{'s' * (len(files) != 1)}",
        github.markdown_table(["Code", "Count", "Example"], [[c, n, example[c]] for c, n in codes.most_common()]),
        github.markdown_table(["File", "Violations"], [[f"`{f}`", n] for f, n in files.most_common()]),
    ]
    rows = [[f"`{v.path}:{v.line}:{v.col}`", v.code, v.text] for v in violations[:DETAILS_LIMIT]]
    more = f"\n\n…and {len(violations) - DETAILS_LIMIT} more" if len(violations) > DETAILS_LIMIT else ""
    parts.append("<details><summary>All violations</summary>\n\n"
                 + github.markdown_table(["Where", "Code", "Message"], rows) + more + "\n\n</details>")
    return "\n\n".join(parts)


def run(inputs: Inputs) -> int:
    """Lint; return 0 when clean (or report-only), 1 when there are violations."""
    base = inputs.directory("working-directory")
    paths = inputs.paths("paths", base)
    config = inputs.optional_file("flake8-config", base)
    max_line_length = inputs.number("max-line-length", low=1, integer=True)
    extra = inputs.arguments("flake8-args")
    failing = inputs.flag("fail-on-violations")
    environment.require("lint")

    arguments = [*extra]
    if config:
        arguments.append(f"--config={config}")
    if max_line_length:
        arguments.append(f"--max-line-length={max_line_length}")
    with github.group(f"flake8 {' '.join(paths)} (in {github.relative_to_workspace(base)})"):
        returncode, report, messages = flake8([*arguments, f"--format={FORMAT}"], paths, base)
    violations, other = parse(report, base)
    if returncode not in (0, 1) or (returncode == 1 and not violations):
        raise github.ActionError("flake8 did not run", f"flake8 exited with {returncode}: "
                                 f"{(messages or chr(10).join(other)).strip()[-2000:]}\nFix: check "
                                 "flake8-config and flake8-args.")
    if messages.strip():
        with github.untrusted_output():
            print(messages.rstrip(), file=sys.stderr)

    level = "error" if failing else "warning"
    for v in violations:
        github.annotate(level, v.text, file=v.path, line=v.line, col=v.col, title=f"flake8 {v.code}")
    github.add_summary(summary(violations, paths, failing))
    github.set_output("violations", len(violations))
    return 1 if violations and failing else 0
