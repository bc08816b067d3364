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
        end = bracket_close(pattern, index + 1) if pattern[index] == "[" else None
        if end is not None:
            segments[-1] += pattern[index:end]
            index = end
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
    negated = index < len(pattern) and pattern[index] in "!^"
    found, end = False, bracket_close(pattern, index)
    if end is None:
        return None  # no closing bracket: the expression matches nothing
    for low, high in bracket_members(pattern[index + negated:end - 1]):
        found = found or char in (low, high) or low <= char <= high
    return end if found != negated else None


def bracket_close(pattern: str, index: int) -> int | None:
    """The index after the `]` closing the bracket expression opened before `index`; None without one."""
    index += index < len(pattern) and pattern[index] in "!^"
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
        if index + 1 < len(pattern) and pattern[index] == "-" and pattern[index + 1] != "]":
            index += 3 if pattern[index + 1] == "\\" else 2
    return index + 1 if index < len(pattern) else None


def bracket_members(members: str) -> list[tuple[str, str]]:
    """A bracket expression's members as (low, high) ranges: `a` is (a, a), `a-c` (a, c), `\\x` is x."""
    found, index = [], 0
    while index < len(members):
        index += members[index] == "\\"
        low = members[index]
        index += 1
        if index + 1 < len(members) and members[index] == "-":
            index += 1 + (members[index + 1] == "\\")
            found.append((low, members[index]))
            index += 1
        else:
            found.append((low, low))
    return found
