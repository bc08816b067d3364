"""Deployment files read as the Azure ML CLI reads them, before anything is deployed: a deployment environment's
conda file, read as conda reads it (environments.py), and inline models. Deploying them is in
test_local_lifecycle.py."""

import sys

import pytest

from mlops_actions import deploy
from mlops_actions.backends import environments
from mlops_actions.inputs import InputError, Inputs


@pytest.mark.parametrize("conda, pip", [
    ("numpy", "numpy"),
    ("numpy=1.23.5", "numpy==1.23.5.*"),  # conda's = is fuzzy: 1.23.5, 1.23.5.post1
    ("numpy=1.23", "numpy==1.23.*"),
    ("numpy=1.2*", "numpy==1.2.*"),
    ("numpy=1.23.5=py39h_0", "numpy==1.23.5.*"),  # a build string pip has no notion of
    ("numpy==1.23.5", "numpy==1.23.5"),
    ("numpy>=1.8,<2", "numpy>=1.8,<2"),
    ("numpy 1.11*", "numpy==1.11.*"),
    ("numpy 1.11.0 py39_0", "numpy==1.11.0"),
    ("conda-forge::scikit-learn=1.2.2", "scikit-learn==1.2.2.*"),
    ("numpy 1.8*|1.8.1", None),  # an alternative pip cannot say
    ("numpy=>1", None),
])
def test_a_conda_match_specification_as_a_pip_requirement(conda, pip):
    assert environments.conda_requirement(conda) == pip


def test_azures_sample_conda_file_is_read_as_conda_reads_it(tmp_path):
    import yaml

    from test_local_lifecycle import SAMPLE_CONDA

    read = environments.from_conda_file(yaml.safe_load(SAMPLE_CONDA), "conda.yaml", tmp_path)
    assert read.python == "3.9"
    assert read.conda == ["numpy==1.23.5.*", "scikit-learn==1.2.2.*", "scipy==1.10.1.*"]  # pip itself is the venv's
    assert read.pip == ["azureml-inference-server-http==1.4.0", "inference-schema[numpy-support]", "joblib"]


@pytest.mark.parametrize("content, problem", [
    ({"dependencies": "numpy"}, "its dependencies is not a list"),
    ({"dependencies": [{"pip": ["a"], "conda": ["b"]}]}, "is neither a package nor a pip list"),
    ({"dependencies": [["numpy"]]}, "is neither a package nor a pip list"),
    ({"dependencies": [{"pip": ["numpy\nrm"]}]}, "a NUL or a line break"),
])
def test_a_conda_file_conda_would_refuse_is_refused(tmp_path, content, problem):
    with pytest.raises(ValueError, match=problem):
        environments.from_conda_file(content, "conda.yaml", tmp_path)


def test_requirements_name_their_files_by_path_and_the_server_is_added_with_a_warning(tmp_path, capsys):
    pip = ["-r requirements.txt", "--constraint=c.txt", "joblib"]
    read = environments.from_conda_file({"dependencies": [{"pip": pip}]}, "conda.yaml", tmp_path)
    lines = environments.requirement_lines(read, sys.executable)
    assert lines[:3] == [f"-r {tmp_path / 'requirements.txt'}", f"-c {tmp_path / 'c.txt'}", "joblib"]
    assert lines[3].startswith("azureml-inference-server-http==")  # the runner's own version, for the same Python
    assert 'A required package azureml-inference-server-http is missing' in capsys.readouterr().out
    (tmp_path / "requirements.txt").write_text("numpy\n")
    first = environments.fingerprint(sys.executable, lines)
    (tmp_path / "requirements.txt").write_text("numpy==2.0\n")  # a named file's content is part of the environment
    assert environments.fingerprint(sys.executable, lines) != first
    served = environments.from_conda_file({"dependencies": [{"pip": ["azureml-defaults>=1.56"]}]}, "c.yaml", tmp_path)
    assert environments.requirement_lines(served, sys.executable) == ["azureml-defaults>=1.56"]
    assert "is missing" not in capsys.readouterr().out


def test_a_python_this_machine_does_not_have_is_a_warning_and_the_runners_serves(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pythonX.Y on PATH, and no pyenv
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    wanted = environments.CondaEnvironment("conda.yaml", tmp_path, python="3.7")
    assert environments.base_interpreter(wanted) == sys.executable
    assert "conda.yaml asks for Python 3.7, which this machine does not have" in capsys.readouterr().out
    runner = environments.CondaEnvironment("conda.yaml", tmp_path, python="%d.%d" % sys.version_info[:2])
    assert environments.base_interpreter(runner) == sys.executable and capsys.readouterr().out == ""


def plan(tmp_path, monkeypatch, deployment: str, **flags):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deployment.yml").write_text(deployment)
    return deploy.plan(Inputs.read(deploy.INPUTS, {"deployment-file": "deployment.yml", "model-name": "m",
                                                   "endpoint-name": "an-endpoint", **flags}, environ={}))[0]


def test_an_inline_conda_file_and_an_environment_yaml_are_both_read(tmp_path, monkeypatch, capsys):
    inline = plan(tmp_path, monkeypatch, "environment:\n  image: mcr.microsoft.com/azureml/minimal\n  conda_file:\n"
                  "    dependencies: [python=3.11, {pip: [joblib]}]\n")
    assert (inline.conda_environment.python, inline.conda_environment.pip) == ("3.11", ["joblib"])
    assert "does not honour environment.image of deployment.yml" in capsys.readouterr().out
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "conda.yml").write_text("dependencies:\n  - scipy=1.10\n")
    (tmp_path / "env" / "environment.yml").write_text("$schema: https://azuremlschemas.azureedge.net/latest/"
                                                      "environment.schema.json\nname: scorer\nimage: mcr.microsoft."
                                                      "com/azureml/minimal\nconda_file: conda.yml\n")
    spec = plan(tmp_path, monkeypatch, "instance_count: 1\n", environment="env/environment.yml")
    assert spec.environment_file == tmp_path / "env" / "environment.yml" and spec.environment == ""
    assert (spec.conda_environment.conda, spec.conda_environment.folder) == (["scipy==1.10.*"], tmp_path / "env")
    assert "does not honour image of env/environment.yml" in capsys.readouterr().out


@pytest.mark.parametrize("deployment, flags, message", [
    ("environment:\n  conda_file: missing.yml\n", {}, "conda_file 'missing.yml' is not a file next to deployment.yml"),
    ("environment:\n  conda_file: [a]\n", {}, "conda_file is \\['a'\\]"),
    ("environment:\n  conda_file: {dependencies: 3}\n", {}, "its dependencies is not a list"),
    ("environment:\n  conda_file: ../../../etc/passwd\n", {}, "outside the workspace"),
    ("name: blue\n", {"environment": "deployment.yml"}, "an environment YAML without a conda_file"),
])
def test_an_environment_azure_would_refuse_is_an_input_error(tmp_path, monkeypatch, deployment, flags, message):
    if "outside" in message:
        from conftest import as_runner

        as_runner(monkeypatch, tmp_path / "home", tmp_path)
    with pytest.raises(InputError, match=message):
        plan(tmp_path, monkeypatch, deployment, **flags)


def test_an_inline_models_version_is_named_in_a_warning(tmp_path, monkeypatch, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("1\n")
    (tmp_path / "score.py").write_text("def init():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deployment.yml").write_text("model:\n  name: mine\n  version: 7\n  path: model\n"
                                             "code_configuration:\n  code: .\n  scoring_script: score.py\n")
    flags = {"deployment-file": "deployment.yml", "endpoint-name": "an-endpoint"}
    inline = deploy.plan(Inputs.read(deploy.INPUTS, flags, environ={}))[3]
    assert (inline.name, inline.version) == ("mine", "7")
    assert "its inline model's version 7 is not kept" in capsys.readouterr().out
