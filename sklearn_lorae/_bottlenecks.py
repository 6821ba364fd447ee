"""Bottlenecks: what sits between encoder and decoder, one class per method.

Each bottleneck is a ``torch.nn.Module`` with

- ``forward(h)``: the code the decoder sees while training;
- ``encode(h)``: the code at inference (``transform``); by default ``forward`` itself;
- ``penalty(h, z)``: the term added to the reconstruction loss, or ``None``;
- ``from_estimator(estimator, latent_dim)``: a classmethod that reads the
  hyperparameters it needs from the estimator.

A new method is one new class here and one entry in :data:`BOTTLENECKS`.
"""

import torch
from torch import nn


class Bottleneck(nn.Module):
    """Base class: the identity, no penalty (a plain autoencoder)."""

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        return cls()

    def forward(self, h):
        return h

    def encode(self, h):
        return self(h)

    def penalty(self, h, z):
        return None


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

    def penalty(self, h, z):
        return self.alpha * torch.linalg.matrix_norm(self.linear.weight, ord="nuc")


class ImplicitRankBottleneck(Bottleneck):
    """IRMAE (Jing et al., NeurIPS 2020, arXiv 2010.00679): ``n_linear`` square linear
    layers without bias; gradient descent on their product lowers the rank implicitly.
    No penalty.
    """

    def __init__(self, latent_dim, n_linear):
        super().__init__()
        self.linears = nn.Sequential(
            *(nn.Linear(latent_dim, latent_dim, bias=False) for _ in range(n_linear))
        )

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        return cls(latent_dim, estimator.n_linear)

    def forward(self, h):
        return self.linears(h)


#: ``regularizer=`` value -> bottleneck class.
BOTTLENECKS = {
    "nuclear": NuclearNormBottleneck,
    "implicit": ImplicitRankBottleneck,
    "none": Bottleneck,
}
