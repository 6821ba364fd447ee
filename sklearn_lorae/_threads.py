"""How many CPU threads a net's work gets, chosen from the size of that work.

torch splits each operation across its intra-op threads, whose workers spin while they
wait for the next one. For a small net (an MLP on tabular data: a training step of a few
million floating-point operations), the split saves microseconds and the spinning costs
the whole fit when another process wants the same cores: on 2 cores next to one other
CPU-bound process, a default fit on digits ran 10-100 times slower than alone with 2
threads, and about 2 times slower with 1 (``benchmarks/results/contention.md``). So work
whose training step is below :data:`SMALL_STEP_FLOPS` runs on one intra-op thread, and
the package's own linear algebra next to it (the latent spectrum, the density's fit) on
one BLAS thread; larger nets keep torch's setting.

torch's thread count is process-wide and fits may run at once in threads of one process
(Dask workers, joblib's threading backend). :func:`limited_threads` counts the blocks
inside it: while any is, the count is the smallest one asked for, and the caller's
setting comes back when the last one leaves, whatever the order they finish in.
"""

import contextlib
import threading

import threadpoolctl
import torch
from threadpoolctl import ThreadpoolController
from torch.utils.flop_counter import FlopCounterMode

#: Floating-point operations of one training step (forward and backward of one batch)
#: below which the net runs on one intra-op thread. The default MLP on digits takes
#: 0.08 GFLOP per step at batch 128; the paper's MNIST conv net 4.7 GFLOP at batch 32.
SMALL_STEP_FLOPS = 1e9

# A training step is about three forward passes (backward: twice the forward).
_STEP_OVER_FORWARD = 3

_lock = threading.Lock()
_requests = []  # thread counts asked for by the blocks now inside limited_threads
_caller_threads = None  # torch's setting before the first of them entered
_blas_limits = None  # threadpoolctl's limiter while any block is inside
_controller = None  # threadpoolctl's view of the loaded BLAS and OpenMP libraries, made once


def threadpool_controller():
    """threadpoolctl's view of the loaded BLAS and OpenMP libraries, made once.

    ``threadpoolctl.threadpool_limits`` finds the loaded libraries anew at every call by
    reading the process's memory map and each library's file: about 30 ms on this
    project's machines, six times per fit of a small net, which was a fifth of a 1-epoch
    fit on the digits. The libraries are loaded at import, so one look suffices.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def blas_limits(n_threads):
    """threadpoolctl's limiter of BLAS threads (a context manager that restores on exit)."""
    _take_openblas_control()
    return threadpool_controller().limit(limits=n_threads, user_api="blas")


def _take_openblas_control():
    """Let the calling thread set OpenBLAS's thread count.

    An OpenBLAS built on pthreads has one pool for the process, and threadpoolctl (from
    3.6) lets only the first thread that set its size set it again: in any other thread a
    limit is silently ignored until that thread clears its control, which a limiter used
    outside a ``with`` block never does. A fit in a Dask or joblib thread then ran its
    latent density's linear algebra on every BLAS thread instead of one, and its samples
    differed from the same fit run alone by float rounding. The limits of this module are
    applied under ``_lock``, so whichever thread applies them may take control.
    """
    controller = getattr(threadpoolctl, "OpenBLASController", None)
    if hasattr(controller, "clear_controlling_thread"):
        controller.clear_controlling_thread(force=True)


def training_step_flops(module, batch):
    """Floating-point operations of one training step of ``module`` on ``batch``,
    estimated from one forward pass without gradients (torch's flop counter, which counts
    matrix products and convolutions)."""
    training = module.training
    module.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(batch)
    finally:
        module.train(training)
    return _STEP_OVER_FORWARD * counter.get_total_flops()


def threads_for(step_flops):
    """1 for a step below :data:`SMALL_STEP_FLOPS`, else None (torch's own setting)."""
    return 1 if step_flops < SMALL_STEP_FLOPS else None


@contextlib.contextmanager
def limited_threads(n_threads):
    """Run the block with at most ``n_threads`` intra-op torch threads and BLAS threads
    (no limit when None); re-entrant and safe with blocks in other threads."""
    if n_threads is None:
        yield
        return
    with _lock:
        _requests.append(n_threads)
        _apply_limits()
    try:
        yield
    finally:
        with _lock:
            _requests.remove(n_threads)
            _apply_limits()


def _apply_limits():
    """Set torch's and BLAS's thread counts for the blocks now inside (under ``_lock``)."""
    global _caller_threads, _blas_limits
    if not _requests:
        # BLAS first: restoring a BLAS that shares torch's OpenMP runtime resets it too.
        _take_openblas_control()
        _blas_limits.restore_original_limits()
        torch.set_num_threads(_caller_threads)
        _caller_threads = _blas_limits = None
        return
    if _caller_threads is None:
        _caller_threads = torch.get_num_threads()
    limit = min(min(_requests), _caller_threads)
    if _blas_limits is None:
        _blas_limits = blas_limits(limit)
    else:
        blas_limits(limit)
    torch.set_num_threads(limit)
