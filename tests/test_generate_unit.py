"""The generator's small parts, in process: quoting, the expression check, action references, tidying and which
old workflows are its own (tests/test_generate.py renders whole projects)."""

import pytest

from mlops_actions import generate


@pytest.mark.parametrize("value, quoted", [
    (3.0, '"3"'), (2.5, '"2.5"'), (7, '"7"'), ("a \"b\"\n", '"a \\"b\\"\\n"'), (True, '"True"'), (-0.0, '"0"'),
])
def test_a_value_is_a_double_quoted_yaml_string(value, quoted):
    assert generate.quote(value) == quoted


def test_expressions_are_found_at_their_path():
    config = {"a": "fine", "b": {"c": ["x", "${{ secrets.X }}"], "d": "${{ github.token }}"}, "e": 3,
              "f": "$ {{ not one }}"}
    assert generate.no_expressions(config) == [
        "b.c.1: '${{ secrets.X }}' contains '${{': a GitHub expression is not allowed in mlops.yml",
        "b.d: '${{ github.token }}' contains '${{': a GitHub expression is not allowed in mlops.yml"]
    assert generate.no_expressions(["${{x"], "top") == [
        "top.0: '${{x' contains '${{': a GitHub expression is not allowed in mlops.yml"]
    assert generate.no_expressions({}) == []


def test_an_action_reference_with_its_tag_when_pinned_by_sha():
    sha = "a" * 40
    assert generate.library_action({"library": {"repository": "org/lib", "ref": "v1"}}, "lint") == \
        "org/lib/actions/lint@v1"
    assert generate.library_action({"library": {"repository": "org/lib", "ref": "v1", "tag": "v1"}}, "") == \
        "org/lib@v1"
    assert generate.library_action({"library": {"repository": "org/lib", "ref": sha, "tag": "v1.2.0"}}, "lint") == \
        f"org/lib/actions/lint@{sha} # v1.2.0"
    assert generate.library_action({"library": {"repository": "org/lib", "ref": sha}}, "lint") == \
        f"org/lib/actions/lint@{sha}"
    assert generate.library_action({"library": {"repository": "org/lib", "ref": "b" * 39, "tag": "t"}}, "x") == \
        f"org/lib/actions/x@{'b' * 39}"


def test_pinning_by_sha_resolves_only_a_tag():
    sha = "c" * 40
    config = {"library": {"repository": "org/lib", "ref": sha, "pin": "sha"}}
    generate.pin_to_sha(config, None)  # already a SHA: nothing to resolve (no clone is read)
    assert config["library"] == {"repository": "org/lib", "ref": sha, "pin": "sha"}
    config = {"library": {"repository": "org/lib", "ref": "v1", "pin": "tag"}}
    generate.pin_to_sha(config, None)
    assert config["library"]["ref"] == "v1"


def test_tidy_keeps_one_blank_line_between_blocks():
    assert generate.tidy("\n\na: 1\n\n\n\nb:\n  c: 1\n\n    d: 2\n  \n\t\n    e: 3\n\n") == \
        "a: 1\n\nb:\n  c: 1\n    d: 2\n    e: 3\n"
    assert generate.tidy("a\n\n\nb") == "a\n\nb\n"
    assert generate.tidy("a\n\nb") == "a\n\nb\n"
    assert generate.tidy("a\n\n  b") == "a\n\n  b\n"  # indented less than 4: kept apart


def test_only_its_own_workflows_from_this_config_are_stale(tmp_path):
    header = generate.HEADER.format(config="mlops.yml")
    output = tmp_path / "workflows"
    output.mkdir()
    (output / "old.yml").write_text(header + "\nname: old\n")
    (output / "old2.yaml").write_text(header + "\n")
    (output / "ci.yml").write_text(header + "\n")
    (output / "mine.yml").write_text("name: mine\n")
    (output / "other.yml").write_text(generate.HEADER.format(config="other.yml") + "\n")
    (output / "notes.txt").write_text(header)
    (output / "folder.yml").mkdir()
    (output / "link.yml").symlink_to(output / "old.yml")
    stale = generate.generated_before(output, "mlops.yml", {output / "ci.yml": ""})
    assert stale == [output / "old.yml", output / "old2.yaml"]
    assert generate.generated_before(tmp_path / "none", "mlops.yml", {}) == []
