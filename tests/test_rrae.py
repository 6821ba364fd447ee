"""RRAE's decoder fine-tuning (``finetune_epochs``) and aRRAE's search within epochs."""

import copy

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_lorae import LoRAEGenerator, LoRAETransformer, load_model, save_model
from sklearn_lorae._rrae import TruncatedSVDBottleneck

RRAE = dict(
    regularizer="truncated",
    rank=3,
    latent_dim=8,
    hidden_layer_sizes=(32,),
    lr=5e-3,
    max_epochs=5,
    batch_size=32,
    random_state=0,
    finetune_epochs=0,
)


@pytest.fixture(scope="module")
def X(digits):
    return digits[0][:400]


class FirstStage(Callback):
    """The module's weights when the callbacks' training ends, i.e. before any
    fine-tuning."""

    def on_train_end(self, net, **kwargs):
        self.state_ = copy.deepcopy(net.module_.state_dict())


def _parts(state, prefix):
    return {name: tensor for name, tensor in state.items() if name.startswith(prefix)}


@pytest.fixture(scope="module")
def fits(X):
    """The same fit without and with 3 epochs of fine-tuning."""
    today = LoRAETransformer(**RRAE).fit(X)
    tuned = LoRAETransformer(**{**RRAE, "finetune_epochs": 3}, callbacks=[("first_stage", FirstStage())]).fit(X)
    return today, tuned


def test_finetuning_changes_only_the_decoder(X, fits):
    today, tuned = fits
    before, after = today.net_.module_.state_dict(), tuned.net_.module_.state_dict()
    for name, tensor in _parts(before, "encoder.").items():
        assert torch.equal(after[name], tensor), name  # bit for bit
    assert torch.equal(after["bottleneck.basis"], before["bottleneck.basis"])
    changed = [name for name, tensor in _parts(before, "decoder.").items() if not torch.equal(after[name], tensor)]
    assert changed == list(_parts(before, "decoder.")), changed  # every decoder parameter learnt
    # Same encoder, same basis: the codes do not move, their reconstructions do.
    np.testing.assert_array_equal(tuned.transform(X), today.transform(X))
    assert -tuned.score(X) <= -today.score(X)
    history = tuned.net_.history
    assert list(history[:, "finetune"]) == [False] * 5 + [True] * 3
    assert list(history[:, "rank"]) == [3] * 8
    assert tuned.n_iter_ == 8 and today.n_iter_ == 5
    # The encoder trains again in a continued fit.
    encoder = [p.detach().clone() for p in tuned.net_.module_.encoder.parameters()]
    assert all(p.requires_grad for p in tuned.net_.module_.encoder.parameters())
    continued = copy.deepcopy(tuned).set_params(warm_start=True, max_epochs=1, finetune_epochs=0).fit(X)
    assert not any(torch.equal(a, b) for a, b in zip(encoder, continued.net_.module_.encoder.parameters()))


def test_no_finetuning_is_the_first_stage_exactly(fits):
    today, tuned = fits
    first_stage = dict(tuned.net_.callbacks_)["first_stage"].state_
    state = today.net_.module_.state_dict()
    assert first_stage.keys() - {"bottleneck.basis"} == state.keys() - {"bottleneck.basis"}
    for name, tensor in first_stage.items():
        if name != "bottleneck.basis":
            assert torch.equal(state[name], tensor), name
    assert list(today.net_.history[:, "finetune"]) == [False] * 5


def test_finetune_epochs_is_ignored_by_other_methods_and_partial_fit(X):
    params = dict(RRAE, regularizer="nuclear", rank="auto")
    plain = LoRAETransformer(**params).fit(X)
    ignored = LoRAETransformer(**{**params, "finetune_epochs": 4}).fit(X)
    assert ignored.n_iter_ == plain.n_iter_ == 5
    np.testing.assert_array_equal(ignored.transform(X), plain.transform(X))
    partial = LoRAETransformer(**{**RRAE, "finetune_epochs": 4}).partial_fit(X)
    assert partial.n_iter_ == 1


def test_finetuning_after_early_stopping(X):
    generator = LoRAEGenerator(
        **{**RRAE, "max_epochs": 30, "finetune_epochs": 2}, early_stopping=True, n_iter_no_change=2
    )
    generator.fit(X)
    history = generator.net_.history
    assert list(history[:, "finetune"])[-2:] == [True, True]
    assert "valid_loss" not in history[-1] and "valid_loss" in history[-3]
    # The first stage's best epoch, not a fine-tuning one, is the one early stopping restored.
    assert generator.best_epoch_ <= generator.n_iter_ - 2
    assert np.all(np.isfinite(generator.sample(5, random_state=0)))


def test_finetune_epochs_is_validated(X):
    with pytest.raises(ValueError, match="finetune_epochs"):
        LoRAETransformer(**{**RRAE, "finetune_epochs": -1}).fit(X)


# ---------------------------------------------------------------------- aRRAE
def make_two_factor_data(n_samples=3200, n_features=64, seed=0):
    """The RRAE paper's check, a known bottleneck k* = 2: two uniform latent factors
    through a fixed smooth map (a random one-hidden-layer tanh net) into 64 features."""
    rng = np.random.RandomState(seed)
    factors = rng.uniform(-1, 1, size=(n_samples, 2))
    weights, bias = rng.normal(size=(2, 32)), 0.5 * rng.normal(size=32)
    X = np.tanh(factors @ weights + bias) @ rng.normal(size=(32, n_features)) / np.sqrt(32)
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32)


def test_adaptive_rank_finds_two_factors_deciding_within_epochs():
    X = make_two_factor_data()
    settings = dict(rank="auto", hidden_layer_sizes=(128,), max_epochs=24, batch_size=16, lr=3e-3)
    estimator = LoRAETransformer(**{**RRAE, **settings}).fit(X)
    steps_per_epoch = len(X) // 16
    assert steps_per_epoch == 2 * TruncatedSVDBottleneck.SEARCH_STEPS
    ranks = [batch["rank"] for epoch in estimator.net_.history for batch in epoch["batches"]]
    changes = [step for step in range(1, len(ranks)) if ranks[step] != ranks[step - 1]]
    # Decided every SEARCH_STEPS steps, not once per epoch.
    assert all(step % TruncatedSVDBottleneck.SEARCH_STEPS == 0 for step in changes), changes
    assert any(step % steps_per_epoch for step in changes), changes
    assert ranks[0] == 8 and min(ranks) == 1, changes  # down from full rank, one too far ...
    assert estimator.rank_ == 2 == ranks[-1]  # ... and back to the two factors
    assert list(estimator.net_.history[:, "rank"])[-1] == 2
    assert estimator.latent_rank_ <= 2


def _step_ranks(estimator):
    return [batch["rank"] for epoch in estimator.net_.history for batch in epoch["batches"]]


def test_a_loaded_adaptive_search_continues_where_the_saved_one_stood(tmp_path):
    X = make_two_factor_data()
    settings = dict(rank="auto", hidden_layer_sizes=(128,), max_epochs=4, batch_size=16, lr=3e-3)
    estimator = LoRAETransformer(**{**RRAE, **settings}, warm_start=True).fit(X)
    assert 1 < estimator.rank_ < 8  # saved in the middle of the search
    save_model(estimator, tmp_path / "arrae.pt")
    loaded = load_model(tmp_path / "arrae.pt")
    estimator.fit(X)
    loaded.fit(X)
    assert _step_ranks(loaded) == _step_ranks(estimator)
    assert loaded.rank_ == estimator.rank_
    np.testing.assert_array_equal(loaded.transform(X), estimator.transform(X))


def test_a_search_continued_from_a_file_keeps_the_budget_of_the_fit_it_began_in(tmp_path):
    X = make_two_factor_data()[:320]
    settings = dict(rank="auto", hidden_layer_sizes=(16,), max_epochs=40, batch_size=16)
    estimator = LoRAETransformer(**{**RRAE, **settings}, warm_start=True).partial_fit(X)
    save_model(estimator.set_params(max_epochs=2).fit(X), tmp_path / "arrae.pt")
    loaded = load_model(tmp_path / "arrae.pt").fit(X)  # max_epochs=2, as saved
    # Still at full rank after 5 epochs: the warm-up may last a quarter of 40 epochs (the
    # loss improves from epoch to epoch), not of the loaded fit's 2 (it would have ended).
    assert set(_step_ranks(loaded)) == {8}
    assert loaded.net_.module_.bottleneck.search_state()["_phase"] == "warmup"


def test_an_adaptive_search_in_chunks_takes_the_steps_of_one_fit(tmp_path):
    X = make_two_factor_data()[:640]
    settings = dict(rank="auto", hidden_layer_sizes=(32,), max_epochs=12, batch_size=16, lr=3e-3)
    once = LoRAETransformer(**{**RRAE, **settings}).fit(X)
    # One epoch within the whole budget (the search's), then chunks that each end with the
    # search cut short while reducing, one of them through a model file.
    chunked = LoRAETransformer(**{**RRAE, **settings}, warm_start=True).partial_fit(X)
    chunked.set_params(max_epochs=3).fit(X)
    assert chunked.net_.module_.bottleneck.search_state()["_phase"] == "reduce"
    save_model(chunked.set_params(max_epochs=4).fit(X), tmp_path / "arrae.pt")
    chunked = load_model(tmp_path / "arrae.pt").fit(X)
    assert chunked.n_iter_ == 12
    assert _step_ranks(chunked) == _step_ranks(once)
    assert chunked.rank_ == once.rank_
    np.testing.assert_array_equal(chunked.transform(X), once.transform(X))
