import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

from mlops_actions import github, unit_test
from mlops_actions.inputs import InputError, Inputs

SAMPLE = '''\
import pytest


def check(x):
    assert x == 3, "x should be three"


def test_passes():
    assert True


def test_fails_in_a_helper():
    check(2)


class TestGroup:
    def test_fails_in_a_class(self):
        assert [1, 2] == [1, 3]


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


def test_fixture_error(broken):
    pass


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.mark.xfail(reason="known bug")
def test_expected_failure():
    assert False
'''


def run(**flags):
    return unit_test.run(Inputs.read(unit_test.INPUTS, flags, environ={}))


def pytest_junit(folder, *args):
    """Run the real pytest in `folder` and return the JUnit report it wrote."""
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=junit.xml",
                    "-o", "junit_family=xunit1", *args], cwd=folder, capture_output=True)
    return folder / "junit.xml"


def test_parse_junit_from_a_real_pytest_run(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_sample.py").write_text(SAMPLE)
    report = unit_test.parse_junit(pytest_junit(tmp_path), tmp_path)
    cases = {case.nodeid: (case.status, case.line, case.message.splitlines()[0] if case.message else "")
             for case in report.cases}
    assert cases == {
        "tests/test_sample.py::test_passes": ("passed", 8, ""),
        "tests/test_sample.py::test_fails_in_a_helper": ("failed", 5, "AssertionError: x should be three"),
        "tests/test_sample.py::TestGroup::test_fails_in_a_class": ("failed", 18, "assert [1, 2] == [1, 3]"),
        "tests/test_sample.py::test_fixture_error": (
            "error", 23, 'failed on setup with "RuntimeError: fixture exploded"'),
        "tests/test_sample.py::test_skipped": ("skipped", 30, "not today"),
        "tests/test_sample.py::test_expected_failure": ("skipped", 35, "known bug"),
    }
    assert report.counts == {"passed": 1, "failed": 2, "skipped": 2, "errors": 1}
    # outside a runner the workspace is the current folder, which tmp_path is not under: absolute paths
    assert {case.file for case in report.cases} == {(tmp_path / "tests/test_sample.py").resolve().as_posix()}


def test_parse_junit_collection_error_points_at_the_import(tmp_path):
    (tmp_path / "test_broken.py").write_text("import os\nimport no_such_module_here\n")
    report = unit_test.parse_junit(pytest_junit(tmp_path), tmp_path)
    [case] = report.cases
    assert (case.nodeid, case.status, case.line) == ("test_broken.py", "error", 2)
    assert case.message == "ModuleNotFoundError: No module named 'no_such_module_here'"


def test_colour_codes_are_removed_from_messages():
    outcome = ElementTree.Element("failure", message="#x1B[91m- hello ML#x1B[39;49;00m and \x1b[0mx")
    assert unit_test.failure_message(outcome) == "- hello ML and x"


def test_coverage_counts_lines_and_branches_like_coverage_py(tmp_path):
    report = tmp_path / "coverage.xml"
    report.write_text('<coverage lines-valid="90" lines-covered="81" branches-valid="10" branches-covered="5"/>')
    assert unit_test.coverage_percent(report) == 86.0
    report.write_text('<coverage lines-valid="0" lines-covered="0"/>')
    assert unit_test.coverage_percent(report) == 100.0


@pytest.fixture
def clean(runner, project):
    return project("clean", into=runner.workspace)


def test_passing_project_with_coverage(clean, runner):
    assert run(**{"working-directory": "clean", "coverage-source": "calc", "min-coverage": "90"}) == 0
    outputs = runner.outputs()
    junit = clean / "test-results" / "junit.xml"
    assert outputs == {"passed": "3", "failed": "0", "skipped": "0", "errors": "0", "total": "3",
                       "duration": outputs["duration"], "coverage": "100.00", "junit-file": str(junit),
                       "coverage-file": str(clean / "test-results" / "coverage.xml")}
    assert float(outputs["duration"]) >= 0 and junit.is_file()
    assert runner.summary().startswith("### ✅ pytest: 3 passed in ")
    assert "Slowest 3 tests" in runner.summary()


def test_a_collection_error_is_reported_as_such_not_as_coverage(clean, runner, capsys):
    (clean / "tests" / "test_broken.py").write_text("import calc\n\n\ndef test_add(:\n    pass\n")
    assert run(**{"working-directory": "clean", "coverage-source": "calc", "min-coverage": "90"}) == 1
    out = capsys.readouterr().out
    assert "The tests did not run: 1 error(s) during collection" in out
    assert "No coverage was measured" not in out and "below min-coverage" not in out
    assert runner.outputs()["errors"] == "1"


def test_no_inputs_runs_the_projects_own_pytest_config(clean, monkeypatch, runner):
    monkeypatch.chdir(clean)  # setup.cfg: testpaths = tests, pythonpath = .
    assert run() == 0
    assert runner.outputs()["passed"] == "3"


def test_a_failing_test_is_annotated_at_its_line(runner, project, capsys):
    project("failing-test", into=runner.workspace)
    assert run(**{"working-directory": "failing-test"}) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert errors == [github.command(
        "error", "AssertionError: double(-3) should be -6\nassert -6 == -5\n +  where -6 = double(-3)",
        file="failing-test/tests/test_numbers.py", line=10,
        title="Test failed: tests/test_numbers.py::test_double_negative")]
    assert (runner.outputs()["passed"], runner.outputs()["failed"]) == ("1", "1")
    assert "| `tests/test_numbers.py::test_double_negative` | `failing-test/tests/test_numbers.py:10` |" \
        in runner.summary()


def test_coverage_below_the_minimum_fails(clean, runner, capsys):
    assert run(**{"working-directory": "clean", "coverage-source": "calc", "keyword": "test_add",
                  "min-coverage": "90"}) == 1
    coverage = float(runner.outputs()["coverage"])
    assert coverage < 90 and runner.outputs()["passed"] == "1"
    message = github.command("error", f"Coverage {coverage:.1f}% is below min-coverage 90%.", title="Unit tests")
    assert message in capsys.readouterr().out.splitlines()


def test_an_empty_run_fails_unless_allowed(clean, runner):
    assert run(**{"working-directory": "clean", "markers": "no_such_marker"}) == 1
    assert "No tests were collected" in runner.summary()
    assert run(**{"working-directory": "clean", "markers": "no_such_marker", "fail-on-empty": "false"}) == 0


def test_coverage_can_be_turned_off(clean, runner):
    assert run(**{"working-directory": "clean", "coverage": "false"}) == 0
    assert runner.outputs()["coverage"] == "" and runner.outputs()["coverage-file"] == ""


@pytest.mark.parametrize("flags, message", [
    ({"min-coverage": "lots"}, "input 'min-coverage' is 'lots': not a number from 0 to 100"),
    ({"min-coverage": "150"}, "input 'min-coverage' is '150': not a number from 0 to 100"),
    ({"coverage": "false", "min-coverage": "80"}, "input 'min-coverage' is '80': set while coverage is 'false'"),
    ({"paths": "tests/missing_test.py"}, "input 'paths' is 'tests/missing_test.py': tests/missing_test.py does"),
    ({"junit-file": ""}, "input 'junit-file' is '': empty"),
    ({"fail-on-empty": "perhaps"}, "input 'fail-on-empty' is 'perhaps': not a boolean"),
    ({"min-coverage": "٨٠"}, "input 'min-coverage' is '٨٠': not a number from 0 to 100"),  # not ASCII digits
    ({"pytest-args": "--collect-only"}, "input 'pytest-args' is '--collect-only': --collect-only makes pytest list "
     "instead of run the tests"),
    ({"junit-file": "x/" * 3000}, "not a usable path"),
])
def test_bad_input_is_refused_before_pytest_runs(clean, runner, flags, message):
    with pytest.raises(InputError, match=message.replace("(", "\\(")):
        run(**{"working-directory": "clean", **flags})
    assert not (clean / "test-results").exists()


@pytest.mark.parametrize("flags", [{"pytest-args": "--no-such-option"}, {"markers": "not (slow"},
                                   {"keyword": "test_ and or"}])
def test_arguments_pytest_refuses_are_an_error_naming_them_not_a_pass(clean, runner, flags):
    with pytest.raises(github.ActionError, match="pytest exited with 4: it could not use markers") as caught:
        run(**{"working-directory": "clean", **flags})
    assert repr(next(iter(flags.values()))) in str(caught.value)


def test_report_path_is_the_given_one(clean, runner):
    run(**{"working-directory": "clean", "junit-file": "out/report.xml"})
    assert runner.outputs()["junit-file"] == str(clean / "out" / "report.xml")
    assert (clean / "out" / "coverage.xml").is_file()


def test_shell_metacharacters_in_inputs_are_data(clean, runner, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(github.ActionError, match="pytest exited with 4"):  # an expression pytest refuses, as data
        run(**{"working-directory": "clean", "keyword": f"add; touch {marker}", "fail-on-empty": "false"})
    assert not marker.exists()


def test_summary_lists_failures_and_problems():
    report = unit_test.Report(duration=1.5, coverage=50.0, cases=[
        unit_test.Case("t.py::a", "t.py", 3, 0.5, "failed", "boom\nmore"),
        unit_test.Case("t.py::b", "t.py", 9, 1.0, "passed")])
    text = unit_test.summary(report, False, ["Coverage 50.0% is below min-coverage 80%."])
    assert text.startswith("### ❌ pytest: 1 passed, 1 failed in 1.50 s · coverage 50.0%")
    assert "| 1 | 1 | 0 | 0 | 1.50 s | 50.0% |" in text
    assert "**Coverage 50.0% is below min-coverage 80%.**" in text
    assert "| `t.py::a` | `t.py:3` | boom |" in text
    assert text.index("`t.py::b` | 1.000") < text.index("`t.py::a` | 0.500")


def test_a_rootdir_above_the_working_directory_still_annotates_the_right_line(runner):
    """pytest's rootdir is where its config is (here the repository root), not the working directory."""
    (runner.workspace / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '-q'\n")
    tests = runner.workspace / "pkg" / "tests"
    tests.mkdir(parents=True)
    (tests / "test_a.py").write_text("def test_one():\n    assert 1 == 2\n")
    assert run(**{"working-directory": "pkg", "coverage": "false"}) == 1
    [failure] = [c for c in unit_test.parse_junit(runner.workspace / "pkg/test-results/junit.xml",
                                                  runner.workspace / "pkg").cases]
    assert (failure.file, failure.line) == ("pkg/tests/test_a.py", 2)


def test_min_coverage_without_coverage_data_fails(clean, runner, capsys):
    assert run(**{"working-directory": "clean", "coverage-source": "no_such_package", "min-coverage": "50"}) == 1
    assert "No coverage was measured, so min-coverage 50%25 cannot be checked" in capsys.readouterr().out
