"""Torch modules: the encoders and decoders, and the autoencoder that joins them.

Flat (tabular) data gets a multilayer perceptron; images get the convolutional nets of
the LoRAE paper (arXiv 2310.16194, Appendix), which follow Ghosh et al.'s RAE nets.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

OUTPUT_ACTIVATIONS = {
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}

#: The closed range each output activation can reach; training data outside it could
#: only be reconstructed clipped.
OUTPUT_RANGES = {"identity": (-math.inf, math.inf), "sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}

# The four stride-2 convolutions of the encoder halve the image four times.
_SPATIAL_MULTIPLE = 16

# A data mean at (or beyond) the edge of a bounded output's range has no finite
# pre-activation: the bias starts at that of 0.99 of the half-range at most.
_MAX_START = 0.99


def output_bias(mean, output_activation):
    """The pre-activation whose ``output_activation`` is ``mean`` (an array): the bias that
    makes a decoder whose other terms are 0 output ``mean``, kept off the flat tails of a
    bounded activation."""
    mean = torch.as_tensor(mean, dtype=torch.float64)
    if output_activation == "identity":
        return mean
    low, high = OUTPUT_RANGES[output_activation]
    middle, half = (low + high) / 2, (high - low) / 2
    scaled = ((mean - middle) / half).clamp(-_MAX_START, _MAX_START)  # in (-1, 1)
    # sigmoid(x) = (1 + tanh(x / 2)) / 2
    return torch.atanh(scaled) * (2 if output_activation == "sigmoid" else 1)


def _start_at(layer, mean, output_activation):
    with torch.no_grad():
        layer.bias.copy_(output_bias(mean, output_activation))


def _mlp(sizes):
    layers = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return layers


class MLPEncoder(nn.Sequential):
    """``n_features -> hidden_layer_sizes (ReLU) -> latent_dim``."""

    def __init__(self, n_features, hidden_layer_sizes, latent_dim):
        super().__init__(*_mlp([n_features, *hidden_layer_sizes, latent_dim]))


class MLPDecoder(nn.Sequential):
    """The mirror of :class:`MLPEncoder`, ending in ``output_activation``."""

    def __init__(self, latent_dim, hidden_layer_sizes, n_features, output_activation):
        sizes = [latent_dim, *reversed(hidden_layer_sizes), n_features]
        super().__init__(*_mlp(sizes), OUTPUT_ACTIVATIONS[output_activation]())
        self.output_activation = output_activation

    def start_at(self, mean):
        """Set the last layer's bias so that the output is ``mean`` (per feature) where
        the rest of the net contributes nothing."""
        _start_at(self[-2], mean, self.output_activation)


def conv_widths(image_shape):
    """Channel widths of the paper's nets: 32-64-128-256 up to 32 x 32 (MNIST-like),
    128-256-512-1024 above (CelebA-like)."""
    base = 32 if max(image_shape[1:]) <= 32 else 128
    return tuple(base * 2**i for i in range(4))


def padded_size(size):
    """The side length the nets work at: the next multiple of 16 (28 -> 32, 8 -> 16)."""
    return _SPATIAL_MULTIPLE * math.ceil(size / _SPATIAL_MULTIPLE)


class ConvEncoder(nn.Module):
    """Four convolutions (kernel 4, stride 2, padding 1, ReLU), flatten, linear.

    Inputs of shape ``(n, C, H, W)`` are zero-padded to sides that are multiples of 16,
    so 28 x 28 MNIST runs on the paper's 32 x 32 net.
    """

    def __init__(self, image_shape, latent_dim):
        super().__init__()
        channels, height, width = image_shape
        self.padding = _padding(height, width)
        widths = conv_widths(image_shape)
        layers = []
        for n_in, n_out in zip((channels, *widths[:-1]), widths):
            layers += [nn.Conv2d(n_in, n_out, kernel_size=4, stride=2, padding=1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        n_flat = widths[-1] * (padded_size(height) // 16) * (padded_size(width) // 16)
        self.linear = nn.Linear(n_flat, latent_dim)

    def forward(self, x):
        if any(self.padding):
            x = F.pad(x, self.padding)
        return self.linear(self.features(x).flatten(1))


class ConvDecoder(nn.Module):
    """Linear to a small feature map, transposed convolutions (kernel 4, stride 2,
    padding 1, ReLU) doubling it, a 1 x 1 transposed convolution to the image's channels,
    the output activation, and a crop back to the image's size.

    For MNIST (1 x 28 x 28): ``Linear(latent_dim, 128*8*8) -> 64 -> 32 -> 1``; for CelebA
    (3 x 64 x 64): ``Linear(latent_dim, 1024*8*8) -> 512 -> 256 -> 128 -> 3``.
    """

    def __init__(self, latent_dim, image_shape, output_activation):
        super().__init__()
        channels, height, width = image_shape
        self.image_shape = tuple(image_shape)
        self.padding = _padding(height, width)
        base = conv_widths(image_shape)[0]
        n_upsamplings = 2 if base == 32 else 3
        widths = [base * 2**i for i in reversed(range(n_upsamplings + 1))]
        self.start_shape = (
            widths[0],
            padded_size(height) // 2**n_upsamplings,
            padded_size(width) // 2**n_upsamplings,
        )
        self.linear = nn.Linear(latent_dim, math.prod(self.start_shape))
        layers = [nn.ReLU()]
        for n_in, n_out in zip(widths[:-1], widths[1:]):
            layers += [
                nn.ConvTranspose2d(n_in, n_out, kernel_size=4, stride=2, padding=1),
                nn.ReLU(),
            ]
        layers += [
            nn.ConvTranspose2d(widths[-1], channels, kernel_size=1, stride=1),
            OUTPUT_ACTIVATIONS[output_activation](),
        ]
        self.features = nn.Sequential(*layers)
        self.output_activation = output_activation

    def start_at(self, mean):
        """Set the last layer's bias so that the output is ``mean`` (per channel) where
        the rest of the net contributes nothing."""
        _start_at(self.features[-2], mean, self.output_activation)

    def forward(self, z):
        x = self.features(self.linear(z).view(-1, *self.start_shape))
        left, _, top, _ = self.padding
        _, height, width = self.image_shape
        return x[..., top : top + height, left : left + width]


def _padding(height, width):
    """``F.pad`` widths (left, right, top, bottom) that centre the image in the padded one."""
    pad_h, pad_w = padded_size(height) - height, padded_size(width) - width
    return (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)


class Autoencoder(nn.Module):
    """``x -> encoder -> bottleneck -> decoder``.

    ``forward`` returns ``(reconstruction, h, z)``: the encoder's output ``h`` and the
    bottleneck's code ``z`` are what the bottleneck's penalty needs.
    """

    def __init__(self, encoder, bottleneck, decoder):
        super().__init__()
        self.encoder = encoder
        self.bottleneck = bottleneck
        self.decoder = decoder

    def forward(self, x):
        h = self.encoder(x)
        z = self.bottleneck(h)
        return self.decoder(z), h, z

    def encode(self, x):
        """The inference code: the bottleneck folded into the encoder."""
        return self.bottleneck.encode(self.encoder(x))

    def penalty(self, h, z):
        return self.bottleneck.penalty(h, z, self.decoder)
