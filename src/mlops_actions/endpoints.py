"""`mlops-actions endpoints`: the local backend's endpoints, and the way to stop them."""

from __future__ import annotations

from mlops_actions import backends, github
from mlops_actions.backends.local import LocalBackend
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("stop", "Stop and forget this endpoint ('all' for every one). Empty: list them."),
    Input("key", "Print this endpoint's key alone, for a client's Authorization header (masked first on a "
          "runner), e.g. curl -H \"Authorization: Bearer $(mlops-actions endpoints --key NAME)\"."),
    Input("state-dir", backends.INPUTS[1].description),
    Input("workspace", "The workspace whose endpoints these are (state-dir/workspaces/<name>, as an environment's "
          "workspace in mlops.yml names it). Empty: state-dir itself."),
]
OUTPUTS = {"endpoints": "The endpoints left, space-separated."}


def run(inputs: Inputs) -> int:
    backend = LocalBackend(backends.local_workspace(inputs, "workspace"))
    names = backend.endpoints()
    if inputs["key"]:
        name = backends.endpoint_name(inputs, "key")
        if name not in names:
            raise inputs.error("key", f"no such endpoint in {backend.state} (there are: {', '.join(names) or 'none'})",
                               "name one of them")
        key = backend.key(name)
        github.mask(key)
        print(key)
        return 0
    if inputs["stop"]:
        chosen = names if inputs["stop"] == "all" else [backends.endpoint_name(inputs, "stop")]
        if not set(chosen) <= set(names):
            raise inputs.error("stop", f"no such endpoint in {backend.state} (there are: {', '.join(names) or 'none'})",
                               "name one of them, or 'all'")
        for name in chosen:
            backend.delete_endpoint(name)
            print(f"stopped {name}")
        names = backend.endpoints()
    rows = []
    for name in names:
        try:
            endpoint = backend.ensure_endpoint(name)  # a router that died is started again
        except github.ActionError as error:
            github.warning(str(error), title=error.title)
            rows.append([f"`{name}`", "-", f"unreadable: `mlops-actions endpoints --stop {name}`"])
            continue
        rows.append([f"`{name}`", endpoint.scoring_uri,
                     ", ".join(f"{d} ({endpoint.deployments[d]}) {share}%" for d, share in endpoint.traffic.items())])
    github.add_summary(f"### Local endpoints in {backend.state}\n\n" + (
        github.markdown_table(["Endpoint", "Scoring URI", "Deployments and traffic"], rows) if rows else "none")
        + "\n\nAn endpoint's key: `mlops-actions endpoints --key NAME`. One request: `mlops-actions invoke "
        "--endpoint-name NAME --request-file FILE`.")
    github.set_output("endpoints", " ".join(names))
    return 0
