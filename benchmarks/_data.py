"""Data loading shared by the benchmark scripts (nothing is downloaded)."""

import gzip
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def _pixels(images, scaled):
    rows = images.reshape(-1, 784)
    return rows.astype(np.float32) / 255.0 if scaled else rows


def load_mnist(path=SHARED_DATA / "mnist.npz", scaled=True):
    """MNIST rows, 784 columns: (X_train, y_train, X_test, y_test). Pixels are float32
    in [0, 1], or the file's uint8 values when ``scaled`` is False.

    The shared file stores the digits inverted, dark on a white background (81% of the
    training pixels are 255, mean 224; the original files' mean is 33), although its
    README says otherwise. They are returned as stored, so that new runs compare with the
    committed ones, all of which saw inverted digits (doc/reproduction.rst says so).
    """
    with np.load(path) as data:
        return (
            _pixels(data["x_train"], scaled),
            data["y_train"].astype(np.int64),
            _pixels(data["x_test"], scaled),
            data["y_test"].astype(np.int64),
        )


def load_fashion_mnist(folder=FASHION_MNIST, scaled=True):
    """Fashion-MNIST from Debian's dataset-fashion-mnist package, like :func:`load_mnist`."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{folder} is missing: run 'apt-get install dataset-fashion-mnist' first.")

    def read(name, offset):
        with gzip.open(folder / name, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)

    return (
        _pixels(read("train-images-idx3-ubyte.gz", 16), scaled),
        read("train-labels-idx1-ubyte.gz", 8).astype(np.int64),
        _pixels(read("t10k-images-idx3-ubyte.gz", 16), scaled),
        read("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64),
    )
