"""The stand-in's state and its HTTP routes (see the package docstring).

Not done (tests that need them must add them, with their source): pagination beyond `per_page`/`page` and
the Link header, conditional requests, rate limits, GitHub Apps and their installation tokens, organization
rulesets' own routes, creating or updating rulesets, plan limits (required reviewers on private
repositories of the Free plan), the reviewers' own read access, rule evaluation (this stand-in stores what
it is given; nothing is blocked from merging).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DOCS = "https://docs.github.com/rest"
ROLES = ("read", "triage", "write", "maintain", "admin")  # a collaborator's repository roles, weakest first


class Refusal(Exception):
    """An answer other than 2xx: GitHub's error JSON, `message` and `documentation_url`
    (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api)."""

    def __init__(self, status: int, message: str, docs: str = DOCS, headers: dict | None = None):
        self.status, self.message, self.docs, self.headers = status, message, docs, headers or {}
        super().__init__(message)


def not_found(docs: str = DOCS) -> Refusal:
    return Refusal(404, "Not Found", docs)


@dataclass
class Token:
    """A token: its user and, for a personal access token (classic) or an OAuth app's token, its scopes
    (None: a fine-grained token, whose responses carry no X-OAuth-Scopes header)."""
    user: str
    scopes: tuple[str, ...] | None = ("repo",)


@dataclass
class Repository:
    owner: str
    name: str
    private: bool = True
    default_branch: str = "main"
    branches: set = field(default_factory=lambda: {"main"})
    roles: dict = field(default_factory=dict)  # login -> one of ROLES
    protection: dict = field(default_factory=dict)  # branch -> the stored protection (GET's shape)
    rulesets: list = field(default_factory=list)  # as "Get a repository ruleset" returns them
    environments: dict = field(default_factory=dict)  # name -> {"wait_timer", "prevent_self_review", ...}
    branch_policies: dict = field(default_factory=dict)  # environment -> [{"id", "name", "type"}]
    variables: dict = field(default_factory=dict)  # NAME -> {"name", "value", "created_at", "updated_at"}
    vulnerability_alerts: bool = False
    issues: set = field(default_factory=set)  # issue and pull request numbers (a pull request is an issue)
    comments: list = field(default_factory=list)  # [{"id", "issue", "body", "user", ...}]

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class GitHub:
    """The state, the routes, and a server on 127.0.0.1 (`serve()`)."""

    def __init__(self):
        self.tokens: dict[str, Token] = {}
        self.users: dict[str, int] = {}  # login -> id
        self.teams: dict[tuple[str, str], int] = {}  # (org, slug) -> id
        self.repos: dict[str, Repository] = {}
        self.calls: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str, Refusal]] = []  # (method, path regex, refusal) for fail_next
        self.ids = itertools.count(1000)
        self.lock = threading.Lock()
        self.url = ""

    # -- configuring it (tests) -----------------------------------------------------------------------

    def user(self, login: str) -> int:
        return self.users.setdefault(login, next(self.ids))

    def team(self, org: str, slug: str) -> int:
        return self.teams.setdefault((org.lower(), slug.lower()), next(self.ids))

    def token(self, value: str, user: str, scopes: tuple[str, ...] | None = ("repo",)) -> Token:
        self.user(user)
        self.tokens[value] = Token(user, scopes)
        return self.tokens[value]

    def repository(self, full_name: str, admins: tuple[str, ...] = (), writers: tuple[str, ...] = (),
                   **settings) -> Repository:
        owner, name = full_name.split("/")
        repo = Repository(owner, name, **settings)
        repo.branches.add(repo.default_branch)
        repo.roles.update({login: "admin" for login in admins} | {login: "write" for login in writers})
        for login in repo.roles:
            self.user(login)
        self.repos[full_name.lower()] = repo
        return repo

    def fail_next(self, method: str, path: str, status: int, message: str) -> None:
        """Answer the next request matching `method` and the regex `path` with this refusal (a failure the
        documents list for that route, for tests of what a client does then)."""
        self.failures.append((method, path, Refusal(status, message)))

    @property
    def writes(self) -> list[tuple[str, str]]:
        """The requests that change something (every method but GET and HEAD), in order."""
        return [(method, path) for method, path in self.calls if method not in ("GET", "HEAD")]

    # -- the service --------------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers, body: bytes) -> tuple[int, object, dict]:
        url = urlsplit(target)
        path = unquote(url.path).rstrip("/") or "/"
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.calls.append((method, path))
        token = self.authenticate(headers.get("Authorization", ""))
        # classic tokens' responses name their scopes (https://docs.github.com/apps/oauth-apps/building-oauth-
        # apps/scopes-for-oauth-apps: "X-OAuth-Scopes lists the scopes your token has authorized")
        extra = {} if token.scopes is None else {"X-OAuth-Scopes": ", ".join(token.scopes)}
        try:
            for failure in self.failures:
                if failure[0] == method and re.search(failure[1], path):
                    self.failures.remove(failure)
                    raise failure[2]
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                # https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#400-bad-request
                raise Refusal(400, "Problems parsing JSON") from None
            for verb, pattern, route in ROUTES:
                match = re.fullmatch(pattern, path)
                if match and verb == method:
                    with self.lock:
                        status, answer = route(self, token, payload, query, **match.groupdict())
                    return status, answer, extra
            raise not_found()
        except Refusal as refusal:
            refusal.headers = {**extra, **refusal.headers}
            raise

    def authenticate(self, header: str) -> Token:
        """`Authorization: Bearer <token>` or `token <token>`; none, or one GitHub does not know: 401
        (https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api,
        https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#401-unauthorized)."""
        scheme, _, value = header.partition(" ")
        if not header:
            raise Refusal(401, "Requires authentication", "https://docs.github.com/rest")
        if scheme.lower() not in ("bearer", "token") or value.strip() not in self.tokens:
            raise Refusal(401, "Bad credentials", "https://docs.github.com/rest")
        return self.tokens[value.strip()]

    def role(self, repo: Repository, token: Token) -> str | None:
        return repo.roles.get(token.user)

    def visible(self, token: Token, owner: str, name: str, write: bool = False) -> Repository:
        """The repository, as this token sees it. A private repository the user has no role on, or that a
        classic token without the `repo` scope asks for, is not found: GitHub answers 404, not 403, where it
        would otherwise confirm that the repository exists
        (https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api#404-not-found-for-an-existing-resource).
        Writes with a classic token need `repo` (each write route's docs: "OAuth app tokens and personal
        access tokens (classic) need the repo scope to use this endpoint")."""
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None or (repo.private and self.role(repo, token) is None):
            raise not_found("https://docs.github.com/rest/repos/repos#get-a-repository")
        if token.scopes is not None and "repo" not in token.scopes and (repo.private or write):
            raise Refusal(404, "Not Found", "https://docs.github.com/rest/repos/repos#get-a-repository",
                          {"X-Accepted-OAuth-Scopes": "repo"})
        return repo

    def admin(self, token: Token, owner: str, name: str) -> Repository:
        """Writes to a repository's settings (environments, branch policies, Dependabot alerts) need the admin
        role: their fine-grained tokens need "Administration" repository permissions (write)
        (https://docs.github.com/rest/deployments/environments#create-or-update-an-environment; measured in
        github/rest-api-description#6745). A user without it is refused with GitHub's "Must have admin rights
        to Repository." (branch protection's PUT answers 404 instead: see put_protection)."""
        repo = self.visible(token, owner, name, write=True)
        if self.role(repo, token) != "admin":
            raise Refusal(403, "Must have admin rights to Repository.",
                          "https://docs.github.com/rest/deployments/environments#create-or-update-an-environment")
        return repo

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        github = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers: dict = {}
                try:
                    status, body, headers = github.handle(self.command, self.path, self.headers, raw)
                except Refusal as refusal:
                    status, headers = refusal.status, refusal.headers
                    body = {"message": refusal.message, "documentation_url": refusal.docs, "status": str(status)}
                data = b"" if status == 204 or body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
                if data:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return server, self.url


def invalid(message: str, docs: str) -> Refusal:
    """422: "Validation failed, or the endpoint has been spammed" (each route's status codes)."""
    return Refusal(422, message, docs)


def page(items: list, query: dict, default: int = 30, most: int = 100) -> list:
    """`per_page` (default 30, max 100, unless a route's page says otherwise) and `page` (from 1)
    (https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api)."""
    size = max(1, min(int(query.get("per_page", default)), most))
    start = (max(1, int(query.get("page", 1))) - 1) * size
    return items[start:start + size]


# -- repositories, branches, users ------------------------------------------------------------------------

def get_repository(gh: GitHub, token, body, query, owner, repo):
    """https://docs.github.com/rest/repos/repos#get-a-repository: `permissions` (the authenticated user's)
    and `default_branch`."""
    found = gh.visible(token, owner, repo)
    role = gh.role(found, token)
    rank = ROLES.index(role) if role else -1
    permissions = {name: rank >= ROLES.index(level) for name, level in
                   (("pull", "read"), ("triage", "triage"), ("push", "write"), ("maintain", "maintain"),
                    ("admin", "admin"))}
    if not found.private and role is None:
        permissions["pull"] = True  # anyone can read a public repository
    return 200, {"id": abs(hash(found.full_name)) % 10**8, "name": found.name, "full_name": found.full_name,
                 "owner": {"login": found.owner}, "private": found.private,
                 "visibility": "private" if found.private else "public", "default_branch": found.default_branch,
                 "permissions": permissions}


def get_branch(gh: GitHub, token, body, query, owner, repo, branch):
    """https://docs.github.com/rest/branches/branches#get-a-branch: 404 "Branch not found"."""
    found = gh.visible(token, owner, repo)
    if branch not in found.branches:
        raise Refusal(404, "Branch not found", "https://docs.github.com/rest/branches/branches#get-a-branch")
    return 200, {"name": branch, "commit": {"sha": "0" * 40}, "protected": branch in found.protection}


def get_user(gh: GitHub, token, body, query, username):
    """https://docs.github.com/rest/users/users#get-a-user"""
    for login, number in gh.users.items():
        if login.lower() == username.lower():
            return 200, {"login": login, "id": number, "type": "User"}
    raise not_found("https://docs.github.com/rest/users/users#get-a-user")


def get_team(gh: GitHub, token, body, query, org, slug):
    """https://docs.github.com/rest/teams/teams#get-a-team-by-name; classic tokens need `read:org`
    ("OAuth app tokens and personal access tokens (classic) need the read:org scope")."""
    if token.scopes is not None and not {"read:org", "write:org", "admin:org"} & set(token.scopes):
        raise Refusal(404, "Not Found", "https://docs.github.com/rest/teams/teams#get-a-team-by-name",
                      {"X-Accepted-OAuth-Scopes": "admin:org, read:org, repo, user, write:org"})
    number = gh.teams.get((org.lower(), slug.lower()))
    if number is None:
        raise not_found("https://docs.github.com/rest/teams/teams#get-a-team-by-name")
    return 200, {"id": number, "slug": slug.lower(), "name": slug, "organization": {"login": org}}


# -- branch protection --------------------------------------------------------------------------------

PROTECTION_DOCS = "https://docs.github.com/rest/branches/branch-protection#update-branch-protection"
PUT_REQUIRED = ("required_status_checks", "enforce_admins", "required_pull_request_reviews", "restrictions")
FLAGS = ("required_linear_history", "allow_force_pushes", "allow_deletions", "block_creations",
         "required_conversation_resolution", "lock_branch", "allow_fork_syncing")


def get_protection(gh: GitHub, token, body, query, owner, repo, branch):
    """https://docs.github.com/rest/branches/branch-protection#get-branch-protection: 404 "Branch not
    protected" when it has none. Reading it needs admin rights too: a user without them gets 404 Not Found
    (reported in octokit/octokit.rb#870)."""
    found = gh.visible(token, owner, repo)
    if gh.role(found, token) != "admin":
        raise not_found("https://docs.github.com/rest/branches/branch-protection#get-branch-protection")
    if branch not in found.branches:
        raise Refusal(404, "Branch not found", "https://docs.github.com/rest/branches/branch-protection")
    if branch not in found.protection:
        raise Refusal(404, "Branch not protected",
                      "https://docs.github.com/rest/branches/branch-protection#get-branch-protection")
    return 200, found.protection[branch]


def put_protection(gh: GitHub, token, body, query, owner, repo, branch):
    """https://docs.github.com/rest/branches/branch-protection#update-branch-protection. The four keys are
    required (each may be null); the request replaces the whole protection ("Passing new arrays of users and
    teams replaces their previous values"): what it leaves out is gone. required_approving_review_count is
    0-6; restrictions are for organization-owned repositories only."""
    found = gh.visible(token, owner, repo, write=True)
    if gh.role(found, token) != "admin":  # measured: 404, not 403 (Wide-Moat/open-computer-use#359)
        raise not_found(PROTECTION_DOCS)
    if branch not in found.branches:
        raise Refusal(404, "Branch not found", PROTECTION_DOCS)
    missing = [key for key in PUT_REQUIRED if key not in body]
    if missing:
        names = ", ".join(f'"{key}"' for key in missing)
        raise invalid(f"Invalid request.\n\n{names} {'wasn' if len(missing) == 1 else 'weren'}'t supplied.",
                      PROTECTION_DOCS)
    base = f"https://api.github.com/repos/{found.full_name}/branches/{branch}/protection"
    stored: dict = {"url": base}
    checks = body["required_status_checks"]
    if checks is not None:
        # strict, and exactly one of contexts (deprecated) and checks: both or neither is a 422 (go-github#2276;
        # the messages as reported in google/go-github#2976 and ossf/allstar#155)
        given_both = "contexts" in checks and "checks" in checks
        if "strict" not in checks or given_both or ("contexts" not in checks and "checks" not in checks):
            raise invalid("Invalid request.\n\nNo subschema in \"anyOf\" matched.\n"
                          f"{'More than one subschema' if given_both else 'No subschema'} in \"oneOf\" matched.\n"
                          "Not all subschemas of \"allOf\" matched.", PROTECTION_DOCS)
        given = checks.get("checks")
        # app_id -1: "explicitly allow any app", which GET shows as null (any source)
        listed = ([{"context": c["context"], "app_id": None if c.get("app_id") == -1 else c.get("app_id")}
                   for c in given] if given is not None
                  else [{"context": c, "app_id": None} for c in checks["contexts"]])
        stored["required_status_checks"] = {"url": f"{base}/required_status_checks", "strict": bool(checks["strict"]),
                                            "contexts": [c["context"] for c in listed], "checks": listed}
    reviews = body["required_pull_request_reviews"]
    if reviews is not None:
        count = reviews.get("required_approving_review_count", 0)
        if not isinstance(count, int) or not 0 <= count <= 6:
            raise invalid("Invalid request.\n\nrequired_approving_review_count must be between 0 and 6.",
                          PROTECTION_DOCS)
        stored["required_pull_request_reviews"] = {
            "url": f"{base}/required_pull_request_reviews", "required_approving_review_count": count,
            **{key: bool(reviews.get(key, False)) for key in
               ("dismiss_stale_reviews", "require_code_owner_reviews", "require_last_push_approval")},
            **{key: actors(reviews[key]) for key in ("dismissal_restrictions", "bypass_pull_request_allowances")
               if reviews.get(key)}}
    stored["enforce_admins"] = {"url": f"{base}/enforce_admins", "enabled": bool(body["enforce_admins"])}
    if body["restrictions"] is not None:
        if found.owner in gh.users:  # a user's repository
            raise invalid("Only organization repositories can have users and team restrictions", PROTECTION_DOCS)
        stored["restrictions"] = actors(body["restrictions"])
    for flag in FLAGS:
        stored[flag] = {"enabled": bool(body.get(flag, False))}
    found.protection[branch] = stored
    return 200, stored


def actors(given: dict) -> dict:
    """Users, teams and apps as the request names them (logins and slugs), as GET returns them (objects)."""
    return {"users": [{"login": login} for login in given.get("users", [])],
            "teams": [{"slug": slug} for slug in given.get("teams", [])],
            "apps": [{"slug": slug} for slug in given.get("apps", [])]}


# -- rulesets (read) ------------------------------------------------------------------------------------

def list_rulesets(gh: GitHub, token, body, query, owner, repo):
    """https://docs.github.com/rest/repos/rules#get-all-repository-rulesets: summaries, without `rules` and
    `conditions` (get one for those)."""
    found = gh.visible(token, owner, repo)
    keys = ("id", "name", "target", "source_type", "source", "enforcement")
    return 200, [{key: ruleset.get(key) for key in keys} for ruleset in page(found.rulesets, query)]


def get_ruleset(gh: GitHub, token, body, query, owner, repo, ruleset_id):
    """https://docs.github.com/rest/repos/rules#get-a-repository-ruleset"""
    found = gh.visible(token, owner, repo)
    for ruleset in found.rulesets:
        if str(ruleset["id"]) == ruleset_id:
            return 200, ruleset
    raise not_found("https://docs.github.com/rest/repos/rules#get-a-repository-ruleset")


# -- environments and deployment branch policies ------------------------------------------------------

ENVIRONMENT_DOCS = "https://docs.github.com/rest/deployments/environments#create-or-update-an-environment"


def environment_view(gh: GitHub, repo: Repository, name: str) -> dict:
    """An environment as "Get an environment" returns it: its settings as `protection_rules`."""
    env = repo.environments[name]
    rules: list[dict] = []
    if env["reviewers"]:
        rules.append({"id": env["ids"][0], "type": "required_reviewers",
                      "prevent_self_review": env["prevent_self_review"],
                      "reviewers": [{"type": r["type"], "reviewer": reviewer(gh, r)} for r in env["reviewers"]]})
    if env["wait_timer"]:
        rules.append({"id": env["ids"][1], "type": "wait_timer", "wait_timer": env["wait_timer"]})
    if env["deployment_branch_policy"]:
        rules.append({"id": env["ids"][2], "type": "branch_policy"})
    return {"id": env["ids"][3], "name": name, "url": f"https://api.github.com/repos/{repo.full_name}/environments/"
            f"{name}", "can_admins_bypass": env["can_admins_bypass"], "protection_rules": rules,
            "deployment_branch_policy": env["deployment_branch_policy"]}


def reviewer(gh: GitHub, entry: dict) -> dict:
    if entry["type"] == "User":
        return {"login": next(login for login, n in gh.users.items() if n == entry["id"]), "id": entry["id"]}
    (org, slug) = next(key for key, n in gh.teams.items() if n == entry["id"])
    return {"slug": slug, "id": entry["id"], "organization": {"login": org}}


def get_environment(gh: GitHub, token, body, query, owner, repo, name):
    """https://docs.github.com/rest/deployments/environments#get-an-environment ("Anyone with read access
    to the repository can use this endpoint")."""
    found = gh.visible(token, owner, repo)
    if name not in found.environments:
        raise not_found("https://docs.github.com/rest/deployments/environments#get-an-environment")
    return 200, environment_view(gh, found, name)


def put_environment(gh: GitHub, token, body, query, owner, repo, name):
    """https://docs.github.com/rest/deployments/environments#create-or-update-an-environment: wait_timer
    0-43200 minutes; up to six reviewers, each {type: User|Team, id}; deployment_branch_policy null (every
    branch) or {protected_branches, custom_branch_policies}, exactly one of them true. The docs do not say
    whether a field left out keeps its value: the stand-in resets it, the stricter reading, so a client that
    sends less than the whole environment loses settings here."""
    found = gh.admin(token, owner, repo)
    timer = body.get("wait_timer", 0)
    if not isinstance(timer, int) or not 0 <= timer <= 43200:
        raise invalid("Invalid request.\n\nwait_timer must be an integer between 0 and 43200.", ENVIRONMENT_DOCS)
    reviewers = body.get("reviewers") or []
    if len(reviewers) > 6:
        raise invalid("Invalid request.\n\nYou can list up to six users or teams as reviewers.", ENVIRONMENT_DOCS)
    known = {("User", n) for n in gh.users.values()} | {("Team", n) for n in gh.teams.values()}
    for entry in reviewers:
        if (entry.get("type"), entry.get("id")) not in known:
            raise invalid(f"Invalid request.\n\nReviewer {entry!r} is not a user or team.", ENVIRONMENT_DOCS)
    policy = body.get("deployment_branch_policy")
    if policy is not None and [bool(policy.get("protected_branches")), bool(policy.get("custom_branch_policies"))] \
            not in ([True, False], [False, True]):
        raise invalid("Invalid request.\n\nIf protected_branches is true, custom_branch_policies must be false; "
                      "if protected_branches is false, custom_branch_policies must be true.", ENVIRONMENT_DOCS)
    previous = found.environments.get(name)
    found.environments[name] = {
        "wait_timer": timer, "prevent_self_review": bool(body.get("prevent_self_review", False)),
        # "can_admins_bypass ... Default: true" (the same page): left out, admins may bypass the rules again
        "can_admins_bypass": bool(body.get("can_admins_bypass", True)),
        "reviewers": [{"type": r["type"], "id": r["id"]} for r in reviewers],
        "deployment_branch_policy": None if policy is None else {
            "protected_branches": bool(policy["protected_branches"]),
            "custom_branch_policies": bool(policy["custom_branch_policies"])},
        "ids": previous["ids"] if previous else [next(gh.ids) for _ in range(4)]}
    if policy is None or not policy.get("custom_branch_policies"):
        found.branch_policies.pop(name, None)
    return 200, environment_view(gh, found, name)


def list_branch_policies(gh: GitHub, token, body, query, owner, repo, name):
    """https://docs.github.com/rest/deployments/branch-policies#list-deployment-branch-policies"""
    found = gh.visible(token, owner, repo)
    if name not in found.environments:
        raise not_found("https://docs.github.com/rest/deployments/branch-policies")
    policies = found.branch_policies.get(name, [])
    return 200, {"total_count": len(policies), "branch_policies": page(policies, query)}


def create_branch_policy(gh: GitHub, token, body, query, owner, repo, name):
    """https://docs.github.com/rest/deployments/branch-policies#create-a-deployment-branch-policy: 404 "Not
    Found or deployment_branch_policy.custom_branch_policies property for the environment is set to false";
    303 when the same name pattern exists; `type` branch (default) or tag."""
    found = gh.admin(token, owner, repo)
    env = found.environments.get(name)
    if env is None or not (env["deployment_branch_policy"] or {}).get("custom_branch_policies"):
        raise not_found("https://docs.github.com/rest/deployments/branch-policies#create-a-deployment-branch-policy")
    if not isinstance(body.get("name"), str) or body.get("type", "branch") not in ("branch", "tag"):
        raise invalid("Invalid request.\n\nname is required; type is branch or tag.",
                      "https://docs.github.com/rest/deployments/branch-policies#create-a-deployment-branch-policy")
    policies = found.branch_policies.setdefault(name, [])
    kind = body.get("type", "branch")
    if any(p["name"] == body["name"] and p["type"] == kind for p in policies):
        raise Refusal(303, "See Other", "https://docs.github.com/rest/deployments/branch-policies")
    policy = {"id": next(gh.ids), "name": body["name"], "type": kind}
    policies.append(policy)
    return 200, policy


# -- Actions variables ----------------------------------------------------------------------------------

VARIABLES_DOCS = "https://docs.github.com/rest/actions/variables"


def collaborator(gh: GitHub, token, owner, repo, write: bool = False) -> Repository:
    """Variables: "Authenticated users must have collaborator access to a repository to create, update, or
    read variables" (https://docs.github.com/rest/actions/variables)."""
    found = gh.visible(token, owner, repo, write=write)
    if gh.role(found, token) is None or (write and gh.role(found, token) not in ("write", "maintain", "admin")):
        raise Refusal(403, "Resource not accessible by personal access token", VARIABLES_DOCS)
    return found


def list_variables(gh: GitHub, token, body, query, owner, repo):
    """https://docs.github.com/rest/actions/variables#list-repository-variables ("per_page: The number of results
    per page (max 30). Default: 10")."""
    found = collaborator(gh, token, owner, repo)
    items = sorted(found.variables.values(), key=lambda v: v["name"])
    return 200, {"total_count": len(items), "variables": page(items, query, default=10, most=30)}


def get_variable(gh: GitHub, token, body, query, owner, repo, name):
    found = collaborator(gh, token, owner, repo)
    if name.upper() not in found.variables:
        raise not_found(f"{VARIABLES_DOCS}#get-a-repository-variable")
    return 200, found.variables[name.upper()]


def create_variable(gh: GitHub, token, body, query, owner, repo):
    """https://docs.github.com/rest/actions/variables#create-a-repository-variable: 201; 409 when it exists.
    Names: letters, digits and _, not starting with a digit or GITHUB_, case insensitive
    (https://docs.github.com/actions/reference/workflows-and-actions/variables, naming conventions); GitHub
    shows them upper case (github/safe-settings converts them "to match GitHub's convention")."""
    found = collaborator(gh, token, owner, repo, write=True)
    name, value = body.get("name"), body.get("value")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or \
            name.upper().startswith("GITHUB_") or not isinstance(value, str):
        raise invalid("Invalid request.\n\nname (letters, digits, _; not GITHUB_) and value are required.",
                      f"{VARIABLES_DOCS}#create-a-repository-variable")
    if name.upper() in found.variables:
        raise Refusal(409, "Already exists - Variable already exists", f"{VARIABLES_DOCS}#create-a-repository-variable")
    found.variables[name.upper()] = {"name": name.upper(), "value": value, "created_at": "2026-01-01T00:00:00Z",
                                     "updated_at": "2026-01-01T00:00:00Z"}
    return 201, {}


def update_variable(gh: GitHub, token, body, query, owner, repo, name):
    """https://docs.github.com/rest/actions/variables#update-a-repository-variable: 204."""
    found = collaborator(gh, token, owner, repo, write=True)
    current = found.variables.get(name.upper())
    if current is None:
        raise not_found(f"{VARIABLES_DOCS}#update-a-repository-variable")
    if "value" in body:
        current["value"] = str(body["value"])
    if body.get("name") and body["name"].upper() != name.upper():
        found.variables[body["name"].upper()] = dict(current, name=body["name"].upper())
        del found.variables[name.upper()]
    return 204, None


# -- Dependabot alerts ------------------------------------------------------------------------------------

ALERTS_DOCS = "https://docs.github.com/rest/repos/repos#check-if-vulnerability-alerts-are-enabled-for-a-repository"


def get_alerts(gh: GitHub, token, body, query, owner, repo):
    """204 when enabled, 404 when not; "The authenticated user must have admin read access to the
    repository" (ALERTS_DOCS)."""
    found = gh.visible(token, owner, repo)
    if gh.role(found, token) != "admin":
        raise not_found(ALERTS_DOCS)
    if not found.vulnerability_alerts:
        raise not_found(ALERTS_DOCS)
    return 204, None


def put_alerts(gh: GitHub, token, body, query, owner, repo):
    """https://docs.github.com/rest/repos/repos#enable-vulnerability-alerts: 204, admin."""
    gh.admin(token, owner, repo).vulnerability_alerts = True
    return 204, None


# -- issue comments (a pull request is an issue) --------------------------------------------------------

COMMENTS_DOCS = "https://docs.github.com/rest/issues/comments"


def comment_view(repo: Repository, comment: dict) -> dict:
    return {"id": comment["id"], "body": comment["body"], "user": comment["user"],
            "url": f"https://api.github.com/repos/{repo.full_name}/issues/comments/{comment['id']}",
            "html_url": f"https://github.com/{repo.full_name}/pull/{comment['issue']}#issuecomment-{comment['id']}",
            "issue_url": f"https://api.github.com/repos/{repo.full_name}/issues/{comment['issue']}",
            "created_at": comment["created_at"], "updated_at": comment["updated_at"]}


def list_comments(gh: GitHub, token, body, query, owner, repo, number):
    """https://docs.github.com/rest/issues/comments#list-issue-comments: ascending by id, paginated."""
    found = gh.visible(token, owner, repo)
    if int(number) not in found.issues:
        raise not_found(f"{COMMENTS_DOCS}#list-issue-comments")
    items = [comment_view(found, c) for c in found.comments if c["issue"] == int(number)]
    return 200, page(items, query)


def too_long(text: str, route: str) -> None:
    """A comment's body holds at most 65,536 characters: GitHub answers 422 "body is too long (maximum is 65536
    characters)" (not in the REST docs; measured and quoted in danger/danger#424 and release-please#1034)."""
    if len(text) > 65536:
        raise invalid("Validation Failed: body is too long (maximum is 65536 characters)", f"{COMMENTS_DOCS}#{route}")


def create_comment(gh: GitHub, token, body, query, owner, repo, number):
    """https://docs.github.com/rest/issues/comments#create-an-issue-comment: 201; `body` required."""
    found = gh.visible(token, owner, repo, write=True)
    if int(number) not in found.issues:
        raise not_found(f"{COMMENTS_DOCS}#create-an-issue-comment")
    if not isinstance(body.get("body"), str):
        raise invalid("Invalid request.\n\n\"body\" wasn't supplied.", f"{COMMENTS_DOCS}#create-an-issue-comment")
    too_long(body["body"], "create-an-issue-comment")
    stamp = f"2026-01-01T00:00:{len(found.comments) % 60:02d}Z"
    comment = {"id": next(gh.ids), "issue": int(number), "body": body["body"], "created_at": stamp,
               "updated_at": stamp, "user": {"login": token.user, "id": gh.users[token.user]}}
    found.comments.append(comment)
    return 201, comment_view(found, comment)


def update_comment(gh: GitHub, token, body, query, owner, repo, comment_id):
    """https://docs.github.com/rest/issues/comments#update-an-issue-comment: 200; `body` required."""
    found = gh.visible(token, owner, repo, write=True)
    comment = next((c for c in found.comments if str(c["id"]) == comment_id), None)
    if comment is None:
        raise not_found(f"{COMMENTS_DOCS}#update-an-issue-comment")
    if not isinstance(body.get("body"), str):
        raise invalid("Invalid request.\n\n\"body\" wasn't supplied.", f"{COMMENTS_DOCS}#update-an-issue-comment")
    too_long(body["body"], "update-an-issue-comment")
    comment["body"] = body["body"]
    return 200, comment_view(found, comment)


REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
ROUTES = [
    ("GET", REPO, get_repository),
    ("GET", rf"{REPO}/branches/(?P<branch>[^/]+)", get_branch),
    ("GET", rf"{REPO}/branches/(?P<branch>[^/]+)/protection", get_protection),
    ("PUT", rf"{REPO}/branches/(?P<branch>[^/]+)/protection", put_protection),
    ("GET", rf"{REPO}/rulesets", list_rulesets),
    ("GET", rf"{REPO}/rulesets/(?P<ruleset_id>\d+)", get_ruleset),
    ("GET", rf"{REPO}/environments/(?P<name>[^/]+)", get_environment),
    ("PUT", rf"{REPO}/environments/(?P<name>[^/]+)", put_environment),
    ("GET", rf"{REPO}/environments/(?P<name>[^/]+)/deployment-branch-policies", list_branch_policies),
    ("POST", rf"{REPO}/environments/(?P<name>[^/]+)/deployment-branch-policies", create_branch_policy),
    ("GET", rf"{REPO}/actions/variables", list_variables),
    ("POST", rf"{REPO}/actions/variables", create_variable),
    ("GET", rf"{REPO}/actions/variables/(?P<name>[^/]+)", get_variable),
    ("PATCH", rf"{REPO}/actions/variables/(?P<name>[^/]+)", update_variable),
    ("GET", rf"{REPO}/vulnerability-alerts", get_alerts),
    ("PUT", rf"{REPO}/vulnerability-alerts", put_alerts),
    ("GET", rf"{REPO}/issues/(?P<number>\d+)/comments", list_comments),
    ("POST", rf"{REPO}/issues/(?P<number>\d+)/comments", create_comment),
    ("PATCH", rf"{REPO}/issues/comments/(?P<comment_id>\d+)", update_comment),
    ("GET", r"/users/(?P<username>[^/]+)", get_user),
    ("GET", r"/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)", get_team),
]
