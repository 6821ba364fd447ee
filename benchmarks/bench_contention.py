"""Fits next to another CPU-bound process: the package's thread rule against torch's default.

Every timed run is a fresh process (torch's thread pool and malloc's settings are
process-wide). Tasks:

- ``digits_fit``: ``LoRAETransformer(random_state=0).fit`` on digits / 16 (the default
  MLP, 50 epochs);
- ``conv_epoch``: one epoch of the paper's MNIST conv net (latent 128) at batch 128 on the
  first ``--conv-rows`` MNIST training images in [-1, 1];
- ``grid_n_jobs_1`` / ``grid_n_jobs_2``: ``GridSearchCV`` over alpha x latent_dim (4 x 2,
  3 folds: 24 fits, ``--grid-epochs`` epochs) on digits with ``n_jobs`` 1 and 2 (joblib's
  default process-based backend, whose start-up is part of the time);
  ``grid_threads_2``: the same with ``n_jobs=2`` in joblib's threading backend (the fits
  are thread-safe), which starts no process.

Each runs with the package's rule (one intra-op thread for a training step under
``sklearn_lorae._threads.SMALL_STEP_FLOPS``) and, as ``default``, with the rule off
(torch's own thread count, as before the rule), each idle and next to one competitor:
``torch`` (another process multiplying matrices on 2 torch threads) or ``busy`` (a
pure-Python busy loop on one core). A run that does not end within ``--timeout``
seconds is recorded as that many seconds and marked.

Example (the committed result; nothing else should run meanwhile)::

    python benchmarks/bench_contention.py --output benchmarks/results/contention
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_description  # noqa: E402

COMPETITORS = {
    "none": None,
    "torch": "import torch\ntorch.set_num_threads(2)\na = torch.randn(512, 512)\nwhile True:\n    a @ a",
    "busy": "while True:\n    pass",
}
TASKS = ("digits_fit", "conv_epoch", "grid_n_jobs_1", "grid_n_jobs_2", "grid_threads_2")


def run_task(task, rule, conv_rows, grid_epochs):
    """Runs ``task`` in this (fresh) process; returns the seconds it took."""
    import joblib
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from sklearn_lorae import LoRAETransformer, _threads

    if rule == "default":
        _threads.SMALL_STEP_FLOPS = 0  # every net keeps torch's thread count
    X = load_digits().data / 16.0
    if task == "conv_epoch":
        from _data import load_mnist

        X = load_mnist()[0][:conv_rows] * 2.0 - 1.0
        estimator = LoRAETransformer(image_shape=(1, 28, 28), latent_dim=128, max_epochs=1, random_state=0)
    elif task == "digits_fit":
        estimator = LoRAETransformer(random_state=0)
    else:
        estimator = GridSearchCV(
            LoRAETransformer(max_epochs=grid_epochs, random_state=0),
            {"alpha": [1e-4, 1e-3, 1e-2, 1e-1], "latent_dim": [8, 16]},
            cv=3,
            n_jobs=int(task[-1]),
        )
    backend = "threading" if task.startswith("grid_threads") else "loky"
    start = time.perf_counter()
    with joblib.parallel_backend(backend):
        estimator.fit(np.asarray(X, dtype=np.float32))
    return time.perf_counter() - start


def timed(task, rule, competitor, args):
    """Seconds of ``task`` in a fresh process, next to ``competitor``; None on timeout."""
    rival = None
    if COMPETITORS[competitor]:
        rival = subprocess.Popen([sys.executable, "-c", COMPETITORS[competitor]])
        time.sleep(2.0)  # let it get going
    try:
        command = [sys.executable, __file__, "--child", task, rule, str(args.conv_rows), str(args.grid_epochs)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=True)
        return float(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return None
    finally:
        if rival is not None:
            rival.kill()
            rival.wait()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(run_task(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--conv-rows", type=int, default=4096)
    parser.add_argument("--grid-epochs", type=int, default=50, help="epochs of each fit of the grid")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--rules", nargs="+", default=["rule", "default"], choices=["rule", "default"])
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    started = time.perf_counter()
    runs = {}
    plan = [
        (task, rule, competitor)
        for task in args.tasks
        for rule in args.rules
        for competitor in (COMPETITORS if task in ("digits_fit", "conv_epoch") else ["none"])
    ]
    for _ in range(args.repeats):  # interleaved, so that drifts hit every variant alike
        for task, rule, competitor in plan:
            seconds = timed(task, rule, competitor, args)
            runs.setdefault(f"{task}/{rule}/{competitor}", []).append(seconds)
            print(task, rule, competitor, seconds, flush=True)
    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": cpu_description(),
        "package": _package(),
        "timeout_s": args.timeout,
        "seconds": runs,
        "median_seconds": {key: _median(values, args.timeout) for key, values in runs.items()},
        "wall_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results, args))


def _median(values, timeout):
    return statistics.median(timeout if value is None else value for value in values)


def _package():
    where = Path(__file__).resolve().parents[1]
    done = subprocess.run(["git", "-C", str(where), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return f"sklearn_lorae checkout at {done.stdout.strip() or 'unknown commit'}"


def markdown(results, args):
    median = results["median_seconds"]
    timeouts = {key for key, values in results["seconds"].items() if None in values}

    def cell(key):
        return f"{median[key]:.1f}" + (" (timeout)" if key in timeouts else "")

    lines = [
        "# Fits next to another CPU-bound process",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; {results['package']}; wall time {results['wall_seconds'] / 60:.1f} min  ",
        f"Median of {args.repeats} fresh processes, seconds of the fit (imports excluded); "
        f"runs stopped at {args.timeout:.0f} s count as that.",
        "",
        "| task | threads | idle | next to torch (2 threads) | next to a busy loop | slowdown (torch / busy) |",
        "|---|---|---|---|---|---|",
    ]
    for task in ("digits_fit", "conv_epoch"):
        for rule in ("rule", "default"):
            keys = [f"{task}/{rule}/{c}" for c in COMPETITORS]
            if not all(key in median for key in keys):
                continue
            idle = median[keys[0]]
            lines.append(
                f"| {task} | {'package rule' if rule == 'rule' else 'torch default'} | {cell(keys[0])} | "
                f"{cell(keys[1])} | {cell(keys[2])} | {median[keys[1]] / idle:.2f}x / {median[keys[2]] / idle:.2f}x |"
            )
    lines += [
        "",
        "| GridSearchCV (24 fits) | n_jobs=1 | n_jobs=2 (processes) | speed-up | n_jobs=2 (threads) | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for rule in ("rule", "default"):
        one = median.get(f"grid_n_jobs_1/{rule}/none")
        if one is None:
            continue
        cells = []
        for task in ("grid_n_jobs_2", "grid_threads_2"):
            two = median.get(f"{task}/{rule}/none")
            cells += ["", ""] if two is None else [f"{two:.1f}", f"{one / two:.2f}x"]
        name = "package rule" if rule == "rule" else "torch default"
        lines.append(f"| {name} | {one:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
