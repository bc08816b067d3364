"""Small real models for the lifecycle tests: trained here, saved as MLflow or custom models."""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "model-project"
sys.path.insert(0, str(FIXTURE))
from train import train  # noqa: E402  (the fixture's own training script)

# A request in the Azure ML payload format, and what the trained model answers to it.
REQUEST = json.loads((FIXTURE / "request.json").read_text())
ANSWER = json.loads((FIXTURE / "expected.json").read_text())


def mlflow_model(folder: Path, regularisation: float = 1.0) -> Path:
    """Train a logistic regression and save it as an MLflow model (another C gives other bytes)."""
    train(folder, 1 / regularisation)
    return folder


def custom_model(folder: Path, run_body: str, init_body: str = "pass") -> tuple[Path, Path]:
    """A custom model (a file) and its scoring code; returns (model folder, code folder)."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.txt").write_text(f"{run_body}\n{init_body}\n")
    (folder / "code").mkdir()
    (folder / "code" / "score.py").write_text(
        f"import json\n\n\ndef init():\n    {init_body}\n\n\ndef run(raw):\n    {run_body}\n")
    return folder / "model", folder / "code"
