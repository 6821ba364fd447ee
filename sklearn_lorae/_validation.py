"""Checks shared by the estimators and the metrics."""

import math
from numbers import Integral

import numpy as np
import torch


def check_image_shape(image_shape, n_features):
    """``image_shape`` as a tuple of three ints (C, H, W) that holds ``n_features`` values."""
    shape = tuple(np.ravel(image_shape))
    if len(shape) != 3 or not all(isinstance(s, Integral) and s > 0 for s in shape):
        raise ValueError(f"image_shape must be three positive integers (C, H, W), got {image_shape!r}.")
    shape = tuple(int(s) for s in shape)
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={shape} holds {math.prod(shape)} values per image, but X has {n_features} features."
        )
    return shape


def resolve_device(device):
    """``"auto"``: CUDA when available, else the CPU; a clear error for unusable devices."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device={device!r} is not a torch device.") from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was asked for, but CUDA is not available to torch here. Use device='auto' or 'cpu'."
        )
    return device


def to_tensor(rows, dtype, device):
    """A copy of the array ``rows`` as a tensor. torch refuses negative strides (a view
    such as ``X[::-1]``), which ``np.ascontiguousarray`` leaves on axes of length 1."""
    if any(stride < 0 for stride in rows.strides):
        rows = rows.copy()
    return torch.tensor(rows, dtype=dtype, device=device)
