"""The untrained net starts at the data's mean (output_init="data_mean"), so that the
paper's net does not stop depending on its input in its first steps."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_lorae import LoRAEGenerator, LoRAETransformer

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


def _fit(estimator, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X)
    return any(issubclass(w.category, ConvergenceWarning) for w in caught)


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "identity": lambda x: x}


@pytest.mark.parametrize("Estimator", [LoRAETransformer, LoRAEGenerator])
@pytest.mark.parametrize("activation, low, high", [("tanh", -1, 1), ("sigmoid", 0, 1), ("identity", 2, 5)])
@pytest.mark.parametrize("image_shape", [None, (2, 4, 4)])
def test_the_output_layer_starts_at_the_data_mean(Estimator, activation, low, high, image_shape):
    rng = np.random.RandomState(0)
    # Features of different means, the first at the edge of the output's range.
    X = low + (high - low) * rng.uniform(0, 1, (40, 32)) ** np.arange(1, 33)
    X[:, 0] = high
    # lr 1e-12: the fitted net is the untrained one.
    common = dict(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=1, lr=1e-12, output_activation=activation)
    common.update(image_shape=image_shape, random_state=0)
    started = Estimator(**common).fit(X)
    torch_init = Estimator(**common, output_init="torch").fit(X)
    last = "decoder.2.bias" if image_shape is None else "decoder.features.5.bias"
    # Only the last bias differs: the other weights come from the seed as before (moved
    # by at most lr by the step, which shows on weights near 0).
    started_weights, torch_weights = (e.net_.module_.state_dict() for e in (started, torch_init))
    differ = [
        name for name, w in started_weights.items() if not np.allclose(w, torch_weights[name], rtol=0, atol=1e-10)
    ]
    assert differ == [last]
    start = ACTIVATIONS[activation](started_weights[last].numpy().astype(np.float64))
    mean = X.mean(axis=0) if image_shape is None else X.reshape(-1, *image_shape).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(start[1:], mean[1:], rtol=1e-5)
    if activation == "identity" or image_shape is not None:
        assert start[0] == pytest.approx(mean[0], rel=1e-5)
    else:  # the edge feature starts inside the range (its bias is finite), near the edge
        assert high - 0.01 * (high - low) < start[0] < high


@pytest.mark.skipif(not MNIST.exists(), reason=f"MNIST is not at {MNIST} on this machine")
def test_the_papers_net_keeps_depending_on_its_input():
    # The paper's MNIST net (tanh output, Adam at 1e-3) with seed 1 starts from a nearly
    # constant image of -0.68 (torch's initialisation); on images whose background is +1
    # its first steps drove every pixel's pre-activation past the tanh's range, where the
    # gradient is 0, within 10 steps: the output stopped depending on the input for good.
    with np.load(MNIST) as data:
        X = data["x_train"][:1536].reshape(-1, 784).astype(np.float32) / 127.5 - 1
    X = X if X.mean() > 0 else -X  # the background at +1, whichever way the file stores it
    paper = dict(latent_dim=128, image_shape=(1, 28, 28), output_activation="tanh", max_epochs=1, random_state=1)
    assert _fit(LoRAETransformer(**paper, regularizer="none", output_init="torch"), X)
    for regularizer in ("none", "nuclear"):
        estimator = LoRAETransformer(**paper, regularizer=regularizer)
        assert not _fit(estimator, X)
        reconstructions = estimator.inverse_transform(estimator.transform(X[:256]))
        assert reconstructions.std(axis=0).mean() > 1e-3 * X[:256].std(axis=0).mean()
