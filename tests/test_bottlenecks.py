"""The seeds' other methods as bottlenecks: VAE, RAE, WAE, RRAE / aRRAE, and samplers."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.mixture import BayesianGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_lorae import LoRAEGenerator, LoRAETransformer
from sklearn_lorae._bottlenecks import BOTTLENECKS, imq_mmd, truncate
from sklearn_lorae.metrics import latent_rank, latent_singular_values

FAST = dict(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)
SMALL = dict(latent_dim=8, hidden_layer_sizes=(32,), lr=5e-3, random_state=0)
NEW_REGULARIZERS = ["variational", "rae", "wae", "truncated"]


@parametrize_with_checks(
    [
        *(LoRAETransformer(regularizer=name, **FAST) for name in NEW_REGULARIZERS),
        LoRAETransformer(regularizer="truncated", rank=2, **FAST),
        LoRAEGenerator(regularizer="variational", sampler="prior", **FAST),
        LoRAEGenerator(regularizer="wae", sampler=KernelDensity(bandwidth=0.5), **FAST),
        LoRAEGenerator(regularizer="truncated", rank=2, sampler=BayesianGaussianMixture(n_components=2), **FAST),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def X_small(digits):
    return digits[0][:400]


def fit_small(X, **params):
    return LoRAETransformer(**{**SMALL, "max_epochs": 5, **params}).fit(X)


# ------------------------------------------------------------------------ RRAE
def test_truncated_codes_have_rank_at_most_k(X_small):
    estimator = fit_small(X_small, regularizer="truncated", rank=3)
    Z = estimator.transform(X_small)
    assert estimator.rank_ == 3
    assert estimator.latent_rank_ <= 3
    assert latent_rank(latent_singular_values(Z)) <= 3
    assert np.linalg.matrix_rank(Z, tol=1e-4 * np.abs(Z).max()) <= 3
    # The codes are the projections onto the training set's basis: projecting is a no-op.
    basis = estimator.net_.module_.bottleneck.basis.numpy()
    assert basis.shape == (3, 8)
    np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(Z @ basis.T @ basis, Z, atol=1e-5)
    # One fixed basis, not the SVD of whatever batch is transformed.
    np.testing.assert_allclose(estimator.transform(X_small[:5]), Z[:5], rtol=1e-5, atol=1e-6)
    # inverse_transform decodes exactly those codes: it is the reconstruction.
    assert estimator.score(X_small) == pytest.approx(
        -np.mean((X_small - estimator.inverse_transform(Z)) ** 2), rel=1e-5
    )
    # The 5 epochs of training and the default 2 of the decoder's fine-tuning, all at rank 3.
    assert list(estimator.net_.history[:, "rank"]) == [3] * (5 + estimator.finetune_epochs)


def test_truncated_training_forward_is_the_batch_truncated_svd(X_small):
    estimator = fit_small(X_small, regularizer="truncated", rank=2, max_epochs=1)
    module = estimator.net_.module_.train()
    x = torch.from_numpy(X_small[:64])
    with torch.no_grad():
        _, h, z = module(x)
    assert torch.linalg.matrix_rank(h).item() == 8
    assert torch.linalg.matrix_rank(z, atol=1e-4 * z.abs().max().item()).item() == 2
    u, s, vh = torch.linalg.svd(h, full_matrices=False)
    torch.testing.assert_close(z, (u[:, :2] * s[:2]) @ vh[:2], atol=1e-5, rtol=1e-4)


def test_truncate_is_differentiable():
    h = torch.randn(16, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: truncate(h, 2), (h,))


def test_rank_larger_than_latent_dim_raises():
    X = np.random.RandomState(0).normal(size=(20, 5))
    with pytest.raises(ValueError, match="rank=9 should be <= latent_dim=8"):
        LoRAETransformer(regularizer="truncated", rank=9, **SMALL).fit(X)


def test_rank_is_none_without_a_hard_rank():
    X = np.random.RandomState(0).normal(size=(30, 5))
    assert LoRAETransformer(regularizer="nuclear", **FAST).fit(X).rank_ is None


def make_three_dimensional_manifold(n_samples=600, n_features=50, seed=0):
    """Points of a 3-dimensional manifold in 50 dimensions: a uniform 3-d latent through
    a fixed random one-hidden-layer tanh map."""
    rng = np.random.RandomState(seed)
    t = rng.uniform(-1, 1, size=(n_samples, 3))
    hidden = np.tanh(t @ rng.normal(size=(3, 32)) + 0.5 * rng.normal(size=32))
    X = hidden @ rng.normal(size=(32, n_features)) / np.sqrt(32)
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32)


def test_adaptive_rank_finds_the_manifold_dimension():
    X = make_three_dimensional_manifold()
    estimator = LoRAETransformer(
        regularizer="truncated",
        rank="auto",
        latent_dim=8,
        hidden_layer_sizes=(64,),
        max_epochs=45,
        batch_size=64,
        lr=3e-3,
        random_state=0,
    ).fit(X)
    ranks = list(estimator.net_.history[:, "rank"])
    assert ranks[0] == 8, ranks  # starts at full rank ...
    assert min(ranks) == 2, ranks  # ... goes one too far, where the loss cannot keep up ...
    assert estimator.rank_ == 3, ranks  # ... and backs off to the manifold's dimension.
    assert ranks[-1] == 3
    assert estimator.latent_rank_ <= 3


# ------------------------------------------------------------------------- VAE
def test_variational_transform_is_the_deterministic_mean(X_small):
    estimator = fit_small(X_small, regularizer="variational")
    Z = estimator.transform(X_small)
    np.testing.assert_array_equal(Z, estimator.transform(X_small))
    module = estimator.net_.module_
    with torch.no_grad():
        x = torch.from_numpy(X_small)
        mean = module.bottleneck.mean(module.encoder(x))
        module.train()
        draws = [module(x)[2] for _ in range(2)]
    np.testing.assert_allclose(Z, mean.numpy(), rtol=1e-5, atol=1e-6)
    # While training the decoder sees reparameterised draws around the mean.
    assert not torch.allclose(draws[0], draws[1])
    assert not torch.allclose(draws[0], mean)


def test_variational_kl_is_finite_and_decreases(X_small):
    estimator = fit_small(X_small, regularizer="variational", alpha=0.05)
    history = estimator.net_.history
    kl = np.array(history[:, "penalty"]) / 0.05  # epoch means of alpha * KL
    assert np.all(np.isfinite(kl)) and np.all(kl >= 0)
    assert kl[-1] < 0.5 * kl[0], kl
    # The penalty is alpha * KL(N(mean, exp(log_var)) || N(0, I)), summed over dimensions.
    module = estimator.net_.module_
    with torch.no_grad():
        h = module.encoder(torch.from_numpy(X_small))
        mean, log_var = module.bottleneck.mean(h), module.bottleneck.log_var(h)
        q = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
        p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
        expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
        penalty = module.bottleneck.penalty(h, None, module.decoder)
    assert penalty.item() == pytest.approx(0.05 * expected.item(), rel=1e-5)


def test_variational_prior_samples_decode_to_finite_values(X_small):
    generator = LoRAEGenerator(regularizer="variational", sampler="prior", max_epochs=5, **SMALL)
    samples = generator.fit(X_small).sample(50, random_state=0)
    assert samples.shape == (50, 64) and samples.dtype == X_small.dtype
    assert np.all(np.isfinite(samples))
    np.testing.assert_array_equal(samples, generator.sample(50, random_state=0))
    assert np.array_equal(generator.density_.means_, np.zeros((1, 8)))
    assert np.array_equal(generator.density_.covariances_[0], np.eye(8))


def test_prior_sampler_needs_a_method_with_a_prior():
    X = np.random.RandomState(0).normal(size=(20, 5))
    generator = LoRAEGenerator(regularizer="nuclear", sampler="prior", **FAST)
    with pytest.raises(ValueError, match=r"regularizer in \['variational', 'wae'\]"):
        generator.fit(X)
    assert not hasattr(generator, "net_")  # refused before training


# -------------------------------------------------------------------- RAE, WAE
@pytest.fixture(scope="module")
def plain_codes(X_small):
    return fit_small(X_small, regularizer="none").transform(X_small)


def test_rae_penalty_is_in_the_history_and_shrinks_the_codes(X_small, plain_codes):
    estimator = fit_small(X_small, regularizer="rae", alpha=0.1)
    history = estimator.net_.history
    assert all(batch["penalty"] > 0 for batch in history[-1, "batches"])
    # The formula: alpha * (||z||^2 / 2 + 1e-3 * squared decoder weights).
    module = estimator.net_.module_
    with torch.no_grad():
        z = module.encoder(torch.from_numpy(X_small))
        weights = sum((p**2).sum() for name, p in module.decoder.named_parameters() if "weight" in name)
        expected = 0.1 * (0.5 * (z**2).sum(1).mean() + 1e-3 * weights)
        assert module.penalty(z, z).item() == pytest.approx(expected.item(), rel=1e-5)
    # Same seed, same init and batches as the plain autoencoder: only the penalty differs.
    codes = estimator.transform(X_small)
    assert np.mean(np.sum(codes**2, 1)) < 0.5 * np.mean(np.sum(plain_codes**2, 1))


def test_wae_penalty_is_in_the_history_and_pulls_codes_to_the_prior(X_small, plain_codes):
    estimator = fit_small(X_small, regularizer="wae", alpha=1.0)
    penalties = [batch["penalty"] for batch in estimator.net_.history[-1, "batches"]]
    assert all(np.isfinite(penalties)) and all(p != 0 for p in penalties)
    # The same draws of the prior (the same seed) with alpha=0: only the penalty differs.
    unpenalised = fit_small(X_small, regularizer="wae", alpha=0.0).transform(X_small)
    codes = estimator.transform(X_small)
    assert np.linalg.norm(codes - unpenalised) > 0.1 * np.linalg.norm(unpenalised)
    assert np.linalg.norm(codes - plain_codes) > 0.1 * np.linalg.norm(plain_codes)
    prior = torch.randn(len(codes), 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def mmd(Z):
        return imq_mmd(torch.from_numpy(Z).double(), prior).item()

    assert mmd(codes) < 0.5 * mmd(unpenalised)
    assert mmd(codes) < 0.5 * mmd(plain_codes)


def test_imq_mmd_is_the_unbiased_estimate():
    rng = np.random.RandomState(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 3)) + 0.5
    scales = (0.5, 1.0, 2.0)

    def k(a, b):
        return sum(2 * 3 * s / (2 * 3 * s + np.sum((a - b) ** 2)) for s in scales)

    n = len(x)
    expected = (
        sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
        - 2 * sum(k(x[i], y[j]) for i in range(n) for j in range(n)) / n**2
    )
    value = imq_mmd(torch.from_numpy(x), torch.from_numpy(y), scales).item()
    assert value == pytest.approx(expected, rel=1e-10)
    same = torch.randn(500, 3, dtype=torch.float64)
    assert abs(imq_mmd(same, torch.randn(500, 3, dtype=torch.float64)).item()) < 0.01
    assert imq_mmd(same, torch.randn(500, 3, dtype=torch.float64) + 1).item() > 0.05


# ------------------------------------------------------------- all of them
def test_grid_search_over_every_regularizer(digits):
    X_train = digits[0][:300]
    search = GridSearchCV(
        LoRAETransformer(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=2, random_state=0),
        {"regularizer": list(BOTTLENECKS)},
        cv=2,
    ).fit(X_train)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) == len(BOTTLENECKS) >= 7
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    assert search.best_estimator_.transform(X_train).shape == (300, 4)


# --------------------------------------------------------------------- samplers
@pytest.mark.parametrize("sampler", [KernelDensity(bandwidth=0.2), BayesianGaussianMixture(n_components=3)])
def test_any_sampler_with_fit_and_sample(X_small, sampler):
    generator = LoRAEGenerator(sampler=sampler, max_epochs=2, **SMALL).fit(X_small)
    density = generator.density_
    assert type(density) is type(sampler) and density is not sampler
    assert not hasattr(sampler, "n_features_in_")  # a clone was fitted, not the user's
    assert density.n_features_in_ == 8
    samples = generator.sample(20, random_state=0)
    assert samples.shape == (20, 64) and np.all(np.isfinite(samples))
    np.testing.assert_array_equal(samples, generator.sample(20, random_state=0))
    assert not np.allclose(samples, generator.sample(20, random_state=1))
    if "random_state" in sampler.get_params():
        assert density.random_state is not None  # seeded from the generator's random_state
        assert sampler.random_state is None
    # The same random_state refits the same density.
    again = clone(generator).fit(X_small)
    np.testing.assert_array_equal(again.sample(20, random_state=0), samples)


def test_sampler_without_sample_is_rejected():
    X = np.random.RandomState(0).normal(size=(20, 5))
    with pytest.raises(ValueError, match="sampler"):
        LoRAEGenerator(sampler=PCA(), **FAST).fit(X)
