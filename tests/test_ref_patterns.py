"""Ruleset ref patterns as GitHub matches them: Ruby's File.fnmatch with File::FNM_PATHNAME. The expected values
are GitHub's documented examples and Ruby's (dir.c) answers."""

import pytest

from mlops_actions.ref_patterns import matches


@pytest.mark.parametrize("pattern, ref, expected", [
    # GitHub's docs: "qa/*" matches a branch under qa/ with a single slash, not qa/foo/bar; qa/**/* takes any depth
    ("qa/*", "qa/foo", True), ("qa/*", "qa/foo/bar", False), ("qa/**/*", "qa/foo/bar/foobar/hello-world", True),
    ("qa/**/*", "qa/foo", True), ("qa**/**/*", "qa-team/x/y", True),
    ("refs/heads/*", "refs/heads/main", True), ("refs/heads/*", "refs/heads/team/main", False),
    ("refs/heads/**", "refs/heads/team/main", False),  # ** not before a / is *
    # `**` takes whole segments only at a segment's start; within one it is *
    ("refs/heads/qa**/*", "refs/heads/qa/x/y", False), ("refs/heads/qa**/x", "refs/heads/qax", False),
    ("refs/heads/***/main", "refs/heads/main", False), ("refs/heads/**/**/main", "refs/heads/main", True),
    ("?", "a", True), ("?", "/", False), ("a?c", "a/c", False), ("ma?n", "main", True),
    ("main", "main", True), ("main", "main2", False), ("main.1", "mainx1", False), ("", "", True), ("", "a", False),
])
def test_wildcards_and_segments(pattern, ref, expected):
    assert matches(pattern, ref) is expected


@pytest.mark.parametrize("pattern, ref, expected", [
    ("[lm]ain", "main", True), ("[a-m]ain", "main", True), ("[n-z]ain", "main", False),
    ("[!m]ain", "main", False), ("[^m]ain", "main", False), ("[!x]ain", "main", True),  # ! and ^ both negate
    ("[z-a]", "z", True), ("[z-a]", "a", True), ("[z-a]", "m", False),  # a reversed range: its two ends
    ("[]]x", "]x", False), ("[]]x", "x", False),  # ] first closes an empty set, which matches nothing
    ("[!]", "a", True), ("[!]b", "ab", True),  # a negated empty set: any one character
    ("[a-]", "-", True), ("[a--]", "-", True), ("[\\]]", "]", True), ("[a", "a", False), ("[a", "[a", False),
    ("team[/]main", "team/main", False), ("*[/b]", "]b", True),  # a set holding / stays one segment's
])
def test_bracket_expressions(pattern, ref, expected):
    assert matches(pattern, ref) is expected


@pytest.mark.parametrize("pattern, ref, expected", [
    ("\\*", "*", True), ("\\*", "a", False), ("a\\", "a", True), ("*\\", "ab", True),  # an escape; one at the end
    (".*", ".hidden", True), ("*", ".hidden", False), ("?hidden", ".hidden", False),  # a leading period: by a period
    ("**/x", ".a/x", False),
])
def test_escapes_and_leading_periods(pattern, ref, expected):
    assert matches(pattern, ref) is expected


def test_runs_of_stars_do_not_backtrack_without_end():
    """A regular expression with a [^/]* per star took 51 s for 12 stars; one backtrack point takes no time."""
    assert matches("refs/heads/" + "*" * 40 + "x", "refs/heads/" + "a" * 60) is False
    assert matches("refs/" + "**/" * 20 + "x", "refs/" + "a/" * 30 + "b") is False
