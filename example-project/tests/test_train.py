import json

import pytest

from model import data, train


@pytest.fixture(scope="module")
def dataset():
    return data.generate(600, seed=3)


def test_split_is_stratified_and_sized(dataset):
    x_train, x_test, y_train, y_test = train.split_data(dataset, test_size=0.3)
    assert len(x_train) == 420 and len(x_test) == 180
    assert list(x_train.columns) == data.FEATURES
    assert abs(y_train.mean() - y_test.mean()) < 0.02


def test_model_learns_better_than_chance(dataset):
    x_train, x_test, y_train, y_test = train.split_data(dataset)
    metrics = train.evaluate(train.train_model(0.01, x_train, y_train), x_test, y_test)
    assert set(metrics) == {"accuracy", "auc", "precision", "recall", "f1"}
    assert metrics["auc"] > 0.75 and metrics["accuracy"] > 0.65


def test_main_writes_the_metrics_and_an_mlflow_model(tmp_path, dataset):
    dataset.to_csv(tmp_path / "d.csv", index=False)
    metrics = train.main(["--data", str(tmp_path / "d.csv"), "--metrics-output", str(tmp_path / "m.json"),
                          "--model-output", str(tmp_path / "model")])
    assert json.loads((tmp_path / "m.json").read_text()) == metrics
    assert (tmp_path / "model" / "MLmodel").is_file()

    import mlflow.pyfunc

    loaded = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    predictions = loaded.predict(dataset[data.FEATURES].head(3))
    assert set(predictions) <= {0, 1} and len(predictions) == 3


def test_reg_rate_must_be_positive(tmp_path):
    with pytest.raises(SystemExit):
        train.main(["--reg-rate", "0"])
