from pathlib import Path

import pytest

from mlops_actions import github, lint
from mlops_actions.inputs import InputError, Inputs

EXPECTED = [  # tests/fixtures/lint-violations/bad.py, under the project's own max-line-length = 100
    ("bad.py", 1, 1, "F401", "'os' imported but unused"),
    ("bad.py", 5, 6, "E225", "missing whitespace around operator"),
    ("bad.py", 7, 1, "E305", "expected 2 blank lines after class or function definition, found 0"),
    ("bad.py", 7, 101, "E501", "line too long (102 > 100 characters)"),
]


def run(**flags):
    return lint.run(Inputs.read(lint.INPUTS, flags, environ={}))


def annotations(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("::error", "::warning"))]


@pytest.fixture
def violations(runner, project):
    return project("lint-violations", into=runner.workspace)


def test_parse_reads_the_format_and_keeps_other_lines(tmp_path):
    output = "./a.py\t3\t9\tE225\tmissing whitespace\nsrc/b.py\t10\t1\tF401\t'x' imported: unused\nnoise\n"
    found, other = lint.parse(output, tmp_path)
    assert [(v.path.rsplit("/", 1)[-1], v.line, v.col, v.code, v.text) for v in found] == [
        ("a.py", 3, 9, "E225", "missing whitespace"), ("b.py", 10, 1, "F401", "'x' imported: unused")]
    assert other == ["noise"]


def test_clean_project_passes(runner, project):
    project("clean", into=runner.workspace)
    assert run(**{"working-directory": "clean"}) == 0
    assert runner.outputs() == {"violations": "0"}
    assert "✅ flake8: no violations" in runner.summary()


def test_every_violation_is_one_annotation_at_its_place(violations, runner, capsys):
    assert run(**{"working-directory": "lint-violations"}) == 1
    assert annotations(capsys.readouterr().out) == [
        github.command("error", text, file=f"lint-violations/{file}", line=line, col=col, title=f"flake8 {code}")
        for file, line, col, code, text in EXPECTED]
    assert runner.outputs() == {"violations": "4"}


def test_summary_counts_by_code_and_by_file(violations, runner):
    run(**{"working-directory": "lint-violations"})
    summary = runner.summary()
    assert summary.startswith("### ❌ flake8: 4 violations in 1 file")
    assert "| E501 | 1 | line too long (102 > 100 characters) |" in summary
    assert "| `lint-violations/bad.py` | 4 |" in summary
    assert "| `lint-violations/bad.py:7:101` | E501 | line too long (102 > 100 characters) |" in summary


def test_no_inputs_lints_the_current_project_with_its_own_config(violations, monkeypatch, capsys):
    monkeypatch.chdir(violations)
    assert run() == 1
    out = capsys.readouterr().out
    assert "file=lint-violations/bad.py,line=7,col=101,title=flake8 E501" in out
    assert "ok_long.py" not in out  # 95 characters: allowed by the project's max-line-length = 100


def test_max_line_length_overrides_the_config(violations, runner):
    assert run(**{"working-directory": "lint-violations", "max-line-length": "120"}) == 1
    assert runner.outputs()["violations"] == "3"


def test_a_given_config_replaces_the_projects(violations, runner, capsys):
    (violations / "strict.cfg").write_text("[flake8]\nmax-line-length = 79\n")
    run(**{"working-directory": "lint-violations", "flake8-config": "strict.cfg"})
    assert runner.outputs()["violations"] == "5"
    assert "file=lint-violations/ok_long.py,line=1,col=80" in capsys.readouterr().out


def test_extra_args_and_paths(violations, runner):
    run(**{"working-directory": "lint-violations", "flake8-args": "--select F", "paths": "bad.py ok_long.py"})
    assert runner.outputs()["violations"] == "1"


def test_report_only_warns_and_passes(violations, runner, capsys):
    assert run(**{"working-directory": "lint-violations", "fail-on-violations": "false"}) == 0
    found = annotations(capsys.readouterr().out)
    assert len(found) == 4 and all(line.startswith("::warning ") for line in found)
    assert runner.summary().startswith("### ⚠️ flake8: 4 violations")


@pytest.mark.parametrize("flags, message", [
    ({"paths": "src missing.py"}, "input 'paths' is 'src missing.py': src, missing.py does not exist"),
    ({"flake8-config": "nope.cfg"}, "input 'flake8-config' is 'nope.cfg': no such file"),
    ({"max-line-length": "80px"}, "input 'max-line-length' is '80px': not a whole number of at least 1"),
    ({"fail-on-violations": "sometimes"}, "input 'fail-on-violations' is 'sometimes': not a boolean"),
    ({"working-directory": "no/such/dir"}, "input 'working-directory' is 'no/such/dir': not a directory"),
])
def test_bad_input_is_refused_before_flake8_runs(runner, flags, message):
    with pytest.raises(InputError, match=message.replace("(", "\\(").replace(")", "\\)")):
        run(**flags)
    assert runner.outputs() == {}


def test_flake8_that_cannot_run_is_an_error_not_a_pass(runner, project):
    project("clean", into=runner.workspace)
    with pytest.raises(github.ActionError, match="flake8 exited with 2") as caught:
        run(**{"working-directory": "clean", "flake8-args": "--no-such-option"})
    assert caught.value.title == "flake8 did not run"


@pytest.mark.parametrize("file, config, problem", [
    ("broken.cfg", "[flake8\nmax-line-length = 100\n", "MissingSectionHeaderError"),  # given as flake8-config
    ("setup.cfg", "[flake8]\nmax-line-length = wide\n", "invalid literal for int"),  # found by flake8 itself
])
def test_a_config_flake8_cannot_parse_is_an_error_naming_it(runner, project, file, config, problem):
    clean = project("clean", into=runner.workspace)
    (clean / file).write_text(config)
    given = {"flake8-config": file} if file != "setup.cfg" else {}
    with pytest.raises(github.ActionError, match=f"flake8 exited with 2: .*{problem}") as caught:
        run(**{"working-directory": "clean", **given})
    assert caught.value.title == "flake8 did not run"


def test_lints_this_repository_clean():
    """The repository's own code passes its own lint (fixtures are excluded by .flake8)."""
    root = Path(__file__).resolve().parents[1]
    assert run(**{"working-directory": str(root)}) == 0


def test_virtual_environments_and_build_folders_are_never_linted_and_the_projects_excludes_hold(tmp_path, capsys):
    """A project with a large .venv lints its own code only (the pre-commit hook once linted 10,000 files of
    .venv), and an exclude of its own configuration is kept, not replaced."""
    bad = "import os\n"  # F401
    (tmp_path / "app.py").write_text(bad)
    (tmp_path / ".flake8").write_text("[flake8]\nextend-exclude = legacy\n")
    for folder in (".venv/lib/python3.11/site-packages/pkg", "venv/lib", "build/lib", "dist", "node_modules/x",
                   "env/lib/python3.11/site-packages/other", "legacy"):
        (tmp_path / folder).mkdir(parents=True)
        for index in range(3 if folder != ".venv/lib/python3.11/site-packages/pkg" else 2000):
            (tmp_path / folder / f"m{index}.py").write_text(bad)
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a virtual environment named env
    (tmp_path / "envs").mkdir()  # a folder of the project's own that only looks alike: linted
    (tmp_path / "envs" / "cartpole.py").write_text(bad)
    assert run(**{"working-directory": str(tmp_path), "fail-on-violations": "false"}) == 0
    out = capsys.readouterr().out.splitlines()
    reported = sorted({line.split(":")[0] for line in out if ": warning [flake8" in line})
    assert [Path(path).name for path in reported] == ["app.py", "cartpole.py"], reported


def violation(path="a.py", line=1, col=1, code="E1", text="t"):
    return lint.Violation(path, line, col, code, text)


def test_the_summary_as_written():
    assert lint.summary([], ["src", "tests"], True) == "### ✅ flake8: no violations\nLinted: `src tests`"
    assert lint.summary([violation(text="first"), violation("b.py", 2, 3, "E1", "second"),
                         violation("b.py", 4, 5, "W2", "other")], ["."], True) == (
        "### ❌ flake8: 3 violations in 2 files\n\n"
        "| Code | Count | Example |\n|---|---|---|\n| E1 | 2 | first |\n| W2 | 1 | other |\n\n"
        "| File | Violations |\n|---|---|\n| `b.py` | 2 |\n| `a.py` | 1 |\n\n"
        "<details><summary>All violations</summary>\n\n| Where | Code | Message |\n|---|---|---|\n"
        "| `a.py:1:1` | E1 | first |\n| `b.py:2:3` | E1 | second |\n| `b.py:4:5` | W2 | other |\n\n</details>")


def test_one_violation_is_singular_and_report_only_is_a_warning_sign():
    assert lint.summary([violation()], ["."], False).startswith("### ⚠️ flake8: 1 violation in 1 file\n\n")


def test_the_summary_lists_200_violations_and_counts_the_rest():
    many = [violation(line=n) for n in range(1, 203)]
    text = lint.summary(many, ["."], True)
    assert "| `a.py:200:1` |" in text and "| `a.py:201:1` |" not in text
    assert text.endswith("| `a.py:200:1` | E1 | t |\n\n…and 2 more\n\n</details>")
    assert "…and" not in lint.summary(many[:200], ["."], True)


def test_virtual_environments_are_found_two_levels_down(tmp_path):
    for folder in ("env", "deep/venv-3.12", "deep/er/venv", "plain"):
        (tmp_path / folder).mkdir(parents=True)
    for folder in ("env", "deep/venv-3.12", "deep/er/venv"):
        (tmp_path / folder / "pyvenv.cfg").write_text("home = /usr\n")
    assert lint.virtual_environments(tmp_path) == [str(tmp_path / "deep" / "venv-3.12"), str(tmp_path / "env")]


def test_parse_needs_five_fields_with_numbers():
    found, other = lint.parse("a.py\t1\t2\tE1\ttext\twith\ttabs\na.py\tx\t2\tE1\tt\na.py\t1\ty\tE1\tt\na.py\t1\t2\tE1\n"
                              "   \n", Path("/"))
    assert [(v.line, v.col, v.text) for v in found] == [(1, 2, "text\twith\ttabs")]
    assert other == ["a.py\tx\t2\tE1\tt", "a.py\t1\ty\tE1\tt", "a.py\t1\t2\tE1"]


# -- run() with flake8 replaced: what it makes of each answer -------------------------------------------------------

@pytest.fixture
def answered(monkeypatch, runner, capsys):
    """lint.run with lint.flake8 answering (code, report, messages) as the test sets it; the calls are recorded."""
    calls, answer = [], {"value": (0, "", "")}
    monkeypatch.setattr(lint, "flake8", lambda options, paths, cwd: calls.append((options, paths, cwd))
                        or answer["value"])
    (runner.workspace / "a.py").write_text("")
    (runner.workspace / "b.py").write_text("")
    answer["calls"] = calls
    return answer


def test_the_group_names_the_paths_and_the_folder(answered, capsys):
    assert run(paths="a.py b.py") == 0
    assert "::group::flake8 a.py b.py (in .)\n" in capsys.readouterr().out
    assert answered["calls"][0][1] == ["a.py", "b.py"]


def test_an_exit_of_1_without_violations_is_flake8_failing(answered):
    answered["value"] = (1, "", "config trouble")
    with pytest.raises(github.ActionError) as raised:
        run()
    assert raised.value.title == "flake8 did not run"
    assert str(raised.value) == "flake8 exited with 1: config trouble\nFix: check flake8-config and flake8-args."


def test_flake8s_other_lines_explain_it_when_it_printed_nothing_else(answered):
    answered["value"] = (3, "first\nsecond\n", "")
    with pytest.raises(github.ActionError) as raised:
        run()
    assert str(raised.value) == "flake8 exited with 3: first\nsecond\nFix: check flake8-config and flake8-args."
    answered["value"] = (3, "", "x" * 1000 + "y" * 2000)
    with pytest.raises(github.ActionError) as raised:
        run()
    assert str(raised.value) == f"flake8 exited with 3: {'y' * 2000}\nFix: check flake8-config and flake8-args."


def test_what_flake8_printed_is_passed_on_to_stderr(answered, capsys):
    answered["value"] = (0, "", "  a warning  \n")
    assert run() == 0
    assert capsys.readouterr().err.endswith("  a warning\n")


# -- flake8 in this process ----------------------------------------------------------------------------------------

def test_flake8s_argument_errors_are_its_messages_and_exit_code(tmp_path):
    code, report, messages = lint.flake8(["--no-such-option"], ["."], tmp_path)
    assert (code, report) == (2, "") and "unrecognized arguments: --no-such-option" in messages


def test_flake8s_version_is_a_clean_exit_without_a_report(tmp_path):
    code, report, messages = lint.flake8(["--version"], ["."], tmp_path)
    assert (code, report) == (0, "") and messages.strip()


def test_an_exit_without_a_number_is_2(tmp_path, monkeypatch):
    from flake8.main.application import Application

    def stop(self, argv):
        raise SystemExit("stopped")
    monkeypatch.setattr(Application, "run", stop)
    assert lint.flake8([], ["."], tmp_path)[0] == 2


def test_paths_that_start_with_a_dash_or_are_absolute(tmp_path):
    (tmp_path / "-odd.py").write_text("import os\n")
    (tmp_path / "plain.py").write_text("import sys\n")
    code, report, _ = lint.flake8([f"--format={lint.FORMAT}"], ["-odd.py", str(tmp_path / "plain.py")], tmp_path)
    assert code == 1 and "-odd.py\t1\t1\tF401" in report and "plain.py\t1\t1\tF401" in report


def test_a_path_with_a_space_is_one_field(tmp_path):
    found, other = lint.parse("my dir/a.py\t1\t2\tE1\ttext here\n", tmp_path)
    assert [(v.path.endswith("my dir/a.py"), v.text) for v in found] == [(True, "text here")] and other == []


def test_parallel_workers_get_lints_arguments(tmp_path, monkeypatch):
    """flake8's workers parse the arguments again unless they are forked: macOS and Windows spawn them, and
    Python 3.14 forkserves them on Linux. Given no arguments, they would parse this process's sys.argv (and,
    spawned, a pool whose initializer exits hangs). Recorded here, and the pool made serial, to stay fast."""
    from flake8 import checker
    from flake8.options.parse_args import parse_args
    given = []
    monkeypatch.setattr(checker, "_try_initialize_processpool", lambda jobs, argv: given.append(argv))
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(f"x = {'1' * 90}\n")
    options = ["--jobs=2", "--max-line-length=120", f"--format={lint.FORMAT}"]
    assert lint.flake8(options, ["a.py", "b.py"], tmp_path)[:2] == (0, "")
    [argv] = given
    assert parse_args(argv)[1].max_line_length == 120 and list(argv[-2:]) == ["a.py", "b.py"]
