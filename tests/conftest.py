import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(autouse=True)
def no_runner(monkeypatch):
    """Tests start outside a runner, whatever machine runs them (GitHub sets these in CI)."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "INPUT_", "RUNNER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")  # nothing reaches GitHub: tests use github_api


class Runner:
    """A fake runner's files: GITHUB_OUTPUT and GITHUB_STEP_SUMMARY, as GitHub reads them."""

    def __init__(self, folder: Path, workspace: Path):
        self.output_file = folder / "output"
        self.summary_file = folder / "summary.md"
        self.workspace = workspace

    def outputs(self) -> dict:
        """Parse GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` blocks."""
        values, lines = {}, iter(self.output_file.read_text().splitlines()) if self.output_file.exists() else iter(())
        for line in lines:
            if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
                name, delimiter = line.split("<<", 1)
                block = []
                for inner in lines:
                    if inner == delimiter:
                        break
                    block.append(inner)
                values[name] = "\n".join(block)
            else:
                name, value = line.split("=", 1)
                values[name] = value
        return values

    def summary(self) -> str:
        return self.summary_file.read_text() if self.summary_file.exists() else ""


def tool(name: str) -> str:
    """A tool installed beside this Python (the dev extra), else on PATH. zizmor's releases that read this
    repository's policy need Python 3.11: on 3.10 its checks are skipped (the test matrix runs them on 3.11-3.13)."""
    if name == "zizmor" and sys.version_info < (3, 11):
        pytest.skip("zizmor 1.31 and later need Python 3.11; the other Pythons of the test matrix run this check")
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: scripts/test installs it (requirements/dev.txt, act.txt)"
    return found


def as_runner(monkeypatch, folder: Path, workspace: Path) -> Runner:
    """Run as if on a GitHub runner whose workspace is `workspace` (its files in `folder`)."""
    fake = Runner(folder, workspace)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(fake.output_file))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(fake.summary_file))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(workspace))
    monkeypatch.chdir(workspace)
    return fake


@pytest.fixture
def runner(monkeypatch, tmp_path):
    """Run as if on a GitHub runner whose workspace is tmp_path/workspace."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    return as_runner(monkeypatch, tmp_path, workspace)


@pytest.fixture
def project(tmp_path):
    """Copy a fixture project into a fresh folder (so reports are not written into the repository)."""
    def copy(name: str, into: Path | None = None) -> Path:
        target = (into or tmp_path / "projects") / name
        shutil.copytree(FIXTURES / name, target)
        return target
    return copy


# -- pytest-xdist (scripts/test: -n auto --dist loadfile) -------------------------------------------------


def pytest_collection_modifyitems(items):
    """pytest-xdist hands each file to a worker in collection order: the files that run workflows through act,
    the slowest, go first, so that none is left running alone at the end. (Files, not single tests: with
    pytest 9, xdist's loadgroup no longer groups, and a module fixture would be built on every worker.)"""
    items.sort(key=lambda item: item.get_closest_marker("act") is None)  # stable: files keep their order


# -- Azure, emulated ---------------------------------------------------------------------------------

AZURE_CLIENT = "0c0c0c0c-1111-4222-8333-444444444444"  # the identity the tests sign in as
CONTRIBUTOR = "b24988ac-6210-4c4c-b5ce-ef9fd3e8101f"


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite (the workspace's blob storage), once for the session; each emulator has its own containers."""
    from azureml_emulator import Azurite

    storage = Azurite(tmp_path_factory.mktemp("azurite"))
    yield storage
    storage.stop()


@pytest.fixture
def emulate(monkeypatch, azurite):
    """Start an Azure ML emulator (with storage and sign-in) and point the azureml backend at it: the SDK's
    blob client through Azurite's environment, the credential through EnvironmentCredential's variables.
    `workspaces=[{"workspace": ..., "resource_group": ...}]` adds workspaces beside the first (emulator.workspaces);
    the tests' identity has Contributor on each one's resource group."""
    from azureml_emulator import Emulator
    from mlops_actions.backends.azureml import EMULATOR
    from mlops_actions.backends.azureml.endpoints import Endpoints

    monkeypatch.setattr(Endpoints, "busy_poll_seconds", 0.01)  # the emulator's operations end in looks, not time
    started = []

    def start(**settings):
        emulator = Emulator(storage=azurite, **settings)
        server, url = emulator.serve()
        started.append((emulator, server))
        emulator.app(AZURE_CLIENT, secret="emulator-client-secret")
        for workspace in emulator.workspaces:  # Emulator(workspaces=[...]): the same on each one's group
            emulator.grant(AZURE_CLIENT, CONTRIBUTOR, scope=f"/subscriptions/{workspace.subscription}/resourceGroups/"
                           f"{workspace.resource_group}")  # tests that check roles use identities of their own
        for name, value in {EMULATOR: url, **azurite.environment(), "AZURE_TENANT_ID": emulator.tenant,
                            "AZURE_CLIENT_ID": AZURE_CLIENT, "AZURE_CLIENT_SECRET": "emulator-client-secret"}.items():
            monkeypatch.setenv(name, value)
        return emulator
    yield start
    for emulator, server in started:
        server.shutdown()
        emulator.close()


# -- GitHub, stood in ----------------------------------------------------------------------------------

@pytest.fixture
def github_api(monkeypatch):
    """A loopback stand-in of GitHub's REST API (tests/github_standin); GITHUB_API_URL points at it."""
    from github_standin import GitHub

    github = GitHub()
    server, url = github.serve()
    monkeypatch.setenv("GITHUB_API_URL", url)
    yield github
    server.shutdown()
    server.server_close()
