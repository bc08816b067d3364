"""shift-traffic in process, against an in-memory backend: what it refuses, what it sets, in what order, and what
it reports."""

import pytest

from fake_backend import FakeBackend
from mlops_actions import backends, environment, traffic
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs


def test_an_endpoint_that_does_not_exist_is_named_with_the_fix():
    with pytest.raises(ActionError) as raised:
        traffic.shift(FakeBackend(), "gone", {"blue": 100}, False)
    assert raised.value.title == "Endpoint not found"
    assert str(raised.value) == ("endpoint gone does not exist on the fake backend. Fix: deploy it first with "
                                 "deploy-endpoint.")


@pytest.mark.parametrize("split, mirror, unknown", [
    ({"red": 100}, None, "red"), ({"blue": 100}, {"red": 10}, "red"), ({"red": 50, "pink": 50}, None, "red, pink")])
def test_a_deployment_the_endpoint_lacks_changes_nothing(split, mirror, unknown):
    backend = FakeBackend({"blue": 100, "green": 0})
    with pytest.raises(ActionError) as raised:
        traffic.shift(backend, "ep", split, True, mirror)
    assert raised.value.title == "Deployment not found"
    assert str(raised.value) == (f"endpoint ep has no deployment {unknown} (it has: blue, green); traffic is "
                                 "unchanged.")
    assert backend.calls == []


def test_an_endpoint_without_deployments_says_it_has_none():
    with pytest.raises(ActionError, match=r"\(it has: none\)"):
        traffic.shift(FakeBackend({}), "ep", {"blue": 100}, False)


def test_mirroring_to_a_deployment_that_takes_live_traffic_is_refused():
    backend = FakeBackend({"blue": 50, "green": 50})
    with pytest.raises(ActionError) as raised:
        traffic.shift(backend, "ep", {"blue": 50, "green": 50}, False, {"green": 10})
    assert raised.value.title == "Mirror to a live deployment"
    with pytest.raises(ActionError, match="^blue, green takes live traffic"):
        traffic.shift(backend, "ep", {"blue": 50, "green": 50}, False, {"blue": 5, "green": 5})
    assert str(raised.value) == ("green takes live traffic and cannot be mirrored to as well (Azure ML mirrors only "
                                 "to a deployment without live traffic); traffic is unchanged.")
    assert backend.calls == []


def test_a_mirror_to_a_deployment_without_live_traffic_is_set():
    backend = FakeBackend({"blue": 100, "green": 0})
    after, retired = traffic.shift(backend, "ep", {"blue": 100}, False, {"green": 10})
    assert backend.calls == [("set_traffic", {"blue": 100}, {"green": 10})]
    assert after.mirror == {"green": 10} and retired == []


def test_no_new_split_keeps_the_live_traffic_and_no_mirror_keeps_the_mirror():
    backend = FakeBackend({"blue": 100, "green": 0, "red": 0}, mirror={"green": 10})
    after, retired = traffic.shift(backend, "ep", None, True)
    assert backend.calls == [("set_traffic", {"blue": 100}, {"green": 10}), ("delete_deployment", "red")]
    assert retired == ["red"] and after.traffic == {"blue": 100, "green": 0}


def test_a_mirrored_deployment_that_now_takes_live_traffic_is_no_longer_mirrored():
    backend = FakeBackend({"blue": 100, "green": 0}, mirror={"green": 10})
    after, _ = traffic.shift(backend, "ep", {"green": 100}, False)
    assert backend.calls == [("set_traffic", {"green": 100}, {})]
    assert after.mirror == {}


def test_retire_deletes_only_idle_deployments_and_only_after_traffic_moved():
    backend = FakeBackend({"blue": 100, "green": 0, "red": 0, "grey": 0})
    after, retired = traffic.shift(backend, "ep", {"green": 100}, True, {"red": 5})
    assert backend.calls == [("set_traffic", {"green": 100}, {"red": 5}), ("delete_deployment", "blue"),
                             ("delete_deployment", "grey")]
    assert retired == ["blue", "grey"]
    assert after.deployments == {"green": "models:/m/2", "red": "models:/m/3"}  # the endpoint as it is now


def test_without_retire_nothing_is_deleted():
    backend = FakeBackend({"blue": 100, "green": 0})
    _, retired = traffic.shift(backend, "ep", {"green": 100}, False)
    assert retired == [] and [call[0] for call in backend.calls] == ["set_traffic"]


def shift(monkeypatch, fake, **flags) -> int:
    connected = []
    monkeypatch.setattr(backends, "connect", lambda inputs: connected.append(inputs["backend"]) or fake)
    return traffic.run(Inputs.read(traffic.INPUTS, {"endpoint-name": "edge", **flags}, environ={}))


def test_run_reports_the_split_the_mirror_and_the_retired(monkeypatch, runner, capsys):
    backend = FakeBackend({"blue": 100, "green": 0, "red": 0, "grey": 0}, endpoint="edge")
    assert shift(monkeypatch, backend, traffic="green=100", mirror="red=10", retire="true") == 0
    assert capsys.readouterr().out == "Endpoint edge traffic: green=100; mirrored: red=10; retired blue grey\n"
    assert runner.summary() == ("### 🔀 Traffic of `edge`: green=100\n\nMirrored (answers nobody): red=10\n\n"
                                "Retired: `blue`, `grey`\n\n")
    assert runner.outputs() == {"traffic": "green=100", "mirror": "red=10", "retired": "blue grey"}


def test_run_with_traffic_off_and_nothing_mirrored_or_retired(monkeypatch, runner, capsys):
    backend = FakeBackend({"blue": 0, "green": 0}, endpoint="edge")
    assert shift(monkeypatch, backend, mirror="off") == 0
    assert capsys.readouterr().out == "Endpoint edge traffic: none\n"
    assert runner.summary() == "### 🔀 Traffic of `edge`: none\n\n"
    assert runner.outputs() == {"traffic": "", "mirror": "", "retired": ""}
    assert backend.calls == [("set_traffic", {}, {})]


def test_run_needs_a_split_or_a_mirror(monkeypatch):
    with pytest.raises(InputError) as raised:
        shift(monkeypatch, FakeBackend({"blue": 100}, endpoint="edge"))
    assert (raised.value.name, raised.value.problem) == ("traffic", "empty")
    assert raised.value.fix == "give the new split, e.g. 'green' or 'blue=90,green=10' (or a mirror)"


def test_run_with_a_mirror_alone_keeps_the_live_split(monkeypatch, runner):
    backend = FakeBackend({"blue": 100, "green": 0}, endpoint="edge")
    assert shift(monkeypatch, backend, mirror="green=20") == 0
    assert backend.calls == [("set_traffic", {"blue": 100}, {"green": 20})]


@pytest.mark.parametrize("chosen, required", [("local", []), ("azureml", ["azureml"])])
def test_only_the_azureml_backend_needs_its_packages(monkeypatch, runner, chosen, required):
    needed = []
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: needed.append(extra))
    assert shift(monkeypatch, FakeBackend({"blue": 100}, endpoint="edge"), traffic="blue", backend=chosen) == 0
    assert needed == required


def test_run_checks_the_endpoint_name_before_connecting(monkeypatch):
    with pytest.raises(InputError) as raised:
        shift(monkeypatch, FakeBackend({"blue": 100}, endpoint="edge"), **{"endpoint-name": "-bad", "traffic": "blue"})
    assert raised.value.name == "endpoint-name"
