"""The monitor job: is the endpoint still serving the data it was trained on, and serving it well?

Local backend: the data the endpoint served (its router logs every request; smoke tests' are left out)
against the training data,
feature by feature: the population stability index (PSI, on the training data's deciles) and the
two-sample Kolmogorov-Smirnov test; and the endpoint's request count, error rate and latency. A job
summary with a table, a PNG chart, and a failure (or a warning) above the thresholds.

azureml backend: an Azure ML model monitor of the live deployment, which Azure ML runs on its schedule
(run it again after traffic moves: a monitor watches one deployment). Smoke tests' requests are collected
on Azure as any other; they carry x-ms-client-request-id mlops-actions-probe-<n>, to leave them out.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_actions import backends, cron, environment, github, paths
from mlops_actions.backends import ML_TASKS
from mlops_actions.inputs import Input, Inputs
from mlops_actions.smoke import percentile

if TYPE_CHECKING:
    from pandas import DataFrame

INPUTS = [
    Input("endpoint-name", "The online endpoint to watch.", required=True),
    Input("training-data", "The data the model was trained on: a CSV file with the feature columns."),
    Input("features", "The features to compare, separated by spaces or commas. Empty: every column the "
          "requests and the training data share."),
    Input("window-hours", "Only requests of the last this many hours. Empty: every logged request."),
    Input("psi-threshold", "Drift when a feature's population stability index is above this (0-1; 0.1 is a "
          "moderate shift, 0.2 a significant one).", "0.2"),
    Input("ks-threshold", "Drift when a feature's Kolmogorov-Smirnov statistic is above this (0-1).", "0.2"),
    Input("max-error-rate", "Alert when more than this share of requests failed (0-1).", "0.05"),
    Input("max-p95-ms", "Alert when the 95th percentile latency is above this (milliseconds). Empty: none."),
    Input("min-requests", "Fewer requests than this are too few to judge: warn, do not fail.", "30"),
    Input("fail-on-alert", "Fail the step on drift or an alert ('true'), or only warn ('false').", "true"),
    Input("chart", "Where to write the PNG chart (PSI per feature against the threshold).",
          "monitoring/drift.png"),
    Input("schedule", "azureml backend: when Azure ML runs the model monitor (cron, UTC).", "0 6 * * *"),
    Input("ks-p-value", "azureml backend: drift when the Kolmogorov-Smirnov test's p-value is below this (0-1): "
          "Azure ML's KS metric is the p-value, not the statistic ks-threshold compares.", "0.05"),
    Input("ml-task", "azureml backend: the model's task (classification, regression, question_answering). "
          "Empty: the deployed model version's ml_task tag."),
    Input("alert-emails", "azureml backend: who Azure ML e-mails when the monitor finds drift (addresses "
          "separated by spaces or commas). Empty: alerts only in Azure ML studio."),
    *backends.INPUTS,
]
OUTPUTS = {
    "drifted": "The features that drifted, space-separated.",
    "requests": "Requests compared.",
    "error-rate": "Share of requests that failed.",
    "report": "A JSON report: per-feature PSI and KS, and the endpoint's figures.",
    "chart": "The PNG chart.",
    "schedule": "azureml backend: the model monitor schedule created or updated.",
}
BINS = 10
EPSILON = 1e-4


def psi(expected, actual) -> float:
    """Population stability index of `actual` against `expected`, on `expected`'s deciles."""
    import numpy as np

    edges = np.unique(np.quantile(expected, np.linspace(0, 1, BINS + 1)))
    if len(edges) < 2:
        return 0.0
    edges[0], edges[-1] = -np.inf, np.inf
    share = lambda values: np.clip(np.histogram(values, edges)[0] / len(values), EPSILON, None)  # noqa: E731
    e, a = share(expected), share(actual)
    return float(np.sum((a - e) * np.log(a / e)))


def logged(log: Path):
    """The entries of the request log and of its rotated predecessor, read a line at a time; a line that is
    not an entry (a disk that filled mid-write) is skipped with one warning."""
    bad = 0
    for path in (log.with_name(log.name + ".1"), log):
        if not path.is_file():
            continue
        with open(path, errors="replace") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                    if isinstance(entry, dict) and isinstance(entry.get("time"), (int, float)):
                        yield entry
                        continue
                except ValueError:
                    pass
                bad += 1
    if bad:
        github.warning(f"{bad} line(s) of {log} are not request entries and were skipped.", title="Monitoring")


def served(log: Path, since: float) -> tuple[list[dict], DataFrame]:
    """The logged requests since `since`, and the rows they carried as a DataFrame."""
    import pandas as pd

    entries, frames = [], []
    for entry in logged(log):
        if entry["time"] < since or entry.get("probe") or entry.get("mirror"):
            continue  # smoke tests and mirrored copies are not the population the endpoint serves
        entries.append(entry)
        if entry.get("rows") and entry.get("columns"):
            frames.append(pd.DataFrame(entry["rows"], columns=entry["columns"]))
    return entries, pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def chart(path: Path, scores: dict[str, float], threshold: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(scores)
    colours = ["#d73a49" if scores[name] > threshold else "#2ea44f" for name in names]
    figure, axes = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    axes.barh(names, [scores[name] for name in names], color=colours)
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:g}")
    axes.set_xlabel("population stability index (served vs training data)")
    axes.invert_yaxis()
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)  # checked by the caller (paths.writable)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run(inputs: Inputs) -> int:
    endpoint = backends.endpoint_name(inputs)
    psi_threshold = inputs.defaulted_number("psi-threshold", low=0, high=1)
    ks_threshold = inputs.defaulted_number("ks-threshold", low=0, high=1)
    max_error_rate = inputs.defaulted_number("max-error-rate", low=0, high=1)
    max_p95 = inputs.number("max-p95-ms", low=0)
    window = inputs.number("window-hours", low=0)
    min_requests = int(inputs.defaulted_number("min-requests", low=1, integer=True))
    ks_p_value = inputs.defaulted_number("ks-p-value", low=0, high=1)
    failing = inputs.flag("fail-on-alert")
    if inputs["backend"] == "azureml":
        return on_azureml(inputs, endpoint, psi_threshold, ks_p_value)
    if not inputs["chart"].endswith(".png"):
        raise inputs.error("chart", "not a .png file", "give a path ending in .png, e.g. monitoring/drift.png")
    training_file = inputs.optional_file("training-data", Path.cwd())
    if training_file is None:
        raise inputs.error("training-data", "empty", "give the CSV the model was trained on")
    environment.require("monitor")
    import pandas as pd
    from scipy.stats import ks_2samp

    state = backends.local_workspace(inputs, "workspace")
    log = state / "endpoints" / endpoint / "requests.jsonl"
    if not (state / "endpoints" / endpoint / "endpoint.json").is_file():
        raise github.ActionError("Endpoint not found", f"endpoint {endpoint} does not exist in {state}. Fix: "
                                 "deploy it first with deploy-endpoint.")
    try:
        training = pd.read_csv(training_file)
    except (ValueError, UnicodeDecodeError) as error:
        raise inputs.error("training-data", f"not a CSV pandas can read ({str(error).splitlines()[0]})",
                           "give the CSV the model was trained on, with a header row") from None
    entries, data = served(log, time.time() - window * 3600 if window else 0)
    wanted = [f for f in inputs["features"].replace(",", " ").split() if f] or \
        [c for c in data.columns if c in training.columns]
    unknown = [f for f in wanted if f not in training.columns or f not in data.columns]
    if unknown and entries:
        raise inputs.error("features", f"{', '.join(unknown)} not in both the training data and the requests",
                           "name columns both have")
    if len(data) and not wanted:  # nothing to compare is not "no drift"
        served_columns = ", ".join(map(str, data.columns))
        raise inputs.error("training-data", f"no column in common with what {endpoint} served ({served_columns})",
                           "give the data the model was trained on, with the same column names")
    categorical = [f for f in wanted if len(data) and not (pd.api.types.is_numeric_dtype(training[f])
                                                           and pd.api.types.is_numeric_dtype(data[f]))]
    if categorical:  # PSI and KS here compare numbers
        github.annotate("notice", f"{', '.join(categorical)} are not numeric and are not compared for drift.",
                        title="Monitoring")
        wanted = [f for f in wanted if f not in categorical]
        if not wanted:  # nothing left to compare is not "no drift" either
            raise inputs.error("training-data", f"no numeric column in common with what {endpoint} served",
                               "monitor a model with numeric features, or name them in features")

    rows: list[dict[str, Any]] = []
    for feature in wanted if len(data) else []:
        expected = training[feature].dropna().to_numpy(dtype=float)
        actual = data[feature].dropna().to_numpy(dtype=float)
        test = ks_2samp(expected, actual)
        score = psi(expected, actual)
        rows.append({"feature": feature, "psi": round(score, 4), "ks": round(float(test.statistic), 4),
                     "p_value": float(test.pvalue), "training_mean": round(float(expected.mean()), 3),
                     "served_mean": round(float(actual.mean()), 3),
                     "drift": bool(score > psi_threshold or test.statistic > ks_threshold)})
    latencies = [e["ms"] for e in entries]
    errors = sum(e["status"] >= 400 for e in entries)
    figures: dict[str, Any]  # the report's figures: counts, shares and latencies (None: no request)
    figures = {"requests": len(entries), "rows": int(len(data)),
               "error_rate": round(errors / len(entries), 4) if entries else 0.0,
               "p50_ms": percentile(latencies, 50) if latencies else None,
               "p95_ms": percentile(latencies, 95) if latencies else None}
    drifted = [row["feature"] for row in rows if row["drift"]]
    alerts = [f"drift in {', '.join(drifted)}"] if drifted else []
    if entries and figures["error_rate"] > max_error_rate:
        alerts.append(f"error rate {figures['error_rate']:.1%} is above {max_error_rate:.1%}")
    if max_p95 is not None and figures["p95_ms"] and figures["p95_ms"] > max_p95:
        alerts.append(f"p95 latency {figures['p95_ms']:.1f} ms is above {max_p95:g} ms")

    chart_path = paths.writable("chart", inputs["chart"], Path.cwd() / inputs["chart"])
    if rows:
        chart(chart_path, {row["feature"]: row["psi"] for row in rows}, psi_threshold)
    report = {"endpoint": endpoint, **figures, "features": rows, "alerts": alerts}
    report_path = paths.writable("chart", inputs["chart"], chart_path.with_suffix(".json"))
    paths.make_folder("chart", inputs["chart"], report_path.parent)
    report_path.write_text(json.dumps(report, indent=2))

    too_few = len(entries) < min_requests
    level = "warning" if too_few or not failing else "error"
    for alert in alerts:
        github.annotate(level, f"{endpoint}: {alert}.", title="Monitoring alert")
    if too_few:
        github.warning(f"{endpoint} served {len(entries)} requests, fewer than min-requests {min_requests}: too "
                       "few to judge.", title="Monitoring")
    github.add_summary(summary(endpoint, rows, figures, alerts, chart_path if rows else None, psi_threshold,
                               min_requests if too_few else None))
    github.set_outputs({"drifted": " ".join(drifted), "requests": len(entries),
                        "error-rate": figures["error_rate"], "report": report_path,
                        "chart": chart_path if rows else ""})
    return 1 if alerts and failing and not too_few else 0


EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


def on_azureml(inputs: Inputs, endpoint: str, psi_threshold: float, ks_p_value: float) -> int:
    """Create or update the Azure ML model monitor of the endpoint's live deployment; Azure ML runs it."""
    training = inputs["training-data"]
    if training.startswith("azureml:") and training.lower().endswith(".csv"):
        raise inputs.error("training-data", "a CSV file, which Azure ML's model monitor cannot read (it reads "
                           "MLTable)", "give the CSV in the repository (it is uploaded as an mltable data asset), or "
                           "an mltable data asset (azureml:name:version) or folder")
    if not training.startswith("azureml:"):  # a CSV of the repository, uploaded as an mltable data asset
        training = str(inputs.optional_file("training-data", Path.cwd()) or "")
        if not training:
            raise inputs.error("training-data", "empty", "give the training CSV, or an mltable data asset "
                               "(azureml:name:version) or folder (azureml://datastores/.../paths/...)")
    if not cron.valid(inputs["schedule"]):
        raise inputs.error("schedule", "not a cron expression", "give five fields, e.g. '0 6 * * *' (minute hour "
                           "day month weekday)")
    task = inputs["ml-task"]
    if task and task not in ML_TASKS:
        raise inputs.error("ml-task", "not a task Azure ML monitors", f"use one of {', '.join(ML_TASKS)}")
    emails = tuple(filter(None, inputs["alert-emails"].replace(",", " ").split()))
    wrong = [email for email in emails if not EMAIL.match(email)]
    if wrong:
        raise inputs.error("alert-emails", f"{', '.join(wrong)} is not an e-mail address",
                           "give addresses separated by spaces or commas")
    environment.require("azureml")
    backend = backends.connect_azureml(inputs)  # inputs["backend"] is azureml (run)
    found = backend.get_endpoint(endpoint)
    if found is None or found.live is None:
        raise github.ActionError("Nothing to monitor", f"endpoint {endpoint} has no live deployment. Fix: deploy "
                                 "it first (with collect-data: true).")
    name = backend.monitor_schedule(endpoint, found.live, training, psi_threshold, ks_p_value, inputs["schedule"],
                                    task, emails)
    github.add_summary(f"### 👁️ Azure ML model monitor `{name}`: data drift of `{endpoint}/{found.live}` against "
                       f"`{inputs['training-data']}` (alerts when PSI > {psi_threshold:g} or the KS p-value < "
                       f"{ks_p_value:g}{'; e-mails ' + ', '.join(emails) if emails else ''}), on "
                       f"`{inputs['schedule']}`")
    github.set_outputs({"drifted": "", "requests": "", "error-rate": "", "report": "", "chart": "",
                        "schedule": name})
    return 0


def summary(endpoint, rows, figures, alerts, chart_path, threshold, too_few_below: int | None = None) -> str:
    """The job summary; below min-requests (too_few_below) the headline judges nothing, drift or health."""
    if too_few_below is not None:
        head = (f"### ⏳ Monitoring `{endpoint}`: too few requests to judge ({figures['requests']}, fewer than "
                f"min-requests {too_few_below})")
        if alerts:
            head += f"\n\nWhat they show, for what it is worth: {'; '.join(alerts)}."
    else:
        verdict = "; ".join(alerts) if alerts else "no drift"
        head = f"### {'🚨' if alerts else '✅'} Monitoring `{endpoint}`: {verdict}"
    parts = [head, github.markdown_table(
        ["Requests", "Rows", "Error rate", "p50 ms", "p95 ms"],
        [[figures["requests"], figures["rows"], f"{figures['error_rate']:.1%}", figures["p50_ms"] or "-",
          figures["p95_ms"] or "-"]])]
    if rows:
        parts.append(github.markdown_table(
            ["Feature", "PSI", "KS", "p-value", "Training mean", "Served mean", "Drift"],
            [[r["feature"], r["psi"], r["ks"], f"{r['p_value']:.2g}", r["training_mean"], r["served_mean"],
              "🚨 yes" if r["drift"] else "no"] for r in rows]))
        parts.append(f"Chart: `{chart_path}` (PSI per feature; threshold {threshold:g}).")
    return "\n\n".join(parts)
