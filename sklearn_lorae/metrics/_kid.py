"""Kernel distance between two sets of features: the MMD of the KID.

The KID of Bińkowski et al. (2018) is the squared maximum mean discrepancy (MMD) between
two sets under the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)**3``, estimated
without bias on random pairs of subsets of m samples and averaged over the pairs:

    MMD^2 = (sum_{i != j} k(x_i, x_j) + sum_{i != j} k(y_i, y_j)) / (m (m - 1))
            - 2 sum_{i, j} k(x_i, y_j) / m^2.

Every term is a sum of a kernel matrix over a subset, computed in float64 from Gram
matrices (BLAS). Two ways give the same sums: per pair of subsets (the kernel matrices
of the subsets' rows, ``4 m^2 d`` flops a pair), or from the whole kernel matrices,
computed once in row blocks and reduced against the 0/1 membership matrix of all
subsets at once (``2 (n_a^2 + n_b^2 + n_a n_b) (d + n_subsets)`` flops). The cheaper
one is taken: the first at the default 100 subsets of 1000 from 10,000 samples, the
second for smaller sets (25 times faster at 2,000 samples).
"""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import validate_params

from ._common import _KID_PARAMETERS, check_features, check_same_width, docstring

# Working memory of one row block of a whole kernel matrix.
_BLOCK_BYTES = 32 * 2**20


@validate_params(
    {"features_a": ["array-like"], "features_b": ["array-like"], **_KID_PARAMETERS},
    prefer_skip_nested_validation=True,
)
@docstring(
    """Kernel distance between two sets of features: the MMD behind the KID.

    The unbiased estimate of the squared maximum mean discrepancy under the cubic
    polynomial kernel ``k(x, y) = (x.y / d + 1)**3`` (d features), averaged over
    ``n_subsets`` random pairs of subsets: the kernel inception distance (KID) of
    Bińkowski et al. (2018) when the features are Inception's. Unlike the Fréchet
    distance, its expectation does not depend on the number of samples, and it makes
    no Gaussian assumption.

    Read more in the :ref:`User Guide <evaluating_generators>`.

    Parameters
    ----------
{FEATURE_SETS_DOC}
{KID_DOC}
    random_state : int, RandomState instance or None, default=None
        Draws the subsets. An integer gives the subsets that torch-fidelity draws with
        the same ``rng_seed`` (sets a, b in the order of its inputs 1, 2).

    Returns
    -------
    mean : float
        The mean over the subsets: the KID. Near 0, and negative as often as positive,
        for sets from one distribution; positive for different ones.

    std : float
        The standard deviation of the subsets' estimates (``ddof=0``, as
        torch-fidelity). It measures the spread of one subset's estimate; the mean over
        the subsets varies less.

    See Also
    --------
    kid_score : The KID of features extracted from data.
    frechet_distance : The distance behind the FID.

    Notes
    -----
    Sums of kernel values are accumulated in float64 whatever the input's dtype. The
    estimates agree with torch-fidelity's and clean-fid's on the same subsets
    (``benchmarks/results/generation_metrics.md``).

    References
    ----------
    M. Bińkowski, D. J. Sutherland, M. Arbel and A. Gretton, "Demystifying MMD GANs",
    ICLR 2018, `arXiv:1801.01401 <https://arxiv.org/abs/1801.01401>`_.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lorae.metrics import kernel_distance
    >>> rng = np.random.RandomState(0)
    >>> a, b = rng.normal(size=(500, 8)), rng.normal(size=(500, 8))
    >>> mean, std = kernel_distance(a, b, subset_size=200, random_state=0)
    >>> bool(abs(mean) < 2 * std)  # same distribution: 0 within the noise
    True
    >>> shifted, _ = kernel_distance(a, b + 1.0, subset_size=200, random_state=0)
    >>> bool(shifted > 10 * std)
    True
    """
)
def kernel_distance(features_a, features_b, *, n_subsets=100, subset_size=1000, random_state=None):
    features_a = check_features(features_a, "features_a")
    features_b = check_features(features_b, "features_b")
    check_same_width(features_a.shape[1], features_b.shape[1], "features_a", "features_b")
    subsets_a, subsets_b = _draw_subsets(len(features_a), len(features_b), n_subsets, subset_size, random_state)
    if subsets_a.shape[1] == len(features_a) == len(features_b):
        # Every subset is a whole set: one estimate, whatever n_subsets.
        whole = np.arange(len(features_a))[None, :]
        return float(_mmd2_from_whole_kernels(features_a, features_b, whole, whole)[0]), 0.0
    estimates = _subset_mmd2(features_a, features_b, subsets_a, subsets_b)
    return float(estimates.mean()), float(estimates.std())


def _draw_subsets(n_a, n_b, n_subsets, subset_size, random_state):
    """Row indices of the subsets, ``(n_subsets, m)`` for each set, drawn without
    replacement: for each subset one of a, then one of b (torch-fidelity's order)."""
    size = min(n_a, n_b, subset_size)
    if size < 2:
        raise ValueError(
            f"The KID needs at least 2 samples in each set; got {n_a} and {n_b}: its "
            "within-set terms average over pairs of distinct samples."
        )
    rng = check_random_state(random_state)
    subsets_a = np.empty((n_subsets, size), dtype=np.intp)
    subsets_b = np.empty((n_subsets, size), dtype=np.intp)
    for subset in range(n_subsets):
        subsets_a[subset] = rng.choice(n_a, size, replace=False)
        subsets_b[subset] = rng.choice(n_b, size, replace=False)
    return subsets_a, subsets_b


def _subset_mmd2(a, b, subsets_a, subsets_b, method=None):
    """The unbiased MMD^2 of every pair of subsets. ``method``: "subsets" or "whole"
    (the kernel matrices of the subsets, or of the whole sets); None takes the cheaper."""
    (n_a, n_features), n_b = a.shape, b.shape[0]
    n_subsets, size = subsets_a.shape
    if method is None:
        per_subset = n_subsets * size**2 * (4 * n_features + 12)
        whole = 2 * (n_a**2 + n_b**2 + n_a * n_b) * (n_features + n_subsets + 2)
        method = "subsets" if per_subset <= whole else "whole"
    if method == "subsets":
        return np.array([_mmd2(a[rows_a], b[rows_b]) for rows_a, rows_b in zip(subsets_a, subsets_b)])
    return _mmd2_from_whole_kernels(a, b, subsets_a, subsets_b)


def _cubic_kernel(x, y):
    """``(x @ y.T / d + 1)**3``; numpy computes ``x @ x.T`` as a symmetric rank-k update."""
    kernel = x @ y.T
    kernel /= x.shape[1]
    kernel += 1.0
    squared = kernel * kernel
    kernel *= squared
    return kernel


def _mmd2(x, y):
    """The unbiased MMD^2 between two sets of m rows."""
    size = x.shape[0]
    within = 0.0
    for rows in (x, y):
        kernel = _cubic_kernel(rows, rows)
        within += kernel.sum() - np.trace(kernel)
    return within / (size * (size - 1)) - 2.0 * _cubic_kernel(x, y).sum() / size**2


def _mmd2_from_whole_kernels(a, b, subsets_a, subsets_b):
    """The unbiased MMD^2 of every pair of subsets, from the whole kernel matrices."""
    size = subsets_a.shape[1]
    members_a, members_b = _membership(subsets_a, len(a)), _membership(subsets_b, len(b))
    within = 0.0
    for rows, members in ((a, members_a), (b, members_b)):
        # The diagonal k(x_i, x_i) of each subset is left out of the within-set sums.
        diagonal = (np.einsum("ij,ij->i", rows, rows) / rows.shape[1] + 1.0) ** 3
        within = within + _subset_kernel_sums(rows, rows, members, members) - members.T @ diagonal
    cross = _subset_kernel_sums(a, b, members_a, members_b)
    return within / (size * (size - 1)) - 2.0 * cross / size**2


def _membership(subsets, n_rows):
    """The 0/1 matrix of shape (n_rows, n_subsets): row i is in subset s."""
    members = np.zeros((n_rows, subsets.shape[0]))
    members[subsets, np.arange(subsets.shape[0])[:, None]] = 1.0
    return members


def _subset_kernel_sums(x, y, members_x, members_y):
    """``sum_{i in S_x(s), j in S_y(s)} k(x_i, y_j)`` for every subset s, from row
    blocks of the kernel matrix ``k(x, y)``."""
    sums = np.zeros(members_x.shape[1])
    block = max(1, _BLOCK_BYTES // (8 * len(y)))
    for start in range(0, len(x), block):
        rows = slice(start, start + block)
        sums += np.einsum("is,is->s", members_x[rows], _cubic_kernel(x[rows], y) @ members_y)
    return sums
