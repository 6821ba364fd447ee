"""Scaling out on Dask: a grid search on a 2-worker LocalCluster against n_jobs=1, and an
out-of-core fit of MNIST through partial_fit against the fit in memory.

Every timed run is a fresh process. Tasks:

- ``grid``: ``GridSearchCV`` of ``LoRAETransformer(max_epochs=--grid-epochs)`` over alpha x
  latent_dim (4 x 2 = 8 candidates, 3 folds: 24 fits, then the refit) on the first
  ``--grid-rows`` rows of digits / 16, run with ``n_jobs=1``, with joblib's default
  backend and ``n_jobs=2`` (``loky_2``), and through joblib's Dask backend on a loopback
  ``LocalCluster`` of 2 worker processes of 1 thread (``dask_processes``) or of 1
  process of 2 threads (``dask_threads``). The search's time excludes the cluster's
  start-up (with ``sklearn_lorae`` imported on its workers), which is reported apart.
  With ``--warm``, every process that fits (the parent, loky's workers, Dask's workers)
  first fits a tiny net, as a long-lived worker has, and that is start-up too: a
  process's first fit pays about 1.5 s once (torch imports ``torch._dynamo`` at an
  optimizer's first step).
- ``out_of_core``: ``--ooc-epochs`` epochs of ``LoRAETransformer()`` (the default MLP) on
  the first ``--ooc-rows`` MNIST training images in [0, 1], both read from disk: ``fit`` on
  the array loaded whole (``in_memory``) against ``partial_fit`` on each block of a Dask
  array of ``--block-rows``-row blocks (``dask_blocks``: an .npy stack, one block read at
  a time; one pass over the blocks per epoch). The peak resident memory of the process
  during the fit (``VmHWM``, reset after the imports), also above its resident memory at
  the start of the fit, and the reconstruction error on the first ``--test-rows`` test
  images.

Example (the committed result; nothing else should run meanwhile)::

    python benchmarks/bench_dask.py --output benchmarks/results/dask
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_mnist
from _machine import cpu_description, package_description

try:
    import dask.array as da
    from distributed import Client, LocalCluster
except ImportError as error:
    raise ImportError(f'{error}: this benchmark needs Dask: pip install ".[dask]" in this checkout') from None

VARIANTS = {
    "grid": ("n_jobs_1", "loky_2", "dask_processes", "dask_threads"),
    "out_of_core": ("in_memory", "dask_blocks"),
}
CLUSTERS = {
    "dask_processes": dict(n_workers=2, threads_per_worker=1, processes=True),
    "dask_threads": dict(n_workers=1, threads_per_worker=2, processes=False),
}
GRID = {"alpha": [1e-4, 1e-3, 1e-2, 1e-1], "latent_dim": [8, 16]}


def _memory_mb(field):
    """This process's resident memory (``VmRSS``) or its peak since the last reset
    (``VmHWM``), from /proc (Linux)."""
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())[1]) / 1024


def _reset_peak_memory():
    """Start ``VmHWM`` afresh from the present resident memory: the imports alone peak
    higher than a small fit (ru_maxrss, which cannot be reset, would show theirs)."""
    Path("/proc/self/clear_refs").write_text("5")


def run_grid(variant, args):
    """Seconds of the search (and of the cluster's start-up) in this fresh process."""
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from sklearn_lorae import LoRAETransformer

    X = (load_digits().data[: args.grid_rows] / 16.0).astype(np.float32)
    search = GridSearchCV(LoRAETransformer(max_epochs=args.grid_epochs, random_state=0), GRID, cv=3)
    start = time.perf_counter()
    if args.warm:
        _first_fit()
    if variant in ("n_jobs_1", "loky_2"):
        n_jobs = 1 if variant == "n_jobs_1" else 2
        if args.warm and n_jobs > 1:
            # The search reuses loky's workers, started and warmed here.
            joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(_first_fit)(pause=1.0) for _ in range(n_jobs))
        startup = time.perf_counter() - start
        start = time.perf_counter()
        search.set_params(n_jobs=n_jobs).fit(X)
        seconds = time.perf_counter() - start
        return {"search_seconds": seconds, "startup_seconds": startup, "best_params": search.best_params_}
    with (
        LocalCluster(host="127.0.0.1", protocol="tcp", dashboard_address="127.0.0.1:0", **CLUSTERS[variant]) as cluster,
        Client(cluster) as client,
    ):
        client.run(_first_fit if args.warm else _import_package)  # as in the parent of the other variants
        startup = time.perf_counter() - start
        start = time.perf_counter()
        with joblib.parallel_backend("dask"):
            search.fit(X)
        seconds = time.perf_counter() - start
    return {"search_seconds": seconds, "startup_seconds": startup, "best_params": search.best_params_}


def _import_package():
    import sklearn_lorae  # noqa: F401


def _first_fit(pause=0.0):
    """A fit of 1 epoch on 16 rows: what a process pays once, at its first fit (imports,
    torch._dynamo at the optimizer's first step), so that ``--warm`` times the search
    without it. ``pause`` keeps a joblib worker busy so that the next warm-up goes to
    another one."""
    from sklearn_lorae import LoRAETransformer

    LoRAETransformer(max_epochs=1, random_state=0).fit(np.random.RandomState(0).rand(16, 64))
    time.sleep(pause)


def run_out_of_core(variant, args):
    """Seconds, peak memory and test error of the fit in this fresh process."""
    from sklearn_lorae import LoRAETransformer

    # A first fit imports modules (torch._dynamo, at the first step of the optimizer) and
    # sets up torch's pools: done on a few rows, so that the peak below is the fit's own.
    LoRAETransformer(max_epochs=1, random_state=0).fit(np.random.RandomState(0).rand(64, 784))
    estimator = LoRAETransformer(random_state=0)
    _reset_peak_memory()
    before = _memory_mb("VmRSS")
    start = time.perf_counter()
    if variant == "in_memory":
        X = np.load(args.data_dir / "train.npy")
        estimator.set_params(max_epochs=args.ooc_epochs).fit(X)
    else:
        X = da.from_npy_stack(args.data_dir / "train_blocks", mmap_mode=None)  # a block is read when computed
        for _ in range(args.ooc_epochs):
            for block in X.blocks:
                estimator.partial_fit(block.compute())
    seconds = time.perf_counter() - start
    peak = _memory_mb("VmHWM")
    return {
        "seconds": seconds,
        "peak_rss_mb": peak,
        "peak_above_start_mb": peak - before,
        "n_iter": estimator.n_iter_,
        "test_mse": -estimator.score(np.load(args.data_dir / "test.npy")),
    }


def timed(task, variant, args):
    """The child's results, from a fresh process; None on timeout."""
    child = {**vars(args), "task": task, "variant": variant}
    command = [sys.executable, __file__, "--child", json.dumps(child, default=str)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_data(args):
    """MNIST's rows as .npy files in ``args.data_dir``: whole, and as a stack of blocks."""
    X_train, _, X_test, _ = load_mnist()
    np.save(args.data_dir / "train.npy", X_train[: args.ooc_rows])
    np.save(args.data_dir / "test.npy", X_test[: args.test_rows])
    da.to_npy_stack(
        args.data_dir / "train_blocks", da.from_array(X_train[: args.ooc_rows], chunks=(args.block_rows, -1))
    )


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        args = argparse.Namespace(**json.loads(sys.argv[2]))
        args.data_dir = Path(args.data_dir)
        run = run_grid if args.task == "grid" else run_out_of_core
        print(json.dumps(run(args.variant, args)))
        return
    args = parse_args(sys.argv[1:])
    started = time.perf_counter()
    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        args.data_dir = Path(scratch)
        if "out_of_core" in args.tasks:
            write_data(args)
        for _ in range(args.repeats):  # interleaved, so that drifts hit every variant alike
            for task in args.tasks:
                for variant in (variant for variant in VARIANTS[task] if variant in args.variants):
                    result = timed(task, variant, args)
                    runs.setdefault(f"{task}/{variant}", []).append(result)
                    print(task, variant, result, flush=True)
    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": cpu_description(),
        "package": package_description(),
        "timeout_s": args.timeout,
        "budget": {key: value for key, value in vars(args).items() if key not in ("output", "data_dir")},
        "runs": runs,
        "median": {key: _medians(values) for key, values in runs.items()},
        "wall_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results, args))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    every_variant = [variant for variants in VARIANTS.values() for variant in variants]
    parser.add_argument("--variants", nargs="+", default=every_variant, choices=every_variant)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--grid-epochs", type=int, default=50, help="epochs of each fit of the grid")
    parser.add_argument("--grid-rows", type=int, default=1797, help="rows of digits the grid searches on")
    parser.add_argument(
        "--warm", action="store_true", help="grid: a first fit in every process before the search, timed as start-up"
    )
    parser.add_argument("--ooc-rows", type=int, default=60000, help="MNIST training rows of the out-of-core fit")
    parser.add_argument("--block-rows", type=int, default=5000)
    parser.add_argument("--ooc-epochs", type=int, default=2)
    parser.add_argument("--test-rows", type=int, default=10000)
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    return parser.parse_args(argv)


def _medians(results):
    """The median of each number over the runs that ended (None when none did)."""
    ended = [result for result in results if result is not None]
    if not ended:
        return None
    return {
        key: statistics.median(result[key] for result in ended)
        for key, value in ended[0].items()
        if isinstance(value, (int, float))
    }


def markdown(results, args):
    median = results["median"]
    timeouts = sorted(key for key, values in results["runs"].items() if None in values)
    lines = [
        "# Scaling out on Dask",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; {results['package']}; wall time {results['wall_seconds'] / 60:.1f} min  ",
        f"Median of {args.repeats} fresh processes per variant (imports excluded"
        + ("; start-up: the cluster's, and a first fit in every process" if args.warm else "")
        + ")"
        + (f"; runs past {args.timeout:.0f} s, left out: {', '.join(timeouts)}" if timeouts else "")
        + ".",
    ]
    single = median.get("grid/n_jobs_1") or {}
    reference = single.get("search_seconds")

    def grid_cells(run):
        startup, search = run.get("startup_seconds", 0.0), run["search_seconds"]
        # With the start-up: whole against whole (n_jobs=1's own first fit included).
        return [
            f"{startup:.1f}",
            f"{search:.1f}",
            f"{reference / search:.2f}x",
            f"{(reference + single.get('startup_seconds', 0.0)) / (startup + search):.2f}x",
        ]

    if reference:
        lines += _table(
            f"GridSearchCV, 8 candidates x 3 folds of {args.grid_epochs} epochs on {args.grid_rows} digits rows:",
            ["start-up (s)", "search (s)", "speed-up over n_jobs=1", "with the start-up"],
            median,
            "grid",
            grid_cells,
        )
    lines += _table(
        f"{args.ooc_epochs} epochs of LoRAETransformer() on {args.ooc_rows} MNIST rows "
        f"({args.ooc_rows * 784 * 4 / 2**20:.0f} MB as float32), blocks of {args.block_rows} rows:",
        ["seconds", "peak RSS (MB)", "above the start (MB)", "test MSE", "n_iter_"],
        median,
        "out_of_core",
        lambda run: [
            f"{run['seconds']:.1f}",
            f"{run['peak_rss_mb']:.0f}",
            f"{run['peak_above_start_mb']:.0f}",
            f"{run['test_mse']:.5f}",
            f"{run['n_iter']:.0f}",
        ],
    )
    return "\n".join(lines) + "\n"


def _table(title, columns, median, task, cells):
    """A markdown table, under ``title``, of the variants of ``task`` that ended: their
    name, then ``cells(medians)``."""
    ended = [(variant, median[f"{task}/{variant}"]) for variant in VARIANTS[task] if median.get(f"{task}/{variant}")]
    if not ended:
        return []
    header = ["", title, "", f"| variant | {' | '.join(columns)} |", "|---" * (len(columns) + 1) + "|"]
    return header + [f"| {variant} | {' | '.join(cells(run))} |" for variant, run in ended]


if __name__ == "__main__":
    main()
