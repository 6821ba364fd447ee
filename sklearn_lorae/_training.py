"""How a fit runs: the net it builds, the callbacks it passes, continuing a fit, and the
checks around training. :class:`TrainingMixin` is half of the estimators' base class."""

import contextlib
import copy
import os
import threading
import uuid
import warnings

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data
from torch import nn
from torch.utils.data import TensorDataset

from ._bottlenecks import BOTTLENECKS
from ._denormals import flushed_denormals
from ._modules import Autoencoder, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from ._net import AutoencoderNet, EarlyStoppingAtBest, FitProgress, TrainingInterrupted, ValidationSplit, _is_terminal
from ._threads import limited_threads, threads_for, training_step_flops
from ._validation import resolve_device, to_tensor
from .metrics import latent_rank, latent_singular_values

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


class TrainingMixin:
    """fit and partial_fit of the estimators, and what they build."""

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
        return self._fit(
            X,
            resume=resume,
            epochs=self.max_epochs,
            early_stopping=self.early_stopping,
            finetune_epochs=self.finetune_epochs,
        )

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
        return self._fit(X, resume=hasattr(self, "net_"), epochs=1, early_stopping=False, finetune_epochs=0)

    def _fit(self, X, resume, epochs, early_stopping, finetune_epochs):
        # A fit that does not end (an error, or Ctrl-C at any point: training or the
        # work after it) leaves the estimator exactly as it was before the call.
        state = dict(self.__dict__)
        try:
            return self._fit_or_raise(X, resume, epochs, early_stopping, finetune_epochs)
        except BaseException as error:
            self.__dict__.clear()
            self.__dict__.update(state)
            if isinstance(error, TrainingInterrupted):
                raise KeyboardInterrupt(
                    f"fit was interrupted at epoch {error.args[0]}; the estimator is left as it was before the call."
                ) from None
            raise

    def _fit_or_raise(self, X, resume, epochs, early_stopping, finetune_epochs):
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
            self._start_output_at_mean(net, X, image_shape)
            self._check_module_shapes(net, inputs)
            self._remember_build(seed, self._threads_for(net, inputs))
        if early_stopping:
            self._check_validation_size(len(X))
            net.train_split = ValidationSplit(self.validation_fraction, seed)
            net.callbacks_.append(("early_stopping", self._early_stopping().initialize()))
        else:
            net.train_split = None
        with limited_threads(self._n_threads):
            with flushed_denormals():
                net.partial_fit(TensorDataset(inputs), epochs=epochs, finetune_epochs=finetune_epochs)
            self.net_ = net
            self.n_iter_ = len(net.history)
            if early_stopping:
                self.best_epoch_ = int(dict(net.callbacks_)["early_stopping"].lowest_epoch_)
            else:
                self.__dict__.pop("best_epoch_", None)
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
        inputs = to_tensor(X, torch.float32, device)
        return inputs if image_shape is None else inputs.view(-1, *image_shape)

    def _new_net(self, image_shape, device, seed):
        """An initialised net whose weights and training randomness come from ``seed``."""
        # Drawn by the batches' order and the methods' noise, and kept by the net, so
        # that a continued fit draws where the last one stopped.
        generator = torch.Generator().manual_seed(seed)
        # The modules' initialisers draw from torch's global generator: seeded for the
        # construction only, under a lock, so that fits in other threads neither see
        # nor move this fit's stream, and the caller's state is restored.
        # The nets train in float32 whatever torch's default dtype (GPyTorch and BoTorch
        # users set float64): built under a float32 default, so that a seed draws the
        # same weights, and converted, for a custom encoder / decoder built in another.
        with _seeded_torch(seed, device), _float32_by_default():
            module = self._build_module(image_shape).to(torch.float32)
        net = AutoencoderNet(
            module=module,
            criterion=nn.MSELoss,
            optimizer=self.optimizer,
            **{f"optimizer__{name}": value for name, value in self._optimizer_params().items()},
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train__generator=generator,
            device=device,
            verbose=self.verbose,
            callbacks=self._net_callbacks(),
        )
        return net.initialize()

    def _start_output_at_mean(self, net, X, image_shape):
        """With ``output_init="data_mean"``, the built-in decoder's last bias is set so that
        the untrained net, whose output barely depends on its input, outputs the mean of
        X (per feature, or per channel of images). With torch's initialisation the paper's
        MNIST net starts from a constant ``tanh(b)``, ``b`` uniform in (-1, 1): where that is
        far from the data, Adam's first steps carry the pre-activations past the tanh's
        range, where the gradient is 0, and the net stops depending on its input for good
        (a third of the seeds; benchmarks/bench_collapse.py)."""
        if self.output_init != "data_mean" or self.decoder is not None:
            return
        mean = X.mean(axis=0, dtype=np.float64)
        if image_shape is not None:
            mean = mean.reshape(image_shape).mean(axis=(1, 2))
        net.module_.decoder.start_at(mean)

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

    def _optimizer_params(self):
        """``optimizer_params``, plus Adam's fused kernel when the user did not choose:
        one pass over all parameters instead of a loop of small ops, 1.1x faster per step
        on the paper's MNIST net (on the CPU from torch 2.4)."""
        if not (isinstance(self.optimizer, type) and issubclass(self.optimizer, torch.optim.Optimizer)):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer class, got {self.optimizer!r}.")
        params = dict(self.optimizer_params or {})
        if self.optimizer in (torch.optim.Adam, torch.optim.AdamW) and _FUSED_ADAM:
            params.setdefault("fused", True)
        return params

    def _early_stopping(self):
        """Early stopping with scikit-learn's meaning of ``tol`` and ``n_iter_no_change``
        (an absolute improvement of the validation loss), restoring the weights of the
        epoch with the lowest validation loss at the end."""
        return EarlyStoppingAtBest(
            monitor="valid_loss",
            patience=self.n_iter_no_change,
            threshold=self.tol,
            threshold_mode="abs",
            sink=print if self.verbose else _silent,
        )

    def _check_validation_size(self, n_samples):
        if n_samples < 3:
            raise ValueError(
                f"early_stopping=True needs at least 3 rows to set validation_fraction="
                f"{self.validation_fraction} of them aside, got {n_samples}."
            )

    def _net_callbacks(self):
        callbacks = [("fit_progress", FitProgress())] if self.verbose and _is_terminal() else []
        fit_id = f"fit-{uuid.uuid4().hex[:12]}"
        for index, callback in enumerate(self.callbacks or ()):
            if isinstance(callback, tuple):
                name, callback = callback
            else:
                name = f"{type(callback).__name__}_{index}"
            # The estimator's parameter stays as the user gave it: the net trains a copy.
            callback = copy.deepcopy(callback)
            if isinstance(getattr(callback, "dirname", None), str) and callback.dirname:
                # Fits at once (GridSearchCV(n_jobs=...)) must not write over each other's
                # files (skorch issues 848, 819): each fit writes to a folder of its own.
                callback.dirname = os.path.join(callback.dirname, fit_id)
            callbacks.append((name, callback))
        return callbacks or None

    def _remember_build(self, seed, n_threads):
        """What a continued fit needs to know of the net's construction (also set by
        :func:`~sklearn_lorae.load_model`)."""
        self._seed = seed
        self._n_threads = n_threads
        self._architecture = self._architecture_params()
        self._architecture_optimizer = self._optimizer_params()

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
        if self.optimizer is not net.optimizer or self._optimizer_params() != self._architecture_optimizer:
            raise ValueError(
                "Cannot continue the fitted net (warm_start=True or partial_fit): optimizer or "
                "optimizer_params changed since it was built. Set warm_start=False to train a new net."
            )
        # Not through set_params, which initialises the callbacks before it sets them.
        net.callbacks = self._net_callbacks()
        net.initialize_callbacks()
        net.lr = self.lr
        for group in net.optimizer_.param_groups:
            group["lr"] = self.lr

    def _warn_if_output_ignores_input(self, X, latents):
        """A ConvergenceWarning when the trained net reconstructs (nearly) the same
        output whatever its input: a saturating output (tanh, sigmoid) driven into its flat
        tail in the first steps, or every ReLU of a layer stopped responding."""
        rows = X[:_OUTPUT_CHECK_ROWS]
        data_variance = rows.var(axis=0, dtype=np.float64).sum()
        if not data_variance > 0:
            return
        reconstructions = self._decode(latents[:_OUTPUT_CHECK_ROWS])
        ratio = reconstructions.var(axis=0, dtype=np.float64).sum() / data_variance
        if ratio < _MIN_OUTPUT_VARIANCE_RATIO:
            # Only the built-in decoder's start can be moved to the data's mean.
            start_at_mean = "output_init='data_mean', " if self.output_init == "torch" and self.decoder is None else ""
            warnings.warn(
                f"The trained network's output does not depend on its input: its "
                f"reconstructions of the first {len(rows)} training rows vary {ratio:.3g} "
                "times as much as the rows do. The training failed (e.g. a tanh or sigmoid "
                "output saturated, or the ReLUs of a layer stopped responding); try "
                f"{start_at_mean}another random_state or a lower lr.",
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
            decoder = MLPDecoder(self.latent_dim, self._check_hidden_layer_sizes(), n_features, self.output_activation)
        bottleneck = BOTTLENECKS[self.regularizer].from_estimator(self, self.latent_dim)
        return Autoencoder(encoder, bottleneck, decoder)


def _silent(*args, **kwargs):
    pass


def _same_param(a, b):
    if isinstance(a, nn.Module) or isinstance(b, nn.Module):
        return a is b
    return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


# Held while torch's global generators are seeded: two fits in threads must not interleave.
_GLOBAL_RNG_LOCK = threading.Lock()


@contextlib.contextmanager
def _float32_by_default():
    """torch's default dtype float32 for the block, the caller's restored afterwards.
    Process-wide, as the seeding of torch's generators is: used under the same lock."""
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(default)


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
