"""The typed contracts: mypy finds no error in the package (pyproject.toml's [tool.mypy]), and both backends
implement the Backend protocol the model actions talk to."""

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

from mlops_actions.backends import Backend
from mlops_actions.backends.azureml import AzureMLBackend
from mlops_actions.backends.local import LocalBackend

ROOT = Path(__file__).resolve().parents[1]

# A Protocol is not a base class: nothing compares a class with it until one of its values is used where a
# Backend is expected. implementations() does that for both backends, so that mypy checks each method's
# parameters and return type against the protocol's (connect() does too, but only as long as it returns
# them itself). The two lines marked `expected` are controls, which must fail: a backend whose key() takes
# something else is not a Backend, and a method wrapped by translated() keeps its signature (were it lost,
# the check of the azureml backend would pass whatever its methods took).
CONFORMANCE = """
from mlops_actions.backends import Backend
from mlops_actions.backends.azureml import AzureMLBackend
from mlops_actions.backends.local import LocalBackend


def implementations(local: LocalBackend, azureml: AzureMLBackend) -> list[Backend]:
    return [local, azureml]


class Stale(LocalBackend):
    def key(self, endpoint: int) -> str:  # type: ignore[override]
        return ""


def stale(backend: Stale) -> Backend:
    return backend  # expected: incompatible


def untyped(azureml: AzureMLBackend) -> str:
    return azureml.key(1)  # expected: an endpoint's name is a str
"""


def mypy(*arguments: str) -> subprocess.CompletedProcess:
    assert importlib.util.find_spec("mypy"), "mypy is not installed: scripts/test installs it (requirements/dev.txt)"
    return subprocess.run([sys.executable, "-m", "mypy", *arguments], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_mypy_finds_no_error_in_the_package():
    result = mypy()  # what pyproject.toml's [tool.mypy] checks, as it says
    assert result.returncode == 0, f"mypy found errors:\n{result.stdout}{result.stderr}"


def test_both_backends_implement_the_protocol(tmp_path):
    program = tmp_path / "conformance.py"
    program.write_text(CONFORMANCE)
    result = mypy(str(program))
    errors = sorted({int(line) for line in re.findall(r"conformance\.py:(\d+): error:", result.stdout)})
    expected = [number for number, line in enumerate(CONFORMANCE.splitlines(), 1) if "# expected" in line]
    assert errors == expected, f"mypy's errors are on lines {errors}, not only on the controls {expected}:\n" \
                               f"{result.stdout}{result.stderr}"


def test_both_backends_name_the_parameters_as_the_protocol_does():
    """mypy compares parameter types, not names, which a caller may pass by keyword (mirror=, spec_file=)."""
    methods = [name for name, member in vars(Backend).items() if inspect.isfunction(member)
               and not name.startswith("_")]
    assert "invoke" in methods and "find_model" in methods
    for backend in (LocalBackend, AzureMLBackend):
        assert isinstance(backend.name, str)
        for method in methods:
            signature = inspect.signature(getattr(backend, method))  # translated() keeps __wrapped__'s
            expected = inspect.signature(getattr(Backend, method))
            assert [(p.name, p.kind, p.default) for p in signature.parameters.values()] == \
                [(p.name, p.kind, p.default) for p in expected.parameters.values()], \
                f"{backend.__name__}.{method}{signature} differs from Backend.{method}{expected}"
