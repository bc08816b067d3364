"""The diabetes dataset: generated deterministically, so every run of the pipeline sees the same rows.

The columns are those of the Microsoft Learn MLOps exercise. The label follows a logistic model of the
features with noise, so a classifier can learn it well but not perfectly.
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = ["Pregnancies", "PlasmaGlucose", "DiastolicBloodPressure", "TricepsThickness", "SerumInsulin",
            "BMI", "DiabetesPedigree", "Age"]
LABEL = "Diabetic"


def generate(rows: int = 2000, seed: int = 42) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "PatientID": np.arange(1_000_000, 1_000_000 + rows),
        "Pregnancies": rng.poisson(3, rows).clip(0, 14),
        "PlasmaGlucose": rng.normal(110, 30, rows).round().clip(44, 192).astype(int),
        "DiastolicBloodPressure": rng.normal(72, 12, rows).round().clip(24, 117).astype(int),
        "TricepsThickness": rng.normal(28, 10, rows).round().clip(7, 92).astype(int),
        "SerumInsulin": rng.gamma(2.0, 60.0, rows).round().clip(14, 796).astype(int),
        "BMI": rng.normal(31, 8, rows).round(1).clip(18, 56),
        "DiabetesPedigree": rng.gamma(2.0, 0.25, rows).round(3).clip(0.078, 2.3),
        "Age": (21 + rng.gamma(2.0, 8.0, rows)).round().clip(21, 77).astype(int),
    })
    score = (0.045 * (data.PlasmaGlucose - 110) + 0.09 * (data.BMI - 31) + 0.05 * (data.Age - 35)
             + 0.25 * (data.Pregnancies - 3) + 1.2 * (data.DiabetesPedigree - 0.5) - 0.6)
    data[LABEL] = (rng.random(rows) < 1 / (1 + np.exp(-score))).astype(int)
    return data


def load(path: Path) -> pd.DataFrame:
    data = pd.read_csv(path)
    missing = [column for column in FEATURES + [LABEL] if column not in data.columns]
    if missing:
        raise ValueError(f"{path} lacks the columns {', '.join(missing)}")
    return data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write the diabetes dataset as CSV.")
    parser.add_argument("output", type=Path, nargs="?", default=Path("data/diabetes.csv"))
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    generate(args.rows, args.seed).to_csv(args.output, index=False)


if __name__ == "__main__":
    main()
