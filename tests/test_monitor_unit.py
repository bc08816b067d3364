"""The monitor in process: PSI, the request log it reads, what it refuses, the report, annotations, summary and
outputs of the local backend (a state folder and a request log written here, as the router writes them), and the
azureml backend's refusals and schedule (an in-memory workspace)."""

import json
import math
import time

import numpy as np
import pytest

from mlops_actions import backends, environment, monitor
from mlops_actions.backends import Endpoint
from mlops_actions.github import ActionError
from mlops_actions.inputs import InputError, Inputs

# -- PSI ---------------------------------------------------------------------------------------------------------


def test_psi_of_the_same_values_is_zero_and_of_a_constant_is_zero():
    values = np.arange(100.0)
    assert monitor.psi(values, values) == 0.0
    assert monitor.psi(np.full(50, 3.0), np.arange(50.0)) == 0.0


def test_psi_on_the_training_datas_deciles():
    """All served values in the top decile of 0..99: nine empty bins (EPSILON) and one with everything."""
    expected = 9 * (1e-4 - 0.1) * math.log(1e-4 / 0.1) + (1 - 0.1) * math.log(1 / 0.1)
    assert monitor.psi(np.arange(100.0), np.full(20, 95.0)) == pytest.approx(expected)
    # values beyond the training data's range fall in the outer bins
    assert monitor.psi(np.arange(100.0), np.full(20, 1000.0)) == pytest.approx(expected)
    assert monitor.psi(np.arange(100.0), np.full(20, -1000.0)) == pytest.approx(expected)


def test_psi_with_two_bins():
    expected = np.array([0.0] * 50 + [1.0] * 50)
    actual = np.array([0.0] * 25 + [1.0] * 75)
    assert monitor.psi(expected, actual) == pytest.approx((0.25 - 0.5) * math.log(0.25 / 0.5)
                                                          + (0.75 - 0.5) * math.log(0.75 / 0.5))


# -- the request log ---------------------------------------------------------------------------------------------

def entry(seconds_ago=0.0, **fields):
    return json.dumps({"time": time.time() - seconds_ago, "ms": 5.0, "status": 200, **fields})


def test_the_log_and_its_rotated_predecessor_are_read_oldest_first(tmp_path, capsys):
    log = tmp_path / "requests.jsonl"
    (tmp_path / "requests.jsonl.1").write_text(json.dumps({"time": 1, "n": "old"}) + "\n")
    log.write_text(json.dumps({"time": 2.5, "n": "new"}) + "\n")
    assert [e["n"] for e in monitor.logged(log)] == ["old", "new"]
    assert capsys.readouterr().out == ""


def test_lines_that_are_not_entries_are_skipped_with_one_warning(tmp_path, capsys):
    log = tmp_path / "requests.jsonl"
    log.write_text("\n".join([json.dumps({"time": 1}), '{"time": ', "[1, 2]", json.dumps({"time": "x"}),
                              json.dumps({"n": 1}), json.dumps({"time": 3})]) + "\n")
    assert [e["time"] for e in monitor.logged(log)] == [1, 3]
    assert capsys.readouterr().out == (f"warning [Monitoring] 4 line(s) of {log} are not request entries and were "
                                       "skipped.\n")


def test_no_log_is_no_entries(tmp_path):
    assert list(monitor.logged(tmp_path / "requests.jsonl")) == []


def test_served_leaves_out_old_probes_and_mirrored_copies(tmp_path):
    log = tmp_path / "requests.jsonl"
    log.write_text("\n".join([
        entry(7200, rows=[[1, 2]], columns=["a", "b"]), entry(0, rows=[[3, 4], [5, 6]], columns=["a", "b"]),
        entry(0, probe=True, rows=[[9, 9]], columns=["a", "b"]),
        entry(0, mirror=True, rows=[[9, 9]], columns=["a", "b"]),
        entry(0, status=500), entry(0, rows=[[7, 8]], columns=[]), entry(0, rows=[], columns=["a"]),
        entry(0, rows=[[0, 1]], columns=["a", "b"], probe=False, mirror=False)]) + "\n")
    entries, data = monitor.served(log, time.time() - 3600)
    assert len(entries) == 5
    assert data.to_dict("list") == {"a": [3, 5, 0], "b": [4, 6, 1]}
    assert list(data.index) == [0, 1, 2]
    entries, _ = monitor.served(log, 0)
    assert len(entries) == 6


def test_served_nothing(tmp_path):
    entries, data = monitor.served(tmp_path / "requests.jsonl", 0)
    assert entries == [] and data.empty


# -- the local job -----------------------------------------------------------------------------------------------

@pytest.fixture
def watched(runner, monkeypatch):
    """An endpoint's state and training data in the workspace; log(rows per request...) writes its requests.
    Charts are recorded, not drawn (one test draws one)."""
    workspace = runner.workspace
    (workspace / "training.csv").write_text("a,b\n" + "".join(f"{v},{v % 7}\n" for v in range(40)))
    folder = workspace / "state" / "endpoints" / "watched"
    folder.mkdir(parents=True)
    (folder / "endpoint.json").write_text("{}")
    charts = []
    monkeypatch.setattr(monitor, "chart", lambda path, scores, threshold: charts.append((path, scores, threshold)))
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: None)

    def log(*requests, columns=("a", "b")):
        (folder / "requests.jsonl").write_text("".join(
            json.dumps({"time": time.time(), "ms": ms, "status": status, "columns": list(columns), "rows": rows})
            + "\n" for rows, status, ms in requests))
    log.charts, log.runner, log.folder = charts, runner, folder
    return log


def same(count=10, status=200, ms=5.0, start=0):
    """`count` requests of 4 training rows each, from row `start` on: ten from row 0 are the training data."""
    return [([[v % 40, v % 40 % 7] for v in range(start + 4 * i, start + 4 * i + 4)], status, ms) for i in range(count)]


def watch(**flags) -> int:
    return monitor.run(Inputs.read(monitor.INPUTS, {"endpoint-name": "watched", "training-data": "training.csv",
                                                    "state-dir": "state", "min-requests": "10", **flags}, environ={}))


def test_a_healthy_endpoint_reports_no_drift(watched, capsys):
    watched(*same(10))
    assert watch() == 0
    report = json.loads((watched.runner.workspace / "monitoring" / "drift.json").read_text())
    assert {key: report[key] for key in ("endpoint", "requests", "rows", "error_rate", "p50_ms", "p95_ms", "alerts")} \
        == {"endpoint": "watched", "requests": 10, "rows": 40, "error_rate": 0.0, "p50_ms": 5.0, "p95_ms": 5.0,
            "alerts": []}
    assert [(row["feature"], row["psi"], row["ks"], row["p_value"], row["training_mean"], row["served_mean"],
             row["drift"]) for row in report["features"]] == [
        ("a", 0.0, 0.0, 1.0, 19.5, 19.5, False), ("b", 0.0, 0.0, 1.0, 2.875, 2.875, False)]
    chart = watched.runner.workspace / "monitoring" / "drift.png"
    assert watched.charts == [(chart, {"a": 0.0, "b": 0.0}, 0.2)]
    assert watched.runner.outputs() == {"drifted": "", "requests": "10", "error-rate": "0.0",
                                        "report": str(chart.with_suffix(".json")), "chart": str(chart)}
    assert watched.runner.summary() == (
        "### ✅ Monitoring `watched`: no drift\n\n| Requests | Rows | Error rate | p50 ms | p95 ms |\n"
        "|---|---|---|---|---|\n| 10 | 40 | 0.0% | 5.0 | 5.0 |\n\n"
        "| Feature | PSI | KS | p-value | Training mean | Served mean | Drift |\n|---|---|---|---|---|---|---|\n"
        "| a | 0.0 | 0.0 | 1 | 19.5 | 19.5 | no |\n| b | 0.0 | 0.0 | 1 | 2.875 | 2.875 | no |\n\n"
        f"Chart: `{chart}` (PSI per feature; threshold 0.2).\n\n")
    assert "::" not in capsys.readouterr().out.replace("::group::", "").replace("::endgroup::", "")


def drifted_requests(count=10):
    return [([[100 + v, v % 7] for v in range(4 * i, 4 * i + 4)], 200, 5.0) for i in range(count)]


def test_drift_in_one_feature_fails_and_is_named(watched, capsys):
    watched(*drifted_requests())
    assert watch(features="a, b", **{"chart": "out/chart.png"}) == 1
    report = json.loads((watched.runner.workspace / "out" / "chart.json").read_text())
    assert [row["drift"] for row in report["features"]] == [True, False]
    assert report["features"][0]["ks"] == 1.0
    assert report["features"][0]["psi"] == 8.2831  # monitor.psi(0..39, 100..139) is 8.28309 to five places
    assert report["alerts"] == ["drift in a"]
    assert "::error title=Monitoring alert::watched: drift in a." in capsys.readouterr().out
    assert watched.runner.outputs()["drifted"] == "a"
    assert watched.runner.summary().startswith("### 🚨 Monitoring `watched`: drift in a\n\n")
    assert "| a | " in watched.runner.summary() and " | 🚨 yes |" in watched.runner.summary()


def test_each_drift_measure_alerts_alone_above_its_threshold(watched):
    watched(*drifted_requests())
    assert watch(features="a", **{"psi-threshold": "1", "ks-threshold": "0.99"}) == 1  # KS is 1.0
    assert watch(features="a", **{"psi-threshold": "0.5", "ks-threshold": "1"}) == 1  # PSI is above 1
    assert watch(features="b", **{"psi-threshold": "0", "ks-threshold": "0"}) == 0  # the same: 0 is not above 0


def test_two_drifted_features_are_both_named(watched):
    watched(*[([[100 + v, 50 + v] for v in range(4 * i, 4 * i + 4)], 200, 5.0) for i in range(10)])
    assert watch() == 1
    assert watched.runner.outputs()["drifted"] == "a b"
    assert watched.runner.summary().startswith("### 🚨 Monitoring `watched`: drift in a, b\n\n")


def test_fail_on_alert_false_warns(watched, capsys):
    watched(*drifted_requests())
    assert watch(**{"fail-on-alert": "false"}) == 0
    assert "::warning title=Monitoring alert::watched: drift in a." in capsys.readouterr().out


def test_error_rate_and_latency_alerts_are_worded(watched, capsys):
    watched(*same(8), *same(2, status=503, ms=300.0, start=32))
    assert watch(**{"max-p95-ms": "299.5", "max-error-rate": "0.1"}) == 1
    out = capsys.readouterr().out
    assert "::error title=Monitoring alert::watched: error rate 20.0%25 is above 10.0%25." in out
    assert "::error title=Monitoring alert::watched: p95 latency 300.0 ms is above 299.5 ms." in out
    assert json.loads((watched.runner.workspace / "monitoring" / "drift.json").read_text())["error_rate"] == 0.2
    assert watched.runner.outputs()["error-rate"] == "0.2"
    assert "| 10 | 40 | 20.0% | 5.0 | 300.0 |" in watched.runner.summary()


def test_a_status_of_400_is_an_error_and_399_is_not(watched):
    watched(*same(9), *same(1, status=399, start=36))
    assert watch(**{"max-error-rate": "0"}) == 0
    watched(*same(9), *same(1, status=400, start=36))
    assert watch(**{"max-error-rate": "0"}) == 1


def test_too_few_requests_warn_and_judge_nothing(watched, capsys):
    watched(*drifted_requests(5))
    assert watch() == 0
    out = capsys.readouterr().out
    assert "::warning title=Monitoring alert::watched: drift in a." in out
    assert ("::warning title=Monitoring::watched served 5 requests, fewer than min-requests 10: too few to judge."
            in out)
    assert watched.runner.summary().startswith(
        "### ⏳ Monitoring `watched`: too few requests to judge (5, fewer than min-requests 10)\n\nWhat they show, "
        "for what it is worth: drift in a.\n\n")


def test_too_few_requests_show_every_alert_for_what_it_is_worth(watched):
    watched(*[([[100 + v, v % 7] for v in range(4 * i, 4 * i + 4)], 500, 5.0) for i in range(5)])
    assert watch() == 0
    assert "What they show, for what it is worth: drift in a; error rate 100.0% is above 5.0%.\n\n" in \
        watched.runner.summary()


def test_nothing_served_is_too_few_and_draws_nothing(watched, capsys):
    assert watch() == 0
    assert watched.charts == []
    assert watched.runner.outputs()["chart"] == ""
    report = json.loads((watched.runner.workspace / "monitoring" / "drift.json").read_text())
    assert (report["requests"], report["rows"], report["error_rate"], report["p50_ms"], report["p95_ms"],
            report["features"]) == (0, 0, 0.0, None, None, [])
    assert watched.runner.summary() == (
        "### ⏳ Monitoring `watched`: too few requests to judge (0, fewer than min-requests 10)\n\n"
        "| Requests | Rows | Error rate | p50 ms | p95 ms |\n|---|---|---|---|---|\n| 0 | 0 | 0.0% | - | - |\n\n")


def test_a_categorical_column_is_left_out_with_a_notice(watched, capsys):
    (watched.runner.workspace / "training.csv").write_text("a,c,d\n" + "".join(f"{v},x{v % 3},y\n" for v in range(40)))
    watched(*[([[v % 40, f"x{v % 3}", "y"] for v in range(4 * i, 4 * i + 4)], 200, 5.0) for i in range(10)],
            columns=("a", "c", "d"))
    assert watch() == 0
    assert "::notice title=Monitoring::c, d are not numeric and are not compared for drift." in \
        capsys.readouterr().out
    assert [row["feature"] for row in json.loads((watched.runner.workspace / "monitoring" / "drift.json")
                                                 .read_text())["features"]] == ["a"]


@pytest.mark.parametrize("flags, name, problem, fix", [
    ({"chart": "chart.svg"}, "chart", "not a .png file", "give a path ending in .png, e.g. monitoring/drift.png"),
    ({"training-data": ""}, "training-data", "empty", "give the CSV the model was trained on"),
    ({"features": "a, z"}, "features", "z not in both the training data and the requests", "name columns both have"),
])
def test_what_the_local_monitor_refuses(watched, flags, name, problem, fix):
    watched(*same(10))
    with pytest.raises(InputError) as raised:
        watch(**flags)
    assert (raised.value.name, raised.value.problem, raised.value.fix) == (name, problem, fix)


def test_features_named_before_anything_was_served_are_not_refused(watched):
    assert watch(features="z") == 0


@pytest.mark.parametrize("flags, code", [
    ({"max-p95-ms": "0.5"}, 1), ({"window-hours": "0.5"}, 0), ({"min-requests": "1"}, 0),
    ({"psi-threshold": "1", "ks-threshold": "1", "ks-p-value": "1", "max-error-rate": "1"}, 0),
    ({"psi-threshold": "0", "ks-threshold": "0", "ks-p-value": "0", "max-error-rate": "0"}, 0)])
def test_thresholds_at_their_bounds_are_taken(watched, flags, code):
    watched(*same(10))
    assert watch(**flags) == code


def test_figures_are_rounded_as_reported(watched):
    (watched.runner.workspace / "training.csv").write_text("a\n" + "0\n0\n1\n" * 10)
    watched(([[0]], 200, 5.0), ([[1]], 500, 5.0), ([[1]], 200, 5.0), columns=("a",))
    assert watch(**{"min-requests": "1", "max-error-rate": "1", "psi-threshold": "1", "ks-threshold": "1"}) == 0
    text = (watched.runner.workspace / "monitoring" / "drift.json").read_text()
    assert text.startswith('{\n  "endpoint": "watched",\n  "requests": 3,')
    report = json.loads(text)
    [row] = report["features"]
    assert (row["ks"], row["training_mean"], row["served_mean"], report["error_rate"]) == (0.3333, 0.333, 0.667,
                                                                                           0.3333)


def test_latency_percentiles_are_nearest_ranks(watched):
    (watched.folder / "requests.jsonl").write_text("".join(
        json.dumps({"time": time.time(), "ms": float(ms), "status": 200}) + "\n" for ms in range(100, 0, -1)))
    assert watch() == 0
    report = json.loads((watched.runner.workspace / "monitoring" / "drift.json").read_text())
    assert (report["p50_ms"], report["p95_ms"]) == (50.0, 95.0)


def test_a_boolean_feature_is_compared_as_numbers(watched):
    (watched.runner.workspace / "training.csv").write_text("flag\n" + "True\nFalse\n" * 20)
    watched(*[([[True], [False]], 200, 5.0)] * 10, columns=("flag",))
    assert watch() == 0
    report = json.loads((watched.runner.workspace / "monitoring" / "drift.json").read_text())
    assert [(row["feature"], row["psi"], row["training_mean"]) for row in report["features"]] == [("flag", 0.0, 0.5)]


def test_a_log_line_that_is_not_utf8_is_skipped(tmp_path, capsys):
    log = tmp_path / "requests.jsonl"
    log.write_bytes(b'{"time": 1, "x": "\xff\xfe"}\n\xff\n' + json.dumps({"time": 2}).encode() + b"\n")
    assert [entry["time"] for entry in monitor.logged(log)] == [1, 2]
    assert "1 line(s) of" in capsys.readouterr().out


def test_the_chart_and_its_report_are_written_inside_the_workspace(watched):
    watched(*same(10))
    with pytest.raises(InputError) as raised:
        watch(chart="../outside.png")
    assert (raised.value.name, raised.value.value) == ("chart", "../outside.png")
    (watched.runner.workspace / "monitoring").mkdir()
    (watched.runner.workspace / "monitoring" / "drift.json").symlink_to(watched.runner.workspace / "elsewhere.json")
    with pytest.raises(InputError) as raised:
        watch()
    assert (raised.value.name, raised.value.value) == ("chart", "monitoring/drift.png")
    assert "symbolic link" in raised.value.problem


def test_window_hours_are_hours_of_3600_seconds(watched):
    (watched.folder / "requests.jsonl").write_text("".join(
        json.dumps({"time": time.time() - age, "ms": 5.0, "status": 200}) + "\n" for age in (36005, 35995, 0.5)))
    assert watch(**{"window-hours": "10", "min-requests": "1"}) == 0
    assert json.loads((watched.runner.workspace / "monitoring" / "drift.json").read_text())["requests"] == 2


def test_without_a_window_every_logged_request_counts(watched):
    (watched.folder / "requests.jsonl").write_text(json.dumps({"time": 0, "ms": 5.0, "status": 200}) + "\n")
    assert watch(**{"min-requests": "1"}) == 0
    assert json.loads((watched.runner.workspace / "monitoring" / "drift.json").read_text())["requests"] == 1


def test_a_feature_the_requests_lack_is_refused(watched):
    (watched.runner.workspace / "training.csv").write_text("a,b,c\n" + "".join(f"{v},{v % 7},1\n" for v in range(40)))
    watched(*same(10))
    with pytest.raises(InputError) as raised:
        watch(features="a c z")
    assert raised.value.problem == "c, z not in both the training data and the requests"


def test_two_alerts_are_both_the_headline(watched):
    watched(*[([[100 + v, v % 7] for v in range(4 * i, 4 * i + 4)], 500, 5.0) for i in range(10)])
    assert watch() == 1
    assert watched.runner.summary().startswith("### 🚨 Monitoring `watched`: drift in a; error rate 100.0% is above "
                                               "5.0%\n\n")


def test_a_csv_error_is_named_by_its_first_line(watched, monkeypatch):
    import pandas

    def unreadable(path):
        raise ValueError("first line\nsecond line")
    monkeypatch.setattr(pandas, "read_csv", unreadable)
    with pytest.raises(InputError) as raised:
        watch()
    assert raised.value.problem == "not a CSV pandas can read (first line)"


def test_training_data_that_is_not_a_csv(watched):
    (watched.runner.workspace / "training.csv").write_bytes(b"\xff\xfe\x00a\nb")
    with pytest.raises(InputError) as raised:
        watch()
    assert raised.value.problem.startswith("not a CSV pandas can read (") and "\n" not in raised.value.problem
    assert raised.value.fix == "give the CSV the model was trained on, with a header row"


def test_no_column_in_common(watched):
    watched(*same(10), columns=("x", "y"))
    with pytest.raises(InputError) as raised:
        watch()
    assert (raised.value.name, raised.value.problem) == ("training-data", "no column in common with what watched "
                                                         "served (x, y)")
    assert raised.value.fix == "give the data the model was trained on, with the same column names"


def test_only_categorical_columns_in_common(watched):
    watched(*[([["u", "v"]] * 4, 200, 5.0)] * 10)
    with pytest.raises(InputError) as raised:
        watch()
    assert raised.value.problem == "no numeric column in common with what watched served"
    assert raised.value.fix == "monitor a model with numeric features, or name them in features"


def test_an_endpoint_that_does_not_exist(watched):
    with pytest.raises(ActionError) as raised:
        watch(**{"endpoint-name": "other"})
    assert raised.value.title == "Endpoint not found"
    assert str(raised.value) == (f"endpoint other does not exist in {watched.runner.workspace / 'state'}. Fix: "
                                 "deploy it first with deploy-endpoint.")


@pytest.mark.parametrize("flags, name", [
    ({"psi-threshold": "1.1"}, "psi-threshold"), ({"ks-threshold": "-0.1"}, "ks-threshold"),
    ({"max-error-rate": "2"}, "max-error-rate"), ({"max-p95-ms": "-1"}, "max-p95-ms"),
    ({"window-hours": "-1"}, "window-hours"), ({"min-requests": "0"}, "min-requests"),
    ({"ks-p-value": "1.5"}, "ks-p-value"), ({"fail-on-alert": "perhaps"}, "fail-on-alert"),
    ({"psi-threshold": "-0.1"}, "psi-threshold"), ({"ks-threshold": "1.5"}, "ks-threshold"),
    ({"max-error-rate": "-0.1"}, "max-error-rate"), ({"ks-p-value": "-0.1"}, "ks-p-value"),
    ({"min-requests": "1.5"}, "min-requests"),
])
def test_thresholds_out_of_their_bounds(watched, flags, name):
    with pytest.raises(InputError) as raised:
        watch(**flags)
    assert raised.value.name == name


def test_the_chart_is_drawn(tmp_path, monkeypatch):
    import struct

    from matplotlib import colors
    from matplotlib.figure import Figure

    saved, save = [], Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: saved.append(figure) or save(figure, *a, **k))
    path = tmp_path / "deep" / "er" / "chart.png"
    monitor.chart(path, {"a": 0.5, "b": 0.2, "c": 0.1}, 0.2)
    png = path.read_bytes()
    assert png.startswith(b"\x89PNG") and struct.unpack(">II", png[16:24]) == (800, 285)  # 8 x (0.45 * 3 + 1.5) in
    [axes] = saved[0].axes
    assert [colors.to_hex(bar.get_facecolor()) for bar in axes.patches] == ["#d73a49", "#2ea44f", "#2ea44f"]
    assert [bar.get_width() for bar in axes.patches] == [0.5, 0.2, 0.1]
    [line] = axes.lines
    assert (colors.to_hex(line.get_color()), line.get_linestyle(), line.get_label(), line.get_xdata()[0]) == (
        "#000000", "--", "threshold 0.2", 0.2)
    assert axes.get_xlabel() == "population stability index (served vs training data)"
    assert axes.yaxis_inverted() and axes.get_legend()._loc == 4  # lower right
    import matplotlib.pyplot as plt

    assert saved[0].number not in plt.get_fignums()  # closed


# -- the azureml job ---------------------------------------------------------------------------------------------

class Workspace:
    name = "azureml"

    def __init__(self, endpoint):
        self.endpoint, self.scheduled = endpoint, []

    def get_endpoint(self, name):
        return self.endpoint if self.endpoint and self.endpoint.name == name else None

    def monitor_schedule(self, *arguments):
        self.scheduled.append(arguments)
        return "watched-monitor"


@pytest.fixture
def workspace(monkeypatch, runner):
    found = Workspace(Endpoint("watched", "u", {"blue": 0, "green": 100}, {"blue": "m:1", "green": "m:2"}))
    needed = []
    monkeypatch.setattr(backends, "connect_azureml", lambda inputs: found if inputs["backend"] == "azureml" else None)
    monkeypatch.setattr(environment, "require", lambda extra, modules=None: needed.append(extra))
    (runner.workspace / "training.csv").write_text("a\n1\n")
    found.needed, found.runner = needed, runner
    return found


def on_azureml(**flags) -> int:
    return monitor.run(Inputs.read(monitor.INPUTS, {"endpoint-name": "watched", "backend": "azureml",
                                                    "training-data": "training.csv", **flags}, environ={}))


def test_a_model_monitor_of_the_live_deployment(workspace):
    assert on_azureml(**{"alert-emails": "a@x.org, b@y.io", "ml-task": "classification", "psi-threshold": "0.1",
                         "ks-p-value": "0.01", "schedule": "0 5 * * 1"}) == 0
    assert workspace.needed == ["azureml"]
    assert workspace.scheduled == [("watched", "green", str(workspace.runner.workspace / "training.csv"), 0.1, 0.01,
                                    "0 5 * * 1", "classification", ("a@x.org", "b@y.io"))]
    assert workspace.runner.summary() == (
        "### 👁️ Azure ML model monitor `watched-monitor`: data drift of `watched/green` against `training.csv` "
        "(alerts when PSI > 0.1 or the KS p-value < 0.01; e-mails a@x.org, b@y.io), on `0 5 * * 1`\n\n")
    assert workspace.runner.outputs() == {"drifted": "", "requests": "", "error-rate": "", "report": "", "chart": "",
                                          "schedule": "watched-monitor"}


def test_a_data_asset_is_passed_as_it_is_and_defaults_apply(workspace):
    assert on_azureml(**{"training-data": "azureml:training:3"}) == 0
    assert workspace.scheduled == [("watched", "green", "azureml:training:3", 0.2, 0.05, "0 6 * * *", "", ())]
    assert "(alerts when PSI > 0.2 or the KS p-value < 0.05), on `0 6 * * *`" in workspace.runner.summary()


@pytest.mark.parametrize("flags, name, problem, fix", [
    ({"training-data": "azureml:data.CSV"}, "training-data", "a CSV file, which Azure ML's model monitor cannot read "
     "(it reads MLTable)", "give the CSV in the repository (it is uploaded as an mltable data asset), or an mltable "
     "data asset (azureml:name:version) or folder"),
    ({"training-data": ""}, "training-data", "empty", "give the training CSV, or an mltable data asset "
     "(azureml:name:version) or folder (azureml://datastores/.../paths/...)"),
    ({"schedule": "0 6 * *"}, "schedule", "not a cron expression", "give five fields, e.g. '0 6 * * *' (minute hour "
     "day month weekday)"),
    ({"ml-task": "ranking"}, "ml-task", "not a task Azure ML monitors", "use one of classification, regression, "
     "question_answering"),
    ({"alert-emails": "a@x.org,nobody, c@d"}, "alert-emails", "nobody, c@d is not an e-mail address",
     "give addresses separated by spaces or commas"),
])
def test_what_the_azureml_monitor_refuses(workspace, flags, name, problem, fix):
    with pytest.raises(InputError) as raised:
        on_azureml(**flags)
    assert (raised.value.name, raised.value.problem, raised.value.fix) == (name, problem, fix)
    assert workspace.needed == [] and workspace.scheduled == []


@pytest.mark.parametrize("endpoint", [None, Endpoint("watched", "u", {"blue": 0}, {"blue": "m:1"})])
def test_nothing_to_monitor(workspace, endpoint):
    workspace.endpoint = endpoint
    with pytest.raises(ActionError) as raised:
        on_azureml()
    assert raised.value.title == "Nothing to monitor"
    assert str(raised.value) == ("endpoint watched has no live deployment. Fix: deploy it first (with collect-data: "
                                 "true).")
