"""mlops.yml: the project's config, validated against templates/mlops.schema.json.

Every error names the key path, the line, what was found and what is expected; an unknown key gets a
did-you-mean. A pull request can change mlops.yml, so before anything is rendered from it the file is held
to limits that a parser cannot be made to work around: its size and its aliases and nesting before it is
parsed; no control characters, trailing newlines, NaN or infinities in its values; one endpoint per
environment.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import re
from pathlib import Path

from mlops_actions import cron
from mlops_actions.github import ActionError

# templates/ of this repository when run from a checkout (as the actions are); inside the package when
# installed from a wheel (pyproject.toml maps it there)
CHECKOUT_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
TEMPLATES = CHECKOUT_TEMPLATES if CHECKOUT_TEMPLATES.is_dir() else Path(__file__).resolve().parent / "templates"
SCHEMA = TEMPLATES / "mlops.schema.json"
MAX_BYTES = 256 << 10
MAX_ALIASES = 50  # a YAML alias bomb expands a few lines into billions of values
MAX_DEPTH = 20
CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


class ConfigError(ActionError):
    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__("Invalid mlops.yml", f"{path}: " + "\n".join(problems))


def safe_load(text: str):
    """yaml.safe_load with at most MAX_ALIASES aliases and MAX_DEPTH levels of nesting."""
    import yaml

    class Loader(yaml.SafeLoader):
        aliases = depth = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                Loader.aliases += 1
                if Loader.aliases > MAX_ALIASES:
                    raise ValueError(f"more than {MAX_ALIASES} aliases (*name): an alias bomb, or not a config")
            Loader.depth += 1
            try:
                if Loader.depth > MAX_DEPTH:
                    raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
                return super().compose_node(parent, index)
            finally:
                Loader.depth -= 1

    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader


def unsafe_values(value, path: tuple = ()) -> list[str]:
    """Values no workflow should get: control characters or a trailing newline in a string, NaN or infinity."""
    where = ".".join(map(str, path)) or "(top level)"
    if isinstance(value, dict):
        return [problem for key, item in value.items() for problem in unsafe_values(item, path + (key,))]
    if isinstance(value, list):
        return [problem for index, item in enumerate(value) for problem in unsafe_values(item, path + (index,))]
    if isinstance(value, str) and CONTROL.search(value):
        return [f"{where}: {value[:60]!r} has a control character or a line break (a folded `>-` scalar keeps a long "
                "value on one line)"]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: {value} is not a number a workflow can use"]
    return []


def schema() -> dict:
    return json.loads(SCHEMA.read_text())


def schema_url(repository: str, ref: str) -> str:
    """Where editors fetch the schema of the library at `ref` (a tag or a commit): the file in its repository."""
    return f"https://raw.githubusercontent.com/{repository}/{ref}/templates/mlops.schema.json"


def line_numbers(text: str) -> dict[tuple, int]:
    """Each key path of the YAML document -> its line (1-based)."""
    import yaml

    lines: dict[tuple, int] = {}

    def walk(node, path: tuple) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, path + (key.value,))
                lines[path + (key.value,)] = key.start_mark.line + 1  # the key's line, not its value's
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


def with_defaults(value, node: dict, definitions: dict):
    """Fill in the schema's defaults, recursively, for the keys the file leaves out."""
    if "$ref" in node:
        node = definitions[node["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, dict) and "properties" in node:
        for key, child in node["properties"].items():
            if key not in value and "default" in child:
                value[key] = copy.deepcopy(child["default"])
            if key in value:
                value[key] = with_defaults(value[key], child, definitions)
    return value


def explain(error, lines: dict[tuple, int]) -> str:
    """One error: `key.path (line N): what is wrong; expected ...`."""
    path = tuple(error.absolute_path)
    where = ".".join(str(part) for part in path) or "(top level)"
    line = lines.get(path)
    location = f"{where} (line {line})" if line else where
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, allowed, n=1)
            key_line = lines.get(path + (key,))
            hints.append(f"{where + '.' if path else ''}{key}{f' (line {key_line})' if key_line else ''}: unknown key"
                         + (f"; did you mean '{close[0]}'?" if close else f"; expected one of {', '.join(allowed)}"))
        return "\n".join(hints)
    if error.validator == "required":
        return f"{location}: {error.message}"
    if error.validator == "pattern":
        description = error.schema.get("description", "")
        return f"{location}: {error.instance!r} is not valid{f' ({description})' if description else ''}"
    if error.validator in ("type", "enum", "const", "anyOf"):
        return f"{location}: {error.instance!r} is not {expected(error.schema)}"
    return f"{location}: {error.message}"


def expected(node: dict) -> str:
    if "enum" in node:
        return "one of " + ", ".join(map(str, node["enum"]))
    if "anyOf" in node:
        return " or ".join(expected(option) for option in node["anyOf"])
    if "const" in node:
        return repr(node["const"])
    kind = node.get("type", "valid")
    article = "an" if str(kind)[0] in "aeiou" else "a"
    return f"{article} {kind}"


def load(path: Path) -> dict:
    """Read, validate and complete mlops.yml; raise ConfigError with every problem found."""
    import jsonschema
    import yaml

    if not path.is_file():
        raise ConfigError(path, ["no such file. Fix: run `mlops-actions init` to write a starter mlops.yml"])
    if path.stat().st_size > MAX_BYTES:
        raise ConfigError(path, [f"{path.stat().st_size} bytes, more than a config needs ({MAX_BYTES})"])
    text = path.read_text(errors="replace")
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(path, [f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"]) from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(path, [f"not a config: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, ["the file must be a YAML mapping of keys (library, model, environments, ...)"])
    unsafe = unsafe_values(data)
    if unsafe:
        raise ConfigError(path, unsafe)
    rules = schema()
    validator = jsonschema.Draft202012Validator(rules)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    lines = line_numbers(text)
    problems = [explain(error, lines) for error in errors]
    data = with_defaults(data, rules, rules["$defs"])
    if not problems and data["backend"] == "azureml" and "azure" not in data:
        problems.append("azure: required with backend azureml (subscription-id, resource-group, workspace, "
                        "client-id, tenant-id)")
    if not problems and data["backend"] == "azureml" and data.get("monitor") and \
            data["model"]["type"] == "custom_model" and not data["monitor"]["collector"]:
        problems.append(f"monitor (line {lines.get(('monitor',))}): Azure ML collects a custom model's data only when "
                        "its scoring script logs it with azureml-ai-monitoring's Collector "
                        "(learn.microsoft.com/azure/machine-learning/how-to-collect-production-data); without it the "
                        "model monitor has nothing to compare. Fix: log inputs with the Collector in the scoring "
                        "script and set monitor.collector: true, or leave monitor out")
    endpoints = [environment["endpoint"] for environment in data.get("environments", {}).values()
                 if isinstance(environment, dict) and "endpoint" in environment]
    if not problems and len(set(endpoints)) < len(endpoints):
        problems.append(f"environments: {', '.join(sorted({e for e in endpoints if endpoints.count(e) > 1}))} is the "
                        "endpoint of more than one environment; staging and production each need their own")
    monitor = data.get("monitor")
    schedule = monitor.get("schedule", "") if isinstance(monitor, dict) else ""
    if not problems and schedule and not cron.valid(schedule):
        problems.append(f"monitor.schedule (line {lines.get(('monitor', 'schedule'))}): {schedule!r} is not a cron "
                        "expression (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6)")
    for key in ("compute", "job-file"):
        if not problems and data["backend"] == "local" and data["model"].get(key):
            problems.append(f"model.{key} (line {lines.get(('model', key))}): training on Azure ML compute needs "
                            "backend azureml; with the local backend the training runs on the runner")
    compare = data["pull-request"]
    if not problems and compare["compare"] and data["backend"] == "azureml" and \
            compare.get("client-id", data["azure"]["client-id"]) == data["azure"]["client-id"]:
        problems.append(f"pull-request.compare (line {lines.get(('pull-request', 'compare'))}): the comparison job "
                        "runs the pull request's code while signed in to Azure, so it needs an identity of its own, "
                        "not CI's (which registers the models CD deploys). Fix: set pull-request.client-id to an "
                        "identity with a federated credential for the repository's pull_request subject and only "
                        "Reader on production's workspace")
    if not problems and data["pull-request"]["compare"] and not data["model"].get("metrics-file"):
        problems.append(f"pull-request.compare (line {lines.get(('pull-request', 'compare'))}): compares the metrics "
                        "the training writes, and model.metrics-file is not set. Fix: set model.metrics-file")
    if not problems:
        problems += complete_environments(data, lines)
    staging, production = data["environments"]["staging"], data["environments"]["production"]
    if not problems and data["backend"] == "local" and staging["workspace"] and not production["workspace"] and \
            any("champion." in condition for condition in data["model"].get("gate") or []):
        problems.append(f"environments.staging.workspace (line {lines.get(('environments', 'staging', 'workspace'))}): "
                        "staging has a workspace of its own and production has none, so the metrics gate's champion "
                        "(production's model) cannot be named. Fix: give production a workspace too")
    if not problems and len(data["library"]["ref"]) == 40 and "tag" not in data["library"]:
        data["library"]["tag"] = ""
    if problems:
        raise ConfigError(path, problems)
    return data


# -- environments in workspaces of their own, and a registry (promotion) ------------------------------------------

WORKSPACE_KEYS = ("subscription-id", "resource-group", "workspace", "client-id")  # as azure: names them


def complete_environments(data: dict, lines: dict[tuple, int]) -> list[str]:
    """Give each environment its GitHub environment and, on azureml, its workspace and identity (its own keys,
    else azure:'s); return what is wrong. The local backend keeps a state of its own per named workspace."""
    problems = []
    for name, environment in data["environments"].items():
        environment.setdefault("github-environment", name)
        if data["backend"] == "azureml":
            for key in WORKSPACE_KEYS:
                environment.setdefault(key, data["azure"][key])
            continue
        environment.setdefault("workspace", "")
        for key in WORKSPACE_KEYS[:2] + WORKSPACE_KEYS[3:]:
            if key in environment:
                problems.append(f"environments.{name}.{key} (line {lines.get(('environments', name, key))}): an Azure "
                                "setting, and the backend is local. Fix: remove it (with the local backend, workspace "
                                "alone gives the environment a state of its own), or set backend: azureml")
    staging, production = data["environments"]["staging"], data["environments"]["production"]
    if staging["github-environment"] == production["github-environment"]:
        problems.append(f"environments.production.github-environment (line "
                        f"{lines.get(('environments', 'production', 'github-environment'))}): "
                        f"{production['github-environment']!r} is staging's GitHub environment too, so staging would "
                        "wait for production's reviewers and sign in as production. Fix: give each its own")
    return problems


def workspace_of(environment: dict) -> tuple[str, ...]:
    return tuple(environment.get(key, "") for key in ("subscription-id", "resource-group", "workspace"))


def copies_to_production(c: dict) -> bool:
    """Whether CD copies the version from staging's workspace into production's: they differ, and no registry
    holds the one version both deploy."""
    environments = c["environments"]
    return "registry" not in c and workspace_of(environments["staging"]) != workspace_of(environments["production"])
