"""The local backend in this process: its registry (MLflow on sqlite, real), and its endpoint records with the
process calls (start, health, stop) recorded instead of made, so every record it writes, every environment a server
gets and every refusal is seen here (tests/test_local_lifecycle.py runs the real processes)."""

import json
import os
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlops_actions.backends import CONTENT_HASH_TAG, DeploymentSpec, ModelVersion, environments, local, processes
from mlops_actions.backends.local import LocalBackend
from mlops_actions.github import ActionError


def test_the_marker_a_server_has_on_its_command_line():
    assert local.server_marker({"socket": "/tmp/s.sock", "port": 1}) == "unix:/tmp/s.sock"
    assert local.server_marker({"port": 8080}) == "127.0.0.1:8080"


def test_the_state_folder_is_private(tmp_path):
    state = tmp_path / "a" / "state"
    LocalBackend(state).make_state()
    assert state.stat().st_mode & 0o777 == 0o700
    state.chmod(0o755)
    LocalBackend(state).make_state()
    assert state.stat().st_mode & 0o777 == 0o700
    state.chmod(0o701)
    LocalBackend(state).make_state()
    assert state.stat().st_mode & 0o777 == 0o700


def test_the_tracking_uri_is_the_sqlite_file_in_the_state(tmp_path):
    from sqlalchemy.engine import make_url

    state = tmp_path / "st%ate"
    uri = LocalBackend(state).tracking_uri
    assert uri.startswith("sqlite:///") and make_url(uri).database == str(state / "mlflow.db")


# -- the registry ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """One registry for the module's registry tests (creating its schema takes seconds)."""
    folder = tmp_path_factory.mktemp("registry")
    backend = LocalBackend(folder / "state")
    model = folder / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    single = folder / "weights.bin"
    single.write_bytes(b"w")
    first = backend.register_model("churn", model, "mlflow_model", "first", {"team": "risk"}, {"owner": "ana"}, "h1")
    second = backend.register_model("churn", single, "custom_model", "", {}, {}, "h2")
    return backend, first, second, folder


def test_a_version_is_registered_with_its_tags_and_files(registry):
    backend, (first, created), _, folder = registry
    assert created is True
    assert (first.name, first.version, first.uri, first.type) == ("churn", "1", "models:/churn/1", "mlflow_model")
    assert first.tags == {"team": "risk", "property.owner": "ana", CONTENT_HASH_TAG: "h1",
                          "mlops-actions.model-type": "mlflow_model"}
    assert first.path == str(backend.state / "models" / "churn" / "h1")
    long_hash = "0123456789abcdef" * 4
    third, _ = backend.register_model("churn", folder / "weights.bin", "custom_model", "", {}, {}, long_hash)
    assert third.path == str(backend.state / "models" / "churn" / long_hash[:16])
    backend.client.delete_model_version("churn", third.version)
    assert (Path(first.path) / "model" / "MLmodel").is_file()  # a folder under its own name, as Azure ML does
    assert backend.client.get_model_version("churn", "1").description == "first"


def test_a_file_is_stored_at_the_versions_root(registry):
    backend, _, (second, created), _ = registry
    assert created and second.version == "2" and second.type == "custom_model"
    assert (Path(second.path) / "weights.bin").read_bytes() == b"w"
    assert backend.client.get_model_version("churn", "2").description in (None, "")


def test_the_same_content_is_the_same_version(registry):
    backend, (first, _), _, folder = registry
    again, created = backend.register_model("churn", folder / "model", "mlflow_model", "again", {}, {}, "h1")
    assert (again.version, created) == ("1", False)
    assert backend.find_model("churn", "h1").version == "1"
    assert backend.find_model("churn", "h3") is None
    assert backend.find_model("other", "h1") is None


def test_a_version_or_the_latest(registry):
    backend, *_ = registry
    assert backend.get_model("churn", "latest").version == "2"
    assert backend.get_model("churn", "1").tags[CONTENT_HASH_TAG] == "h1"


@pytest.mark.parametrize("name, version, have", [("churn", "9", "1, 2"), ("nobody", "latest", "none"),
                                                 ("nobody", "1", "none")])
def test_a_missing_version(registry, name, version, have):
    backend, *_ = registry
    with pytest.raises(ActionError) as raised:
        backend.get_model(name, version)
    assert raised.value.title == "Model not found"
    assert str(raised.value) == (f"model {name} version {version} is not in the local registry {backend.state} "
                                 f"(versions: {have}). Fix: register it first with register-model, or give an "
                                 "existing model-version.")


class Found:
    """What MlflowClient.search_model_versions returns, as far as the backend reads it."""

    def __init__(self, version):
        self.name, self.version, self.tags, self.source = "many", version, {CONTENT_HASH_TAG: f"h{version}"}, "/m"


def test_versions_sort_as_numbers(tmp_path, monkeypatch):
    backend = LocalBackend(tmp_path / "state")
    client = type("Client", (), {"search_model_versions": lambda self, query: [Found(v) for v in (9, 10, 2)]})()
    monkeypatch.setattr(backend, "_client", client)
    assert backend.get_model("many", "latest").version == "10"
    assert backend.get_model("many", "9").tags == {CONTENT_HASH_TAG: "h9"}
    with pytest.raises(ActionError, match=r"\(versions: 2, 9, 10\)"):
        backend.get_model("many", "12")
    assert backend.find_model("many", "h2").version == "2"  # the first of several with the same content
    assert backend._version(Found(3)) == ModelVersion("many", "3", "models:/many/3", "mlflow_model",
                                                      {CONTENT_HASH_TAG: "h3"}, "/m")


def test_versions_of_a_named_registry(tmp_path, monkeypatch):
    backend = LocalBackend(tmp_path / "state", registry="shared")
    found = Found(3)
    found.tags = {"mlops-actions.model-type": "custom_model"}
    assert backend._version(found) == ModelVersion("many", "3", "azureml://registries/shared/models/many/versions/3",
                                                   "custom_model", {"mlops-actions.model-type": "custom_model"}, "/m")
    client = type("Client", (), {"search_model_versions": lambda self, query: [Found(2)]})()
    monkeypatch.setattr(backend, "_client", client)
    where = f"registry shared \\({tmp_path / 'state'}\\)"
    with pytest.raises(ActionError, match=rf"^model many version 5 is not in {where} "):
        backend.get_model("many", "5")


def test_a_registry_deleted_under_models_is_an_error(tmp_path):
    (tmp_path / "state" / "models").mkdir(parents=True)
    with pytest.raises(ActionError) as raised:
        LocalBackend(tmp_path / "state").client
    assert raised.value.title == "Registry missing"
    assert str(raised.value).startswith(f"{tmp_path / 'state' / 'mlflow.db'} is gone while {tmp_path / 'state'} "
                                        "still has models or endpoints")


def test_a_partial_copy_left_by_an_interrupted_registration_is_replaced(registry, tmp_path):
    backend = registry[0]
    partial = backend.state / "models" / "m" / "abc.partial"
    partial.mkdir(parents=True)
    (partial / "junk").write_text("x")
    (tmp_path / "w").write_text("w")
    model, _ = backend.register_model("m", tmp_path / "w", "custom_model", "", {}, {}, "abc")
    assert sorted(p.name for p in Path(model.path).iterdir()) == ["w"] and not partial.exists()


# -- copying a version from another registry (promote-model) ---------------------------------------------------

@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """A second registry, copied into."""
    return LocalBackend(tmp_path_factory.mktemp("target") / "state")


def source_version(registry, name: str, version: str, digest: str) -> ModelVersion:
    """A version as another registry holds it: the files of the module's first model."""
    backend, (first, _), *_ = registry
    return ModelVersion(name, version, f"models:/{name}/{version}", "custom_model",
                        {CONTENT_HASH_TAG: digest, "team": "risk"}, first.path)


def placeholder(backend: LocalBackend, name: str, source: str, meant: str) -> str:
    """A placeholder a copy of version `meant` left; returns its number."""
    from mlflow.exceptions import MlflowException

    try:
        backend.client.create_registered_model(name)
    except MlflowException:
        pass
    return str(backend.client.create_model_version(name, source=source, tags={local.PLACEHOLDER_TAG: meant}).version)


def numbers(backend: LocalBackend, name: str) -> dict[str, dict]:
    return {str(v.version): v.tags for v in backend.client.search_model_versions(f"name='{name}'")}


def test_a_copy_gets_the_versions_number_files_and_tags_and_no_placeholder_stays(registry, target):
    model = source_version(registry, "copied", "3", "c1")
    copy = target.copy_model(registry[0], model, {**model.tags, "promoted": "yes"})
    assert (copy.name, copy.version, copy.type) == ("copied", "3", "custom_model")
    assert copy.tags == {CONTENT_HASH_TAG: "c1", "team": "risk", "promoted": "yes",
                         "mlops-actions.model-type": "custom_model"}
    assert copy.path == str(target.state / "models" / "copied" / "c1")
    assert sorted(p.name for p in Path(copy.path).iterdir()) == sorted(p.name for p in Path(model.path).iterdir())
    assert list(numbers(target, "copied")) == ["3"]


def test_a_copy_cut_short_leaves_its_number_marked_and_untagged_and_the_next_finishes_it(registry, target, monkeypatch):
    model = source_version(registry, "resumed", "2", "r1")

    def cut(*args):
        raise KeyboardInterrupt
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(type(target.client), "set_model_version_tag", cut)
        target.copy_model(registry[0], model, model.tags)
    assert numbers(target, "resumed") == {"2": {local.PLACEHOLDER_TAG: "2"}}  # no tag that passes for the copy
    assert target.find_version("resumed", "2") is None and target.find_model("resumed", "r1") is None
    with pytest.raises(ActionError, match="is not in"):
        target.get_model("resumed", "latest")
    copy = target.copy_model(registry[0], model, model.tags)
    assert copy.version == "2" and copy.tags[CONTENT_HASH_TAG] == "r1" and local.PLACEHOLDER_TAG not in copy.tags
    assert list(numbers(target, "resumed")) == ["2"]


def test_placeholders_numbered_on_the_way_are_deleted_and_another_copys_is_left_to_it(registry, target):
    stored = str(target.state / "models" / "others" / "o5")
    assert [placeholder(target, "others", "/on-the-way", "5") for _ in range(4)] == ["1", "2", "3", "4"]
    assert placeholder(target, "others", stored, "5") == "5"  # version 5's copy, cut short once numbered
    with pytest.raises(ActionError) as raised:  # version 3 cannot be had: 5 was given
        target.copy_model(registry[0], source_version(registry, "others", "3", "o3"), {})
    assert raised.value.title == "Version taken" and "version 6 was the next free one" in str(raised.value)
    assert numbers(target, "others") == {"5": {local.PLACEHOLDER_TAG: "5"}}  # kept for version 5's copy
    copy = target.copy_model(registry[0], source_version(registry, "others", "5", "o5"), {})
    assert copy.version == "5" and list(numbers(target, "others")) == ["5"]


def test_a_placeholder_of_the_version_with_other_files_is_left_and_the_copy_refused(registry, target):
    assert placeholder(target, "clash", "/other-files", "1") == "1"
    with pytest.raises(ActionError) as raised:
        target.copy_model(registry[0], source_version(registry, "clash", "1", "k1"), {})
    assert raised.value.title == "Version taken"
    assert numbers(target, "clash") == {"1": {local.PLACEHOLDER_TAG: "1"}}


def test_a_version_registered_meanwhile_is_a_race_not_overwritten(registry, target):
    (Path(registry[3]) / "raced").write_text("r")
    existing, _ = target.register_model("raced", Path(registry[3]) / "raced", "custom_model", "", {}, {}, "other")
    with pytest.raises(ActionError) as raised:
        target.copy_model(registry[0], source_version(registry, "raced", existing.version, "x1"), {})
    assert raised.value.title == "Promotion raced"
    with pytest.raises(ActionError) as raised:  # its content, under another number
        target.copy_model(registry[0], source_version(registry, "raced", "5", "other"), {})
    assert raised.value.title == "Promotion raced"
    assert str(raised.value) == (f"raced version 5 was registered in the local registry {target.state} while this "
                                 "step ran. Fix: run it again.")
    assert target.get_model("raced", "latest").tags[CONTENT_HASH_TAG] == "other"


def test_a_copy_leaves_other_models_placeholders_alone(registry, target):
    assert placeholder(target, "neighbour", "/on-the-way", "3") == "1"  # another model's, numbered on the way
    copy = target.copy_model(registry[0], source_version(registry, "alone", "1", "a1"), {})
    assert copy.version == "1" and numbers(target, "neighbour") == {"1": {local.PLACEHOLDER_TAG: "3"}}


def test_a_copy_is_stored_under_its_hash_beside_a_partial_one_and_keeps_symbolic_links(registry, target, tmp_path):
    digest = "0123456789abcdef" * 4
    files = tmp_path / "files"
    files.mkdir()
    (files / "weights.bin").write_bytes(b"w")
    (tmp_path / "outside").write_text("not the model's")
    (files / "link").symlink_to(tmp_path / "outside")
    partial = target.state / "models" / "stored" / f"{digest[:16]}.partial"
    partial.mkdir(parents=True)
    (partial / "junk").write_text("left by a copy cut short")
    model = ModelVersion("stored", "1", "models:/stored/1", "custom_model", {CONTENT_HASH_TAG: digest}, str(files))
    copy = target.copy_model(registry[0], model, {})
    assert copy.path == str(target.state / "models" / "stored" / digest[:16]) and not partial.exists()
    assert sorted(p.name for p in Path(copy.path).iterdir()) == ["link", "weights.bin"]
    assert (Path(copy.path) / "link").is_symlink()  # copied as a link, not followed


# -- endpoint records, with the processes recorded ---------------------------------------------------------------

class Process:
    def __init__(self, pid, code=None):
        self.pid, self.code = pid, code

    def poll(self):
        return self.code


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """processes.* recorded: start returns a process with the next pid, wait_healthy answers `healthy`."""
    calls, alive = [], set()
    state = {"healthy": True, "pid": 100, "exit": None}

    def start(command, log, cwd, env):
        state["pid"] += 1
        calls.append(("start", command, log, cwd, env))
        alive.add(state["pid"])
        return Process(state["pid"], state["exit"])

    def wait(url, process, timeout):
        calls.append(("wait_healthy", url, process.pid, timeout))
        if isinstance(state["healthy"], BaseException):
            raise state["healthy"]
        return state["healthy"]

    def stop(pid, marker, grace=10.0):
        calls.append(("stop", pid, marker))
        alive.discard(pid)

    monkeypatch.setattr(processes, "start", start)
    monkeypatch.setattr(processes, "wait_healthy", wait)
    monkeypatch.setattr(processes, "stop", stop)
    monkeypatch.setattr(processes, "alive", lambda pid, marker: pid in alive)
    monkeypatch.setattr(processes, "free_port", lambda: 5555)
    monkeypatch.setattr(processes, "stop_all_under", lambda folder: calls.append(("stop_all_under", folder)) or [])
    monkeypatch.setattr(processes, "tail", lambda log, lines=30: f"tail of {log.name}")
    backend = LocalBackend(tmp_path / "state")
    backend.calls, backend.alive, backend.machine = calls, alive, state
    return backend


def record(backend, name="ep"):
    return json.loads((backend.state / "endpoints" / name / "endpoint.json").read_text())


def test_a_new_endpoint_starts_its_router_and_records_it(machine, monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "x")
    endpoint = machine.ensure_endpoint("ep")
    folder = machine.state / "endpoints" / "ep"
    (_, command, log, cwd, env), wait = machine.calls
    assert command == [sys.executable, "-m", "mlops_actions.backends.router", str(folder / "endpoint.json")]
    assert (log, cwd) == (folder / "router.log", folder)
    assert env["PYTHONPATH"] == str(Path(local.__file__).resolve().parents[2]) and "SECRET_TOKEN" not in env
    assert wait == ("wait_healthy", "http://127.0.0.1:5555/", 101, 30)
    saved = record(machine)
    assert {k: saved[k] for k in ("name", "port", "traffic", "deployments", "router_pid")} == {
        "name": "ep", "port": 5555, "traffic": {}, "deployments": {}, "router_pid": 101}
    assert len(saved["key"]) == 43  # 32 random bytes, base64url without padding
    assert (folder / "endpoint.json").stat().st_mode & 0o777 == 0o600
    assert (endpoint.name, endpoint.scoring_uri, endpoint.traffic, endpoint.deployments, endpoint.mirror) == (
        "ep", "http://127.0.0.1:5555/score", {}, {}, {})
    assert not (folder / "endpoint.partial").exists()


def test_a_running_router_is_left_alone_and_a_dead_one_restarted(machine):
    machine.ensure_endpoint("ep")
    key = record(machine)["key"]
    machine.calls.clear()
    machine.ensure_endpoint("ep")
    assert machine.calls == []
    machine.alive.clear()
    machine.ensure_endpoint("ep")
    assert [c[0] for c in machine.calls] == ["start", "wait_healthy"]
    assert record(machine)["router_pid"] == 102 and record(machine)["key"] == key


def test_a_router_that_does_not_start(machine):
    machine.machine["healthy"] = False
    with pytest.raises(ActionError) as raised:
        machine.ensure_endpoint("ep")
    assert raised.value.title == "Endpoint did not start"
    assert str(raised.value) == "the router of endpoint ep did not start:\ntail of router.log"


@pytest.mark.parametrize("content", ["{", "[]", '{"name": "ep", "port": 1, "key": "k"}'])
def test_a_corrupt_record(machine, content):
    folder = machine.state / "endpoints" / "ep"
    folder.mkdir(parents=True)
    (folder / "endpoint.json").write_text(content)
    with pytest.raises(ActionError) as raised:
        machine.get_endpoint("ep")
    assert raised.value.title == "Endpoint record corrupt"
    assert str(raised.value).startswith(f"{folder / 'endpoint.json'} cannot be read (")
    assert str(raised.value).endswith("). Fix: `mlops-actions endpoints --stop ep` stops what it ran, then deploy it "
                                      "again.")
    machine.delete_endpoint("ep")  # a corrupt record can still be stopped
    assert machine.calls == [("stop_all_under", folder)] and not folder.exists()


def test_a_record_with_only_the_fields_read_and_one_that_is_not_a_record(machine):
    folder = machine.state / "endpoints" / "ep"
    folder.mkdir(parents=True)
    (folder / "endpoint.json").write_text('{"name": "ep", "port": 1, "key": "k", "deployments": {}}')
    assert machine.key("ep") == "k"
    (folder / "endpoint.json").write_text("[]")
    with pytest.raises(ActionError, match=r" cannot be read \(not an endpoint record\)\. Fix: "):
        machine.key("ep")


def test_an_endpoint_keeps_its_mirror(machine):
    machine.ensure_endpoint("ep")
    saved = record(machine)
    saved["mirror"] = {"green": 10}
    (machine.state / "endpoints" / "ep" / "endpoint.json").write_text(json.dumps(saved))
    assert machine.get_endpoint("ep").mirror == {"green": 10}


def test_a_router_is_checked_by_its_record_path_on_its_command_line(machine, monkeypatch):
    asked = []
    monkeypatch.setattr(processes, "alive", lambda pid, marker: asked.append((pid, marker)) or pid is not None)
    machine.ensure_endpoint("ep")
    machine.ensure_endpoint("ep")
    assert asked[-1] == (101, str(machine.state / "endpoints" / "ep" / "endpoint.json"))


def test_an_endpoint_that_is_gone(machine):
    assert machine.get_endpoint("ep") is None
    for call in (lambda: machine.key("ep"), lambda: machine.delete_deployment("ep", "blue")):
        with pytest.raises(ActionError) as raised:
            call()
        assert raised.value.title == "Endpoint not found"
        assert str(raised.value) == (f"endpoint ep is not in {machine.state}: it was stopped while this step ran, or "
                                     "never deployed. Fix: deploy it (again) with deploy-endpoint.")
    machine.delete_endpoint("ep")  # nothing to stop
    assert machine.calls == []


def test_the_environment_of_a_server_keeps_no_secret(machine, monkeypatch):
    for name in ("DB_PASS", "GH_PAT", "GITHUB_TOKEN", "INPUT_KEY", "AZURE_CLIENT_SECRET", "MY_PATH", "PATHX", "XHOME",
                 "ACTIONS_ID_TOKEN_REQUEST_URL", "LC_", "lc_all"):
        monkeypatch.setenv(name, "secret")
    for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "OMP_NUM_THREADS", "PYTHONUTF8"):
        monkeypatch.setenv(name, f"kept-{name}")
    env = machine._child_env(EXTRA="1")
    assert {k: v for k, v in env.items() if v == "secret"} == {}
    assert env["LC_ALL"] == "kept-LC_ALL" and env["PATH"] == "kept-PATH" and env["OMP_NUM_THREADS"] == \
        "kept-OMP_NUM_THREADS"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true" and env["EXTRA"] == "1"
    assert machine._server_env(Path(sys.executable), A="b") == machine._child_env(A="b")
    venv = machine._server_env(Path("/envs/x/bin/python"), A="b")
    assert venv["VIRTUAL_ENV"] == "/envs/x" and venv["PATH"] == os.pathsep.join(["/envs/x/bin", "kept-PATH"])
    assert venv["A"] == "b"


def spec(name="blue", **fields) -> DeploymentSpec:
    model = ModelVersion("churn", "1", "models:/churn/1", path="/models/churn/h1")
    return DeploymentSpec(endpoint="ep", name=name, model=model, **fields)


def test_a_deployment_is_a_server_on_a_private_socket_at_zero_percent(machine, monkeypatch, tmp_path):
    monkeypatch.setattr(environments, "gunicorn_options", lambda python: ["--opt"])
    machine.ensure_endpoint("ep")
    machine.calls.clear()
    machine.create_deployment(spec(instance_count=3, instance_type="", environment_variables={"MODE": "x"},
                                   request_settings={"request_timeout_ms": 900}))
    folder = machine.state / "endpoints" / "ep" / "blue"
    sock = processes.socket_path(str(machine.state), "ep", "blue")
    (_, command, log, cwd, env), wait = machine.calls
    assert command == [sys.executable, "-m", "gunicorn", "-b", f"unix:{sock}", "-n", f"unix:{sock}", "--opt", "-w",
                       "3", "--timeout", "300", "azureml_inference_server_http.server.entry:app"]
    assert (log, cwd) == (folder / "server.log", folder / "code")
    assert (env["AZUREML_MODEL_DIR"], env["AZUREML_ENTRY_SCRIPT"], env["PYTHONPATH"], env["MODE"]) == (
        "/models/churn/h1", str(folder / "code" / "score.py"), str(folder / "code"), "x")
    assert (folder / "code" / "score.py").read_text() == local.SCORER.read_text()
    assert wait == ("wait_healthy", f"unix:{sock}", 102, 120.0)
    assert record(machine)["deployments"]["blue"] == {
        "socket": str(sock), "pid": 102, "model": "models:/churn/1", "instance_count": 3, "instance_type": "local",
        "state": "ready", "request_timeout_ms": 900}
    assert record(machine)["traffic"] == {"blue": 0}


def test_a_deployment_with_its_own_code_and_environment(machine, monkeypatch, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "score.py").write_text("def init(): pass\n")
    python = tmp_path / "venv" / "bin" / "python"
    conda = object()
    built = []
    monkeypatch.setattr(environments, "ensure", lambda conda, state: built.append((conda, state)) or python)
    monkeypatch.setattr(environments, "gunicorn_options", lambda python: [])
    machine.ensure_endpoint("ep")
    machine.calls.clear()
    machine.create_deployment(spec(code_path=tmp_path / "src", scoring_script="score.py", instance_type="Big",
                                   conda_environment=conda))
    assert built == [(conda, machine.state)]
    (_, command, _, cwd, env), _ = machine.calls
    assert command[0] == str(python) and env["VIRTUAL_ENV"] == str(tmp_path / "venv")
    assert env["AZUREML_ENTRY_SCRIPT"] == str(cwd / "score.py") and (cwd / "score.py").is_file()
    assert record(machine)["deployments"]["blue"]["instance_type"] == "Big"


def test_a_deployment_is_recorded_as_starting_while_it_is_waited_for(machine, monkeypatch):
    machine.ensure_endpoint("ep")
    seen = []
    monkeypatch.setattr(processes, "wait_healthy", lambda url, process, timeout: seen.append(
        record(machine)["deployments"]["blue"]["state"]) or True)
    machine.create_deployment(spec())
    assert seen == ["starting"] and record(machine)["deployments"]["blue"]["state"] == "ready"


def test_one_percent_of_traffic_is_live(machine):
    machine.ensure_endpoint("ep")
    machine.create_deployment(spec())
    machine.set_traffic("ep", {"blue": 1})
    with pytest.raises(ActionError, match="^deployment blue takes 1% of endpoint ep's traffic"):
        machine.create_deployment(spec())


def test_a_server_in_a_venv_has_its_bin_first_even_without_path(machine, monkeypatch, tmp_path):
    monkeypatch.delenv("PATH")
    env = machine._server_env(tmp_path / "venv" / "bin" / "python")
    assert env["PATH"] == str(tmp_path / "venv" / "bin") + os.pathsep


def test_a_live_deployment_is_not_replaced(machine):
    machine.ensure_endpoint("ep")
    machine.create_deployment(spec())
    machine.set_traffic("ep", {"blue": 100})
    machine.calls.clear()
    with pytest.raises(ActionError) as raised:
        machine.create_deployment(spec())
    assert raised.value.title == "Deployment is live"
    assert str(raised.value) == ("deployment blue takes 100% of endpoint ep's traffic; deploy under another name "
                                 "(leave deployment-name empty to pick blue/green automatically).")
    assert machine.calls == []


def test_a_redeploy_under_a_used_name_stops_the_old_server_first(machine):
    machine.ensure_endpoint("ep")
    machine.create_deployment(spec())
    machine.calls.clear()
    machine.create_deployment(spec())
    sock = processes.socket_path(str(machine.state), "ep", "blue")
    assert [c[:3] if c[0] == "stop" else c[0] for c in machine.calls] == [
        ("stop", 102, f"unix:{sock}"), "start", "wait_healthy"]


@pytest.mark.parametrize("exit_code, how", [(3, "exited with code 3 after 2.5 s"),
                                            (None, "did not answer within 120 s")])
def test_a_server_that_does_not_start_leaves_nothing(machine, monkeypatch, exit_code, how):
    machine.ensure_endpoint("ep")
    monkeypatch.setattr(local, "time", types.SimpleNamespace(monotonic=iter([100.0, 102.5]).__next__))
    machine.machine.update(healthy=False, exit=exit_code)
    with pytest.raises(ActionError) as raised:
        machine.create_deployment(spec())
    assert raised.value.title == "Deployment failed"
    assert str(raised.value).startswith(f"the inference server for models:/churn/1 {how}")
    assert str(raised.value).endswith("; nothing was deployed and traffic is unchanged. Its log ends with:\ntail of "
                                      "server.log")
    assert record(machine)["deployments"] == {} and record(machine)["traffic"] == {}
    assert not (machine.state / "endpoints" / "ep" / "blue").exists()
    assert machine.calls[-1][0] == "stop"


def test_an_interrupted_deploy_leaves_no_record(machine):
    machine.ensure_endpoint("ep")
    machine.machine["healthy"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        machine.create_deployment(spec())
    assert record(machine)["deployments"] == {} and machine.calls[-1][0] == "stop"


def test_traffic_and_mirror_are_replaced(machine):
    machine.ensure_endpoint("ep")
    for name in ("blue", "green", "red"):
        machine.create_deployment(spec(name))
    machine.set_traffic("ep", {"blue": 100}, {"green": 10})
    assert (record(machine)["traffic"], record(machine)["mirror"]) == ({"blue": 100, "green": 0, "red": 0},
                                                                       {"green": 10})
    machine.set_traffic("ep", {"blue": 90, "red": 10, "gone": 5})  # no mirror given: kept
    assert (record(machine)["traffic"], record(machine)["mirror"]) == ({"blue": 90, "green": 0, "red": 10},
                                                                       {"green": 10})
    machine.set_traffic("ep", {"green": 100})  # now live: no longer mirrored
    assert record(machine)["mirror"] == {}
    endpoint = machine.get_endpoint("ep")
    assert endpoint.deployments == {"blue": "models:/churn/1", "green": "models:/churn/1", "red": "models:/churn/1"}


def test_deleting_a_deployment_stops_its_server_and_forgets_it(machine):
    machine.ensure_endpoint("ep")
    machine.create_deployment(spec("blue"))
    machine.create_deployment(spec("green"))
    machine.set_traffic("ep", {"blue": 100}, {"green": 20})
    machine.calls.clear()
    machine.delete_deployment("ep", "green")
    sock = processes.socket_path(str(machine.state), "ep", "green")
    assert machine.calls == [("stop", 103, f"unix:{sock}")]
    assert (record(machine)["deployments"].keys(), record(machine)["traffic"], record(machine)["mirror"]) == (
        {"blue"}, {"blue": 100}, {})
    assert not (machine.state / "endpoints" / "ep" / "green").exists()
    machine.delete_deployment("ep", "nothing")  # nothing to stop
    assert len(machine.calls) == 1


def test_deleting_an_endpoint_stops_everything(machine):
    machine.ensure_endpoint("ep")
    machine.create_deployment(spec("blue"))
    machine.create_deployment(spec("green"))
    machine.ensure_endpoint("other")
    machine.calls.clear()
    folder = machine.state / "endpoints" / "ep"
    machine.delete_endpoint("ep")
    assert [c[:2] for c in machine.calls] == [("stop", 102), ("stop", 103), ("stop", 101)]
    assert machine.calls[-1][2] == str(folder / "endpoint.json")
    assert not folder.exists() and machine.endpoints() == ["other"]


@pytest.mark.parametrize("content", ['{"name": "ep", "port": 1, "key": "k", "deployments": {}, "router_pid": 7}', "{"])
def test_deleting_an_endpoint_whose_folder_is_a_symlink_deletes_nothing_outside(machine, tmp_path, content):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "endpoint.json").write_text(content)
    (machine.state / "endpoints").mkdir(parents=True)
    (machine.state / "endpoints" / "ep").symlink_to(elsewhere)
    machine.delete_endpoint("ep")  # rmtree refuses a symlink; that refusal is not the user's problem
    assert (elsewhere / "endpoint.json").read_text() == content


def test_the_key_and_no_concurrency_limit(machine):
    machine.ensure_endpoint("ep")
    assert machine.key("ep") == record(machine)["key"]
    assert machine.concurrency_limit("ep", None) is None


# -- invoke, against a stand-in router on loopback ---------------------------------------------------------------

class Answering(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Answering.seen.append((self.path, body, dict(self.headers)))
        if body == b"slow":
            time.sleep(1)
        status = 500 if body.startswith(b"fail") else 200
        answer = {b"fail": b"bad", b"fail bytes": b"\xff bad"}.get(body, b"\xff ok")
        self.send_response(status)
        if body != b"fail bytes" and body != b"anonymous":  # an answer that names no deployment
            self.send_header("azureml-model-deployment", self.headers.get("azureml-model-deployment") or "blue")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *arguments):
        pass


def test_invoke_posts_as_a_client_does(machine):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        machine.ensure_endpoint("ep")
        saved = record(machine)
        saved["port"] = server.server_port
        (machine.state / "endpoints" / "ep" / "endpoint.json").write_text(json.dumps(saved))
        assert machine.invoke("ep", b"{}", None, "k", 5) == (200, "\ufffd ok", "blue")
        path, body, headers = Answering.seen[-1]
        assert (path, body, headers["Authorization"], headers["Content-Type"]) == ("/score", b"{}", "Bearer k",
                                                                                   "application/json")
        assert "azureml-model-deployment" not in headers
        assert machine.invoke("ep", b"fail", "green", "k", 5, {"X-Probe": "1"}) == (500, "bad", "green")
        assert Answering.seen[-1][2]["X-Probe"] == "1"
        assert machine.invoke("ep", b"anonymous", None, "k", 5) == (200, "\ufffd ok", "")
        assert machine.invoke("ep", b"fail bytes", None, "k", 5) == (500, "\ufffd bad", "")
        status, text, deployment = machine.invoke("ep", b"slow", None, "k", 0.2)  # the timeout is the caller's
        assert (status, deployment) == (0, "") and "timed out" in text
    finally:
        server.shutdown()
        server.server_close()
    status, text, deployment = machine.invoke("ep", b"{}", None, "k", 5)
    assert (status, deployment) == (0, "") and text.startswith("no answer: ")
