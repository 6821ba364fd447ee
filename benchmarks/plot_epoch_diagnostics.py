"""Figure of the per-epoch diagnostics that reproduce_mnist.py records (docs, part 2 of the
reproduction): reconstruction and penalty, the nuclear norm and largest singular value of
M, the mean norm of the encoder's output and the rank of the codes, per method.

Example (the committed figure)::

    python benchmarks/plot_epoch_diagnostics.py benchmarks/results/mnist_cpu_50epochs_lorae.json \\
        benchmarks/results/mnist_cpu_50epochs_ae.json --output doc/images/epoch_diagnostics.png
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = (
    ("reconstruction", "reconstruction error (training batches)", "log"),
    ("penalty", "penalty alpha * ||M||_*", "linear"),
    ("M_nuclear_norm", "||M||_*", "linear"),
    ("M_largest_singular_value", "largest singular value of M", "linear"),
    ("encoder_output_mean_norm", "mean ||E(x)|| (test images)", "linear"),
    ("code_rank", "rank of the codes M(E(x)) (test images)", "linear"),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="JSON files with an 'epochs' table per method")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    tables = {}
    for path in args.results:
        tables.update(json.loads(path.read_text())["epochs"])
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for ax, (key, title, scale) in zip(axes.ravel(), PANELS):
        for method, table in tables.items():
            values = table.get(key, [])
            points = [(epoch, value) for epoch, value in enumerate(values, start=1) if value is not None]
            if points:
                ax.plot(*zip(*points), marker=".", label=method)
        ax.set_title(title, fontsize=10)
        ax.set_yscale(scale)
        ax.set_xlabel("epoch")
    axes[0, 0].legend()
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=90)


if __name__ == "__main__":
    main()
