"""A small client of GitHub's REST API (urllib, no dependency), shared by setup and the pull-request comment.

The base URL is $GITHUB_API_URL (a runner sets it; GitHub Enterprise Server has its own), else
https://api.github.com. A refusal becomes an ActionError naming the call, the status and GitHub's message;
the token is sent only in the Authorization header and never appears in a message.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from mlops_actions.github import ActionError

DEFAULT_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
TIMEOUT_SECONDS = 30
PAGE_SIZE = 100
# owner/name as GitHub allows them: an owner of 1-39 letters, digits and hyphens; a name of letters, digits, . _ -
# (not . or ..)
REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$")


@dataclass
class Response:
    status: int
    data: Any  # the decoded JSON answer (None for 204 and for a 404 with missing_ok)
    headers: dict

    @property
    def scopes(self) -> set[str] | None:
        """A classic token's scopes (X-OAuth-Scopes), None for a token that has none (fine-grained, app)."""
        header = self.headers.get("x-oauth-scopes")
        return None if header is None else {scope.strip() for scope in header.split(",") if scope.strip()}


class GitHubError(ActionError):
    def __init__(self, what: str, message: str, status: int = 0):
        self.status = status
        super().__init__(f"GitHub refused: {what}" if status else f"GitHub could not be reached: {what}", message)


def segment(value: str) -> str:
    """One path segment (a branch, environment or user name), quoted."""
    return quote(str(value), safe="")


class Redirects(urllib.request.HTTPRedirectHandler):
    """GitHub's redirects followed as its docs ask (a renamed repository answers 301: https://docs.github.com/rest/
    using-the-rest-api/best-practices-for-using-the-rest-api#follow-redirects), with the token sent on only while
    they stay at the API's scheme, host and port. A write is not followed: urllib would resend it as a GET, or
    not at all; the redirect is then the error."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if req.get_method() not in ("GET", "HEAD"):
            return None
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and origin(newurl) != origin(req.full_url):
            new.remove_header("Authorization")
        return new


def origin(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port or {"https": 443, "http": 80}.get(parts.scheme)


OPENER = urllib.request.build_opener(Redirects)


class GitHubAPI:
    def __init__(self, token: str, base_url: str | None = None):
        self.token = token
        self.base_url = (base_url or os.environ.get("GITHUB_API_URL") or DEFAULT_URL).rstrip("/")

    def call(self, method: str, path: str, what: str, body: object = None, missing_ok: bool = False) -> Response:
        """One request. `what` says what it is for, in errors: "reading the branch protection of main".
        With missing_ok a 404 is an answer (Response with status 404), not an error."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers={
            "Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION,
            "Authorization": f"Bearer {self.token}", "User-Agent": "mlops-actions",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
                raw = answer.read()
                try:
                    data = json.loads(raw) if raw else None
                except ValueError:  # a proxy's or a single sign-on page, not GitHub's API
                    raise GitHubError(what, f"{method} {self.base_url}{path} answered {answer.status} with something "
                                      "that is not JSON. Fix: check GITHUB_API_URL and any proxy in between") from None
                return Response(answer.status, data, {k.lower(): v for k, v in answer.headers.items()})
        except urllib.error.HTTPError as refused:
            headers = {k.lower(): v for k, v in refused.headers.items()}
            raw = refused.read()
            if refused.code == 404 and missing_ok:
                return Response(404, None, headers)
            raise GitHubError(what, self.explain(method, path, refused.code, raw, headers), refused.code) from None
        except (urllib.error.URLError, OSError) as unreachable:
            reason = getattr(unreachable, "reason", unreachable)
            raise GitHubError(what, f"{method} {self.base_url}{path}: {reason}. Fix: check the network, or "
                              "GITHUB_API_URL for GitHub Enterprise Server") from None

    def explain(self, method: str, path: str, status: int, raw: bytes, headers: dict) -> str:
        try:
            message = json.loads(raw).get("message", "")
        except (ValueError, AttributeError):
            message = raw.decode(errors="replace")[:200]
        text = f"{method} {path}: {status} {message}".rstrip()
        scopes = Response(status, None, headers).scopes
        accepted = {s.strip() for s in headers.get("x-accepted-oauth-scopes", "").split(",") if s.strip()}
        if status == 401:
            text += (". The token is not valid (expired, revoked or mistyped). Fix: pass another with --token, "
                     "or sign in again with `gh auth login`")
        elif scopes is not None and accepted and not scopes & accepted:
            text += (f". The token's scopes are {', '.join(sorted(scopes)) or '(none)'}; this call needs "
                     f"{' or '.join(sorted(accepted))}. Fix: `gh auth refresh -s {sorted(accepted)[0]}` or a "
                     "token with that scope")
        return text

    def get(self, path: str, what: str, missing_ok: bool = False) -> Response:
        return self.call("GET", path, what, missing_ok=missing_ok)

    def pages(self, path: str, what: str, key: str | None = None) -> list:
        """Every item of a listing, page by page (`key`: the list's name inside an object answer)."""
        items: list = []
        number = 1
        while True:
            separator = "&" if "?" in path else "?"
            answer = self.get(f"{path}{separator}per_page={PAGE_SIZE}&page={number}", what).data
            found = (answer or {}).get(key, []) if key else (answer or [])
            items += found
            if not found:  # a route may serve fewer than PAGE_SIZE per page (variables: 30): the end is an empty page
                return items
            number += 1
