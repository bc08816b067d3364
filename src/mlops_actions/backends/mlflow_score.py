"""Scoring script for MLflow models on the local backend (Azure ML needs none: it serves them itself).

Loaded by azureml-inference-server-http as AZUREML_ENTRY_SCRIPT; self-contained. It accepts what an
Azure ML managed online endpoint accepts for an MLflow model:
  {"input_data": {"columns": [...], "index": [...], "data": [[...], ...]}}
and also {"input_data": [[...], ...]}, {"dataframe_split": {...}} and {"dataframe_records": [...]}; it
answers a JSON list of predictions, or 400 with {"error": ...} for input it cannot use.
"""

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from azureml_inference_server_http.api.aml_response import AMLResponse

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

model: "PyFuncModel | None" = None  # loaded by init(), which the server calls before run()
logger = logging.getLogger(__name__)


def init():
    global model
    import mlflow.pyfunc

    root = Path(os.environ["AZUREML_MODEL_DIR"])
    mlmodel = min(root.rglob("MLmodel"), key=lambda found: len(found.parts), default=None)  # <folder>/MLmodel
    if mlmodel is None:
        raise RuntimeError(f"no MLmodel file under {root}")
    model = mlflow.pyfunc.load_model(str(mlmodel.parent))
    logger.info("loaded the MLflow model in %s", mlmodel.parent)


def frame_of(payload):
    import pandas as pd

    if not isinstance(payload, dict):
        raise ValueError("the request must be a JSON object with input_data")
    if "input_data" in payload:
        data = payload["input_data"]
        if isinstance(data, dict):
            return pd.DataFrame(data["data"], columns=data.get("columns"), index=data.get("index"))
        return pd.DataFrame(data)
    if "dataframe_split" in payload:
        split = payload["dataframe_split"]
        return pd.DataFrame(split["data"], columns=split.get("columns"), index=split.get("index"))
    if "dataframe_records" in payload:
        return pd.DataFrame(payload["dataframe_records"])
    raise ValueError("expected input_data (columns, index, data), dataframe_split or dataframe_records")


def cast_to_schema(frame):
    """JSON has no int/float distinction; cast columns to the model signature's types."""
    assert model is not None, "init() has loaded it"
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return frame
    missing = [name for name in schema.input_names() if name not in frame.columns]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    types = dict(zip(schema.input_names(), schema.numpy_types()))
    return frame.astype({name: kind for name, kind in types.items() if kind is not None})


def run(raw_data):
    try:
        frame = cast_to_schema(frame_of(json.loads(raw_data)))
    except (ValueError, KeyError, TypeError) as exc:
        return AMLResponse({"error": f"bad input: {exc}"}, 400, json_str=True)
    assert model is not None, "init() has loaded it"
    predictions: Any = model.predict(frame)  # an array, a Series, a DataFrame or a list, by the model's flavour
    if hasattr(predictions, "tolist"):
        return predictions.tolist()
    if hasattr(predictions, "to_dict"):
        return predictions.to_dict(orient="records")
    return predictions
