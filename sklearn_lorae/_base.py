"""What the public estimators share: parameters, validation, encoding and decoding (and,
from :mod:`sklearn_lorae._training`, fitting)."""

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch import nn

from ._bottlenecks import BOTTLENECKS
from ._denormals import flushed_denormals
from ._docs import SHARED_PARAMETERS_DOC  # noqa: F401 - the estimators' modules import it from here
from ._modules import OUTPUT_ACTIVATIONS, OUTPUT_RANGES
from ._threads import limited_threads
from ._training import _FLOAT_DTYPES, TrainingMixin
from ._validation import check_image_shape, to_tensor

OUTPUT_INIT_DOC = """\
    output_init : {"data_mean", "torch"}, default="data_mean"
        Where the built-in decoder's output starts. ``"data_mean"``: its last layer's
        bias is set so that the untrained net outputs the training data's mean (per
        feature; per channel of images) through ``output_activation``. The untrained
        net's output barely depends on its input, so with ``"torch"`` (torch's own
        initialisation, the only one before this parameter) it is a random constant: where that
        lies far from the data, Adam's first steps drive a tanh or sigmoid output into
        its flat tails, the gradient vanishes and the net ignores its input for good
        (the fit warns). The paper's MNIST net did so in 6 of 20 seeds at batch 128.
        ``"torch"`` reproduces earlier fits exactly. Ignored with a custom ``decoder``.

"""

FINETUNE_EPOCHS_DOC = """\
    finetune_epochs : int, default=2
        Epochs of RRAE's second stage (``regularizer="truncated"``; ignored by the other
        regularizers and by ``partial_fit``). While training, the decoder sees each
        batch's own truncated SVD; afterwards the codes are projections onto one basis of
        all the training codes. With ``finetune_epochs > 0``, the encoder is then frozen
        and the decoder alone trains this many more epochs on those projections (as in
        the authors' code), with the same optimizer and ``lr``, without a validation
        pass (``early_stopping`` watches the first stage only). The codes (``transform``)
        stay exactly the same; their reconstructions improve. The epochs count in
        ``n_iter_`` and the history marks them (``net_.history[:, "finetune"]``). A
        fine-tuning epoch costs about half a training epoch. On digits (50 epochs) and
        10,000 MNIST images (10 epochs), rank 5, 2 epochs lowered the test error of the
        reconstructions by 1.4% and 2.8%, 10 epochs by 1.3% and 4.2%, in every seed
        (``benchmarks/bench_rrae_finetune.py``). With ``warm_start``, every fit ends
        with its own fine-tuning: set it on the last one only. 0 gives the fits of
        versions without this parameter exactly.

"""

# Rows per forward pass in transform / inverse_transform / sample: at most this many, to
# keep per-batch overhead negligible, and fewer when the net's largest activation for them
# would exceed the byte budget below, so that memory stays near input + output whatever the
# net (the paper's MNIST decoder holds 128 KB per row in its last hidden layer). 16 MB
# rather than 32: glibc serves requests above 32 MB with fresh mmaps, page-faulted in
# at every batch (inverse_transform of the paper's decoder ran 1.2x faster at 16 MB).
_INFERENCE_BATCH_SIZE = 1024
_INFERENCE_ACTIVATION_BYTES = 16 * 2**20


class BaseLowRankAutoencoder(TrainingMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the public estimators; not for direct use."""

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "regularizer": [StrOptions(set(BOTTLENECKS))],
        "n_linear": [Interval(Integral, 1, None, closed="left")],
        "rank": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "finetune_epochs": [Interval(Integral, 0, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "image_shape": ["array-like", None],
        "encoder": [nn.Module, None],
        "decoder": [nn.Module, None],
        "output_activation": [StrOptions(set(OUTPUT_ACTIVATIONS))],
        "output_init": [StrOptions({"data_mean", "torch"})],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
        "optimizer": [type],
        "optimizer_params": [dict, None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    # ----------------------------------------------------------- validation
    def _check_image_shape(self):
        if self.image_shape is None:
            return None
        return check_image_shape(self.image_shape, self.n_features_in_)

    def _check_hidden_layer_sizes(self):
        sizes = tuple(np.ravel(self.hidden_layer_sizes))
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must hold positive integers, got {self.hidden_layer_sizes!r}.")
        return tuple(int(s) for s in sizes)

    def _check_output_range(self, X):
        if self.decoder is not None:
            return
        low, high = OUTPUT_RANGES[self.output_activation]
        x_min, x_max = X.min(), X.max()
        if x_min < low or x_max > high:
            raise ValueError(
                f"output_activation={self.output_activation!r} can only produce values in "
                f"[{low}, {high}], but X spans [{x_min:.4g}, {x_max:.4g}]: its reconstructions "
                "would be clipped. Scale X into that range or use "
                "output_activation='identity'."
            )

    # ------------------------------------------------------------ inference
    def transform(self, X):
        """Encode X into the latent space.

        The code is ``z = M(E(x))`` for LoRAE: the bottleneck folded into the encoder,
        the paper's inference model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
            Same float dtype as X (float64 for other input types).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        return self._encode(X)

    def inverse_transform(self, X):
        """Decode latent codes back to the data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, latent_dim)
            Latent codes, e.g. from :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Same float dtype as the codes (float64 for other input types).
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=_FLOAT_DTYPES)
        if Z.shape[1] != self.latent_dim:
            raise ValueError(
                f"X has {Z.shape[1]} features, but {type(self).__name__} decodes codes of "
                f"latent_dim={self.latent_dim} features."
            )
        return self._decode(Z)

    def score_samples(self, X):
        """Negative squared reconstruction error of each row, averaged over its features
        (larger is more typical).

        Rows the model reconstructs badly score low: the scores rank rows for
        reconstruction-based anomaly detection (as the autoencoders of PyOD do). Not a
        log-likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        return self._score_rows(X)

    def _score_rows(self, X):
        module = self._inference_module(X.dtype)  # one float64 copy for both passes
        reconstruction = self._decode(self._encode(X, module), module)
        return -np.mean((X - reconstruction) ** 2, axis=1)

    def score(self, X, y=None):
        """Negative mean squared reconstruction error (greater is better): the mean of
        :meth:`score_samples`.

        Lets ``GridSearchCV`` compare settings without a scorer. It is not a
        log-likelihood, as the ``score`` of scikit-learn's densities
        (``GaussianMixture``, ``KernelDensity``) is, and it favours the weakest penalty
        and the widest code: to choose ``alpha``, score something the penalty can help
        (downstream accuracy in a Pipeline, or the FID of samples).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        return float(np.mean(self._score_rows(X)))

    def _encode(self, X, module=None):
        if module is None:
            module = self._inference_module(X.dtype)
        image_shape = self._check_image_shape()
        input_shape = (-1, *image_shape) if image_shape is not None else (-1, X.shape[1])

        def encode(rows):
            return module.encode(rows.view(input_shape))

        return self._map_batches(encode, module, X, self.latent_dim)

    def _decode(self, Z, module=None):
        if module is None:
            module = self._inference_module(Z.dtype)
        return self._map_batches(module.decoder, module, Z, self.n_features_in_)

    def _inference_module(self, dtype):
        """The trained module in eval mode, computing in ``dtype``.

        The net trains in float32; float64 input is encoded and decoded by a float64 copy,
        so that results do not depend on how rows are split into batches (float32 matrix
        products round differently for different batch sizes).
        """
        module = self.net_.module_.eval()
        if dtype == np.float64:
            module = copy.deepcopy(module).to(torch.float64)
        return module

    def _map_batches(self, function, module, X, n_out):
        """``function`` (which runs ``module``) over the rows of X in batches, without
        gradients: memory is the input, the output and one batch, whatever the number
        of rows."""
        out = np.empty((X.shape[0], n_out), dtype=X.dtype)
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        device = self.net_.device
        with torch.inference_mode(), limited_threads(getattr(self, "_n_threads", None)), flushed_denormals():
            batch_size = _rows_per_batch(function, module, X[:1], dtype, device) if len(X) else 1
            for start in range(0, X.shape[0], batch_size):
                stop = start + batch_size
                batch = to_tensor(X[start:stop], dtype, device)
                out[start:stop] = function(batch).reshape(len(batch), n_out).cpu().numpy()
        return out

    # ------------------------------------------------------ sklearn protocol
    @property
    def _n_features_out(self):
        return self.latent_dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _rows_per_batch(function, module, row, dtype, device):
    """How many rows one inference batch takes: ``_INFERENCE_BATCH_SIZE``, or fewer so
    that the largest output of any layer of ``module`` stays within
    ``_INFERENCE_ACTIVATION_BYTES`` (measured on one row)."""
    largest = 0

    def record(layer, inputs, output):
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel() * output.element_size())

    hooks = [layer.register_forward_hook(record) for layer in module.modules()]
    try:
        function(to_tensor(row, dtype, device))
    finally:
        for hook in hooks:
            hook.remove()
    return int(np.clip(_INFERENCE_ACTIVATION_BYTES // max(largest, 1), 1, _INFERENCE_BATCH_SIZE))
