"""Precision and recall (Kynkäänniemi et al., 2019), density and coverage (Naeem et al., 2020).

All four compare the sets through balls around samples: around each real sample a ball
whose radius is the distance to its k-th nearest real neighbour (the real "manifold"),
and for recall the same around the fake samples. With d(i, j) the distance between real
sample i and fake sample j and r_i, r'_j the radii:

- precision: the fraction of fake samples inside some real ball, ``d(i, j) < r_i``;
- recall: the fraction of real samples inside some fake ball, ``d(i, j) < r'_j``;
- density: the number of real balls around each fake sample, divided by k, averaged;
- coverage: the fraction of real samples whose ball holds some fake sample.

The distances are computed as ``||x||^2 + ||y||^2 - 2 x.y`` (BLAS), in blocks whose
size bounds the working memory (``_BLOCK_BYTES``), of features centred on the real
mean (a translation that changes no distance but keeps the expansion accurate). The
radii come from square blocks of the symmetric distances within a set, each computed
once for the rows of both its blocks: half the work of whole rows.
Squared distances are compared with squared radii, which orders them alike.
"""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from ._common import check_features, check_same_width, docstring

# Working memory of one block of distances: 800 rows of 10,000 in float64.
_BLOCK_BYTES = 64 * 2**20

_PARAMETERS = {
    "features_real": ["array-like"],
    "features_fake": ["array-like"],
    "nearest_k": [Interval(Integral, 1, None, closed="left")],
}


@validate_params(_PARAMETERS, prefer_skip_nested_validation=True)
@docstring(
    """Improved precision and recall of generated samples (Kynkäänniemi et al., 2019).

    Precision is the fraction of fake samples that lie within the k-nearest-neighbour
    balls of the real samples (how many samples look real: fidelity); recall the
    fraction of real samples within the balls of the fake samples (how much of the real
    data the generator covers: diversity). A ball's radius is the distance from its
    centre to the k-th nearest other sample of its own set.

    Read more in the :ref:`User Guide <evaluating_generators>`.

    Parameters
    ----------
{REAL_FAKE_FEATURES_DOC}
    nearest_k : int, default=3
        k of the k-th nearest neighbour: the paper's 3. Both sets need more than
        ``nearest_k`` samples.

    Returns
    -------
    precision : float
        In [0, 1]; greater is better.

    recall : float
        In [0, 1]; greater is better.

    See Also
    --------
    density_coverage : Fidelity and diversity measures less sensitive to outliers.
    generation_scores : These and other metrics from data, with one feature extraction.

    Notes
    -----
    The distances are computed in blocks of rows of 64 MB: beyond float64 copies of
    the two sets, the working memory stays under about 100 MB whatever their sizes
    (10,000 x 10,000 samples of 2048 features take about 0.4 GB in all). A ball holds
    the samples strictly inside it, as in the ``prdc`` package.

    References
    ----------
    T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen and T. Aila, "Improved Precision
    and Recall Metric for Assessing Generative Models", NeurIPS 2019,
    `arXiv:1904.06991 <https://arxiv.org/abs/1904.06991>`_.

    Examples
    --------
    Fake samples that all sit in one corner of the real data: high precision, low
    recall.

    >>> import numpy as np
    >>> from sklearn_lorae.metrics import precision_recall
    >>> rng = np.random.RandomState(0)
    >>> real = rng.uniform(size=(500, 2))
    >>> fake = 0.2 * rng.uniform(size=(500, 2))
    >>> precision, recall = precision_recall(real, fake)
    >>> bool(precision > 0.9), bool(recall < 0.2)
    (True, True)
    """
)
def precision_recall(features_real, features_fake, *, nearest_k=3):
    scores = manifold_scores(features_real, features_fake, precision_recall_k=nearest_k)
    return scores["precision"], scores["recall"]


@validate_params(_PARAMETERS, prefer_skip_nested_validation=True)
@docstring(
    """Density and coverage of generated samples (Naeem et al., 2020).

    Density counts how many real k-nearest-neighbour balls contain each fake sample,
    divided by k and averaged (fidelity: about 1 when both sets come from one
    distribution, above 1 where fakes crowd in dense real regions). Coverage is the
    fraction of real samples whose ball contains at least one fake sample (diversity).
    Unlike precision and recall, both use only the real samples' balls, so that
    outliers among the fakes do not inflate them.

    Read more in the :ref:`User Guide <evaluating_generators>`.

    Parameters
    ----------
{REAL_FAKE_FEATURES_DOC}
    nearest_k : int, default=5
        k of the k-th nearest neighbour: the paper's 5. The real set needs more than
        ``nearest_k`` samples.

    Returns
    -------
    density : float
        Non-negative, unbounded; about 1 for matching distributions.

    coverage : float
        In [0, 1]; greater is better.

    See Also
    --------
    precision_recall : The k-nearest-neighbour precision and recall.
    generation_scores : These and other metrics from data, with one feature extraction.

    Notes
    -----
    Computed in blocks of rows, like :func:`precision_recall`.

    References
    ----------
    M. F. Naeem, S. J. Oh, Y. Uh, Y. Choi and J. Yoo, "Reliable Fidelity and Diversity
    Metrics for Generative Models", ICML 2020,
    `arXiv:2002.09797 <https://arxiv.org/abs/2002.09797>`_.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_lorae.metrics import density_coverage
    >>> rng = np.random.RandomState(0)
    >>> real, fake = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4))
    >>> density, coverage = density_coverage(real, fake)
    >>> round(density, 1), round(coverage, 1)
    (1.0, 1.0)
    >>> density_coverage(real, 0.3 * fake)[1] < 0.9  # fakes too concentrated
    True
    """
)
def density_coverage(features_real, features_fake, *, nearest_k=5):
    scores = manifold_scores(features_real, features_fake, density_coverage_k=nearest_k)
    return scores["density"], scores["coverage"]


def manifold_scores(features_real, features_fake, *, precision_recall_k=None, density_coverage_k=None):
    """Precision and recall with ``precision_recall_k``, density and coverage with
    ``density_coverage_k`` (each pair when its k is not None), from one pass over the
    distances: a dict of floats."""
    real = check_features(features_real, "features_real", copy=True)
    fake = check_features(features_fake, "features_fake", copy=True)
    check_same_width(real.shape[1], fake.shape[1], "features_real", "features_fake")
    neighbours = sorted({k for k in (precision_recall_k, density_coverage_k) if k is not None})
    _check_more_samples_than_k(real, max(neighbours), "features_real")
    if precision_recall_k is not None:
        _check_more_samples_than_k(fake, precision_recall_k, "features_fake")

    centre = real.mean(axis=0)
    real -= centre
    fake -= centre
    real_norms = np.einsum("ij,ij->i", real, real)
    fake_norms = np.einsum("ij,ij->i", fake, fake)
    real_radii = _squared_neighbour_radii(real, real_norms, neighbours)
    if precision_recall_k is not None:
        fake_radii = _squared_neighbour_radii(fake, fake_norms, [precision_recall_k])[precision_recall_k]

    in_real_ball = {k: np.zeros(len(fake), dtype=np.int64) for k in neighbours}  # per fake sample
    real_ball_used = {k: np.zeros(len(real), dtype=bool) for k in neighbours}  # per real sample
    in_fake_ball = np.zeros(len(real), dtype=bool)
    for rows in _row_blocks(len(fake), len(real)):
        distances = _squared_distances(real, real_norms, fake[rows], fake_norms[rows])  # (n_real, block)
        for k in neighbours:
            inside = distances < real_radii[k][:, None]
            in_real_ball[k][rows] = inside.sum(axis=0)
            real_ball_used[k] |= inside.any(axis=1)
        if precision_recall_k is not None:
            in_fake_ball |= (distances < fake_radii[rows]).any(axis=1)
        del distances, inside  # before the next block is computed

    scores = {}
    if precision_recall_k is not None:
        scores["precision"] = float(np.mean(in_real_ball[precision_recall_k] > 0))
        scores["recall"] = float(np.mean(in_fake_ball))
    if density_coverage_k is not None:
        scores["density"] = float(np.mean(in_real_ball[density_coverage_k]) / density_coverage_k)
        scores["coverage"] = float(np.mean(real_ball_used[density_coverage_k]))
    return scores


def _check_more_samples_than_k(features, k, name):
    if len(features) <= k:
        raise ValueError(
            f"{name} has {len(features)} samples; the k-nearest-neighbour balls with nearest_k={k} need more than {k}."
        )


def _row_blocks(n_rows, row_length):
    """Slices of rows such that a block of ``row_length`` float64 per row fits ``_BLOCK_BYTES``."""
    block = max(1, _BLOCK_BYTES // (8 * row_length))
    return [slice(start, min(start + block, n_rows)) for start in range(0, n_rows, block)]


def _squared_distances(x, x_norms, y, y_norms):
    """Squared Euclidean distances between the rows of x and of y, (len(x), len(y))."""
    distances = x @ y.T
    distances *= -2.0
    distances += x_norms[:, None]
    distances += y_norms[None, :]
    return np.maximum(distances, 0.0, out=distances)


def _squared_neighbour_radii(x, norms, neighbours):
    """For each k in ``neighbours``: the squared distance of every row of x to its k-th
    nearest other row.

    The distances within x are symmetric: each square block of them, between the rows
    of two blocks, is computed once and serves the rows of both (the diagonal blocks
    as symmetric rank-k updates), half the multiplications of whole rows. Every row
    keeps its ``max(neighbours) + 1`` smallest distances so far, itself at 0 among them.
    """
    keep = max(neighbours) + 1
    # Two blocks at a time: the distances and their transpose.
    side = max(keep, int(np.sqrt(_BLOCK_BYTES / 16)))
    blocks = [slice(start, min(start + side, len(x))) for start in range(0, len(x), side)]
    smallest = np.full((len(x), keep), np.inf)

    def merge(rows, distances):
        candidates = np.concatenate([smallest[rows], _smallest_per_row(distances, keep)], axis=1)
        smallest[rows] = _smallest_per_row(candidates, keep)

    for index, rows in enumerate(blocks):
        for columns in blocks[index:]:
            distances = _squared_distances(x[rows], norms[rows], x[columns], norms[columns])
            if columns == rows:
                # Each row's distance to itself, zero but for rounding, ranks first.
                np.fill_diagonal(distances, 0.0)
            else:
                # A copy: merging reorders it, and the transpose of a one-column block
                # is already contiguous (np.ascontiguousarray would return a view).
                merge(columns, distances.T.copy())
            merge(rows, distances)
            del distances  # before the next block is computed
    smallest.partition(neighbours, axis=1)
    return {k: smallest[:, k].copy() for k in neighbours}


def _smallest_per_row(values, count):
    """The ``count`` smallest values of each row (all of them where a row has no more),
    in no order; ``values`` is reordered."""
    if values.shape[1] <= count:
        return values
    values.partition(count - 1, axis=1)
    return values[:, :count]
