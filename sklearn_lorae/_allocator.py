"""Keep freed memory inside the process while a net trains on the CPU (glibc only).

glibc's malloc gives the top of its heap back to the operating system as soon as more
than ``M_TRIM_THRESHOLD`` bytes are free there, and serves requests above
``M_MMAP_THRESHOLD`` with fresh ``mmap`` calls. Both thresholds adapt, up to 32 MB and
64 MB. A training step allocates its activations and gradients, frees them all at its
end, and allocates them again at the next step: once that working set outgrows the trim
threshold, every step returns it to the system and page-faults it back in, zeroed. On the
paper's MNIST net at batch 128 that is ~25,000-50,000 page faults and a sixth to a quarter of
the step's time (``benchmarks/results/speed.md``).

:func:`retained_heap` raises the trim threshold for the duration of training, so the
heap keeps what the steps free and reuses it; afterwards it sets the threshold back to
the ceiling of glibc's own adaptive value and returns the free memory to the system.
Setting a threshold turns glibc's adaptation off for the rest of the process, so both
stay at those ceilings (32 MB and 64 MB): where a program that has freed one large block
would have them anyway.
"""

import contextlib
import ctypes
import functools
import platform

# mallopt parameter numbers, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Ceilings of glibc's adaptive thresholds on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX,
# and twice that for the trim threshold, which glibc keeps at twice the mmap threshold).
_MMAP_THRESHOLD_CEILING = 32 * 2**20
_TRIM_THRESHOLD_CEILING = 2 * _MMAP_THRESHOLD_CEILING
# While training: as high as mallopt's int argument goes, i.e. never trim.
_TRIM_THRESHOLD_TRAINING = 2**31 - 1


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


@contextlib.contextmanager
def retained_heap():
    """Within the block, memory freed by the process stays in its heap (see the module's
    docstring); on leaving it, free heap memory is returned to the system."""
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_CEILING)
    libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_TRAINING)
    try:
        yield
    finally:
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_CEILING)
        libc.malloc_trim(0)
