"""The Azure ML model monitor of a deployment: data drift of what it serves against the training data.

As Azure ML defines it (learn.microsoft.com/azure/machine-learning/how-to-monitor-model-performance and
reference-yaml-monitor): the reference data is an MLTable (a CSV in the repository is uploaded as an mltable
data asset, its MLTable file written beside it); one metric per signal, so the PSI and the Kolmogorov-Smirnov
test are two signals; Azure's KS metric is the test's p-value (drift when it is below the threshold), not
the statistic the local backend reports; alerts go to e-mail addresses.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path

from mlops_actions.backends import ML_TASKS
from mlops_actions.backends.azureml.connection import Connection, translated
from mlops_actions.github import ActionError

ML_TASK_TAG = "ml_task"  # a model version's tag naming its task, read when the input leaves it out
MLTABLE = """# a CSV with one header row, as Azure ML's model monitor reads reference data (MLTable)
paths:
  - file: ./{file}
transformations:
  - read_delimited:
      delimiter: ','
      encoding: utf8
      header: all_files_same_headers
"""


class Monitoring(Connection):
    def reference_data(self, endpoint: str, training_data: str) -> str:
        """The training data as an mltable reference: an azureml: reference as given, or a local CSV uploaded
        as a data asset named after the endpoint, versioned by its content (idempotent)."""
        if training_data.startswith("azureml:"):
            return training_data
        from azure.ai.ml.entities import Data

        csv = Path(training_data)
        version = hashlib.sha256(csv.read_bytes()).hexdigest()[:16]
        name = f"{endpoint}-training-data"
        with tempfile.TemporaryDirectory() as folder:
            shutil.copy2(csv, Path(folder) / csv.name)
            (Path(folder) / "MLTable").write_text(MLTABLE.format(file=csv.name))
            asset = self.client.data.create_or_update(Data(name=name, version=version, type="mltable", path=folder,
                                                           description=f"The training data of {endpoint}'s model"))
        return f"azureml:{asset.name}:{asset.version}"

    def ml_task(self, endpoint: str, deployment: str, given: str) -> str:
        """The monitored model's task: as given, else its model version's ml_task tag."""
        if given:
            return given
        model = str(self.client.online_deployments.get(deployment, endpoint).model or "")
        name, version = model.rsplit("/models/", 1)[-1].split("/versions/") if "/versions/" in model else ("", "")
        tags = (self.client.models.get(name, version=version).tags or {}) if name else {}
        task = tags.get(ML_TASK_TAG, "")
        if task not in ML_TASKS:
            raise ActionError("Model task unknown", f"the model of {endpoint}/{deployment} ({model}) has no "
                              f"{ML_TASK_TAG} tag naming its task, and ml-task is empty. Fix: set ml-task "
                              f"({', '.join(ML_TASKS)}), or register the model with the tag {ML_TASK_TAG}.")
        return task

    @translated("creating or updating the model monitor")
    def monitor_schedule(self, endpoint: str, deployment: str, training_data: str, psi: float, ks_p_value: float,
                         cron: str, ml_task: str = "", emails: tuple[str, ...] = ()) -> str:
        """An Azure ML model monitor of the deployment: its collected inputs against the training data, on a
        schedule; Azure ML runs it (serverless Spark) and alerts. Returns the schedule's name."""
        from azure.ai.ml import Input
        from azure.ai.ml.entities import (AlertNotification, CronTrigger, DataDriftMetricThreshold, DataDriftSignal,
                                          MonitorDefinition, MonitoringTarget, MonitorSchedule, NumericalDriftMetrics,
                                          ReferenceData, ServerlessSparkCompute)

        reference = self.reference_data(endpoint, training_data)
        task = self.ml_task(endpoint, deployment, ml_task)

        def signal(metric: NumericalDriftMetrics) -> DataDriftSignal:
            # the SDK types data_context as its MonitorDatasetContext enum, yet documents (and itself stores, when
            # it reads a monitor) the plain strings
            return DataDriftSignal(reference_data=ReferenceData(input_data=Input(type="mltable", path=reference),
                                                                data_context="training"),  # type: ignore[arg-type]
                                   metric_thresholds=DataDriftMetricThreshold(numerical=metric), alert_enabled=True)
        definition = MonitorDefinition(
            compute=ServerlessSparkCompute(instance_type="standard_e4s_v3", runtime_version="3.4"),
            monitoring_target=MonitoringTarget(ml_task=task, endpoint_deployment_id=f"azureml:{endpoint}:{deployment}"),
            monitoring_signals={
                "data-drift-psi": signal(NumericalDriftMetrics(population_stability_index=psi)),
                "data-drift-ks": signal(NumericalDriftMetrics(two_sample_kolmogorov_smirnov_test=ks_p_value))},
            alert_notification=AlertNotification(emails=list(emails)) if emails else None)
        name = f"{endpoint}-monitor"
        schedule = MonitorSchedule(name=name, trigger=CronTrigger(expression=cron), create_monitor=definition)
        self._wait(self.client.schedules.begin_create_or_update(schedule), f"Model monitor of {endpoint}")
        return name
