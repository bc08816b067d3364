"""The metrics gate: conditions the new model (the challenger) must meet, on its own metrics (`auc >= 0.8`)
or against the champion, the model version that takes the most traffic on an endpoint (`auc >= champion.auc
- 0.005`), whose metrics are its version's `metric.<name>` tags (register-model writes them)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from mlops_actions import backends
from mlops_actions.inputs import Inputs

NUMBER = r"-?\d+(?:\.\d*)?(?:e-?\d+)?"
# the champion's metric is matched lazily: champion.auc-0.005 is auc minus 0.005, champion.f1-score is f1-score
CONDITION = re.compile(rf"^\s*(?P<metric>[\w.-]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?:(?P<value>{NUMBER})|"
                       rf"champion\.(?P<champion>[\w.-]+?)(?:\s*(?P<sign>[+-])\s*(?P<margin>{NUMBER}))?)\s*$")
OPERATORS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt,
             "<": operator.lt}
METRIC_TAG = "metric."


@dataclass
class Condition:
    text: str
    metric: str  # the challenger's metric
    op: str
    value: float  # the threshold, or the margin added to the champion's metric
    champion: str = ""  # the champion's metric, for a condition against the champion


@dataclass
class Champion:
    """The model serving the endpoint, or why there is none (model None)."""
    endpoint: str
    model: backends.ModelVersion | None
    reason: str = ""  # with no model: why

    @property
    def metrics(self) -> dict[str, float]:
        found = {}
        for key, value in (self.model.tags if self.model else {}).items():
            if key.startswith(METRIC_TAG):
                try:
                    found[key.removeprefix(METRIC_TAG)] = float(value)
                except ValueError:
                    pass
        return found


@dataclass
class Check:
    condition: Condition
    challenger: float
    champion: float | None  # the champion's value, for a condition against a champion there is
    held: bool | None  # None: skipped (no champion)
    found: str  # what was compared, or why it was skipped


def parse(inputs: Inputs, name: str = "metrics-gate") -> list[Condition]:
    conditions = []
    for text in filter(None, (part.strip() for part in re.split(r"[,\n]", inputs[name]))):
        match = CONDITION.match(text)
        if not match:
            raise inputs.error(name, f"{text!r} is not a condition", "write conditions like 'accuracy >= 0.7' or "
                               "'auc >= champion.auc - 0.005' (operators >=, <=, >, <, ==, !=)")
        if match["champion"] is not None:
            margin = float(match["margin"] or 0) * (-1 if match["sign"] == "-" else 1)
            conditions.append(Condition(text, match["metric"], match["op"], margin, match["champion"]))
        else:
            conditions.append(Condition(text, match["metric"], match["op"], float(match["value"])))
    return conditions


def find_champion(backend: backends.Backend, endpoint: str,
                  registry: Callable[[str], backends.Backend] | None = None) -> Champion:
    """The model version the endpoint's live deployment serves, or why there is none yet. A version it deploys from
    an Azure ML registry is read there (`registry` connects to one by name), with its tags."""
    found = backend.get_endpoint(endpoint)
    if found is None:
        return Champion(endpoint, None, f"endpoint {endpoint} does not exist yet")
    if found.live is None:
        return Champion(endpoint, None, f"no deployment of endpoint {endpoint} takes traffic")
    shared = backends.REGISTRY_REFERENCE.match(found.deployments.get(found.live, ""))
    if shared and shared["version"] and registry:
        return Champion(endpoint, registry(shared["registry"]).get_model(shared["name"], shared["version"]))
    return Champion(endpoint, backend.deployed_model(endpoint, found.live))


def champion_of(inputs: Inputs, endpoint: str) -> Champion:
    """The champion on `endpoint`, in the workspace champion-workspace names (else the inputs' own)."""
    return find_champion(backends.connect_champion(inputs), endpoint,
                         lambda name: backends.connect_registry(inputs, name))


def evaluate(inputs: Inputs, conditions: list[Condition], metrics: dict[str, float], champion: Champion | None,
             content_hash: str = "", name: str = "metrics-gate") -> list[Check]:
    """Each condition checked; those against a champion skipped when there is none (or it has the challenger's
    own files). A metric the challenger or the champion lacks is bad input."""
    checks = []
    for condition in conditions:
        if condition.metric not in metrics:
            raise inputs.error(name, f"metric {condition.metric!r} is not in the metrics file (it has: "
                               f"{', '.join(metrics) or 'nothing'})", "name a metric the training writes")
        value = metrics[condition.metric]
        if not condition.champion:
            checks.append(Check(condition, value, None, OPERATORS[condition.op](value, condition.value),
                                f"{condition.metric} = {value}"))
            continue
        if champion is None:
            raise inputs.error(name, f"{condition.text!r} compares with a champion, and no champion-endpoint is "
                               "given", "set champion-endpoint to the endpoint whose model is the champion")
        if champion.model is None:
            checks.append(Check(condition, value, None, None, f"skipped: no champion ({champion.reason})"))
            continue
        if content_hash and champion.model.tags.get(backends.CONTENT_HASH_TAG) == content_hash:
            checks.append(Check(condition, value, None, None, f"skipped: the champion {champion.model.uri} has the "
                                "challenger's own files"))
            continue
        theirs = champion.metrics
        if condition.champion not in theirs:
            raise inputs.error(name, f"the champion {champion.model.uri} (serving {champion.endpoint}) has no metric "
                               f"{condition.champion!r} (its metric tags: {', '.join(theirs) or 'none'})",
                               f"compare with a metric the champion was registered with, or register it with a "
                               f"metrics-file that has {condition.champion}")
        threshold = theirs[condition.champion] + condition.value
        margin = f" {'-' if condition.value < 0 else '+'} {abs(condition.value):g}" if condition.value else ""
        checks.append(Check(condition, value, theirs[condition.champion],
                            OPERATORS[condition.op](value, threshold),
                            f"{condition.metric} = {value}, champion.{condition.champion} = "
                            f"{theirs[condition.champion]}{margin}"))
    return checks


def table(checks: list[Check], metrics: dict[str, float], champion: Champion | None) -> tuple[list[str], list[list]]:
    """The challenger against the champion (a column when there is a champion-endpoint): one row per condition,
    then the metrics no condition names."""
    def number(value: float | None) -> str:
        return "–" if value is None else f"{value}"

    def result(held: bool | None) -> str:
        return "⏭️ skipped" if held is None else "✅ met" if held else "❌ not met"

    theirs = champion.metrics if champion else {}
    rows = [[check.condition.metric, number(check.challenger),
             number(check.champion if check.champion is not None else theirs.get(check.condition.metric)),
             check.condition.text, result(check.held)] for check in checks]
    named = {check.condition.metric for check in checks}
    rows += [[metric, number(value), number(theirs.get(metric)), "", ""] for metric, value in metrics.items()
             if metric not in named]
    header = ["Metric", "Challenger", "Champion", "Condition", "Result"]
    if champion is None:
        return [header[0], "Value", *header[3:]], [row[:2] + row[3:] for row in rows]
    return header, rows


def champion_line(champion: Champion) -> str:
    return (f"Champion: `{champion.model.uri}`, serving `{champion.endpoint}`" if champion.model else
            f"No champion yet ({champion.reason}): the conditions against it are skipped.")
