"""The nets train in float32 whatever torch's default dtype (GPyTorch and BoTorch users set
float64 with torch.set_default_dtype)."""

import contextlib

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_lorae import LoRAEGenerator, LoRAETransformer, load_model, save_model

FAST = dict(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=2, random_state=0)
NETS = {"mlp": {}, "conv": {"image_shape": (1, 8, 8)}}


@contextlib.contextmanager
def _default_dtype(dtype):
    """torch's default dtype for the block; the one before restored, whatever happens."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(default)


@pytest.fixture
def float64_default():
    with _default_dtype(torch.float64):
        yield


def _outputs(estimator, X):
    Z = estimator.transform(X)
    return Z, estimator.inverse_transform(Z), estimator.score(X), estimator.sample(5, random_state=0)


@pytest.mark.parametrize("net", NETS)
def test_a_float64_default_fits_as_the_float32_default_does(net, digits):
    X = digits[0][:100]
    expected = _outputs(LoRAEGenerator(**FAST, **NETS[net]).fit(X), X)
    with _default_dtype(torch.float64):
        estimator = LoRAEGenerator(**FAST, **NETS[net]).fit(X)
        outputs = _outputs(estimator, X)
        assert torch.get_default_dtype() == torch.float64  # the caller's setting is left as it was
    assert {p.dtype for p in estimator.net_.module_.parameters()} == {torch.float32}
    for got, want in zip(outputs, expected):
        np.testing.assert_array_equal(got, want)


def test_a_custom_encoder_built_in_float64_trains(digits, float64_default):
    X = digits[0][:100]
    encoder = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))
    assert encoder[0].weight.dtype == torch.float64
    estimator = LoRAETransformer(encoder=encoder, **FAST).fit(X)
    assert estimator.transform(X).shape == (100, 4)
    assert encoder[0].weight.dtype == torch.float64  # the caller's module is not changed


def test_a_model_loads_under_a_float64_default(digits, tmp_path, float64_default):
    X = digits[0][:100]
    estimator = LoRAEGenerator(**FAST).fit(X)
    save_model(estimator, tmp_path / "model.pt")
    np.testing.assert_array_equal(load_model(tmp_path / "model.pt").transform(X), estimator.transform(X))
