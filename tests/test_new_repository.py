"""A new repository, not the example: init, generate, then `mlops-actions local` through act from a pull
request to production and the monitor, with staging and production in workspaces of their own, a registry and
a challenger that loses to the champion. (A file of its own so that pytest-xdist runs it beside the demo's.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_actions.backends.local import LocalBackend
from test_pipeline import stages

pytestmark = [pytest.mark.act, pytest.mark.pipeline]

CHURN_TRAIN = '''"""Train a churn classifier on synthetic customers and save it as an MLflow model."""
import argparse
import json

import numpy as np
import pandas as pd

FEATURES = ["tenure_months", "monthly_charges", "support_calls"]


def customers(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"tenure_months": rng.integers(1, 72, n), "monthly_charges": rng.uniform(20, 120, n),
                         "support_calls": rng.poisson(2, n)})
    data["churned"] = ((data.support_calls * 15 + data.monthly_charges - data.tenure_months * 2) > 60).astype(int)
    return data


def main() -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser()
    parser.add_argument("--model-output")
    parser.add_argument("--metrics-output")
    args = parser.parse_args()
    data = customers(600)
    model = LogisticRegression(max_iter=1000).fit(data[FEATURES], data.churned)
    mlflow.sklearn.save_model(model, args.model_output, serialization_format="cloudpickle")
    with open(args.metrics_output, "w") as handle:
        json.dump({"accuracy": float(model.score(data[FEATURES], data.churned))}, handle)


if __name__ == "__main__":
    main()
'''


def churn_repository(folder: Path) -> Path:
    """A new project unlike the example: its own model, names, library owner and trunk."""
    def write(path: str, text: str) -> None:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)

    folder.mkdir()
    run = lambda *args: subprocess.run(args, cwd=folder, check=True, capture_output=True, text=True)  # noqa: E731
    run(sys.executable, "-m", "mlops_actions", "init")
    config = (folder / "mlops.yml").read_text()
    for old, new in {"OWNER/mlops-actions": "acme/mlops-actions", "branch: main": "branch: trunk",
                     "requirements: requirements.txt": 'requirements: ""', "min-coverage: 80": "min-coverage: 50",
                     "name: my-model": "name: churn-model",
                     "python -m model.train": "PYTHONPATH=src python -m churn.train",
                     # staging and production in workspaces of their own, the model in a registry
                     "my-model-staging": "churn-stg\n    workspace: churn-staging",
                     "my-model-production": "churn-prd\n    workspace: churn-production",
                     # a new model must not lose to production's by more than 0.01
                     "    - accuracy >= 0.7\n":
                         "    - accuracy >= 0.7\n    - accuracy >= champion.accuracy - 0.01\n"}.items():
        assert old in config
        config = config.replace(old, new)
    write("mlops.yml", config + "\nmonitor:\n  training-data: data/customers.csv\nregistry:\n  name: churn-models\n")
    write("src/churn/__init__.py", "")
    write("src/churn/train.py", CHURN_TRAIN)
    write("tests/test_customers.py", "from churn.train import customers\n\n\ndef test_both_classes():\n"
          "    assert set(customers(200).churned) == {0, 1}\n")
    write("setup.cfg", "[flake8]\nmax-line-length = 120\n\n[tool:pytest]\npythonpath = src\n")
    write("tests/sample-request.json", json.dumps({"input_data": {
        "columns": ["tenure_months", "monthly_charges", "support_calls"], "index": [0, 1],
        "data": [[3, 110.0, 6], [60, 25.0, 0]]}}))
    training = {}
    exec(CHURN_TRAIN, training)  # the customers the model is trained on, for the monitor to compare with
    write("data/customers.csv", training["customers"](300).drop(columns="churned").to_csv(index=False))
    run(sys.executable, "-m", "mlops_actions", "generate")
    run("git", "init", "-q", "-b", "trunk")
    run("git", "add", "-A")
    run("git", "-c", "user.name=ds", "-c", "user.email=ds@localhost", "commit", "-qm", "A churn model")
    return folder


def test_a_new_repository_runs_its_own_workflows_locally(tmp_path):
    """init, generate, then `mlops-actions local` from a pull request to production and the monitor, for a
    repository that is not the example (the jobs run with this interpreter, which has what they install), with
    staging and production in workspaces of their own and the model registered once, into a registry."""
    repo = churn_repository(tmp_path / "churn")
    state = tmp_path / "local"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}

    def local(*args):
        result = subprocess.run([sys.executable, "-m", "mlops_actions", "local", "--state-dir", str(state),
                                 "--runner-python", sys.executable, *args], cwd=repo, env=env, capture_output=True,
                                text=True, timeout=900)
        return result, json.loads((state / "report.json").read_text())

    subprocess.run(["git", "checkout", "-q", "-b", "feature/calls"], cwd=repo, check=True)
    subprocess.run(["git", "checkout", "-q", "trunk"], cwd=repo, check=True)
    try:
        result, report = local("--event", "pull-request", "--branch", "feature/calls")
        assert result.returncode == 0, result.stdout[-3000:]
        assert stages(report) == [("pull-request: Lint and unit tests", "passed")]
        result, report = local("--event", "push", "--approve-production", "true")
        assert result.returncode == 0, result.stdout[-3000:]
        assert stages(report) == [("push: Lint and unit tests", "passed"),
                                  ("push: Train and register the model", "passed"),
                                  ("push: CD/Deploy to staging", "passed"), ("push: CD/Deploy to production", "passed")]
        registered = "azureml://registries/churn-models/models/churn-model/versions/1"
        for workspace, endpoint in (("churn-staging", "churn-stg"), ("churn-production", "churn-prd")):
            backend = LocalBackend(state / "state" / "workspaces" / workspace)  # each its own endpoint, one model
            assert backend.endpoints() == [endpoint]
            assert backend.get_endpoint(endpoint).deployments[backend.get_endpoint(endpoint).live] == registered
            assert not (backend.state / "mlflow.db").exists()  # registered once: in the registry alone
        registry = LocalBackend(state / "state" / "registries" / "churn-models", registry="churn-models")
        assert registry.get_model("churn-model", "latest").uri == registered
        # a challenger on two of the three features: above the absolute gate, below the champion: not registered
        train = repo / "src" / "churn" / "train.py"
        train.write_text(train.read_text().replace("data[FEATURES]", "data[FEATURES[:2]]"))
        subprocess.run(["git", "-c", "user.name=ds", "-c", "user.email=ds@localhost", "commit", "-qam", "Fewer "
                        "features"], cwd=repo, check=True)
        result, report = local("--event", "push", "--approve-production", "true")
        assert stages(report) == [("push: Lint and unit tests", "passed"),
                                  ("push: Train and register the model", "failed")], result.stdout[-3000:]
        [note] = report["stages"][-1]["notes"]
        assert note == ("error: [Metrics gate] The metrics gate failed: accuracy >= champion.accuracy - 0.01 is not "
                        "met (accuracy = 0.8983333333333333, champion.accuracy = 0.995 - 0.01); nothing was "
                        "registered.")
        assert registry.get_model("churn-model", "latest").uri == registered  # no version 2
        production = LocalBackend(state / "state" / "workspaces" / "churn-production")
        assert production.get_endpoint("churn-prd").deployments[production.get_endpoint("churn-prd").live] == registered
        result, report = local("--event", "monitor")
        assert result.returncode == 0 and stages(report) == [("monitor: Monitor production", "passed")]
        assert "churn-prd served 0 requests, fewer than min-requests 30" in result.stdout
    finally:
        for backend in map(LocalBackend, (state / "state" / "workspaces").glob("*")):
            for name in backend.endpoints():
                backend.delete_endpoint(name)
