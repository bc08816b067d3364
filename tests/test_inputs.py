import pytest

from mlops_actions.inputs import Input, InputError, Inputs

DECLARED = [
    Input("name", "a name", "x"),
    Input("count", "a count", ""),
    Input("limit", "a number with a default", "30"),
    Input("switch", "a boolean", "true"),
    Input("mode", "a choice", "fast", choices=("fast", "slow")),
    Input("args", "arguments", ""),
]


def read(flags=None, **environ):
    return Inputs.read(DECLARED, flags, environ)


def test_flag_beats_environment_beats_default():
    assert read()["name"] == "x"
    assert read(INPUT_NAME="from-env")["name"] == "from-env"
    assert read({"name": "from-flag"}, INPUT_NAME="from-env")["name"] == "from-flag"


def test_env_names_are_upper_case_with_underscores():
    assert Input("max-line-length", "").env == "INPUT_MAX_LINE_LENGTH"


def test_values_are_stripped():
    assert read(INPUT_NAME="  padded \n")["name"] == "padded"


@pytest.mark.parametrize("text, value", [("true", True), ("FALSE", False), ("yes", True), ("0", False)])
def test_booleans(text, value):
    assert read(INPUT_SWITCH=text).flag("switch") is value


def test_a_bad_boolean_names_the_input_the_value_and_the_fix():
    with pytest.raises(InputError) as caught:
        read(INPUT_SWITCH="maybe").flag("switch")
    assert str(caught.value) == "input 'switch' is 'maybe': not a boolean. Fix: set switch to 'true' or 'false'."
    assert caught.value.title == "Invalid input: switch"


def test_empty_means_the_default_as_for_an_unset_input_on_github():
    assert read(INPUT_SWITCH="").flag("switch") is True
    assert read(INPUT_LIMIT=" ").number("limit", low=1, integer=True) == 30
    assert read(INPUT_COUNT="").number("count") is None


def test_a_nul_in_any_value_is_refused_on_read():
    with pytest.raises(InputError, match="input 'args' is .*: contains a NUL character. Fix: remove it"):
        read({"args": "a\0b"})


def test_unknown_choice_is_refused_on_read():
    with pytest.raises(InputError, match="input 'mode' is 'medium': not one of fast, slow"):
        read(INPUT_MODE="medium")


def test_numbers_and_their_bounds():
    assert read().number("count") is None
    assert read(INPUT_COUNT="7").number("count", low=1, integer=True) == 7
    assert read(INPUT_COUNT="42.5").number("count", low=0, high=100) == 42.5
    with pytest.raises(InputError, match="not a whole number of at least 1"):
        read(INPUT_COUNT="1.5").number("count", low=1, integer=True)
    with pytest.raises(InputError, match="'101': not a number from 0 to 100"):
        read(INPUT_COUNT="101").number("count", low=0, high=100)
    with pytest.raises(InputError, match="'ninety': not a number"):
        read(INPUT_COUNT="ninety").number("count")
    for endless in ("inf", "nan", "-inf"):
        with pytest.raises(InputError, match="not a number"):
            read(INPUT_COUNT=endless).number("count", low=0)
    for foreign in ("\u0661\u0660", "\uff11\uff10"):  # Arabic-Indic and full-width 10
        with pytest.raises(InputError, match="not a whole number"):
            read(INPUT_COUNT=foreign).number("count", integer=True)


def test_arguments_split_like_a_shell_without_running_anything():
    assert read(INPUT_ARGS="-k 'a and b' --x=$(rm -rf /) ;").arguments("args") == [
        "-k", "a and b", "--x=$(rm", "-rf", "/)", ";"]
    with pytest.raises(InputError, match="balance the quotes"):
        read(INPUT_ARGS="-k 'open").arguments("args")


def test_paths_must_exist(tmp_path):
    (tmp_path / "src").mkdir()
    inputs = read(INPUT_NAME="src\nmissing other")
    with pytest.raises(InputError) as caught:
        inputs.paths("name", tmp_path)
    assert "missing, other does not exist" in str(caught.value)
    assert read(INPUT_NAME="src").paths("name", tmp_path) == ["src"]
    with pytest.raises(InputError, match="not a usable path"):
        read(INPUT_NAME="x" * 256).paths("name", tmp_path)


def test_directory_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("")
    assert read(INPUT_NAME="").directory("name", tmp_path) == tmp_path.resolve()
    with pytest.raises(InputError, match="not a directory \\(it is a file\\)"):
        read(INPUT_NAME="file").directory("name", tmp_path)
    with pytest.raises(InputError, match="not a directory that exists"):
        read(INPUT_NAME="nope").directory("name", tmp_path)


def test_optional_file(tmp_path):
    (tmp_path / "setup.cfg").write_text("")
    assert read(INPUT_NAME="").optional_file("name", tmp_path) is None
    assert read(INPUT_NAME="setup.cfg").optional_file("name", tmp_path) == (tmp_path / "setup.cfg").resolve()
    with pytest.raises(InputError, match="no such file"):
        read(INPUT_NAME="tox.ini").optional_file("name", tmp_path)


def test_a_renamed_input_still_works_with_a_warning(capsys):
    declared = [Input("paths", "new", "."), Input("path", "old", ".", replaced_by="paths")]
    inputs = Inputs.read(declared, {}, {"INPUT_PATH": "src"})
    assert inputs["paths"] == "src"
    assert "Input path is deprecated: Renamed to paths: use paths instead." in capsys.readouterr().out
    both = Inputs.read(declared, {}, {"INPUT_PATH": "src", "INPUT_PATHS": "lib"})
    assert both["paths"] == "lib"  # the new name wins


@pytest.mark.parametrize("given", [{}, {"INPUT_MODEL_NAME": ""}, {"INPUT_MODEL_NAME": "  \n"}])
def test_a_required_input_left_empty_is_an_input_error_before_anything_runs(given):
    declared = [Input("model-name", "Name of the model. Letters and digits.", required=True),
                Input("count", "How many.", required=True)]
    with pytest.raises(InputError) as caught:
        Inputs.read(declared, environ={"INPUT_COUNT": "3", **given})
    assert (caught.value.name, caught.value.problem) == ("model-name", "required")
    assert caught.value.fix == "give model-name: Name of the model"
    with pytest.raises(InputError, match="input 'count' is '': required"):  # a number: an input error, no TypeError
        Inputs.read(declared, environ={"INPUT_MODEL_NAME": "m"})
    assert Inputs.read(declared, environ={"INPUT_MODEL_NAME": "m", "INPUT_COUNT": "3"}).number("count") == 3


@pytest.mark.parametrize("command, required", [
    ("register", {"model-name", "model-path"}), ("smoke", {"endpoint-name", "request-file"}),
    ("traffic", {"endpoint-name"}), ("monitor", {"endpoint-name"}), ("deploy", set()), ("train", set()),
])
def test_the_commands_declare_what_they_cannot_run_without(command, required):
    import importlib

    job = importlib.import_module(f"mlops_actions.{command}")
    assert {spec.name for spec in job.INPUTS if spec.required} == required


# -- each message names the input as the user knows it, the value and the fix (mutation testing's survivors) ----

def labelled(values: dict, **labels) -> Inputs:
    declared = [Input("mode", "a choice", "fast", choices=("fast", "slow")), Input("count", "a count"),
                Input("args", "arguments"), Input("where", "a path"), Input("files", "paths")]
    return Inputs(declared, {"mode": "", "count": "", "args": "", "where": "", "files": "", **values}, labels)


def refusal(call) -> InputError:
    with pytest.raises(InputError) as raised:
        call()
    return raised.value


def test_the_process_environment_is_read_when_none_is_given(monkeypatch):
    monkeypatch.setenv("INPUT_NAME", "from-env")
    assert Inputs.read(DECLARED)["name"] == "from-env"
    assert Inputs.read(DECLARED, environ={})["name"] == "x"


def test_a_nul_is_shown_escaped_and_cut_at_200_characters():
    error = refusal(lambda: read({"name": "a\0" + "b" * 300}))
    assert error.value == ("a\\0" + "b" * 300)[:200]
    assert (error.problem, error.fix) == ("contains a NUL character", "remove it")


def test_a_renamed_input_warns_with_its_title_and_feeds_only_its_successor(capsys):
    declared = [Input("new", "the new one", "d"), Input("other", "another", "o"),
                Input("old", "the old one", replaced_by="new")]
    inputs = Inputs.read(declared, {"old": "given"}, environ={})
    assert (inputs["new"], inputs["other"]) == ("given", "o")
    assert capsys.readouterr().out == ("warning [Deprecated input] Input old is deprecated: Renamed to new: use new "
                                       "instead.\n")
    assert Inputs.read(declared, {"old": "given", "new": "mine"}, environ={})["new"] == "mine"


def test_a_label_names_the_input_in_every_message(tmp_path):
    inputs = labelled({"mode": "medium"}, mode="speed")
    error = refusal(lambda: inputs.choice("mode"))
    assert (error.name, error.fix) == ("speed", "set speed to one of fast, slow")
    assert inputs.label("count") == "count"
    error = refusal(lambda: labelled({"count": "-1"}, count="amount").number("count", low=0))
    assert (error.problem, error.fix) == ("not a number of at least 0", "set amount to a number of at least 0")
    error = refusal(lambda: labelled({"count": "x"}, count="amount").number("count"))
    assert (error.problem, error.fix) == ("not a number", "set amount to a number")
    error = refusal(lambda: labelled({"args": "'open"}).arguments("args"))
    assert error.problem.startswith("not valid arguments (") and error.fix == "balance the quotes in it"
    (tmp_path / "file").write_text("")
    error = refusal(lambda: labelled({"where": "file"}, where="folder").directory("where", tmp_path))
    assert (error.name, error.problem, error.fix) == ("folder", "not a directory (it is a file)", "set folder to a "
                                                      "folder of the repository, relative to its root")
    error = refusal(lambda: labelled({"files": "a b"}, files="tests").paths("files", tmp_path))
    assert (error.name, error.problem, error.fix) == ("tests", f"a, b does not exist in {tmp_path}",
                                                      f"list files or folders that exist, relative to {tmp_path}")
    error = refusal(lambda: labelled({"where": "gone.txt"}, where="data").optional_file("where", tmp_path))
    assert (error.name, error.fix) == ("data", "give the path of an existing file, or leave data empty to use "
                                               "the default")


def test_numbers_at_their_bounds_are_taken():
    inputs = labelled({"count": "5"})
    assert inputs.number("count", low=5, high=5) == 5.0
    assert refusal(lambda: inputs.number("count", low=5.5, high=9)).problem == "not a number from 5.5 to 9"
    assert refusal(lambda: inputs.number("count", high=4)).problem == "not a number"  # no lower bound to name


def test_paths_on_a_runner_stay_in_the_workspace_or_the_roots_given(tmp_path, monkeypatch):
    workspace, other = tmp_path / "workspace", tmp_path / "other"
    workspace.mkdir()
    (other / "sub").mkdir(parents=True)
    (other / "data.csv").write_text("a\n")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    inputs = labelled({"where": "../other/sub", "files": "../other/data.csv"}, where="folder", files="list")
    error = refusal(lambda: inputs.path("where", workspace))
    assert (error.name, error.value) == ("folder", "../other/sub") and "outside the workspace" in error.problem
    assert inputs.path("where", workspace, other) == other / "sub"
    assert inputs.directory("where", workspace, other) == other / "sub"
    assert refusal(lambda: inputs.paths("files", workspace)).name == "list"
    inputs = labelled({"where": "../other/data.csv"})
    assert inputs.optional_file("where", workspace, other) == other / "data.csv"
    assert refusal(lambda: inputs.optional_file("where", workspace)).problem.startswith("resolves to ")


def test_a_relative_path_stays_inside_the_working_folder():
    inputs = labelled({"where": "outputs/model"}, where="model-output")
    assert inputs.relative_path("where") == "outputs/model"
    for value, problem in (("", "empty"), ("/abs/model", "not a path inside the working directory"),
                           ("a/../../b", "not a path inside the working directory")):
        error = refusal(lambda: labelled({"where": value}, where="model-output").relative_path("where"))
        assert (error.name, error.value, error.problem, error.fix) == ("model-output", value, problem,
                                                                       "give a relative path such as outputs/model")


def test_a_defaulted_number_is_never_none():
    assert read({"limit": "7"}).defaulted_number("limit", low=1, integer=True) == 7
    assert read().defaulted_number("limit") == 30.0
    with pytest.raises(TypeError, match="input count is empty and declares no default"):
        read().defaulted_number("count")


def test_words_split_on_spaces_and_lines():
    assert labelled({"files": " a  b\nc\t d "}).words("files") == ["a", "b", "c", "d"]
