"""The shift-traffic job: move an endpoint's traffic between its deployments, and retire the idle ones."""

from __future__ import annotations

import re

from mlops_actions import backends, environment, github
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("endpoint-name", "The online endpoint."),
    Input("traffic", "The new split: a deployment name (it takes 100%), or 'name=percent' pairs that add up "
          "to 100, e.g. 'blue=90,green=10'. Deployments left out get 0%."),
    Input("retire", "Delete the deployments that have 0% once traffic has moved ('true' or 'false').", "false"),
    *backends.INPUTS,
]
OUTPUTS = {
    "traffic": "The endpoint's traffic after the change, e.g. 'green=100'.",
    "retired": "The deployments deleted, space-separated.",
}

SHARE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9-]*)=(?P<share>\d{1,3})$")


def parse_traffic(inputs: Inputs, name: str = "traffic") -> dict[str, int]:
    """'green' -> {green: 100}; 'blue=90,green=10' -> {blue: 90, green: 10} (must add up to 100)."""
    text = inputs[name].replace(" ", "")
    if backends.ONLINE_NAME.match(text):
        return {text: 100}
    split = {}
    for part in filter(None, text.split(",")):
        match = SHARE.match(part)
        if not match or int(match["share"]) > 100:
            raise inputs.error(name, f"{part!r} is not name=percent", "write e.g. 'blue=90,green=10', or one "
                               "deployment name for 100%")
        split[match["name"]] = int(match["share"])
    if sum(split.values()) != 100:
        raise inputs.error(name, f"the shares add up to {sum(split.values())}, not 100",
                           "make the percentages add up to 100")
    return split


def describe(traffic: dict[str, int]) -> str:
    return ",".join(f"{name}={share}" for name, share in traffic.items())


def shift(backend, endpoint_name: str, traffic: dict[str, int], retire: bool) -> tuple[dict[str, int], list[str]]:
    """Move traffic (and retire idle deployments); the deployments named must exist."""
    endpoint = backend.get_endpoint(endpoint_name)
    if endpoint is None:
        raise github.ActionError("Endpoint not found", f"endpoint {endpoint_name} does not exist on the "
                                 f"{backend.name} backend. Fix: deploy it first with deploy-endpoint.")
    unknown = [name for name in traffic if name not in endpoint.deployments]
    if unknown:
        raise github.ActionError("Deployment not found", f"endpoint {endpoint_name} has no deployment "
                                 f"{', '.join(unknown)} (it has: {', '.join(endpoint.deployments) or 'none'}); "
                                 "traffic is unchanged.")
    backend.set_traffic(endpoint_name, traffic)
    retired = [name for name in endpoint.deployments if not traffic.get(name)] if retire else []
    for name in retired:
        backend.delete_deployment(endpoint_name, name)
    return backend.get_endpoint(endpoint_name).traffic, retired


def run(inputs: Inputs) -> int:
    endpoint_name = backends.endpoint_name(inputs)
    traffic = parse_traffic(inputs)
    retire = inputs.flag("retire")
    if inputs["backend"] == "azureml":  # the local backend needs nothing more here
        environment.require("azureml")
    backend = backends.connect(inputs)
    after, retired = shift(backend, endpoint_name, traffic, retire)
    print(f"Endpoint {endpoint_name} traffic: {describe(after)}"
          + (f"; retired {' '.join(retired)}" if retired else ""))
    github.add_summary(f"### 🔀 Traffic of `{endpoint_name}`: {describe(after)}"
                       + (f"\n\nRetired: {', '.join(f'`{name}`' for name in retired)}" if retired else ""))
    github.set_outputs({"traffic": describe(after), "retired": " ".join(retired)})
    return 0
