"""A deployment's environment on the local backend: a virtual environment per conda file, built once.

Azure ML builds an image per environment and serves the deployment from it: "Azure ML will build the conda
environment on top of the Docker image provided" (learn.microsoft.com/azure/machine-learning/
reference-yaml-environment, conda_file). Locally there is no image and no conda: the conda file's packages are
installed with pip into a virtual environment under the state folder (environments/<hash>), keyed by the hash of
what it asks for and built once, and the deployment's inference server runs from it. What cannot be had locally is
a warning naming it, never a silent drop:
- a Python version with no interpreter on this machine (pythonX.Y on PATH, or under pyenv): the runner's is used;
- a conda package with no release on the package index under that name (mkl, cudatoolkit): left out.
The conda file's `pip:` list is installed as conda installs it, by pip from the conda file's folder (so
`-r requirements.txt` beside it works); a package pip cannot install fails the deployment, as it fails Azure's
image build.

Conda's file format: conda.io, "Creating an environment file manually" (a `dependencies` list of match
specifications and one `pip:` list); match specifications: docs.conda.io/projects/conda-build, "Package match
specifications" (`numpy=1.11` is 1.11.*, `numpy 1.11*`, `numpy>=1.8,<2`, `conda-forge::numpy`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from mlops_actions import github
from mlops_actions.backends import processes
from mlops_actions.github import ActionError

SERVER_PACKAGE = "azureml-inference-server-http"
# packages that bring the inference server with them (azureml-defaults depends on it)
SERVES = {SERVER_PACKAGE, "azureml-defaults"}
CONDA_SPEC = re.compile(r"^(?:[\w.-]+::)?(?P<name>[A-Za-z0-9_.-]+)\s*(?P<version>[^\s]*)?(?:\s+(?P<build>\S+))?$")
PYTHON_VERSION = re.compile(r"^(?:==?)?\s*(?P<version>3\.\d+)(?:\.[\d*]+)*$")
NOT_PACKAGES = {"python", "pip"}  # the interpreter, and pip, which every virtual environment has
BUILD_TIMEOUT = 1800  # seconds pip may take to build an environment


@dataclass
class CondaEnvironment:
    """What a conda file asks for."""
    source: str  # the file (or the deployment file holding it inline), for messages
    folder: Path  # where pip runs from: relative paths in the file are relative to it
    python: str = ""  # "3.9", or empty: any
    conda: list[str] = field(default_factory=list)  # conda packages, as pip requirements
    pip: list[str] = field(default_factory=list)  # the `pip:` list, as written
    unreadable: list[str] = field(default_factory=list)  # conda entries with no pip equivalent


def conda_requirement(entry: str) -> str | None:
    """A conda match specification as a pip requirement ('numpy=1.23' -> 'numpy==1.23.*'), or None."""
    found = CONDA_SPEC.match(entry.strip())
    if not found or "|" in entry:
        return None
    name, version = found["name"], found["version"] or ""
    if not version:
        return name
    fuzzy = re.fullmatch(r"=(?P<version>[\d.]+\*?)(?:=\S+)?", version)
    if fuzzy:  # =1.23 is 1.23.*; =1.23=<build> drops the build, which pip has no notion of
        return f"{name}=={fuzzy['version'].rstrip('.*')}.*"
    if re.fullmatch(r"[\d.]+\*?", version):  # 'numpy 1.11*' or 'numpy 1.11'
        return f"{name}=={version.rstrip('.*')}.*" if version.endswith("*") else f"{name}=={version}"
    if re.fullmatch(r"(?:(?:==|>=|<=|!=|>|<|~=)[\w.*+!-]+,?)+", version):
        return f"{name}{version.rstrip(',')}"
    return None


def from_conda_file(content: dict, source: str, folder: Path) -> CondaEnvironment:
    """A conda file's content (a mapping) as a CondaEnvironment; ValueError for a shape conda refuses."""
    dependencies = content.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise ValueError("its dependencies is not a list")
    environment = CondaEnvironment(source=source, folder=folder)
    for entry in dependencies:
        if isinstance(entry, dict) and set(entry) == {"pip"} and isinstance(entry["pip"], list):
            environment.pip += [str(line) for line in entry["pip"] if line is not None]
        elif isinstance(entry, (str, int, float)) and not isinstance(entry, bool):
            text = str(entry)
            found = CONDA_SPEC.match(text.strip())
            if found and found["name"] == "python":
                version = PYTHON_VERSION.match(found["version"] or "")
                environment.python = version["version"] if version else ""
            elif found and found["name"] in NOT_PACKAGES:
                continue
            elif (requirement := conda_requirement(text)) is not None:
                environment.conda.append(requirement)
            else:
                environment.unreadable.append(text)
        else:
            raise ValueError(f"dependency {entry!r} is neither a package nor a pip list")
    if any("\0" in line or "\n" in line for line in environment.pip + environment.conda):
        raise ValueError("a dependency holds a NUL or a line break")
    return environment


def interpreter(version: str) -> str | None:
    """An interpreter of Python `version` (X.Y) on this machine: pythonX.Y on PATH, else pyenv's newest."""
    root = Path(os.environ.get("PYENV_ROOT") or "~/.pyenv").expanduser()
    installed = sorted(root.glob(f"versions/{version}.*/bin/python{version}"),
                       key=lambda path: [int(part) for part in re.findall(r"\d+", path.parents[1].name)], reverse=True)
    for candidate in [shutil.which(f"python{version}"), *installed]:
        if not candidate:
            continue
        try:
            check = subprocess.run([candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if check.returncode == 0 and check.stdout.strip() == version:  # a pyenv shim of a version not in use fails
            return str(candidate)
    return None


def base_interpreter(environment: CondaEnvironment) -> str:
    """The interpreter the environment is built from; a version this machine does not have is a warning."""
    runner = "%d.%d" % sys.version_info[:2]
    if not environment.python or environment.python == runner:
        return sys.executable
    found = interpreter(environment.python)
    if found is None:
        github.warning(f"{environment.source} asks for Python {environment.python}, which this machine does not have "
                       f"(no python{environment.python} on PATH or under pyenv): the local endpoint runs Python "
                       f"{runner}, Azure ML runs {environment.python}. Fix: install Python {environment.python} "
                       "(e.g. `pyenv install " + environment.python + "`).", title="Deployment environment")
        return sys.executable
    return found


def requirement_lines(environment: CondaEnvironment, python: str) -> list[str]:
    """The requirements file pip installs: the conda packages, the pip list (its -r/-c files by absolute path),
    and the inference server when the file does not name it."""
    lines = list(environment.conda)
    for line in environment.pip:
        option = re.match(r"^(-r|-c|--requirement|--constraint)(?:\s+|=)(\S+)$", line.strip())
        short = "-" + option[1].lstrip("-")[0] if option else ""  # -r or -c
        lines.append(f"{short} {(environment.folder / option[2]).resolve()}" if option else line)
    names = {re.split(r"[\s\[<>=!~;@]", line.strip(), maxsplit=1)[0].lower().replace("_", "-") for line in lines}
    if not names & SERVES:
        github.warning(f"{environment.source} does not name {SERVER_PACKAGE}: Azure ML refuses such a deployment "
                       f"(\"A required package {SERVER_PACKAGE} is missing\") unless its image has the server. The "
                       "local endpoint adds it. Fix: add it to the conda file's pip list.",
                       title="Deployment environment")
        same_python = python == sys.executable
        lines.append(f"{SERVER_PACKAGE}=={metadata.version(SERVER_PACKAGE)}" if same_python else SERVER_PACKAGE)
    return lines


def fingerprint(python: str, lines: list[str]) -> str:
    """What makes an environment: the interpreter, the requirements, and the files they name."""
    version = sys.version if python == sys.executable else subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, timeout=60).stdout.strip()
    named = {}
    for line in lines:
        option = re.match(r"^-[rc] (\S+)$", line)
        if option and Path(option[1]).is_file():
            named[option[1]] = hashlib.sha256(Path(option[1]).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps([os.path.realpath(python), version, lines, named]).encode()).hexdigest()


def pip_environment() -> dict[str, str]:
    """pip's environment: the allow-list servers get, and pip's own settings (an index, a certificate)."""
    from mlops_actions.backends.local import SERVER_ENVIRONMENT

    return {name: value for name, value in os.environ.items() if SERVER_ENVIRONMENT.match(name)
            or name.startswith("PIP_")}


def pip(python: Path, arguments: list[str], cwd: Path) -> tuple[int, str]:
    """Run pip in the environment; its output is the index's and the file's, never workflow commands."""
    try:
        done = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *arguments], cwd=cwd,
                              env=pip_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return 1, f"pip did not finish within {BUILD_TIMEOUT} s"
    return done.returncode, done.stdout


def gunicorn_options(python: Path) -> list[str]:
    """Options for the gunicorn an environment has: from 25.1 it opens a control socket under HOME unless told not
    to (gunicorn's settings, control_socket_disable: "versionadded:: 25.1.0"), which earlier ones do not know."""
    found = metadata.version("gunicorn") if python == Path(sys.executable) else subprocess.run(  # runner: no process
        [str(python), "-c", "from importlib.metadata import version; print(version('gunicorn'))"],
        capture_output=True, text=True, timeout=60).stdout
    return ["--no-control-socket"] if tuple(int(part) for part in re.findall(r"\d+", found)[:2]) >= (25, 1) else []


def ensure(environment: CondaEnvironment, state: Path) -> Path:
    """The Python of the environment's virtual environment under `state`, built if it is not there yet."""
    base = base_interpreter(environment)
    lines = requirement_lines(environment, base)
    for entry in environment.unreadable:
        github.warning(f"{environment.source}: the conda dependency {entry!r} has no pip equivalent this action "
                       "can read: left out of the local environment.", title="Deployment environment")
    folder = state / "environments" / fingerprint(base, lines)[:20]
    python = folder / "bin" / "python"
    folder.parent.mkdir(mode=0o700, exist_ok=True)
    # one build at a time: a second deploy of the same environment waits, then reuses it
    with processes.exclusive(folder.with_name(folder.name + ".lock")):
        if (folder / ".complete").is_file():
            return python
        shutil.rmtree(folder, ignore_errors=True)  # what an interrupted build left
        made = subprocess.run([base, "-m", "venv", str(folder)], capture_output=True, text=True, timeout=300)
        if made.returncode != 0:
            raise ActionError("Environment failed", f"{base} could not make a virtual environment for "
                              f"{environment.source}: {made.stderr.strip()[-2000:]}")
        with github.group(f"Environment of {environment.source}: Python {environment.python or 'as the runner'}, "
                          f"{len(lines)} requirements"), github.untrusted_output():
            lines = install(environment, python, folder, lines)
        (folder / ".complete").write_text("\n".join(lines) + "\n")
    return python


def install(environment: CondaEnvironment, python: Path, folder: Path, lines: list[str]) -> list[str]:
    """pip install the requirements; a conda package the index does not have is left out with a warning, then
    pip tries again. Returns what was installed."""
    requirements = folder / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    code, output = pip(python, ["install", "-r", str(requirements)], environment.folder)
    print(output)
    if code != 0 and environment.conda:
        missing = [package for package in environment.conda
                   if pip(python, ["install", "--dry-run", "--no-deps", "-q", package], environment.folder)[0] != 0]
        for package in missing:
            github.warning(f"{environment.source}: the conda package {package!r} is not on the package index pip "
                           "uses: left out of the local environment (Azure ML installs it with conda).",
                           title="Deployment environment")
        if missing:
            lines = [line for line in lines if line not in missing]
            requirements.write_text("\n".join(lines) + "\n")
            code, output = pip(python, ["install", "-r", str(requirements)], environment.folder)
            print(output)
    if code != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise ActionError("Environment failed", f"pip could not install the packages of {environment.source} "
                          f"(Azure ML's image build would fail too); nothing was deployed and traffic is unchanged. "
                          f"pip's output ends with:\n{output.strip()[-3000:]}")
    return lines
