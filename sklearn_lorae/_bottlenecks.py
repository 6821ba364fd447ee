"""Bottlenecks: what sits between encoder and decoder, one class per method.

Each bottleneck is a ``torch.nn.Module`` with

- ``forward(h)``: the code the decoder sees while training;
- ``encode(h)``: the code at inference (``transform``); by default ``forward`` itself;
- ``penalty(h, z, decoder)``: the term added to the reconstruction loss, or ``None``;
- ``from_estimator(estimator, latent_dim)``: a classmethod that reads the
  hyperparameters it needs from the estimator;

and, for the methods that need them, hooks that do nothing by default:

- ``on_epoch_end(net)``: called by the skorch net after every training epoch;
- ``on_train_begin(net)`` and ``on_batch_end(net)`` (optional, aRRAE): called when a
  fit begins and after every training step;
- ``finetuning(module)`` (optional, RRAE): a context manager within which the training
  steps fine-tune the decoder alone (the estimators' ``finetune_epochs``);
- ``on_train_end(net, X)``: called once when training ends, with the training inputs;
- ``rank``: the rank the method imposes on the codes (an int), ``None`` when it imposes
  none; the estimators report it as ``rank_``;
- ``standard_normal_prior``: True when training pulls the codes towards N(0, I), so that
  a generator may decode draws from that prior (``sampler="prior"``).

A new method is one new class here (or in a module of its own, as RRAE in
:mod:`sklearn_lorae._rrae`) and one entry in :data:`BOTTLENECKS`.

Every method has at most one penalty weight, and it is the estimators' ``alpha``: LoRAE's
lambda, the VAE's beta, the RAE's beta, the WAE's lambda. It weighs the penalty against the
reconstruction error ``mean((x - x_hat)**2)``, averaged over features and samples.
"""

import torch
from torch import nn

# Rows per forward pass when a bottleneck encodes the whole training set after training.
_BATCH_SIZE = 1024


class Bottleneck(nn.Module):
    """Base class: the identity, no penalty (a plain autoencoder)."""

    #: Whether training pulls the codes towards N(0, I) (``sampler="prior"`` then makes sense).
    standard_normal_prior = False

    #: The rank the method imposes on the codes; None when it imposes none.
    rank = None

    #: The CPU ``torch.Generator`` of the methods that draw noise while training (the
    #: fit's own, set by the estimators); torch's global generator when None.
    generator = None

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        return cls()

    def forward(self, h):
        return h

    def encode(self, h):
        return self(h)

    def penalty(self, h, z, decoder):
        """The term added to the batch's reconstruction loss, or None.

        ``h`` is the encoder's output, ``z`` the code the decoder saw and ``decoder`` the
        decoder module (for penalties on its weights).
        """
        return None

    def on_epoch_end(self, net):
        """Called by the skorch net after every training epoch; nothing by default."""

    def on_train_end(self, net, X):
        """Called once when training ends, with the net and the training inputs (a tensor
        on the net's device); nothing by default."""


class NuclearNormBottleneck(Bottleneck):
    """LoRAE (Mazumder et al., WACV 2024, arXiv 2310.16194): one square linear layer M
    without bias, penalised by ``alpha * ||M||_*`` (its nuclear norm, the sum of its
    singular values), which drives M, and with it the latent space, to low rank.
    """

    def __init__(self, latent_dim, alpha):
        super().__init__()
        self.alpha = alpha
        self.linear = nn.Linear(latent_dim, latent_dim, bias=False)

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        return cls(latent_dim, estimator.alpha)

    def forward(self, h):
        return self.linear(h)

    def penalty(self, h, z, decoder):
        return self.alpha * torch.linalg.matrix_norm(self.linear.weight, ord="nuc")


class ImplicitRankBottleneck(Bottleneck):
    """IRMAE (Jing et al., NeurIPS 2020, arXiv 2010.00679): ``n_linear`` square linear
    layers without bias; gradient descent on their product lowers the rank implicitly.
    No penalty.
    """

    def __init__(self, latent_dim, n_linear):
        super().__init__()
        self.linears = nn.Sequential(*(nn.Linear(latent_dim, latent_dim, bias=False) for _ in range(n_linear)))

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        return cls(latent_dim, estimator.n_linear)

    def forward(self, h):
        return self.linears(h)


class VariationalBottleneck(Bottleneck):
    """VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
    arXiv 1312.6114).

    Two linear heads turn the encoder's output h into the mean and the log-variance of a
    diagonal Gaussian posterior q(z | x). While training, the decoder sees a draw
    ``z = mean + exp(log_var / 2) * eps``, ``eps ~ N(0, I)`` (the reparameterisation
    trick; eps comes from the fit's own generator, seeded from ``random_state``); at
    inference the code is the mean, so ``transform`` is deterministic. The penalty is
    ``alpha * KL(q(z | x) || N(0, I))``, summed over the latent dimensions and averaged
    over the batch: ``alpha`` is beta of the beta-VAE
    (Higgins et al., ICLR 2017). Since the reconstruction error is averaged over the
    ``n_features`` features, ``alpha = 2 * sigma**2 / n_features`` is the standard VAE
    (beta = 1) with a Gaussian decoder of variance ``sigma**2``.
    """

    standard_normal_prior = True

    def __init__(self, latent_dim, alpha):
        super().__init__()
        self.alpha = alpha
        self.mean = nn.Linear(latent_dim, latent_dim)
        self.log_var = nn.Linear(latent_dim, latent_dim)

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        return cls(latent_dim, estimator.alpha)

    def forward(self, h):
        mean = self.mean(h)
        if not self.training:
            return mean
        std = torch.exp(0.5 * self.log_var(h))
        return mean + std * standard_normal_like(std, self.generator)

    def encode(self, h):
        return self.mean(h)

    def penalty(self, h, z, decoder):
        mean, log_var = self.mean(h), self.log_var(h)
        kl = 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(dim=1).mean()
        return self.alpha * kl


class CodePenaltyBottleneck(Bottleneck):
    """Base of the deterministic methods whose bottleneck is the identity and whose only
    hyperparameter is the penalty weight ``alpha`` (RAE, WAE)."""

    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        return cls(estimator.alpha)


class RegularizedBottleneck(CodePenaltyBottleneck):
    """RAE-L2 (Ghosh et al., "From Variational to Deterministic Autoencoders", ICLR 2020,
    arXiv 1903.12436): a deterministic autoencoder (the bottleneck is the identity)
    trained with ``alpha * (||z||**2 / 2 + DECODER_WEIGHT * ||theta_D||**2)``.

    ``||z||**2 / 2`` is the paper's L_z, summed over the latent dimensions and averaged
    over the batch; ``||theta_D||**2`` (L_REG) is the sum of the squares of the decoder's
    weights, i.e. of its parameters with two or more dimensions (the kernels of its
    linear and convolutional layers, as the Keras kernel regularizers of the official
    code; biases are left alone). The paper has two weights, beta for L_z and lambda for
    L_REG; here ``alpha`` is beta and lambda is ``DECODER_WEIGHT * alpha``, the ratio of
    the official configurations (beta = 1e-4, lambda = 1e-7 on MNIST; 1e-3 and 1e-6 on
    CIFAR-10). New data is generated by the "ex-post density estimation" of that paper,
    the generator's ``sampler="gmm"``.
    """

    #: lambda / beta of the official RAE-L2 configurations.
    DECODER_WEIGHT = 1e-3

    def penalty(self, h, z, decoder):
        codes = 0.5 * z.square().sum(dim=1).mean()
        weights = sum(p.square().sum() for p in decoder.parameters() if p.dim() > 1)
        return self.alpha * (codes + self.DECODER_WEIGHT * weights)


class WassersteinBottleneck(CodePenaltyBottleneck):
    """WAE-MMD (Tolstikhin et al., "Wasserstein Auto-Encoders", ICLR 2018,
    arXiv 1711.01558): a deterministic autoencoder (the bottleneck is the identity)
    trained with ``alpha * MMD**2(codes, prior)``, the squared maximum mean discrepancy
    between the batch's codes and as many draws from the prior N(0, I) (from the fit's
    own generator, seeded from ``random_state``).

    The kernel is the inverse multiquadratic ``k(x, y) = C / (C + ||x - y||**2)`` with
    ``C = 2 * latent_dim`` (the paper's ``2 * d_z * sigma_z**2``, sigma_z = 1), summed
    over the scales ``C * s``, s in ``SCALES``, as in the authors' code; the estimator is
    the unbiased U-statistic of the paper's Algorithm 2. ``alpha`` is the paper's lambda,
    on this package's scale (squared error averaged over features).
    """

    standard_normal_prior = True

    #: Multiples of the base kernel width that are summed, as in the official code.
    SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)

    def penalty(self, h, z, decoder):
        if len(z) < 2:  # the U-statistic needs two codes; a last batch may hold one
            return z.new_zeros(())
        return self.alpha * imq_mmd(z, standard_normal_like(z, self.generator), self.SCALES)


def standard_normal_like(x, generator):
    """N(0, 1) draws of ``x``'s shape, dtype and device, from the CPU ``generator`` (one
    stream whatever the device) or, when it is None, from torch's global generator."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def imq_mmd(x, y, scales=(1.0,)):
    """Unbiased estimate of MMD**2 between the samples x and y (same shape (n, d)), with
    the inverse multiquadratic kernel ``C / (C + ||a - b||**2)``, ``C = 2 * d * s``,
    summed over the scales s."""
    n, d = x.shape
    widths = 2.0 * d * torch.tensor(scales, dtype=x.dtype, device=x.device).view(-1, 1, 1)

    def kernel(a, b):
        squared = a.square().sum(1)[:, None] + b.square().sum(1)[None, :] - 2.0 * a @ b.T
        return (widths / (widths + squared.clamp_min(0.0))).sum(0)

    # k(a, a) = 1 on each diagonal, once per scale: leave those out (U-statistic).
    diagonal = n * len(scales)
    within = (kernel(x, x).sum() + kernel(y, y).sum() - 2 * diagonal) / (n * (n - 1))
    return within - 2.0 * kernel(x, y).sum() / n**2


# RRAE / aRRAE live in a module of their own (the search and the fine-tuning stage); imported
# here, after Bottleneck, which they subclass, for BOTTLENECKS and for ``truncate``'s callers.
from ._rrae import TruncatedSVDBottleneck, truncate  # noqa: E402, F401

#: ``regularizer=`` value -> bottleneck class.
BOTTLENECKS = {
    "nuclear": NuclearNormBottleneck,
    "implicit": ImplicitRankBottleneck,
    "none": Bottleneck,
    "variational": VariationalBottleneck,
    "rae": RegularizedBottleneck,
    "wae": WassersteinBottleneck,
    "truncated": TruncatedSVDBottleneck,
}
