"""The latent spectrum of codes and its rank."""

import numpy as np
from sklearn.utils.validation import check_array

from .._threads import blas_limits

#: Relative tolerance of :func:`latent_rank`: a direction counts when its variance is
#: above this fraction of the leading one.
DEFAULT_RANK_TOL = 1e-3


def latent_singular_values(Z):
    """Singular values of the covariance of latent codes, in descending order.

    This is the spectrum the LoRAE paper plots (its Figure 2) and counts (its Table 7):
    the covariance of the codes is symmetric positive semi-definite, so its singular
    values are its eigenvalues, the variances along the principal directions of the
    latent space.

    Read more in the :ref:`User Guide <measuring_rank>`.

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
    with blas_limits(1):
        eigenvalues = np.linalg.eigvalsh(centred.T @ centred)
    return np.clip(eigenvalues[::-1], 0.0, None) / (Z.shape[0] - 1)


def latent_rank(singular_values, tol=DEFAULT_RANK_TOL):
    """Number of significant directions in a latent spectrum.

    Read more in the :ref:`User Guide <measuring_rank>`.

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
