"""`mlops-actions setup`: what the workflows need, checked, each missing piece with its exact fix.

Dry-run by default: it only looks. With --apply it creates what it can (the local state folder; the
Azure ML compute cluster the workflows train on, when they do; the GitHub repository's settings, see
setup_github). The identity's federated credentials (an
app registration's in Microsoft Graph, a managed identity's in ARM: issuer, subject and audience) and its
role at or above the workspace (Azure RBAC) are checked, and what is missing is printed as the `az` command
that creates it: granting access is for a person with the rights to do it, not for a workflow.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mlops_actions import backends, environment, github, paths, setup_github
from mlops_actions.backends.azureml.connection import EXCHANGE_AUDIENCE
from mlops_actions.backends.azureml.identity import GITHUB_ISSUER
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


def azure(inputs: Inputs, c: dict, base: Path, apply: bool) -> tuple[list[list[str]], list[str], list[str]]:
    """Checks through azure-ai-ml, and the commands for what it cannot check."""
    environment.require("azureml")
    from mlops_actions.backends.azureml import AzureMLBackend

    settings = c["azure"]
    workspace_args = f"-g {settings['resource-group']} -w {settings['workspace']}"
    backend = AzureMLBackend(settings["subscription-id"], settings["resource-group"], settings["workspace"])
    rows, missing = [], []
    found = backend.workspace_resource()
    if found:
        rows.append(["Workspace", "✅", f"{found.name} ({found.location})"])
        workspace_id = found.id
    else:
        fix = f"Fix: az ml workspace create -n {settings['workspace']} -g {settings['resource-group']}"
        rows.append(["Workspace", "❌", fix])
        missing.append(f"workspace {settings['workspace']}")
        workspace_id = (f"/subscriptions/{settings['subscription-id']}/resourceGroups/{settings['resource-group']}"
                        f"/providers/Microsoft.MachineLearningServices/workspaces/{settings['workspace']}")
    compute = inputs["compute"] or c["model"].get("compute", "")  # only what the workflows train on
    if found and compute:
        kind = backend.compute_type(compute)
        if kind:
            rows.append(["Compute cluster", "✅", f"{compute} ({kind})"])
        elif apply:
            backend.create_compute(compute, inputs["compute-size"])
            rows.append(["Compute cluster", "✅ created", f"{compute} ({inputs['compute-size']}, 0-2)"])
        else:
            rows.append(["Compute cluster", "❌", f"Fix: az ml compute create -n {compute} --type amlcompute "
                         f"--size {inputs['compute-size']} --min-instances 0 --max-instances 2 {workspace_args} "
                         "(or mlops-actions setup --apply)"])
            missing.append(f"compute {compute}")
    repo = repository(inputs, base)
    client = settings["client-id"]
    # the subjects GitHub's tokens carry: a job with an environment signs in as that environment
    subjects = {"main": f"repo:{repo}:ref:refs/heads/{c['branch']}",
                **{env: f"repo:{repo}:environment:{env}" for env in setup_github.environments(c)}}
    identity = backend.workflow_identity(client, settings["subscription-id"], settings["resource-group"])
    kind = "managed identity" if identity.managed else "app registration"
    commands: list[str] = []
    if not identity.found:
        rows.append(["Workflow identity", "❌", f"no app registration or user-assigned managed identity has client ID "
                     f"{client} (azure.client-id in mlops.yml). Fix: create one (az ad app create, or az identity "
                     "create), then run setup again"])
        missing.append(f"identity {client}")
        return rows, missing, commands
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
        rows.append([f"Federated credential {name}", "❌", f"{why} ({kind}). Fix: see below"])
        missing.append(f"federated credential {subject}")
        commands.append(identity.fix(name, subject))
    roles = backend.workspace_roles(client, workspace_id) if found else []
    if roles:
        rows.append(["Role on the workspace", "✅", ", ".join(roles)])
    else:
        rows.append(["Role on the workspace", "❌", f"the identity has no {ROLE} (or Contributor) role. "
                     "Fix: see below"])
        missing.append(f"role {ROLE} on {settings['workspace']}")
        commands.append(f"az role assignment create --assignee {client} --role \"{ROLE}\" --scope {workspace_id}")
    return rows, missing, commands


def run(inputs: Inputs) -> int:
    from mlops_actions import config as project_config

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
