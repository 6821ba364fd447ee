"""What the training controls buy on MNIST with the paper's net.

- ``early-stopping``: ``LoRAETransformer`` with ``max_epochs`` epochs against the same with
  ``early_stopping=True``: epochs run, wall time, and the test reconstruction error of
  each (early stopping restores its best epoch), after every epoch too (timed apart), so
  that the epochs the fixed budget needed to reach early stopping's test error can be read;
- ``partial-fit``: ``partial_fit`` over a memory-mapped MNIST (``np.load(...,
  mmap_mode="r")`` of a float32 copy written once to ``--scratch``), in chunks of
  ``--chunk`` rows, ``--passes`` passes, against ``fit`` on the array in memory for as
  many epochs: test error, the peak resident memory of the process and the peak of its
  anonymous part (each variant in a fresh process, which loads only what it needs; the
  resident memory counts the mapped file's pages that were read, which are the kernel's
  cache of the file, and the anonymous part does not);
- ``chunking``: why a streamed fit can end with a higher test error than ``fit`` for as
  many passes: for each of ``--seeds``, on the first ``--n-train`` rows in memory, ``fit``
  against ``partial_fit`` over chunks of ``--chunk`` rows (each chunk ending in a short
  batch unless its size is a multiple of the batch size) and over chunks rounded down to
  a multiple of the batch size (same order within a chunk, no short batches).

Example (the committed result)::

    python benchmarks/bench_training_controls.py --output benchmarks/results/training_controls
"""

import argparse
import json
import multiprocessing
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import SHARED_DATA, load_mnist
from _machine import cpu_description, package_description

NET = dict(image_shape=(1, 28, 28), latent_dim=128, output_activation="tanh", batch_size=128, random_state=0)
PARTS = ("early_stopping", "partial_fit", "chunking")  # the results' keys, kept by --keep
CHUNKING_VARIANTS = ("fit", "chunks", "whole_batches")


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


class _PeakAnonymousMemory:
    """Samples the process's anonymous resident memory (``RssAnon``) every 20 ms while
    it runs. The peak RSS counts the pages of a memory-mapped file that were read, which
    the kernel drops when it needs them (they are the file's cache, not the process's
    memory): the anonymous part is what a streamed fit must keep small."""

    def __enter__(self):
        self.peak_mb, self._done = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.wait(0.02):
            self.peak_mb = max(self.peak_mb, _status_mb("RssAnon"))

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _status_mb("RssAnon"))


def _status_mb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def _test_rows(n_test):
    # Only the test images: load_mnist would hold the training set in memory too.
    with np.load(SHARED_DATA / "mnist.npz") as data:
        return data["x_test"][:n_test].reshape(-1, 784).astype(np.float32) / 127.5 - 1.0


def _test_error_callback(X_test):
    """A skorch callback that records the test reconstruction error after every epoch
    (``test_mse`` in the history), and the seconds it took (``test_seconds``), which the
    timings leave out."""
    import torch
    from skorch.callbacks import Callback

    class TestError(Callback):
        def on_epoch_end(self, net, **kwargs):
            start = time.perf_counter()
            module = net.module_
            training = module.training
            module.eval()
            rows = torch.from_numpy(X_test).view(-1, *NET["image_shape"])
            with torch.inference_mode():
                errors = [((module(batch)[0] - batch) ** 2).mean() * len(batch) for batch in torch.split(rows, 1000)]
            module.train(training)
            net.history.record("test_mse", float(sum(errors) / len(rows)))
            net.history.record("test_seconds", time.perf_counter() - start)

    return TestError()


def early_stopping_run(early, args):
    import torch

    from sklearn_lorae import LoRAETransformer

    torch.set_num_threads(args.threads)
    X = load_mnist()[0][: args.n_train] * 2.0 - 1.0
    X_test = _test_rows(args.n_test)
    estimator = LoRAETransformer(
        **NET,
        max_epochs=args.epochs,
        early_stopping=early,
        n_iter_no_change=args.patience,
        tol=args.tol,
        callbacks=[_test_error_callback(X_test)],
    )
    start = time.perf_counter()
    estimator.fit(X)
    history = estimator.net_.history
    return {
        "epochs": estimator.n_iter_,
        "best_epoch": getattr(estimator, "best_epoch_", None),
        "seconds": time.perf_counter() - start - sum(history[:, "test_seconds"]),
        "test_mse": -estimator.score(X_test),
        "test_mse_per_epoch": history[:, "test_mse"],
        "seconds_per_epoch": history[:, "dur"],
    }


def epochs_to_reach(test_mse_per_epoch, target):
    """The first epoch (from 1) whose test error is at most ``target``, or None."""
    return next((epoch for epoch, mse in enumerate(test_mse_per_epoch, 1) if mse <= target), None)


def partial_fit_run(streamed, args):
    import torch

    from sklearn_lorae import LoRAETransformer

    torch.set_num_threads(args.threads)
    estimator = LoRAETransformer(**NET)
    start = time.perf_counter()
    with _PeakAnonymousMemory() as anonymous:
        if streamed:
            X = np.load(args.scratch, mmap_mode="r")  # float32 in [-1, 1], on disk
            _stream(estimator, X, args.chunk, args.passes)
        else:
            X = load_mnist()[0] * 2.0 - 1.0
            estimator.set_params(max_epochs=args.passes).fit(X)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "test_mse": -estimator.score(_test_rows(args.n_test)),
        "peak_rss_mb": _peak_rss_mb(),
        "peak_anonymous_mb": anonymous.peak_mb,
    }


def chunking_run(variant, seed, args):
    """Test error after ``--passes`` passes over the first ``--n-train`` rows: ``fit``
    ("fit"), or ``partial_fit`` over chunks of ``--chunk`` rows ("chunks") or of ``--chunk``
    rounded down to a multiple of the batch size ("whole_batches")."""
    import torch

    from sklearn_lorae import LoRAETransformer

    torch.set_num_threads(args.threads)
    X = load_mnist()[0][: args.n_train] * 2.0 - 1.0
    estimator = LoRAETransformer(**{**NET, "random_state": seed})
    if variant == "fit":
        estimator.set_params(max_epochs=args.passes).fit(X)
    else:
        chunk = args.chunk if variant == "chunks" else args.chunk // NET["batch_size"] * NET["batch_size"]
        _stream(estimator, X, chunk, args.passes)
    return -estimator.score(_test_rows(args.n_test))


def _stream(estimator, X, chunk, passes):
    """``passes`` passes of ``partial_fit`` over ``X`` in chunks of ``chunk`` rows, in order
    (each chunk read into memory: ``X`` may be memory-mapped)."""
    for _ in range(passes):
        for first in range(0, len(X), chunk):
            estimator.partial_fit(np.asarray(X[first : first + chunk]))


def in_fresh_process(function, *arguments):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, arguments)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["early-stopping", "partial-fit", "chunking"],
        default=["early-stopping", "partial-fit"],
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="random_state of the chunking part")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/mnist_train_float32.npy"))
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    parser.add_argument("--keep", action="store_true", help="keep the parts already in <output>.json")
    args = parser.parse_args()
    if "chunking" in args.parts and args.chunk < NET["batch_size"]:
        parser.error(f"the chunking part needs --chunk of at least the batch size ({NET['batch_size']})")
    started = time.perf_counter()
    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{cpu_description()}, {args.threads} threads",
        "package": package_description(),
    }
    if args.keep and args.output.with_suffix(".json").exists():
        earlier = json.loads(args.output.with_suffix(".json").read_text())
        results = {**{k: v for k, v in earlier.items() if k in PARTS}, **results}
        results["earlier"] = _runs_behind(earlier)
    if "early-stopping" in args.parts:
        runs = {
            name: in_fresh_process(early_stopping_run, early, args)
            for name, early in (("fixed", False), ("early", True))
        }
        # Equal test error: how many epochs the fixed-budget run needed to reach the test
        # error that early stopping ended with (its restored best epoch).
        runs["fixed_epochs_to_reach_early_test_mse"] = epochs_to_reach(
            runs["fixed"]["test_mse_per_epoch"], runs["early"]["test_mse"]
        )
        results["early_stopping"] = runs
    if "partial-fit" in args.parts:
        np.save(args.scratch, load_mnist()[0] * 2.0 - 1.0)
        results["partial_fit"] = {
            "data_mb": args.scratch.stat().st_size / 2**20,
            **{
                name: in_fresh_process(partial_fit_run, streamed, args)
                for name, streamed in (("fit", False), ("streamed", True))
            },
        }
    if "chunking" in args.parts:
        results["chunking"] = {
            "n_train": args.n_train,
            "chunk": args.chunk,
            "passes": args.passes,
            "test_mse": {
                str(seed): {
                    variant: in_fresh_process(chunking_run, variant, seed, args) for variant in CHUNKING_VARIANTS
                }
                for seed in args.seeds
            },
        }
    results["wall_seconds"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown_report(results))
    print(json.dumps(results, indent=1))


def markdown_report(results):
    """The results as Markdown tables, with the commands and package commits that ran them."""
    lines = [
        "# Training controls on MNIST (the paper's net, LoRAETransformer, batch 128)",
        "",
        "The runs that wrote these results, oldest first (a later run of a part replaces the figures of that part):",
        "",
    ]
    for run in _runs_behind(results):
        lines.append(f"Command: `{run['command']}`  ")
        lines.append(f"Package: {run.get('package') or 'not recorded'}  ")
        lines.append(f"Machine: {run.get('machine') or 'not recorded'}  ")
    lines.append("")
    early_stopping = results.get("early_stopping")
    if early_stopping:
        fixed, early = early_stopping["fixed"], early_stopping["early"]
        reached = early_stopping.get("fixed_epochs_to_reach_early_test_mse")
        lines += [
            "## Early stopping against a fixed number of epochs",
            "",
            "| run | epochs run | best epoch | seconds (test error timed apart) | test MSE |",
            "|---|---|---|---|---|",
        ]
        for name, run in (("fixed", fixed), ("early_stopping=True", early)):
            best = run["best_epoch"] if run["best_epoch"] is not None else "-"
            lines.append(f"| {name} | {run['epochs']} | {best} | {run['seconds']:.1f} | {run['test_mse']:.5f} |")
        if "seconds_per_epoch" in fixed:
            lines += ["", _equal_error_sentence(fixed, early, reached)]
        lines.append("")
    partial_fit = results.get("partial_fit")
    if partial_fit:
        lines += [
            f"## partial_fit over a memory-mapped MNIST ({partial_fit['data_mb']:.0f} MB of float32) "
            "against fit in memory",
            "",
            "| run | seconds | test MSE | peak RSS (MB) | peak anonymous memory (MB) |",
            "|---|---|---|---|---|",
        ]
        for name in ("fit", "streamed"):
            run = partial_fit[name]
            lines.append(
                f"| {name} | {run['seconds']:.1f} | {run['test_mse']:.5f} | {run['peak_rss_mb']:.0f} "
                f"| {run['peak_anonymous_mb']:.0f} |"
            )
        lines.append("")
    chunking = results.get("chunking")
    if chunking:
        lines += [
            f"## Test MSE of fit against partial_fit over chunks ({chunking['n_train']} rows, "
            f"{chunking['passes']} passes, chunks of {chunking['chunk']} rows)",
            "",
            "| seed | " + " | ".join(CHUNKING_VARIANTS) + " |",
            "|---" * (len(CHUNKING_VARIANTS) + 1) + "|",
        ]
        for seed, row in chunking["test_mse"].items():
            lines.append(f"| {seed} | " + " | ".join(f"{row[variant]:.5f}" for variant in CHUNKING_VARIANTS) + " |")
        lines.append("")
    return "\n".join(lines)


def _runs_behind(results):
    """The commands (and package commits) that made the parts of ``results``, oldest first;
    files written before the package commit was recorded name one earlier command."""
    if "earlier" in results:
        earlier = results["earlier"]
    else:
        earlier = [{"command": results["earlier_command"]}] if "earlier_command" in results else []
    return [*earlier, {key: results.get(key) for key in ("command", "package", "machine")}]


def _equal_error_sentence(fixed, early, reached):
    if reached is None:
        return (
            f"The fixed budget never reached early stopping's test MSE ({early['test_mse']:.5f}) "
            f"in its {fixed['epochs']} epochs."
        )
    seconds = sum(fixed["seconds_per_epoch"][:reached])
    return (
        f"At equal test error: the fixed budget first reached early stopping's test MSE "
        f"({early['test_mse']:.5f}) after epoch {reached} ({seconds:.1f} s of training); early "
        f"stopping ran {early['epochs']} epochs ({early['seconds']:.1f} s) and restored epoch "
        f"{early['best_epoch']}."
    )


if __name__ == "__main__":
    main()
