import pytest

from mlops_actions import github


def test_message_escaping_keeps_newlines_and_percent_literal():
    assert github.escape_data("50% done\nnext\r") == "50%25 done%0Anext%0D"


def test_property_escaping_also_covers_colon_and_comma():
    assert github.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


def test_command_orders_properties_and_drops_missing_ones():
    line = github.command("error", "bad: thing", file="src/a,b.py", line=3, endLine=None, col=7, title="E1: x")
    assert line == "::error file=src/a%2Cb.py,line=3,col=7,title=E1%3A x::bad: thing"


def test_command_without_properties():
    assert github.command("endgroup") == "::endgroup::"


def test_annotation_on_a_runner_is_a_workflow_command(runner, capsys):
    github.annotate("warning", "two\nlines", file="a.py", line=2, col=1, title="T")
    assert capsys.readouterr().out == "::warning file=a.py,line=2,col=1,title=T::two%0Alines\n"


def test_annotation_at_a_terminal_reads_like_a_compiler_message(capsys):
    github.annotate("error", "it broke", file="a.py", line=2, col=5, title="E9")
    github.annotate("notice", "just so you know")
    assert capsys.readouterr().out.splitlines() == ["a.py:2:5: error [E9] it broke", "notice just so you know"]


def test_unknown_annotation_level_is_refused():
    with pytest.raises(ValueError):
        github.annotate("fatal", "x")


def test_outputs_single_and_multiline_are_read_back_exactly(runner):
    github.set_output("count", 3)
    github.set_output("text", "first\nsecond=2\nthird<<EOF")
    github.set_output("empty", None)
    assert runner.outputs() == {"count": "3", "text": "first\nsecond=2\nthird<<EOF", "empty": ""}
    assert "ghadelimiter_" in runner.output_file.read_text()


def test_outputs_at_a_terminal_are_printed(capsys):
    github.set_outputs({"a": 1, "b": "x"})
    assert capsys.readouterr().out == "output a: 1\noutput b: x\n"


def test_summary_appends_markdown(runner):
    github.add_summary("# one")
    github.add_summary("two\n\n")
    assert runner.summary() == "# one\n\ntwo\n\n"


def test_mask_on_a_runner_masks_each_line(runner, capsys):
    github.mask("s3cret\nline2\n")
    assert capsys.readouterr().out == "::add-mask::s3cret\n::add-mask::line2\n"


def test_mask_at_a_terminal_prints_nothing(capsys):
    github.mask("s3cret")
    assert capsys.readouterr().out == ""


def test_group_on_a_runner_is_closed_even_on_error(runner, capsys):
    with pytest.raises(RuntimeError):
        with github.group("Install: x"):
            print("inside")
            raise RuntimeError
    assert capsys.readouterr().out == "::group::Install: x\ninside\n::endgroup::\n"


def test_paths_are_made_relative_to_the_workspace(runner):
    (runner.workspace / "sub").mkdir()
    assert github.relative_to_workspace("./a/b.py", runner.workspace / "sub") == "sub/a/b.py"
    assert github.relative_to_workspace("/elsewhere/x.py") == "/elsewhere/x.py"


def test_markdown_table_escapes_pipes_and_newlines():
    table = github.markdown_table(["a", "b"], [["x|y", "1\n2"]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 2 |"]


def test_action_error_reports_one_annotation(runner, capsys):
    github.ActionError("Title: t", "what, and the fix").report()
    assert capsys.readouterr().out == "::error title=Title%3A t::what, and the fix\n"
