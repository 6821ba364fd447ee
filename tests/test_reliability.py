"""Fits that do not go non-finite, run safely in threads, stop cleanly, and check their
inputs (issue: reliability and security)."""

import threading

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import check_estimator
from skorch.callbacks import Callback
from torch import nn
from torch.nn.utils import parameters_to_vector

from sklearn_lorae import LoRAEGenerator, LoRAETransformer, _allocator, _threads
from sklearn_lorae._bottlenecks import BOTTLENECKS
from sklearn_lorae._truncated_svd import best_rank_approximation

FAST = dict(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)


# ------------------------------------------------------------- truncated SVD
def _torch_truncation(A, rank):
    _, _, vh = torch.linalg.svd(A, full_matrices=False)
    top = vh[:rank]
    return (A @ top.T) @ top


def _well_separated(m, n, seed):
    generator = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(m, m, generator=generator, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
    r = min(m, n)
    singular = torch.linspace(5.0, 1.0, r, dtype=torch.float64)
    return ((U[:, :r] * singular) @ V[:, :r].T).requires_grad_(True)


@pytest.mark.parametrize("m, n, rank", [(8, 5, 2), (5, 8, 2), (6, 6, 3), (3, 7, 1)])
def test_truncation_gradient_is_torchs_on_well_separated_spectra(m, n, rank):
    A = _well_separated(m, n, seed=m * n)
    assert torch.autograd.gradcheck(lambda a: best_rank_approximation(a, rank), (A,))
    G = torch.randn(m, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (ours,) = torch.autograd.grad((best_rank_approximation(A, rank) * G).sum(), A)
    (theirs,) = torch.autograd.grad((_torch_truncation(A, rank) * G).sum(), A)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "A",
    [
        torch.ones(5, 6),  # one non-zero singular value, the rest repeated zeros
        torch.zeros(4, 6),
        torch.randn(3, 8, generator=torch.Generator().manual_seed(0)).repeat(2, 1),  # duplicated rows
        torch.randn(4, 16, generator=torch.Generator().manual_seed(1)),  # fewer rows than columns
    ],
    ids=["constant", "zero", "duplicated rows", "wide"],
)
def test_truncation_gradient_is_finite_on_degenerate_spectra(A):
    A = A.clone().requires_grad_(True)
    G = torch.randn(A.shape, generator=torch.Generator().manual_seed(2))
    (gradient,) = torch.autograd.grad((best_rank_approximation(A, 2) * G).sum(), A)
    assert torch.isfinite(gradient).all()


def test_torchs_own_truncation_gradient_is_not_finite_there():
    # What the custom backward is for: the same case through torch's SVD backward.
    A = torch.ones(5, 6, requires_grad=True)
    G = torch.randn(A.shape, generator=torch.Generator().manual_seed(2))
    (gradient,) = torch.autograd.grad((_torch_truncation(A, 2) * G).sum(), A)
    assert not torch.isfinite(gradient).all()


# A slice of benchmarks/bench_nonfinite_sweep.py: its hardest cases.
_DEGENERATE = {
    "fewer rows than latent_dim": np.random.RandomState(0).standard_normal((16, 10)),
    "duplicated rows": np.repeat(np.random.RandomState(1).standard_normal((10, 5)), 3, axis=0),
}


@pytest.mark.parametrize("data", list(_DEGENERATE))
@pytest.mark.parametrize("regularizer", list(BOTTLENECKS))
def test_fits_on_degenerate_data_stay_finite(regularizer, data):
    X = _DEGENERATE[data]
    for seed in (0, 1):
        estimator = LoRAETransformer(regularizer=regularizer, max_epochs=30, random_state=seed).fit(X)
        assert np.isfinite(estimator.inverse_transform(estimator.transform(X))).all()


@pytest.mark.slow
@pytest.mark.parametrize("max_epochs", [1, 3, None], ids=["1 epoch", "3 epochs", "default"])
@pytest.mark.parametrize("regularizer", list(BOTTLENECKS))
@pytest.mark.parametrize("Estimator", [LoRAETransformer, LoRAEGenerator])
def test_every_regularizer_passes_check_estimator(Estimator, regularizer, max_epochs):
    budget = {} if max_epochs is None else {"max_epochs": max_epochs}
    results = check_estimator(Estimator(regularizer=regularizer, **budget), on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed


# ------------------------------------------------------------------ threads
def _fit_outputs(X, seed, regularizer):
    estimator = LoRAEGenerator(regularizer=regularizer, n_components=2, **{**FAST, "random_state": seed})
    estimator.fit(X)
    weights = parameters_to_vector(estimator.net_.module_.parameters()).detach().numpy()
    return weights, estimator.transform(X), estimator.sample(5, random_state=0)


@pytest.mark.parametrize("regularizer", ["nuclear", "variational", "wae"])
def test_fits_in_threads_give_the_results_of_each_fit_alone(digits, regularizer):
    X = digits[0][:300]
    seeds = [0, 1, 2, 3]
    alone = [_fit_outputs(X, seed, regularizer) for seed in seeds]
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    together = [None] * len(seeds)
    start = threading.Barrier(len(seeds))

    def fit(index):
        start.wait()
        together[index] = _fit_outputs(X, seeds[index], regularizer)

    threads = [threading.Thread(target=fit, args=(i,)) for i in range(len(seeds))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (weights, codes, samples), (weights_t, codes_t, samples_t) in zip(alone, together):
        np.testing.assert_array_equal(weights, weights_t)
        np.testing.assert_array_equal(codes, codes_t)
        # Bit-identical: the latent density's linear algebra runs on one BLAS thread in
        # every thread (see test_limited_threads_limits_blas_in_any_thread).
        np.testing.assert_array_equal(samples, samples_t)
    # The caller's global random states are untouched.
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])


class _FakeLibc:
    """Records mallopt calls instead of changing the process's malloc."""

    def __init__(self):
        self.settings = {}

    def mallopt(self, parameter, value):
        self.settings[parameter] = value

    def malloc_trim(self, pad):
        pass


def _set_malloc_environment(monkeypatch, environment):
    """glibc's malloc settings in the environment: those of ``environment``, no others."""
    for variable in ("GLIBC_TUNABLES", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_"):
        if variable in environment:
            monkeypatch.setenv(variable, environment[variable])
        else:
            monkeypatch.delenv(variable, raising=False)


@pytest.mark.parametrize("order", ["first in, first out", "last in, first out"])
def test_retained_heap_is_restored_by_the_last_block_to_leave(monkeypatch, order):
    libc = _FakeLibc()
    monkeypatch.setattr(_allocator, "_glibc", lambda: libc)
    _set_malloc_environment(monkeypatch, {})
    retained = _allocator._TRIM_THRESHOLD_RETAINED
    first, second = _allocator.retained_heap(), _allocator.retained_heap()
    first.__enter__()
    second.__enter__()
    assert libc.settings[_allocator._M_TRIM_THRESHOLD] == retained
    (first if order == "first in, first out" else second).__exit__(None, None, None)
    # Another block is still inside: nothing is restored under it.
    assert libc.settings[_allocator._M_TRIM_THRESHOLD] == retained
    assert libc.settings[_allocator._M_MMAP_MAX] == 0
    (second if order == "first in, first out" else first).__exit__(None, None, None)
    assert libc.settings[_allocator._M_TRIM_THRESHOLD] == _allocator._TRIM_THRESHOLD_CEILING
    assert libc.settings[_allocator._M_MMAP_MAX] == _allocator._MMAP_MAX_DEFAULT


@pytest.mark.parametrize(
    "environment, trim, mmap_threshold, mmap_max",
    [
        # How Dask's nanny starts its workers (distributed.nanny.pre-spawn-environ).
        ({"MALLOC_TRIM_THRESHOLD_": "65536"}, 65536, 128 * 2**10, 65536),
        ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1048576:glibc.malloc.mmap_max=8"}, 128 * 2**10, 2**20, 8),
    ],
    ids=["MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"],
)
def test_retained_heap_restores_the_malloc_settings_the_process_started_with(
    monkeypatch, environment, trim, mmap_threshold, mmap_max
):
    libc = _FakeLibc()
    monkeypatch.setattr(_allocator, "_glibc", lambda: libc)
    _set_malloc_environment(monkeypatch, environment)
    with _allocator.retained_heap():
        assert libc.settings[_allocator._M_MMAP_MAX] == 0
    assert libc.settings == {
        _allocator._M_TRIM_THRESHOLD: trim,
        _allocator._M_MMAP_THRESHOLD: mmap_threshold,
        _allocator._M_MMAP_MAX: mmap_max,
    }


def test_limited_threads_restores_torchs_setting_whatever_the_order():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first, second = _threads.limited_threads(1), _threads.limited_threads(1)
        first.__enter__()
        second.__enter__()
        assert torch.get_num_threads() == 1
        first.__exit__(None, None, None)
        assert torch.get_num_threads() == 1  # the second block is still inside
        second.__exit__(None, None, None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_limited_threads_limits_blas_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return {info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"}

    if not blas_threads():
        pytest.skip("no BLAS library is loaded")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        with _threads.limited_threads(1):
            assert blas_threads() == {1}
        assert blas_threads() == {2}
        with _threads.blas_limits(1):  # the package's limiter, made from one look at the libraries
            assert blas_threads() == {1}
        assert blas_threads() == {2}


def test_limited_threads_limits_blas_in_any_thread():
    """threadpoolctl lets only one thread set OpenBLAS's process-wide pool; a limit asked
    for in a fit's thread (Dask, joblib's threading backend) after the main thread had
    set one was ignored, and the fit's density differed from the same fit alone."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return {info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"}

    if not blas_threads():
        pytest.skip("no BLAS library is loaded")
    seen = {}

    def fit_like(name):
        with _threads.limited_threads(1):
            seen[name] = blas_threads()

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        fit_like("main thread")
        thread = threading.Thread(target=fit_like, args=("new thread",))
        thread.start()
        thread.join()
        assert blas_threads() == {2}
    assert seen == {"main thread": {1}, "new thread": {1}}


def test_small_nets_train_on_one_thread_and_large_ones_keep_torchs_setting(digits):
    small = LoRAETransformer(**FAST).fit(digits[0][:100])
    assert small._n_threads == 1
    X = np.random.RandomState(0).uniform(-1, 1, (64, 784)).astype(np.float32)
    large = LoRAETransformer(image_shape=(1, 28, 28), latent_dim=128, max_epochs=1, batch_size=32).fit(X)
    assert large._n_threads is None


def test_the_thread_limit_holds_during_fit(digits):
    seen = []

    class RecordThreads(Callback):
        def on_batch_end(self, net, **kwargs):
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        LoRAETransformer(**FAST, callbacks=[RecordThreads()]).fit(digits[0][:100])
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# --------------------------------------------------------------- interrupts
class _InterruptAt(Callback):
    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, net, **kwargs):
        if len(net.history) == self.epoch and len(net.history[-1]["batches"]) == self.batch:
            raise KeyboardInterrupt


def _fitted_state(estimator):
    return {key: value for key, value in vars(estimator).items() if key.endswith("_")}


def test_interrupt_during_an_epoch_propagates_and_leaves_a_new_estimator_unfitted(digits):
    estimator = LoRAETransformer(**{**FAST, "batch_size": 16}, callbacks=[_InterruptAt(epoch=2, batch=3)])
    with pytest.raises(KeyboardInterrupt, match="epoch 2"):
        estimator.fit(digits[0][:200])
    assert _fitted_state(estimator) == {}
    assert not hasattr(estimator, "net_")


def test_interrupt_of_a_continued_fit_leaves_the_fitted_net_as_it_was(digits):
    X = digits[0][:200]
    estimator = LoRAETransformer(**FAST, warm_start=True).fit(X)
    codes, state = estimator.transform(X), _fitted_state(estimator)
    estimator.set_params(callbacks=[_InterruptAt(epoch=4, batch=1)])
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X)
    assert _fitted_state(estimator).keys() == state.keys()
    assert estimator.net_ is state["net_"] and estimator.n_iter_ == 3
    np.testing.assert_array_equal(estimator.transform(X), codes)


def test_interrupt_during_the_work_after_training_leaves_the_estimator_as_it_was(digits, monkeypatch):
    X = digits[0][:200]
    estimator = LoRAEGenerator(**FAST, n_components=2).fit(X)
    state = _fitted_state(estimator)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(LoRAEGenerator, "_fit_latent_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(X[:100])
    assert _fitted_state(estimator) == state
    assert estimator.n_features_in_ == X.shape[1]


# ----------------------------------------------------------- input checks
def test_custom_encoder_of_the_wrong_width_is_named_before_training():
    X = np.random.RandomState(0).rand(20, 10)
    with pytest.raises(ValueError, match=r"shape \(2, 7\).*latent_dim=32"):
        LoRAETransformer(encoder=nn.Linear(10, 7), max_epochs=1).fit(X)


def test_custom_decoder_of_the_wrong_shape_is_named_before_training():
    X = np.random.RandomState(0).rand(20, 10)
    with pytest.raises(ValueError, match=r"decoder returns shape \(2, 9\).*\(2, 10\)"):
        LoRAETransformer(decoder=nn.Linear(32, 9), max_epochs=1).fit(X)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_one_row_is_refused(method):
    with pytest.raises(ValueError, match="1 sample"):
        getattr(LoRAETransformer(**FAST), method)(np.ones((1, 5)))


def test_reversed_views_are_accepted(digits):
    # torch refuses negative strides; the estimators copy such views.
    X = digits[0][:100][::-1]
    estimator = LoRAETransformer(**FAST).fit(X)
    np.testing.assert_allclose(estimator.transform(X), estimator.transform(np.ascontiguousarray(X)))
