"""`mlops-actions setup`, the GitHub side: the repository settings the generated workflows rely on.

What is checked, each gap with the exact `gh` command that fixes it (--apply runs the same request):
- the trunk's protection, or a ruleset that enforces the same: pull requests with at least
  `required-reviews` approvals, the pull-request workflow's job as a required status check, branches up
  to date before merging (strict);
- the environments the generated workflows deploy to: each exists, deploys only from the trunk (a
  deployment branch policy), and one with `approval: true` has required reviewers (those mlops.yml names);
- the repository variables the generated workflows read;
- Dependabot: the generated .github/dependabot.yml is there and up to date, and its alerts are on.

--apply never weakens what exists: a protection keeps its higher review count, its other required checks
and every other setting (GitHub's PUT replaces the whole protection, so all of it is sent back); an
environment keeps its reviewers and wait timer. It needs admin rights on the repository and refuses without.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from mlops_actions import github, ref_patterns
from mlops_actions.github import ActionError
from mlops_actions.github_api import REPOSITORY, GitHubAPI, Response, segment
from mlops_actions.inputs import InputError, Inputs

TOKEN = re.compile(r"^[\x21-\x7e]{1,1000}$")  # what an Authorization header can carry
VARIABLE = re.compile(r"\bvars\.([A-Za-z_][A-Za-z0-9_]*)")
# variables the generated workflows read, and the value each must not have on GitHub
HELD = {"MLOPS_HOLD_PRODUCTION": ("true", "it is for local runs through act (it skips production): on GitHub "
                                          "the production environment's reviewers hold it")}
ORG_SCOPES = {"read:org", "write:org", "admin:org"}  # classic scopes that read an organization's teams


@dataclass
class Gap:
    what: str  # the row's name
    problem: str
    commands: list[str]
    fix: Callable[[], object] | None = None  # what --apply does; None: for a person to do


@dataclass
class Plan:
    """What was read, before anything is written: rows in place, and gaps with their fixes."""
    rows: list[list[str]] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def settle(self, apply: bool) -> tuple[list[list[str]], list[str], list[str]]:
        rows, missing, commands = list(self.rows), [], []
        fixed: list[str] = []
        for gap in self.gaps:
            if apply and gap.fix:
                try:
                    gap.fix()
                except ActionError as failed:
                    done = f"{', '.join(fixed)} {'was' if len(fixed) == 1 else 'were'} fixed before it" if fixed \
                        else "nothing was changed before it"
                    raise ActionError(failed.title, f"{failed} ({gap.what}: {done}; each fix can be sent again, so "
                                      "once the cause is fixed, `mlops-actions setup --apply` carries on)") from None
                fixed.append(gap.what)
                rows.append([gap.what, "✅ fixed", f"was: {gap.problem}"])
                continue
            later = "" if gap.fix else " (--apply cannot do this: it is for a person)"
            rows.append([gap.what, "❌", f"{gap.problem}. Fix: see below{later}"])
            missing.append(gap.what)
            commands += gap.commands
        return rows, missing, commands


# -- what the generated workflows need ----------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def rendered(config_json: str, config_name: str) -> dict[str, str]:
    from mlops_actions import generate

    files = generate.render(json.loads(config_json), config_name, Path(".github/workflows"))
    return {path.name: text for path, text in files.items()}


def workflows(c: dict, config_name: str = "mlops.yml") -> dict[str, str]:
    """The generated files' names -> text, as `mlops-actions generate` writes them from this config (rendered
    once per config: the Azure check and the GitHub check both read them)."""
    return dict(rendered(json.dumps(c, sort_keys=True, default=str), config_name))


def parsed(files: dict[str, str]) -> dict[str, dict]:
    """The generated workflows, parsed (with libyaml's loader when there is one: these are large)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return {name: yaml.load(text, Loader=loader) for name, text in files.items()  # noqa: S506 - a safe loader
            if name.endswith(".yml") and "jobs:" in text}


def required_checks(workflows: dict[str, dict]) -> list[str]:
    """The pull-request workflow's check job (lint and unit tests) as GitHub names its check run: its name, else its
    id. The challenger's comparison (pull-request.compare) reports and is not required: a fork's pull request skips
    it, and a required check that never runs blocks the merge."""
    check = workflows["pull-request.yml"]["jobs"]["check"]
    return [check.get("name", "check")]


def deploy_environments(workflows: dict[str, dict]) -> list[str]:
    """The GitHub environments the generated workflows' jobs deploy to, in order."""
    names: list[str] = []
    for workflow in workflows.values():
        for job in (workflow.get("jobs") or {}).values():
            env = job.get("environment")
            name = env.get("name") if isinstance(env, dict) else env
            if name and name not in names:
                names.append(name)
    return names


def environments(c: dict) -> list[str]:
    return deploy_environments(parsed(workflows(c)))


def variables(files: dict[str, str]) -> list[str]:
    return sorted({name for text in files.values() for name in VARIABLE.findall(text)})


def config_environment(c: dict, name: str) -> dict:
    return c["environments"].get(name, {})


# -- inputs: token and repository ---------------------------------------------------------------------

def find_token(inputs: Inputs) -> str:
    """--token, else $GITHUB_TOKEN, else the gh CLI's login (`gh auth token`)."""
    token = inputs["token"] or os.environ.get("GITHUB_TOKEN", "").strip()
    gh = shutil.which("gh")
    if not token and gh:
        host = urlsplit(os.environ.get("GITHUB_API_URL") or "https://api.github.com").hostname or "github.com"
        host = "github.com" if host == "api.github.com" else host
        login = subprocess.run([gh, "auth", "token", "--hostname", host], capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL)
        token = login.stdout.strip() if login.returncode == 0 else ""
    if not token:
        raise InputError("token", "", "no GitHub token: none was given, GITHUB_TOKEN is not set and the gh CLI is "
                         + ("not signed in" if gh else "not installed"),
                         "pass --token, set GITHUB_TOKEN, or sign in with `gh auth login` (for --apply the token's "
                         "user needs admin rights on the repository; a classic token needs the repo scope), or "
                         "pass --github false to check only the Azure side")
    if not TOKEN.match(token):
        raise InputError("token", "(not shown)", "not a token: it has spaces, line breaks or other characters no "
                         "token has", "pass the token alone, as GitHub shows it (ghp_..., github_pat_..., gho_...)")
    github.mask(token)
    return token


def check_repository_name(inputs: Inputs, name: str) -> str:
    if name == "OWNER/REPO" or not REPOSITORY.match(name):
        shown = "" if name == "OWNER/REPO" else name
        raise InputError("repository", shown, "not an owner/name of a GitHub repository" if shown else
                         "empty, GITHUB_REPOSITORY is not set and the git remote origin is not a GitHub URL",
                         "pass --repository owner/name (github.com/owner/name), or --github false to check only "
                         "the backend's side")
    return name


# -- reading the repository ---------------------------------------------------------------------------

def read_repository(api: GitHubAPI, name: str, team_reviewers: bool) -> Response:
    answer = api.get(f"/repos/{name}", f"reading the repository {name}", missing_ok=True)
    scopes = answer.scopes
    if answer.status == 404:
        hint = (f" The token is a classic one with the scopes {', '.join(sorted(scopes)) or '(none)'}: a private "
                "repository needs repo." if scopes is not None and "repo" not in scopes else "")
        raise InputError("repository", name, "not found on GitHub, or the token's user cannot see it." + hint,
                         "check owner/name (github.com/owner/name), and that the token's user has access to it"
                         + (" (`gh auth refresh -s repo`)" if hint else ""))
    lacking = []
    if scopes is not None and "repo" not in scopes:  # the environments', variables' and protection's docs
        lacking.append(("repo", "the environments, variables and branch protection routes need it"))
    if scopes is not None and team_reviewers and not scopes & ORG_SCOPES:
        lacking.append(("read:org", "reading the teams mlops.yml names as reviewers needs it"))
    if lacking:
        raise ActionError("GitHub token lacks a scope", "; ".join(
            f"the token (a classic one, scopes: {', '.join(sorted(scopes or [])) or 'none'}) lacks the {scope} "
            f"scope: {why}" for scope, why in lacking) + ". Fix: `gh auth refresh -s "
            + ",".join(scope for scope, _ in lacking) + "`, or a token with " + " and ".join(
            scope for scope, _ in lacking))
    return answer


def applies(conditions: dict | None, trunk: str, default_branch: str) -> bool:
    """Whether a ruleset's ref_name conditions take in the trunk
    (https://docs.github.com/rest/repos/rules: include/exclude, ~DEFAULT_BRANCH, ~ALL, fnmatch patterns)."""
    refs = (conditions or {}).get("ref_name") or {}

    def matches(pattern: str) -> bool:
        return (pattern == "~ALL" or (pattern == "~DEFAULT_BRANCH" and trunk == default_branch)
                or ref_patterns.matches(pattern, f"refs/heads/{trunk}"))
    return any(map(matches, refs.get("include", []))) and not any(map(matches, refs.get("exclude", [])))


@dataclass
class Source:
    """What one protection (the branch protection, or a ruleset) enforces on the trunk."""
    name: str
    reviews: int = -1  # -1: pull requests not required
    checks: set = field(default_factory=set)
    strict: bool = False


def ruleset_sources(api: GitHubAPI, repo: str, trunk: str, default_branch: str) -> list[Source]:
    sources = []
    for summary in api.pages(f"/repos/{repo}/rulesets", "listing the rulesets"):
        if summary.get("target", "branch") != "branch" or summary.get("enforcement") != "active":
            continue  # "evaluate" and "disabled" rulesets enforce nothing
        ruleset = api.get(f"/repos/{repo}/rulesets/{summary['id']}", f"reading the ruleset {summary['name']}").data
        if not isinstance(ruleset, dict) or not applies(ruleset.get("conditions"), trunk, default_branch):
            continue
        source = Source(f"ruleset {ruleset.get('name', summary['id'])}")
        for rule in ruleset.get("rules", []):
            parameters = rule.get("parameters") or {}
            if rule.get("type") == "pull_request":
                source.reviews = max(source.reviews, parameters.get("required_approving_review_count", 0))
            elif rule.get("type") == "required_status_checks":
                source.checks |= {check["context"] for check in parameters.get("required_status_checks", [])}
                source.strict = source.strict or bool(parameters.get("strict_required_status_checks_policy"))
        sources.append(source)
    return sources


def protection_source(protection: dict | None) -> Source:
    source = Source("branch protection")
    if protection:
        reviews = protection.get("required_pull_request_reviews")
        source.reviews = reviews.get("required_approving_review_count", 0) if reviews else -1
        checks = protection.get("required_status_checks") or {}
        source.checks = set(checks.get("contexts", [])) | {c["context"] for c in checks.get("checks", [])}
        source.strict = bool(checks.get("strict"))
    return source


def names(entries: list | None, key: str) -> list[str]:
    return [entry[key] if isinstance(entry, dict) else entry for entry in entries or []]


def merged_protection(current: dict | None, checks: list[str], reviews: int) -> dict:
    """The body of "Update branch protection" that keeps everything `current` (as GET returns it) enforces
    and adds what the workflows need: it replaces the whole protection, so nothing may be left out."""
    current = current or {}
    status = current.get("required_status_checks") or {}
    kept = status.get("checks") or [{"context": name, "app_id": None} for name in status.get("contexts", [])]
    # a kept check keeps its source: app_id -1 is "any app" ("Omit this field to automatically select the GitHub App
    # that has recently provided this check ... Pass -1 to explicitly allow any app", Update branch protection)
    listed = [{"context": c["context"], "app_id": -1 if c.get("app_id") is None else c["app_id"]} for c in kept]
    listed += [{"context": name} for name in checks if name not in {c["context"] for c in kept}]
    pr = current.get("required_pull_request_reviews") or {}
    reviews_body = {key: pr[key] for key in ("dismiss_stale_reviews", "require_code_owner_reviews",
                                             "require_last_push_approval") if key in pr}
    reviews_body["required_approving_review_count"] = max(reviews, pr.get("required_approving_review_count", 0))
    for key in ("dismissal_restrictions", "bypass_pull_request_allowances"):
        if pr.get(key):
            reviews_body[key] = {"users": names(pr[key].get("users"), "login"),
                                 "teams": names(pr[key].get("teams"), "slug"),
                                 "apps": names(pr[key].get("apps"), "slug")}
    restrictions = current.get("restrictions")
    body = {
        "required_status_checks": {"strict": True, "checks": listed},
        "enforce_admins": bool((current.get("enforce_admins") or {}).get("enabled")),
        "required_pull_request_reviews": reviews_body,
        "restrictions": None if not restrictions else {"users": names(restrictions.get("users"), "login"),
                                                       "teams": names(restrictions.get("teams"), "slug"),
                                                       "apps": names(restrictions.get("apps"), "slug")},
    }
    for flag in ("required_linear_history", "allow_force_pushes", "allow_deletions", "block_creations",
                 "required_conversation_resolution", "lock_branch", "allow_fork_syncing"):
        if flag in current:
            body[flag] = bool((current[flag] or {}).get("enabled"))
    return body


def gh_json(method: str, path: str, body: dict) -> str:
    return f"gh api -X {method} {path} --input - <<'JSON'\n{json.dumps(body, indent=2)}\nJSON"


# -- the checks ---------------------------------------------------------------------------------------

class Checks:
    def __init__(self, api: GitHubAPI, repo: str, c: dict, config_path: Path, info: dict):
        self.api, self.repo, self.c, self.config_path = api, repo, c, config_path
        self.trunk = c["branch"]
        self.default_branch = info["default_branch"]
        self.admin = bool((info.get("permissions") or {}).get("admin"))
        self.files = workflows(c, config_path.name)  # what `mlops-actions generate` writes from this config
        self.workflows = parsed(self.files)
        self.config_flag = "" if config_path.name == "mlops.yml" else f" --config {config_path.name}"
        self.plan = Plan()

    def ok(self, what: str, detail: str) -> None:
        self.plan.rows.append([what, "✅", detail])

    def gap(self, what: str, problem: str, commands: list[str], fix: Callable[[], object] | None = None) -> None:
        self.plan.gaps.append(Gap(what, problem, commands, fix))

    def trunk_exists(self) -> None:
        found = self.api.get(f"/repos/{self.repo}/branches/{segment(self.trunk)}", f"reading the branch {self.trunk}",
                             missing_ok=True)
        if found.status == 404:
            raise ActionError("Trunk not found", f"branch: {self.trunk} in {self.config_path.name} does not exist in "
                              f"{self.repo} (its default branch is {self.default_branch}). Fix: push it (`git push "
                              f"origin {self.trunk}`), or set branch: {self.default_branch} in "
                              f"{self.config_path.name} and run `mlops-actions generate`")

    def protection(self) -> None:
        what = f"Protection of {self.trunk}"
        checks, reviews = required_checks(self.workflows), self.c["required-reviews"]
        path = f"repos/{self.repo}/branches/{segment(self.trunk)}/protection"
        current = None
        if self.admin:
            answer = self.api.get(f"/{path}", f"reading the protection of {self.trunk}", missing_ok=True)
            current = answer.data if answer.status == 200 else None
        sources = [protection_source(current)] + ruleset_sources(self.api, self.repo, self.trunk, self.default_branch)
        problems = []
        best = max(sources, key=lambda s: s.reviews)
        if best.reviews < reviews:
            problems.append("pull requests are not required" if best.reviews < 0 else
                            f"{best.reviews} approving review(s) required, mlops.yml asks for {reviews}")
        unrequired = [name for name in checks if not any(name in s.checks for s in sources)]
        if unrequired:
            problems.append(f"the status check {', '.join(repr(n) for n in unrequired)} (the pull-request workflow's "
                            "job) is not required")
        elif not any(s.strict for s in sources if set(checks) & s.checks):
            problems.append("branches need not be up to date before merging (strict)")
        if not problems:
            enforced = ", ".join(s.name for s in sources if s.reviews >= 0 or s.checks)
            self.ok(what, f"{best.reviews} approving review(s), {', '.join(checks)} required, up to date ({enforced})")
            return
        if not self.admin:
            self.gap(what, "; ".join(problems) + " (rulesets only: reading the branch protection needs admin "
                     "rights, which the token's user does not have)",
                     ["# a repository admin runs: mlops-actions setup --apply"])
            return
        body = merged_protection(current, checks, reviews)
        self.gap(what, "; ".join(problems), [gh_json("PUT", path, body)],
                 lambda: self.api.call("PUT", f"/{path}", f"protecting {self.trunk}", body))

    def reviewer_ids(self, env: str) -> list[dict]:
        """The reviewers mlops.yml names for an environment, as {type, id, name}."""
        found = []
        for name in config_environment(self.c, env).get("reviewers", []):
            if "/" in name:
                org, slug = name.split("/", 1)
                answer = self.api.get(f"/orgs/{segment(org)}/teams/{segment(slug)}", f"reading the team {name}",
                                      missing_ok=True)
                kind = "Team"
            else:
                answer = self.api.get(f"/users/{segment(name)}", f"reading the user {name}", missing_ok=True)
                kind = "User"
            if answer.status == 404:
                raise ActionError("Invalid mlops.yml", f"{self.config_path}: environments.{env}.reviewers: {name!r} is "
                                  f"not a GitHub {'team (org/team-slug)' if kind == 'Team' else 'user'}. Fix: name "
                                  "a user by login, or a team as org/team-slug")
            found.append({"type": kind, "id": answer.data["id"], "name": name})
        return found

    def environment(self, env: str) -> None:
        what = f"Environment {env}"
        path = f"repos/{self.repo}/environments/{segment(env)}"
        answer = self.api.get(f"/{path}", f"reading the environment {env}", missing_ok=True)
        current = answer.data if answer.status == 200 else None
        wanted = self.reviewer_ids(env)
        approval = config_environment(self.c, env).get("approval", False)
        rules = (current or {}).get("protection_rules") or []
        have = [{"type": r["type"], "id": r["reviewer"]["id"]} for rule in rules
                if rule.get("type") == "required_reviewers" for r in rule.get("reviewers", [])]
        new = [r for r in wanted if {"type": r["type"], "id": r["id"]} not in have]
        problems = [] if current else ["does not exist (a deploy would create it, unprotected)"]
        if new:
            problems.append(f"{', '.join(r['name'] for r in new)} {'is' if len(new) == 1 else 'are'} not among its "
                            "required reviewers")
        if approval and not have and not wanted:
            self.gap(f"{what} reviewers", f"mlops.yml asks for approval before {env}, and neither the environment nor "
                     f"mlops.yml names a reviewer", [f"# in {self.config_path.name}: environments.{env}.reviewers: "
                                                     "[login, org/team-slug], then mlops-actions setup --apply"])
        policy = (current or {}).get("deployment_branch_policy")
        policies = []
        if policy and policy.get("custom_branch_policies"):
            policies = self.api.pages(f"/{path}/deployment-branch-policies", f"listing {env}'s deployment branch "
                                      "policies", key="branch_policies")
        trunk_allowed = any(p["name"] == self.trunk and p.get("type", "branch") == "branch" for p in policies)
        others = [p for p in policies if not (p["name"] == self.trunk and p.get("type", "branch") == "branch")]
        if current is not None:
            if policy is None:
                problems.append("every branch can deploy to it")
            elif policy["protected_branches"]:
                problems.append("every protected branch can deploy to it, not only the trunk")
            elif not trunk_allowed:
                problems.append(f"{self.trunk} is not among the branches that can deploy to it")
        if others:
            self.gap(f"{what} branches", f"{', '.join(p['name'] for p in others)} can deploy to {env} besides "
                     f"{self.trunk} (--apply leaves a rule it did not write)",
                     [f"gh api -X DELETE {path}/deployment-branch-policies/{p['id']}" for p in others])
        if not problems:
            reviewers = f", reviewers: {', '.join(r['name'] for r in wanted)}" if wanted else ""
            self.ok(what, f"only {self.trunk} deploys{reviewers}")
            return
        timer = next((r.get("wait_timer", 0) for r in rules if r.get("type") == "wait_timer"), 0)
        self_review = any(r.get("prevent_self_review") for r in rules if r.get("type") == "required_reviewers")
        body: dict = {"wait_timer": timer, "prevent_self_review": self_review,  # the PUT replaces: all sent back
                      "can_admins_bypass": (current or {}).get("can_admins_bypass", True),
                      "reviewers": have + [{"type": r["type"], "id": r["id"]} for r in new],
                      "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}}
        branch = {"name": self.trunk, "type": "branch"}
        commands = [gh_json("PUT", path, body)]
        if not trunk_allowed:
            commands.append(f"gh api -X POST {path}/deployment-branch-policies -f name={self.trunk} -f type=branch")

        def fix() -> None:
            self.api.call("PUT", f"/{path}", f"configuring the environment {env}", body)
            if not trunk_allowed:
                self.api.call("POST", f"/{path}/deployment-branch-policies", f"letting {self.trunk} deploy to {env}",
                              branch)
        self.gap(what, "; ".join(problems), commands, fix)

    def variables(self) -> None:
        listed = self.api.pages(f"/repos/{self.repo}/actions/variables", "listing the repository variables",
                                key="variables")
        values = {v["name"].upper(): v["value"] for v in listed}
        for name in variables(self.files):
            what = f"Variable {name}"
            if name in HELD:
                bad, why = HELD[name]
                if values.get(name, "").strip().lower() == bad:
                    self.gap(what, f"is {bad!r} on GitHub: production never deploys; {why} (--apply leaves it: "
                             "it may be a deliberate freeze)",
                             [f"gh variable delete {name} --repo {self.repo}"])
                else:
                    self.ok(what, f"{values.get(name, 'not set')}: production deploys once approved")
            elif name in values:
                self.ok(what, "set")
            else:
                self.gap(what, "not set; the generated workflows read it",
                         [f"gh variable set {name} --repo {self.repo} --body VALUE"])

    def dependabot(self) -> None:
        target = self.config_path.parent / ".github" / "dependabot.yml"
        expected = self.files["dependabot.yml"]
        if not target.is_file() or target.read_text(errors="replace") != expected:
            self.gap("Dependabot config", f"{target} is {'out of date' if target.is_file() else 'missing'}",
                     [f"mlops-actions generate{self.config_flag} && git add .github/dependabot.yml  # then commit "
                      "and push"])
        else:
            self.ok("Dependabot config", ".github/dependabot.yml as generated (version updates of the pinned actions)")
        path = f"repos/{self.repo}/vulnerability-alerts"
        if not self.admin:
            self.gap("Dependabot alerts", "not checked: reading them needs admin rights",
                     ["# a repository admin runs: mlops-actions setup --apply"])
            return
        answer = self.api.get(f"/{path}", "checking Dependabot alerts", missing_ok=True)
        if answer.status == 204:
            self.ok("Dependabot alerts", "enabled")
        else:
            self.gap("Dependabot alerts", "disabled", [f"gh api -X PUT {path}"],
                     lambda: self.api.call("PUT", f"/{path}", "enabling Dependabot alerts"))


def plan(inputs: Inputs, c: dict, config_path: Path, repository: str, apply: bool) -> Plan:
    """Read everything and work out the gaps; refuse --apply without admin rights before any write."""
    repo = check_repository_name(inputs, repository)
    api = GitHubAPI(find_token(inputs))
    teams = any("/" in name for env in c["environments"].values() for name in env.get("reviewers", []))
    info = read_repository(api, repo, teams).data
    assert isinstance(info, dict)
    permissions = info.get("permissions") or {}
    if apply and not permissions.get("admin"):
        role = next((r for r in ("maintain", "push", "triage", "pull") if permissions.get(r)), "no role")
        raise ActionError("GitHub: --apply needs admin rights", f"the token's user has {role} on {repo}, not admin: "
                          "branch protection, environments and Dependabot alerts are an admin's settings. Fix: run "
                          "without --apply and give the commands it prints to a repository admin, or have one run "
                          "`mlops-actions setup --apply`")
    checks = Checks(api, repo, c, config_path, info)
    checks.trunk_exists()
    checks.protection()
    for env in deploy_environments(checks.workflows):
        checks.environment(env)
    checks.variables()
    checks.dependabot()
    return checks.plan
