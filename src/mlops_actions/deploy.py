"""The deploy-endpoint job: create or update an endpoint, and deploy a model version beside the live one.

Safe rollout: the new deployment (blue or green, whichever is not live) starts at 0% traffic, so it can be
smoke-tested by name before traffic moves; the first deployment of an endpoint takes 100% at once.
"""

from __future__ import annotations

from pathlib import Path

from mlops_actions import backends, cli_yaml, environment, github, registration, splits
from mlops_actions.backends import DeploymentSpec
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("endpoint-name", "The online endpoint; created if it does not exist. Empty: the name in "
          "endpoint-file."),
    Input("model-name", "The registered model to deploy, or a registry's version as azureml://registries/"
          "<registry>/models/<name>/versions/<version>. Empty: the model in deployment-file."),
    Input("model-version", "The version to deploy, or 'latest'.", "latest"),
    Input("deployment-name", "Name of the new deployment. Empty: 'blue' or 'green', whichever is not live."),
    Input("endpoint-file", "An Azure ML CLI v2 endpoint YAML to start from (inputs override it)."),
    Input("deployment-file", "An Azure ML CLI v2 deployment YAML to start from (inputs override it)."),
    Input("instance-type", "VM size of the deployment, e.g. Standard_DS3_v2. Empty: the deployment file's, "
          "else Standard_DS3_v2 (the local backend ignores it)."),
    Input("instance-count", "Number of instances (the local backend runs this many server workers). Empty: "
          "the deployment file's, else 1."),
    Input("code-path", "custom_model: the folder with the scoring script and what it imports."),
    Input("scoring-script", "custom_model: the scoring script (init/run), relative to code-path."),
    Input("environment", "custom_model: the environment to run in: a registered one for the azureml backend, e.g. "
          "azureml:my-env:3 or azureml://registries/azureml/environments/sklearn-1.5/labels/latest, or an Azure ML "
          "CLI v2 environment YAML with a conda_file (both backends; the local backend installs its packages into "
          "a virtual environment of its own). Empty: the deployment file's."),
    Input("collect-data", "azureml backend: collect the deployment's inputs and outputs, which the Azure ML "
          "model monitor reads ('true' or 'false'). The local backend always logs them.", "false"),
    Input("traffic-percent", "Traffic the new deployment takes at once (0-100); the live one keeps the rest. "
          "0 (safe rollout): move it later with shift-traffic, after a smoke test.", "0"),
    Input("mirror-percent", "Mirror this share (0-50) of the live requests to the new deployment, whose "
          "answers go to nobody (shadow testing, as Azure ML's safe rollout does); shift-traffic stops it when "
          "the deployment takes live traffic. Not with traffic-percent.", "0"),
    backends.REGISTRY,
    *backends.INPUTS,
]
OUTPUTS = {
    "endpoint-name": "The endpoint's name.",
    "deployment-name": "The new deployment's name.",
    "previous-deployment": "The deployment that was live before (empty for an endpoint's first deployment).",
    "scoring-uri": "The endpoint's scoring URI.",
    "model-uri": "The deployed model version's URI.",
}

DEFAULT_INSTANCE_TYPE = "Standard_DS3_v2"
MAX_INSTANCES = 50  # Azure ML's default limit of instances per deployment (how-to-manage-quotas)


def setting(inputs: Inputs, input_name: str, content: dict, key: str, default: str = "") -> str:
    """An input's value, else the spec file's, else the default: written back so that checks name the input."""
    inputs.values[input_name] = inputs[input_name] or str(content.get(key) or default)
    return inputs.values[input_name]


def plan(inputs: Inputs) -> tuple[DeploymentSpec, str, int, cli_yaml.InlineModel | None]:
    """Everything deploy needs, validated before any call: (spec without model, model version, traffic, the
    deployment file's inline model to register first)."""
    endpoint_file, endpoint_spec = cli_yaml.read(inputs, "endpoint-file")
    deployment_file, deployment_spec = cli_yaml.read(inputs, "deployment-file")
    setting(inputs, "endpoint-name", endpoint_spec, "name")
    setting(inputs, "endpoint-name", deployment_spec, "endpoint_name")
    if not inputs["endpoint-name"]:
        raise inputs.error("endpoint-name", "empty", "name the endpoint, or give an endpoint-file with a name")
    endpoint = backends.endpoint_name(inputs)
    if setting(inputs, "deployment-name", deployment_spec, "name"):
        backends.deployment_name(inputs)
    inline = None
    if not inputs["model-name"] and deployment_file:  # the file's model, where the inputs name none
        found = cli_yaml.model(inputs, deployment_file, deployment_spec, endpoint)
        if isinstance(found, cli_yaml.InlineModel):
            inline, found = found, (found.name, "latest")
        if found:
            inputs.values["model-name"], inputs.values["model-version"] = found
    if not inputs["model-name"]:
        raise inputs.error("model-name", "empty", "name the registered model to deploy (register-model's output)")
    reference = backends.registry_reference(inputs)
    if reference:  # the registry and, when it names one, the version, from the reference
        inputs.values["registry"], inputs.values["model-name"] = reference[:2]
        inputs.values["model-version"] = reference[2] or inputs["model-version"]
    backends.model_name(inputs)
    version = inputs["model-version"]
    if version != "latest" and not version.isdigit():
        raise inputs.error("model-version", "not a version", "give a version number or 'latest'")
    code = deployment_spec.get("code_configuration") or {}
    if not isinstance(code, dict):
        raise inputs.error("deployment-file", "its code_configuration is not a mapping",
                           "write code_configuration: {code: <folder>, scoring_script: <file>}")
    # a code folder named in the deployment file is relative to that file, as the Azure ML CLI reads it
    code_base = deployment_file.parent if deployment_file and code.get("code") and not inputs["code-path"] \
        else Path.cwd()
    setting(inputs, "code-path", code, "code")
    setting(inputs, "scoring-script", code, "scoring_script")
    code_path = None
    if inputs["code-path"] or inputs["scoring-script"]:
        code_path = inputs.directory("code-path", code_base)
        if not inputs["scoring-script"] or not inputs.path("scoring-script", code_path).is_file():
            raise inputs.error("scoring-script", f"not a file in {code_path}",
                               "give the scoring script's path relative to code-path")
    if isinstance(deployment_spec.get("environment"), str):  # a mapping (an inline definition) stays in the file
        setting(inputs, "environment", deployment_spec, "environment")
    environment_file, conda, not_honoured = deployment_environment(inputs, deployment_file, deployment_spec)
    setting(inputs, "instance-count", deployment_spec, "instance_count", "1")
    count = int(inputs.defaulted_number("instance-count", low=1, high=MAX_INSTANCES, integer=True))
    spec = DeploymentSpec(endpoint=endpoint, name=inputs["deployment-name"], model=None,
                          instance_type=setting(inputs, "instance-type", deployment_spec, "instance_type",
                                                DEFAULT_INSTANCE_TYPE),
                          instance_count=count, endpoint_file=endpoint_file, deployment_file=deployment_file,
                          code_path=code_path, scoring_script=inputs["scoring-script"],
                          environment="" if environment_file else inputs["environment"],
                          environment_file=environment_file, conda_environment=conda,
                          collect_data=inputs.flag("collect-data"),
                          environment_variables=cli_yaml.environment_variables(inputs, deployment_spec),
                          request_settings=cli_yaml.request_settings(inputs, deployment_spec))
    traffic = int(inputs.number("traffic-percent", low=0, high=100, integer=True) or 0)
    spec.mirror_percent = int(inputs.number("mirror-percent", low=0, high=splits.MAX_MIRROR, integer=True) or 0)
    if traffic and spec.mirror_percent:
        raise inputs.error("mirror-percent", f"set with traffic-percent {traffic}", "a deployment takes live or "
                           "mirrored traffic, not both: leave one of them at 0")
    if inline:  # checked before it is registered
        cli_yaml.check_inline(inputs, inline, code_path)
        if inline.version:
            github.warning(f"{inputs['deployment-file']}: its inline model's version {inline.version} is not kept; "
                           f"the model is registered as the next version of {inline.name}, once per content (the same "
                           "files again are the same version). Fix: register it with register-model and write "
                           "model: azureml:<name>:<version>.", title="Deployment file")
    if inputs["backend"] == "local" and not_honoured:
        github.warning(f"The local backend does not honour {' and '.join(not_honoured)}: Azure ML does.",
                       title="Deployment file")
    return spec, version, traffic, inline


def deployment_environment(inputs: Inputs, deployment_file: Path | None, deployment_spec: dict) \
        -> tuple[Path | None, cli_yaml.CondaEnvironment | None, list[str]]:
    """The deployment's environment as files give it: (the environment YAML the environment input names, its or the
    deployment file's inline environment's conda file, what of each file the local backend cannot honour)."""
    keys = cli_yaml.not_honoured_locally(deployment_spec)
    not_honoured = [f"{', '.join(keys)} of {inputs['deployment-file']}"] if keys else []
    if not inputs["environment"].endswith((".yml", ".yaml")) or inputs["environment"].startswith("azureml:"):
        conda = cli_yaml.conda_environment(inputs, "deployment-file", deployment_file,
                                           deployment_spec.get("environment")) if deployment_file else None
        return None, conda, not_honoured  # without a deployment file, no inline environment either
    environment_file, content = cli_yaml.read(inputs, "environment")  # an Azure ML CLI v2 environment YAML
    assert environment_file is not None, "the environment input names a file"
    conda = cli_yaml.conda_environment(inputs, "environment", environment_file, content)
    if conda is None:
        raise inputs.error("environment", "an environment YAML without a conda_file", "give it a conda_file (the "
                           "local backend builds the environment from it), or name a registered environment as "
                           "azureml:<name>:<version>")
    keys = cli_yaml.not_honoured_in_environment(content)
    return environment_file, conda, not_honoured + ([f"{', '.join(keys)} of {inputs['environment']}"] if keys else [])


def summary(spec: DeploymentSpec, previous: str | None, endpoint: backends.Endpoint) -> str:
    assert spec.model is not None, "run() has found the model"
    rows = [["Endpoint", f"`{spec.endpoint}`"], ["Deployment", f"`{spec.name}`"], ["Model", f"`{spec.model.uri}`"],
            ["Previous deployment", f"`{previous}`" if previous else "none (first deployment)"],
            ["Traffic", ", ".join(f"{name} {share}%" for name, share in endpoint.traffic.items())],
            *([["Mirrored", ", ".join(f"{name} {share}%" for name, share in endpoint.mirror.items())]]
              if endpoint.mirror else []),
            ["Scoring URI", endpoint.scoring_uri]]
    return f"### 🚀 Deployed `{spec.model.uri}` to `{spec.endpoint}/{spec.name}`\n\n" + \
        github.markdown_table(["", ""], rows)


def deploy(backend: backends.Backend, spec: DeploymentSpec, traffic: int) -> str | None:
    """Create or update the endpoint, deploy beside its live deployment, and set the traffic; returns the
    deployment that was live before."""
    assert spec.model is not None, "run() has found the model"
    with github.group(f"Endpoint {spec.endpoint}"):
        endpoint = backend.ensure_endpoint(spec.endpoint, spec.endpoint_file)
    previous = endpoint.live
    if not spec.name:
        spec.name = "green" if previous == "blue" else "blue"
    if endpoint.traffic.get(spec.name, 0) > 0:  # never replace what clients are reaching
        raise github.ActionError("Deployment is live", f"deployment {spec.name} takes {endpoint.traffic[spec.name]}% "
                                 f"of {spec.endpoint}'s traffic ({endpoint.traffic}); nothing was deployed. Fix: "
                                 "give another deployment-name, or move all traffic to one deployment with "
                                 "shift-traffic first.")
    with github.group(f"Deployment {spec.endpoint}/{spec.name} of {spec.model.uri}"):
        backend.create_deployment(spec)
    if previous is None:
        backend.set_traffic(spec.endpoint, {spec.name: 100})
    elif traffic:
        backend.set_traffic(spec.endpoint, {spec.name: traffic, previous: 100 - traffic})
    elif spec.mirror_percent:
        live = {name: share for name, share in endpoint.traffic.items() if share}
        backend.set_traffic(spec.endpoint, live, {spec.name: spec.mirror_percent})
    return previous


def run(inputs: Inputs) -> int:
    environment.require(inputs["backend"])  # before plan(): it reads YAML files
    spec, version, traffic, inline = plan(inputs)
    backend = backends.connect(inputs)
    if inline:  # as the Azure ML CLI does with an inline model: registered, then deployed
        spec.model = registration.register_once(backend, inline.name, inline.path, inline.model_type,
                                                registration.content_hash(inline.path))[0]
    else:  # a missing model stops here
        models = backends.connect_registry(inputs) if inputs["registry"] else backend
        spec.model = models.get_model(inputs["model-name"], version)
    if spec.model.type == "custom_model" and not spec.code_path:
        raise inputs.error("scoring-script", f"empty, and {spec.model.uri} is a custom_model",
                           "give the code-path and scoring-script (init/run) that serve it")
    if spec.collect_data and spec.model.type == "custom_model":
        github.warning("collect-data on a custom_model collects only what its scoring script logs with "
                       "azureml-ai-monitoring's Collector (learn.microsoft.com/azure/machine-learning/"
                       "how-to-collect-production-data); an MLflow model's inputs and outputs are collected as they "
                       "are.", title="Data collection")

    with backend.deploying(spec.endpoint):  # one deploy at a time per endpoint: never two on the same slot
        previous = deploy(backend, spec, traffic)
    endpoint = backend.get_endpoint(spec.endpoint)
    assert endpoint is not None, "it was deployed to"
    print(f"Deployed {spec.model.uri} to {spec.endpoint}/{spec.name}; traffic: {endpoint.traffic}")
    github.add_summary(summary(spec, previous, endpoint))
    github.set_outputs({"endpoint-name": spec.endpoint, "deployment-name": spec.name,
                        "previous-deployment": previous or "", "scoring-uri": endpoint.scoring_uri,
                        "model-uri": spec.model.uri})
    return 0
