"""A new repository adopts the library from the README's first lines: the install line (the one tested is the
one the README shows), init, generate, and pre-commit with the README's hooks, with a large .venv present.
(The local pull-request run of a new repository is test_new_repository.py's, through act.)"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def getting_started(language: str) -> str:
    """The first ```language block of the README's "Getting started" section."""
    section = README[README.index("## Getting started\n"):]
    section = section[:section.index("\n## ")]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def commands() -> list[list[str]]:
    return [shlex.split(line, comments=True) for line in getting_started("sh").splitlines() if line.strip()]


def test_the_readme_installs_every_command_from_a_clone_with_the_cli_extra():
    clone, install = commands()[:2]
    assert clone[:2] == ["git", "clone"] and install[:4] == ["python", "-m", "pip", "install"]
    *options, requirement = install[4:]
    folder, extras = re.fullmatch(r"\./([^\[]+)\[(.+)\]", requirement).groups()
    assert folder == clone[-1].rsplit("/", 1)[-1]  # the folder the clone line makes
    assert options == ["-e"]  # editable: `mlops-actions local` runs the workflows with the clone's actions
    assert extras == "cli"
    # this suite's installation is that line's, from this checkout: each package of the extra is here
    distribution = metadata.distribution("mlops-actions")
    assert "cli" in distribution.metadata.get_all("Provides-Extra")
    origin = json.loads(distribution.read_text("direct_url.json") or "{}")
    assert origin.get("dir_info", {}).get("editable") and origin["url"] == ROOT.as_uri()
    missing = []
    for line in distribution.requires or []:
        wanted = Requirement(line)
        if not (wanted.marker and wanted.marker.evaluate({"extra": "cli"})) or \
                wanted.marker.evaluate({"extra": ""}):
            continue  # not the cli extra's
        try:
            if metadata.version(wanted.name) not in wanted.specifier:
                missing.append(f"{wanted} (have {metadata.version(wanted.name)})")
        except metadata.PackageNotFoundError:
            missing.append(str(wanted))
    assert not missing, missing


def snapshot(target: Path) -> str:
    """This checkout's files as pre-commit fetches a release: a repository of their own, at one commit."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "release"]):
        subprocess.run([*git, *args], cwd=target, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=target, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("pre-commit", path=str(Path(sys.executable).parent)) is None,
                    reason="pre-commit is in the dev extra: scripts/test installs it")
def test_a_new_repository_adopts_the_library_from_the_readme(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", PRE_COMMIT_HOME=str(tmp_path / "cache"))

    def run(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{shlex.join(args)}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        return result

    run("git", "init", "-q", "-b", "main")
    for path, text in {"src/model/__init__.py": "", "tests/test_model.py": "def test_nothing():\n    pass\n",
                       ".gitignore": ".venv/\n"}.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    packages = project / ".venv" / "lib" / "python3.12" / "site-packages"  # a large one, every file a violation
    (project / ".venv" / "pyvenv.cfg").parent.mkdir()
    (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for package in range(100):
        (packages / f"pkg{package}").mkdir(parents=True)
        for module in range(100):
            (packages / f"pkg{package}" / f"m{module}.py").write_text("import os\n")

    steps = [command for command in commands() if command[0] == "mlops-actions"]
    assert [command[:2] for command in steps[:2]] == [["mlops-actions", "init"], ["mlops-actions", "generate"]]
    for command in steps[:2]:  # as the README writes them
        run(*command)
    assert (project / ".github" / "workflows" / "pull-request.yml").is_file()

    config = yaml.safe_load(getting_started("yaml"))  # the README's .pre-commit-config.yaml, at this checkout
    [hooks] = config["repos"]
    assert hooks["repo"] == "https://github.com/OWNER/mlops-actions"
    hooks.update(repo=str(tmp_path / "release"), rev=snapshot(tmp_path / "release"))
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    run("git", "add", "-A")
    result = run("pre-commit", "run", "--all-files")
    assert re.search(r"flake8, as the pull-request workflow runs it\.+Passed", result.stdout), result.stdout
    assert re.search(r"workflows match mlops.yml\.+Passed", result.stdout), result.stdout

    (project / "src" / "model" / "__init__.py").write_text("import os\n")  # and the hook does lint the source
    result = subprocess.run(["pre-commit", "run", "--all-files"], cwd=project, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 1 and "src/model/__init__.py:1:1: error [flake8 F401]" in result.stdout
    assert ".venv" not in result.stdout
