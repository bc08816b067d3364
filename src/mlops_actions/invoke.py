"""`mlops-actions invoke`: one request to an endpoint, as its clients send it; prints the answer and the
deployment that gave it (the `azureml-model-deployment` response header, on Azure ML and the local router)."""

from __future__ import annotations

import json
from pathlib import Path

from mlops_actions import backends, environment, github, smoke
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("endpoint-name", "The online endpoint.", required=True),
    Input("request-file", "A JSON request, e.g. in the Azure ML payload format: "
          "{\"input_data\": {\"columns\": [...], \"index\": [...], \"data\": [[...]]}}.", required=True),
    Input("deployment-name", "Send it to this deployment (the azureml-model-deployment request header), even at "
          "0% traffic. Empty: the endpoint's traffic split chooses."),
    Input("timeout-seconds", "Time limit of the request.", "60"),
    *backends.INPUTS,
]
OUTPUTS = {
    "status": "The HTTP status of the answer (0: there was none).",
    "deployment": "The deployment that answered.",
}


def run(inputs: Inputs) -> int:
    """0 when the endpoint answered 2xx, 1 when it answered an error status, 2 when it could not be asked."""
    endpoint = backends.endpoint_name(inputs)
    deployment = backends.deployment_name(inputs) if inputs["deployment-name"] else None
    body, _ = smoke.read_request(inputs, Path.cwd())
    timeout = inputs.defaulted_number("timeout-seconds", low=0.1, high=600)
    if inputs["backend"] == "azureml":
        environment.require("azureml")
    backend = backends.connect(inputs)
    found = backend.get_endpoint(endpoint)
    if found is None:
        raise inputs.error("endpoint-name", f"no such endpoint on the {backend.name} backend",
                           "name one that exists (`mlops-actions endpoints` lists the local backend's), or deploy "
                           "it first with deploy-endpoint")
    if deployment and deployment not in found.deployments:
        raise inputs.error("deployment-name", f"no such deployment of {endpoint} (it has: "
                           f"{', '.join(found.deployments) or 'none'})", "name one of them, or leave it empty")
    key = backend.key(endpoint)
    github.mask(key)
    status, text, answered_by = backend.invoke(endpoint, body, deployment, key, timeout)
    github.set_outputs({"status": status, "deployment": answered_by})
    if status == 0:
        raise github.ActionError("No answer", f"{found.scoring_uri} did not answer: {text}. Fix: check that the "
                                 f"endpoint is running (`mlops-actions endpoints` starts a local one again).")
    try:
        shown = json.dumps(json.loads(text), indent=2)
    except ValueError:
        shown = text
    with github.untrusted_output():  # the model's answer, whatever it holds
        print(shown)
    print(f"{endpoint}: HTTP {status} from deployment {answered_by or '(not named by the endpoint)'}")
    if not 200 <= status < 300:
        github.error(f"{endpoint} answered HTTP {status}" + (f" from {answered_by}" if answered_by else "")
                     + ": the answer is above.", title="Request failed")
        return 1
    return 0
