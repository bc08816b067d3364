"""The shift-traffic job: move an endpoint's traffic between its deployments, and retire the idle ones."""

from __future__ import annotations

from mlops_actions import backends, environment, github, splits
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("endpoint-name", "The online endpoint.", required=True),
    Input("traffic", "The new split: a deployment name (it takes 100%), or 'name=percent' pairs that add up "
          "to 100, e.g. 'blue=90,green=10'. Deployments left out get 0%. Empty (with mirror): unchanged."),
    Input("mirror", "Mirror a share of the live requests to one deployment, which answers nobody (shadow "
          "testing, at most 50%), e.g. 'green=10'; 'off' to stop. Empty: unchanged, except that a deployment "
          "taking live traffic is mirrored to no longer."),
    Input("retire", "Delete the deployments that have 0% (and no mirrored traffic) once traffic has moved "
          "('true' or 'false').", "false"),
    *backends.INPUTS,
]
OUTPUTS = {
    "traffic": "The endpoint's traffic after the change, e.g. 'green=100'.",
    "mirror": "The endpoint's mirrored traffic after the change, e.g. 'green=10' (empty: none).",
    "retired": "The deployments deleted, space-separated.",
}


def shift(backend: backends.Backend, endpoint_name: str, traffic: dict[str, int] | None, retire: bool,
          mirror: dict[str, int] | None = None) -> tuple[backends.Endpoint, list[str]]:
    """Move traffic and mirrored traffic (and retire idle deployments); the deployments named must exist.
    Traffic moves before anything is deleted."""
    endpoint = backend.get_endpoint(endpoint_name)
    if endpoint is None:
        raise github.ActionError("Endpoint not found", f"endpoint {endpoint_name} does not exist on the "
                                 f"{backend.name} backend. Fix: deploy it first with deploy-endpoint.")
    traffic = traffic if traffic is not None else {name: share for name, share in endpoint.traffic.items() if share}
    unknown = [name for name in [*traffic, *(mirror or {})] if name not in endpoint.deployments]
    if unknown:
        raise github.ActionError("Deployment not found", f"endpoint {endpoint_name} has no deployment "
                                 f"{', '.join(unknown)} (it has: {', '.join(endpoint.deployments) or 'none'}); "
                                 "traffic is unchanged.")
    live_mirrored = [name for name in (mirror or {}) if traffic.get(name)]
    if live_mirrored:
        raise github.ActionError("Mirror to a live deployment", f"{', '.join(live_mirrored)} takes live traffic "
                                 "and cannot be mirrored to as well (Azure ML mirrors only to a deployment without "
                                 "live traffic); traffic is unchanged.")
    mirror = splits.mirror_beside(traffic, endpoint.mirror if mirror is None else mirror)
    backend.set_traffic(endpoint_name, traffic, mirror)
    retired = [name for name in endpoint.deployments if not traffic.get(name) and not mirror.get(name)] \
        if retire else []
    for name in retired:
        backend.delete_deployment(endpoint_name, name)
    after = backend.get_endpoint(endpoint_name)
    assert after is not None, "it was there when traffic moved"
    return after, retired


def run(inputs: Inputs) -> int:
    endpoint_name = backends.endpoint_name(inputs)
    mirror = splits.parse_mirror(inputs, "mirror")
    if not inputs["traffic"] and mirror is None:
        raise inputs.error("traffic", "empty", "give the new split, e.g. 'green' or 'blue=90,green=10' (or a mirror)")
    traffic = splits.parse(inputs, "traffic") if inputs["traffic"] else None
    retire = inputs.flag("retire")
    if inputs["backend"] == "azureml":  # the local backend needs nothing more here
        environment.require("azureml")
    backend = backends.connect(inputs)
    after, retired = shift(backend, endpoint_name, traffic, retire, mirror)
    live = splits.describe({name: share for name, share in after.traffic.items() if share})
    mirrored = splits.describe(after.mirror)
    print(f"Endpoint {endpoint_name} traffic: {live or 'none'}" + (f"; mirrored: {mirrored}" if mirrored else "")
          + (f"; retired {' '.join(retired)}" if retired else ""))
    github.add_summary(f"### 🔀 Traffic of `{endpoint_name}`: {live or 'none'}"
                       + (f"\n\nMirrored (answers nobody): {mirrored}" if mirrored else "")
                       + (f"\n\nRetired: {', '.join(f'`{name}`' for name in retired)}" if retired else ""))
    github.set_outputs({"traffic": live, "mirror": mirrored, "retired": " ".join(retired)})
    return 0
