"""How often does a fit go non-finite? Every regularizer x seed x data set x budget.

Each fit counts as non-finite when it raises (``NonFiniteLossError`` or anything else)
or when its codes or reconstructions of the training data are not all finite. The data
sets are finite and scaled, so the count must be 0 everywhere:

- ``digits``: scikit-learn's digits / 16 (1,797 x 64);
- ``check_sized``: 30 x 5 standard normal rows, the size of scikit-learn's estimator checks;
- ``constant_column``: the same with a column of ones;
- ``fewer_rows_than_latent_dim``: 16 x 10 standard normal rows (latent_dim is 32);
- ``duplicated_rows``: 10 standard normal rows of 5 features, each three times.

Example (the committed result)::

    python benchmarks/bench_nonfinite_sweep.py --output benchmarks/results/nonfinite_sweep
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_description  # noqa: E402

from sklearn_lorae import LoRAETransformer  # noqa: E402
from sklearn_lorae._bottlenecks import BOTTLENECKS  # noqa: E402


def datasets():
    rng = np.random.RandomState(0)
    check_sized = rng.standard_normal((30, 5))
    return {
        "digits": load_digits().data / 16.0,
        "check_sized": check_sized,
        "constant_column": np.hstack([check_sized, np.ones((30, 1))]),
        "fewer_rows_than_latent_dim": rng.standard_normal((16, 10)),
        "duplicated_rows": np.repeat(rng.standard_normal((10, 5)), 3, axis=0),
    }


def is_finite_fit(estimator, X):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator.fit(X)
        codes = estimator.transform(X)
        return bool(np.isfinite(codes).all() and np.isfinite(estimator.inverse_transform(codes)).all())
    except Exception:  # noqa: BLE001 - any failure counts
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 3, 30])
    parser.add_argument("--regularizers", nargs="+", default=list(BOTTLENECKS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    data = datasets()
    counts = {}
    for regularizer in args.regularizers:
        for name, X in data.items():
            for epochs in args.epochs:
                failures = [
                    seed
                    for seed in range(args.seeds)
                    if not is_finite_fit(
                        LoRAETransformer(regularizer=regularizer, max_epochs=epochs, random_state=seed), X
                    )
                ]
                counts[f"{regularizer}/{name}/{epochs}"] = failures
                print(regularizer, name, epochs, "non-finite seeds:", failures, flush=True)
    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{cpu_description()}, torch {torch.__version__}, {args.threads} threads",
        "seeds": args.seeds,
        "non_finite_seeds": counts,
        "wall_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results, args, data))


def markdown(results, args, data):
    lines = [
        "# Non-finite fits: count of seeds (of %d) whose fit was not finite" % results["seeds"],
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; wall time {results['wall_seconds'] / 60:.1f} min",
        "",
        "| regularizer | " + " | ".join(f"{name}, {e} ep." for name in data for e in args.epochs) + " |",
        "|---" * (1 + len(data) * len(args.epochs)) + "|",
    ]
    for regularizer in args.regularizers:
        cells = [
            str(len(results["non_finite_seeds"][f"{regularizer}/{name}/{e}"])) for name in data for e in args.epochs
        ]
        lines.append(f"| {regularizer} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
