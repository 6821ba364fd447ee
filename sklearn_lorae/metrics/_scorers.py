"""Scorers for model selection of generators by FID, KID, precision, recall, density or coverage."""

from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._features import inception_weights_path
from ._cache import REFERENCE_FEATURES
from ._common import (
    _DEFAULT_BATCH_SIZE,
    _FEATURE_EXTRACTION_PARAMETERS,
    _KID_PARAMETERS,
    FeatureSettings,
    check_data,
    docstring,
)
from ._frechet import check_reference_statistics, frechet_distance_to_reference
from ._scores import LOWER_IS_BETTER, METRICS, scores_from_features

_SCORER_PARAMETERS = {
    **_FEATURE_EXTRACTION_PARAMETERS,
    "n_samples": [Interval(Integral, 2, None, closed="left"), None],
    "random_state": ["random_state"],
    "reference_statistics": [tuple, list, None],
}

_SCORER_DOC = """\
{FEATURES_DOC}
    n_samples : int, default=None
        Number of samples drawn from the generator; None draws as many as X has rows.

    random_state : int, RandomState instance or None, default=None
        Seeds the draws (and the KID's subsets): an integer draws the same samples at
        every call, so that the scores of a search are reproducible.

    reference_statistics : tuple (mean, cov), default=None
        FID only: precomputed statistics of the features of a fixed reference set (as
        :func:`feature_statistics` returns them, with the same ``features``), against
        which every generator is scored, whatever X the scorer is given; X then only
        sets the number of samples drawn. None compares with the features of X."""

_RETURNS = """\
    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, for the ``scoring`` parameter of
        ``GridSearchCV``, ``cross_validate`` and the like, scoring a fitted generator
        (anything with ``sample(n_samples, random_state=...)``, e.g.
        :class:`~sklearn_lorae.LoRAEGenerator`). It pickles (for ``n_jobs > 1``) as
        long as ``features`` does. When ``image_shape`` is None, the estimator's own
        ``image_shape`` is used, if it has one.

    Raises
    ------
    ImportError
        With ``features="inception"``, when the ``inception`` extra is not installed:
        at construction, not after the first fit.
"""

_NOTES = """\
    Notes
    -----
    The features of X (the validation fold) are the same for every candidate of a
    search: the scorer keeps them in a cache of its process, keyed by a fingerprint
    of X's bytes and of the feature settings (a digest of the pickle of ``features``,
    its arrays and tensors by content), of at most 8 sets and 512 MB, least recently
    used out.
    A grid of C candidates on F folds then extracts the folds' features F times, not
    C x F, in one process or in its threads (Dask's threaded workers, joblib's
    threading backend); each process of a pool (joblib's default ``loky`` backend)
    has a cache of its own, so that a fold's features are extracted at most once per
    worker process (except for features that pickle differently in each copy, such as
    a fitted :class:`~sklearn_lorae.LoRAETransformer`). A refitted transformer or
    changed data miss the cache."""


@validate_params(
    {"metric": [StrOptions(set(METRICS))], **_SCORER_PARAMETERS, **_KID_PARAMETERS},
    prefer_skip_nested_validation=True,
)
@docstring(
    """Scorer for model selection of generators by a generation metric (greater is better).

    The scorer of a fitted generator on data X computes ``metric`` between X and
    ``estimator.sample(n_samples or len(X))``, as :func:`generation_scores` does,
    negated for the FID and the KID (whose mean it takes): ``GridSearchCV`` maximises
    scores, so it picks the lowest FID or KID and the highest precision, recall,
    density or coverage.

    Read more in the :ref:`User Guide <generation_scorers>`.

    Parameters
    ----------
    metric : {{"fid", "kid", "precision", "recall", "density", "coverage"}}, \
default="kid"
        What to score by. The KID, unbiased at any sample size, suits the small
        validation folds of a search better than the FID.

"""
    + _SCORER_DOC
    + """

{KID_DOC}
{NEAREST_K_DOC}
"""
    + _RETURNS
    + """
    See Also
    --------
    generation_scores : The metrics themselves.
    make_fid_scorer : The scorer by FID.

"""
    + _NOTES
    + """

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_lorae import LoRAEGenerator
    >>> from sklearn_lorae.metrics import make_generation_scorer
    >>> X = load_digits().data[:400] / 16.0
    >>> pca = PCA(8).fit(X)

    Select by KID, and record precision and recall alongside (the features of the
    folds are extracted once for all three scorers and both candidates):

    >>> scoring = {{name: make_generation_scorer(name, features=pca, random_state=0)
    ...            for name in ("kid", "precision", "recall")}}
    >>> search = GridSearchCV(
    ...     LoRAEGenerator(latent_dim=8, max_epochs=2, random_state=0),
    ...     {{"alpha": [1e-3, 1e-1]}}, scoring=scoring, refit="kid", cv=2,
    ... ).fit(X)
    >>> search.best_params_["alpha"] in (1e-3, 1e-1)
    True
    >>> sorted(key for key in search.cv_results_ if key.startswith("mean_test"))
    ['mean_test_kid', 'mean_test_precision', 'mean_test_recall']
    """
)
def make_generation_scorer(
    metric="kid",
    *,
    features="inception",
    n_samples=None,
    random_state=None,
    image_shape=None,
    pixel_range=(0.0, 1.0),
    batch_size=_DEFAULT_BATCH_SIZE,
    device="auto",
    n_subsets=100,
    subset_size=1000,
    nearest_k=None,
    reference_statistics=None,
):
    if reference_statistics is not None and metric != "fid":
        raise ValueError(f"reference_statistics are the FID's (mean, cov); metric={metric!r} needs data.")
    if isinstance(features, str) and features == "inception":
        inception_weights_path()  # raises the ImportError that says what to install
    return _GenerationScorer(
        metric,
        settings=FeatureSettings(features, image_shape, pixel_range, batch_size, device),
        n_samples=n_samples,
        random_state=random_state,
        kid_parameters={"n_subsets": n_subsets, "subset_size": subset_size},
        nearest_k=nearest_k,
        reference_statistics=check_reference_statistics(reference_statistics),
    )


@validate_params(_SCORER_PARAMETERS, prefer_skip_nested_validation=True)
@docstring(
    """Scorer for model selection of generators by FID (greater is better).

    The scorer of a fitted generator on data X is
    ``-fid_score(X, estimator.sample(n_samples or len(X)))``, the negated FID:
    ``GridSearchCV`` maximises scores, so it picks the lowest FID. The same as
    ``make_generation_scorer("fid", ...)``.

    Read more in the :ref:`User Guide <generation_scorers>`.

    Parameters
    ----------
"""
    + _SCORER_DOC
    + "\n\n"
    + _RETURNS
    + """
    See Also
    --------
    fid_score : The distance it negates.
    make_generation_scorer : Scorers by KID, precision, recall, density, coverage.

"""
    + _NOTES
    + """

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
    reference_statistics=None,
):
    return make_generation_scorer(
        "fid",
        features=features,
        n_samples=n_samples,
        random_state=random_state,
        image_shape=image_shape,
        pixel_range=pixel_range,
        batch_size=batch_size,
        device=device,
        reference_statistics=reference_statistics,
    )


class _GenerationScorer:
    """The scorer of :func:`make_generation_scorer`: a plain class so that it pickles."""

    def __init__(self, metric, *, settings, n_samples, random_state, kid_parameters, nearest_k, reference_statistics):
        self.metric = metric
        self.settings = settings
        self.n_samples = n_samples
        self.random_state = random_state
        self.kid_parameters = kid_parameters
        self.nearest_k = nearest_k
        self.reference_statistics = reference_statistics

    def __call__(self, estimator, X, y=None):
        if not callable(getattr(estimator, "sample", None)):
            raise TypeError(
                f"The {self.metric.upper()} scorer scores generators, which have a "
                f"sample(n_samples, random_state) method; {type(estimator).__name__} has none."
            )
        X = check_data(X, "X")
        n_samples = self.n_samples if self.n_samples is not None else X.shape[0]
        generated = check_data(estimator.sample(n_samples, random_state=self.random_state), "the generated samples")
        settings = self.settings
        if settings.image_shape is None:
            settings = settings._replace(image_shape=getattr(estimator, "image_shape", None))
        (features_fake,) = settings.extract(generated)
        if self.reference_statistics is not None:
            score = frechet_distance_to_reference(self.reference_statistics, features_fake)
        else:
            features_real = REFERENCE_FEATURES.features(X, settings)
            kid_parameters = {**self.kid_parameters, "random_state": self.random_state}
            scores = scores_from_features(features_real, features_fake, (self.metric,), kid_parameters, self.nearest_k)
            score = scores[self.metric]
        return -score if self.metric in LOWER_IS_BETTER else score

    def __repr__(self):
        return (
            f"make_generation_scorer({self.metric!r}, features={self.settings.features!r}, "
            f"n_samples={self.n_samples!r}, random_state={self.random_state!r})"
        )
