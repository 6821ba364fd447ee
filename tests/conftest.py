import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

# The tests train many tiny nets: torch's intra-op threads buy nothing on them, and on a
# busy machine their spin-waiting made fits 10 to 20 times slower than one thread.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """load_digits scaled to [0, 1], split once: (X_train, X_test, y_train, y_test)."""
    data = load_digits()
    X = (data.data / 16.0).astype(np.float32)
    return train_test_split(X, data.target, test_size=0.25, random_state=0, stratify=data.target)
