"""How often does the paper's net stop depending on its input in its first epoch?

One-epoch fits of the LoRAE paper's convolutional net (latent 128, Adam at 1e-3) for
every cell and seed. A fit counts as collapsed when the package's ConvergenceWarning
fired or when its reconstructions of the first ``--check-rows`` training rows vary less
than ``--min-std-ratio`` times as much as the rows do (mean over pixels of the std
across rows). With ``--fix off`` the nets start from torch's initialisation
(``output_init="torch"``), as before the fix; with ``--fix on`` from the data's mean
(``output_init="data_mean"``, the default).

The cells: the paper's tanh output on [-1, 1] images for each data set x batch size x
method; and, on MNIST at batch 128, the identity and sigmoid outputs on [0, 1] images.

The full sweep (the issue's: 12 cells x 20 seeds, 240 fits per setting, hours on one core;
a stopped sweep resumes where it stopped when run again with the same ``--output``)::

    python benchmarks/bench_collapse.py --fix off --output benchmarks/results/collapse_full_off
    python benchmarks/bench_collapse.py --fix on --output benchmarks/results/collapse_full_on

or, on two cores, one process per method (each pinned to a core, one thread)::

    python benchmarks/bench_collapse.py --fix on --methods ae --output benchmarks/results/collapse_full_on_ae
    python benchmarks/bench_collapse.py --fix on --methods lorae --output benchmarks/results/collapse_full_on_lorae

The committed reduced sweep (MNIST, batch 128, tanh, 6,000 rows)::

    python benchmarks/bench_collapse.py --fix on --datasets mnist --batch-sizes 128 --outputs tanh \\
        --rows 6000 --output benchmarks/results/collapse_mnist_b128_6000_on
"""

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_fashion_mnist, load_mnist  # noqa: E402
from _machine import resumable_results, write_results  # noqa: E402

from sklearn_lorae import LoRAETransformer  # noqa: E402

LOADERS = {"mnist": load_mnist, "fashion": load_fashion_mnist}
METHODS = {"ae": dict(regularizer="none"), "lorae": dict(regularizer="nuclear", alpha=1e-3)}
# The outputs most users pass [0, 1] images to: measured on MNIST at batch 128 only.
UNIT_RANGE_OUTPUTS = ("identity", "sigmoid")
FIX = {"on": "data_mean", "off": "torch"}
# The collapse criterion's defaults (diagnose_collapse.py applies the same).
CHECK_ROWS, MIN_STD_RATIO = 1_000, 1e-3


def cells(args):
    """``(dataset, output_activation, batch_size, method)`` of every cell of the sweep."""
    grid = []
    if "tanh" in args.outputs:
        grid += [(d, "tanh", b, m) for d, b, m in itertools.product(args.datasets, args.batch_sizes, args.methods)]
    if "mnist" in args.datasets and 128 in args.batch_sizes:
        grid += [("mnist", o, 128, m) for o in UNIT_RANGE_OUTPUTS if o in args.outputs for m in args.methods]
    return grid


def cell_name(dataset, output, batch_size, method):
    return f"{dataset}/{output}/batch{batch_size}/{method}"


def one_fit(
    X, output, batch_size, method, seed, *, output_init, check_rows=CHECK_ROWS, min_std_ratio=MIN_STD_RATIO,
    callbacks=None,
):  # fmt: skip
    """One 1-epoch fit: whether it collapsed, and what says so (``callbacks`` watch it)."""
    started = time.perf_counter()
    estimator = LoRAETransformer(
        latent_dim=128,
        image_shape=(1, 28, 28),
        output_activation=output,
        output_init=output_init,
        max_epochs=1,
        batch_size=batch_size,
        lr=1e-3,
        device="cpu",
        random_state=seed,
        callbacks=callbacks,
        **METHODS[method],
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    rows = X[:check_rows]
    reconstructions = estimator.inverse_transform(estimator.transform(rows))
    std_ratio = float(reconstructions.std(axis=0).mean() / rows.std(axis=0).mean())
    return {
        "seed": seed,
        "collapsed": bool(warned or std_ratio < min_std_ratio),
        "warned": warned,
        "std_ratio": std_ratio,
        "mse": float(np.mean((reconstructions - rows) ** 2)),
        "seconds": time.perf_counter() - started,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fix", choices=sorted(FIX), required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    parser.add_argument("--datasets", nargs="+", choices=sorted(LOADERS), default=["mnist", "fashion"])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=["ae", "lorae"])
    outputs = ["tanh", *UNIT_RANGE_OUTPUTS]
    parser.add_argument("--outputs", nargs="+", choices=outputs, default=outputs)
    parser.add_argument("--rows", type=int, default=10_000, help="training rows (the first of the training set)")
    parser.add_argument("--check-rows", type=int, default=CHECK_ROWS)
    parser.add_argument("--min-std-ratio", type=float, default=MIN_STD_RATIO)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True, help="path without suffix; a stopped sweep resumes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    budget = {
        "fix": args.fix,
        "output_init": FIX[args.fix],
        "rows": args.rows,
        "check_rows": args.check_rows,
        "criterion": f"warning fired, or reconstructions' std across rows < {args.min_std_ratio} x the data's",
    }
    results = resumable_results(args.output, budget, "runs")
    images = {name: LOADERS[name]()[0][: args.rows] for name in args.datasets}  # [0, 1]
    for dataset, output, batch_size, method in cells(args):
        X = images[dataset] * 2 - 1 if output == "tanh" else images[dataset]
        fits = results["runs"].setdefault(cell_name(dataset, output, batch_size, method), [])
        for seed in sorted(set(args.seeds) - {fit["seed"] for fit in fits}):
            fits.append(
                one_fit(
                    X, output, batch_size, method, seed,
                    output_init=FIX[args.fix], check_rows=args.check_rows, min_std_ratio=args.min_std_ratio,
                )
            )  # fmt: skip
            print(cell_name(dataset, output, batch_size, method), fits[-1], flush=True)
            # Written after every fit: a stopped sweep keeps the fits it ran and resumes there.
            write(args, results)


def write(args, results):
    fits = results["runs"].values()
    results["complete"] = all(
        {fit["seed"] for fit in results["runs"].get(cell_name(*cell), [])} >= set(args.seeds) for cell in cells(args)
    )
    results["collapsed"] = {name: sum(fit["collapsed"] for fit in cell) for name, cell in results["runs"].items()}
    results["fit_seconds"] = sum(fit["seconds"] for cell in fits for fit in cell)
    write_results(results, args.output, markdown)


def markdown(results):
    budget = results["budget"]
    seeds = sorted({fit["seed"] for cell in results["runs"].values() for fit in cell})
    lines = [
        f"# Collapsed 1-epoch fits, output_init={budget['output_init']!r} (--fix {budget['fix']})",
        "",
        *(f"Command: `{command}`  " for command in results["commands"]),
        f"Package: {'; '.join(results.get('packages', [results['package']]))}  ",
        f"Machine: {'; '.join(results['machines'])}; {results['fit_seconds'] / 60:.1f} min of fits  ",
        f"{budget['rows']} training rows, seeds {', '.join(map(str, seeds))}; collapsed: {budget['criterion']}."
        + ("" if results["complete"] else " **Not finished: the cells hold the fits that ran.**"),
        "",
        "| cell | collapsed | seeds collapsed | median std ratio | median MSE |",
        "|---|---|---|---|---|",
    ]
    for name, fits in results["runs"].items():
        collapsed = [fit["seed"] for fit in fits if fit["collapsed"]]
        ratio = np.median([fit["std_ratio"] for fit in fits])
        mse = np.median([fit["mse"] for fit in fits])
        lines.append(
            f"| {name} | {len(collapsed)} / {len(fits)} | {', '.join(map(str, collapsed)) or '-'} "
            f"| {ratio:.3g} | {mse:.4f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
