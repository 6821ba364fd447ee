"""What a fresh process pays before its fits run at full speed.

A process-based ``GridSearchCV(n_jobs=2)`` (joblib's loky workers) starts new Python
processes, and each pays its start-up before its fits go at the speed of a warm one:
importing torch, scikit-learn and the package, and, at the first step of a torch
optimizer, ``torch._dynamo`` (``torch.optim`` imports it inside ``Optimizer.step`` and
``zero_grad``). This script times those stages in fresh processes, each stage on its
own:

- ``import torch``, then ``import sklearn.model_selection`` (what a worker needs to run
  scikit-learn's ``_fit_and_score``), then ``import sklearn_lorae`` (the rest: the
  package and skorch);
- three default ``LoRAETransformer(random_state=0).fit`` on 1,198 digits rows (the size
  of a training fold of ``bench_contention.py``'s grid) in float32;

and the same with ``import torch._dynamo`` timed on its own before the fits, which
shows how much of the first fit's extra time is that import.

Example (the committed result; nothing else should run meanwhile; ``taskset -c 1``
for one core, as a loky worker next to another has)::

    python benchmarks/bench_startup.py --repeats 5 --output benchmarks/results/startup
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

STAGES = ("import torch", "import sklearn.model_selection", "import sklearn_lorae", "import torch._dynamo")
FITS = ("fit 1", "fit 2", "fit 3")
VARIANTS = {"plain": "the fits right after the imports", "dynamo_first": "torch._dynamo imported before the fits"}


def run_child(variant, max_epochs):
    """Times the stages in this (fresh) process; returns {stage: seconds}."""
    seconds = {}

    def stage(name, action):
        start = time.perf_counter()
        result = action()
        seconds[name] = time.perf_counter() - start
        return result

    stage("import torch", lambda: __import__("torch"))
    stage("import sklearn.model_selection", lambda: __import__("sklearn.model_selection"))
    stage("import sklearn_lorae", lambda: __import__("sklearn_lorae"))
    if variant == "dynamo_first":
        stage("import torch._dynamo", lambda: __import__("torch._dynamo"))
    import numpy as np
    from sklearn.datasets import load_digits

    from sklearn_lorae import LoRAETransformer

    X = np.asarray(load_digits().data[:1198] / 16.0, dtype=np.float32)
    budget = {} if max_epochs is None else {"max_epochs": max_epochs}
    for name in FITS:
        stage(name, lambda: LoRAETransformer(random_state=0, **budget).fit(X))
    return seconds


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(run_child(sys.argv[2], json.loads(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=None, help="of each fit (default: the estimator's)")
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    started = time.perf_counter()
    runs = {variant: [] for variant in VARIANTS}
    for _ in range(args.repeats):  # interleaved, so that drifts hit both variants alike
        for variant in VARIANTS:
            command = [sys.executable, __file__, "--child", variant, json.dumps(args.max_epochs)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(variant, runs[variant][-1], flush=True)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import run_description

    results = {
        **run_description(),
        "runs": runs,
        "median_seconds": {
            variant: {name: statistics.median(run[name] for run in variant_runs) for name in variant_runs[0]}
            for variant, variant_runs in runs.items()
        },
        "wall_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results, args.repeats))


def markdown(results, repeats):
    median = results["median_seconds"]

    def cell(variant, name):
        return f"{median[variant][name]:.2f}" if name in median[variant] else "-"

    lines = [
        "# What a fresh process pays before its fits run at full speed",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Package: {results['package']}; wall time {results['wall_seconds'] / 60:.1f} min  ",
        f"Median of {repeats} fresh processes per variant, seconds.",
        "",
        "| stage | " + " | ".join(VARIANTS.values()) + " |",
        "|---|" + "---|" * len(VARIANTS),
    ]
    lines += [f"| {name} | " + " | ".join(cell(v, name) for v in VARIANTS) + " |" for name in STAGES + FITS]
    plain = median["plain"]
    imports = sum(plain[name] for name in STAGES if name in plain)
    first_fit_extra = plain["fit 1"] - statistics.median([plain["fit 2"], plain["fit 3"]])
    lines += [
        "",
        f"Start-up of a fresh process: {imports:.2f} s of imports, and its first fit "
        f"{first_fit_extra:.2f} s slower than the next ones (torch._dynamo on its own: "
        f"{median['dynamo_first']['import torch._dynamo']:.2f} s): "
        f"{imports + first_fit_extra:.2f} s in all.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
