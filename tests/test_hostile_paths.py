"""A pull request can commit symbolic links and name any path: no action writes or deletes through a link, and
on a runner no path an action reads or writes leaves the workspace."""

import json

import pytest

from mlops_actions import deploy, generate, monitor, register, smoke, starter, unit_test
from mlops_actions.inputs import InputError, Inputs

ROOT_FILE = "precious.txt"


def call(job, **flags):
    return job.run(Inputs.read(job.INPUTS, flags, environ={}))


@pytest.fixture
def outside(tmp_path):
    """A folder outside the workspace with a file that must survive."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / ROOT_FILE).write_text("keep me")
    (folder / "junit.xml").write_text("keep me too")
    return folder


def test_a_junit_folder_that_links_out_of_the_workspace_is_refused_and_nothing_there_changes(runner, outside):
    (runner.workspace / "tests").mkdir()
    (runner.workspace / "tests" / "test_x.py").write_text("def test_x():\n    assert True\n")
    (runner.workspace / "test-results").symlink_to(outside)
    with pytest.raises(InputError, match="'junit-file' is 'test-results/junit.xml': resolves to .*outside the "
                                         "workspace"):
        call(unit_test, paths="tests", coverage="false")
    assert (outside / "junit.xml").read_text() == "keep me too"


def test_a_junit_file_that_is_a_link_is_refused_even_inside_the_workspace(runner):
    (runner.workspace / "tests").mkdir()
    (runner.workspace / "tests" / "test_x.py").write_text("def test_x():\n    assert True\n")
    (runner.workspace / "elsewhere.xml").write_text("a file of the repository")
    (runner.workspace / "report.xml").symlink_to(runner.workspace / "elsewhere.xml")
    with pytest.raises(InputError, match="report.xml is a symbolic link .*which a write would follow"):
        call(unit_test, paths="tests", coverage="false", **{"junit-file": "report.xml"})
    assert (runner.workspace / "elsewhere.xml").read_text() == "a file of the repository"


def test_a_monitor_chart_must_be_a_png_in_the_workspace(runner, outside):
    (runner.workspace / "monitoring").symlink_to(outside)
    (runner.workspace / "training.csv").write_text("a\n1\n")
    flags = {"endpoint-name": "watched", "training-data": "training.csv", "state-dir": str(runner.workspace / "s")}
    with pytest.raises(InputError, match="'chart' is 'drift.svg': not a .png file"):
        call(monitor, chart="drift.svg", **flags)


@pytest.mark.parametrize("job, flags, name", [
    (register, {"model-name": "m", "model-path": "../outside"}, "model-path"),
    (smoke, {"endpoint-name": "the-ep", "request-file": "../outside/precious.txt"}, "request-file"),
    (deploy, {"endpoint-name": "the-ep", "model-name": "m", "deployment-file": "../outside/precious.txt"},
     "deployment-file"),
])
def test_inputs_that_name_a_path_outside_the_workspace_are_refused(runner, outside, job, flags, name):
    with pytest.raises(InputError, match=f"'{name}' is '[^']*': resolves to .*outside the workspace"):
        call(job, **flags, **{"state-dir": str(runner.workspace / "state")})


def test_a_link_in_the_repository_that_points_out_of_it_is_not_followed(runner, outside):
    (runner.workspace / "request.json").symlink_to(outside / ROOT_FILE)
    with pytest.raises(InputError, match="'request-file' is 'request.json': resolves to .*outside the workspace"):
        call(smoke, **{"endpoint-name": "the-ep", "request-file": "request.json",
                       "state-dir": str(runner.workspace / "state")})


def test_init_and_generate_write_through_no_link(runner, outside):
    (runner.workspace / "mlops.yml").symlink_to(outside / ROOT_FILE)
    with pytest.raises(InputError, match="resolves to .*outside the workspace"):
        call(starter, config="mlops.yml", force="true")
    assert (outside / ROOT_FILE).read_text() == "keep me"
    (runner.workspace / "mlops.yml").unlink()
    assert call(starter, config="mlops.yml") == 0
    (runner.workspace / ".github").symlink_to(outside)
    with pytest.raises(InputError, match="outside the workspace|is a symbolic link"):
        call(generate, config="mlops.yml")
    assert sorted(path.name for path in outside.iterdir()) == ["junit.xml", ROOT_FILE]


def test_a_path_of_thousands_of_characters_is_a_clear_error(runner):
    with pytest.raises(InputError, match="not a usable path"):
        call(smoke, **{"endpoint-name": "the-ep", "request-file": "a/" * 3000, "state-dir": str(runner.workspace)})


def test_off_a_runner_a_person_may_name_any_path(tmp_path, monkeypatch, outside):
    monkeypatch.chdir(tmp_path)
    request = outside / "request.json"
    request.write_text(json.dumps({"input_data": {"columns": ["a"], "index": [0], "data": [[1]]}}))
    from mlops_actions.github import ActionError

    with pytest.raises(ActionError, match="does not exist on the local backend"):  # read, then no endpoint
        call(smoke, **{"endpoint-name": "the-ep", "request-file": str(request), "state-dir": str(tmp_path / "s")})


def commands_github_reads(output: str) -> list[str]:
    """The workflow commands a runner acts on in `output`: it ignores every command between
    ::stop-commands::TOKEN and ::TOKEN:: (docs.github.com, "Stopping and starting workflow commands")."""
    read, stopped = [], None
    for line in output.splitlines():
        if stopped:
            stopped = None if line == f"::{stopped}::" else stopped
        elif line.startswith("::stop-commands::"):
            stopped = line.removeprefix("::stop-commands::")
        elif line.startswith("::"):
            read.append(line)
    return read


def test_a_test_cannot_forge_or_silence_workflow_commands(runner):
    import subprocess
    import sys

    tests = runner.workspace / "tests"
    tests.mkdir()
    (tests / "test_hostile.py").write_text(
        "def test_hostile():\n"
        "    print('::error file=src/app.py,line=1::forged by a test')\n"
        "    print('::stop-commands::silenced')\n"
        "    assert 1 == 2\n")
    run = subprocess.run([sys.executable, "-m", "mlops_actions", "unit-test", "--paths", "tests", "--coverage",
                          "false", "--pytest-args=-s"], cwd=runner.workspace, capture_output=True, text=True)
    assert "forged by a test" in run.stdout  # the test's output is in the log ...
    read = commands_github_reads(run.stdout)
    assert not [line for line in read if "forged" in line]  # ... but not as a command
    assert [line for line in read if line.startswith("::error file=tests/test_hostile.py,line=4")]  # ours are read


@pytest.mark.parametrize("tag", ["git.commit", "metric.accuracy", "github.run-url", "mlops-actions.content-hash"])
def test_the_tags_input_cannot_overwrite_where_a_version_came_from(runner, tag):
    (runner.workspace / "model").mkdir()
    (runner.workspace / "model" / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(InputError, match=f"'tags' is .*{tag} is a tag register-model sets itself"):
        call(register, **{"model-name": "m", "model-path": "model", "tags": json.dumps({tag: "forged"}),
                          "state-dir": str(runner.workspace / "state")})
