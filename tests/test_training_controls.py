"""Training that users control: early stopping, warm_start, partial_fit, callbacks,
optimizer, per-row scores, progress output."""

import contextlib
import io

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Checkpoint, LRScheduler

from sklearn_lorae import LoRAEGenerator, LoRAETransformer

FAST = dict(latent_dim=4, hidden_layer_sizes=(16,), random_state=0)


# ------------------------------------------------------------ early stopping
def test_early_stopping_stops_when_the_validation_loss_stalls_and_restores_the_best(digits):
    X = digits[0]
    # A large learning rate makes the validation loss stall and wobble early.
    estimator = LoRAETransformer(
        **FAST, max_epochs=200, lr=5e-2, early_stopping=True, n_iter_no_change=3, tol=1e-4
    ).fit(X)
    history = estimator.net_.history
    assert estimator.n_iter_ < 200 and estimator.n_iter_ == len(history)
    valid_losses = history[:, "valid_loss"]
    assert estimator.best_epoch_ == int(np.argmin(valid_losses)) + 1 < estimator.n_iter_
    # The restored net is the best epoch's: its reconstruction error of the validation
    # rows is the one recorded at that epoch (the validation loss adds the penalty).
    split = estimator.net_.train_split
    _, valid = split(torch.utils.data.TensorDataset(torch.tensor(X, dtype=torch.float32)))
    rows = valid.tensors[0].numpy()
    best = history[estimator.best_epoch_ - 1]
    assert best["valid_loss"] == min(valid_losses)
    assert -estimator.score(rows) == pytest.approx(best["valid_reconstruction"], rel=1e-4)
    for key in ("valid_reconstruction", "valid_penalty"):
        assert len(history[:, key]) == estimator.n_iter_
    np.testing.assert_allclose(
        history[:, "valid_loss"], np.add(history[:, "valid_reconstruction"], history[:, "valid_penalty"]), rtol=1e-5
    )


def test_the_validation_split_follows_random_state(digits):
    X = digits[0][:300]
    a, b, c = (
        LoRAETransformer(**{**FAST, "random_state": seed}, max_epochs=2, early_stopping=True).fit(X)
        for seed in (0, 0, 1)
    )
    assert a.net_.history[:, "valid_loss"] == b.net_.history[:, "valid_loss"]
    assert a.net_.history[:, "valid_loss"] != c.net_.history[:, "valid_loss"]


def test_without_early_stopping_every_row_trains_and_no_best_epoch(digits):
    estimator = LoRAETransformer(**FAST, max_epochs=2).fit(digits[0][:300])
    assert estimator.net_.train_split is None and not hasattr(estimator, "best_epoch_")


# ------------------------------------------------------ continuing a fit
def test_warm_start_twice_10_epochs_equals_one_fit_of_20(digits):
    X = digits[0][:400]
    once = LoRAEGenerator(**FAST, n_components=2, max_epochs=20).fit(X)
    twice = LoRAEGenerator(**FAST, n_components=2, max_epochs=10, warm_start=True).fit(X).fit(X)
    assert twice.n_iter_ == 20
    np.testing.assert_array_equal(once.transform(X), twice.transform(X))
    np.testing.assert_array_equal(once.sample(5, random_state=0), twice.sample(5, random_state=0))


def test_warm_start_refuses_a_change_of_the_nets_shape(digits):
    estimator = LoRAETransformer(**FAST, max_epochs=1, warm_start=True).fit(digits[0][:100])
    with pytest.raises(ValueError, match="latent_dim changed"):
        estimator.set_params(latent_dim=8).fit(digits[0][:100])


def test_partial_fit_over_chunks_reaches_the_error_of_fit(digits):
    X_train, X_test = digits[0], digits[1]
    n_passes = 5
    full = LoRAETransformer(**FAST, max_epochs=n_passes).fit(X_train)
    streamed = LoRAETransformer(**FAST)
    for _ in range(n_passes):
        for chunk in np.array_split(X_train, 10):
            streamed.partial_fit(chunk)
    assert streamed.n_iter_ == 10 * n_passes
    assert -streamed.score(X_test) <= 1.1 * -full.score(X_test)


def test_partial_fit_checks_the_features_after_the_first_call(digits):
    estimator = LoRAETransformer(**FAST).partial_fit(digits[0][:50])
    with pytest.raises(ValueError, match="features"):
        estimator.partial_fit(digits[0][:50, :10])


# --------------------------------------------------------------- callbacks
def test_checkpoints_of_parallel_fits_do_not_overwrite_each_other(digits, tmp_path):
    search = GridSearchCV(
        LoRAETransformer(**FAST, max_epochs=2, callbacks=[Checkpoint(dirname=str(tmp_path), monitor=None)]),
        {"alpha": [1e-4, 1e-2]},
        cv=2,
        n_jobs=2,
    )
    search.fit(digits[0][:200])
    folders = sorted(path for path in tmp_path.iterdir() if path.is_dir())
    # 2 candidates x 2 folds + the refit: one folder each, each with its own weights.
    assert len(folders) == 5
    assert all((folder / "params.pt").exists() for folder in folders)
    # The estimator's parameter is left as given.
    assert search.best_estimator_.callbacks[0].dirname == str(tmp_path)


def test_callbacks_clone_and_schedule_the_learning_rate(digits):
    scheduler = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    estimator = clone(LoRAETransformer(**FAST, max_epochs=3, callbacks=[scheduler]))
    estimator.fit(digits[0][:100])
    assert estimator.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5**3)


# --------------------------------------------------------------- optimizer
def test_optimizer_and_its_params(digits):
    estimator = LoRAETransformer(
        **FAST, max_epochs=1, optimizer=torch.optim.SGD, optimizer_params={"momentum": 0.9}
    ).fit(digits[0][:100])
    optimizer = estimator.net_.optimizer_
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["momentum"] == 0.9


def test_adam_is_fused_by_default_unless_the_user_says_otherwise(digits):
    default = LoRAETransformer(**FAST, max_epochs=1).fit(digits[0][:100])
    unfused = LoRAETransformer(**FAST, max_epochs=1, optimizer_params={"fused": False}).fit(digits[0][:100])
    assert unfused.net_.optimizer_.param_groups[0]["fused"] is False
    if tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 4):
        assert default.net_.optimizer_.param_groups[0]["fused"] is True


def test_optimizer_must_be_a_torch_optimizer_class(digits):
    with pytest.raises(ValueError, match="torch.optim.Optimizer class"):
        LoRAETransformer(**FAST, max_epochs=1, optimizer=dict).fit(digits[0][:100])


# ------------------------------------------------------------ per-row scores
def test_score_samples_shape_order_and_mean(digits):
    X = digits[1][:50]
    estimator = LoRAEGenerator(**FAST, n_components=2, max_epochs=3).fit(digits[0])
    scores = estimator.score_samples(X)
    assert scores.shape == (50,) and (scores <= 0).all()
    np.testing.assert_allclose(estimator.score_samples(X[::-1]), scores[::-1])
    assert estimator.score(X) == pytest.approx(scores.mean())
    reconstruction = estimator.inverse_transform(estimator.transform(X))
    np.testing.assert_allclose(scores, -((X - reconstruction) ** 2).mean(axis=1), rtol=1e-5)


# ----------------------------------------------------------------- output
def test_verbose_output_has_no_colour_codes_when_redirected(digits):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        LoRAETransformer(**FAST, max_epochs=3, verbose=1).fit(digits[0][:100])
    text = out.getvalue()
    assert "train_loss" in text and "reconstruction" in text
    assert "\x1b[" not in text
    assert len([line for line in text.splitlines() if line.strip().startswith(("1 ", "2 ", "3 "))]) == 3
