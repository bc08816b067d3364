"""The REST client (mlops_actions.github_api) against the GitHub stand-in, and the stand-in's documented rules."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops_actions import github_api
from mlops_actions.github_api import REPOSITORY, GitHubAPI, GitHubError

TOKEN = "ghp_standin_admin_token"


@pytest.fixture
def repo(github_api):
    github_api.token(TOKEN, "lead", scopes=("repo", "read:org"))
    github_api.token("ghp_reader", "reader", scopes=("repo",))
    github_api.token("github_pat_finegrained", "lead", scopes=None)
    return github_api.repository("contoso/diabetes", admins=("lead",), writers=("reader",), issues={7})


def test_requests_carry_githubs_headers_and_answers_name_the_classic_scopes(repo, github_api):
    answer = GitHubAPI(TOKEN).get("/repos/contoso/diabetes", "reading the repository")
    assert answer.data["permissions"]["admin"] is True and answer.data["default_branch"] == "main"
    assert answer.scopes == {"repo", "read:org"}
    assert GitHubAPI("github_pat_finegrained").get("/repos/contoso/diabetes", "reading").scopes is None


@pytest.mark.parametrize("token", ["", "ghp_unknown"])
def test_a_bad_token_is_a_clear_error_that_never_shows_the_token(repo, token):
    with pytest.raises(GitHubError) as caught:
        GitHubAPI(token).get("/repos/contoso/diabetes", "reading the repository contoso/diabetes")
    assert caught.value.title == "GitHub refused: reading the repository contoso/diabetes"
    assert "401" in str(caught.value) and "gh auth login" in str(caught.value)
    assert token == "" or token not in str(caught.value)


def test_a_private_repository_the_user_cannot_see_is_not_found_and_missing_ok_returns_it(repo, github_api):
    github_api.token("ghp_stranger", "stranger")
    with pytest.raises(GitHubError) as caught:
        GitHubAPI("ghp_stranger").get("/repos/contoso/diabetes", "reading the repository")
    assert caught.value.status == 404 and "404 Not Found" in str(caught.value)
    assert GitHubAPI("ghp_stranger").get("/repos/contoso/diabetes", "reading", missing_ok=True).status == 404


def test_a_classic_token_without_repo_is_told_which_scope_it_lacks(repo, github_api):
    github_api.token("ghp_noscope", "lead", scopes=("read:org",))
    with pytest.raises(GitHubError) as caught:
        GitHubAPI("ghp_noscope").get("/repos/contoso/diabetes", "reading the repository")
    assert "The token's scopes are read:org; this call needs repo" in str(caught.value)


def test_settings_need_admin_rights(repo):
    with pytest.raises(GitHubError) as caught:
        GitHubAPI("ghp_reader").call("PUT", "/repos/contoso/diabetes/environments/production", "creating", body={})
    assert caught.value.status == 403 and "Must have admin rights to Repository." in str(caught.value)


def test_a_protection_put_replaces_the_whole_protection_and_needs_its_four_keys(repo, github_api):
    api = GitHubAPI(TOKEN)
    path = "/repos/contoso/diabetes/branches/main/protection"
    assert api.get(path, "reading", missing_ok=True).status == 404
    with pytest.raises(GitHubError) as caught:
        api.call("PUT", path, "protecting main", body={"enforce_admins": True})
    assert caught.value.status == 422 and "\"restrictions\" weren't supplied" in str(caught.value)
    api.call("PUT", path, "protecting main", body={
        "required_status_checks": {"strict": True, "contexts": ["build"]}, "enforce_admins": True,
        "required_pull_request_reviews": {"required_approving_review_count": 2}, "restrictions": None,
        "required_linear_history": True})
    api.call("PUT", path, "protecting main", body={"required_status_checks": None, "enforce_admins": None,
                                                   "required_pull_request_reviews": None, "restrictions": None})
    stored = api.get(path, "reading").data
    assert "required_status_checks" not in stored and "required_pull_request_reviews" not in stored
    assert stored["enforce_admins"]["enabled"] is False and stored["required_linear_history"]["enabled"] is False


def test_issue_comments_are_listed_in_pages_created_and_updated(repo, github_api):
    api = GitHubAPI(TOKEN)
    for n in range(3):
        api.call("POST", "/repos/contoso/diabetes/issues/7/comments", "commenting", body={"body": f"c{n}"})
    first = api.get("/repos/contoso/diabetes/issues/7/comments?per_page=2&page=1", "listing").data
    second = api.get("/repos/contoso/diabetes/issues/7/comments?per_page=2&page=2", "listing").data
    assert [c["body"] for c in first + second] == ["c0", "c1", "c2"] and first[0]["user"]["login"] == "lead"
    api.call("PATCH", f"/repos/contoso/diabetes/issues/comments/{first[0]['id']}", "updating", body={"body": "new"})
    assert [c["body"] for c in api.pages("/repos/contoso/diabetes/issues/7/comments", "listing")] == ["new", "c1", "c2"]
    with pytest.raises(GitHubError):
        api.call("POST", "/repos/contoso/diabetes/issues/8/comments", "commenting", body={"body": "x"})


def test_a_branch_policy_needs_custom_branch_policies_on_its_environment(repo):
    api = GitHubAPI(TOKEN)
    policies = "/repos/contoso/diabetes/environments/production/deployment-branch-policies"
    api.call("PUT", "/repos/contoso/diabetes/environments/production", "creating", body={
        "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False}})
    with pytest.raises(GitHubError) as caught:
        api.call("POST", policies, "adding main", body={"name": "main", "type": "branch"})
    assert caught.value.status == 404
    api.call("PUT", "/repos/contoso/diabetes/environments/production", "creating", body={
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True}})
    api.call("POST", policies, "adding main", body={"name": "main", "type": "branch"})
    assert [p["name"] for p in api.get(policies, "listing").data["branch_policies"]] == ["main"]


def test_an_unreachable_api_is_a_clear_error(monkeypatch):
    with pytest.raises(GitHubError) as caught:
        GitHubAPI("t", base_url="http://127.0.0.1:9").get("/repos/a/b", "reading the repository")
    assert caught.value.title == "GitHub could not be reached: reading the repository"


def test_an_answer_that_is_not_json_is_a_clear_error_not_a_crash():
    class SignOnPage(BaseHTTPRequestHandler):  # what a proxy or a single sign-on page answers in GitHub's place
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>Sign in</html>")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), SignOnPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(GitHubError, match="answered 200 with something that is not JSON"):
            GitHubAPI("t", base_url=f"http://127.0.0.1:{server.server_port}").get("/repos/a/b", "reading")
    finally:
        server.shutdown()


@pytest.mark.parametrize("checks", [{"strict": True},
                                    {"strict": True, "contexts": ["a"], "checks": [{"context": "a"}]}])
def test_required_status_checks_take_contexts_or_checks_not_both_nor_neither(repo, checks):
    with pytest.raises(GitHubError) as caught:
        GitHubAPI(TOKEN).call("PUT", "/repos/contoso/diabetes/branches/main/protection", "protecting main", body={
            "required_status_checks": checks, "enforce_admins": False, "required_pull_request_reviews": None,
            "restrictions": None})
    assert caught.value.status == 422 and "subschema in \"oneOf\" matched" in str(caught.value)


def test_protecting_a_branch_without_admin_rights_is_not_found(repo):
    with pytest.raises(GitHubError) as caught:
        GitHubAPI("ghp_reader").call("PUT", "/repos/contoso/diabetes/branches/main/protection", "protecting", body={
            "required_status_checks": None, "enforce_admins": None, "required_pull_request_reviews": None,
            "restrictions": None})
    assert caught.value.status == 404


def test_pages_follows_a_listing_past_its_first_page(repo):
    repo.comments += [{"id": n, "issue": 7, "body": f"c{n}", "user": {"login": "lead", "id": 1},
                       "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"} for n in range(101)]
    listed = GitHubAPI(TOKEN).pages("/repos/contoso/diabetes/issues/7/comments", "listing")
    assert [c["body"] for c in listed] == [f"c{n}" for n in range(101)]


def serve(handler) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_redirects_are_followed_and_the_token_goes_only_to_the_apis_own_origin():
    """GitHub answers a renamed repository with 301 (docs: follow redirects); a redirect elsewhere gets no token."""
    seen = []

    class Recording(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.server.server_port, self.path, self.headers.get("Authorization")))
            moves = {"/repos/old/name": f"http://127.0.0.1:{api.server_port}/repositories/1",
                     "/repos/a/elsewhere": f"http://127.0.0.1:{other.server_port}/file"}
            self.send_response(301 if self.path in moves else 200)
            self.send_header("Location" if self.path in moves else "Content-Type",
                             moves.get(self.path, "application/json"))
            self.end_headers()
            self.wfile.write(b"" if self.path in moves else b'{"ok": true}')

        do_POST = do_GET

        def log_message(self, *args):
            pass

    api, other = serve(Recording), serve(Recording)
    try:
        client = GitHubAPI("secret-token", base_url=f"http://127.0.0.1:{api.server_port}")
        assert client.get("/repos/old/name", "reading").data == {"ok": True}
        assert client.get("/repos/a/elsewhere", "reading").data == {"ok": True}
        with pytest.raises(GitHubError) as refused:  # a write is never resent as a GET
            client.call("POST", "/repos/old/name", "renaming", {"name": "x"})
        assert refused.value.status == 301
    finally:
        api.shutdown(), other.shutdown()
    token = "Bearer secret-token"
    assert seen == [(api.server_port, "/repos/old/name", token), (api.server_port, "/repositories/1", token),
                    (api.server_port, "/repos/a/elsewhere", token), (other.server_port, "/file", None),
                    (api.server_port, "/repos/old/name", token)]


@pytest.mark.parametrize("repository, valid", [
    ("contoso/diabetes", True), ("42-labs/model", True), ("9/x", True), ("a-b/.github", True),
    ("-lead/x", False), ("owner/", False), ("owner/na me", False), ("a/b/c", False), (f"{'o' * 40}/x", False),
    ("o/.", False), ("o/..", False), ("o/...", True), ("o/.x", True)])
def test_repository_names_as_github_allows_them(repository, valid):
    assert bool(REPOSITORY.match(repository)) is valid


@pytest.mark.parametrize("start, redirect, same", [
    ("https://api.github.com/a", "https://api.github.com:443/b", True), ("http://h/a", "http://h:80/b", True),
    ("https://api.github.com/a", "http://api.github.com/b", False), ("https://h/a", "https://h:8443/b", False),
    ("https://api.github.com/a", "https://API.github.com/b", True), ("https://h/a", "https://h.evil/b", False)])
def test_the_origin_the_token_stays_within(start, redirect, same):
    assert (github_api.origin(start) == github_api.origin(redirect)) is same
