"""What the benchmark results say about the machine they ran on.

The project's machines have changed between sessions (an AVX-512 x86-64, then an AVX2
AMD EPYC), and the speed figures depend on which: every results file names the CPU and
the instruction set torch's CPU kernels use on it.
"""

import platform
from pathlib import Path

import torch


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, or the architecture where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def cpu_description():
    """E.g. ``"AMD EPYC (x86_64, torch CPU capability AVX2)"``."""
    return f"{cpu_model()} ({platform.machine()}, torch CPU capability {torch.backends.cpu.get_cpu_capability()})"
