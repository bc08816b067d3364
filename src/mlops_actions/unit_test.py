"""The unit-test job: pytest with JUnit XML and coverage, each failing test an annotation at its line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from mlops_actions import environment, github, paths
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("working-directory", "Folder to run pytest in, relative to the repository root; pytest finds its "
          "configuration (pytest.ini, pyproject.toml, setup.cfg, tox.ini) from here.", "."),
    Input("paths", "Test files or folders, relative to working-directory, separated by spaces or new lines. "
          "Empty: pytest's own (testpaths, else discovery)."),
    Input("markers", "Only run tests matching this marker expression (pytest -m), e.g. 'not slow'."),
    Input("keyword", "Only run tests matching this keyword expression (pytest -k)."),
    Input("pytest-args", "More pytest arguments, e.g. '-x --maxfail 3'."),
    Input("coverage", "Measure coverage with pytest-cov ('true' or 'false').", "true"),
    Input("coverage-source", "Packages or folders to measure, separated by spaces. Empty: the coverage "
          "configuration's source, else all the code the tests run outside site-packages."),
    Input("min-coverage", "Fail when total coverage (percent, 0-100) is below this. Empty or 0: no minimum.",
          "0"),
    Input("fail-on-empty", "Fail when no test was collected ('true' or 'false').", "true"),
    Input("junit-file", "Where to write the JUnit XML report, relative to working-directory.",
          "test-results/junit.xml"),
]
OUTPUTS = {
    "passed": "Number of tests that passed.",
    "failed": "Number of tests that failed.",
    "skipped": "Number of tests skipped (including xfail).",
    "errors": "Number of tests with errors (collection, fixtures).",
    "total": "Number of tests run.",
    "duration": "Test time in seconds, as pytest reports it.",
    "coverage": "Total coverage in percent (empty when coverage is off).",
    "junit-file": "Absolute path of the JUnit XML report, for actions/upload-artifact.",
    "coverage-file": "Absolute path of the Cobertura XML coverage report (empty when coverage is off).",
}

# Colour codes pytest put in a message; in XML, ESC is written as the text "#x1B".
COLOUR = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")
SLOWEST = 5
NO_TESTS_COLLECTED = 5


@dataclass
class Case:
    nodeid: str
    file: str  # relative to the workspace
    line: int  # 1-based: where it failed, else where the test is defined
    seconds: float
    status: str  # passed | failed | error | skipped
    message: str = ""


@dataclass
class Report:
    cases: list[Case] = field(default_factory=list)
    duration: float = 0.0
    coverage: float | None = None

    def count(self, status: str) -> int:
        return sum(case.status == status for case in self.cases)

    @property
    def counts(self) -> dict[str, int]:
        return {name: self.count(status) for name, status in
                (("passed", "passed"), ("failed", "failed"), ("skipped", "skipped"), ("errors", "error"))}


INTERRUPTED = 2  # pytest's exit code when errors during collection stop the run
USAGE_ERROR = 4  # pytest's exit code for a command line it cannot use
LISTING = {"--collect-only", "--co", "--setup-plan", "--setup-only", "--fixtures", "--fixtures-per-test", "--markers",
           "--version", "-V", "--help", "-h",
           "--cache-show"}  # arguments that make pytest list or describe rather than run


def failure_line(text: str | None, *names: str) -> int | None:
    """The deepest `file:line:` of a traceback that is in the test's own file (under any of its names)."""
    pattern = "|".join(re.escape(name) for name in names)
    lines = re.findall(rf"^(?:{pattern}):(\d+):", text or "", flags=re.MULTILINE)
    return int(lines[-1]) if lines else None


def locate(file: str, base: Path) -> Path:
    """A JUnit file name is relative to pytest's rootdir: the working directory or a folder above it."""
    for folder in (base, *base.parents):
        if (folder / file).is_file():
            return folder / file
    return base / file


def node_id(file: str, classname: str, name: str) -> str:
    """pytest's id of a test from its JUnit attributes; a collection error has no class name."""
    if not classname:
        return file
    module = file.removesuffix(".py").replace("/", ".")
    classes = classname[len(module) + 1:].replace(".", "::") if classname.startswith(module + ".") else ""
    return "::".join(part for part in (file, classes, name) if part)


def failure_message(outcome: ElementTree.Element) -> str:
    """The outcome's message (without colour codes), or the last `E ` line of its traceback when the
    message says nothing."""
    message = outcome.get("message", "")
    if not message or message == "collection failure":
        details = re.findall(r"^E\s+(.*)$", outcome.text or "", flags=re.MULTILINE)
        message = details[-1] if details else message
    return COLOUR.sub("", message)


def parse_junit(path: Path, base: Path) -> Report:
    """Read a JUnit XML report that pytest wrote with junit_family=xunit1 (which keeps file and line)."""
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    report = Report(duration=sum(float(suite.get("time", 0)) for suite in suites))
    for suite in suites:
        for case in suite.iter("testcase"):
            file = case.get("file", "")
            path = locate(file, base)
            status, message, line = "passed", "", int(case.get("line", 0)) + 1
            for tag, meaning in (("error", "error"), ("failure", "failed"), ("skipped", "skipped")):
                outcome = case.find(tag)
                if outcome is not None:
                    status, message = meaning, failure_message(outcome)
                    if meaning != "skipped":  # tracebacks name files relative to where pytest ran
                        line = failure_line(outcome.text, file, os.path.relpath(path, base)) or line
                    break
            report.cases.append(Case(node_id(file, case.get("classname", ""), case.get("name", "")),
                                     github.relative_to_workspace(path), line,
                                     float(case.get("time", 0)), status, message))
    return report


def coverage_percent(path: Path) -> float:
    """Total coverage of a Cobertura XML report, counted as coverage.py counts it (lines + branches)."""
    root = ElementTree.parse(path).getroot()
    valid = int(root.get("lines-valid", 0)) + int(root.get("branches-valid", 0))
    covered = int(root.get("lines-covered", 0)) + int(root.get("branches-covered", 0))
    return round(100.0 * covered / valid, 2) if valid else 100.0


def summary(report: Report, passed: bool, problems: list[str]) -> str:
    counts = report.counts
    head = ", ".join(f"{n} {name}" for name, n in counts.items() if n or name == "passed")
    cover = f" · coverage {report.coverage:.1f}%" if report.coverage is not None else ""
    parts = [f"### {'✅' if passed else '❌'} pytest: {head} in {report.duration:.2f} s{cover}",
             github.markdown_table(["Passed", "Failed", "Skipped", "Errors", "Duration", "Coverage"],
                                   [[*counts.values(), f"{report.duration:.2f} s",
                                     f"{report.coverage:.1f}%" if report.coverage is not None else "off"]])]
    parts += [f"**{problem}**" for problem in problems]
    broken = [case for case in report.cases if case.status in ("failed", "error")]
    if broken:
        parts.append("#### Failures\n\n" + github.markdown_table(
            ["Test", "Where", "Message"],
            [[f"`{c.nodeid}`", f"`{c.file}:{c.line}`", c.message.splitlines()[0] if c.message else ""]
             for c in broken]))
    slowest = sorted(report.cases, key=lambda case: case.seconds, reverse=True)[:SLOWEST]
    if slowest:
        parts.append(f"<details><summary>Slowest {len(slowest)} tests</summary>\n\n" + github.markdown_table(
            ["Test", "Seconds"], [[f"`{c.nodeid}`", f"{c.seconds:.3f}"] for c in slowest]) + "\n\n</details>")
    return "\n\n".join(parts)


def run(inputs: Inputs) -> int:
    """Run pytest; return 0 when it passed and every threshold held, else 1."""
    base = inputs.directory("working-directory")
    test_paths = inputs.paths("paths", base)
    with_coverage = inputs.flag("coverage")
    min_coverage = inputs.number("min-coverage", low=0, high=100) or 0
    fail_on_empty = inputs.flag("fail-on-empty")
    extra = inputs.arguments("pytest-args")
    listing = [argument for argument in extra if argument.split("=")[0] in LISTING]
    if listing:
        raise inputs.error("pytest-args", f"{' '.join(listing)} makes pytest list instead of run the tests",
                           "remove it: the action runs the tests")
    if not inputs["junit-file"]:
        raise inputs.error("junit-file", "empty", "give a path such as test-results/junit.xml")
    junit = paths.writable("junit-file", inputs["junit-file"], base / inputs["junit-file"])
    coverage_file = paths.writable("junit-file", inputs["junit-file"], junit.with_name("coverage.xml"))
    if min_coverage and not with_coverage:
        raise inputs.error("min-coverage", "set while coverage is 'false'", "set coverage to 'true' or "
                           "min-coverage to 0")
    environment.require("test", ("pytest", "pytest_cov") if with_coverage else ("pytest",))

    paths.make_folder("junit-file", inputs["junit-file"], junit.parent)
    for stale in (junit, coverage_file):
        stale.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "--junitxml", str(junit), "-o", "junit_family=xunit1"]
    if inputs["markers"]:
        command += ["-m", inputs["markers"]]
    if inputs["keyword"]:
        command += ["-k", inputs["keyword"]]
    if with_coverage:
        sources = inputs.words("coverage-source")
        command += [f"--cov={source}" for source in sources] or ["--cov"]
        command += [f"--cov-report=xml:{coverage_file}", "--cov-report=term"]
    command += extra + (["--", *test_paths] if test_paths else [])
    with github.group(" ".join(["pytest", *test_paths, f"(in {github.relative_to_workspace(base)})"])):
        with github.untrusted_output():
            returncode = subprocess.run(command, cwd=base).returncode

    if returncode == USAGE_ERROR:  # pytest's own exit code for a command line it refuses (an -m or -k expression)
        raise github.ActionError("pytest refused its arguments", "pytest exited with 4: it could not use markers "
                                 f"({inputs['markers']!r}), keyword ({inputs['keyword']!r}) or pytest-args "
                                 f"({inputs['pytest-args']!r}) (its message is in the log above). Fix: correct "
                                 "the expression or argument it names.")
    if not junit.is_file():
        raise github.ActionError("pytest did not run", f"pytest exited with {returncode} and wrote no report. "
                                 "Fix: check paths, markers, keyword and pytest-args (see the log above).")
    report = parse_junit(junit, base)
    problems = []
    if returncode == INTERRUPTED and report.count("error"):  # what coverage there is measured no test
        problems.append(f"The tests did not run: {report.count('error')} error(s) during collection (annotated "
                        "at their files); coverage was not checked. Fix: the errors above.")
    elif with_coverage and coverage_file.is_file():
        report.coverage = coverage_percent(coverage_file)
        if report.coverage < min_coverage:
            problems.append(f"Coverage {report.coverage:.1f}% is below min-coverage {min_coverage:g}%.")
    elif min_coverage and report.cases:
        problems.append(f"No coverage was measured, so min-coverage {min_coverage:g}% cannot be checked. Fix: "
                        "check coverage-source (it must name code the tests import) and pytest-args (--no-cov).")
    if not report.cases and fail_on_empty:
        problems.append("No tests were collected. Fix: add tests, point paths at them, or set fail-on-empty "
                        "to 'false'.")
    broken = [case for case in report.cases if case.status in ("failed", "error")]
    if returncode not in (0, NO_TESTS_COLLECTED) and not broken:
        problems.append(f"pytest exited with {returncode}.")

    for case in broken:
        title = f"{'Test failed' if case.status == 'failed' else 'Test error'}: {case.nodeid}"
        github.error(case.message or case.status, file=case.file, line=case.line, title=title)
    for problem in problems:
        github.error(problem, title="Unit tests")
    passed = not broken and not problems
    github.add_summary(summary(report, passed, problems))
    github.set_outputs({**report.counts, "total": len(report.cases), "duration": f"{report.duration:.3f}",
                        "coverage": "" if report.coverage is None else f"{report.coverage:.2f}",
                        "junit-file": junit,
                        "coverage-file": coverage_file if report.coverage is not None else ""})
    return 0 if passed else 1
