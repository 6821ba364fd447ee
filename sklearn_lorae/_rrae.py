"""RRAE and aRRAE (Mounayer et al., "Rank Reduction Autoencoders", arXiv 2405.13980): the
truncated-SVD bottleneck, its adaptive-rank search and its decoder fine-tuning stage."""

import contextlib

import numpy as np
import torch

from ._bottlenecks import _BATCH_SIZE, Bottleneck
from ._truncated_svd import best_rank_approximation


class TruncatedSVDBottleneck(Bottleneck):
    """RRAE, strong formulation (Mounayer et al., "Rank Reduction Autoencoders",
    arXiv 2405.13980), and its adaptive-rank variant aRRAE.

    While training, the decoder sees the rank-``k`` truncated SVD of the batch's latent
    matrix: with ``H = U S V^T`` (rows: the encoder outputs of the batch), it sees
    ``H V_k V_k^T = U_k S_k V_k^T``; gradients flow through the SVD (with the stabilised
    backward of :mod:`sklearn_lorae._truncated_svd`). No penalty. When
    training ends, one basis ``V_k`` (``latent_dim x k``, orthonormal columns, stored as
    the buffer ``basis``, one row per basis vector) is computed from the encoder outputs
    of the whole training set (their top-``k`` right singular vectors, not centred, as in
    the paper), and every code from then on is the *projection* ``h V_k V_k^T``, in the
    latent space of width ``latent_dim``: this is what ``transform`` returns, what
    ``inverse_transform`` decodes and what the generator's density is fitted to. Its
    rank is at most ``k``. The paper's coefficients (``alpha`` there) are
    ``Z @ basis.T``.

    The decoder learnt on the batches' truncations, not on these projections. The
    authors' second stage, :meth:`finetuning`, trains the decoder alone on them, the
    encoder (and with it the basis) frozen: the estimators' ``finetune_epochs`` more
    epochs of the same training loop and optimizer.

    ``rank="auto"`` is aRRAE, the paper's adaptive algorithm. The paper decides after
    every step; here the decisions are taken on the mean training loss of a *period*:
    ``SEARCH_STEPS`` steps, or one epoch where an epoch has fewer steps (the first epoch
    is one period, which sets the period's length):

    1. train at full rank (``k = latent_dim``) until the loss stagnates (improves by less
       than ``TOL`` relative to its best value for ``PATIENCE`` periods in a row) or
       ``WARMUP_FRACTION`` of ``max_epochs`` has passed (the ``max_epochs`` of the fit in
       which the search began: fits continued with ``warm_start`` keep that budget);
       that loss is the target;
    2. lower ``k`` by one after every period whose loss is at or below the target (the
       reconstruction keeps up at that rank);
    3. when the loss does not get back to the target instead, back off to ``k + 1`` and
       keep that rank for the rest of training. The paper backs off when the loss
       stagnates above the target; with a budget of epochs, "does not get back" is
       read as: for ``STRIKE_EPOCHS`` epochs in a row (their periods, two at least), the
       loss, at the rate it fell over the last period, would need more than ``HORIZON``
       epochs to reach the target (a stagnating loss never reaches it). Lowering the
       rank is fast, backing off is judged over epochs: a period's loss is noisier, the
       shorter the period.

    The rank changes by at most one per period, so the search needs well over
    ``latent_dim`` periods to finish. A search that ``max_epochs`` cuts short ends at
    the lowest rank whose loss got back to the target: one above the rank it was trying,
    which had not (yet); a fit continued with ``warm_start`` tries that rank again, so
    that a search in chunks takes the steps of one fit. ``rank`` is the rank found; the history records the rank
    of every step (``net_.history[-1, "batches", :, "rank"]``) and of the last step of
    every epoch (``net_.history[:, "rank"]``).
    """

    #: Relative improvement of a period's loss below which training counts as stagnating.
    TOL = 0.01
    #: Periods of stagnation that end the warm-up at full rank.
    PATIENCE = 3
    #: The longest warm-up at full rank, as a fraction of ``max_epochs``.
    WARMUP_FRACTION = 0.25
    #: Epochs within which the loss must be on course to get back to the target.
    HORIZON = 10
    #: Epochs the loss must be off course, in a row, for the search to back off.
    STRIKE_EPOCHS = 2
    #: The longest period of the adaptive search, in training steps (batches).
    SEARCH_STEPS = 100

    # Class defaults, so that a module pickled before these existed still loads.
    _finetuning = False
    _period = None
    _budget_epochs = None
    _resume_rank = None

    #: The attributes of the adaptive search that a continued fit needs (model files).
    SEARCH_STATE = (
        "rank", "_phase", "_target", "_best", "_stalled", "_previous", "_strikes", "_trained_rank",
        "_steps", "_losses", "_sizes", "_period", "_steps_per_epoch", "_budget_epochs", "_resume_rank",
    )  # fmt: skip

    def __init__(self, latent_dim, rank="auto"):
        super().__init__()
        self.adaptive = rank == "auto"
        self.rank = latent_dim if self.adaptive else int(rank)
        self.register_buffer("basis", None)
        # State of the adaptive search.
        self._phase = "warmup" if self.adaptive else "fixed"
        self._target = None
        self._best = np.inf
        self._stalled = 0
        self._previous = None  # the last period's loss, at the current rank
        self._strikes = 0
        self._trained_rank = self.rank
        self._steps = 0  # training steps the search has seen
        self._losses, self._sizes = [], []  # the current period's batch losses and sizes

    @classmethod
    def from_estimator(cls, estimator, latent_dim):
        rank = estimator.rank
        if rank != "auto" and rank > latent_dim:
            raise ValueError(
                f"rank={rank} should be <= latent_dim={latent_dim}: the truncated SVD "
                "keeps at most latent_dim singular values."
            )
        return cls(latent_dim, rank)

    def forward(self, h):
        if self._finetuning or (not self.training and self.basis is not None):
            return self._project(h)
        return truncate(h, self.rank)

    def encode(self, h):
        return self.forward(h)

    def _project(self, h):
        basis = self.basis.to(h.dtype)
        return (h @ basis.T) @ basis

    # ------------------------------------------------------------------- hooks
    def on_batch_end(self, net):
        """After every training step: record its rank and, for aRRAE, decide at the end
        of a period."""
        self._trained_rank = self.rank
        net.history.record_batch("rank", self.rank)
        if not self.adaptive or self._finetuning:
            return
        batch = net.history[-1, "batches", -1]
        self._losses.append(batch["train_loss"])
        self._sizes.append(batch["train_batch_size"])
        self._steps += 1
        if self._period is not None and len(self._losses) >= self._period:
            self._end_period(net)

    def on_epoch_end(self, net):
        net.history.record("rank", self._trained_rank)
        net.history.record("finetune", self._finetuning)
        if self.adaptive and self._period is None and self._losses:
            # The first epoch is the first period and sets the length of the others.
            self._period = min(self.SEARCH_STEPS, len(self._losses))
            self._steps_per_epoch = len(self._losses)
            self._budget_epochs = net.max_epochs
            self._end_period(net)

    def _end_period(self, net):
        # Weighted by the batches' sizes, as skorch's epoch train_loss.
        loss = float(np.average(self._losses, weights=self._sizes))
        self._losses, self._sizes = [], []
        if self._phase in ("warmup", "reduce"):
            self._search(loss, self._steps / self._steps_per_epoch, self._budget_epochs or net.max_epochs)

    def _search(self, loss, epochs, max_epochs):
        improved = loss < self._best * (1.0 - self.TOL)
        self._best = min(self._best, loss)
        self._stalled = 0 if improved else self._stalled + 1
        previous, self._previous = self._previous, loss
        if self._phase == "warmup":
            if self._stalled >= self.PATIENCE or epochs >= self.WARMUP_FRACTION * max_epochs:
                self._phase, self._target = "reduce", self._best
                self._reduce()
        elif self._phase == "reduce":
            if loss <= self._target:
                self._reduce()
                return
            if previous is None:  # the first period at this rank
                return
            rate = loss / previous
            periods_per_epoch = self._steps_per_epoch / self._period
            horizon = self.HORIZON * periods_per_epoch
            off_course = rate >= 1.0 or np.log(self._target / loss) / np.log(rate) > horizon
            self._strikes = self._strikes + 1 if off_course else 0
            if self._strikes >= max(2, self.STRIKE_EPOCHS * periods_per_epoch):
                self.rank += 1
                self._phase = "done"

    def search_state(self):
        """The adaptive search's state, as plain data (what :func:`save_model` keeps)."""
        return {name: getattr(self, name, None) for name in self.SEARCH_STATE}

    def load_search_state(self, state):
        for name, value in state.items():
            setattr(self, name, list(value) if isinstance(value, (list, tuple)) else value)

    def _reduce(self):
        if self.rank == 1:
            self._phase = "done"
            return
        self.rank -= 1
        self._best, self._stalled, self._previous, self._strikes = np.inf, 0, None, 0

    def on_train_begin(self, net):
        """A fit continued with ``warm_start`` goes on with the search where the last fit
        cut it short, and trains on the batches' truncations until it ends (a validation
        pass too): a fit in chunks takes the steps of one fit."""
        if self._resume_rank is not None:
            self.rank, self._resume_rank = self._resume_rank, None
        self.basis = None

    def on_train_end(self, net, X):
        if self._phase == "reduce":
            # Cut short while trying a rank that has not got back to the target (or that a
            # reduction after the last step set, untrained): the one above it has. A
            # continued fit tries that rank again (on_train_begin).
            self._resume_rank = self.rank
            self.rank += 1
        module = net.module_
        training = module.training
        module.eval()
        gram = None
        with torch.no_grad():
            for batch in torch.split(X, _BATCH_SIZE):
                h = module.encoder(batch).to(torch.float64)
                gram = h.T @ h if gram is None else gram + h.T @ h
        module.train(training)
        # The right singular vectors of the training codes are the eigenvectors of their
        # Gram matrix; eigh sorts the eigenvalues in ascending order.
        _, vectors = torch.linalg.eigh(gram)
        basis = vectors[:, -self.rank :].flip(-1).T
        self.basis = basis.to(next(module.parameters()).dtype).contiguous()

    @contextlib.contextmanager
    def finetuning(self, module):
        """Within the block, training steps train ``module``'s decoder alone on the
        projections onto ``basis`` (RRAE's second stage): the encoder's parameters need
        no gradient, so that the optimizer leaves them exactly as they are (torch's
        optimizers skip a parameter without a gradient), and the encoder runs in eval
        mode, so that layers such as batch norm keep their statistics."""
        if self.basis is None:
            raise RuntimeError("The decoder is fine-tuned on the basis of the training codes: compute it first.")
        encoder = module.encoder
        trainable = [p for p in encoder.parameters() if p.requires_grad]
        for parameter in trainable:
            parameter.requires_grad_(False)
        # skorch puts the whole module in train mode before every step.
        hook = encoder.register_forward_pre_hook(_set_eval)
        self._finetuning = True
        try:
            yield
        finally:
            self._finetuning = False
            hook.remove()
            for parameter in trainable:
                parameter.requires_grad_(True)


def _set_eval(layer, inputs):
    layer.eval()  # and return None: a pre-hook's return value would replace the inputs


def truncate(h, rank):
    """``h`` rebuilt from its ``rank`` largest singular triplets, differentiable with a
    gradient that stays finite for repeated and zero singular values
    (:mod:`sklearn_lorae._truncated_svd`)."""
    try:
        return best_rank_approximation(h, rank)
    except torch.linalg.LinAlgError:
        # Non-finite codes: pass them on, the loss will be non-finite and stop the fit.
        return h
