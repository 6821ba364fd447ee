"""``python -m sklearn_lorae`` and the offline yardsticks it prints."""

import re

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_lorae.__main__ import main
from sklearn_lorae._evaluation import ClassifierFeatures, balanced_label_subset, few_label_accuracy


def test_balanced_label_subset_takes_k_rows_of_each_class_without_repeats():
    y = np.array([0] * 5 + [1] * 3 + [2] * 8)
    rows = balanced_label_subset(y, 4, seed=0)
    assert len(set(rows)) == len(rows)
    assert np.bincount(y[rows]).tolist() == [4, 3, 4]  # class 1 has only 3
    assert not np.array_equal(rows, balanced_label_subset(y, 4, seed=1))


def test_few_label_accuracy_rises_with_labels_on_separable_codes():
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(3), 200)
    Z = rng.normal(size=(600, 2)) + 3.0 * np.eye(3)[y][:, :2]
    low, _ = few_label_accuracy(Z, y, Z, y, 1, n_draws=5)
    high, spread = few_label_accuracy(Z, y, Z, y, 100, n_draws=5)
    assert high > 0.8 and high >= low
    assert 0.0 <= spread < 0.05


def test_classifier_features_are_the_hidden_layer_of_a_fitted_classifier():
    X, y = load_digits(return_X_y=True)
    judge = ClassifierFeatures(hidden_units=16, random_state=0).fit(X[:500] / 16, y[:500])
    features = judge.transform(X[500:600] / 16)
    assert features.shape == (100, 16) and features.min() >= 0.0
    assert judge.training_accuracy_ > 0.9
    np.testing.assert_allclose(features, np.maximum(X[500:600] / 16 @ judge.weights_ + judge.bias_, 0))


@pytest.mark.slow
def test_main_job_prints_every_comparison_and_saves_both_grids(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    image = tmp_path / "samples.png"
    main(["--max-epochs", "2", "--latent-dim", "8", "--image", str(image)])
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.split()[:1] == ["model"])
    for column in ("rank", "MSE", "acc 10/class", "acc 50/class", "acc all", "FID", "KID"):
        assert column in header
    rows = {line.split()[0] + " " + line.split()[1]: line.split() for line in printed.splitlines()[1:] if line}
    for model in ("LoRAE 2.5e-4", "LoRAE 1e-3"):
        assert model in rows
    assert re.search(r"^\s+AE\s+\d+", printed, re.M) and re.search(r"^\s+PCA\s+8\s", printed, re.M)
    # The baselines given the rank LoRAE found, and the sentence that reads the table.
    found = rows["LoRAE 2.5e-4"][2]
    assert rows[f"AE k={found}"][2] == found and f"PCA k={found}" in rows
    assert re.search(rf"found by itself \({found}\).*LoRAE comes (first|second|third) on accuracy", printed)
    floor = float(re.search(r"real digits\s+([0-9.]+)", printed)[1])
    assert floor >= 0.0
    assert image.exists() and "LoRAE 2.5e-4 and AE" in printed
