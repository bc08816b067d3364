"""The register-model job: a metrics gate, then a versioned, tagged, idempotent model registration."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from mlops_actions import backends, environment, gate, github, promote, registration
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("model-name", "Name of the model in the registry (letters, digits, '-', '_', '.').", required=True),
    Input("model-path", "The model's folder: an MLflow model (with an MLmodel file) or, for custom_model, "
          "any files (a pickle, weights). The azureml backend also takes an azureml:// datastore URI (then "
          "the same URI, not the same bytes, returns the same version). A registry's version, azureml://registries/"
          "<registry>/models/<name>/versions/<version>, is copied as promote-model copies it (number, files and "
          "tags kept).", required=True),
    Input("model-type", "mlflow_model or custom_model.", "mlflow_model", choices=backends.MODEL_TYPES),
    Input("description", "Description of this version."),
    Input("tags", "Tags for this version: a YAML or JSON mapping, e.g. '{team: risk, stage: candidate}'."),
    Input("properties", "Properties for this version (kept as tags prefixed 'property.' on the local "
          "backend): a YAML or JSON mapping."),
    Input("metrics-file", "A JSON file of metrics (e.g. {\"accuracy\": 0.81}); its values are added as tags "
          "metric.<name>, and metrics-gate is checked against it."),
    Input("metrics-gate", "Conditions the metrics must meet, one per line or comma-separated, e.g. "
          "'accuracy >= 0.7, auc > 0.8'; with champion-endpoint also against the champion's, e.g. "
          "'auc >= champion.auc - 0.005'. A failed condition registers nothing."),
    Input("champion-endpoint", "An endpoint whose live model (the deployment taking the most traffic) is the "
          "champion that metrics-gate's champion.<metric> conditions compare with. No champion yet (no endpoint, "
          "no traffic): those conditions are skipped."),
    backends.CHAMPION_WORKSPACE,
    backends.REGISTRY,
    *backends.INPUTS,
]
OUTPUTS = {
    "model-name": "The registered model's name.",
    "model-version": "The version registered (or the existing version with byte-identical files).",
    "model-uri": "The version's URI: azureml:<name>:<version> or models:/<name>/<version>; in a registry, "
                 "azureml://registries/<registry>/models/<name>/versions/<version>.",
    "already-registered": "'true' when byte-identical files were registered before and that version is "
                          "returned.",
}


def mapping(inputs: Inputs, name: str) -> dict[str, str]:
    """A YAML or JSON mapping input, as strings."""
    if not inputs[name]:
        return {}
    import yaml

    try:
        value = yaml.safe_load(inputs[name])
    except yaml.YAMLError as exc:
        raise inputs.error(name, f"not YAML or JSON ({str(exc).splitlines()[0]})",
                           "give a mapping such as '{team: risk}' or '{\"team\": \"risk\"}'") from None
    if not isinstance(value, dict):
        raise inputs.error(name, f"a {type(value).__name__}, not a mapping",
                           "give key: value pairs, such as '{team: risk, stage: candidate}'")
    return {str(key): "" if item is None else str(item) for key, item in value.items()}


def read_metrics(inputs: Inputs, base: Path) -> dict[str, float]:
    path = inputs.optional_file("metrics-file", base)
    if path is None:
        if inputs["metrics-gate"]:
            raise inputs.error("metrics-gate", "set without a metrics-file", "give the metrics-file the gate reads")
        return {}
    try:
        metrics = json.loads(path.read_text())
    except (ValueError, RecursionError) as exc:
        raise inputs.error("metrics-file", f"not JSON ({exc})", "write the metrics as a JSON object") from None
    if not isinstance(metrics, dict):
        raise inputs.error("metrics-file", "not a JSON object", "write {\"metric\": value, ...}")
    # numbers only: JSON's true is not a metric of 1 (bool is an int to Python)
    numbers = {name: value for name, value in metrics.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    infinite = [name for name, value in numbers.items() if not finite(value)]
    if infinite:  # NaN, Infinity, 1e400 and 10**400 parse; an infinite champion could never be beaten
        raise inputs.error("metrics-file", f"{', '.join(infinite)} is not a finite number",
                           "write each metric as a finite number")
    return numbers


def finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer past a float's range
        return False


PROVENANCE = ("git.", "github.", "metric.", "property.", "mlops-actions.")  # tags only register-model writes


def model_source(inputs: Inputs, base: Path, model_type: str) -> tuple[Path | str, str]:
    """The model's folder (checked) or, on Azure ML, a datastore URI; and its content hash."""
    if inputs["model-path"].startswith("azureml://"):
        if inputs["backend"] != "azureml":
            raise inputs.error("model-path", "an azureml:// URI, which only the azureml backend reads",
                               "give a local folder, or set backend to azureml")
        if inputs["registry"]:  # a datastore belongs to a workspace; a registry keeps files of its own
            raise inputs.error("model-path", f"a workspace's datastore URI, which registry {inputs['registry']} "
                               "cannot hold", "give the model's folder (it is uploaded into the registry), or "
                               "register it in the workspace and share it with promote-model")
        return inputs["model-path"], hashlib.sha256(inputs["model-path"].encode()).hexdigest()
    path = check_model_folder(inputs, base, model_type)
    return path, registration.content_hash(path)


def check_model_folder(inputs: Inputs, base: Path, model_type: str) -> Path:
    path = inputs.path("model-path", base)
    if not path.exists():
        raise inputs.error("model-path", "no such file or folder", "give the folder the training wrote the model to")
    if model_type == "mlflow_model" and not (path / "MLmodel").is_file():
        raise inputs.error("model-path", "not an MLflow model (no MLmodel file in it)",
                           "point at the folder mlflow.<flavor>.save_model wrote, or set model-type to custom_model")
    if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
        raise inputs.error("model-path", "an empty folder", "point at the folder with the model's files")
    return path


def summary(model: backends.ModelVersion | None, existing: bool, checks: list[gate.Check],
            metrics: dict[str, float], champion: gate.Champion | None) -> str:
    parts = []
    if model:
        what = "already registered as" if existing else "registered as"
        parts.append(f"### ✅ Model {what} `{model.uri}`")
    else:
        parts.append("### ❌ Model not registered: the metrics gate failed")
    if champion:
        parts.append(gate.champion_line(champion))
    if checks or metrics:
        parts.append(github.markdown_table(*gate.table(checks, metrics, champion)))
    return "\n\n".join(parts)


def registry_version(inputs: Inputs, name: str) -> tuple[str, str, str] | None:
    """(registry, name, version) when model-path is a registry's version, checked against model-name."""
    reference = backends.registry_reference(inputs, "model-path")
    if reference and (reference[1] != name or not reference[2]):
        raise inputs.error("model-path", f"a registry reference to {reference[1]!r} "
                           f"{'version ' + reference[2] if reference[2] else 'without a version'}, not to {name}'s "
                           "version", "write azureml://registries/<registry>/models/<model-name>/versions/<version>")
    return reference


def run(inputs: Inputs) -> int:
    base = Path.cwd()
    name = backends.model_name(inputs)
    model_type = inputs.choice("model-type")
    reference = registry_version(inputs, name)
    path, digest = ("", "") if reference else model_source(inputs, base, model_type)
    environment.require(inputs["backend"])
    tags, properties = mapping(inputs, "tags"), mapping(inputs, "properties")
    reserved = [key for key in tags if key.startswith(PROVENANCE)]
    if reserved:
        raise inputs.error("tags", f"{', '.join(reserved)} is a tag register-model sets itself (where the version "
                           "came from, its metrics, its content)",
                           f"give your tags names that do not start with {', '.join(PROVENANCE)}")
    metrics = read_metrics(inputs, base)
    conditions = gate.parse(inputs)
    champion = None
    if inputs["champion-endpoint"]:
        endpoint = backends.endpoint_name(inputs, "champion-endpoint")
        champion = gate.champion_of(inputs, endpoint)
        print(gate.champion_line(champion))
    checks = gate.evaluate(inputs, conditions, metrics, champion, digest)
    for check in checks:
        if check.held is None:
            print(f"{check.condition.text}: {check.found}")
    failed = [check for check in checks if check.held is False]
    if failed:
        for check in failed:
            github.error(f"The metrics gate failed: {check.condition.text} is not met ({check.found}); nothing was "
                         "registered.", title="Metrics gate")
        github.add_summary(summary(None, False, checks, metrics, champion))
        return 1

    backend = backends.connect_registry(inputs) if inputs["registry"] else backends.connect(inputs)
    if reference:  # a registry's version: copied here as promote-model copies it (its own tags kept)
        source = backends.connect_registry(inputs, reference[0])
        model, existing = promote.promote(source, f"registry {reference[0]}", backend, promote.target_label(inputs),
                                          source.get_model(name, reference[2]))
    else:
        model, created = registration.register_once(backend, name, path, model_type, digest, inputs["description"],
                                                    {f"metric.{k}": str(v) for k, v in metrics.items()} | tags,
                                                    properties)
        existing = not created
    print(f"{'Found' if existing else 'Registered'} {model.uri}")
    github.add_summary(summary(model, existing, checks, metrics, champion))
    github.set_outputs({"model-name": model.name, "model-version": model.version, "model-uri": model.uri,
                        "already-registered": str(existing).lower()})
    return 0
