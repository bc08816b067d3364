"""Train the diabetes classifier; save it as an MLflow model and write its metrics.

    PYTHONPATH=src python -m model.train --data data/diabetes.csv --model-output outputs/model \
        --metrics-output outputs/metrics.json
"""

import argparse
import json
import os
import shutil
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split

from model.data import FEATURES, LABEL, load


def split_data(data, test_size: float = 0.3, seed: int = 0):
    """Features and labels, split into train and test sets, stratified by the label."""
    return train_test_split(data[FEATURES], data[LABEL], test_size=test_size, random_state=seed,
                            stratify=data[LABEL])


def train_model(reg_rate: float, x_train, y_train) -> LogisticRegression:
    return LogisticRegression(C=1 / reg_rate, solver="liblinear").fit(x_train, y_train)


def evaluate(model, x_test, y_test) -> dict:
    predicted = model.predict(x_test)
    probability = model.predict_proba(x_test)[:, 1]
    return {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "auc": round(float(roc_auc_score(y_test, probability)), 4),
        "precision": round(float(precision_score(y_test, predicted)), 4),
        "recall": round(float(recall_score(y_test, predicted)), 4),
        "f1": round(float(f1_score(y_test, predicted)), 4),
    }


def save_model(model, x_sample, folder: Path) -> None:
    """An MLflow model with its signature, ready to register and serve."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow.sklearn
    from mlflow.models import infer_signature

    shutil.rmtree(folder, ignore_errors=True)
    mlflow.sklearn.save_model(model, str(folder), serialization_format="cloudpickle",
                              signature=infer_signature(x_sample, model.predict(x_sample)))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description="Train the diabetes classifier.")
    parser.add_argument("--data", type=Path, default=Path("data/diabetes.csv"))
    parser.add_argument("--reg-rate", type=float, default=0.01)
    parser.add_argument("--model-output", type=Path, default=Path("outputs/model"))
    parser.add_argument("--metrics-output", type=Path, default=Path("outputs/metrics.json"))
    args = parser.parse_args(argv)
    if args.reg_rate <= 0:
        parser.error(f"--reg-rate must be above 0, not {args.reg_rate}")

    x_train, x_test, y_train, y_test = split_data(load(args.data))
    model = train_model(args.reg_rate, x_train, y_train)
    metrics = evaluate(model, x_test, y_test)
    save_model(model, x_test.head(5), args.model_output)
    args.metrics_output.parent.mkdir(parents=True, exist_ok=True)
    args.metrics_output.write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics))
    return metrics


if __name__ == "__main__":
    main()
