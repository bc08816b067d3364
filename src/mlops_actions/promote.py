"""The promote-model job: copy (or share) a registered version into a registry or another workspace, the way
teams move a model from staging to production.

The version keeps its name, number, files, content hash and tags, and gains its lineage (where it was copied
from). Idempotent by content hash: when the target already has these files, that version is reported and
nothing is registered; when the target has the version number with other files, the promotion is refused.
"""

from __future__ import annotations

import re

from mlops_actions import backends, environment, github
from mlops_actions.backends import CONTENT_HASH_TAG, Backend, ModelVersion
from mlops_actions.github import ActionError
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("model-name", "The model to promote: its name in the source workspace, or a registry's version as "
          "azureml://registries/<registry>/models/<name>/versions/<version>.", required=True),
    Input("model-version", "The version to promote (a number; kept in the target). Empty with a registry "
          "reference that names it."),
    Input("from-subscription-id", "azureml backend: the source workspace's subscription. Empty: subscription-id."),
    Input("from-resource-group", "azureml backend: the source workspace's resource group. Empty: resource-group."),
    Input("from-workspace", "The source workspace (azureml: its name; local backend: its state under state-dir, as "
          "the workspace input names one). Empty with the local backend: state-dir itself."),
    Input("registry", "The registry to promote into (azureml: an Azure ML registry, shared from the source "
          "workspace; the local backend keeps one under state-dir/registries/<name>). Empty: the workspace the "
          "backend inputs name."),
    *backends.INPUTS,
]
OUTPUTS = {
    "model-name": "The promoted model's name.",
    "model-version": "Its version in the target (the source's).",
    "model-uri": "Its URI in the target: azureml://registries/<registry>/models/<name>/versions/<version>, "
                 "azureml:<name>:<version> or models:/<name>/<version>.",
    "already-promoted": "'true' when the target had these files already (that version is reported, nothing is "
                        "registered).",
}
PROMOTED_FROM_TAG = "mlops-actions.promoted-from"


def source(inputs: Inputs) -> tuple[Backend, str, str, str]:
    """(the backend the version is read from, a label of where that is, the model's name, its version), checked
    before anything is called."""
    reference = backends.registry_reference(inputs)
    version = inputs["model-version"]
    if reference:
        registry, name, in_reference = reference
        if in_reference and version and version != in_reference:
            raise inputs.error("model-version", f"not the version the reference names ({in_reference})",
                               "leave model-version empty, or give the same version")
        version = version or in_reference
    else:
        name = backends.model_name(inputs)
    if not re.fullmatch("[0-9]+", version):  # isdigit() takes '²' too
        raise inputs.error("model-version", "not a version number", "give the version to promote, e.g. 3")
    if inputs.choice("backend") == "local":
        from mlops_actions.backends.local import LocalBackend

        where = f"registry {registry}" if reference else \
            f"workspace {inputs['from-workspace']}" if inputs["from-workspace"] else "the default workspace"
        state = backends.state_dir(inputs) / "registries" / registry if reference else \
            backends.local_workspace(inputs, "from-workspace")
        if not (state / "mlflow.db").is_file():  # read here, never created
            kind = "registry" if reference else "workspace"
            raise ActionError("Model not found", f"{where} has no models (no registry in {state}). Fix: register "
                              f"{name} there first (register-model), or name the {kind} it is in.")
        return LocalBackend(state, registry=registry if reference else ""), where, name, version
    if reference:
        return backends.connect_registry(inputs, registry), f"registry {registry}", name, version
    if not inputs["from-workspace"]:
        raise inputs.error("from-workspace", "empty", "name the workspace the version is copied from")
    source_workspace = {"workspace": inputs["from-workspace"], "subscription-id": inputs["from-subscription-id"],
                        "resource-group": inputs["from-resource-group"]}
    backend = backends.connect_azureml(inputs, {key: value for key, value in source_workspace.items() if value})
    group = inputs["from-resource-group"] or inputs["resource-group"]
    return backend, f"workspace {inputs['from-workspace']} (resource group {group})", name, version


def target_label(inputs: Inputs) -> str:
    if inputs["registry"]:
        return f"registry {inputs['registry']}"
    return f"workspace {inputs['workspace']}" if inputs["workspace"] else "the default workspace"


def same_place(inputs: Inputs) -> bool:
    """Whether the source and the target are one workspace (nothing to promote)."""
    reference = backends.registry_reference(inputs)
    if inputs["registry"] or reference:
        return reference is not None and reference[0] == inputs["registry"]
    return all(inputs[f"from-{key}"] in ("", inputs[key]) for key in ("subscription-id", "resource-group")) and \
        inputs["from-workspace"] == inputs["workspace"]


def promote(source_backend: Backend, where: str, target: Backend, goal: str, model: ModelVersion
            ) -> tuple[ModelVersion, bool]:
    """The version in the target with the model's files, copied now if it has none; and whether it was there."""
    digest = model.tags.get(CONTENT_HASH_TAG, "")
    if not digest:
        raise ActionError("No content hash", f"{model.name} version {model.version} in {where} has no "
                          f"{CONTENT_HASH_TAG} tag, so its files cannot be matched in {goal}. Fix: register it with "
                          "register-model, which tags it.")
    existing = target.find_model(model.name, digest)
    if existing is not None:
        return existing, True
    taken = target.find_version(model.name, model.version)
    if taken is not None:
        raise ActionError("Version holds other files", f"{model.name} version {model.version} in {goal} holds "
                          f"other files (content hash {taken.tags.get(CONTENT_HASH_TAG, 'none')[:12]}) than version "
                          f"{model.version} in {where} ({digest[:12]}): the same version with different content in "
                          "two places. Nothing was copied. Fix: promote a new version (register the model again), "
                          f"or find out why {goal} has a version {model.version} of its own.")
    lineage = {PROMOTED_FROM_TAG: f"{where}: {model.uri}"}
    with github.group(f"Promoting {model.uri} from {where} into {goal}"):
        return target.copy_model(source_backend, model, {**model.tags, **lineage}), False


def run(inputs: Inputs) -> int:
    environment.require(inputs["backend"])
    if same_place(inputs):
        raise inputs.error("from-workspace" if not inputs["registry"] else "registry",
                           f"the place the version is promoted into ({target_label(inputs)})",
                           "name another workspace or registry to copy from or into")
    if inputs["registry"]:
        backends.check_name(inputs, "registry", backends.REGISTRY_NAME, "Azure ML registry", backends.REGISTRY_RULE)
    source_backend, where, name, version = source(inputs)
    goal = target_label(inputs)
    target = backends.connect_registry(inputs) if inputs["registry"] else backends.connect(inputs)
    model = source_backend.get_model(name, version)  # a missing version stops here
    promoted, existed = promote(source_backend, where, target, goal, model)
    print(f"{'Found' if existed else 'Promoted'} {promoted.uri} in {goal}" + ("" if existed else f" (from {where})"))
    github.add_summary(f"### ✅ {model.name} version {model.version} "
                       f"{'was already in' if existed else 'promoted into'} {goal}: `{promoted.uri}`")
    github.set_outputs({"model-name": promoted.name, "model-version": promoted.version, "model-uri": promoted.uri,
                        "already-promoted": str(existed).lower()})
    return 0
