"""The WAE and RAE penalties against the official papers' losses, after converting the
papers' weights to ``alpha`` as the user guide does ("Getting each published method").

The official losses are written here in numpy from the authors' code, independently of
the package: tolstikhin/wae (``wae.py``: ``0.05 * sum over pixels`` of the squared error
plus ``lambda * MMD``, IMQ kernel ``C / (C + ||a - b||**2)``, ``C = 2 * zdim * s`` for s
in .1 to 10) and ParthaEth/Regularized_autoencoders-RAE- (``loss_functions.py``: the
per-pixel mean squared error plus ``beta * mean over latent dims of z**2``). The package's
loss is ``mean((x - x_hat)**2) + penalty``; the official WAE loss is ``0.05 * d`` times
the package's at the converted ``alpha``, and a loss on [-1, 1] data is 4 times the one
on the same images in [0, 1].
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sklearn_lorae._bottlenecks import RegularizedBottleneck, VariationalBottleneck, WassersteinBottleneck

SEEDS = [0, 1, 2]


def batch(seed, n_features, latent_dim, symmetric):
    """Images in [0, 1], reconstructions near them, codes off the prior, the same images
    in the range the package is given, and the factor of that range's squared error (the
    papers' weights are for [0, 1] images; on [-1, 1] the error is 4 times larger)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (50, n_features))
    x_hat = np.clip(x + rng.normal(0.0, 0.3, x.shape), 0.0, 1.0)
    codes = rng.normal(0.3, 1.5, (50, latent_dim))
    given = [torch.from_numpy(2 * a - 1 if symmetric else a) for a in (x, x_hat)]
    return x, x_hat, codes, given, 4.0 if symmetric else 1.0


def official_wae(x, x_hat, codes, prior, lam, zdim):
    """tolstikhin/wae's objective, with pairwise differences spelled out."""

    def kernel_sum(a, b, skip_diagonal):
        squared = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        total = sum(2.0 * zdim * s / (2.0 * zdim * s + squared) for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))
        return total.sum() - (np.trace(total) if skip_diagonal else 0.0)

    n = len(codes)
    mmd = (kernel_sum(codes, codes, True) + kernel_sum(prior, prior, True)) / (n * (n - 1))
    mmd -= 2.0 * kernel_sum(codes, prior, False) / n**2
    return 0.05 * np.mean(np.sum((x - x_hat) ** 2, axis=1)) + lam * mmd


def heads(bottleneck, codes):
    """The VAE bottleneck's mean and log-variance for the encoder outputs ``codes``, in numpy."""
    return [
        codes @ head.weight.detach().double().numpy().T + head.bias.detach().double().numpy()
        for head in (bottleneck.mean, bottleneck.log_var)
    ]


def official_rae(x, x_hat, codes, beta):
    """ParthaEth RAE-L2's loss without the decoder's kernel regularizer."""
    return np.mean((x - x_hat) ** 2) + beta * np.mean(np.mean(codes**2, axis=1))


def package_wae(x, x_hat, codes, alpha, seed):
    """The package's loss, and the prior draws its penalty made."""
    bottleneck = WassersteinBottleneck(alpha)
    bottleneck.generator = torch.Generator().manual_seed(seed)
    z = torch.from_numpy(codes)
    loss = F.mse_loss(x_hat, x) + bottleneck.penalty(z, z, None)
    prior = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed), dtype=z.dtype)
    return loss.item(), prior.numpy()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lam, zdim, n_features", [(10.0, 8, 784), (1.0, 64, 12288)])
@pytest.mark.parametrize("symmetric", [False, True])
def test_wae_loss_is_the_official_one_at_the_converted_alpha(seed, lam, zdim, n_features, symmetric):
    x, x_hat, codes, (x_given, x_hat_given), factor = batch(seed, n_features, zdim, symmetric)
    alpha = factor * lam / (0.05 * n_features)
    ours, prior = package_wae(x_given, x_hat_given, codes, alpha, seed)
    official = official_wae(x, x_hat, codes, prior, lam, zdim)
    assert ours / factor == pytest.approx(official / (0.05 * n_features), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("beta, latent_dim, n_features", [(1e-4, 16, 784), (1e-3, 128, 3072)])
@pytest.mark.parametrize("symmetric", [False, True])
def test_rae_code_term_is_the_official_one_at_the_converted_alpha(seed, beta, latent_dim, n_features, symmetric):
    x, x_hat, codes, (x_given, x_hat_given), factor = batch(seed, n_features, latent_dim, symmetric)
    # beta weighs the mean of z**2 over the latent dims; the package's alpha weighs ||z||**2 / 2.
    alpha = factor * 2.0 * beta / latent_dim
    z = torch.from_numpy(codes)
    no_decoder_weights = nn.Module()
    ours = F.mse_loss(x_hat_given, x_given) + RegularizedBottleneck(alpha).penalty(z, z, no_decoder_weights)
    assert ours.item() / factor == pytest.approx(official_rae(x, x_hat, codes, beta), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("sigma2", [0.5, 0.01])
def test_vae_loss_is_the_gaussian_negative_elbo_at_alpha_2_sigma2_over_d(seed, sigma2):
    """Kingma and Welling's VAE with a Gaussian decoder of variance sigma**2: its negative
    ELBO (without constants) is ``d / (2 sigma**2)`` times the package's loss at
    ``alpha = 2 sigma**2 / d``."""
    n_features, latent_dim = 784, 8
    x, x_hat, codes, (x_given, x_hat_given), _ = batch(seed, n_features, latent_dim, False)
    torch.manual_seed(seed)
    bottleneck = VariationalBottleneck(latent_dim, 2 * sigma2 / n_features).double()
    h = torch.from_numpy(codes)
    ours = (F.mse_loss(x_hat_given, x_given) + bottleneck.penalty(h, None, None)).item()
    mean, log_var = heads(bottleneck, codes)
    kl = 0.5 * np.sum(mean**2 + np.exp(log_var) - 1 - log_var, axis=1)
    negative_elbo = np.mean(np.sum((x - x_hat) ** 2, axis=1) / (2 * sigma2) + kl)
    assert ours * n_features / (2 * sigma2) == pytest.approx(negative_elbo, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_irmae_vae_kl_term_at_alpha_2_beta_over_latent_dim(seed):
    """IRMAE's VAE baseline (facebookresearch/irmae model.py) weighs the KL, averaged over
    batch and latent dims as ``-mean(1 + log_var - mu**2 - exp(log_var))``, by beta."""
    beta, latent_dim = 0.1, 128
    codes = np.random.default_rng(seed).normal(0.0, 1.0, (20, latent_dim))
    torch.manual_seed(seed)
    bottleneck = VariationalBottleneck(latent_dim, 2 * beta / latent_dim).double()
    ours = bottleneck.penalty(torch.from_numpy(codes), None, None).item()
    mean, log_var = heads(bottleneck, codes)
    assert ours == pytest.approx(-beta * np.mean(1 + log_var - mean**2 - np.exp(log_var)), rel=1e-12)
