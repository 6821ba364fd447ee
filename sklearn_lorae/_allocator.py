"""Keep freed memory inside the process while a net runs on the CPU (glibc only).

glibc's malloc gives the top of its heap back to the operating system as soon as more
than ``M_TRIM_THRESHOLD`` bytes are free there, and serves requests above
``M_MMAP_THRESHOLD`` with fresh ``mmap`` calls, unmapped again when freed. Both thresholds
adapt, up to 32 MB and 64 MB; blocks above 32 MB are always mapped afresh. A training
step allocates its activations and gradients, frees them all at its end, and allocates
them again at the next step: once that working set outgrows the trim threshold, every
step returns it to the system and page-faults it back in, zeroed. On the paper's MNIST
net at batch 128 that is ~25,000-50,000 page faults and a sixth to a quarter of the
step's time (``benchmarks/results/speed.md``). The FID's Inception network, whose first
feature maps take 100-350 MB at batch 64, page-faulted 1.3 million times per batch
(``benchmarks/results/frechet.md``).

:func:`retained_heap` raises the trim threshold and turns ``mmap`` off for the duration
(``M_MMAP_MAX`` 0: blocks of any size come from the heap), so the heap keeps what is
freed and reuses it; afterwards it turns ``mmap`` back on, sets the trim threshold back
to the ceiling of glibc's own adaptive value and returns the free memory to the system.
Setting a threshold turns glibc's adaptation off for the rest of the process, so both
stay at those ceilings (32 MB and 64 MB): where a program that has freed one large block
would have them anyway. A process started with the thresholds set through glibc's
environment (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_MMAP_MAX_``
or ``GLIBC_TUNABLES``) gets those values back instead: Dask's nanny starts its workers
with ``MALLOC_TRIM_THRESHOLD_=65536``, so that they return freed memory to the system
at once.

The settings are process-wide, and fits may run at once in threads of one process (Dask
workers, joblib's threading backend): :func:`retained_heap` counts the blocks that are
inside it and restores the settings when the last one leaves, in whatever order they
finish.
"""

import contextlib
import ctypes
import functools
import os
import platform
import threading

# mallopt parameter numbers, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4
_MMAP_MAX_DEFAULT = 65536  # glibc's DEFAULT_MMAP_MAX
# Ceilings of glibc's adaptive thresholds on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX,
# and twice that for the trim threshold, which glibc keeps at twice the mmap threshold).
_MMAP_THRESHOLD_CEILING = 32 * 2**20
_TRIM_THRESHOLD_CEILING = 2 * _MMAP_THRESHOLD_CEILING
# glibc's static thresholds (DEFAULT_MMAP_THRESHOLD_MIN, DEFAULT_TRIM_THRESHOLD), which
# stay when either is set at start-up: setting one turns the adaptation of both off.
_FIXED_THRESHOLD_DEFAULT = 128 * 2**10
# Within retained_heap: as high as mallopt's int argument goes, i.e. never trim.
_TRIM_THRESHOLD_RETAINED = 2**31 - 1
# glibc's start-up settings of the parameters above: the environment variable and the tunable.
_STARTUP_SETTINGS = {
    _M_TRIM_THRESHOLD: ("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold"),
    _M_MMAP_THRESHOLD: ("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
    _M_MMAP_MAX: ("MALLOC_MMAP_MAX_", "glibc.malloc.mmap_max"),
}


@functools.cache
def _glibc():
    """The C library when it is glibc (the only one whose mallopt this module knows), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not all(hasattr(libc, name) for name in ("mallopt", "malloc_trim")):
        return None
    return libc


_lock = threading.Lock()
_holders = 0  # blocks (in any thread) inside retained_heap


@contextlib.contextmanager
def retained_heap():
    """Within the block, memory freed by the process stays in its heap (see the module's
    docstring); when the last block of the process leaves, free heap memory is returned
    to the system. Re-entrant and thread-safe."""
    global _holders
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        if _holders == 0:
            libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_CEILING)
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_RETAINED)
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                for parameter, value in _settings_after().items():
                    libc.mallopt(parameter, value)
                libc.malloc_trim(0)


def _settings_after():
    """The mallopt settings that the last block leaves: those set in glibc's environment
    (read by glibc at start-up), else the ceilings of its adaptive thresholds."""
    tunables = dict(
        item.split("=", 1) for item in os.environ.get("GLIBC_TUNABLES", "").split(":") if item.count("=") == 1
    )
    configured = {}
    for parameter, (variable, tunable) in _STARTUP_SETTINGS.items():
        value = tunables.get(tunable, os.environ.get(variable))
        if value is not None and value.strip().isdigit():
            configured[parameter] = int(value)
    if _M_TRIM_THRESHOLD in configured or _M_MMAP_THRESHOLD in configured:
        # Setting either threshold fixes both: the other keeps glibc's static default.
        thresholds = {_M_TRIM_THRESHOLD: _FIXED_THRESHOLD_DEFAULT, _M_MMAP_THRESHOLD: _FIXED_THRESHOLD_DEFAULT}
    else:
        thresholds = {_M_TRIM_THRESHOLD: _TRIM_THRESHOLD_CEILING, _M_MMAP_THRESHOLD: _MMAP_THRESHOLD_CEILING}
    return {**thresholds, _M_MMAP_MAX: _MMAP_MAX_DEFAULT, **configured}
