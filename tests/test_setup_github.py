"""mlops-actions setup, the GitHub side, against the GitHub stand-in (tests/github_standin)."""

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from mlops_actions import cli, generate, setup, setup_github
from mlops_actions.config import load
from mlops_actions.github_api import GitHubAPI
from mlops_actions.inputs import Inputs

GOLDEN = Path(__file__).resolve().parent / "golden"
ADMIN = "ghp_lead_admin_token"
REPO = "contoso/diabetes"
CHECK = "Lint and unit tests"  # the job name in templates/pull-request.yml.j2


@pytest.fixture
def gh(github_api):
    github_api.token(ADMIN, "lead", scopes=("repo", "workflow"))
    github_api.user("data-lead")
    github_api.repository(REPO, admins=("lead",))
    return github_api


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The golden local project with a reviewer for production, generated as the README's path does (once)."""
    folder = tmp_path_factory.mktemp("generated")
    text = (GOLDEN / "local" / "mlops.yml").read_text()
    (folder / "mlops.yml").write_text(text.replace("    approval: true\n", "    approval: true\n"
                                                   "    reviewers: [data-lead]\n"))
    assert generate.run(Inputs.read(generate.INPUTS, {"config": str(folder / "mlops.yml")}, environ={})) == 0
    return folder


@pytest.fixture
def project(runner, tmp_path, generated):
    shutil.copytree(generated, runner.workspace, dirs_exist_ok=True)
    (tmp_path / "state").mkdir()
    return runner.workspace / "mlops.yml"


def call(project, **flags):
    values = {"config": str(project), "repository": REPO, "token": ADMIN,
              "state-dir": str(project.parent.parent / "state"), **flags}
    return setup.run(Inputs.read(setup.INPUTS, values, environ={}))


def cli_setup(project, *extra) -> list[str]:
    return ["setup", f"--config={project}", f"--state-dir={project.parent.parent / 'state'}", *extra]


def run_gh(command: str, token: str = ADMIN) -> None:
    """Run a printed `gh api` command against the stand-in, as gh would send it."""
    first, _, rest = command.partition("\n")
    words = shlex.split(first.split("<<")[0])
    assert words[:2] == ["gh", "api"] and words[2] == "-X", command
    method, path, fields = words[3], words[4], words[5:]
    body = None
    if "--input" in fields:
        body = json.loads(rest.rsplit("\nJSON", 1)[0])
    elif fields:
        body = dict(field.split("=", 1) for field in fields[1::2])
    GitHubAPI(token).call(method, f"/{path}", "the printed fix", body)


def commands(out: str) -> list[str]:
    """The fix commands setup printed: here-documents whole, the others one per line."""
    found = re.findall(r"^gh api .*?<<'JSON'\n.*?\nJSON$", out, re.M | re.S)
    found += [line.strip() for line in out.splitlines() if line.startswith("    gh ")]
    return found


def test_an_unprotected_repository_lists_every_gap_with_its_fix_and_the_fixes_make_a_second_run_clean(
        gh, project, capsys):
    assert call(project) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"::add-mask::{ADMIN}\n")  # on a runner the token is masked before anything is printed
    assert gh.writes == []  # a dry run writes nothing
    assert "Protection of main: pull requests are not required; the status check 'Lint and unit tests'" in out
    assert "gh api -X PUT repos/contoso/diabetes/branches/main/protection --input - <<'JSON'" in out
    for env in ("staging", "production"):
        assert f"Environment {env}: does not exist (a deploy would create it, unprotected)" in out
        assert (f"gh api -X POST repos/contoso/diabetes/environments/{env}/deployment-branch-policies "
                "-f name=main -f type=branch") in out
    assert "data-lead is not among its required reviewers" in out
    assert "Dependabot alerts: disabled" in out and "gh api -X PUT repos/contoso/diabetes/vulnerability-alerts" in out
    for piece in ("Protection of main", "Environment staging", "Environment production", "Dependabot alerts"):
        assert f"missing: {piece}" in out

    fixes = commands(out)
    assert len(fixes) == 6  # protection; two environments and their branch policies; alerts
    for command in fixes:  # what a person pasting them does
        run_gh(command)
    assert call(project) == 0, capsys.readouterr().out
    protection = gh.repos[REPO].protection["main"]
    assert protection["required_pull_request_reviews"]["required_approving_review_count"] == 1
    assert protection["required_status_checks"]["contexts"] == [CHECK]
    assert protection["required_status_checks"]["strict"] is True
    production = gh.repos[REPO].environments["production"]
    assert production["reviewers"] == [{"type": "User", "id": gh.users["data-lead"]}]
    assert gh.repos[REPO].environments["staging"]["reviewers"] == []
    assert gh.repos[REPO].branch_policies["production"][0]["name"] == "main"


def test_apply_creates_what_is_missing_and_a_second_run_is_clean_without_writing(gh, project, capsys):
    assert call(project, apply="true") == 0
    out = capsys.readouterr().out
    assert "✅ fixed Protection of main: was: pull requests are not required" in out
    writes = list(gh.writes)
    assert ("PUT", "/repos/contoso/diabetes/branches/main/protection") in writes
    assert gh.repos[REPO].vulnerability_alerts
    assert call(project, apply="true") == 0
    assert gh.writes == writes  # nothing left to write
    assert "❌" not in capsys.readouterr().out


def test_apply_never_weakens_an_existing_protection_or_environment(gh, project, capsys):
    api = GitHubAPI(ADMIN)
    leads = {"users": ["lead"], "teams": ["ml-leads"], "apps": []}
    api.call("PUT", "/repos/contoso/diabetes/branches/main/protection", "preset", {
        "required_status_checks": {"strict": False, "contexts": ["build"]}, "enforce_admins": True,
        "required_pull_request_reviews": {"required_approving_review_count": 3, "require_code_owner_reviews": True,
                                          "dismiss_stale_reviews": True, "dismissal_restrictions": leads},
        "restrictions": leads, "required_linear_history": True, "required_conversation_resolution": True})
    preset = json.loads(json.dumps(gh.repos[REPO].protection["main"]))
    gh.user("ops-oncall")
    api.call("PUT", "/repos/contoso/diabetes/environments/production", "preset", {
        "wait_timer": 30, "prevent_self_review": True, "can_admins_bypass": False,
        "reviewers": [{"type": "User", "id": gh.users["ops-oncall"]}],
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False}})
    assert call(project) == 1
    out = capsys.readouterr().out
    assert "the status check 'Lint and unit tests' (the pull-request workflow's job) is not required" in out
    assert "approving review" not in out.split("Protection of main:")[1].splitlines()[0]  # 3 >= 1: no complaint
    assert "every protected branch can deploy to it, not only the trunk" in out

    assert call(project, apply="true") == 0
    protection = gh.repos[REPO].protection["main"]
    assert protection["required_status_checks"]["contexts"] == ["build", CHECK]
    assert protection["required_status_checks"]["strict"] is True  # strengthened: our check needs it
    for key in ("required_status_checks",):  # the only part that changed: the rest as it was
        del protection[key], preset[key]
    assert protection == preset
    production = gh.repos[REPO].environments["production"]
    assert production["wait_timer"] == 30 and production["prevent_self_review"] is True
    assert production["can_admins_bypass"] is False
    assert production["reviewers"] == [{"type": "User", "id": gh.users["ops-oncall"]},
                                       {"type": "User", "id": gh.users["data-lead"]}]
    assert production["deployment_branch_policy"] == {"protected_branches": False, "custom_branch_policies": True}


RULESET = {"id": 42, "name": "trunk", "target": "branch", "source_type": "Repository", "source": REPO,
           "enforcement": "active", "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
           "rules": [{"type": "pull_request", "parameters": {"required_approving_review_count": 2,
                                                             "dismiss_stale_reviews_on_push": False,
                                                             "require_code_owner_review": False,
                                                             "require_last_push_approval": False,
                                                             "required_review_thread_resolution": False}},
                     {"type": "required_status_checks", "parameters": {
                         "strict_required_status_checks_policy": True,
                         "required_status_checks": [{"context": CHECK, "integration_id": 15368}]}}]}


def test_a_ruleset_that_enforces_the_same_satisfies_the_trunk_check(gh, project, capsys):
    gh.repos[REPO].rulesets.append(dict(RULESET))
    call(project)
    out = capsys.readouterr().out
    assert (f"✅   Protection of main: 2 approving review(s), {CHECK} required, up to date (ruleset trunk)") in out
    assert "branches/main/protection --input" not in out


@pytest.mark.parametrize("change", [
    {"enforcement": "evaluate"},
    {"conditions": {"ref_name": {"include": ["refs/heads/release/*"], "exclude": []}}},
    {"conditions": {"ref_name": {"include": ["~ALL"], "exclude": ["refs/heads/main"]}}}])
def test_a_ruleset_that_does_not_enforce_on_the_trunk_does_not_count(gh, project, capsys, change):
    gh.repos[REPO].rulesets.append({**RULESET, **change})
    call(project)
    assert "Protection of main: pull requests are not required" in capsys.readouterr().out


@pytest.mark.parametrize("pattern, trunk, applies", [
    ("refs/heads/*", "main", True), ("refs/heads/*", "team/main", False), ("refs/heads/**/*", "team/main", True)])
def test_a_rulesets_patterns_include_and_exclude_the_trunk_as_github_matches_them(pattern, trunk, applies):
    conditions = {"ref_name": {"include": [pattern], "exclude": []}}
    assert setup_github.applies(conditions, trunk, "main") is applies
    assert setup_github.applies({"ref_name": {"include": ["~ALL"], "exclude": [pattern]}}, trunk, "main") is not applies


def test_more_reviews_asked_than_required_is_a_gap(gh, project, capsys):
    project.write_text(project.read_text().replace("library:", "required-reviews: 2\nlibrary:", 1))
    GitHubAPI(ADMIN).call("PUT", "/repos/contoso/diabetes/branches/main/protection", "preset", {
        "required_status_checks": {"strict": True, "contexts": [CHECK]}, "enforce_admins": False,
        "required_pull_request_reviews": {"required_approving_review_count": 1}, "restrictions": None})
    assert call(project) == 1
    assert "1 approving review(s) required, mlops.yml asks for 2" in capsys.readouterr().out
    assert call(project, apply="true") == 0
    assert gh.repos[REPO].protection["main"]["required_pull_request_reviews"]["required_approving_review_count"] == 2


def test_other_deploy_branches_and_a_held_production_are_reported_not_removed(gh, project, capsys):
    api = GitHubAPI(ADMIN)
    api.call("PUT", "/repos/contoso/diabetes/environments/staging", "preset", {
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}})
    api.call("POST", "/repos/contoso/diabetes/environments/staging/deployment-branch-policies", "preset",
             {"name": "feature/*", "type": "branch"})
    for number in range(35):  # GitHub lists at most 30 variables a page: the one that matters is on the second
        api.call("POST", "/repos/contoso/diabetes/actions/variables", "preset", {"name": f"A{number}", "value": "x"})
    api.call("POST", "/repos/contoso/diabetes/actions/variables", "preset",
             {"name": "MLOPS_HOLD_PRODUCTION", "value": "true"})
    assert call(project, apply="true") == 1
    out = capsys.readouterr().out
    assert "feature/* can deploy to staging besides main" in out
    policy = gh.repos[REPO].branch_policies["staging"][0]
    assert f"gh api -X DELETE repos/contoso/diabetes/environments/staging/deployment-branch-policies/{policy['id']}" \
        in out
    assert "Variable MLOPS_HOLD_PRODUCTION: is 'true' on GitHub: production never deploys" in out
    assert "gh variable delete MLOPS_HOLD_PRODUCTION --repo contoso/diabetes" in out
    assert [p["name"] for p in gh.repos[REPO].branch_policies["staging"]] == ["feature/*", "main"]
    assert gh.repos[REPO].variables["MLOPS_HOLD_PRODUCTION"]["value"] == "true"


def test_approval_without_reviewers_anywhere_is_a_gap_for_a_person(gh, project, capsys):
    project.write_text(project.read_text().replace("    reviewers: [data-lead]\n", ""))
    assert call(project, apply="true") == 1
    out = capsys.readouterr().out
    assert ("Environment production reviewers: mlops.yml asks for approval before production, and neither the "
            "environment nor mlops.yml names a reviewer") in out
    assert "environments.production.reviewers: [login, org/team-slug]" in out


def test_a_team_reviewer_is_resolved_and_needs_read_org(gh, project, capsys):
    team = gh.team("contoso", "ml-leads")
    project.write_text(project.read_text().replace("[data-lead]", "[contoso/ml-leads]"))
    gh.token("ghp_org", "lead", scopes=("repo", "read:org"))
    assert call(project, apply="true", token="ghp_org") == 0
    assert gh.repos[REPO].environments["production"]["reviewers"] == [{"type": "Team", "id": team}]
    gh.token("ghp_repo_only", "lead", scopes=("repo",))
    assert cli.main(cli_setup(project, f"--repository={REPO}", "--token=ghp_repo_only")) == 2
    assert "lacks the read:org scope" in capsys.readouterr().out


def test_apply_without_admin_rights_is_refused_before_any_write(gh, project, capsys):
    gh.token("ghp_writer", "writer")
    gh.repos[REPO].roles["writer"] = "write"
    assert cli.main(cli_setup(project, f"--repository={REPO}", "--token=ghp_writer", "--apply")) == 2
    out = capsys.readouterr().out
    assert "the token's user has push on contoso/diabetes, not admin" in out and "--apply needs admin rights" in out
    assert gh.writes == []
    assert cli.main(cli_setup(project, f"--repository={REPO}", "--token=ghp_writer")) == 1  # a dry run reports
    assert "reading the branch protection needs admin rights" in capsys.readouterr().out


@pytest.mark.parametrize("flags, expected", [
    (["--token=ghp_revoked"], "GET /repos/contoso/diabetes: 401 Bad credentials. The token is not valid"),
    (["--token=ghp_public_only"], "lacks the repo scope"),
    ([f"--token={ADMIN}", "--repository=contoso/nope"], "input 'repository' is 'contoso/nope': not found on GitHub"),
    ([f"--token={ADMIN}", "--repository=../../etc"], "input 'repository' is '../../etc': not an owner/name"),
    (["--token=ghp_has a space"], "input 'token' is '(not shown)': not a token"),
])
def test_bad_tokens_and_repositories_are_clear_errors(gh, project, capsys, flags, expected):
    gh.token("ghp_public_only", "lead", scopes=("public_repo",))
    gh.repos[REPO].private = False
    assert cli.main(cli_setup(project, f"--repository={REPO}", *flags)) == 2
    out = capsys.readouterr().out
    assert expected in out
    shown = "\n".join(line for line in out.splitlines() if not line.startswith("::add-mask::"))  # the runner's
    assert "ghp_revoked" not in shown and "ghp_has a space" not in shown


def test_a_missing_trunk_names_the_branch_and_the_fix(gh, project, capsys):
    project.write_text(project.read_text().replace("library:", "branch: trunk\nlibrary:", 1))
    assert cli.main(cli_setup(project, f"--repository={REPO}", f"--token={ADMIN}")) == 2
    assert ("branch: trunk in mlops.yml does not exist in contoso/diabetes (its default branch is main). Fix: push it "
            "(`git push origin trunk`)") in capsys.readouterr().out


def test_the_token_comes_from_github_token_or_the_gh_login_and_none_is_a_clear_error(
        gh, project, capsys, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    assert cli.main(cli_setup(project, f"--repository={REPO}", "--apply")) == 2
    assert "no GitHub token: none was given, GITHUB_TOKEN is not set and the gh CLI is not installed" in \
        capsys.readouterr().out
    fake = bin_dir / "gh"
    fake.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'auth token' ] && echo {ADMIN}\n")
    fake.chmod(0o755)
    assert cli.main(cli_setup(project, f"--repository={REPO}", "--apply")) == 0
    fake.unlink()
    monkeypatch.setenv("GITHUB_TOKEN", ADMIN)
    assert cli.main(cli_setup(project, f"--repository={REPO}")) == 0


@pytest.mark.parametrize("remote", ["https://github.com/contoso/diabetes.git", "git@github.com:contoso/diabetes.git",
                                    "ssh://git@github.com/contoso/diabetes"])
def test_the_repository_comes_from_the_git_remote(tmp_path, remote):
    git = shutil.which("git")
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    subprocess.run([git, "-C", str(tmp_path), "remote", "add", "origin", remote], check=True)
    assert setup.repository(Inputs.read(setup.INPUTS, {}, environ={}), tmp_path) == REPO


def test_a_stale_dependabot_config_is_a_gap(gh, project, capsys):
    dependabot = project.parent / ".github" / "dependabot.yml"
    dependabot.write_text(dependabot.read_text().replace("weekly", "monthly"))
    call(project, apply="true")
    assert f"Dependabot config: {dependabot} is out of date" in capsys.readouterr().out


def test_a_required_check_that_need_not_be_up_to_date_is_a_gap(gh, project, capsys):
    GitHubAPI(ADMIN).call("PUT", "/repos/contoso/diabetes/branches/main/protection", "preset", {
        "required_status_checks": {"strict": False, "contexts": [CHECK]}, "enforce_admins": False,
        "required_pull_request_reviews": {"required_approving_review_count": 1}, "restrictions": None})
    assert call(project) == 1
    assert "Protection of main: branches need not be up to date before merging (strict)" in capsys.readouterr().out


def test_a_reviewer_github_does_not_know_and_no_repository_at_all_are_clear_errors(gh, project, capsys):
    project.write_text(project.read_text().replace("[data-lead]", "[nobody-here]"))
    assert cli.main(cli_setup(project, f"--repository={REPO}", f"--token={ADMIN}")) == 2
    assert "environments.production.reviewers: 'nobody-here' is not a GitHub user" in capsys.readouterr().out
    assert cli.main(cli_setup(project, f"--token={ADMIN}")) == 2  # the workspace is no git clone
    assert ("input 'repository' is '': empty, GITHUB_REPOSITORY is not set and the git remote origin is not a "
            "GitHub URL. Fix: pass --repository owner/name") in capsys.readouterr().out


@pytest.mark.parametrize("old, new, problem", [
    ("library:", "required-reviews: 7\nlibrary:", "required-reviews (line 2): 7 is greater than the maximum of 6"),
    ("[data-lead]", "[a, b, c, d, e, f, g]", "environments.production.reviewers (line"),
    ("[data-lead]", "[data lead]", "'data lead' is not valid"),
])
def test_the_new_keys_keep_to_githubs_limits(project, old, new, problem):
    from mlops_actions import config

    project.write_text(project.read_text().replace(old, new, 1))
    with pytest.raises(config.ConfigError) as caught:
        config.load(project)
    assert problem in str(caught.value)


def test_a_fix_github_refuses_stops_apply_and_says_what_was_fixed_before_it(gh, project, capsys):
    gh.fail_next("PUT", r"/environments/production$", 403, "Resource not accessible by personal access token")
    assert cli.main(cli_setup(project, f"--repository={REPO}", f"--token={ADMIN}", "--apply")) == 2
    out = capsys.readouterr().out
    assert ("PUT /repos/contoso/diabetes/environments/production: 403 Resource not accessible by personal access "
            "token (Environment production: Protection of main, Environment staging were fixed before it; each fix "
            "can be sent again, so once the cause is fixed, `mlops-actions setup --apply` carries on)") in out
    assert "production" not in gh.repos[REPO].environments
    assert cli.main(cli_setup(project, f"--repository={REPO}", f"--token={ADMIN}", "--apply")) == 0
    assert call(project) == 0


def test_only_the_check_job_is_required_not_the_challengers_comparison():
    workflows = setup_github.parsed(setup_github.workflows(load(GOLDEN / "azureml-pipeline" / "mlops.yml")))
    assert set(workflows["pull-request.yml"]["jobs"]) == {"check", "compare"}
    assert setup_github.required_checks(workflows) == ["Lint and unit tests"]


def test_a_kept_check_from_any_source_is_sent_back_as_any_app_not_left_for_github_to_pin():
    current = {"required_status_checks": {"strict": True, "contexts": ["build", "deploy"], "checks": [
        {"context": "build", "app_id": None}, {"context": "deploy", "app_id": 15368}]}}
    sent = setup_github.merged_protection(current, [CHECK], 1)["required_status_checks"]["checks"]
    assert sent == [{"context": "build", "app_id": -1}, {"context": "deploy", "app_id": 15368}, {"context": CHECK}]
