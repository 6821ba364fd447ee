"""Throughput and peak memory of transform / inverse_transform / sample.

For two nets, a ``LoRAEGenerator`` trained for one epoch on 2,000 MNIST images (the
weights do not change the cost): ``mlp``, the default fully connected net (latent 32),
and ``conv``, the LoRAE paper's MNIST net (image_shape=(1, 28, 28), latent 128).

- Throughput: rows per second of each method on ``--rows`` rows of 784 float32 features
  (MNIST test images, repeated), best of ``--repeats``.
- Memory: in a fresh process per net and method, ``--memory-rows`` rows (a million by
  default: 3.1 GB of input). The peak resident memory during the call (Linux's VmHWM,
  reset just before it through /proc/self/clear_refs) minus the resident memory just
  before it (model and input loaded, one small warm-up call done) minus the output's
  size: the working memory the call needs beyond its input and output.

Usage::

    python benchmarks/bench_inference.py --rows 100000 --memory-rows 1000000 \\
        --output benchmarks/results/inference.json
"""

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_mnist  # noqa: E402
from _machine import cpu_description  # noqa: E402

from sklearn_lorae import LoRAEGenerator  # noqa: E402

NETS = {
    "mlp": dict(),
    "conv": dict(image_shape=(1, 28, 28), latent_dim=128),
}
METHODS = ("transform", "inverse_transform", "sample")


def trained_generator(net):
    X = load_mnist()[0][:2000]
    return LoRAEGenerator(max_epochs=1, device="cpu", random_state=0, **NETS[net]).fit(X)


def input_rows(n_rows):
    """n_rows MNIST test images (float32 in [0, 1]), repeated, without temporary copies."""
    test = load_mnist()[2]
    X = np.empty((n_rows, test.shape[1]), dtype=np.float32)
    for start in range(0, n_rows, len(test)):
        X[start : start + len(test)] = test[: n_rows - start]
    return X


def call(generator, method, n_rows, X=None, Z=None):
    if method == "transform":
        return generator.transform(X)
    if method == "inverse_transform":
        return generator.inverse_transform(Z)
    return generator.sample(n_rows, random_state=0)


def throughput(generator, n_rows, repeats):
    X = input_rows(n_rows)
    Z = generator.transform(X)
    rates = {}
    for method in METHODS:
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            call(generator, method, n_rows, X, Z)
            best = min(best, time.perf_counter() - start)
        rates[method] = n_rows / best
    return rates


def _status_kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(model_path, method, n_rows):
    """Runs in its own process: prints the call's working memory as JSON."""
    with open(model_path, "rb") as file:
        generator = pickle.load(file)
    X = input_rows(n_rows) if method == "transform" else None
    Z = None
    if method == "inverse_transform":
        Z = np.random.default_rng(0).standard_normal((n_rows, generator.latent_dim), dtype=np.float32)
    warm_up = input_rows(16)
    call(generator, method, len(warm_up), warm_up, generator.transform(warm_up))
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    output = call(generator, method, n_rows, X, Z)
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM")
    input_bytes = (X.nbytes if X is not None else 0) + (Z.nbytes if Z is not None else 0)
    print(
        json.dumps(
            {
                "rows": n_rows,
                "seconds": seconds,
                "input_mb": input_bytes / 2**20,
                "output_mb": output.nbytes / 2**20,
                "peak_over_before_mb": (peak - before) / 1024,
                "working_memory_mb": (peak - before) / 1024 - output.nbytes / 2**20,
            }
        )
    )


def peak_memory(generator, n_rows):
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        model_path = Path(folder) / "generator.pkl"
        model_path.write_bytes(pickle.dumps(generator))
        for method in METHODS:
            completed = subprocess.run(
                [sys.executable, __file__, "--memory-child", str(model_path), method, str(n_rows),
                 "--threads", str(torch.get_num_threads())],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            results[method] = json.loads(completed.stdout.strip().splitlines()[-1])
            print(method, results[method], flush=True)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--memory-child", nargs=3, metavar=("MODEL", "METHOD", "ROWS"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        model_path, method, n_rows = args.memory_child
        memory_child(model_path, method, int(n_rows))
        return

    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{cpu_description()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "nets": {},
    }
    for net in args.nets:
        generator = trained_generator(net)
        rates = throughput(generator, args.rows, args.repeats)
        print(net, {method: f"{rate:,.0f} rows/s" for method, rate in rates.items()}, flush=True)
        memory = peak_memory(generator, args.memory_rows) if args.memory_rows else {}
        results["nets"][net] = {"settings": NETS[net], "rows": args.rows, "rows_per_second": rates, "memory": memory}
        if args.output:
            args.output.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
