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
