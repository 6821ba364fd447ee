"""What the training controls buy on MNIST with the paper's net.

- ``early-stopping``: ``LoRAETransformer`` with ``max_epochs`` epochs against the same with
  ``early_stopping=True``: epochs run, wall time, and the test reconstruction error of
  each (early stopping restores its best epoch);
- ``partial-fit``: ``partial_fit`` over a memory-mapped MNIST (``np.load(...,
  mmap_mode="r")`` of a float32 copy written once to ``--scratch``), in chunks of
  ``--chunk`` rows, ``--passes`` passes, against ``fit`` on the array in memory for as
  many epochs: test error and the peak resident memory of the process (each variant in
  a fresh process, which loads only what it needs).

Example (the committed result)::

    python benchmarks/bench_training_controls.py --output benchmarks/results/training_controls
"""

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import SHARED_DATA, load_mnist
from _machine import cpu_description

NET = dict(image_shape=(1, 28, 28), latent_dim=128, output_activation="tanh", batch_size=128, random_state=0)


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def _test_rows(n_test):
    # Only the test images: load_mnist would hold the training set in memory too.
    with np.load(SHARED_DATA / "mnist.npz") as data:
        return data["x_test"][:n_test].reshape(-1, 784).astype(np.float32) / 127.5 - 1.0


def early_stopping_run(early, args):
    import torch

    from sklearn_lorae import LoRAETransformer

    torch.set_num_threads(args.threads)
    X = load_mnist()[0][: args.n_train] * 2.0 - 1.0
    estimator = LoRAETransformer(
        **NET, max_epochs=args.epochs, early_stopping=early, n_iter_no_change=args.patience, tol=args.tol
    )
    start = time.perf_counter()
    estimator.fit(X)
    seconds = time.perf_counter() - start
    return {
        "epochs": estimator.n_iter_,
        "best_epoch": getattr(estimator, "best_epoch_", None),
        "seconds": seconds,
        "test_mse": -estimator.score(_test_rows(args.n_test)),
    }


def partial_fit_run(streamed, args):
    import torch

    from sklearn_lorae import LoRAETransformer

    torch.set_num_threads(args.threads)
    estimator = LoRAETransformer(**NET)
    start = time.perf_counter()
    if streamed:
        X = np.load(args.scratch, mmap_mode="r")  # float32 in [-1, 1], on disk
        for _ in range(args.passes):
            for first in range(0, len(X), args.chunk):
                estimator.partial_fit(np.asarray(X[first : first + args.chunk]))
    else:
        X = load_mnist()[0] * 2.0 - 1.0
        estimator.set_params(max_epochs=args.passes).fit(X)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "test_mse": -estimator.score(_test_rows(args.n_test)), "peak_rss_mb": _peak_rss_mb()}


def in_fresh_process(function, *arguments):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, arguments)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["early-stopping", "partial-fit"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/mnist_train_float32.npy"))
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    started = time.perf_counter()
    results = {"command": "python " + " ".join(sys.argv), "machine": f"{cpu_description()}, {args.threads} threads"}
    if "early-stopping" in args.parts:
        results["early_stopping"] = {
            name: in_fresh_process(early_stopping_run, early, args)
            for name, early in (("fixed", False), ("early", True))
        }
    if "partial-fit" in args.parts:
        np.save(args.scratch, load_mnist()[0] * 2.0 - 1.0)
        results["partial_fit"] = {
            "data_mb": args.scratch.stat().st_size / 2**20,
            **{
                name: in_fresh_process(partial_fit_run, streamed, args)
                for name, streamed in (("fit", False), ("streamed", True))
            },
        }
    results["wall_seconds"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
