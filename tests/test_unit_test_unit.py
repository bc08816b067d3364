"""The unit-test job in process: JUnit and Cobertura reports as pytest and coverage.py write them, and run() with
pytest replaced by a stand-in that writes those reports, so the command, the checks and the report are seen here
(tests/test_unit_test.py runs the real pytest)."""

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_actions import environment, unit_test
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs
from mlops_actions.unit_test import Case, Report

# -- parsing -----------------------------------------------------------------------------------------------------


def test_the_deepest_line_in_the_tests_own_file():
    trace = "tests/t.py:3: in helper\nother.py:9: in x\ntests/t.py:12: AssertionError\n  tests/t.py:40: no\n"
    assert unit_test.failure_line(trace, "tests/t.py") == 12
    assert unit_test.failure_line(trace, "t.py", "tests/t.py") == 12
    assert unit_test.failure_line(trace, "other.py") == 9
    assert unit_test.failure_line(None, "tests/t.py") is None
    assert unit_test.failure_line("tests/tXpy:3: x", "tests/t.py") is None  # the name is not a pattern


def test_a_junit_file_name_is_found_in_the_folder_or_above(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("")
    assert unit_test.locate("tests/t.py", tmp_path / "sub") == tmp_path / "tests" / "t.py"
    (tmp_path / "sub" / "tests").mkdir()
    (tmp_path / "sub" / "tests" / "t.py").write_text("")
    assert unit_test.locate("tests/t.py", tmp_path / "sub") == tmp_path / "sub" / "tests" / "t.py"
    assert unit_test.locate("gone.py", tmp_path / "sub") == tmp_path / "sub" / "gone.py"


@pytest.mark.parametrize("file, classname, name, expected", [
    ("tests/test_a.py", "tests.test_a", "test_x", "tests/test_a.py::test_x"),
    ("tests/test_a.py", "tests.test_a.TestK.Inner", "test_x", "tests/test_a.py::TestK::Inner::test_x"),
    ("tests/test_a.py", "", "tests.test_a", "tests/test_a.py"),
    ("tests/test_a.py", "elsewhere.Thing", "test_x", "tests/test_a.py::test_x"),
    ("tests/test_a.py", "tests.test_ab", "test_x", "tests/test_a.py::test_x"),
])
def test_node_ids_from_junit_attributes(file, classname, name, expected):
    assert unit_test.node_id(file, classname, name) == expected


def outcome(xml: str):
    from xml.etree import ElementTree

    return ElementTree.fromstring(xml)


def test_failure_messages():
    assert unit_test.failure_message(outcome('<failure message="assert 1 == 2">trace</failure>')) == "assert 1 == 2"
    assert unit_test.failure_message(outcome('<failure message="">x\nE   first\nE   last one\n</failure>')) == \
        "last one"
    assert unit_test.failure_message(outcome('<error message="collection failure">E  ImportError: y\n</error>')) \
        == "ImportError: y"
    assert unit_test.failure_message(outcome('<error message="collection failure">no E lines</error>')) == \
        "collection failure"
    assert unit_test.failure_message(outcome("<failure>nothing</failure>")) == ""
    assert unit_test.failure_message(outcome('<failure message="#x1B[31mred#x1B[0m">x</failure>')) == "red"
    from xml.etree import ElementTree

    assert unit_test.failure_message(ElementTree.Element("failure", message="\x1b[1;31mbold\x1b[m")) == "bold"


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" time="1.25">
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="4" time="0.5"/>
<testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" line="9" time="0.25">
<failure message="assert 1 == 2">def test_bad():
&gt;       assert 1 == 2
E       assert 1 == 2

tests/test_a.py:11: AssertionError</failure></testcase>
<testcase classname="tests.test_a" name="test_skip" file="tests/test_a.py" line="14" time="0.0">
<skipped message="not today">tests/test_a.py:99: skipped</skipped></testcase>
<testcase classname="" name="tests.test_b" file="tests/test_b.py" time="0.0">
<error message="collection failure">tests/test_b.py:2: in &lt;module&gt;
E   ModuleNotFoundError: No module named 'nope'</error></testcase>
<testcase classname="tests.test_a" name="test_fixture" file="tests/test_a.py" line="20" time="0.125">
<error message="failed on setup with &quot;boom&quot;">fixture trace without lines</error></testcase>
</testsuite><testsuite name="more" time="0.75">
<testcase classname="tests.test_c" name="test_c" file="tests/test_c.py" line="0" time="0.75"/>
</testsuite></testsuites>
"""


def test_a_junit_report_with_every_outcome(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "junit.xml").write_text(JUNIT)
    report = unit_test.parse_junit(tmp_path / "junit.xml", tmp_path)
    assert report.duration == 2.0
    assert report.cases == [
        Case("tests/test_a.py::test_ok", str(tmp_path / "tests/test_a.py"), 5, 0.5, "passed"),
        Case("tests/test_a.py::test_bad", str(tmp_path / "tests/test_a.py"), 11, 0.25, "failed", "assert 1 == 2"),
        Case("tests/test_a.py::test_skip", str(tmp_path / "tests/test_a.py"), 15, 0.0, "skipped", "not today"),
        Case("tests/test_b.py", str(tmp_path / "tests/test_b.py"), 2, 0.0, "error",
             "ModuleNotFoundError: No module named 'nope'"),
        Case("tests/test_a.py::test_fixture", str(tmp_path / "tests/test_a.py"), 21, 0.125, "error",
             'failed on setup with "boom"'),
        Case("tests/test_c.py::test_c", str(tmp_path / "tests/test_c.py"), 1, 0.75, "passed")]
    assert report.counts == {"passed": 2, "failed": 1, "skipped": 1, "errors": 2}


def test_a_single_testsuite_root_and_missing_attributes(tmp_path):
    (tmp_path / "junit.xml").write_text('<testsuite><testcase name="t"/></testsuite>')
    report = unit_test.parse_junit(tmp_path / "junit.xml", tmp_path)
    assert report.duration == 0.0
    assert report.cases == [Case("", str(tmp_path), 1, 0.0, "passed")]


def test_a_failures_line_from_a_traceback_named_either_way(tmp_path):
    """pytest ran in `sub` with its rootdir above: JUnit names files from the rootdir, tracebacks from `sub`."""
    (tmp_path / "sub" / "tests").mkdir(parents=True)
    (tmp_path / "sub" / "tests" / "t.py").write_text("")

    def line(trace):
        (tmp_path / "junit.xml").write_text(
            '<testsuite><testcase classname="sub.tests.t" name="test_x" file="sub/tests/t.py" line="1">'
            f'<failure message="m">{trace}</failure></testcase></testsuite>')
        return unit_test.parse_junit(tmp_path / "junit.xml", tmp_path / "sub").cases[0].line
    assert line("tests/t.py:7: AssertionError") == 7
    assert line("sub/tests/t.py:5: AssertionError") == 5
    assert line("other.py:9: AssertionError") == 2


def test_a_testcase_without_a_name(tmp_path):
    (tmp_path / "junit.xml").write_text('<testsuite><testcase classname="tests.test_a" file="tests/test_a.py"/>'
                                        '</testsuite>')
    assert unit_test.parse_junit(tmp_path / "junit.xml", tmp_path).cases[0].nodeid == "tests/test_a.py"


def test_coverage_of_lines_and_branches(tmp_path):
    (tmp_path / "c.xml").write_text('<coverage lines-valid="30" lines-covered="20" branches-valid="10" '
                                    'branches-covered="5"/>')
    assert unit_test.coverage_percent(tmp_path / "c.xml") == 62.5
    (tmp_path / "c.xml").write_text('<coverage lines-valid="3" lines-covered="2"/>')
    assert unit_test.coverage_percent(tmp_path / "c.xml") == 66.67
    (tmp_path / "c.xml").write_text("<coverage/>")
    assert unit_test.coverage_percent(tmp_path / "c.xml") == 100.0
    (tmp_path / "c.xml").write_text('<coverage lines-valid="4" branches-valid="4" branches-covered="1"/>')
    assert unit_test.coverage_percent(tmp_path / "c.xml") == 12.5


# -- the summary -------------------------------------------------------------------------------------------------

def test_summary_of_a_failed_run():
    report = Report([Case("t::a", "t.py", 3, 0.5, "passed"), Case("t::b", "t.py", 7, 1.25, "failed", "boom\nmore"),
                     Case("t::c", "t.py", 9, 0.0, "error"), Case("t::d", "t.py", 1, 2.0, "skipped")], 3.75, 81.25)
    assert unit_test.summary(report, False, ["Coverage low."]) == (
        "### ❌ pytest: 1 passed, 1 failed, 1 skipped, 1 errors in 3.75 s · coverage 81.2%\n\n"
        "| Passed | Failed | Skipped | Errors | Duration | Coverage |\n|---|---|---|---|---|---|\n"
        "| 1 | 1 | 1 | 1 | 3.75 s | 81.2% |\n\n**Coverage low.**\n\n#### Failures\n\n"
        "| Test | Where | Message |\n|---|---|---|\n| `t::b` | `t.py:7` | boom |\n| `t::c` | `t.py:9` |  |\n\n"
        "<details><summary>Slowest 4 tests</summary>\n\n| Test | Seconds |\n|---|---|\n| `t::d` | 2.000 |\n"
        "| `t::b` | 1.250 |\n| `t::a` | 0.500 |\n| `t::c` | 0.000 |\n\n</details>")


def test_summary_of_an_empty_run_without_coverage():
    assert unit_test.summary(Report(), True, []) == (
        "### ✅ pytest: 0 passed in 0.00 s\n\n| Passed | Failed | Skipped | Errors | Duration | Coverage |\n"
        "|---|---|---|---|---|---|\n| 0 | 0 | 0 | 0 | 0.00 s | off |")


def test_summary_lists_the_five_slowest():
    report = Report([Case(f"t::{i}", "t.py", 1, float(i), "passed") for i in range(7)], 21.0)
    text = unit_test.summary(report, True, [])
    assert "Slowest 5 tests" in text and "`t::6` | 6.000" in text and "`t::1`" not in text


# -- the job, with a stand-in for pytest -------------------------------------------------------------------------

def junit(*cases: str) -> str:
    return f'<testsuites><testsuite time="0.5">{"".join(cases)}</testsuite></testsuites>'


PASSED = '<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="1" time="0.5"/>'
FAILED = ('<testcase classname="tests.test_a" name="test_bad" file="tests/test_a.py" line="4" time="0.1">'
          '<failure message="assert False">tests/test_a.py:6: AssertionError</failure></testcase>')
ERROR = ('<testcase classname="" name="tests.test_b" file="tests/test_b.py" time="0">'
         '<error message="collection failure">E   ImportError: x</error></testcase>')
COVERAGE = '<coverage lines-valid="10" lines-covered="8"/>'


@pytest.fixture
def pytest_run(monkeypatch, runner):
    """unit_test.run with subprocess.run replaced: it records the command and writes what `result` says."""
    (runner.workspace / "tests").mkdir()
    (runner.workspace / "tests" / "test_a.py").write_text("")
    result = {"code": 0, "junit": junit(PASSED), "coverage": COVERAGE}
    commands, needed = [], []

    def fake(command, cwd):
        commands.append((command, cwd))
        folder = Path(command[command.index("--junitxml") + 1])
        if result["junit"] is not None:
            folder.write_text(result["junit"])
        report = next((a.split(":", 1)[1] for a in command if a.startswith("--cov-report=xml:")), None)
        if report and result["coverage"] is not None:
            Path(report).write_text(result["coverage"])
        return subprocess.CompletedProcess(command, result["code"])
    monkeypatch.setattr(subprocess, "run", fake)
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: needed.append((extra, modules)))

    def run(**flags) -> int:
        return unit_test.run(Inputs.read(unit_test.INPUTS, flags, environ={}))
    run.result, run.commands, run.needed, run.runner = result, commands, needed, runner
    return run


def test_a_passing_run_with_coverage(pytest_run, capsys):
    assert pytest_run() == 0
    workspace = pytest_run.runner.workspace
    junit_file = workspace / "test-results" / "junit.xml"
    assert pytest_run.commands == [([sys.executable, "-m", "pytest", "--junitxml", str(junit_file), "-o",
                                     "junit_family=xunit1", "--cov",
                                     f"--cov-report=xml:{junit_file.with_name('coverage.xml')}", "--cov-report=term"],
                                    workspace)]
    assert pytest_run.needed == [("test", ("pytest", "pytest_cov"))]
    assert pytest_run.runner.outputs() == {
        "passed": "1", "failed": "0", "skipped": "0", "errors": "0", "total": "1", "duration": "0.500",
        "coverage": "80.00", "junit-file": str(junit_file), "coverage-file": str(junit_file.with_name("coverage.xml"))}
    assert pytest_run.runner.summary().startswith("### ✅ pytest: 1 passed in 0.50 s · coverage 80.0%")


def test_every_input_reaches_the_command(pytest_run):
    (pytest_run.runner.workspace / "out").mkdir()
    assert pytest_run(paths="tests/test_a.py tests", markers="not slow", keyword="ok", **{
        "pytest-args": "-x --maxfail 3", "coverage-source": "src lib", "junit-file": "out/j.xml"}) == 0
    junit_file = pytest_run.runner.workspace / "out" / "j.xml"
    assert pytest_run.commands[0][0] == [
        sys.executable, "-m", "pytest", "--junitxml", str(junit_file), "-o", "junit_family=xunit1", "-m", "not slow",
        "-k", "ok", "--cov=src", "--cov=lib", f"--cov-report=xml:{junit_file.with_name('coverage.xml')}",
        "--cov-report=term", "-x", "--maxfail", "3", "--", "tests/test_a.py", "tests"]


def test_without_coverage(pytest_run):
    assert pytest_run(coverage="false") == 0
    assert not any("--cov" in argument for argument in pytest_run.commands[0][0])
    assert pytest_run.needed == [("test", ("pytest",))]
    assert pytest_run.runner.outputs()["coverage"] == "" and pytest_run.runner.outputs()["coverage-file"] == ""


def test_stale_reports_are_removed_before_pytest_runs(pytest_run):
    folder = pytest_run.runner.workspace / "test-results"
    folder.mkdir()
    (folder / "junit.xml").write_text(junit(FAILED))
    (folder / "coverage.xml").write_text('<coverage lines-valid="10" lines-covered="1"/>')
    pytest_run.result.update(junit=None, coverage=None, code=1)
    with pytest.raises(ActionError) as raised:
        pytest_run(**{"min-coverage": "50"})
    assert raised.value.title == "pytest did not run"
    assert str(raised.value) == ("pytest exited with 1 and wrote no report. Fix: check paths, markers, keyword and "
                                 "pytest-args (see the log above).")
    assert not (folder / "coverage.xml").exists()


def test_a_failing_test_is_annotated_and_fails(pytest_run, capsys):
    pytest_run.result.update(junit=junit(PASSED, FAILED), code=1)
    assert pytest_run() == 1
    assert ("::error file=tests/test_a.py,line=6,title=Test failed%3A tests/test_a.py%3A%3Atest_bad::assert False" in
            capsys.readouterr().out)
    assert pytest_run.runner.outputs()["failed"] == "1"


def test_a_collection_error_is_not_a_coverage_problem(pytest_run, capsys):
    pytest_run.result.update(junit=junit(ERROR), code=2, coverage='<coverage lines-valid="10" lines-covered="0"/>')
    assert pytest_run(**{"min-coverage": "90"}) == 1
    out = capsys.readouterr().out
    assert "::error file=tests/test_b.py,line=1,title=Test error%3A tests/test_b.py::ImportError: x" in out, out
    assert ("::error title=Unit tests::The tests did not run: 1 error(s) during collection (annotated at their "
            "files); coverage was not checked. Fix: the errors above.") in out
    assert "Coverage" not in out and pytest_run.runner.outputs()["coverage"] == ""


def test_coverage_below_the_minimum_fails_and_at_it_passes(pytest_run, capsys):
    assert pytest_run(**{"min-coverage": "80"}) == 0
    assert pytest_run(**{"min-coverage": "80.5"}) == 1
    assert "::error title=Unit tests::Coverage 80.0%25 is below min-coverage 80.5%25." in capsys.readouterr().out


def test_no_coverage_measured_cannot_meet_a_minimum(pytest_run, capsys):
    pytest_run.result.update(coverage=None)
    assert pytest_run(**{"min-coverage": "10"}) == 1
    assert ("::error title=Unit tests::No coverage was measured, so min-coverage 10%25 cannot be checked. Fix: check "
            "coverage-source (it must name code the tests import) and pytest-args (--no-cov).") in \
        capsys.readouterr().out
    assert pytest_run() == 0  # no minimum: nothing to check


def test_an_empty_run_fails_unless_allowed(pytest_run, capsys):
    pytest_run.result.update(junit=junit(), code=5)
    assert pytest_run(**{"min-coverage": "10"}) == 1
    out = capsys.readouterr().out
    assert ("::error title=Unit tests::No tests were collected. Fix: add tests, point paths at them, or set "
            "fail-on-empty to 'false'.") in out
    assert "cannot be checked" not in out
    assert pytest_run(**{"fail-on-empty": "false"}) == 0


def test_a_failing_exit_code_without_a_failed_test_fails(pytest_run, capsys):
    pytest_run.result.update(code=3)
    assert pytest_run() == 1
    assert "::error title=Unit tests::pytest exited with 3." in capsys.readouterr().out


def test_arguments_pytest_refuses(pytest_run):
    pytest_run.result.update(code=4, junit=None)
    with pytest.raises(ActionError) as raised:
        pytest_run(markers="not (slow", keyword="k", **{"pytest-args": "--bad"})
    assert raised.value.title == "pytest refused its arguments"
    assert str(raised.value) == ("pytest exited with 4: it could not use markers ('not (slow'), keyword ('k') or "
                                 "pytest-args ('--bad') (its message is in the log above). Fix: correct the "
                                 "expression or argument it names.")


def test_every_listing_argument_is_named(pytest_run):
    with pytest.raises(InputError) as raised:
        pytest_run(**{"pytest-args": "--co -x --fixtures"})
    assert raised.value.problem == "--co --fixtures makes pytest list instead of run the tests"


def test_the_group_names_the_command_and_the_folder(pytest_run, capsys):
    assert pytest_run(paths="tests/test_a.py tests") == 0
    assert "::group::pytest tests/test_a.py tests (in .)\n" in capsys.readouterr().out


def test_a_fixture_error_in_a_run_that_ran_is_not_a_collection_error(pytest_run, capsys):
    fixture = ('<testcase classname="tests.test_a" name="test_f" file="tests/test_a.py" line="2" time="0">'
               '<error message="failed on setup">E   boom</error></testcase>')
    pytest_run.result.update(junit=junit(PASSED, fixture), code=1)
    assert pytest_run() == 1
    out = capsys.readouterr().out
    assert "did not run" not in out and pytest_run.runner.outputs()["coverage"] == "80.00"


def test_reports_are_written_inside_the_workspace(pytest_run):
    with pytest.raises(InputError) as raised:
        pytest_run(**{"junit-file": "../junit.xml"})
    assert (raised.value.name, raised.value.value) == ("junit-file", "../junit.xml")
    (pytest_run.runner.workspace / "out").mkdir()
    (pytest_run.runner.workspace / "out" / "coverage.xml").symlink_to(pytest_run.runner.workspace / "x.xml")
    with pytest.raises(InputError) as raised:
        pytest_run(**{"junit-file": "out/junit.xml"})
    assert (raised.value.name, raised.value.value) == ("junit-file", "out/junit.xml")
    assert "symbolic link" in raised.value.problem and pytest_run.commands == []


@pytest.mark.parametrize("argument", ["--collect-only", "--co", "--fixtures", "-h", "--version", "--markers=x"])
def test_arguments_that_list_instead_of_run_are_refused(pytest_run, argument):
    with pytest.raises(InputError) as raised:
        pytest_run(**{"pytest-args": f"-x {argument}"})
    assert (raised.value.name, raised.value.problem) == ("pytest-args", f"{argument} makes pytest list instead of "
                                                         "run the tests")
    assert raised.value.fix == "remove it: the action runs the tests" and pytest_run.commands == []


@pytest.mark.parametrize("flags, name, problem, fix", [
    ({"junit-file": ""}, "junit-file", "empty", "give a path such as test-results/junit.xml"),
    ({"coverage": "false", "min-coverage": "1"}, "min-coverage", "set while coverage is 'false'",
     "set coverage to 'true' or min-coverage to 0"),
])
def test_inputs_refused_before_pytest_runs(pytest_run, flags, name, problem, fix):
    with pytest.raises(InputError) as raised:
        pytest_run(**flags)
    assert (raised.value.name, raised.value.problem, raised.value.fix) == (name, problem, fix)
    assert pytest_run.commands == [] and pytest_run.needed == []


@pytest.mark.parametrize("flags, name", [({"min-coverage": "101"}, "min-coverage"),
                                         ({"min-coverage": "-1"}, "min-coverage"), ({"coverage": "x"}, "coverage"),
                                         ({"fail-on-empty": "x"}, "fail-on-empty"), ({"paths": "nope"}, "paths"),
                                         ({"pytest-args": "'open"}, "pytest-args")])
def test_bad_values(pytest_run, flags, name):
    with pytest.raises(InputError) as raised:
        pytest_run(**flags)
    assert raised.value.name == name


def test_min_coverage_at_its_bounds(pytest_run):
    pytest_run.result.update(coverage='<coverage lines-valid="1" lines-covered="1"/>')
    assert pytest_run(**{"min-coverage": "100"}) == 0
    assert pytest_run(**{"min-coverage": "0"}) == 0
