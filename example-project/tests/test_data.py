from pathlib import Path

import pytest

from model import data

DATASET = Path(__file__).resolve().parents[1] / "data" / "diabetes.csv"


def test_generation_is_deterministic():
    assert data.generate(100, seed=7).equals(data.generate(100, seed=7))
    assert not data.generate(100, seed=7).equals(data.generate(100, seed=8))


def test_shipped_dataset_is_the_generated_one(tmp_path):
    data.main([str(tmp_path / "again.csv")])
    assert (tmp_path / "again.csv").read_bytes() == DATASET.read_bytes()


def test_columns_and_both_classes():
    frame = data.load(DATASET)
    assert list(frame.columns) == ["PatientID", *data.FEATURES, data.LABEL]
    assert len(frame) == 2000
    assert 0.2 < frame[data.LABEL].mean() < 0.8


def test_load_names_missing_columns(tmp_path):
    (tmp_path / "bad.csv").write_text("Pregnancies,Age\n1,30\n")
    with pytest.raises(ValueError, match="lacks the columns PlasmaGlucose"):
        data.load(tmp_path / "bad.csv")
