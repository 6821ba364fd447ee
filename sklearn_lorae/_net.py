"""The skorch net: one training loop for every bottleneck.

skorch owns the loop (optimizer, epochs, callbacks, device, history). This subclass
changes a few small things:

- ``get_loss``: mean squared reconstruction error plus the bottleneck's penalty, both
  recorded (and, on validation batches, as ``valid_reconstruction`` / ``valid_penalty``);
- ``get_iterator``: batches are slices of one tensor (already on the device), not
  per-sample ``Dataset`` items collated by a ``DataLoader``;
- ``train_step_single``: a loss that is not finite stops the fit at once;
- ``initialize_module``: convolution weights in channels-last memory format;
- ``partial_fit``: the bottleneck's ``on_train_end`` runs after every callback, then
  ``finetune_epochs`` epochs of RRAE's decoder fine-tuning;
- ``get_default_callbacks``: the loss parts, the bottleneck's hooks, and an epoch table
  coloured only on a terminal;
- ``fit_loop``: on the CPU, the process keeps the memory that training steps free
  (:func:`~sklearn_lorae._allocator.retained_heap`) instead of page-faulting it back;
  the bottleneck draws its noise from the net's generator; a KeyboardInterrupt
  propagates (skorch would end the fit quietly on a partly trained net).
"""

import contextlib
import copy
import re
import sys

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, PassthroughScoring, PrintLog
from torch.nn import functional as F
from torch.utils.data import TensorDataset

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


class _StopRequested(Exception):
    """A callback ended training at the end of an epoch (skorch's KeyboardInterrupt)."""


class TrainingInterrupted(Exception):
    """A KeyboardInterrupt during training, carried past skorch, which would swallow it;
    ``args[0]`` is the epoch it came in (1-based)."""


class BottleneckHooks(Callback):
    """Calls the bottleneck's ``on_epoch_end(net)`` after every epoch and, where it has
    them (aRRAE's search), its ``on_train_begin(net)`` when a fit begins and its
    ``on_batch_end(net)`` after every training step. (Its ``on_train_end`` is called by
    :meth:`AutoencoderNet.partial_fit`, after every callback, so that it sees the
    weights an early stopping restored.)"""

    def on_train_begin(self, net, **kwargs):
        hook = getattr(net.module_.bottleneck, "on_train_begin", None)
        if hook is not None:
            hook(net)

    def on_batch_end(self, net, training=False, **kwargs):
        hook = getattr(net.module_.bottleneck, "on_batch_end", None)
        if training and hook is not None:
            hook(net)

    def on_epoch_end(self, net, **kwargs):
        net.module_.bottleneck.on_epoch_end(net)


class EarlyStoppingAtBest(EarlyStopping):
    """skorch's EarlyStopping (stop after ``patience`` epochs without an improvement of
    ``threshold``), restoring at the end the weights of the epoch with the *lowest*
    monitored loss, as scikit-learn's MLPs do: skorch's ``load_best`` would restore the
    last epoch that improved by the threshold, which need not be the lowest."""

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.lowest_, self.lowest_epoch_, self.lowest_weights_ = np.inf, None, None

    def on_epoch_end(self, net, **kwargs):
        if self.monitor not in net.history[-1]:
            return  # an epoch of RRAE's decoder fine-tuning, which has no validation pass
        score = net.history[-1, self.monitor]
        if score < self.lowest_:
            self.lowest_, self.lowest_epoch_ = score, net.history[-1, "epoch"]
            self.lowest_weights_ = copy.deepcopy(net.module_.state_dict())
        super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        if self.lowest_epoch_ is not None and self.lowest_epoch_ != net.history[-1, "epoch"]:
            net.module_.load_state_dict(self.lowest_weights_)


class ValidationSplit:
    """skorch's ``train_split`` for early stopping: a random ``fraction`` of the rows of a
    ``TensorDataset`` (at least one, and at least one left to train on), drawn from
    ``seed``."""

    def __init__(self, fraction, seed):
        self.fraction = fraction
        self.seed = seed

    def __call__(self, dataset, y=None, **fit_params):
        (X,) = dataset.tensors
        n_valid = min(max(1, int(round(self.fraction * len(X)))), len(X) - 1)
        order = torch.from_numpy(np.random.RandomState(self.seed).permutation(len(X))).to(X.device)
        return TensorDataset(X[order[n_valid:]]), TensorDataset(X[order[:n_valid]])


_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


class PlainPrintLog(PrintLog):
    """skorch's epoch table, with its colours only when standard output is a terminal
    (redirected to a file they would be escape codes in the log)."""

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        if isinstance(text, str) and not _is_terminal():
            return _ANSI_CODES.sub("", text)
        return text


class FitProgress(Callback):
    """One progress bar over the whole fit: epochs done out of the fit's, and the last
    epoch's losses. Shown on a terminal only; elsewhere the epoch table is the log."""

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=getattr(net, "epochs_this_fit_", net.max_epochs), unit="epoch", leave=True)

    def on_epoch_end(self, net, **kwargs):
        last = net.history[-1]
        shown = {key: f"{last[key]:.4g}" for key in ("train_loss", "valid_loss") if key in last}
        self.bar_.set_postfix(shown, refresh=False)
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()


def _is_terminal():
    return hasattr(sys.stdout, "isatty") and sys.stdout.isatty()


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

    def partial_fit(self, X, y=None, classes=None, epochs=None, finetune_epochs=0, **fit_params):
        if not self.initialized_:
            self.initialize()
        finetuning = getattr(self.module_.bottleneck, "finetuning", None) if finetune_epochs else None
        self.epochs_this_fit_ = (self.max_epochs if epochs is None else epochs) + (finetune_epochs if finetuning else 0)
        super().partial_fit(X, y, classes=classes, epochs=epochs, **fit_params)
        self.module_.bottleneck.on_train_end(self, X.tensors[0])
        if finetuning is not None:
            self._finetune_decoder(X, finetune_epochs, finetuning)
        return self

    def _finetune_decoder(self, X, epochs, finetuning):
        """RRAE's second stage: ``epochs`` more epochs of the same loop and optimizer in
        which the decoder alone learns, on the codes the bottleneck gives from now on
        (within its ``finetuning`` block). No validation pass: a fixed number of epochs,
        as in the authors' code; early stopping watched the first stage only."""
        train_split, self.train_split = self.train_split, None
        try:
            with finetuning(self.module_):
                self.fit_loop(X, epochs=epochs)
        finally:
            self.train_split = train_split

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        # One generator for the batches' order and the bottleneck's noise, owned by the
        # net (a copy or a pickle of the net would otherwise split it in two).
        self.module_.bottleneck.generator = getattr(self, "iterator_train__generator", None)
        on_cpu = torch.device(self.device).type == "cpu"
        try:
            with retained_heap() if on_cpu else contextlib.nullcontext():
                return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except _StopRequested:
            return self
        except KeyboardInterrupt as interrupt:
            # skorch's partial_fit swallows KeyboardInterrupt and ends the fit as if it
            # had finished; the estimators let it through instead (see their fit).
            raise TrainingInterrupted(len(self.history)) from interrupt

    def notify(self, method_name, **cb_kwargs):
        try:
            return super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt:
            # skorch's callbacks (EarlyStopping among them) end training by raising
            # KeyboardInterrupt at the end of an epoch: that is a request, not Ctrl-C.
            if method_name == "on_epoch_end":
                raise _StopRequested from None
            raise

    def get_default_callbacks(self):
        # Epoch means of the two parts of the loss next to skorch's train_loss, and the
        # bottleneck's hooks, all before print_log so that its table shows what they record.
        ours = [
            ("reconstruction", PassthroughScoring(name="reconstruction", on_train=True)),
            ("penalty", PassthroughScoring(name="penalty", on_train=True)),
            ("valid_reconstruction", PassthroughScoring(name="valid_reconstruction")),
            ("valid_penalty", PassthroughScoring(name="valid_penalty")),
            ("bottleneck_hooks", BottleneckHooks()),
        ]
        defaults = [
            (name, PlainPrintLog() if name == "print_log" else callback)
            for name, callback in super().get_default_callbacks()
        ]
        names = [name for name, _ in defaults]
        position = names.index("print_log") if "print_log" in names else len(defaults)
        return [*defaults[:position], *ours, *defaults[position:]]

    def get_loss(self, y_pred, y_true, X=None, training=False):
        reconstruction, h, z = y_pred
        loss = F.mse_loss(reconstruction, y_true)
        penalty = self.module_.penalty(h, z)
        prefix = "" if training else "valid_"
        self.history.record_batch(prefix + "reconstruction", loss.item())
        self.history.record_batch(prefix + "penalty", 0.0 if penalty is None else penalty.item())
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
