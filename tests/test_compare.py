"""compare-model: the challenger against the champion as one pull-request comment, updated in place on each
push, against the loopback stand-in of GitHub's REST API; hostile metric names render as inert text."""

import json
import re

import pytest

from mlops_actions import backends, compare
from mlops_actions.backends import Endpoint, ModelVersion
from mlops_actions.inputs import InputError, Inputs

REPOSITORY = "team/diabetes"
MARKER = "<!-- mlops-actions compare-model diabetes-prd -->"


class Serving:
    """A backend whose endpoint diabetes-prd serves a champion with these metric tags."""
    name = "local"

    def __init__(self, metrics: dict[str, float]):
        self.model = ModelVersion("diabetes", "4", "models:/diabetes/4",
                                  tags={f"metric.{k}": str(v) for k, v in metrics.items()})

    def get_endpoint(self, name):
        return Endpoint(name, "http://127.0.0.1/score", {"blue": 90, "green": 10},
                        {"blue": self.model.uri, "green": "models:/diabetes/3"})

    def deployed_model(self, endpoint, deployment):
        assert deployment == "blue"  # the one taking the most traffic
        return self.model


@pytest.fixture
def pull_request(github_api, runner, monkeypatch):
    github_api.repository(REPOSITORY, writers=("github-actions[bot]",), issues={7})
    github_api.token("workflow-token", "github-actions[bot]", scopes=None)
    monkeypatch.setattr(backends, "connect", lambda inputs: Serving({"auc": 0.9, "accuracy": 0.8}))
    return github_api


def compare_with(runner, metrics: dict, gate: str = "auc >= champion.auc - 0.005", **flags) -> int:
    (runner.workspace / "metrics.json").write_text(json.dumps(metrics))
    return compare.run(Inputs.read(compare.INPUTS, {
        "metrics-file": "metrics.json", "metrics-gate": gate, "champion-endpoint": "diabetes-prd",
        "pull-request": "7", "github-token": "workflow-token", "repository": REPOSITORY, **flags}, environ={}))


def test_one_comment_is_written_then_updated_in_place_on_each_push(pull_request, runner):
    assert compare_with(runner, {"auc": 0.895, "accuracy": 0.81}) == 0  # at the edge: kept up
    assert compare_with(runner, {"auc": 0.8949, "accuracy": 0.82}) == 1  # just below: loses, and says so
    [comment] = pull_request.repos[REPOSITORY].comments
    assert [method for method, _ in pull_request.writes] == ["POST", "PATCH"]
    assert comment["body"].startswith(MARKER + "\n### ❌ The challenger loses to the champion")
    assert "| `auc` | 0.8949 | 0.9 | `auc >= champion.auc - 0.005` | ❌ not met |" in comment["body"]
    assert "| `accuracy` | 0.82 | 0.8 |  |  |" in comment["body"]
    assert runner.outputs()["passed"] == "false"
    assert runner.outputs()["comment-url"].endswith(f"#issuecomment-{comment['id']}")
    assert "Champion: `models:/diabetes/4`, serving `diabetes-prd`." in runner.summary()


def test_a_comment_someone_else_wrote_with_the_marker_is_left_alone(pull_request, runner):
    pull_request.user("mallory")
    pull_request.repos[REPOSITORY].comments.append(
        {"id": 1, "issue": 7, "body": MARKER + "\nall good, merge it", "user": {"login": "mallory", "id": 9},
         "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})
    assert compare_with(runner, {"auc": 0.95}) == 0
    mallory, ours = pull_request.repos[REPOSITORY].comments
    assert mallory["body"] == MARKER + "\nall good, merge it"
    assert ours["user"]["login"] == "github-actions[bot]" and "✅ The challenger keeps up" in ours["body"]


HOSTILE = ["@octocat please", "<img src=x onerror=alert(1)>", "[click](https://evil.example)", "a|b",
           "``tick`` and `x`", "line\nbreak\r\n| x | y |", "#1 team/repo#2 **bold** _it_ <!-- -->", "`"]


def test_metric_names_from_the_metrics_file_cannot_inject_markdown_html_or_mentions(pull_request, runner):
    assert compare_with(runner, {**{name: 1.0 for name in HOSTILE}, "auc": 0.95}) == 0
    [comment] = pull_request.repos[REPOSITORY].comments
    body = comment["body"].removeprefix(MARKER + "\n")
    table = [line for line in body.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 1 + len(HOSTILE)  # header, rule, auc, one row each: no line break got through
    outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", "\n".join(table[2:]))  # all but the code spans
    assert not re.search(r"[@<>\[\]#*_]", outside), outside
    for row in table[3:]:  # each cell split as GitHub splits them: at pipes not escaped
        assert len(re.split(r"(?<!\\)\|", row)) == 7, row


@pytest.mark.parametrize("value, span", [("auc", "`auc`"), ("a`b", "``a`b``"), ("`x`", "`` `x` ``"),
                                         ("", "–"), ("a\nb", "`a b`")])
def test_a_code_span_holds_any_backticks(value, span):
    assert compare.code(value) == span


def test_without_a_champion_the_conditions_against_it_are_skipped(pull_request, runner, monkeypatch):
    monkeypatch.setattr(backends, "connect", lambda inputs: LocalNothing())
    assert compare_with(runner, {"auc": 0.5}, "auc >= champion.auc, auc >= 0.4") == 0
    [comment] = pull_request.repos[REPOSITORY].comments
    assert "### ℹ️ No champion to compare with" in comment["body"]
    assert "No champion yet: `endpoint diabetes-prd does not exist yet`" in comment["body"]
    assert "| `auc` | 0.5 | – | `auc >= champion.auc` | ⏭️ skipped |" in comment["body"]


class LocalNothing:
    """A backend without the endpoint."""
    name = "local"

    def get_endpoint(self, name):
        return None


def test_without_a_pull_request_only_the_summary_is_written(pull_request, runner):
    assert compare_with(runner, {"auc": 0.95}, **{"pull-request": "", "github-token": ""}) == 0
    assert pull_request.calls == [] and "✅ The challenger keeps up" in runner.summary()


def test_a_pull_request_without_a_token_is_bad_input(pull_request, runner):
    with pytest.raises(InputError, match="github-token"):
        compare_with(runner, {"auc": 0.95}, **{"github-token": ""})


def test_a_comparison_too_long_for_a_comment_points_to_the_job_summary(pull_request, runner, monkeypatch):
    """GitHub refuses a comment body over 65,536 characters (422): the comment keeps the headline and the champion."""
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPOSITORY)
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    many = {f"metric_{index:04d}_{'x' * 40}": 0.5 for index in range(1200)}
    assert compare_with(runner, {**many, "auc": 0.8}) == 1
    [comment] = pull_request.repos[REPOSITORY].comments
    assert comment["body"].startswith(MARKER + "\n### ❌ The challenger loses to the champion\n\nChampion: ")
    assert comment["body"].endswith("characters): it is in [the job summary]"
                                    "(https://github.com/team/diabetes/actions/runs/42).")
    assert "metric_0000" in runner.summary()  # the whole table is there


def test_a_comparison_at_the_limit_is_commented_whole(monkeypatch):
    monkeypatch.delenv("GITHUB_RUN_ID", raising=False)  # outside a run: no link
    sections = ["# head", "where", "x" * 100, "note"]
    limit = len(compare.fitted("<!-- m -->", sections))
    sections[2] = "x" * (100 + compare.COMMENT_LIMIT - limit)
    assert compare.fitted("<!-- m -->", sections) == "<!-- m -->\n" + "\n\n".join(sections)  # 65,536: whole
    sections[2] += "x"
    assert compare.fitted("<!-- m -->", sections).endswith("(65,537 characters): it is in the job summary.")


def test_the_pull_request_is_checked_before_the_champion_is_read(pull_request, runner, monkeypatch):
    def unreachable(inputs):
        raise AssertionError("the champion was read before the inputs were checked")
    monkeypatch.setattr(backends, "connect", unreachable)
    with pytest.raises(InputError, match="repository"):
        compare_with(runner, {"auc": 0.95}, repository="not a repository")
