"""What the public estimators share: parameters, validation, fit, encoding and decoding."""

import contextlib
import copy
import threading
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import ProgressBar
from torch import nn
from torch.utils.data import TensorDataset

from ._bottlenecks import BOTTLENECKS
from ._modules import (
    OUTPUT_ACTIVATIONS,
    OUTPUT_RANGES,
    Autoencoder,
    ConvDecoder,
    ConvEncoder,
    MLPDecoder,
    MLPEncoder,
)
from ._net import AutoencoderNet, TrainingInterrupted
from ._threads import limited_threads, threads_for, training_step_flops
from ._validation import check_image_shape, resolve_device
from .metrics import latent_rank, latent_singular_values

# Rows per forward pass in transform / inverse_transform / sample: at most this many, to
# keep per-batch overhead negligible, and fewer when the net's largest activation for them
# would exceed the byte budget below, so that memory stays near input + output whatever the
# net (the paper's MNIST decoder holds 128 KB per row in its last hidden layer). 16 MB
# rather than 32: glibc serves requests above 32 MB with fresh mmaps, page-faulted in
# at every batch (inverse_transform of the paper's decoder ran 1.2x faster at 16 MB).
_INFERENCE_BATCH_SIZE = 1024
_INFERENCE_ACTIVATION_BYTES = 16 * 2**20

_FLOAT_DTYPES = [np.float64, np.float32]

# After training, the first rows of X are reconstructed to check that the net's output
# still depends on its input: the variance of the reconstructions over that of the rows.
# A net whose ReLUs all died outputs one image whatever the input: 0.0 on Fashion-MNIST
# (seed 0, tanh output), where a working one-epoch net scores 0.83; scikit-learn's
# estimator checks, which train tiny nets for 3 epochs, score 5e-5 and above.
_OUTPUT_CHECK_ROWS = 256
_MIN_OUTPUT_VARIANCE_RATIO = 1e-7

# Adam's fused kernel (one pass over all parameters instead of a loop of small ops) runs on
# the CPU from torch 2.4; it measured 1.1x faster per step on the paper's MNIST net.
_FUSED_ADAM = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 4)

# Numpydoc text of the parameters both public estimators share.
SHARED_PARAMETERS_DOC = """\
    latent_dim : int, default=32
        Width of the latent code (of the encoder's output and of the square bottleneck).

    alpha : float, default=1e-3
        Weight of the method's penalty, whatever the method: the training loss of a batch
        is ``mean((x - x_hat)**2) + alpha * penalty``, the squared error averaged over
        features *and* samples, as in the LoRAE paper's official code (``F.mse_loss``).
        For ``"nuclear"`` it is the LoRAE paper's lambda, on the same scale (its values
        1e-1 ... 1e-5, default 1e-3); for ``"variational"`` the beta of the beta-VAE; for
        ``"rae"`` the RAE paper's beta; for ``"wae"`` the WAE paper's lambda. Ignored by
        ``"implicit"``, ``"none"`` and ``"truncated"``, which have no penalty.

    regularizer : {"nuclear", "implicit", "none", "variational", "rae", "wae", \
            "truncated"}, default="nuclear"
        The method, i.e. what sits between encoder and decoder:

        - ``"nuclear"``: LoRAE (Mazumder et al. 2024), one square linear layer M without
          bias, penalised by ``alpha * ||M||_*``;
        - ``"implicit"``: IRMAE (Jing et al. 2020), ``n_linear`` square linear layers
          without bias, no penalty;
        - ``"none"``: a plain autoencoder;
        - ``"variational"``: VAE (Kingma & Welling 2014), mean and log-variance heads, a
          reparameterised draw while training, penalty ``alpha * KL(q(z|x) || N(0, I))``
          (summed over latent dimensions); the codes are the means;
        - ``"rae"``: RAE-L2 (Ghosh et al. 2020), penalty
          ``alpha * (||z||**2 / 2 + 1e-3 * ||decoder weights||**2)``;
        - ``"wae"``: WAE-MMD (Tolstikhin et al. 2018), penalty ``alpha * MMD**2`` between
          the codes and N(0, I) draws, inverse multiquadratic kernel;
        - ``"truncated"``: RRAE, strong form (Mounayer et al. 2024): the decoder sees the
          rank-``rank`` truncated SVD of each batch's codes; after training, the codes
          are the projections onto one rank-``rank`` basis of the training codes. With
          ``rank="auto"``, aRRAE: the rank is searched during training (``rank_``).

    n_linear : int, default=4
        Number of linear layers of ``regularizer="implicit"``; ignored otherwise.

    rank : int or "auto", default="auto"
        Rank k of the truncated SVD of ``regularizer="truncated"`` (at most
        ``latent_dim``); ``"auto"`` searches it during training, starting at
        ``latent_dim`` and lowering it by one per epoch while the reconstruction keeps up
        (aRRAE; give it well over ``latent_dim`` epochs). Ignored by the other
        regularizers.

    hidden_layer_sizes : tuple of int, default=(256, 128)
        Widths of the hidden ReLU layers of the multilayer-perceptron encoder (the
        decoder mirrors them). Used for flat data, i.e. when ``image_shape`` is None and
        no ``encoder`` / ``decoder`` is given.

    image_shape : tuple of int (C, H, W), default=None
        When given, each row of X is an image of this shape (C * H * W must equal
        ``n_features``, rows in C-order as ``X.reshape(n, C, H, W)``) and the LoRAE
        paper's convolutional nets are used: 32-64-128-256 channels up to 32 x 32 pixels
        (MNIST; 28 x 28 inputs are padded to 32 x 32 inside the net and cropped back),
        128-256-512-1024 above (CelebA, 64 x 64).

    encoder : torch.nn.Module, default=None
        Your own encoder, used instead of the built-in one. It receives batches of shape
        ``(n, n_features)``, or ``(n, C, H, W)`` when ``image_shape`` is given, and must
        return ``(n, latent_dim)``. A copy is trained; the module you pass is not changed.

    decoder : torch.nn.Module, default=None
        Your own decoder: ``(n, latent_dim)`` to the encoder's input shape. A copy is
        trained; ``output_activation`` is ignored for it.

    output_activation : {"identity", "sigmoid", "tanh"}, default="identity"
        Last layer of the built-in decoder. The identity never clips, so it suits any
        data (e.g. standardised tabular data). ``"sigmoid"`` suits data in [0, 1] and
        ``"tanh"`` data in [-1, 1] (the paper's choice, with images scaled to [-1, 1]);
        ``fit`` raises a ValueError when the data leave the activation's range, instead
        of learning reconstructions that are silently clipped.

    max_epochs : int, default=50
        Number of passes over the training data.

    batch_size : int, default=128
        Mini-batch size of the Adam optimizer.

    lr : float, default=1e-3
        Learning rate of the Adam optimizer.

    device : str, default="auto"
        Torch device to train and infer on. ``"auto"`` takes CUDA when it is available
        and the CPU otherwise; asking for ``"cuda"`` without CUDA raises a ValueError.
        Results are always numpy arrays on the host. On the CPU with glibc, ``fit``
        adjusts malloc's settings for the process (see "CPU and GPU" in the user
        guide): training steps then reuse freed memory instead of page-faulting it.

    random_state : int, RandomState instance or None, default=None
        Seeds the weights' initialisation, the batches' order and everything sampled in
        ``fit``: the same integer gives the same model on the CPU. Torch's global random
        state of the caller is left as it was.

    verbose : int, default=0
        When > 0, print a progress bar and a table of the losses at every epoch.

    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues training the fitted
        net (its weights, the optimizer's state and the fit's random stream) for
        ``max_epochs`` more epochs, with the current ``alpha``, ``lr`` and
        ``batch_size``; the parameters that shape the net cannot change. Two fits of 10
        epochs give the same net as one of 20, except for aRRAE (``rank="auto"``), whose
        rank search continues across the calls but bounds its warm-up by the
        ``max_epochs`` the net was built with.

    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Passed to the skorch net (e.g. ``skorch.callbacks.LRScheduler``, ``Checkpoint``,
        ``EpochScoring``, loggers such as ``TensorBoard``); each fit uses a copy, so the
        callbacks you pass keep no state between fits.
"""


class BaseLowRankAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of the public estimators; not for direct use."""

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "regularizer": [StrOptions(set(BOTTLENECKS))],
        "n_linear": [Interval(Integral, 1, None, closed="left")],
        "rank": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "hidden_layer_sizes": ["array-like"],
        "image_shape": ["array-like", None],
        "encoder": [nn.Module, None],
        "decoder": [nn.Module, None],
        "output_activation": [StrOptions(set(OUTPUT_ACTIVATIONS))],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "callbacks": [list, None],
    }

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on X.

        With ``warm_start=True`` and a fitted net, training continues from it (weights,
        optimizer state and the fit's random stream) for ``max_epochs`` more epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        resume = self.warm_start and hasattr(self, "net_")
        return self._fit(X, resume=resume, epochs=self.max_epochs)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train one pass (epoch) over the rows of X.

        The first call builds and initialises the net; later calls continue it (weights,
        optimizer state, random stream) and check that X has the same features. Streams
        data that does not fit in memory through the model in chunks. After each call
        the fitted attributes that describe the codes (``latent_singular_values_``,
        ``latent_rank_`` and, for the generator, ``density_``) are computed from the rows
        of that call only.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The estimator.
        """
        return self._fit(X, resume=hasattr(self, "net_"), epochs=1)

    def _fit(self, X, resume, epochs):
        # A fit that does not end (an error, or Ctrl-C at any point: training or the
        # work after it) leaves the estimator exactly as it was before the call.
        state = dict(self.__dict__)
        try:
            return self._fit_or_raise(X, resume, epochs)
        except BaseException as error:
            self.__dict__.clear()
            self.__dict__.update(state)
            if isinstance(error, TrainingInterrupted):
                raise KeyboardInterrupt(
                    f"fit was interrupted at epoch {error.args[0]}; the estimator is left as "
                    "it was before the call."
                ) from None
            raise

    def _fit_or_raise(self, X, resume, epochs):
        # One row is no data set to learn a latent space from (nor a density).
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=not resume, ensure_min_samples=2)
        image_shape = self._check_image_shape()
        self._check_output_range(X)
        if resume:
            # Trained as a copy, kept only when the fit ends.
            net = copy.deepcopy(self.net_)
            self._check_resumable(net)
            seed = self._seed
            inputs = self._training_tensor(X, image_shape, net.device)
        else:
            device = resolve_device(self.device)
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            inputs = self._training_tensor(X, image_shape, device)
            net = self._new_net(image_shape, device, seed)
            self._check_module_shapes(net, inputs)
            self._seed = seed
            self._architecture = self._architecture_params()
            self._n_threads = self._threads_for(net, inputs)
        with limited_threads(self._n_threads):
            net.partial_fit(TensorDataset(inputs), epochs=epochs)
            self.net_ = net
            self.n_iter_ = len(net.history)
            self._fit_dtype = X.dtype

            latents = self._encode(X.astype(np.float32, copy=False))
            self.latent_singular_values_ = latent_singular_values(latents)
            self.latent_rank_ = latent_rank(self.latent_singular_values_)
            self.rank_ = net.module_.bottleneck.rank
            self._warn_if_output_ignores_input(X, latents)
            self._fit_latent_model(latents, seed)
        return self

    def _threads_for(self, net, inputs):
        """Intra-op threads for this net on the CPU: 1 when its training step is small
        (:mod:`sklearn_lorae._threads`), else None (torch's setting)."""
        if torch.device(net.device).type != "cpu":
            return None
        try:
            flops = training_step_flops(net.module_, inputs[: self.batch_size])
        except Exception:  # noqa: BLE001 - a module the flop counter cannot run keeps torch's setting
            return None
        return threads_for(flops)

    @staticmethod
    def _training_tensor(X, image_shape, device):
        inputs = torch.tensor(X, dtype=torch.float32, device=device)
        return inputs if image_shape is None else inputs.view(-1, *image_shape)

    def _new_net(self, image_shape, device, seed):
        """An initialised net whose weights and training randomness come from ``seed``."""
        # Drawn by the batches' order and the methods' noise, and kept by the net, so
        # that a continued fit draws where the last one stopped.
        generator = torch.Generator().manual_seed(seed)
        # The modules' initialisers draw from torch's global generator: seeded for the
        # construction only, under a lock, so that fits in other threads neither see
        # nor move this fit's stream, and the caller's state is restored.
        with _seeded_torch(seed, device):
            module = self._build_module(image_shape)
        net = AutoencoderNet(
            module=module,
            criterion=nn.MSELoss,
            optimizer=torch.optim.Adam,
            optimizer__fused=_FUSED_ADAM or None,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__generator=generator,
            device=device,
            verbose=self.verbose,
            callbacks=self._net_callbacks(),
        )
        return net.initialize()

    def _check_module_shapes(self, net, inputs):
        """A clear error, before training, when a custom encoder's output is not
        ``(n, latent_dim)`` or a custom decoder's is not the input's shape."""
        module = net.module_
        training = module.training
        module.eval()
        try:
            with torch.no_grad():
                rows = inputs[:2]
                h = module.encoder(rows)
                if h.dim() != 2 or h.shape[1] != self.latent_dim:
                    raise ValueError(
                        f"The encoder returns codes of shape {tuple(h.shape)} for {len(rows)} "
                        f"rows, but latent_dim={self.latent_dim}: it must return "
                        f"({len(rows)}, {self.latent_dim}). Set latent_dim to its output width."
                    )
                out = module.decoder(module.bottleneck(h))
                if out.shape != rows.shape:
                    raise ValueError(
                        f"The decoder returns shape {tuple(out.shape)} for {len(rows)} codes, "
                        f"but the encoder's input has shape {tuple(rows.shape)}: it must "
                        "return the input's shape."
                    )
        finally:
            module.train(training)

    def _net_callbacks(self):
        callbacks = [("progress_bar", ProgressBar())] if self.verbose else []
        for index, callback in enumerate(self.callbacks or ()):
            if isinstance(callback, tuple):
                name, callback = callback
            else:
                name = f"{type(callback).__name__}_{index}"
            # The estimator's parameter stays as the user gave it: the net trains a copy.
            callbacks.append((name, copy.deepcopy(callback)))
        return callbacks or None

    def _architecture_params(self):
        """The parameters that shape the module, which a continued fit cannot change."""
        names = (
            "latent_dim", "regularizer", "n_linear", "rank", "hidden_layer_sizes",
            "image_shape", "encoder", "decoder", "output_activation", "device",
        )  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def _check_resumable(self, net):
        """Continue ``net`` with the current alpha, lr, batch_size, verbose and callbacks
        (fresh copies); refuse a change of the module's shape."""
        changed = [
            name
            for name, value in self._architecture_params().items()
            if not _same_param(value, self._architecture[name])
        ]
        if changed:
            raise ValueError(
                f"Cannot continue the fitted net (warm_start=True or partial_fit): "
                f"{', '.join(changed)} changed since it was built. Set warm_start=False "
                "to train a new net."
            )
        bottleneck = net.module_.bottleneck
        if hasattr(bottleneck, "alpha"):
            bottleneck.alpha = self.alpha
        net.set_params(batch_size=self.batch_size, verbose=self.verbose)
        # Not through set_params, which initialises the callbacks before it sets them.
        net.callbacks = self._net_callbacks()
        net.initialize_callbacks()
        net.lr = self.lr
        for group in net.optimizer_.param_groups:
            group["lr"] = self.lr

    def _warn_if_output_ignores_input(self, X, latents):
        """A ConvergenceWarning when the trained net reconstructs (nearly) the same
        output whatever its input, as when every ReLU of a layer stopped responding."""
        rows = X[:_OUTPUT_CHECK_ROWS]
        data_variance = rows.var(axis=0, dtype=np.float64).sum()
        if not data_variance > 0:
            return
        reconstructions = self._decode(latents[:_OUTPUT_CHECK_ROWS])
        ratio = reconstructions.var(axis=0, dtype=np.float64).sum() / data_variance
        if ratio < _MIN_OUTPUT_VARIANCE_RATIO:
            warnings.warn(
                f"The trained network's output does not depend on its input: its "
                f"reconstructions of the first {len(rows)} training rows vary {ratio:.3g} "
                "times as much as the rows do. The training failed (e.g. the ReLUs of a "
                "layer stopped responding); try another random_state or a lower lr.",
                ConvergenceWarning,
                stacklevel=4,  # the caller of fit, past scikit-learn's fit wrapper
            )

    def _fit_latent_model(self, latents, seed):
        """Hook for subclasses: fit what needs the training latents (e.g. a density)."""

    def _build_module(self, image_shape):
        n_features = self.n_features_in_
        if self.encoder is not None:
            encoder = copy.deepcopy(self.encoder)
        elif image_shape is not None:
            encoder = ConvEncoder(image_shape, self.latent_dim)
        else:
            encoder = MLPEncoder(n_features, self._check_hidden_layer_sizes(), self.latent_dim)
        if self.decoder is not None:
            decoder = copy.deepcopy(self.decoder)
        elif image_shape is not None:
            decoder = ConvDecoder(self.latent_dim, image_shape, self.output_activation)
        else:
            decoder = MLPDecoder(
                self.latent_dim, self._check_hidden_layer_sizes(), n_features, self.output_activation
            )
        bottleneck = BOTTLENECKS[self.regularizer].from_estimator(self, self.latent_dim)
        return Autoencoder(encoder, bottleneck, decoder)

    # ----------------------------------------------------------- validation
    def _check_image_shape(self):
        if self.image_shape is None:
            return None
        return check_image_shape(self.image_shape, self.n_features_in_)

    def _check_hidden_layer_sizes(self):
        sizes = tuple(np.ravel(self.hidden_layer_sizes))
        if not all(isinstance(s, Integral) and s > 0 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must hold positive integers, got "
                f"{self.hidden_layer_sizes!r}."
            )
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

    def score(self, X, y=None):
        """Negative mean squared reconstruction error (greater is better).

        Lets ``GridSearchCV`` compare settings without a scorer.

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
        module = self._inference_module(X.dtype)  # one float64 copy for both passes
        reconstruction = self._decode(self._encode(X, module), module)
        return -float(np.mean((X - reconstruction) ** 2))

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
        with torch.inference_mode(), limited_threads(getattr(self, "_n_threads", None)):
            batch_size = _rows_per_batch(function, module, X[:1], dtype, device) if len(X) else 1
            for start in range(0, X.shape[0], batch_size):
                stop = start + batch_size
                batch = torch.tensor(X[start:stop], dtype=dtype, device=device)
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
        function(torch.tensor(row, dtype=dtype, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return int(np.clip(_INFERENCE_ACTIVATION_BYTES // max(largest, 1), 1, _INFERENCE_BATCH_SIZE))


def _same_param(a, b):
    if isinstance(a, nn.Module) or isinstance(b, nn.Module):
        return a is b
    return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


# Held while torch's global generators are seeded: two fits in threads must not interleave.
_GLOBAL_RNG_LOCK = threading.Lock()


@contextlib.contextmanager
def _seeded_torch(seed, device):
    """Seed torch's global generators for the block, holding the lock, and restore the
    caller's state afterwards."""
    cuda_devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=cuda_devices, device_type="cuda"):
        torch.random.default_generator.manual_seed(seed)
        for cuda_device in cuda_devices:
            with torch.cuda.device(cuda_device):
                torch.cuda.manual_seed(seed)
        yield

