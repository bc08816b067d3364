"""The metrics gate in process: its conditions parsed, the champion found, each condition checked against the
challenger's metrics (and the champion's), and the table register-model and compare-models show."""

import pytest

from mlops_actions import backends, gate, register
from mlops_actions.backends import Endpoint, ModelVersion
from mlops_actions.gate import Champion, Check, Condition
from mlops_actions.inputs import Input, InputError, Inputs


def read(condition: str = "") -> Inputs:
    return Inputs.read(register.INPUTS, {"model-name": "churn", "model-path": "model", "metrics-gate": condition},
                       environ={})


def champion(**metrics) -> Champion:
    tags = {f"metric.{name}": str(value) for name, value in metrics.items()}
    model = ModelVersion("churn", "1", "models:/churn/1", tags=tags | {backends.CONTENT_HASH_TAG: "h1"})
    return Champion("prod", model)


# -- parse -------------------------------------------------------------------------------------------------------

def test_conditions_are_split_on_commas_and_lines():
    assert gate.parse(read("auc >= 0.8,\n rmse<2 ,, \n\nn != 3")) == [
        Condition("auc >= 0.8", "auc", ">=", 0.8), Condition("rmse<2", "rmse", "<", 2.0),
        Condition("n != 3", "n", "!=", 3.0)]


def test_an_empty_gate_is_no_condition():
    assert gate.parse(read()) == []


@pytest.mark.parametrize("text, metric, op, margin, theirs", [
    ("auc >= champion.auc", "auc", ">=", 0.0, "auc"), ("auc >= champion.auc - 0.005", "auc", ">=", -0.005, "auc"),
    ("auc>=champion.auc-0.005", "auc", ">=", -0.005, "auc"),
    ("rmse < champion.rmse + 1e-3", "rmse", "<", 0.001, "rmse"),
    ("f1-score > champion.f1-score", "f1-score", ">", 0.0, "f1-score"),
    ("recall <= champion.f1-score-0.1", "recall", "<=", -0.1, "f1-score"),
])
def test_a_condition_against_the_champion_keeps_its_metric_and_signed_margin(text, metric, op, margin, theirs):
    assert gate.parse(read(text)) == [Condition(text, metric, op, margin, theirs)]


@pytest.mark.parametrize("condition", ["auc => 0.8", "auc >= high", "auc", ">= 0.8", "auc >= 0.8 or 0.9",
                                       "auc >= champion.", "auc >= champion.auc * 2"])
def test_a_condition_that_does_not_parse_is_refused(condition):
    error = pytest.raises(InputError, gate.parse, read(condition)).value
    assert (error.name, error.problem) == ("metrics-gate", f"{condition!r} is not a condition")
    assert error.fix == ("write conditions like 'accuracy >= 0.7' or 'auc >= champion.auc - 0.005' (operators >=, "
                         "<=, >, <, ==, !=)")


# -- the champion ------------------------------------------------------------------------------------------------

def test_a_champions_metrics_are_its_numeric_metric_tags():
    model = ModelVersion("churn", "1", "models:/churn/1", tags={
        "metric.auc": "0.9", "metric.note": "good", "team": "risk", "metricn": "3", "metric.n": "4"})
    assert Champion("prod", model).metrics == {"auc": 0.9, "n": 4.0}
    assert Champion("prod", None, "none").metrics == {}


class Workspace:
    """An endpoint `prod` with these deployments (name -> (percent, model URI)); the models it reads, recorded."""

    def __init__(self, deployments: dict[str, tuple[int, str]] | None):
        self.deployments, self.read = deployments, []

    def get_endpoint(self, name):
        if self.deployments is None or name != "prod":
            return None
        return Endpoint(name, "", {d: share for d, (share, _) in self.deployments.items()},
                        {d: uri for d, (_, uri) in self.deployments.items()})

    def deployed_model(self, endpoint, deployment):
        self.read.append(("deployed_model", endpoint, deployment))
        return ModelVersion("churn", "7", "models:/churn/7")

    def get_model(self, name, version):
        self.read.append(("get_model", name, version))
        return ModelVersion(name, version, backends.registry_uri("shared", name, version))


def test_no_endpoint_is_no_champion_and_says_so():
    found = gate.find_champion(Workspace(None), "prod")
    assert (found.endpoint, found.model, found.reason) == ("prod", None, "endpoint prod does not exist yet")


def test_an_endpoint_without_traffic_has_no_champion():
    found = gate.find_champion(Workspace({"blue": (0, "models:/churn/1")}), "prod")
    assert (found.endpoint, found.model, found.reason) == ("prod", None, "no deployment of endpoint prod takes traffic")


def test_the_live_deployments_model_is_the_champion():
    workspace = Workspace({"blue": (30, "models:/churn/1"), "green": (70, "models:/churn/7")})
    found = gate.find_champion(workspace, "prod")
    assert (found.endpoint, found.model.uri, found.reason) == ("prod", "models:/churn/7", "")
    assert workspace.read == [("deployed_model", "prod", "green")]


def test_a_champion_deployed_from_a_registry_is_read_in_that_registry():
    workspace, registry, opened = Workspace({"blue": (100, backends.registry_uri("shared", "churn", "4"))}), \
        Workspace({}), []
    found = gate.find_champion(workspace, "prod", lambda name: opened.append(name) or registry)
    assert (found.endpoint, found.model.uri) == ("prod", "azureml://registries/shared/models/churn/versions/4")
    assert (opened, registry.read, workspace.read) == (["shared"], [("get_model", "churn", "4")], [])


def test_a_live_deployment_the_endpoint_lists_no_model_for_is_read_from_the_deployment():
    workspace = Workspace({"blue": (100, "models:/churn/1")})
    workspace.get_endpoint = lambda name: Endpoint(name, "", {"blue": 100}, {})
    found = gate.find_champion(workspace, "prod", lambda name: Workspace({}))
    assert found.model.uri == "models:/churn/7" and workspace.read == [("deployed_model", "prod", "blue")]


@pytest.mark.parametrize("uri, connects", [("azureml://registries/shared/models/churn", True),
                                           ("azureml://registries/shared/models/churn/versions/4", False)])
def test_a_registry_reference_without_a_version_or_without_a_registry_is_read_from_the_deployment(uri, connects):
    workspace = Workspace({"blue": (100, uri)})
    found = gate.find_champion(workspace, "prod", (lambda name: Workspace({})) if connects else None)
    assert found.model.uri == "models:/churn/7" and workspace.read == [("deployed_model", "prod", "blue")]


def test_the_champion_of_an_endpoint_is_found_in_the_champion_workspace_and_its_registries(monkeypatch):
    workspace, registry, opened = Workspace({"blue": (100, backends.registry_uri("shared", "churn", "4"))}), \
        Workspace({}), []
    inputs = read()
    monkeypatch.setattr(backends, "connect_champion", lambda given: workspace if given is inputs else None)
    monkeypatch.setattr(backends, "connect_registry",
                        lambda given, name: opened.append((given is inputs, name)) or registry)
    assert gate.champion_of(inputs, "prod").model.uri == "azureml://registries/shared/models/churn/versions/4"
    assert opened == [(True, "shared")]


@pytest.mark.parametrize("found, line", [
    (champion(auc=0.9), "Champion: `models:/churn/1`, serving `prod`"),
    (Champion("prod", None, "endpoint prod does not exist yet"),
     "No champion yet (endpoint prod does not exist yet): the conditions against it are skipped."),
])
def test_the_champion_line(found, line):
    assert gate.champion_line(found) == line


# -- evaluate ----------------------------------------------------------------------------------------------------

def evaluate(condition: str, metrics: dict, found: Champion | None = None, content_hash: str = "") -> list[Check]:
    inputs = read(condition)
    return gate.evaluate(inputs, gate.parse(inputs), metrics, found, content_hash)


def test_each_condition_is_checked_on_the_challengers_metric():
    assert evaluate("auc >= 0.8, rmse < 2", {"auc": 0.85, "rmse": 2.0}) == [
        Check(Condition("auc >= 0.8", "auc", ">=", 0.8), 0.85, None, True, "auc = 0.85"),
        Check(Condition("rmse < 2", "rmse", "<", 2.0), 2.0, None, False, "rmse = 2.0")]


@pytest.mark.parametrize("metrics, listed", [({"auc": 0.9, "f1": 0.7}, "auc, f1"), ({}, "nothing")])
def test_a_condition_on_a_metric_the_file_lacks_names_what_it_has(metrics, listed):
    error = pytest.raises(InputError, evaluate, "accuracy > 0.5", metrics).value
    assert (error.name, error.problem) == ("metrics-gate", f"metric 'accuracy' is not in the metrics file (it has: "
                                                           f"{listed})")
    assert error.fix == "name a metric the training writes"


def test_a_condition_against_a_champion_without_a_champion_endpoint_is_refused():
    error = pytest.raises(InputError, evaluate, "auc >= 0.5, auc >= champion.auc", {"auc": 0.9}).value
    assert (error.name, error.problem) == ("metrics-gate", "'auc >= champion.auc' compares with a champion, and no "
                                                           "champion-endpoint is given")
    assert error.fix == "set champion-endpoint to the endpoint whose model is the champion"


def test_errors_name_the_input_the_conditions_came_from():
    inputs = Inputs.read([Input("conditions", "A gate under another name.")], {"conditions": "auc > 0.5"}, environ={})
    for call in (lambda: gate.parse(Inputs.read([Input("conditions", "")], {"conditions": "auc"}, environ={}),
                                    "conditions"),
                 lambda: gate.evaluate(inputs, gate.parse(inputs, "conditions"), {}, None, name="conditions"),
                 lambda: gate.evaluate(inputs, [Condition("auc > champion.auc", "auc", ">", 0.0, "auc")], {"auc": 1},
                                       None, name="conditions"),
                 lambda: gate.evaluate(inputs, [Condition("auc > champion.f1", "auc", ">", 0.0, "f1")], {"auc": 1},
                                       champion(auc=1), name="conditions")):
        assert pytest.raises(InputError, call).value.name == "conditions"


def test_no_champion_yet_skips_the_conditions_against_it_and_checks_the_others():
    checks = evaluate("auc >= champion.auc, auc >= 0.95", {"auc": 0.9}, Champion("prod", None, "no traffic"))
    assert checks == [Check(Condition("auc >= champion.auc", "auc", ">=", 0.0, "auc"), 0.9, None, None,
                            "skipped: no champion (no traffic)"),
                      Check(Condition("auc >= 0.95", "auc", ">=", 0.95), 0.9, None, False, "auc = 0.9")]


def test_a_champion_with_the_challengers_own_files_is_skipped_and_another_is_compared_with():
    same, absolute = evaluate("auc > champion.auc, auc > 0.5", {"auc": 0.9}, champion(auc=0.9), "h1")
    assert (same.held, same.challenger, same.champion, same.found) == (
        None, 0.9, None, "skipped: the champion models:/churn/1 has the challenger's own files")
    assert (absolute.held, absolute.found) == (True, "auc = 0.9")
    [other] = evaluate("auc > champion.auc", {"auc": 0.9}, champion(auc=0.9), "h2")
    assert (other.held, other.champion) == (False, 0.9)


def test_a_champion_without_the_compared_metric_is_refused_with_the_metrics_it_has():
    error = pytest.raises(InputError, evaluate, "auc > champion.auc", {"auc": 0.9}, champion(f1=0.5, n=2)).value
    assert (error.name, error.problem) == ("metrics-gate", "the champion models:/churn/1 (serving prod) has no metric "
                                                           "'auc' (its metric tags: f1, n)")
    assert error.fix == ("compare with a metric the champion was registered with, or register it with a metrics-file "
                         "that has auc")
    error = pytest.raises(InputError, evaluate, "auc > champion.auc", {"auc": 0.9}, champion()).value
    assert error.problem.endswith("(its metric tags: none)")


@pytest.mark.parametrize("condition, held, found", [
    ("auc >= champion.auc", True, "auc = 0.9, champion.auc = 0.9"),
    ("auc >= champion.auc - 0.005", True, "auc = 0.9, champion.auc = 0.9 - 0.005"),
    ("auc >= champion.auc + 0.01", False, "auc = 0.9, champion.auc = 0.9 + 0.01"),
    ("auc < champion.f1 + 0.5", True, "auc = 0.9, champion.f1 = 0.5 + 0.5"),
])
def test_a_condition_against_the_champion_says_what_it_compared(condition, held, found):
    [check] = evaluate(condition, {"auc": 0.9}, champion(auc=0.9, f1=0.5), "other")
    assert (check.held, check.found) == (held, found)
    assert check.champion == (0.5 if "f1" in condition else 0.9) and check.challenger == 0.9


# -- the table ---------------------------------------------------------------------------------------------------

def test_without_a_champion_endpoint_the_table_has_no_champion_column():
    checks = evaluate("auc > 0.8, n < 2", {"auc": 0.9, "n": 3, "f1": 0.5})
    assert gate.table(checks, {"auc": 0.9, "n": 3, "f1": 0.5}, None) == (
        ["Metric", "Value", "Condition", "Result"],
        [["auc", "0.9", "auc > 0.8", "✅ met"], ["n", "3", "n < 2", "❌ not met"], ["f1", "0.5", "", ""]])


def test_with_a_champion_each_row_shows_its_value_beside_the_challengers():
    found = champion(auc=0.8, f1=0.4, n=2)
    metrics = {"auc": 0.9, "f1": 0.5, "n": 3, "rmse": 1.5}
    checks = evaluate("auc >= champion.auc, f1 > 0.45, n < champion.auc + 3", metrics, found, "other")
    assert gate.table(checks, metrics, found) == (
        ["Metric", "Challenger", "Champion", "Condition", "Result"],
        [["auc", "0.9", "0.8", "auc >= champion.auc", "✅ met"], ["f1", "0.5", "0.4", "f1 > 0.45", "✅ met"],
         ["n", "3", "0.8", "n < champion.auc + 3", "✅ met"], ["rmse", "1.5", "–", "", ""]])
    assert gate.table(checks[:2], metrics, found)[1][2:] == [["n", "3", "2.0", "", ""], ["rmse", "1.5", "–", "", ""]]


def test_a_skipped_condition_and_no_champion_yet_show_dashes():
    none = Champion("prod", None, "no traffic")
    checks = evaluate("auc >= champion.auc", {"auc": 0.9}, none)
    assert gate.table(checks, {"auc": 0.9}, none) == (
        ["Metric", "Challenger", "Champion", "Condition", "Result"],
        [["auc", "0.9", "–", "auc >= champion.auc", "⏭️ skipped"]])
