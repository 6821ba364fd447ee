"""Where a training step of the paper's MNIST net spends its time, by kind of work.

For the plain loop of ``bench_fit_overhead.py`` (default memory format, Adam's defaults)
and for the same loop with the estimator's three changes (fused Adam, channels-last,
retained heap), at each batch size and thread count, each in a fresh process:

- ``step_ms``: the median time of a training step, measured without the profiler after
  warm-up steps, and the medians of its phases (forward with the loss and the penalty,
  backward, optimizer);
- ``ops_ms``: the self CPU time per step of the operators (``torch.profiler``), grouped
  into convolutions (forward and backward), ReLU, linear layers, the nuclear norm's SVD,
  the optimizer's kernels, layout copies and the rest;
- ``convolution_gflops_per_core``: the convolutions' floating-point operations per step
  (``torch.utils.flop_counter``) over their time and the threads, next to
  ``matmul_gflops_per_core``: a large float32 matrix product on one thread, as a
  reference for what a core sustains.

It is the evidence for what a training loop can still gain on this net without changing
its arithmetic: the convolutions' share, and how close they run to the core's peak.
Usage::

    python benchmarks/profile_train_step.py --batch-sizes 32 128 --threads 2 1 \\
        --output benchmarks/results/train_step_profile.json
"""

import argparse
import contextlib
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_mnist  # noqa: E402
from _machine import cpu_description  # noqa: E402
from bench_fit_overhead import IMAGE_SHAPE, PLAIN_VARIANTS, plain_setup, plain_step  # noqa: E402

from sklearn_lorae import LoRAETransformer  # noqa: E402
from sklearn_lorae._allocator import retained_heap  # noqa: E402

PROFILED_VARIANTS = ["plain", "plain_fused_adam_channels_last_retained_heap"]

# Operator name -> kind of work; the first pattern that is part of the name decides.
OPERATOR_KINDS = [
    ("conv", "convolution"),
    ("relu", "relu"),
    ("clamp_min", "relu"),
    ("threshold_backward", "relu"),
    ("addmm", "linear"),
    ("aten::mm", "linear"),
    ("svd", "nuclear_norm_svd"),
    ("copy", "layout_copies"),
    ("clone", "layout_copies"),
    ("contiguous", "layout_copies"),
]


def kind_of(event):
    """The kind of work of a profiler event: everything under ``optimizer.step()`` or
    ``zero_grad()`` is the optimizer's, the rest goes by the operator's name."""
    parent = event
    while parent is not None:
        if parent.name.startswith("Optimizer."):
            return "optimizer"
        parent = parent.cpu_parent
    name = event.name.lower()
    return next((kind for pattern, kind in OPERATOR_KINDS if pattern in name), "other")


def profile(variant, X, batch_size, threads, n_warmup, n_steps):
    """Step time, phases and operator breakdown of ``variant``; runs in a fresh process."""
    torch.set_num_threads(threads)
    fused, channels_last, keep_heap = PLAIN_VARIANTS[variant]
    estimator = LoRAETransformer(image_shape=IMAGE_SHAPE, latent_dim=128, batch_size=batch_size, random_state=0)
    module, optimizer, inputs, generator = plain_setup(estimator, X, fused=fused, channels_last=channels_last)
    order = torch.randperm(len(inputs), generator=generator)
    batches = [inputs[order[start : start + batch_size]] for start in range(0, len(inputs), batch_size)]
    batches = [batches[i % len(batches)] for i in range(n_warmup + 2 * n_steps)]
    with retained_heap() if keep_heap else contextlib.nullcontext():
        for batch in batches[:n_warmup]:
            plain_step(module, optimizer, batch)
        phases = {"forward": [], "backward": [], "optimizer": [], "step": []}
        for batch in batches[n_warmup : n_warmup + n_steps]:
            start = time.perf_counter()
            optimizer.zero_grad()
            reconstruction, h, z = module(batch)
            loss = torch.nn.functional.mse_loss(reconstruction, batch) + module.penalty(h, z)
            forward = time.perf_counter()
            loss.backward()
            backward = time.perf_counter()
            optimizer.step()
            end = time.perf_counter()
            phases["forward"].append(forward - start)
            phases["backward"].append(backward - forward)
            phases["optimizer"].append(end - backward)
            phases["step"].append(end - start)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
            for batch in batches[n_warmup + n_steps :]:
                plain_step(module, optimizer, batch)
        with FlopCounterMode(display=False) as flop_counter:
            plain_step(module, optimizer, batches[0])
    ops_ms = {}
    for event in profiler.events():
        kind = kind_of(event)
        ops_ms[kind] = ops_ms.get(kind, 0.0) + event.self_cpu_time_total / 1000 / n_steps
    convolution_flops = sum(
        count for operator, count in flop_counter.get_flop_counts()["Global"].items() if "conv" in str(operator)
    )
    return {
        "step_ms": {name: 1000 * float(np.median(seconds)) for name, seconds in phases.items()},
        "ops_ms": dict(sorted(ops_ms.items(), key=lambda item: -item[1])),
        "convolution_gflop_per_step": convolution_flops / 1e9,
        "convolution_gflops_per_core": convolution_flops / 1e9 / (ops_ms["convolution"] / 1000) / threads,
        "last_loss": loss.item(),
    }


def matmul_gflops_per_core(size=2048, repeats=10):
    """Float32 GFLOP/s of a ``size`` x ``size`` matrix product on one thread (best of repeats)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    torch.set_num_threads(threads)
    return 2 * size**3 / best / 1e9


def _seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[32, 128])
    parser.add_argument("--threads", type=int, nargs="*", default=[torch.get_num_threads()])
    parser.add_argument("--n-samples", type=int, default=4096)
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40, help="timed steps, and as many profiled ones")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    X = load_mnist()[0][: args.n_samples]
    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": cpu_description(),
        "torch": torch.__version__,
        "matmul_gflops_per_core": matmul_gflops_per_core(),
        "runs": [],
    }
    spawn = multiprocessing.get_context("spawn")
    for batch_size in args.batch_sizes:
        for threads in args.threads:
            for variant in PROFILED_VARIANTS:
                with ProcessPoolExecutor(1, mp_context=spawn) as fresh_process:
                    run = fresh_process.submit(
                        profile, variant, X, batch_size, threads, args.warmup_steps, args.steps
                    ).result()
                results["runs"].append({"variant": variant, "batch_size": batch_size, "threads": threads, **run})
                print(json.dumps(results["runs"][-1]), flush=True)
    if args.output:
        args.output.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
