"""The Azure ML model monitor of a deployment."""

from __future__ import annotations

from mlops_actions.backends.azureml.connection import translated


class Monitoring:
    @translated("creating or updating the model monitor")
    def monitor_schedule(self, endpoint: str, deployment: str, training_data: str, psi: float, ks: float,
                         cron: str) -> str:
        """An Azure ML model monitor: data drift of the deployment's collected inputs against the training
        data, on a schedule; Azure ML runs it (serverless Spark) and alerts. Returns the schedule's name."""
        from azure.ai.ml import Input
        from azure.ai.ml.entities import (CronTrigger, DataDriftMetricThreshold, DataDriftSignal, MonitorDefinition,
                                          MonitoringTarget, MonitorSchedule, NumericalDriftMetrics, ReferenceData,
                                          ServerlessSparkCompute)

        baseline = ReferenceData(input_data=Input(type="uri_file", path=training_data), data_context="training")
        drift = DataDriftSignal(
            reference_data=baseline,
            metric_thresholds=DataDriftMetricThreshold(numerical=NumericalDriftMetrics(
                population_stability_index=psi, two_sample_kolmogorov_smirnov_test=ks)), alert_enabled=True)
        definition = MonitorDefinition(
            compute=ServerlessSparkCompute(instance_type="standard_e4s_v3", runtime_version="3.4"),
            monitoring_target=MonitoringTarget(ml_task="classification",
                                               endpoint_deployment_id=f"azureml:{endpoint}:{deployment}"),
            monitoring_signals={"data-drift": drift})
        schedule = MonitorSchedule(name=f"{endpoint}-monitor", trigger=CronTrigger(expression=cron),
                                   create_monitor=definition)
        self._wait(self.client.schedules.begin_create_or_update(schedule), f"Model monitor of {endpoint}")
        return schedule.name
