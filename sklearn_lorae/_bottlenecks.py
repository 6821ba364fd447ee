"""Bottlenecks: what sits between encoder and decoder, one class per method.

Each bottleneck is a ``torch.nn.Module`` with

- ``forward(h)``: the code the decoder sees while training;
- ``encode(h)``: the code at inference (``transform``); by default ``forward`` itself;
- ``penalty(h, z, decoder)``: the term added to the reconstruction loss, or ``None``;
- ``from_estimator(estimator, latent_dim)``: a classmethod that reads the
  hyperparameters it needs from the estimator;

and, for the methods that need them, hooks that do nothing by default:

- ``on_epoch_end(net)``: called by the skorch net after every training epoch;
- ``on_train_end(net, X)``: called once when training ends, with the training inputs;
- ``rank``: the rank the method imposes on the codes (an int), ``None`` when it imposes
  none; the estimators report it as ``rank_``;
- ``standard_normal_prior``: True when training pulls the codes towards N(0, I), so that
  a generator may decode draws from that prior (``sampler="prior"``).

A new method is one new class here and one entry in :data:`BOTTLENECKS`.

Every method has at most one penalty weight, and it is the estimators' ``alpha``: LoRAE's
lambda, the VAE's beta, the RAE's beta, the WAE's lambda. It weighs the penalty against the
reconstruction error ``mean((x - x_hat)**2)``, averaged over features and samples.
"""

import numpy as np
import torch
from torch import nn

from ._truncated_svd import best_rank_approximation

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


class TruncatedSVDBottleneck(Bottleneck):
    """RRAE, strong formulation (Mounayer et al., "Rank Reduction Autoencoders",
    arXiv 2405.13980), and its adaptive-rank variant aRRAE.

    While training, the decoder sees the rank-``k`` truncated SVD of the batch's latent
    matrix: with ``H = U S V^T`` (rows: the encoder outputs of the batch), it sees
    ``H V_k V_k^T = U_k S_k V_k^T``; gradients flow through the SVD (with the stabilised
    backward of :mod:`sklearn_lorae._truncated_svd`). No penalty. When
    training ends, one basis ``V_k`` (``latent_dim x k``, orthonormal columns, stored as
    the buffer ``basis``, one row per basis vector) is computed from the encoder outputs
    of the whole training set (their top-``k`` right singular vectors, not centred, as in
    the paper), and every code from then on is the *projection* ``h V_k V_k^T``, in the
    latent space of width ``latent_dim``: this is what ``transform`` returns, what
    ``inverse_transform`` decodes and what the generator's density is fitted to. Its
    rank is at most ``k``. The paper's coefficients (``alpha`` there) are
    ``Z @ basis.T``.

    ``rank="auto"`` is aRRAE, the paper's adaptive algorithm, decided once per epoch on
    the epoch's training loss (the paper decides per step):

    1. train at full rank (``k = latent_dim``) until the loss stagnates (improves by less
       than ``TOL`` relative to its best value for ``PATIENCE`` epochs in a row) or
       ``WARMUP_FRACTION`` of ``max_epochs`` has passed; that loss is the target;
    2. lower ``k`` by one after every epoch whose loss is at or below the target (the
       reconstruction keeps up at that rank);
    3. when the loss does not get back to the target instead, back off to ``k + 1`` and
       keep that rank for the remaining epochs. The paper backs off when the loss
       stagnates above the target; with a budget of epochs, "does not get back" is
       read as: for two epochs in a row, the loss, at the rate it fell over the last
       epoch, would need more than ``HORIZON`` epochs to reach the target (a stagnating
       loss never reaches it).

    The rank changes by at most one per epoch, so the search needs well over
    ``latent_dim`` epochs to finish; a search that ``max_epochs`` cuts short keeps the
    rank of the last epoch. ``rank`` is the rank found, and the history records the rank
    of every epoch (``net_.history[:, "rank"]``).
    """

    #: Relative improvement of the epoch's loss below which training counts as stagnating.
    TOL = 0.01
    #: Epochs of stagnation that end the warm-up at full rank.
    PATIENCE = 3
    #: The longest warm-up at full rank, as a fraction of ``max_epochs``.
    WARMUP_FRACTION = 0.25
    #: Epochs within which the loss must be on course to get back to the target.
    HORIZON = 10

    def __init__(self, latent_dim, rank="auto"):
        super().__init__()
        self.adaptive = rank == "auto"
        self.rank = latent_dim if self.adaptive else int(rank)
        self.register_buffer("basis", None)
        # State of the adaptive search.
        self._phase = "warmup" if self.adaptive else "fixed"
        self._target = None
        self._best = np.inf
        self._stalled = 0
        self._previous = None  # the last epoch's loss, at the current rank
        self._strikes = 0
        self._trained_rank = self.rank

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        rank = estimator.rank
        if rank != "auto" and rank > latent_dim:
            raise ValueError(
                f"rank={rank} should be <= latent_dim={latent_dim}: the truncated SVD "
                "keeps at most latent_dim singular values."
            )
        return cls(latent_dim, rank)

    def forward(self, h):
        if not self.training and self.basis is not None:
            return self._project(h)
        return truncate(h, self.rank)

    def encode(self, h):
        return self.forward(h)

    def _project(self, h):
        basis = self.basis.to(h.dtype)
        return (h @ basis.T) @ basis

    # ------------------------------------------------------------------- hooks
    def on_epoch_end(self, net):
        self._trained_rank = self.rank
        net.history.record("rank", self.rank)
        if self.adaptive:
            self._search(net.history[-1, "train_loss"], len(net.history), net.max_epochs)

    def _search(self, loss, epoch, max_epochs):
        improved = loss < self._best * (1.0 - self.TOL)
        self._best = min(self._best, loss)
        self._stalled = 0 if improved else self._stalled + 1
        previous, self._previous = self._previous, loss
        if self._phase == "warmup":
            if self._stalled >= self.PATIENCE or epoch >= self.WARMUP_FRACTION * max_epochs:
                self._phase, self._target = "reduce", self._best
                self._reduce()
        elif self._phase == "reduce":
            if loss <= self._target:
                self._reduce()
                return
            if previous is None:  # the first epoch at this rank
                return
            rate = loss / previous
            off_course = rate >= 1.0 or np.log(self._target / loss) / np.log(rate) > self.HORIZON
            self._strikes = self._strikes + 1 if off_course else 0
            if self._strikes >= 2:
                self.rank += 1
                self._phase = "done"

    def _reduce(self):
        if self.rank == 1:
            self._phase = "done"
            return
        self.rank -= 1
        self._best, self._stalled, self._previous, self._strikes = np.inf, 0, None, 0

    def on_train_end(self, net, X):
        # A reduction decided after the last epoch was never trained with: undo it.
        self.rank = max(self.rank, self._trained_rank)
        module = net.module_
        training = module.training
        module.eval()
        gram = None
        with torch.no_grad():
            for batch in torch.split(X, _BATCH_SIZE):
                h = module.encoder(batch).to(torch.float64)
                gram = h.T @ h if gram is None else gram + h.T @ h
        module.train(training)
        # The right singular vectors of the training codes are the eigenvectors of their
        # Gram matrix; eigh sorts the eigenvalues in ascending order.
        _, vectors = torch.linalg.eigh(gram)
        basis = vectors[:, -self.rank :].flip(-1).T
        self.basis = basis.to(next(module.parameters()).dtype).contiguous()


def truncate(h, rank):
    """``h`` rebuilt from its ``rank`` largest singular triplets, differentiable with a
    gradient that stays finite for repeated and zero singular values
    (:mod:`sklearn_lorae._truncated_svd`)."""
    try:
        return best_rank_approximation(h, rank)
    except torch.linalg.LinAlgError:
        # Non-finite codes: pass them on, the loss will be non-finite and stop the fit.
        return h


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
