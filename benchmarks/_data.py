"""Data loading shared by the benchmark scripts (nothing is downloaded)."""

import gzip
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def load_mnist(path=SHARED_DATA / "mnist.npz"):
    """MNIST as float32 rows in [0, 1]: (X_train, y_train, X_test, y_test), 784 columns."""
    with np.load(path) as data:
        return (
            data["x_train"].reshape(-1, 784).astype(np.float32) / 255.0,
            data["y_train"].astype(np.int64),
            data["x_test"].reshape(-1, 784).astype(np.float32) / 255.0,
            data["y_test"].astype(np.int64),
        )


def load_fashion_mnist(folder=FASHION_MNIST):
    """Fashion-MNIST from Debian's dataset-fashion-mnist package, like :func:`load_mnist`."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(
            f"{folder} is missing: run 'apt-get install dataset-fashion-mnist' first."
        )

    def read(name, offset):
        with gzip.open(folder / name, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    return (
        read("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0,
        read("train-labels-idx1-ubyte.gz", 8).astype(np.int64),
        read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255.0,
        read("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64),
    )
