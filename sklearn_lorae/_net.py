"""The skorch net: one training loop for every bottleneck.

skorch owns the loop (optimizer, epochs, callbacks, device, history). This subclass
changes five small things:

- ``get_loss``: mean squared reconstruction error plus the bottleneck's penalty;
- ``get_iterator``: batches are slices of one tensor (already on the device), not
  per-sample ``Dataset`` items collated by a ``DataLoader``;
- ``train_step_single``: a loss that is not finite stops the fit at once;
- ``initialize_module``: convolution weights in channels-last memory format;
- ``fit_loop``: on the CPU, the process keeps the memory that training steps free
  (:func:`~sklearn_lorae._allocator.retained_heap`) instead of page-faulting it back;
  the bottleneck draws its noise from the net's generator; a KeyboardInterrupt
  propagates (skorch would end the fit quietly on a partly trained net).
"""

import contextlib

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, PassthroughScoring
from torch.nn import functional as F

from ._allocator import retained_heap


class TensorBatches:
    """Mini-batches of the rows of a tensor, reshuffled at every pass when ``shuffle``.

    Yields ``(X_batch, X_batch)``: skorch's ``(X, y)`` pair, the target being the input.
    The permutation is drawn on the CPU from ``generator`` (the fit's own
    ``torch.Generator``, seeded from ``random_state``; torch's global one when None), so
    that fits running at once in threads of one process do not draw from each other's
    stream, and a continued fit (``warm_start``) draws where the last one stopped.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None):
        (self.X,) = dataset.tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator

    def __len__(self):
        return -(-len(self.X) // self.batch_size)

    def __iter__(self):
        n_samples = len(self.X)
        if self.shuffle:
            order = torch.randperm(n_samples, generator=self.generator).to(self.X.device)
            for start in range(0, n_samples, self.batch_size):
                batch = self.X[order[start : start + self.batch_size]]
                yield batch, batch
        else:
            for start in range(0, n_samples, self.batch_size):
                batch = self.X[start : start + self.batch_size]
                yield batch, batch


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class TrainingInterrupted(Exception):
    """A KeyboardInterrupt during training, carried past skorch, which would swallow it;
    ``args[0]`` is the epoch it came in (1-based)."""


class BottleneckHooks(Callback):
    """Calls the bottleneck's training hooks: ``on_epoch_end(net)`` after every epoch
    and ``on_train_end(net, X)`` when training ends, X being the training inputs."""

    def on_epoch_end(self, net, **kwargs):
        net.module_.bottleneck.on_epoch_end(net)

    def on_train_end(self, net, X=None, **kwargs):
        net.module_.bottleneck.on_train_end(net, X.tensors[0])


_SAME_AS_MODULE_ = "<the trained module_>"


class AutoencoderNet(NeuralNet):
    """A skorch ``NeuralNet`` for :class:`~sklearn_lorae._modules.Autoencoder` modules.

    The loss of a batch is ``mean((x - x_hat)**2) + penalty``: the mean over pixels
    (features) and samples, as ``F.mse_loss`` in the LoRAE paper's official code, which
    is the scale its lambda values were tuned on. The reconstruction error and the
    penalty are recorded in the history of each batch (``"reconstruction"`` and
    ``"penalty"``, 0 for methods without one) and averaged per epoch.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("iterator_train", TensorBatches)
        kwargs.setdefault("iterator_train__shuffle", True)
        kwargs.setdefault("iterator_valid", TensorBatches)
        kwargs.setdefault("train_split", None)
        # The module pickled with the net is this package's own class, not plain weights.
        kwargs.setdefault("torch_load_kwargs", {"weights_only": False})
        super().__init__(*args, **kwargs)

    def __getstate__(self):
        # The ``module`` parameter is the trained module itself (the estimators pass an
        # instance). Pickled with the rest of the state it would bypass skorch's
        # device-aware loading of ``module_`` (a net trained on CUDA would not load on a
        # CPU-only machine) and be stored twice: it is restored from ``module_`` instead.
        state = super().__getstate__()
        if self.__dict__.get("module") is self.__dict__.get("module_"):
            state["module"] = _SAME_AS_MODULE_
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if isinstance(self.__dict__.get("module"), str) and self.module == _SAME_AS_MODULE_:
            self.module = self.module_

    def initialize_module(self):
        super().initialize_module()
        # Convolutions on the CPU (oneDNN) run faster on channels-last weights: the
        # paper's MNIST net trained 1.1-1.2x faster per step. Only 4-d weights change.
        self.module_.to(memory_format=torch.channels_last)
        return self

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # One generator for the batches' order and the bottleneck's noise, owned by the
        # net (a copy or a pickle of the net would otherwise split it in two).
        self.module_.bottleneck.generator = getattr(self, "iterator_train__generator", None)
        on_cpu = torch.device(self.device).type == "cpu"
        try:
            with retained_heap() if on_cpu else contextlib.nullcontext():
                return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt as interrupt:
            # skorch's partial_fit swallows KeyboardInterrupt and ends the fit as if it
            # had finished; the estimators let it through instead (see their fit).
            raise TrainingInterrupted(len(self.history)) from interrupt

    def get_default_callbacks(self):
        # Epoch means of the two parts of the loss next to skorch's train_loss, and the
        # bottleneck's hooks, all before print_log so that its table shows what they record.
        ours = [
            ("reconstruction", PassthroughScoring(name="reconstruction", on_train=True)),
            ("penalty", PassthroughScoring(name="penalty", on_train=True)),
            ("bottleneck_hooks", BottleneckHooks()),
        ]
        defaults = super().get_default_callbacks()
        names = [name for name, _ in defaults]
        position = names.index("print_log") if "print_log" in names else len(defaults)
        return [*defaults[:position], *ours, *defaults[position:]]

    def get_loss(self, y_pred, y_true, X=None, training=False):
        reconstruction, h, z = y_pred
        loss = F.mse_loss(reconstruction, y_true)
        penalty = self.module_.penalty(h, z)
        if training:
            self.history.record_batch("reconstruction", loss.item())
            self.history.record_batch("penalty", 0.0 if penalty is None else penalty.item())
        return loss if penalty is None else loss + penalty

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = batch
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"The training loss became {loss.item()} at epoch {len(self.history)}. "
                "The model is not usable: lower lr or alpha, or scale the data "
                "(e.g. with StandardScaler or MinMaxScaler)."
            )
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}
