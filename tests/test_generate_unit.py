"""The generator's small parts, in process: quoting, the expression check, action references, tidying and which
old workflows are its own (tests/test_generate.py renders whole projects)."""

import shutil
from pathlib import Path

import pytest

from mlops_actions import generate
from mlops_actions.inputs import InputError, Inputs


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


def test_a_key_starting_with_x_keeps_its_name():
    assert generate.no_expressions({"Xtra": "${{ x }}"}) == [
        "Xtra: '${{ x }}' contains '${{': a GitHub expression is not allowed in mlops.yml"]


def test_tidy_keeps_what_a_file_starts_with():
    assert generate.tidy("  a: 1\n") == "  a: 1\n"
    assert generate.tidy("X: 1\nX") == "X: 1\nX\n"


def test_a_file_that_is_not_utf8_in_the_output_is_not_its_own(tmp_path):
    (tmp_path / "binary.yml").write_bytes(b"\xff\xfe")
    assert generate.generated_before(tmp_path, "mlops.yml", {}) == []


# -- run() on a copy of a golden project ---------------------------------------------------------------------------

GOLDEN = Path(__file__).resolve().parent / "golden" / "local"


def run(**flags) -> int:
    return generate.run(Inputs.read(generate.INPUTS, flags, environ={}))


@pytest.fixture
def project(tmp_path, monkeypatch, runner):
    """The golden local project (without its workflows) as the runner's workspace, the working folder."""
    shutil.copytree(GOLDEN, runner.workspace, ignore=shutil.ignore_patterns(".github"), dirs_exist_ok=True)
    return runner


def test_the_config_and_output_by_default(project, capsys):
    assert run(config="", output="") == 0
    workflows = project.workspace / ".github" / "workflows"
    written = [workflows / name for name in ("pull-request.yml", "ci.yml", "cd.yml", "monitor.yml")] + [
        project.workspace / ".github" / name for name in ("zizmor.yml", "dependabot.yml")]
    assert all(path.is_file() for path in written)
    out = capsys.readouterr().out
    assert f"wrote {workflows / 'ci.yml'}\n" in out
    assert project.outputs()["files"] == " ".join(str(path) for path in written)
    assert run(check="true") == 0
    assert capsys.readouterr().out.endswith("6 files match mlops.yml\n")


def test_another_output_folder(project):
    assert run(output="generated/workflows") == 0
    assert (project.workspace / "generated" / "workflows" / "ci.yml").is_file()
    assert not (project.workspace / ".github" / "workflows").exists()


def test_check_shows_each_difference_as_a_diff_and_names_them(project, capsys):
    assert run(check="true") == 1
    out = capsys.readouterr().out
    assert f"--- {project.workspace / '.github' / 'workflows' / 'ci.yml'}\n+++ as mlops.yml generates it\n" in out
    assert "\n-" not in out.split("+++ as mlops.yml generates it", 1)[1].split("---", 1)[0]  # nothing to remove
    assert ("::error title=Workflows out of date::pull-request.yml, ci.yml, cd.yml, monitor.yml, zizmor.yml, "
            "dependabot.yml differ from what mlops.yml generates (diff above). Fix: run `mlops-actions generate` "
            "and commit the result.") in out


def test_the_placeholder_warning_as_written(project, capsys):
    run()
    assert ("::warning title=Placeholder library::library.repository in mlops.yml is still the placeholder "
            "OWNER/mlops-actions: the generated workflows name actions that do not exist. Fix: set it to the "
            "repository you use the actions from (e.g. your-org/mlops-actions), and in the $schema comment on the "
            "file's first line, then generate again.") in \
        capsys.readouterr().out


def test_an_expression_in_the_config_names_the_file(project):
    from mlops_actions.config import ConfigError

    config = project.workspace / "mlops.yml"
    config.write_text(config.read_text().replace("python -m model.train", "python -m model.train ${{ github.token }}"))
    with pytest.raises(ConfigError) as raised:
        run()
    assert str(raised.value).startswith(f"{config}: model.train: ")


@pytest.mark.parametrize("flags, name, value", [({"config": "../mlops.yml"}, "config", "../mlops.yml"),
                                                ({"output": "../out"}, "output", "../out")])
def test_config_and_output_stay_in_the_workspace(project, flags, name, value):
    shutil.copy(project.workspace / "mlops.yml", project.workspace.parent / "mlops.yml")
    with pytest.raises(InputError) as raised:
        run(**flags)
    assert (raised.value.name, raised.value.value) == (name, value)


@pytest.mark.parametrize("link", [".github", ".github/workflows/ci.yml"])
def test_a_symbolic_link_on_the_way_is_blamed_on_output(project, link):
    elsewhere = project.workspace / "elsewhere"  # inside the workspace: only the link itself is refused
    (elsewhere / "workflows").mkdir(parents=True)
    (project.workspace / ".github" / "workflows").mkdir(parents=True)
    target = project.workspace / link
    shutil.rmtree(target) if target.is_dir() else None
    target.symlink_to(elsewhere if link == ".github" else elsewhere / "ci.yml")
    with pytest.raises(InputError) as raised:
        run()
    assert (raised.value.name, raised.value.value) == ("output", ".github/workflows")
