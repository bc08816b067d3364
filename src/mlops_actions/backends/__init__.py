"""Where models are registered and served: one contract, two backends.

- local (default): an MLflow model registry on sqlite and endpoints served by Azure's inference server
  (azureml-inference-server-http) as processes on 127.0.0.1, all under a state folder on this machine.
- azureml: an Azure Machine Learning workspace, through azure-ai-ml.

The model actions (register-model, deploy-endpoint, shift-traffic, smoke-test) only talk to a Backend: the
Protocol below is the contract, which both backends implement (mypy checks them against it). Training jobs
and model monitors exist on the azureml backend alone: the jobs that use them get it from connect_azureml.
"""

from __future__ import annotations

import os
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mlops_actions import paths
from mlops_actions.inputs import Input, InputError, Inputs

if TYPE_CHECKING:
    from mlops_actions.backends.azureml import AzureMLBackend
    from mlops_actions.backends.environments import CondaEnvironment

INPUTS = [
    Input("backend", "Where models live and are served: 'local' (this machine: MLflow registry, inference "
          "server on 127.0.0.1) or 'azureml' (an Azure ML workspace).", "local", choices=("local", "azureml")),
    Input("state-dir", "local backend: the folder that keeps the registry, model files and endpoints. Empty: "
          "$MLOPS_ACTIONS_STATE, else ~/.mlops-actions/state (it must outlive the job)."),
    Input("subscription-id", "azureml backend: the Azure subscription ID. Empty: $AZURE_SUBSCRIPTION_ID."),
    Input("resource-group", "azureml backend: the workspace's resource group."),
    Input("workspace", "azureml backend: the Azure ML workspace name. local backend: a state of its own under "
          "state-dir (workspaces/<name>), one per environment; empty: state-dir itself."),
    Input("client-id", "azureml backend: the workflow identity's client ID (as given to azure/login). With "
          "tenant-id, on a runner with id-token: write, the action asks GitHub for a fresh OIDC token whenever "
          "it needs one (long jobs outlive azure/login's). Empty: $AZURE_CLIENT_ID, else azure/login's session."),
    Input("tenant-id", "azureml backend: the identity's Microsoft Entra tenant ID. Empty: $AZURE_TENANT_ID."),
]

# The registry the model actions read and write model versions in, instead of the workspace (register-model,
# deploy-endpoint, promote-model)
REGISTRY = Input(
    "registry", "An Azure ML registry to use instead of the workspace's own models (azureml: its name, found through "
    "Azure ML's registry discovery; the local backend keeps one of its own, under state-dir/registries/<name>). "
    "Empty: the workspace's.")

# Where register-model finds the endpoint its metrics gate compares with (production's, in another workspace when
# each environment has its own)
CHAMPION_WORKSPACE = Input(
    "champion-workspace", "The workspace of champion-endpoint when it is not this one. azureml: its name (in "
    "subscription-id and resource-group) or its resource ID, /subscriptions/<s>/resourceGroups/<g>/providers/"
    "Microsoft.MachineLearningServices/workspaces/<w>; local: its name, as workspace takes it. Empty: workspace's.")
WORKSPACE_ID = re.compile(r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)/providers/"
                          r"Microsoft\.MachineLearningServices/workspaces/(?P<workspace>[^/]+)$", re.IGNORECASE)

# Azure's naming rules, checked before any call. Endpoints and deployments follow the same one.
ONLINE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$")
ONLINE_RULE = "3 to 32 letters, digits and hyphens, starting with a letter and not ending with a hyphen"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
MODEL_TYPES = ("mlflow_model", "custom_model")
CONTENT_HASH_TAG = "mlops-actions.content-hash"
REGISTRY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$")
REGISTRY_RULE = "3 to 33 letters, digits, '-' and '_', starting with a letter or digit"
WORKSPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,32}$")  # Azure ML's rule; a folder name locally
# azureml://registries/<registry>/models/<name>[/versions/<version>] (Azure ML's asset ID of a registry's model)
REGISTRY_REFERENCE = re.compile(r"^azureml://registries/(?P<registry>[^/]+)/models/(?P<name>[^/]+)"
                                r"(?:/versions/(?P<version>[^/]+))?$")


def registry_uri(registry: str, name: str, version: str) -> str:
    return f"azureml://registries/{registry}/models/{name}/versions/{version}"


ML_TASKS = ("classification", "regression", "question_answering")  # the tasks Azure ML's model monitor knows


@dataclass
class ModelVersion:
    name: str
    version: str
    uri: str  # azureml:name:version or models:/name/version
    type: str = "mlflow_model"
    tags: dict[str, str] = field(default_factory=dict)
    path: str = ""  # local backend: the folder with the model's files


@dataclass
class Endpoint:
    name: str
    scoring_uri: str
    traffic: dict[str, int]  # deployment -> percent; deployments with 0% are listed too
    deployments: dict[str, str]  # deployment -> model URI
    mirror: dict[str, int] = field(default_factory=dict)  # deployment -> percent of live requests copied to it

    @property
    def live(self) -> str | None:
        """The deployment that takes the most traffic, if any takes some."""
        best = max(self.traffic.items(), key=lambda item: item[1], default=(None, 0))
        return best[0] if best[1] > 0 else None


@dataclass
class DeploymentSpec:
    """What deploy-endpoint asks for; a backend fills in what it needs (files, defaults)."""
    endpoint: str
    name: str
    model: ModelVersion | None  # None only until deploy-endpoint has found it (after its checks, before deploying)
    instance_type: str = ""
    instance_count: int = 1
    endpoint_file: Path | None = None
    deployment_file: Path | None = None
    code_path: Path | None = None
    scoring_script: str = ""
    environment: str = ""  # azureml: a reference (azureml:name:version)
    environment_file: Path | None = None  # an Azure ML CLI v2 environment YAML
    conda_environment: CondaEnvironment | None = None  # local: the conda file of the deployment's environment
    collect_data: bool = False  # azureml: collect inputs and outputs (the local router always logs them)
    mirror_percent: int = 0  # share of the live requests copied to the new deployment while it is tested
    environment_variables: dict[str, str] = field(default_factory=dict)  # the deployment file's
    request_settings: dict[str, int] = field(default_factory=dict)  # request_timeout_ms, max_concurrent_...


class Backend(Protocol):
    """What the model actions call on a backend; LocalBackend (local.py) and AzureMLBackend (azureml/) implement
    it."""

    name: str  # "local" or "azureml", as the backend input names it

    # -- the registry

    def find_model(self, name: str, content_hash: str) -> ModelVersion | None:
        """The version of `name` registered with these files (CONTENT_HASH_TAG), if any."""

    def register_model(self, name: str, path: Path | str, model_type: str, description: str, tags: dict[str, str],
                       properties: dict[str, str], content_hash: str) -> tuple[ModelVersion, bool]:
        """Register a version of the files at `path` (a folder or file; on azureml also an azureml:// datastore
        URI); returns it and whether it is new."""

    def get_model(self, name: str, version: str) -> ModelVersion:
        """A registered version, or the latest ("latest")."""

    def find_version(self, name: str, version: str) -> ModelVersion | None:
        """The version of `name` numbered `version`, if there is one."""

    def copy_model(self, source: Backend, model: ModelVersion, tags: dict[str, str]) -> ModelVersion:
        """Register `model` (a version of `source`) here under its own name and version, with `tags` (its own and
        its lineage) and its files; the caller has checked that neither its content nor its version is here."""

    # -- endpoints

    def deploying(self, endpoint: str) -> AbstractContextManager[None]:
        """Held around a deploy to the endpoint (one at a time)."""

    def get_endpoint(self, name: str) -> Endpoint | None:
        """The endpoint, or None when it does not exist."""

    def deployed_model(self, endpoint: str, deployment: str) -> ModelVersion:
        """The registered version a deployment of the endpoint serves, with its tags."""

    def ensure_endpoint(self, name: str, spec_file: Path | None = None) -> Endpoint:
        """Create the endpoint if it does not exist (with an endpoint file: its settings)."""

    def create_deployment(self, spec: DeploymentSpec) -> None:
        """Deploy at 0% traffic; a deployment that fails is removed and traffic is untouched."""

    def set_traffic(self, endpoint: str, traffic: dict[str, int], mirror: dict[str, int] | None = None) -> None:
        """Replace the traffic split (deployments left out get 0%) and, when given, the mirrored traffic (None:
        kept, less any deployment given live traffic)."""

    def delete_deployment(self, endpoint: str, name: str) -> None:
        """Delete a deployment without live traffic (its mirrored traffic first)."""

    # -- scoring

    def key(self, endpoint: str) -> str:
        """What a client sends as its bearer token."""

    def concurrency_limit(self, endpoint: str, deployment: str | None) -> int | None:
        """How many requests the deployment (None: those taking traffic) admits at once; None: no limit."""

    def invoke(self, endpoint: str, body: bytes, deployment: str | None, key: str, timeout: float,
               extra_headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        """POST `body` to the endpoint (to one deployment, when named) as a client would: (status, text, the
        deployment that answered); status 0 when there was no HTTP answer."""


def check_name(inputs: Inputs, input_name: str, pattern: re.Pattern, what: str, rule: str) -> str:
    value = inputs[input_name]
    if not pattern.match(value):
        raise inputs.error(input_name, f"not a valid {what} name", f"use {rule}")
    return value


def endpoint_name(inputs: Inputs, input_name: str = "endpoint-name") -> str:
    return check_name(inputs, input_name, ONLINE_NAME, "Azure ML endpoint", ONLINE_RULE)


def deployment_name(inputs: Inputs, input_name: str = "deployment-name") -> str:
    return check_name(inputs, input_name, ONLINE_NAME, "Azure ML deployment", ONLINE_RULE)


def model_name(inputs: Inputs, input_name: str = "model-name") -> str:
    return check_name(inputs, input_name, MODEL_NAME, "model",
                      "up to 255 letters, digits, '-', '_' and '.', starting with a letter or digit")


def registry_reference(inputs: Inputs, input_name: str = "model-name") -> tuple[str, str, str] | None:
    """(registry, model, version or '') of an azureml://registries/... reference in the input, checked; None when
    it names a model of the workspace."""
    found = REGISTRY_REFERENCE.match(inputs[input_name])
    if not inputs[input_name].startswith("azureml://registries/"):
        return None
    if not found or not REGISTRY_NAME.match(found["registry"]) or not MODEL_NAME.match(found["name"]) or \
            not (found["version"] or "1").isdigit():
        raise inputs.error(input_name, "not a registry model reference", "write azureml://registries/<registry>/"
                           "models/<name>/versions/<version> (a version number), or the model's name alone")
    return found["registry"], found["name"], found["version"] or ""


def state_dir(inputs: Inputs) -> Path:
    chosen = inputs["state-dir"] or os.environ.get("MLOPS_ACTIONS_STATE") or "~/.mlops-actions/state"
    path = paths.usable("state-dir", chosen, Path(chosen).expanduser()).resolve()
    if path.exists() and not path.is_dir():
        raise InputError("state-dir", chosen, "a file, not a folder", "give a folder (it is created if missing)")
    return path


def connect(inputs: Inputs) -> Backend:
    """The backend the inputs ask for, ready to use."""
    backend = inputs.choice("backend")
    if backend == "local":
        from mlops_actions.backends.local import LocalBackend

        return LocalBackend(local_workspace(inputs, "workspace"))
    return connect_azureml(inputs)


def connect_champion(inputs: Inputs) -> Backend:
    """The workspace the champion-workspace input names (see CHAMPION_WORKSPACE), else the inputs' own."""
    value = inputs["champion-workspace"]
    if not value:
        return connect(inputs)
    if inputs.choice("backend") == "local":
        from mlops_actions.backends.local import LocalBackend

        return LocalBackend(local_workspace(inputs, "champion-workspace"))
    found = WORKSPACE_ID.match(value)
    if not found:
        check_name(inputs, "champion-workspace", WORKSPACE_NAME, "workspace",
                   f"{REGISTRY_RULE}, or the workspace's resource ID")
    return connect_azureml(inputs, {"subscription-id": found["subscription"], "resource-group": found["group"],
                                    "workspace": found["workspace"]} if found else {"workspace": value})


def local_workspace(inputs: Inputs, input_name: str) -> Path:
    """The local backend's state for the workspace the input names: state-dir/workspaces/<name>, else state-dir."""
    if not inputs[input_name]:
        return state_dir(inputs)
    check_name(inputs, input_name, WORKSPACE_NAME, "workspace", REGISTRY_RULE)
    return state_dir(inputs) / "workspaces" / inputs[input_name]


def connect_registry(inputs: Inputs, registry: str = "") -> Backend:
    """The registry the `registry` input (or `registry`, from a model reference) names, as a backend that holds
    models alone: azureml, the Azure ML registry; local, state-dir/registries/<name>, an MLflow registry of its own."""
    registry = registry or inputs["registry"]
    if not REGISTRY_NAME.match(registry):
        raise InputError("registry", registry, "not a valid Azure ML registry name", f"use {REGISTRY_RULE}")
    if inputs.choice("backend") == "local":
        from mlops_actions.backends.local import LocalBackend

        return LocalBackend(state_dir(inputs) / "registries" / registry, registry=registry)
    from mlops_actions.backends.azureml import AzureMLBackend

    return AzureMLBackend.for_registry(registry, inputs["client-id"], inputs["tenant-id"])


def connect_azureml(inputs: Inputs, where: dict[str, str] | None = None) -> AzureMLBackend:
    """The azureml backend, with what it alone has (training jobs, model monitors), for the jobs that run there: in
    the inputs' workspace, or with `where`'s subscription-id, resource-group and workspace instead."""
    settings = {"subscription-id": inputs["subscription-id"] or os.environ.get("AZURE_SUBSCRIPTION_ID", ""),
                "resource-group": inputs["resource-group"], "workspace": inputs["workspace"]} | (where or {})
    for name, value in settings.items():
        if not value:
            raise InputError(name, value, "required by the azureml backend",
                             f"set {name} (and sign in first with azure/login using OIDC)")
    from mlops_actions.backends.azureml import AzureMLBackend

    return AzureMLBackend(settings["subscription-id"], settings["resource-group"], settings["workspace"],
                          inputs["client-id"], inputs["tenant-id"])
