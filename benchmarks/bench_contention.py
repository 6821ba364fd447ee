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
  are thread-safe), which starts no process. With ``--timeline``, each training of the
  grid (the 24 fits and the refit) records its process and its start and end, and the
  report says where the process-based search spends its time.

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
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import run_description  # noqa: E402

COMPETITORS = {
    "none": None,
    "torch": "import torch\ntorch.set_num_threads(2)\na = torch.randn(512, 512)\nwhile True:\n    a @ a",
    "busy": "while True:\n    pass",
}
TASKS = ("digits_fit", "conv_epoch", "grid_n_jobs_1", "grid_n_jobs_2", "grid_threads_2")


class TrainingTimes(Callback):
    """Appends ``process-id start end`` (seconds since the epoch) of each training to the
    file that the environment variable ``TIMELINE_FILE`` names; loky's workers inherit it."""

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.time()

    def on_train_end(self, net, **kwargs):
        with open(os.environ["TIMELINE_FILE"], "a") as file:
            file.write(f"{os.getpid()} {self.start_} {time.time()}\n")


def run_task(task, rule, conv_rows, grid_epochs, timeline=False):
    """Runs ``task`` in this (fresh) process; returns the seconds it took and, with
    ``timeline``, the trainings of a grid as (process, start, end), seconds from its start."""
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
        callbacks = [TrainingTimes()] if timeline else None
        estimator = GridSearchCV(
            LoRAETransformer(max_epochs=grid_epochs, random_state=0, callbacks=callbacks),
            {"alpha": [1e-4, 1e-3, 1e-2, 1e-1], "latent_dim": [8, 16]},
            cv=3,
            n_jobs=int(task[-1]),
        )
    backend = "threading" if task.startswith("grid_threads") else "loky"
    with tempfile.TemporaryDirectory() as folder:
        timeline_file = Path(folder) / "timeline"
        if timeline:
            os.environ["TIMELINE_FILE"] = str(timeline_file)
            timeline_file.touch()
        start, started_at = time.perf_counter(), time.time()
        with joblib.parallel_backend(backend):
            estimator.fit(np.asarray(X, dtype=np.float32))
        seconds = time.perf_counter() - start
        trainings = [line.split() for line in timeline_file.read_text().splitlines()] if timeline else []
    pids = {pid: index for index, pid in enumerate(dict.fromkeys(pid for pid, _, _ in trainings))}
    main = str(os.getpid())
    return seconds, [
        ("main" if pid == main else f"worker {pids[pid]}", float(begin) - started_at, float(end) - started_at)
        for pid, begin, end in trainings
    ]


def timed(task, rule, competitor, args):
    """Seconds of ``task`` in a fresh process, next to ``competitor`` (None on timeout),
    and its timeline (see :func:`run_task`)."""
    rival = None
    if COMPETITORS[competitor]:
        rival = subprocess.Popen([sys.executable, "-c", COMPETITORS[competitor]])
        time.sleep(2.0)  # let it get going
    try:
        command = [sys.executable, __file__, "--child", task, rule, str(args.conv_rows), str(args.grid_epochs)]
        command += ["--timeline"] if args.timeline and task.startswith("grid") else []
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return None, []
    finally:
        if rival is not None:
            rival.kill()
            rival.wait()


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(run_task(*sys.argv[2:4], int(sys.argv[4]), int(sys.argv[5]), "--timeline" in sys.argv)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--conv-rows", type=int, default=4096)
    parser.add_argument("--grid-epochs", type=int, default=50, help="epochs of each fit of the grid")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--rules", nargs="+", default=["rule", "default"], choices=["rule", "default"])
    parser.add_argument("--timeline", action="store_true", help="record when each training of a grid runs")
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    started = time.perf_counter()
    runs, timelines = {}, {}
    plan = [
        (task, rule, competitor)
        for task in args.tasks
        for rule in args.rules
        for competitor in (COMPETITORS if task in ("digits_fit", "conv_epoch") else ["none"])
    ]
    for _ in range(args.repeats):  # interleaved, so that drifts hit every variant alike
        for task, rule, competitor in plan:
            seconds, timeline = timed(task, rule, competitor, args)
            runs.setdefault(f"{task}/{rule}/{competitor}", []).append(seconds)
            if timeline:
                timelines.setdefault(f"{task}/{rule}/{competitor}", []).append(timeline)
            print(task, rule, competitor, seconds, flush=True)
    results = {
        **run_description(),
        "timeout_s": args.timeout,
        "seconds": runs,
        "median_seconds": {key: _median(values, args.timeout) for key, values in runs.items()},
        "timelines": timelines,
        "wall_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results, args))


def _median(values, timeout):
    return statistics.median(timeout if value is None else value for value in values)


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
    if results["timelines"]:
        lines += [
            "",
            "Where the grids spend their time (`--timeline`): seconds, medians over the repeats. A",
            "training is a fit's epochs; what a fit does around them (checks, building the net, whose",
            "optimizer imports `torch._dynamo` in a process's first fit, the post-fit work, the",
            "score) falls in the gaps.",
            "",
            "| grid | first training starts | a training | gap between trainings | last fold's training ends "
            "| gap to the refit's training | refit's training | search ends |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key, timelines in results["timelines"].items():
            parts = [timeline_summary(timeline) for timeline in timelines]
            cells = [statistics.median(part[i] for part in parts) for i in range(len(parts[0]))]
            lines.append(f"| {key} | " + " | ".join(f"{cell:.2f}" for cell in cells) + f" | {median[key]:.2f} |")
    return "\n".join(lines) + "\n"


def timeline_summary(timeline):
    """From :func:`run_task`'s timeline (its last training is the refit's): when the last
    process to start a training starts its first, the median training, the median gap
    between two trainings of one process, when the folds' last training ends, the gap
    from then to the refit's training, and the refit's training."""
    *folds, (_, refit_start, refit_end) = timeline
    by_process = {}
    for process, start, end in folds:
        by_process.setdefault(process, []).append((start, end))
    gaps = [b[0] - a[1] for spans in by_process.values() for a, b in zip(spans, spans[1:])]
    last_end = max(end for _, _, end in folds)
    return (
        max(spans[0][0] for spans in by_process.values()),
        statistics.median(end - start for _, start, end in folds),
        statistics.median(gaps),
        last_end,
        refit_start - last_end,
        refit_end - refit_start,
    )


if __name__ == "__main__":
    main()
