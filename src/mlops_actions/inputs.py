"""Inputs of a command: declared once, read from `--flags` or the `INPUT_*` variables an action sets.

Every value arrives as a string (that is what GitHub passes); typed getters validate it and raise
InputError, which names the input, the value and the fix.
"""

from __future__ import annotations

import math
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_actions import github
from mlops_actions.github import ActionError

TRUE = ("true", "yes", "1", "on")
FALSE = ("false", "no", "0", "off")


@dataclass(frozen=True)
class Input:
    name: str  # kebab-case, as in action.yml and as the --flag
    description: str
    default: str = ""
    choices: tuple[str, ...] = ()
    replaced_by: str = ""  # a renamed input keeps its old name, deprecated, and feeds the new one
    required: bool = False  # an empty value is an input error (action.yml says `required: true`)

    @property
    def env(self) -> str:
        return "INPUT_" + self.name.upper().replace("-", "_")

    @property
    def deprecation(self) -> str:
        return f"Renamed to {self.replaced_by}: use {self.replaced_by} instead." if self.replaced_by else ""


class InputError(ActionError):
    """A bad input value: names the input, the value and how to fix it."""

    def __init__(self, name: str, value: str, problem: str, fix: str):
        self.name, self.value, self.problem, self.fix = name, value, problem, fix
        super().__init__(f"Invalid input: {name}", f"input '{name}' is {value!r}: {problem}. Fix: {fix}.")


class Inputs:
    """The raw string values of one command's inputs, with validating getters."""

    def __init__(self, declared: list[Input], values: dict[str, str], labels: dict[str, str] | None = None):
        self.declared = {spec.name: spec for spec in declared}
        self.values = values
        self.labels = labels or {}  # name -> the name the user knows the input by, where they differ

    @classmethod
    def read(cls, declared: list[Input], flags: dict[str, str | None] | None = None,
             environ: Mapping[str, str] | None = None) -> "Inputs":
        """Take each input from its --flag, else its INPUT_* variable, else its default."""
        flags, environ = flags or {}, os.environ if environ is None else environ
        values = {}
        for spec in declared:
            value = flags.get(spec.name)
            if value is None:
                value = environ.get(spec.env, spec.default)
            if "\0" in value:  # no file, argument or variable can hold one
                raise InputError(spec.name, value.replace("\0", "\\0")[:200], "contains a NUL character",
                                 "remove it")
            values[spec.name] = value.strip()
        for spec in declared:
            if spec.replaced_by and values[spec.name] != spec.default:
                github.warning(f"Input {spec.name} is deprecated: {spec.deprecation}", title="Deprecated input")
                if values[spec.replaced_by] == next(s.default for s in declared if s.name == spec.replaced_by):
                    values[spec.replaced_by] = values[spec.name]
        inputs = cls(declared, values)
        for spec in declared:
            if spec.required and not values[spec.name]:
                raise InputError(spec.name, "", "required", f"give {spec.name}: {spec.description.split('. ')[0]}")
            if spec.choices:
                inputs.choice(spec.name)
        return inputs

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def error(self, name: str, problem: str, fix: str) -> InputError:
        return InputError(self.label(name), self.values[name], problem, fix)

    def choice(self, name: str) -> str:
        value, choices = self[name], self.declared[name].choices
        if value not in choices:
            raise self.error(name, f"not one of {', '.join(choices)}",
                             f"set {self.label(name)} to one of {', '.join(choices)}")
        return value

    def flag(self, name: str) -> bool:
        """'true' or 'false' (and yes/no, 1/0, on/off); empty means the declared default, as GitHub's unset input."""
        value = (self[name] or self.declared[name].default).lower()
        if value in TRUE:
            return True
        if value in FALSE:
            return False
        raise self.error(name, "not a boolean", f"set {self.label(name)} to 'true' or 'false'")

    def number(self, name: str, low: float | None = None, high: float | None = None,
               integer: bool = False) -> float | int | None:
        """A number within [low, high]; empty means the declared default (None when there is none)."""
        value = self[name] or self.declared[name].default
        if value == "":
            return None
        kind = "a whole number" if integer else "a number"
        try:  # ASCII digits only: Python would read "١٠" or "１０" as 10, which no one means in a workflow
            number = (int(value) if integer else float(value)) if value.isascii() else None
        except ValueError:
            number = None
        in_range = number is not None and math.isfinite(number) and (low is None or number >= low) \
            and (high is None or number <= high)
        if not in_range:
            bounds = f" from {low:g} to {high:g}" if low is not None and high is not None else (
                f" of at least {low:g}" if low is not None else "")
            raise self.error(name, f"not {kind}{bounds}", f"set {self.label(name)} to {kind}{bounds}")
        return number

    def defaulted_number(self, name: str, low: float | None = None, high: float | None = None,
                         integer: bool = False) -> float:
        """number() of an input that is never empty (it declares a default, or the command filled it in)."""
        number = self.number(name, low, high, integer)
        if number is None:
            raise TypeError(f"input {name} is empty and declares no default")  # a bug in the command
        return number

    def words(self, name: str) -> list[str]:
        """Values separated by spaces or new lines."""
        return self[name].split()

    def arguments(self, name: str) -> list[str]:
        """Extra command-line arguments, split the way a shell would (quotes group; nothing is executed)."""
        try:
            return shlex.split(self[name])
        except ValueError as exc:
            raise self.error(name, f"not valid arguments ({exc})", "balance the quotes in it") from None

    def path(self, name: str, base: Path, *roots: Path) -> Path:
        """The input's path (relative to `base`), resolved; on a runner it stays inside the workspace (or
        `roots`): see paths.confined."""
        from mlops_actions import paths

        return paths.confined(self.label(name), self[name], Path(base, self[name]), *roots)

    def directory(self, name: str, base: Path | None = None, *roots: Path) -> Path:
        path = self.path(name, base or Path.cwd(), *roots) if self[name] else Path(base or Path.cwd()).resolve()
        if not path.is_dir():
            raise self.error(name, "not a directory" + (" (it is a file)" if path.exists() else " that exists"),
                             f"set {self.label(name)} to a folder of the repository, relative to its root")
        return path

    def relative_path(self, name: str) -> str:
        """A path inside the working folder (relative, not climbing out of it), as given."""
        value = self[name]
        if not value or Path(value).is_absolute() or ".." in Path(value).parts:
            raise self.error(name, "empty" if not value else "not a path inside the working directory",
                             "give a relative path such as outputs/model")
        return value

    def paths(self, name: str, base: Path) -> list[str]:
        """Files or folders (relative to `base`) that must exist; on a runner, inside the workspace."""
        from mlops_actions import paths as confine

        paths = self.words(name)
        missing = [path for path in paths if not confine.confined(self.label(name), path, base / path).exists()]
        if missing:
            raise self.error(name, f"{', '.join(missing)} does not exist in {base}",
                             f"list files or folders that exist, relative to {base}")
        return paths

    def optional_file(self, name: str, base: Path, *roots: Path) -> Path | None:
        if not self[name]:
            return None
        path = self.path(name, base, *roots)
        if not path.is_file():
            raise self.error(name, f"no such file in {base}", f"give the path of an existing file, or leave "
                             f"{self.label(name)} empty to use the default")
        return path
