"""Azure ML CLI v2 endpoint and deployment YAML files, read as the Azure ML CLI reads them.

Sources:
- learn.microsoft.com/azure/machine-learning/reference-yaml-deployment-managed-online: the keys; `model` is
  "a reference to an existing versioned model in the workspace or an inline model specification"
  (azureml:<model-name>:<model-version>, or the Model schema); `code_configuration.code` is a local path;
  `environment_variables` are "set in the deployment container" and readable by the scoring script.
- how-to-manage-models ("azureml:<name>@latest" for a model's latest version).
- reference-yaml-model: an inline model's `path` ("a local path ... or a URI"), `name`, `version`, `type`
  (custom_model by default).
- reference-yaml-environment: `conda_file` ("string or object"), `image`, `build`; an inline environment in a
  deployment file has the same keys.
- azure-rest-api-specs, OnlineRequestSettings: maxConcurrentRequestsPerInstance ("Defaults to 1"),
  requestTimeout ("Defaults to 5000ms"); maxQueueWait deprecated for managed online endpoints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlops_actions import paths
from mlops_actions.backends import environments
from mlops_actions.backends.environments import CondaEnvironment
from mlops_actions.inputs import Inputs

REFERENCE = re.compile(r"^azureml:(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))$")
ENVIRONMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # POSIX names: what a container can set
REQUEST_SETTINGS = ("request_timeout_ms", "max_concurrent_requests_per_instance")
MAX_SETTING = 3_600_000  # a bound of this action's (an hour in ms), not Azure's: what a socket timeout takes
LOCAL_KEYS = {"$schema", "name", "endpoint_name", "model", "code_configuration", "instance_count",
              "environment_variables", "request_settings"}  # what the local backend honours
ENVIRONMENT_KEYS = {"$schema", "name", "version", "description", "tags", "conda_file"}  # ... of an environment


@dataclass
class InlineModel:
    """A model the deployment file defines in place: registered before it is deployed, as the CLI does."""
    path: Path
    name: str
    model_type: str
    version: str = ""  # as written; registration numbers versions itself, once per content


def read(inputs: Inputs, name: str) -> tuple[Path | None, dict]:
    """An Azure ML CLI v2 YAML file: its path and content (a mapping)."""
    path = inputs.optional_file(name, Path.cwd())
    if path is None:
        return None, {}
    return path, load(inputs, name, path, "give an Azure ML CLI v2 online endpoint/deployment YAML")


def load(inputs: Inputs, name: str, path: Path, what: str) -> dict:
    """A YAML file that must hold a mapping; the input `name` is blamed for it."""
    import yaml

    try:
        content = yaml.safe_load(path.read_text())
    except RecursionError:
        raise inputs.error(name, f"{path.name} is nested too deeply to read", "fix the file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise inputs.error(name, f"{path.name} is not valid YAML ({str(exc).splitlines()[0]})", "fix the file") \
            from None
    if not isinstance(content, dict):
        raise inputs.error(name, f"{path.name} is not a YAML mapping", what)
    return content


def model(inputs: Inputs, file: Path, content: dict, endpoint: str) -> tuple[str, str] | InlineModel | None:
    """The deployment file's `model`: (name, version or 'latest') for a reference, an InlineModel, or None."""
    value = content.get("model")
    if value is None:
        return None
    if isinstance(value, str) and value.startswith("azureml://registries/"):  # checked as model-name
        return value, "latest"
    if isinstance(value, str) and value.startswith("azureml:"):
        found = REFERENCE.match(value)
        if not found or (found["label"] and found["label"] != "latest"):
            raise inputs.error("deployment-file", f"model {value!r} is not a model reference this action reads",
                               "write azureml:<name>:<version>, azureml:<name>@latest, or an inline model")
        return found["name"], found["version"] or "latest"
    inline = {"path": value} if isinstance(value, str) else value
    if not isinstance(inline, dict) or not isinstance(inline.get("path"), str) or not inline["path"]:
        raise inputs.error("deployment-file", "its model is neither a reference nor an inline model with a path",
                           "write azureml:<name>:<version>, or model: {name: ..., path: ...}")
    if inline["path"].startswith(("azureml:", "http:", "https:", "wasbs:", "abfss:")):
        raise inputs.error("deployment-file", f"its inline model's path {inline['path']!r} is a URI",
                           "register the model first (register-model) and reference it as azureml:<name>:<version>")
    model_type = str(inline.get("type") or "custom_model")
    if model_type not in ("custom_model", "mlflow_model"):
        raise inputs.error("deployment-file", f"its inline model's type {model_type!r} is not deployable here",
                           "use custom_model or mlflow_model")
    path = paths.confined("deployment-file", inline["path"], file.parent / inline["path"])  # relative to the file
    if not path.exists():
        raise inputs.error("deployment-file", f"its inline model's path {inline['path']!r} does not exist next to "
                           "it", "give the model's folder or file, relative to the deployment file")
    return InlineModel(path=path, name=str(inline.get("name") or endpoint), model_type=model_type,
                       version=str(inline.get("version") or ""))


def check_inline(inputs: Inputs, inline: InlineModel, code_path: Path | None) -> None:
    """What registering and serving an inline model needs, checked before it is registered."""
    if inline.model_type == "mlflow_model" and not (inline.path / "MLmodel").is_file():
        raise inputs.error("deployment-file", f"its inline mlflow_model {inline.path} has no MLmodel file",
                           "point model.path at the folder mlflow saved, or set model.type: custom_model")
    if inline.path.is_dir() and not any(path.is_file() for path in inline.path.rglob("*")):
        raise inputs.error("deployment-file", f"its inline model {inline.path} is an empty folder",
                           "point model.path at the model's files")
    if inline.model_type == "custom_model" and code_path is None:
        raise inputs.error("deployment-file", "its inline custom_model has no code_configuration",
                           "give code_configuration (code and scoring_script) that serves it")


def environment_variables(inputs: Inputs, content: dict) -> dict[str, str]:
    value = content.get("environment_variables") or {}
    if not isinstance(value, dict):
        raise inputs.error("deployment-file", "its environment_variables is not a mapping", "write NAME: value pairs")
    bad = [str(name) for name in value if not ENVIRONMENT_NAME.match(str(name))]
    if bad:
        raise inputs.error("deployment-file", f"environment_variables has names a process cannot take ({bad[0]!r})",
                           "use letters, digits and underscores, not starting with a digit")
    bad = [str(name) for name, text in value.items() if isinstance(text, (dict, list)) or "\0" in str(text)]
    if bad:
        raise inputs.error("deployment-file", f"environment_variables.{bad[0]} is not a value a process can take "
                           "(a mapping, a list or a NUL)", "give each variable a string, number or boolean")
    return {str(name): "" if text is None else str(text).lower() if isinstance(text, bool) else str(text)
            for name, text in value.items()}


def request_settings(inputs: Inputs, content: dict) -> dict[str, int]:
    value = content.get("request_settings") or {}
    if not isinstance(value, dict):
        raise inputs.error("deployment-file", "its request_settings is not a mapping",
                           f"write {' and '.join(REQUEST_SETTINGS)} under it")
    settings = {}
    for key in REQUEST_SETTINGS:
        if key in value:
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_SETTING:
                raise inputs.error("deployment-file", f"request_settings.{key} is {number!r}, not a whole number "
                                   f"from 1 to {MAX_SETTING}", f"set request_settings.{key} to a whole number")
            settings[key] = number
    return settings


def conda_environment(inputs: Inputs, name: str, file: Path, environment) -> CondaEnvironment | None:
    """The conda file of an inline environment (a deployment file's `environment:`) or of an environment YAML, read
    as conda reads it: a path relative to the file that names it, or the conda file's content in place
    (reference-yaml-environment: conda_file is "string or object")."""
    if not isinstance(environment, dict) or environment.get("conda_file") is None:
        return None
    conda = environment["conda_file"]
    if isinstance(conda, str) and conda:
        path = paths.confined(name, conda, file.parent / conda)
        if not path.is_file():
            raise inputs.error(name, f"its environment's conda_file {conda!r} is not a file next to {file.name}",
                               "give the conda file's path relative to the file that names it")
        content, source = load(inputs, name, path, "give a conda environment file (dependencies: [...])"), conda
        folder = path.parent
    elif isinstance(conda, dict):
        content, source, folder = conda, f"the conda_file in {file.name}", file.parent
    else:
        raise inputs.error(name, f"its environment's conda_file is {conda!r}", "give a conda file's path, or its "
                           "content as a mapping")
    try:
        return environments.from_conda_file(content, source, folder)
    except ValueError as exc:
        raise inputs.error(name, f"the conda file {source}: {exc}", "write dependencies as conda does: package "
                           "specifications and one `- pip: [...]` list") from None


def not_honoured_locally(content: dict) -> list[str]:
    """Keys of a deployment file the local backend cannot honour (it warns about each). An inline environment's
    conda file is honoured (environments.py), its image and build are not."""
    keys = sorted(key for key in content if key not in LOCAL_KEYS)
    environment = content.get("environment")
    if isinstance(environment, dict) and environment.get("conda_file") is not None:
        keys.remove("environment")
        keys += [f"environment.{key}" for key in not_honoured_in_environment(environment)]
    settings = content.get("request_settings")
    if isinstance(settings, dict):
        keys += [f"request_settings.{key}" for key in settings if key not in REQUEST_SETTINGS]
    return keys


def not_honoured_in_environment(content: dict) -> list[str]:
    """Keys of an environment (YAML or inline) the local backend cannot honour: all but its conda file."""
    return sorted(key for key in content if key not in ENVIRONMENT_KEYS)
