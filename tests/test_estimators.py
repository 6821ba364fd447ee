"""Behaviour of LoRAETransformer and LoRAEGenerator beyond scikit-learn's common checks."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from torch import nn

from sklearn_lorae import LoRAEGenerator, LoRAETransformer
from sklearn_lorae._net import NonFiniteLossError
from sklearn_lorae.metrics import frechet_distance

QUICK = dict(latent_dim=8, hidden_layer_sizes=(32,), max_epochs=2, random_state=0)


def test_pipeline_accuracy_on_digits(digits):
    X_train, X_test, y_train, y_test = digits
    pipeline = Pipeline(
        [
            ("lorae", LoRAETransformer(random_state=0)),
            ("clf", MLPClassifier(max_iter=500, random_state=0)),
        ]
    )
    accuracy = pipeline.fit(X_train, y_train).score(X_test, y_test)
    assert accuracy >= 0.90


RANK_SETTINGS = dict(latent_dim=32, max_epochs=30, random_state=0)


@pytest.fixture(scope="module")
def plain_autoencoder_rank(digits):
    return LoRAETransformer(regularizer="none", **RANK_SETTINGS).fit(digits[0]).latent_rank_


def test_latent_rank_falls_as_alpha_grows(digits, plain_autoencoder_rank):
    ranks = [
        LoRAETransformer(alpha=alpha, **RANK_SETTINGS).fit(digits[0]).latent_rank_ for alpha in [1e-4, 1e-3, 1e-2, 1e-1]
    ]
    assert all(later <= earlier for earlier, later in zip(ranks, ranks[1:])), ranks
    assert ranks[-1] <= plain_autoencoder_rank / 2, (ranks, plain_autoencoder_rank)


def test_implicit_bottleneck_lowers_rank_too(digits, plain_autoencoder_rank):
    irmae = LoRAETransformer(regularizer="implicit", n_linear=4, **RANK_SETTINGS).fit(digits[0])
    assert irmae.latent_rank_ < plain_autoencoder_rank


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_over_alpha_and_latent_dim(digits, n_jobs):
    X_train = digits[0][:400]
    search = GridSearchCV(
        LoRAETransformer(**QUICK),
        {"alpha": [1e-3, 1e-1], "latent_dim": [4, 8]},
        cv=2,
        n_jobs=n_jobs,
    ).fit(X_train)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert np.all(search.cv_results_["mean_test_score"] < 0)
    assert search.best_estimator_.transform(X_train).shape == (400, search.best_params_["latent_dim"])


def test_samples_resemble_the_data(digits):
    X_train, X_test = digits[0], digits[1]
    generator = LoRAEGenerator(random_state=0).fit(X_train)
    samples = generator.sample(len(X_test), random_state=0)
    assert samples.shape == X_test.shape
    assert samples.dtype == X_train.dtype
    assert np.all(np.isfinite(samples))
    noise = np.random.RandomState(0).uniform(size=X_test.shape)
    assert frechet_distance(X_test, samples) < 0.2 * frechet_distance(X_test, noise)


def test_sample_random_state():
    X = np.random.RandomState(0).normal(size=(60, 5))
    generator = LoRAEGenerator(**QUICK).fit(X)
    np.testing.assert_array_equal(generator.sample(5, random_state=1), generator.sample(5, random_state=1))
    assert not np.allclose(generator.sample(5), generator.sample(5))
    with pytest.raises(ValueError, match="n_samples"):
        generator.sample(0)


def test_gaussian_sampler_is_one_component():
    X = np.random.RandomState(0).normal(size=(60, 5))
    generator = LoRAEGenerator(sampler="gaussian", n_components=7, **QUICK).fit(X)
    assert generator.density_.n_components == 1
    assert generator.sample(4).shape == (4, 5)


def test_sample_draws_in_chunks(monkeypatch):
    from sklearn_lorae import generator as generator_module

    X = np.random.RandomState(0).normal(size=(200, 5))
    generator = LoRAEGenerator(**QUICK).fit(X)
    whole = generator.sample(3000, random_state=1)
    monkeypatch.setattr(generator_module, "_SAMPLE_CHUNK_SIZE", 7)
    chunked = generator.sample(3000, random_state=1)
    assert chunked.shape == whole.shape and np.all(np.isfinite(chunked))
    np.testing.assert_array_equal(chunked, generator.sample(3000, random_state=1))
    # Different draws of the same density: the same mean and spread.
    assert not np.allclose(chunked, whole)
    np.testing.assert_allclose(chunked.mean(axis=0), whole.mean(axis=0), atol=0.1)
    np.testing.assert_allclose(chunked.std(axis=0), whole.std(axis=0), rtol=0.1)


def test_inference_batches_shrink_for_wide_activations(monkeypatch):
    from sklearn_lorae import _base

    X = np.random.RandomState(0).uniform(size=(40, 64))
    transformer = LoRAETransformer(image_shape=(1, 8, 8), **QUICK).fit(X)
    codes, reconstructions = transformer.transform(X), transformer.inverse_transform(transformer.transform(X))
    chosen, rows_per_batch = [], _base._rows_per_batch

    def spy(*args):
        chosen.append(rows_per_batch(*args))
        return chosen[-1]

    # A budget of a few rows' widest activation: several batches per call.
    monkeypatch.setattr(_base, "_INFERENCE_ACTIVATION_BYTES", 2**15)
    monkeypatch.setattr(_base, "_rows_per_batch", spy)
    np.testing.assert_allclose(transformer.transform(X), codes, rtol=1e-12)
    np.testing.assert_allclose(transformer.inverse_transform(codes), reconstructions, rtol=1e-12)
    assert len(chosen) == 2 and all(1 <= rows < 40 for rows in chosen)


def test_latent_mixture_is_fitted_in_float32_and_falls_back_to_float64(monkeypatch):
    from sklearn.mixture import GaussianMixture

    from sklearn_lorae import _density

    fitted_dtypes = []

    class RecordingMixture(GaussianMixture):
        def fit(self, X, y=None):
            fitted_dtypes.append(X.dtype)
            return super().fit(X, y)

    monkeypatch.setattr(_density, "GaussianMixture", RecordingMixture)
    rng = np.random.RandomState(0)
    ordinary = rng.normal(size=(300, 6)).astype(np.float32)
    mixture = _density.fit_gaussian_mixture(ordinary, 2, seed=0)
    assert fitted_dtypes == [np.float32]
    assert mixture.means_.dtype == mixture.covariances_.dtype == np.float64
    # Rank 2 in 10 dimensions at a scale of 1e4: float32 rounding of the covariances
    # exceeds reg_covar=1e-6 and their Cholesky factorisation fails.
    degenerate = (rng.normal(size=(300, 2)) @ rng.normal(size=(2, 10)) * 1e4).astype(np.float32)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(2, covariance_type="full", init_params="k-means++", random_state=0).fit(degenerate)
    fitted_dtypes.clear()
    mixture = _density.fit_gaussian_mixture(degenerate, 2, seed=0)
    assert fitted_dtypes == [np.float32, np.float64]
    assert np.isfinite(mixture.score(degenerate))


def test_latent_mixture_samples_without_covariance_warnings():
    from sklearn_lorae._density import fit_gaussian_mixture

    # Full-rank codes in 128 dimensions (an AE's or a WAE's): their float32 covariances
    # are symmetric positive definite only to float32 rounding, and numpy's
    # multivariate_normal (behind GaussianMixture.sample) warns at a tolerance of 1e-8.
    rng = np.random.RandomState(0)
    codes = (rng.normal(size=(3000, 128)) @ rng.normal(size=(128, 128)) / np.sqrt(128)).astype(np.float32)
    mixture = fit_gaussian_mixture(codes, 4, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draws, _ = mixture.sample(3000)
    # Still the fitted density: covariances and precisions are inverses of each other,
    # and the draws have the codes' mean and scale.
    for covariance, precision in zip(mixture.covariances_, mixture.precisions_):
        np.testing.assert_allclose(covariance @ precision, np.eye(128), atol=1e-4)
    np.testing.assert_allclose(draws.mean(0), codes.mean(0), atol=0.15)
    np.testing.assert_allclose(draws.std(0), codes.std(0), rtol=0.1)


@pytest.mark.parametrize("Estimator", [LoRAETransformer, LoRAEGenerator])
def test_pickle_and_joblib_round_trip(Estimator, tmp_path):
    X = np.random.RandomState(0).normal(size=(50, 6)).astype(np.float32)
    estimator = Estimator(**QUICK).fit(X)
    expected = estimator.transform(X)
    restored = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(restored.transform(X), expected)
    joblib.dump(estimator, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").transform(X), expected)


def test_clone_is_unfitted():
    X = np.random.RandomState(0).normal(size=(50, 6))
    estimator = LoRAETransformer(**QUICK).fit(X)
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params()
    with pytest.raises(NotFittedError):
        copy.transform(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(dtype):
    X = np.random.RandomState(0).normal(size=(50, 6)).astype(dtype)
    generator = LoRAEGenerator(**QUICK).fit(X)
    Z = generator.transform(X)
    assert Z.dtype == dtype
    assert generator.inverse_transform(Z).dtype == dtype
    assert generator.sample(3).dtype == dtype


def test_same_random_state_same_model_and_global_state_untouched():
    X = np.random.RandomState(0).normal(size=(80, 6))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = LoRAEGenerator(**QUICK).fit(X)
    assert torch.equal(torch.random.get_rng_state(), before)
    second = LoRAEGenerator(**QUICK).fit(X)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))
    np.testing.assert_array_equal(first.sample(5, random_state=0), second.sample(5, random_state=0))
    other = LoRAEGenerator(**{**QUICK, "random_state": 1}).fit(X)
    assert not np.allclose(first.transform(X), other.transform(X))


def test_fitted_attributes(digits):
    X_train = digits[0]
    estimator = LoRAETransformer(latent_dim=12, max_epochs=3, random_state=0).fit(X_train)
    assert estimator.n_features_in_ == 64
    assert estimator.n_iter_ == 3
    singular_values = estimator.latent_singular_values_
    assert singular_values.shape == (12,)
    assert np.all(np.diff(singular_values) <= 0) and singular_values[-1] >= 0
    assert 1 <= estimator.latent_rank_ <= 12
    assert list(estimator.get_feature_names_out()) == [f"loraetransformer{i}" for i in range(12)]
    history = estimator.net_.history
    assert len(history[-1, "batches"]) == int(np.ceil(len(X_train) / 128))
    assert history[-1, "batches", -1, "penalty"] > 0
    assert history[-1, "train_loss"] == pytest.approx(history[-1, "reconstruction"] + history[-1, "penalty"])


def test_transform_is_the_folded_encoder():
    # z = M(E(x)) and inverse_transform is D(z): decoding the codes is the reconstruction.
    X = np.random.RandomState(0).normal(size=(40, 6)).astype(np.float32)
    estimator = LoRAETransformer(**QUICK).fit(X)
    module = estimator.net_.module_
    with torch.no_grad():
        reconstruction, _, z = module(torch.from_numpy(X))
        M = module.bottleneck.linear.weight
        folded = module.encoder(torch.from_numpy(X)) @ M.T
    np.testing.assert_allclose(estimator.transform(X), z.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(estimator.transform(X), folded.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        estimator.inverse_transform(estimator.transform(X)), reconstruction.numpy(), rtol=1e-5, atol=1e-6
    )
    assert estimator.score(X) == pytest.approx(-np.mean((X - reconstruction.numpy()) ** 2), rel=1e-5)


def test_alpha_is_the_papers_lambda_on_mean_squared_error():
    # loss = mean over features and samples of the squared error + alpha * ||M||_*
    X = np.random.RandomState(0).normal(size=(32, 6)).astype(np.float32)
    estimator = LoRAETransformer(alpha=0.5, batch_size=32, **{**QUICK, "max_epochs": 1}).fit(X)
    net = estimator.net_
    module = net.module_.train()
    inputs = torch.from_numpy(X)
    loss = net.get_loss(module(inputs), inputs)
    reconstruction = module(inputs)[0]
    expected = ((reconstruction - inputs) ** 2).mean() + 0.5 * torch.linalg.svdvals(
        module.bottleneck.linear.weight
    ).sum()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize(
    "image_shape, widths",
    [((1, 28, 28), (32, 64, 128, 256)), ((1, 8, 8), (32, 64, 128, 256)), ((3, 64, 64), (128, 256, 512, 1024))],
)
def test_convolutional_nets_follow_the_paper(image_shape, widths):
    from sklearn_lorae._modules import ConvDecoder, ConvEncoder

    encoder = ConvEncoder(image_shape, latent_dim=16)
    decoder = ConvDecoder(16, image_shape, "tanh")
    conv_widths = [m.out_channels for m in encoder.features if isinstance(m, nn.Conv2d)]
    assert tuple(conv_widths) == widths
    x = torch.rand(2, *image_shape)
    z = encoder(x)
    assert z.shape == (2, 16)
    assert decoder(z).shape == (2, *image_shape)
    if image_shape == (1, 28, 28):
        assert encoder.linear.in_features == 1024
        assert decoder.linear.out_features == 8 * 8 * 128
        deconv = [m.out_channels for m in decoder.features if isinstance(m, nn.ConvTranspose2d)]
        assert deconv == [64, 32, 1]
    if image_shape == (3, 64, 64):
        deconv = [m.out_channels for m in decoder.features if isinstance(m, nn.ConvTranspose2d)]
        assert deconv == [512, 256, 128, 3]


def test_image_data_end_to_end(digits):
    X_train = digits[0][:256]
    generator = LoRAEGenerator(image_shape=(1, 8, 8), latent_dim=8, max_epochs=2, random_state=0)
    generator.fit(X_train)
    assert generator.transform(X_train).shape == (256, 8)
    assert generator.sample(3).shape == (3, 64)


def test_user_modules_are_copied_not_changed():
    X = np.random.RandomState(0).normal(size=(40, 6)).astype(np.float32)
    encoder, decoder = nn.Linear(6, 3), nn.Sequential(nn.Linear(3, 6))
    before = encoder.weight.detach().clone()
    estimator = LoRAETransformer(latent_dim=3, encoder=encoder, decoder=decoder, max_epochs=2, random_state=0)
    estimator.fit(X)
    assert torch.equal(encoder.weight, before)
    assert estimator.net_.module_.encoder is not encoder
    assert estimator.transform(X).shape == (40, 3)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(image_shape=(1, 5, 5)), r"image_shape=\(1, 5, 5\) holds 25 values per image, but X has 6"),
        (dict(image_shape=(2, 3)), "three positive integers"),
        (dict(hidden_layer_sizes=(8, -1)), "positive integers"),
        (dict(output_activation="sigmoid"), "sigmoid.*clipped"),
        (dict(device="cuda:0"), "CUDA is not available"),
        (dict(device="not-a-device"), "not a torch device"),
        (dict(alpha=-1.0), "alpha"),
        (dict(regularizer="lasso"), "regularizer"),
    ],
)
def test_bad_parameters_raise(params, match):
    if params.get("device", "").startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is available here: the device error cannot happen")
    X = np.random.RandomState(0).normal(size=(20, 6))
    with pytest.raises(ValueError, match=match):
        LoRAETransformer(**{**QUICK, **params}).fit(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_raises(bad):
    X = np.random.RandomState(0).normal(size=(20, 6))
    X[3, 2] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        LoRAETransformer(**QUICK).fit(X)


def test_wrong_width_raises():
    X = np.random.RandomState(0).normal(size=(20, 6))
    estimator = LoRAETransformer(**QUICK).fit(X)
    with pytest.raises(ValueError, match="6 features"):
        estimator.transform(X[:, :5])
    with pytest.raises(ValueError, match="latent_dim=8"):
        estimator.inverse_transform(np.zeros((2, 5)))


def test_diverging_fit_stops_with_a_clear_error():
    X = np.random.RandomState(0).normal(size=(64, 6)) * 1e30
    estimator = LoRAETransformer(**QUICK)
    with pytest.raises(NonFiniteLossError, match="loss became"):
        estimator.fit(X)
    assert not hasattr(estimator, "net_")


def test_too_few_samples_for_the_mixture():
    X = np.random.RandomState(0).normal(size=(3, 6))
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_components=4"):
        LoRAEGenerator(**QUICK).fit(X)


def test_failed_training_warns_that_the_output_ignores_the_input():
    X = np.random.RandomState(0).normal(size=(60, 6)).astype(np.float32)
    # ReLUs that no input can switch on: the decoder outputs zeros whatever the code.
    dead = nn.Linear(3, 6)
    nn.init.constant_(dead.bias, -100.0)
    decoder = nn.Sequential(dead, nn.ReLU())
    with pytest.warns(ConvergenceWarning, match="output does not depend on its input") as caught:
        LoRAETransformer(latent_dim=3, decoder=decoder, max_epochs=2, random_state=0).fit(X)
    # A custom decoder's start is the user's: no advice about output_init.
    assert not any("output_init" in str(warning.message) for warning in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        LoRAETransformer(latent_dim=3, max_epochs=2, random_state=0).fit(X)
        estimator = LoRAETransformer(latent_dim=3, max_epochs=2, random_state=0, output_init="torch").fit(X)
    # The built-in decoder from torch's start: the advice names the default start.
    estimator._decode = lambda latents: np.zeros((len(latents), X.shape[1]), dtype=np.float32)
    with pytest.warns(ConvergenceWarning, match="try output_init='data_mean', another random_state"):
        estimator._warn_if_output_ignores_input(X, estimator.transform(X))
