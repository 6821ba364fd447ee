"""Denormal floats flushed to zero while the package's nets run on the CPU."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from torch import nn

from sklearn_lorae import LoRAETransformer, _denormals
from sklearn_lorae._denormals import flushed_denormals, flushes_denormals

pytestmark = pytest.mark.skipif(
    not torch.set_flush_denormal(False), reason="this CPU has no flush-to-zero mode that torch can set"
)

# Split by torch over its intra-op threads (elementwise work above its grain of 32,768).
N_ELEMENTS = 2**20


@pytest.fixture
def two_threads():
    if _denormals._openmp_runtime() is None:
        pytest.skip("torch's OpenMP runtime (with GOMP_parallel) is not found: only the calling thread is set")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _denormals_left(x):
    """How many elements of ``x * 2`` stay non-zero: all, where the threads computing them
    keep denormals, none where they flush them."""
    return int((x * 2).count_nonzero())


def test_the_caller_and_its_intra_op_threads_flush_in_the_block_and_not_after(two_threads):
    x = torch.full((N_ELEMENTS,), 1e-39)  # denormal in float32
    assert _denormals_left(x) == N_ELEMENTS and not flushes_denormals()
    with flushed_denormals():
        # Each of torch's 2 threads computes part of the product: a thread that kept
        # denormals would leave its part non-zero.
        assert _denormals_left(x) == 0 and flushes_denormals()
        with flushed_denormals():
            assert _denormals_left(x) == 0
        assert _denormals_left(x) == 0  # the inner block gave back what it found: flushing
    assert _denormals_left(x) == N_ELEMENTS and not flushes_denormals()


def test_each_thread_gets_its_own_modes_back(two_threads):
    x = torch.full((N_ELEMENTS,), 1e-39)
    torch.set_flush_denormal(True)  # the calling thread only, not torch's other thread
    try:
        partly = _denormals_left(x)
        assert 0 < partly < N_ELEMENTS
        with flushed_denormals():
            assert _denormals_left(x) == 0
        assert flushes_denormals() and _denormals_left(x) == partly
    finally:
        torch.set_flush_denormal(False)


def test_disabled_it_changes_nothing(two_threads, monkeypatch):
    monkeypatch.setattr(_denormals, "ENABLED", False)
    x = torch.full((N_ELEMENTS,), 1e-39)
    with flushed_denormals():
        assert _denormals_left(x) == N_ELEMENTS and not flushes_denormals()


class _RecordsFlushing(nn.Module):
    """An encoder that records, at each forward pass, whether its thread flushes."""

    def __init__(self, n_features, latent_dim):
        super().__init__()
        self.linear = nn.Linear(n_features, latent_dim)
        self.flushing = []

    def forward(self, x):
        self.flushing.append(flushes_denormals())
        return self.linear(x)


class _RecordsFlushingPerBatch(Callback):
    def initialize(self):
        self.flushing = []
        return self

    def on_batch_end(self, net, **kwargs):
        self.flushing.append(flushes_denormals())


def test_training_and_transform_flush_and_restore(digits):
    X = digits[0][:300]
    estimator = LoRAETransformer(
        encoder=_RecordsFlushing(X.shape[1], 4),
        latent_dim=4,
        max_epochs=2,
        batch_size=100,
        callbacks=[("record", _RecordsFlushingPerBatch())],
        random_state=0,
    ).fit(X)
    assert dict(estimator.net_.callbacks_)["record"].flushing == [True] * 6  # 2 epochs of 3 batches
    assert not flushes_denormals()
    encoder = estimator.net_.module_.encoder
    encoder.flushing.clear()
    Z = estimator.transform(X)
    assert encoder.flushing and all(encoder.flushing)
    assert not flushes_denormals()
    assert np.isfinite(estimator.inverse_transform(Z)).all()
