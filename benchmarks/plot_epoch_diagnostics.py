"""Figure of the per-epoch diagnostics that reproduce_mnist.py records (docs, the
reproduction page): reconstruction and penalty, the nuclear norm and largest singular value
of M, the mean norm of the encoder's output and the rank of the codes, per method; every
panel with its axis labels and legend.

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

# key: (title, y-axis label, scale of the y axis)
PANELS = (
    ("reconstruction", "reconstruction error (training batches)", "mean squared error per pixel", "log"),
    ("penalty", "penalty alpha * ||M||_* (training batches)", "penalty, in loss units", "linear"),
    ("M_nuclear_norm", "nuclear norm of M", "||M||_*", "linear"),
    ("M_largest_singular_value", "largest singular value of M", "largest singular value", "linear"),
    ("encoder_output_mean_norm", "encoder output, test images", "mean ||E(x)||", "linear"),
    ("code_rank", "rank of the codes M(E(x)), test images", "rank (of 128 dimensions)", "linear"),
)
# Legend labels of the methods reproduce_mnist.py names.
NAMES = {
    "lorae": "LoRAE (alpha=1e-3)",
    "ae": "AE",
    "vae": "VAE",
    "irmae": "IRMAE",
    "wae": "WAE",
    "rae": "RAE",
    "rrae": "RRAE",
    "arrae": "aRRAE",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="JSON files with an 'epochs' table per method")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    tables = {}
    for path in args.results:
        tables.update(json.loads(path.read_text())["epochs"])
    # Three rows of two, about 900 px wide: readable at the width of a docs page.
    fig, axes = plt.subplots(3, 2, figsize=(9, 9.5), layout="constrained")
    for ax, (key, title, ylabel, scale) in zip(axes.ravel(), PANELS):
        missing = []
        for method, table in tables.items():
            values = table.get(key, [])
            points = [(epoch, value) for epoch, value in enumerate(values, start=1) if value is not None]
            if points:
                ax.plot(*zip(*points), marker=".", markersize=4, label=NAMES.get(method, method))
            else:
                missing.append(NAMES.get(method, method))
        ax.set_title(title, fontsize=11)
        ax.set_yscale(scale)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if key == "code_rank":
            ax.set_ylim(0, None)  # a rank of 9 reads as such against 0, not as the axis' floor
        # Methods without the quantity (the AE has no M) are named, not silently left out.
        label = None if not missing else "no M: " + ", ".join(missing)
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, labels, title=label, fontsize=9, title_fontsize=9)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=100)


if __name__ == "__main__":
    main()
