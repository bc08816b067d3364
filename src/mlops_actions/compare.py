"""The compare-model job: the challenger (the model a pull request's code trains) against the champion (the
model the production endpoint serves), in the job summary and as one pull-request comment that each push
updates in place (found again by a hidden marker).

Metric names come from the metrics file, which the pull request's code writes: every value the comment
shows from it is in a code span (no markdown, HTML, link, mention or reference is rendered there), with
its line breaks removed and its pipes escaped (github.markdown_table).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mlops_actions import backends, environment, gate, github, register
from mlops_actions.github_api import REPOSITORY
from mlops_actions.inputs import Input, Inputs

INPUTS = [
    Input("metrics-file", "The challenger's metrics: the JSON file its training wrote.", required=True),
    Input("metrics-gate", "Conditions as register-model takes them, e.g. 'auc >= champion.auc - 0.005, "
          "accuracy >= 0.7'; each is reported, and one not met fails the step."),
    Input("champion-endpoint", "The endpoint whose live model (the deployment taking the most traffic) is the "
          "champion.", required=True),
    backends.CHAMPION_WORKSPACE,
    Input("pull-request", "The pull request to comment on (github.event.pull_request.number). Empty: the job "
          "summary only."),
    Input("github-token", "With pull-request: a token that may write its comments (github.token, with "
          "pull-requests: write)."),
    Input("repository", "With pull-request: owner/name. Empty: $GITHUB_REPOSITORY."),
    Input("comment-author", "The login the token comments as: only its comment is updated (one that someone "
          "else wrote, marker or not, is left alone).", "github-actions[bot]"),
    *backends.INPUTS,
]
COMMENT_LIMIT = 65536  # characters GitHub takes in a comment's body
OUTPUTS = {
    "passed": "'true' when every condition was met or skipped.",
    "comment-url": "The pull-request comment written or updated.",
}


def code(value: object) -> str:
    """`value` as a code span a table cell can hold: nothing in it is rendered (markdown, HTML, mentions)."""
    text = re.sub(r"[\r\n\u2028\u2029]+", " ", str(value))  # markdown_table escapes the pipes
    if not text.strip():
        return "–"
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def marker(endpoint: str) -> str:
    """What the comment starts with, so that the next push finds it (an endpoint name is letters, digits, -)."""
    return f"<!-- mlops-actions compare-model {endpoint} -->"


def report(checks: list[gate.Check], metrics: dict[str, float], champion: gate.Champion) -> list[str]:
    """The comparison's sections: headline, champion, table, note."""
    failed = [check for check in checks if check.held is False]
    headline = "### ❌ The challenger loses to the champion" if failed else \
        "### ✅ The challenger keeps up with the champion" if champion.model else "### ℹ️ No champion to compare with"
    where = (f"Champion: {code(champion.model.uri)}, serving {code(champion.endpoint)}." if champion.model else
             f"No champion yet: {code(champion.reason)}; the conditions against it are skipped.")
    header, rows = gate.table(checks, metrics, champion)
    table = github.markdown_table(header, [[code(metric), challenger, theirs, code(condition) if condition else "",
                                            result] for metric, challenger, theirs, condition, result in rows])
    return [headline, where, table,
            "The challenger is the model this pull request's code trains; it is registered only once merged."]


def pull_request(inputs: Inputs) -> tuple[str, int] | None:
    """The pull request to comment on, as (repository, number), checked before anything is read; None without one."""
    if not inputs["pull-request"]:
        return None
    number = int(inputs.defaulted_number("pull-request", low=1, integer=True))
    repository = inputs["repository"] or os.environ.get("GITHUB_REPOSITORY", "")
    if not REPOSITORY.match(repository):
        raise inputs.error("repository", "not owner/name", "give the repository as owner/name")
    if not inputs["github-token"]:
        raise inputs.error("github-token", "required with pull-request", "pass ${{ github.token }} and give the "
                           "job pull-requests: write")
    github.mask(inputs["github-token"])
    return repository, number


def fitted(start: str, sections: list[str]) -> str:
    """The comment: the marker and the sections, or, past GitHub's 65,536 characters (it refuses a longer body
    with 422 "body is too long"), the headline and the champion with a pointer to the job summary."""
    text = "\n".join([start, "\n\n".join(sections)])
    if len(text) <= COMMENT_LIMIT:
        return text
    server, repository, run = (os.environ.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY",
                                                                 "GITHUB_RUN_ID"))
    summary = f"[the job summary]({server}/{repository}/actions/runs/{run})" if server and repository and run \
        else "the job summary"
    note = f"The table is too long for a comment ({len(text):,} characters): it is in {summary}."
    return "\n".join([start, "\n\n".join([*sections[:2], note])])


def comment(inputs: Inputs, target: tuple[str, int], endpoint: str, sections: list[str]) -> str:
    """Update this endpoint's comment on the pull request, or write it; returns its URL."""
    from mlops_actions.github_api import GitHubAPI

    (repository, number), start = target, marker(endpoint)
    api, text = GitHubAPI(inputs["github-token"]), fitted(start, sections)
    comments = f"/repos/{repository}/issues/{number}/comments"
    for found in api.pages(comments, f"listing the comments of pull request #{number}"):
        if str(found.get("body") or "").startswith(start) and \
                (found.get("user") or {}).get("login") == inputs["comment-author"]:
            return api.call("PATCH", f"/repos/{repository}/issues/comments/{found['id']}",
                            "updating the comparison comment", {"body": text}).data["html_url"]
    return api.call("POST", comments, f"commenting on pull request #{number}", {"body": text}).data["html_url"]


def run(inputs: Inputs) -> int:
    metrics = register.read_metrics(inputs, Path.cwd())
    conditions = gate.parse(inputs)
    endpoint = backends.endpoint_name(inputs, "champion-endpoint")
    target = pull_request(inputs)
    environment.require(inputs["backend"])
    champion = gate.champion_of(inputs, endpoint)
    print(gate.champion_line(champion))
    checks = gate.evaluate(inputs, conditions, metrics, champion)
    sections = report(checks, metrics, champion)
    github.add_summary("\n\n".join(sections))
    url = comment(inputs, target, endpoint, sections) if target else ""
    if url:
        print(f"Compared on the pull request: {url}")
    failed = [check for check in checks if check.held is False]
    for check in failed:
        github.error(f"The challenger loses to the champion: {check.condition.text} is not met ({check.found}).",
                     title="Challenger against champion")
    github.set_outputs({"passed": str(not failed).lower(), "comment-url": url})
    return 1 if failed else 0
