"""GitHub's ruleset ref patterns, matched as GitHub matches them: Ruby's File.fnmatch with File::FNM_PATHNAME
(https://docs.github.com/repositories/configuring-branches-and-merges-in-your-repository/managing-rulesets/
creating-rulesets-for-a-repository#using-fnmatch-syntax), ported from Ruby's dir.c (fnmatch, fnmatch_helper,
bracket). Python's fnmatch differs: its `*` crosses `/` and it has no `**/`.
"""

from __future__ import annotations

import functools


def matches(pattern: str, ref: str) -> bool:
    """Whether `ref` (refs/heads/main) matches `pattern`: `*`, `?` and `[...]` stay within a path segment; a `**`
    segment before a `/` takes any number of whole segments."""
    patterns, parts = pattern_segments(pattern), ref.split("/")

    @functools.cache
    def rest(index: int, start: int) -> bool:  # patterns[index:] against parts[start:]
        if index == len(patterns):
            return start == len(parts)
        if patterns[index] == "**" and index + 1 < len(patterns):
            return any(rest(index + 1, end) for end in range(start, len(parts) + 1)
                       if not any(part.startswith(".") for part in parts[start:end]))
        return start < len(parts) and segment_matches(patterns[index], parts[start]) and rest(index + 1, start + 1)
    return rest(0, 0)


def pattern_segments(pattern: str) -> list[str]:
    """The pattern split at each `/` outside a bracket expression (Ruby reads a whole `[...]` before looking
    for the segment's end)."""
    segments: list[str] = [""]
    index = 0
    while index < len(pattern):
        parsed = bracket(pattern, index + 1) if pattern[index] == "[" else None
        if parsed is not None:
            segments[-1] += pattern[index:parsed[2]]
            index = parsed[2]
            continue
        if pattern[index] == "/":
            segments.append("")
        else:
            segments[-1] += pattern[index]
        index += 1
    return segments


def segment_matches(pattern: str, text: str) -> bool:
    """One path segment against one segment of a pattern: `*` any run, `?` one character, `[...]` a set, `\\` an
    escape; a leading period only by a period (Ruby: no FNM_DOTMATCH). One backtrack point, so no run of stars
    can make it slow."""
    if text.startswith(".") and pattern[1 if pattern.startswith("\\") else 0:][:1] != ".":
        return False
    p = t = 0
    star = None  # (pattern index after the last run of stars, text index it was tried at)
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            while p < len(pattern) and pattern[p] == "*":
                p += 1
            star = (p, t)
            continue
        if p < len(pattern) and pattern[p] == "?":
            p, t = p + 1, t + 1
            continue
        if p < len(pattern) and pattern[p] == "[":
            after = bracket_end(pattern, p + 1, text[t])
            if after is not None:
                p, t = after, t + 1
                continue
        elif p < len(pattern):
            literal = p + 1 if pattern[p] == "\\" else p
            if literal < len(pattern) and pattern[literal] == text[t]:
                p, t = literal + 1, t + 1
                continue
        if star is None:
            return False
        p, t = star[0], star[1] + 1
        star = (p, t)
    return pattern[p:].lstrip("*") in ("", "\\")  # a backslash at the end escapes the end: Ruby ignores it


def bracket_end(pattern: str, index: int, char: str) -> int | None:
    """Where the bracket expression opened before `index` ends, if it takes in `char`; else None (Ruby's bracket():
    `!` or `^` negates, a `]` first closes an empty set, a reversed range holds its two ends alone)."""
    parsed = bracket(pattern, index)
    if parsed is None:
        return None  # no closing bracket: the expression matches nothing
    negated, members, end = parsed
    found = any(char in (low, high) or low <= char <= high for low, high in members)
    return end if found != negated else None


def bracket(pattern: str, index: int) -> tuple[bool, list[tuple[str, str]], int] | None:
    """The bracket expression opened before `index`: whether it is negated, its members as (low, high) ranges (`a`
    is (a, a), `a-c` (a, c), `\\x` is x) and the index after its `]`; None without a closing bracket."""
    negated = index < len(pattern) and pattern[index] in "!^"
    index += negated
    members = []
    while index < len(pattern) and pattern[index] != "]":
        low_at = index + (pattern[index] == "\\")
        if low_at == len(pattern):
            return None
        low = high = pattern[low_at]
        index = low_at + 1
        if index + 1 < len(pattern) and pattern[index] == "-" and pattern[index + 1] != "]":
            high_at = index + 1 + (pattern[index + 1] == "\\")
            if high_at == len(pattern):
                return None
            high, index = pattern[high_at], high_at + 1
        members.append((low, high))
    return (negated, members, index + 1) if index < len(pattern) else None
