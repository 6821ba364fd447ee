"""Test reconstruction error and latent spectra of the 50-epoch MNIST reproduction's checkpoints.

For each checkpoint in ``benchmarks/checkpoints/mnist_cpu_50epochs/`` (``save_model`` files or pickled
``LoRAEGenerator``s, the LoRAE paper's conv net trained for 50 epochs at batch 32 by
``reproduce_mnist.py``): the squared reconstruction error of the 10,000 MNIST test images,
averaged over pixels and images, on the [-1, 1] pixel scale the nets were trained on
(``-generator.score(X_test)``; a quarter of it on [0, 1] pixels). The training error of the
last epoch is read from the checkpoint's history beside it. The VAE's codes are its means.
The singular values of the test codes' covariance are kept too (the spectrum whose rank
the reproduction page reports); ``--figure`` draws them, normalised by the largest, on a
log scale: the docs' landing page shows LoRAE's against the other methods'.

Example (the committed result, one thread on one core)::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/bench_test_mse.py \\
        --output benchmarks/results/mnist_cpu_50epochs_test_mse --figure doc/images/latent_spectra_mnist.png
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import reproduce_mnist
from _data import load_mnist
from _machine import run_description

from sklearn_lorae.metrics import DEFAULT_RANK_TOL, latent_rank, latent_singular_values

CHECKPOINTS = HERE / "checkpoints" / "mnist_cpu_50epochs"
# LoRAE first (the landing figure compares the others with it), then the script's methods in its order.
ORDER = ("lorae", *(method for method in reproduce_mnist.METHODS if method != "lorae"))


def measure(path, X_test):
    generator = reproduce_mnist.load_checkpoint(path)
    started = time.perf_counter()
    test_mse = -generator.score(X_test)
    spectrum = latent_singular_values(generator.transform(X_test).astype(np.float64))
    return {
        "regularizer": generator.regularizer,
        "alpha": generator.alpha,
        "epochs": generator.n_iter_,
        "test_mse": float(test_mse),
        "last_epoch_train_mse": float(generator.net_.history[-1, "reconstruction"]),
        "test_code_rank": int(latent_rank(spectrum)),
        "test_singular_values": spectrum.tolist(),
        "seconds": time.perf_counter() - started,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    found = sorted(
        {path.stem for path in [*CHECKPOINTS.glob("*.pkl"), *CHECKPOINTS.glob("*.pt")]},
        key=lambda method: (ORDER.index(method) if method in ORDER else len(ORDER), method),
    )
    parser.add_argument("--methods", nargs="+", default=found, choices=found)
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    parser.add_argument("--figure", type=Path, default=None, help="PNG of the test codes' spectra")
    parser.add_argument(
        "--from-json", action="store_true", help="rewrite <output>.md and --figure from <output>.json, measure nothing"
    )
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.output.with_suffix(".json").read_text())
        args.output.with_suffix(".md").write_text(markdown(results))
        if args.figure:
            plot_spectra(results, args.figure)
        return
    torch.set_num_threads(1)
    _, _, pixels_test, _ = load_mnist(scaled=False)
    X_test = pixels_test.astype(np.float32) / 127.5 - 1.0  # the nets' [-1, 1], as reproduce_mnist.py
    started = time.perf_counter()
    methods = {}
    for method in args.methods:
        path = CHECKPOINTS / f"{method}.pt"
        methods[method] = measure(path if path.exists() else path.with_suffix(".pkl"), X_test)
        print(
            method, {key: value for key, value in methods[method].items() if key != "test_singular_values"}, flush=True
        )
    results = {
        **run_description(),
        "threads": torch.get_num_threads(),
        "n_test": len(X_test),
        "pixel_range": [-1.0, 1.0],
        "methods": methods,
        "wall_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results))
    if args.figure:
        plot_spectra(results, args.figure)


# The four methods the paper's Table 6 and Figure 2 compare at their published settings;
# the WAE and RAE rows are being re-run at their own papers' weights.
SPECTRA = {"lorae": "LoRAE", "irmae": "IRMAE", "vae": "VAE", "ae": "AE"}


def plot_spectra(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_lorae.plotting import plot_latent_spectrum

    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    for method, name in SPECTRA.items():
        row = results["methods"].get(method)
        if row is not None:
            label = f"{name}: rank {row['test_code_rank']}, test MSE {row['test_mse']:.4f}"
            plot_latent_spectrum(row["test_singular_values"], ax=ax, label=label, linewidth=2)
    ax.axhline(DEFAULT_RANK_TOL, color="grey", linestyle=":", label="rank threshold")
    ax.set_ylim(1e-7, 2)
    ax.set_xlabel("latent direction (sorted)")
    ax.set_ylabel("singular value / largest")
    ax.set_title("MNIST test codes, 128 latent dimensions, 50 epochs", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def markdown(results):
    lines = [
        "# Test reconstruction error of the 50-epoch MNIST checkpoints",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}, {results['threads']} thread  ",
        f"Package: {results['package']}; wall time {results['wall_seconds']:.0f} s  ",
        f"Mean squared error per pixel on the {results['n_test']:,} test images, pixels in [-1, 1] "
        "(the nets' scale; a quarter of it on [0, 1]). Training: the last epoch's mean over its batches.",
        "",
        "| method | regularizer | alpha | epochs | test MSE | training MSE, last epoch | rank of test codes |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, row in results["methods"].items():
        # "none" and "implicit" have no penalty weight: their alpha is an unused default.
        alpha = "-" if row["regularizer"] in ("none", "implicit") else f"{row['alpha']:.4g}"
        lines.append(
            f"| {method} | {row['regularizer']} | {alpha} | {row['epochs']} | {row['test_mse']:.5f} | "
            f"{row['last_epoch_train_mse']:.5f} | {row['test_code_rank']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
