"""Fréchet distance between the Gaussians fitted to two sets of features.

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
from typing import NamedTuple

import numpy as np
import scipy.linalg
import scipy.linalg.blas
import torch
from sklearn.exceptions import DataDimensionalityWarning
from sklearn.utils._param_validation import validate_params
from sklearn.utils.validation import check_array

from ._common import check_features, check_same_width, docstring


# --------------------------------------------------------------------- Fréchet distance
@validate_params(
    {"features_a": ["array-like"], "features_b": ["array-like"]},
    prefer_skip_nested_validation=True,
)
@docstring(
    """Fréchet distance between the Gaussians fitted to two sets of features.

    ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{{1/2}})`` with the sample means
    ``mu`` and covariances ``S`` (normalised by ``n - 1``, as ``numpy.cov``): the
    squared 2-Wasserstein distance between the two Gaussians, the quantity behind the
    FID. Computed in float64 with symmetric eigen-solvers and SVDs, never
    ``scipy.linalg.sqrtm``: the result is real, finite and non-negative, also when a
    covariance is singular.

    Read more in the :ref:`User Guide <evaluating_generators>`.

    Parameters
    ----------
{FEATURE_SETS_DOC}
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
    kernel_distance : The KID's distance, unbiased at any number of samples.

    Notes
    -----
    The cross term ``Tr((S_a S_b)^{{1/2}})`` is the nuclear norm (sum of singular
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
)
def frechet_distance(features_a, features_b):
    features_a = check_features(features_a, "features_a")
    features_b = check_features(features_b, "features_b")
    check_same_width(features_a.shape[1], features_b.shape[1], "features_a", "features_b")
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

    Read more in the :ref:`User Guide <evaluating_generators>`.

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
    mean_a, cov_a = _check_statistics(mean_a, cov_a, "mean_a", "cov_a")
    mean_b, cov_b = _check_statistics(mean_b, cov_b, "mean_b", "cov_b")
    check_same_width(mean_a.shape[0], mean_b.shape[0], "mean_a", "mean_b")
    return _frechet(_gaussian_from_stats(mean_a, cov_a), _gaussian_from_stats(mean_b, cov_b))


@validate_params({"features": ["array-like"]}, prefer_skip_nested_validation=True)
def feature_statistics(features):
    """Mean and covariance of a set of features, the input of
    :func:`frechet_distance_from_stats`.

    Read more in the :ref:`User Guide <evaluating_generators>`.

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
    features = check_features(features, "features")
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


def _check_statistics(mean, cov, mean_name, cov_name):
    mean = check_array(mean, dtype=np.float64, ensure_2d=False, input_name=mean_name)
    cov = check_array(cov, dtype=np.float64, input_name=cov_name)
    if mean.ndim != 1:
        raise ValueError(f"{mean_name} must be 1-D, got an array of shape {mean.shape}.")
    if cov.shape != (mean.shape[0], mean.shape[0]):
        raise ValueError(
            f"{cov_name} must have shape {(mean.shape[0], mean.shape[0])} to match {mean_name}, got {cov.shape}."
        )
    # Only one triangle is read by the factorisations: a matrix that is not symmetric
    # (beyond rounding) would be silently misread.
    if np.abs(cov - cov.T).max(initial=0.0) > 1e-10 * np.abs(cov).max(initial=0.0):
        raise ValueError(f"{cov_name} is not symmetric, so it is not a covariance matrix.")
    return mean, cov


def check_reference_statistics(reference_statistics):
    """``reference_statistics=(mean, cov)`` of the FID, checked; None passes through."""
    if reference_statistics is None:
        return None
    if not isinstance(reference_statistics, (tuple, list)) or len(reference_statistics) != 2:
        raise ValueError(
            "reference_statistics must be a pair (mean, cov), as feature_statistics returns; "
            f"got {type(reference_statistics).__name__}."
        )
    return _check_statistics(*reference_statistics, "reference_statistics[0]", "reference_statistics[1]")


def frechet_distance_to_reference(reference_statistics, features):
    """FD between the Gaussian of checked ``(mean, cov)`` and that of ``features``."""
    check_same_width(reference_statistics[0].shape[0], features.shape[1], "reference_statistics", "the generated data")
    _check_enough_samples(features, "features")
    return _frechet(_gaussian_from_stats(*reference_statistics), _gaussian_from_features(features))
