"""Plotting helpers: image grids and latent spectra (needs matplotlib).

matplotlib is optional: ``pip install matplotlib`` (or the ``plot`` extra,
``pip install ".[plot]"`` in a checkout of the source). It is
imported when a function here is called, not when this module is imported.
"""

import math

import numpy as np
from sklearn.utils.validation import check_array

from ._validation import check_image_shape

__all__ = ["plot_image_grid", "plot_latent_spectrum"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sklearn_lorae.plotting needs matplotlib: pip install matplotlib "
            '(or, in a checkout of sklearn_lorae, pip install ".[plot]").'
        ) from exc
    return plt


def _image_shape(image_shape, n_features):
    """``(H, W)`` or ``(C, H, W)`` of one row; square grey images when None."""
    if image_shape is None:
        side = math.isqrt(n_features)
        if side * side != n_features:
            raise ValueError(
                f"Rows of {n_features} features are not square grey images: pass image_shape=(H, W) or (C, H, W)."
            )
        return (1, side, side)
    shape = tuple(np.ravel(image_shape))
    shape = check_image_shape((1, *shape) if len(shape) == 2 else shape, n_features)
    if shape[0] not in (1, 3):
        raise ValueError(f"image_shape must be (H, W), (1, H, W) or (3, H, W), got {image_shape!r}.")
    return shape


def plot_image_grid(
    X,
    image_shape=None,
    *,
    n_cols=None,
    ax=None,
    cmap="gray_r",
    vmin=None,
    vmax=None,
    padding=1,
    title=None,
):
    """Show the rows of X as images, tiled into one grid on one Axes.

    One tiled image instead of one Axes per sample keeps a grid of hundreds of images
    fast to draw, and lets it sit in any subplot of a larger figure.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        One image per row, flattened in C-order (as the estimators' ``image_shape``),
        e.g. ``load_digits().data`` or the output of ``sample`` or
        ``inverse_transform``.

    image_shape : tuple of int (H, W) or (C, H, W), default=None
        Shape of one image, C being 1 (grey) or 3 (RGB). None means square grey images
        of ``sqrt(n_features)`` pixels a side.

    n_cols : int, default=None
        Images per row of the grid. None makes the grid roughly square.

    ax : matplotlib Axes, default=None
        Where to draw; None draws into a new figure of its own (as the ``plot`` of
        scikit-learn's displays does), never into the current Axes, which may be
        another plot's.

    cmap : str or Colormap, default="gray_r"
        Colormap of grey images ("gray_r" draws high values dark, as ink on paper, the
        look of scikit-learn's digits). Ignored for RGB images.

    vmin, vmax : float, default=None
        The values shown as the colormap's ends. None takes the range of X for grey
        images; RGB images are clipped to [0, 1] unless given.

    padding : int, default=1
        Pixels of background between neighbouring images.

    title : str, default=None
        Title of the Axes.

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on, without ticks.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_lorae.plotting import plot_image_grid
    >>> ax = plot_image_grid(load_digits().data[:20], n_cols=10, title="Digits")
    >>> ax.get_title()
    'Digits'
    """
    plt = _pyplot()
    X = check_array(X, dtype=np.float64, ensure_all_finite=False)
    channels, height, width = _image_shape(image_shape, X.shape[1])
    n_samples = X.shape[0]
    if n_cols is None:
        n_cols = math.ceil(math.sqrt(n_samples))
    n_cols = max(1, min(int(n_cols), n_samples))
    n_rows = math.ceil(n_samples / n_cols)

    images = X.reshape(n_samples, channels, height, width).transpose(0, 2, 3, 1)
    if channels == 1:
        low = np.nanmin(X) if vmin is None else vmin
        high = np.nanmax(X) if vmax is None else vmax
    else:
        low = 0.0 if vmin is None else vmin
        high = 1.0 if vmax is None else vmax
        images = np.clip((images - low) / max(high - low, np.finfo(float).tiny), 0, 1)

    # The background takes the colour of the lowest value: empty paper between digits.
    background = low if channels == 1 else 1.0
    canvas = np.full(
        (n_rows * (height + padding) + padding, n_cols * (width + padding) + padding, channels),
        background,
        dtype=np.float64,
    )
    for index, image in enumerate(images):
        row, col = divmod(index, n_cols)
        top = padding + row * (height + padding)
        left = padding + col * (width + padding)
        canvas[top : top + height, left : left + width] = image

    if ax is None:
        _, ax = plt.subplots()
    if channels == 1:
        ax.imshow(canvas[:, :, 0], cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    else:
        ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return ax


def plot_latent_spectrum(spectrum, *, ax=None, normalize=True, label=None, **plot_kwargs):
    """Plot a latent singular-value spectrum on a log scale (the LoRAE paper's Figure 2).

    Read more in the :ref:`User Guide <measuring_rank>`.

    Parameters
    ----------
    spectrum : fitted estimator or array-like of shape (latent_dim,)
        A fitted :class:`~sklearn_lorae.LoRAETransformer` or
        :class:`~sklearn_lorae.LoRAEGenerator` (its ``latent_singular_values_`` are
        plotted), or singular values from
        :func:`~sklearn_lorae.metrics.latent_singular_values`.

    ax : matplotlib Axes, default=None
        Where to draw; None draws into a new figure of its own (as the ``plot`` of
        scikit-learn's displays does), never into the current Axes, which may be
        another plot's.

    normalize : bool, default=True
        Divide by the largest singular value, so that spectra of models whose codes
        have different scales can share an Axes.

    label : str, default=None
        Legend label of the line.

    **plot_kwargs
        Passed on to :meth:`matplotlib.axes.Axes.plot` (e.g. ``color``, ``marker``).

    Returns
    -------
    ax : matplotlib Axes
        The Axes drawn on, its y axis logarithmic. Zero singular values cannot be
        shown on it and are left out of the line.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_lorae.plotting import plot_latent_spectrum
    >>> ax = plot_latent_spectrum([4.0, 1.0, 1e-3, 0.0], label="toy")
    >>> ax.get_yscale()
    'log'
    """
    plt = _pyplot()
    values = getattr(spectrum, "latent_singular_values_", spectrum)
    values = np.ravel(np.asarray(values, dtype=np.float64))
    if normalize and values.size and values.max() > 0:
        values = values / values.max()
    # A log axis has no place for zeros; NaN leaves a gap where matplotlib would warn.
    shown = np.where(values > 0, values, np.nan)

    if ax is None:
        _, ax = plt.subplots()
    plot_kwargs.setdefault("marker", ".")
    ax.plot(np.arange(1, values.size + 1), shown, label=label, **plot_kwargs)
    ax.set_yscale("log")
    ax.set_xlabel("index of the singular value")
    ax.set_ylabel("singular value / largest" if normalize else "singular value")
    return ax
