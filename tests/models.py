"""Small real models for the lifecycle tests: trained here, saved as MLflow or custom models."""

import os
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

COLUMNS = ["glucose", "bmi"]
ROWS = [[80.0, 22.0], [95.0, 25.0], [150.0, 35.0], [170.0, 40.0], [88.0, 21.0], [160.0, 38.0]]
LABELS = [0, 0, 1, 1, 0, 1]
# A request in the Azure ML payload format, and what the trained model answers to it.
REQUEST = {"input_data": {"columns": COLUMNS, "index": [0, 1], "data": [[85, 23], [165, 39]]}}
ANSWER = [0, 1]


def mlflow_model(folder: Path, regularisation: float = 1.0) -> Path:
    """Train a logistic regression and save it as an MLflow model (a different C gives different bytes)."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    model = LogisticRegression(C=1 / regularisation).fit(frame, LABELS)
    mlflow.sklearn.save_model(model, str(folder), serialization_format="cloudpickle",
                              signature=infer_signature(frame, model.predict(frame)))
    return folder


def custom_model(folder: Path, run_body: str, init_body: str = "pass") -> tuple[Path, Path]:
    """A custom model (a file) and its scoring code; returns (model folder, code folder)."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.txt").write_text(f"{run_body}\n{init_body}\n")
    (folder / "code").mkdir()
    (folder / "code" / "score.py").write_text(
        f"import json\n\n\ndef init():\n    {init_body}\n\n\ndef run(raw):\n    {run_body}\n")
    return folder / "model", folder / "code"
