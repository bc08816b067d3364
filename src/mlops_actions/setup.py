"""`mlops-actions setup`: what the workflows need, checked, each missing piece with its exact fix.

Dry-run by default: it only looks. With --apply it creates what it can (the local state folder; the
Azure ML compute cluster the workflows train on, when they do; the GitHub repository's settings, see
setup_github). Each workspace (CI's, and each environment's own), each identity's federated credentials for
the jobs that sign in as it (an app registration's in Microsoft Graph, a managed identity's in ARM: issuer,
subject and audience), its role at or above its workspace (Azure RBAC), and with a registry, the registry and
who may write or read it, are checked; what is missing is printed as the `az` command that creates it:
granting access is for a person with the rights to do it, not for a workflow.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from mlops_actions import backends, environment, github, paths, setup_github
from mlops_actions import config as project_config
from mlops_actions.backends.azureml.connection import EXCHANGE_AUDIENCE
from mlops_actions.backends.azureml.identity import GITHUB_ISSUER
from mlops_actions.github import ActionError
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("config", "The project's mlops.yml (backend, Azure workspace and identity, environments).",
          "mlops.yml"),
    Input("repository", "owner/name of the project's GitHub repository, for the federated credentials' "
          "subjects. Empty: $GITHUB_REPOSITORY, else the git remote origin."),
    Input("compute", "azureml backend: the compute cluster training jobs run on. Empty: mlops.yml's "
          "model.compute; none when that is empty too (the workflows train on the runner)."),
    Input("compute-size", "azureml backend: its VM size.", "Standard_DS3_v2"),
    Input("apply", "Create what is missing and can be created ('true'); 'false' only checks.", "false"),
    Input("github", "Check the GitHub repository's settings too (trunk protection, environments, variables, "
          "Dependabot): 'true'; 'false' checks only the backend's side.", "true"),
    Input("token", "A GitHub token for the GitHub checks (admin rights on the repository for --apply). Empty: "
          "$GITHUB_TOKEN, else the gh CLI's login (gh auth token)."),
    Input("state-dir", backends.INPUTS[1].description),
]
OUTPUTS = {"missing": "What is missing, one per line (empty when all is in place)."}
ROLE = "AzureML Data Scientist"


def repository(inputs: Inputs, base: Path) -> str:
    if inputs["repository"]:
        return inputs["repository"]
    if os.environ.get("GITHUB_REPOSITORY"):
        return os.environ["GITHUB_REPOSITORY"]
    remote = subprocess.run(["git", "remote", "get-url", "origin"], cwd=base, capture_output=True, text=True)
    url = remote.stdout.strip().rstrip("/").removesuffix(".git")  # https://host/o/r, git@host:o/r, ssh://...
    return "/".join(url.replace(":", "/").split("/")[-2:]) if remote.returncode == 0 and url else "OWNER/REPO"


def local(inputs: Inputs, apply: bool) -> tuple[list[list[str]], list[str]]:
    state = backends.state_dir(inputs)
    rows, missing = [], []
    if state.is_dir() and os.access(state, os.W_OK):
        rows.append(["State folder", "✅", str(state)])
    elif apply:
        environment.require("local")
        from mlops_actions.backends.local import LocalBackend

        LocalBackend(state).client.search_registered_models()  # creates the folder and the registry
        rows.append(["State folder", "✅ created", str(state)])
    else:
        rows.append(["State folder", "❌", f"{state} does not exist. Fix: mlops-actions setup --apply"])
        missing.append(f"state folder {state}")
    importable = environment.importable(environment.MODULES["local"])
    rows.append(["Local backend packages", "✅" if importable else "❌",
                 "installed" if importable else "Fix: pip install 'mlops-actions[local]' (the actions install "
                 "them on a runner)"])
    if not importable:
        missing.append("local backend packages")
    return rows, missing


def workspace_id(place: tuple[str, ...]) -> str:
    subscription, group, workspace = place
    return (f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.MachineLearningServices/"
            f"workspaces/{workspace}")


class AzureChecks:
    """The rows, what is missing and the `az` commands that fix it, as setup's Azure checks add them."""

    def __init__(self):
        self.rows: list[list[str]] = []
        self.missing: list[str] = []
        self.commands: list[str] = []

    def role(self, backend, client: str, scope: str, what: str, label: str, enough: tuple[str, ...],
             grant: str) -> None:
        """A row for the identity's role on `scope` (one of `enough`), else the command that grants `grant`."""
        held = [role for role in backend.roles_at(client, scope) if role in enough] if scope else []
        if held:
            self.rows.append([label, "✅", ", ".join(held)])
            return
        also = " (or Contributor)" if grant != "Reader" else " (or a role above it)"
        self.rows.append([label, "❌", f"the identity has no {grant}{also} role on {what} ({client}). Fix: see below"])
        self.missing.append(f"role {grant} for {client} on {what}")
        self.commands.append(f"az role assignment create --assignee {client} --role \"{grant}\" --scope {scope}")


def azure(inputs: Inputs, c: dict, base: Path, apply: bool) -> tuple[list[list[str]], list[str], list[str]]:
    """Checks through azure-ai-ml, and the commands for what it cannot check: CI's workspace (azure:) and each
    environment's own, each identity's federated credentials for the jobs that sign in as it, its role on its
    workspace, and the registry (it exists; CI's identity writes to it, each environment's reads it)."""
    environment.require("azureml")
    from mlops_actions.backends.azureml import AzureMLBackend

    settings = c["azure"]
    ci = project_config.workspace_of(settings)
    checks = AzureChecks()
    rows, missing = checks.rows, checks.missing
    backend = AzureMLBackend(*ci)
    # each workspace once: CI's, then each environment's own; None when it does not exist
    found: dict[tuple[str, ...], Any] = {}
    for name, place in [("", ci)] + [(n, project_config.workspace_of(e)) for n, e in c["environments"].items()]:
        if place in found:
            continue
        found[place] = (backend if place == ci else AzureMLBackend(*place)).workspace_resource()
        label = "Workspace" + (f" ({name})" if name else "")
        if found[place]:
            rows.append([label, "✅", f"{found[place].name} ({found[place].location})"])
        else:
            rows.append([label, "❌", f"Fix: az ml workspace create -n {place[2]} -g {place[1]}"
                         + (f" --subscription {place[0]}" if place[0] != ci[0] else "")])
            missing.append(f"workspace {place[2]}")
    compute = inputs["compute"] or c["model"].get("compute", "")  # only what the workflows train on
    if found[ci] and compute:
        kind = backend.compute_type(compute)
        if kind:
            rows.append(["Compute cluster", "✅", f"{compute} ({kind})"])
        elif apply:
            backend.create_compute(compute, inputs["compute-size"])
            rows.append(["Compute cluster", "✅ created", f"{compute} ({inputs['compute-size']}, 0-2)"])
        else:
            rows.append(["Compute cluster", "❌", f"Fix: az ml compute create -n {compute} --type amlcompute "
                         f"--size {inputs['compute-size']} --min-instances 0 --max-instances 2 -g {ci[1]} -w {ci[2]} "
                         "(or mlops-actions setup --apply)"])
            missing.append(f"compute {compute}")
    repo = repository(inputs, base)
    # the identities and the subjects GitHub's tokens carry for the jobs that sign in as each: CI's identity on
    # the trunk, each environment's identity in its GitHub environment (azure:'s when it names none)
    by_github = {e["github-environment"]: (n, e) for n, e in c["environments"].items()}
    identities: dict[str, dict] = {settings["client-id"]: {"key": "azure.client-id", "place": ci, "subjects": {
        "main": f"repo:{repo}:ref:refs/heads/{c['branch']}"}}}
    for github_environment in setup_github.environments(c):
        name, env = by_github.get(github_environment, ("", settings))
        entry = identities.setdefault(env["client-id"], {
            "key": f"environments.{name}.client-id", "place": project_config.workspace_of(env), "subjects": {}})
        entry["subjects"][github_environment] = f"repo:{repo}:environment:{github_environment}"
    comparer = c["pull-request"].get("client-id") if c["pull-request"]["compare"] else None
    if comparer:  # the pull-request comparison runs the pull request's code: an identity of its own
        identities.setdefault(comparer, {"key": "pull-request.client-id", "place": ci, "subjects": {}})[
            "subjects"]["pull-request"] = f"repo:{repo}:pull_request"
    known = set()
    for client, entry in identities.items():
        if credentials(backend, client, entry, repo, checks):
            known.add(client)
    # each identity's role on its workspace (at or above it; AzureML Data Scientist or Contributor), each pair once
    needs: list[tuple[str, tuple[str, ...], str]] = []
    for name, env in [("", settings)] + list(c["environments"].items()):
        client, place = env["client-id"], project_config.workspace_of(env)
        if client in known and (client, place) not in [need[:2] for need in needs]:
            needs.append((client, place, "Role on the workspace" + (f" ({name})" if name else "")))
    for client, place, label in needs:
        checks.role(backend, client, workspace_id(place) if found[place] else "", f"workspace {place[2]}", label,
                    tuple(backend.WORKSPACE_ROLES.values()), ROLE)
    staging, production = c["environments"]["staging"], c["environments"]["production"]
    if project_config.copies_to_production(c) and production["client-id"] in known:
        place = project_config.workspace_of(staging)  # promote-model, signed in as production, copies from staging
        checks.role(backend, production["client-id"], workspace_id(place) if found[place] else "",
                    f"workspace {place[2]} (production's identity copies the version from it)",
                    "Role on staging's workspace (production)", ("Reader", *backend.WORKSPACE_ROLES.values()),
                    "Reader")
    if comparer in known:  # it reads the champion's endpoint and model in production's workspace
        place = project_config.workspace_of(production)
        checks.role(backend, comparer, workspace_id(place) if found[place] else "",
                    f"workspace {place[2]} (the pull-request comparison reads production's model)",
                    "Role on production's workspace (pull-request comparison)",
                    ("Reader", *backend.WORKSPACE_ROLES.values()), "Reader")
    if "registry" in c:
        registry(c, ci, identities, known, backend, checks)
    return rows, missing, checks.commands


def credentials(backend, client: str, entry: dict, repo: str, checks: AzureChecks) -> bool:
    """Rows for the identity's federated credentials; False when no identity has the client ID."""
    rows, missing, commands = checks.rows, checks.missing, checks.commands
    subjects, place = entry["subjects"], entry["place"]
    identity = backend.workflow_identity(client, place[0], place[1])
    kind = "managed identity" if identity.managed else "app registration"
    if not identity.found:
        rows.append(["Workflow identity", "❌", f"no app registration or user-assigned managed identity has client ID "
                     f"{client} ({entry['key']} in mlops.yml). Fix: create one (az ad app create, or az identity "
                     "create), then run setup again"])
        missing.append(f"identity {client}")
        return False
    prefix = f"repo:{repo}:environment:"
    strays = sorted(f"environment {c['subject'][len(prefix):]}" for c in identity.credentials
                    if c["subject"].startswith(prefix) and c["subject"] not in subjects.values())
    for name, subject in subjects.items():
        if identity.accepts(subject):
            rows.append([f"Federated credential {name}", "✅", f"{subject} ({kind})"])
            continue
        near = identity.near_miss(subject)
        why = (f"the credential for {subject} has issuer {near['issuer']} and audiences "
               f"{', '.join(near['audiences'])}; GitHub's tokens need {GITHUB_ISSUER} and {EXCHANGE_AUDIENCE}"
               if near else f"no credential for {subject}")
        if not near and name != "main" and strays:  # an environment renamed on one side only
            why += (f": the sign-in of the job that deploys to {name} fails. The identity has credentials for "
                    f"{', '.join(strays)}, which no generated workflow uses: renamed?")
        rows.append([f"Federated credential {name}", "❌", f"{why} ({kind} {client}). Fix: see below"])
        missing.append(f"federated credential {subject}")
        commands.append(identity.fix(name, subject))
    return True


def registry(c: dict, ci: tuple[str, ...], identities: dict[str, dict], known: set[str], backend,
             checks: AzureChecks) -> None:
    """The registry exists (registry discovery); CI's identity can write to it, each environment's read it."""
    from mlops_actions.backends.azureml import AzureMLBackend

    name = c["registry"]["name"]
    try:
        registry_id = AzureMLBackend.for_registry(name).registry_id()
    except ActionError as error:
        if error.title != "Registry not found":
            raise
        location = backend.workspace_resource()
        checks.rows.append(["Registry", "❌", f"Azure ML has no registry {name}. Fix: see below"])
        checks.missing.append(f"registry {name}")
        region = location.location if location else "LOCATION"  # CI's workspace's region
        checks.commands.append(f"cat > registry.yml <<'EOF'\nname: {name}\nlocation: {region}\n"
                               f"replication_locations:\n  - location: {region}\nEOF\n"
                               f"az ml registry create -g {ci[1]} --file registry.yml")
        return
    checks.rows.append(["Registry", "✅", registry_id])
    writers = ("AzureML Registry User", "Contributor", "Owner")
    ci_client = c["azure"]["client-id"]
    for client in identities:
        if client not in known:
            continue
        writes = client == ci_client  # CI registers into it; the environments deploy its versions
        label = f"Role on the registry ({'CI' if writes else ', '.join(identities[client]['subjects'])})"
        checks.role(backend, client, registry_id, f"registry {name}", label, writers if writes else
                    ("Reader", *writers), "AzureML Registry User")


def run(inputs: Inputs) -> int:
    apply = inputs.flag("apply")
    config_path = paths.confined("config", inputs["config"], Path(inputs["config"] or "mlops.yml"))
    environment.require("generate")
    c = project_config.load(config_path)
    # GitHub first: its reads, and a refusal of --apply without admin rights, come before any write
    on_github = setup_github.plan(inputs, c, config_path, repository(inputs, config_path.parent), apply) \
        if inputs.flag("github") else None
    rows, missing = local(inputs, apply) if c["backend"] == "local" else ([], [])
    commands: list[str] = []
    if c["backend"] == "azureml":
        rows, missing, commands = azure(inputs, c, config_path.parent, apply)
    if on_github:
        github_rows, github_missing, github_commands = on_github.settle(apply)
        rows, missing, commands = rows + github_rows, missing + github_missing, commands + github_commands
    for row in rows:
        print(f"{row[1]:<3} {row[0]}: {row[2]}")
    for command in commands:
        print(command if "\n" in command else f"    {command}")  # a here-document is copied whole
    for piece in missing:
        github.error(f"missing: {piece} (the fix is in the table above)", title="Setup")
    table = github.markdown_table(["What", "State", "Details"], rows)
    github.add_summary(f"### {'✅' if not missing else '❌'} Setup for the {c['backend']} backend"
                       f"{'' if apply else ' (dry run)'}\n\n{table}"
                       + ("\n\n```sh\n" + "\n".join(commands) + "\n```" if commands else ""))
    github.set_output("missing", "\n".join(missing))
    return 1 if missing else 0
