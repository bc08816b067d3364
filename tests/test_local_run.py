"""`mlops-actions local`: what it gives act (the library's refs, the event, the Python) and its refusals.
The runs themselves are in test_pipeline.py (the demo) and test_new_repository.py, through act."""

import subprocess
import sys
from pathlib import Path

import pytest

from mlops_actions import cli, local_run
from mlops_actions.github import ActionError
from mlops_actions.inputs import Inputs


def call(**flags):
    return local_run.run(Inputs.read(local_run.INPUTS, flags, environ={}))


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A new repository with a starter mlops.yml, committed; no workflows generated yet."""
    folder = tmp_path / "churn"
    folder.mkdir()
    monkeypatch.chdir(folder)
    assert cli.main(["init"]) == 0
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=folder, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-qm", "init",
                    "--allow-empty"], cwd=folder, check=True)
    return folder


def test_a_workflow_not_generated_says_to_run_generate(repo):
    with pytest.raises(ActionError, match=r"pull-request.yml does not exist. Fix: run `mlops-actions generate`"):
        call(event="pull-request")


def test_the_monitor_without_a_monitor_block_says_to_add_one(repo):
    (repo / ".github" / "workflows").mkdir(parents=True)
    with pytest.raises(ActionError, match="add a monitor: block to mlops.yml"):
        call(event="monitor")


def test_no_mlops_yml_says_to_run_init(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ActionError, match="run `mlops-actions init`"):
        call(event="push")


def test_an_unknown_event_is_refused_on_read():
    with pytest.raises(ActionError, match="input 'event' is 'deploy': not one of pull-request, push, cd, monitor"):
        Inputs.read(local_run.INPUTS, {"event": "deploy"}, environ={})


def test_every_ref_the_workflows_use_is_mapped_to_this_checkout(tmp_path):
    workflow = tmp_path / "ci.yml"
    workflow.write_text("jobs:\n  a:\n    steps:\n      - uses: acme/mlops-actions/actions/train@v1\n"
                        "      - uses: acme/mlops-actions@0123456789abcdef0123456789abcdef01234567 # v1.2.0\n"
                        "      - uses: actions/checkout@v4\n")
    assert local_run.library_folders([workflow], "acme/mlops-actions") == {
        "acme/mlops-actions@0123456789abcdef0123456789abcdef01234567": local_run.LIBRARY_ROOT,
        "acme/mlops-actions@v1": local_run.LIBRARY_ROOT}


@pytest.mark.parametrize("event, name, body", [
    ("pull-request", "pull_request", {"number": 1, "pull_request": {
        "number": 1, "title": "Local run of feature/x", "head": {"ref": "feature/x"}, "base": {"ref": "trunk"}}}),
    ("push", "push", {"ref": "refs/heads/trunk"}),
    ("cd", "workflow_dispatch", {"inputs": {"model-name": "churn", "model-version": "7"}}),
    ("monitor", "workflow_dispatch", {}),
])
def test_each_event_is_what_github_sends(event, name, body):
    assert local_run.payload(event, "trunk", "feature/x", "churn", "7") == (name, body)


def test_the_jobs_python_is_a_cached_environment_of_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    read = lambda **flags: Inputs.read(local_run.INPUTS, flags, environ={})  # noqa: E731
    python = local_run.runner_python(read())
    assert python.is_relative_to(tmp_path / "mlops-actions" / "runner") and python.exists()
    assert Path(sys.executable).parent != python.parent  # never the Python running the command
    (python.parent / "installed-by-a-workflow").write_text("")
    assert local_run.runner_python(read()) == python  # cached: what the workflows installed stays
    assert (python.parent / "installed-by-a-workflow").exists()
    assert local_run.runner_python(read(**{"runner-python": str(python)})) == python  # a link: not resolved
    with pytest.raises(ActionError, match="input 'runner-python' is .*: not a Python this user can run"):
        local_run.runner_python(read(**{"runner-python": str(tmp_path / "nothing")}))
    with pytest.raises(ActionError, match="a home folder that does not exist"):
        local_run.runner_python(read(**{"runner-python": "~no-such-user-here/python"}))


def test_a_state_dir_that_is_a_file_is_refused_before_anything_runs(repo):
    assert cli.main(["generate"]) == 0
    (repo / "state").write_text("")
    with pytest.raises(ActionError, match="input 'state-dir' is 'state': a file, not a folder"):
        call(event="pull-request", **{"state-dir": "state"})


def test_not_a_git_repository_is_a_clear_error(tmp_path):
    with pytest.raises(ActionError, match="is not a git repository"):
        local_run.current_branch(tmp_path)


def test_a_branch_checked_out_in_another_worktree_is_a_clear_error(repo, tmp_path):
    assert cli.main(["generate"]) == 0
    subprocess.run(["git", "branch", "feature/x"], cwd=repo, check=True)
    subprocess.run(["git", "worktree", "add", "-q", str(tmp_path / "other"), "feature/x"], cwd=repo, check=True)
    with pytest.raises(ActionError, match="git worktree add feature/x failed: .*Fix: give a branch not checked out"):
        call(event="pull-request", branch="feature/x", **{"runner-python": sys.executable,
                                                          "state-dir": str(tmp_path / "state")})
    assert not (tmp_path / "state" / "report.json").exists()  # nothing ran
