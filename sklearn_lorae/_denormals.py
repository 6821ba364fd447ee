"""Denormal floats flushed to zero while the package's nets run on the CPU.

A float32 below 1.2e-38 in magnitude is denormal, and x86 CPUs compute with denormal
operands or results through microcode assists, many times slower than ordinary
arithmetic. Training makes them: Adam's running average of squared gradients decays
towards zero where gradients are tiny (a fifth of the optimizer state of every method's
MNIST net after 50 epochs), and the RAE's L2 penalty on its decoder's weights drives
those it does not need there (1.3% of its weights after 16 epochs, all in the decoder).
On the CPU, that made the RAE's late epochs about 5 times slower, and the other
methods' about 1.2 times (``benchmarks/results/denormals.md``).

:func:`flushed_denormals` turns on the CPU's flush-to-zero and denormals-are-zero modes
(``torch.set_flush_denormal``) for the block: a denormal result or operand counts as
zero. The modes belong to each thread, so they are set in the calling thread and in
every thread of the calling thread's OpenMP team, which runs torch's intra-op work, and
each thread gets its own modes back afterwards. The team is reached through the OpenMP
runtime's ``GOMP_parallel``, which runs a function once in each of its threads (libgomp
and LLVM's libomp have it); where torch's runtime is not found, only the calling thread
is set. Results change only where a value would have been denormal, and then by less
than 1.2e-38; TensorFlow computes this way on the CPU by default.
"""

import contextlib
import ctypes
import sys
import threading
from pathlib import Path

import torch

from ._threads import threadpool_controller

#: False turns :func:`flushed_denormals` into a block that changes nothing (for the
#: benchmark that measures what flushing gains).
ENABLED = True

# A denormal double, computed at run time: with denormals-are-zero on in a thread, the
# thread reads it as zero (Python's float arithmetic is the CPU's).
_DENORMAL = sys.float_info.min / 4

_TEAM_FUNCTION = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_runtime = None  # torch's OpenMP runtime (a ctypes library), False where none is found


def flushes_denormals():
    """Whether the calling thread flushes denormal floats to zero now."""
    return _DENORMAL * 2.0 == 0.0


@contextlib.contextmanager
def flushed_denormals():
    """Run the block with denormal floats flushed to zero in the calling thread and its
    OpenMP team (torch's intra-op threads); each thread's modes come back afterwards."""
    if not ENABLED:
        yield
        return
    before = _in_team(lambda: _set_flush(True))
    try:
        yield
    finally:
        caller = before.get(threading.get_ident(), False)
        # A thread the team gained inside the block inherited the caller's modes: it goes
        # back to the caller's.
        _in_team(lambda: _set_flush(before.get(threading.get_ident(), caller)))


def _set_flush(on):
    """Set this thread's modes; return what they were."""
    was = flushes_denormals()
    torch.set_flush_denormal(on)
    return was


def _in_team(function):
    """``function()`` in the calling thread and in each thread of its OpenMP team of
    ``torch.get_num_threads()`` threads; {thread id: its result}."""
    results = {}
    n_threads = torch.get_num_threads()
    runtime = _openmp_runtime() if n_threads > 1 else None
    if runtime is None:
        results[threading.get_ident()] = function()
        return results
    lock = threading.Lock()

    def in_each_thread(_):
        result = function()
        with lock:
            results[threading.get_ident()] = result

    callback = _TEAM_FUNCTION(in_each_thread)
    runtime.GOMP_parallel(callback, None, n_threads, 0)
    return results


def _openmp_runtime():
    """The OpenMP runtime torch runs its intra-op threads on (the one in torch's folder,
    or the only one loaded), as a ctypes library with ``GOMP_parallel``; None where
    there is none."""
    global _runtime
    if _runtime is None:
        torch_folder = Path(torch.__file__).resolve().parent
        paths = [
            Path(library.filepath).resolve()
            for library in threadpool_controller().lib_controllers
            if library.internal_api == "openmp"
        ]
        ours = [path for path in paths if path.is_relative_to(torch_folder)] or (paths if len(paths) == 1 else [])
        _runtime = False
        if ours:
            library = ctypes.CDLL(str(ours[0]))
            if hasattr(library, "GOMP_parallel"):
                library.GOMP_parallel.argtypes = [_TEAM_FUNCTION, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
                library.GOMP_parallel.restype = None
                _runtime = library
    return _runtime or None
