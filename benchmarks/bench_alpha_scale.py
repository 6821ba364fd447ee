"""How LoRAE's rank, reconstruction and generation move with alpha, on data in [0, 1] and
in [-1, 1] (issue: the scale of the data and the default alpha).

The squared error of [0, 1] data is a quarter of that of the same data in [-1, 1], so a
fixed alpha weighs four times more on [0, 1]. For each data scale x alpha x seed, a
``LoRAEGenerator`` with the defaults a new user gets (identity output) is fitted and
measured on the test rows, always in [0, 1] units so that the scales compare:

- ``rank``: latent rank of the test codes;
- ``mse``: test reconstruction error in [0, 1] units; ``relative_mse`` the same divided
  by the test data's mean per-feature variance (1 is "predicts the mean");
- ``acc_<k>``: accuracy of a logistic regression on the frozen codes of k labelled rows
  per class (3 draws);
- ``fid``: Fréchet distance of GMM samples to the test rows in the feature space of a
  classifier trained on the real training rows (``_evaluation.ClassifierFeatures``),
  next to the real-vs-real floor (training rows against test rows).

Examples (the committed results)::

    python benchmarks/bench_alpha_scale.py --dataset digits --threads 1 \\
        --output benchmarks/results/alpha_scale_digits
    python benchmarks/bench_alpha_scale.py --dataset mnist --epochs 3 --batch-size 128 --n-train 20000 \\
        --seeds 0 --alphas 1e-4 1e-3 1e-2 --threads 1 --output benchmarks/results/alpha_scale_mnist

``--param name=value`` passes further estimator parameters (repeatable).
"""

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_mnist
from _machine import cpu_description, package_description

from sklearn_lorae import LoRAEGenerator
from sklearn_lorae._evaluation import ClassifierFeatures, few_label_accuracy
from sklearn_lorae.metrics import frechet_distance, latent_rank, latent_singular_values

SCALES = {"unit": (0.0, 1.0), "symmetric": (-1.0, 1.0)}


def load(args):
    if args.dataset == "digits":
        digits = load_digits()
        X, y = (digits.data / 16.0).astype(np.float32), digits.target
        return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    X_train, y_train, X_test, y_test = load_mnist()
    return X_train[: args.n_train], X_test, y_train[: args.n_train], y_test


def estimator_for(args, alpha, seed, extra):
    settings = dict(alpha=alpha, latent_dim=args.latent_dim, max_epochs=args.epochs, random_state=seed)
    if args.batch_size:
        settings["batch_size"] = args.batch_size
    if args.dataset == "mnist":
        settings["image_shape"] = (1, 28, 28)
    return LoRAEGenerator(**{**settings, **extra})


def measure(generator, X_train, X_test, y_train, y_test, low, high, judge, labels):
    to_unit = lambda Z: (Z - low) / (high - low)
    scaled_train, scaled_test = low + (high - low) * X_train, low + (high - low) * X_test
    codes_test = generator.transform(scaled_test)
    reconstruction = to_unit(generator.inverse_transform(codes_test))
    mse = float(np.mean((reconstruction - X_test) ** 2))
    row = {
        "rank": latent_rank(latent_singular_values(codes_test)),
        "mse": mse,
        "relative_mse": mse / float(np.mean(X_test.var(axis=0))),
    }
    codes_train = generator.transform(scaled_train)
    for k in labels:
        row[f"acc_{k}"] = few_label_accuracy(codes_train, y_train, codes_test, y_test, k)[0]
    samples = to_unit(generator.sample(len(X_train), random_state=0))
    row["fid"] = frechet_distance(judge.transform(X_test), judge.transform(samples))
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.0, 1e-5, 1e-4, 2.5e-4, 1e-3, 4e-3, 1e-2, 1e-1])
    parser.add_argument("--scales", nargs="+", choices=list(SCALES), default=list(SCALES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--labels", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--n-train", type=int, default=None, help="MNIST training rows (default: all)")
    parser.add_argument("--param", action="append", default=[], help="further estimator parameter, name=value")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    extra = {name: ast.literal_eval(value) for name, value in (p.split("=", 1) for p in args.param)}

    started = time.perf_counter()
    X_train, X_test, y_train, y_test = load(args)
    judge = ClassifierFeatures().fit(X_train, y_train)
    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{cpu_description()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "package": package_description(),
        "dataset": args.dataset,
        "n_train": len(X_train),
        "judge_training_accuracy": judge.training_accuracy_,
        "fid_floor": frechet_distance(judge.transform(X_test), judge.transform(X_train)),
        "runs": [],
    }
    for scale in args.scales:
        low, high = SCALES[scale]
        for alpha in args.alphas:
            for seed in args.seeds:
                start = time.perf_counter()
                generator = estimator_for(args, alpha, seed, extra).fit(low + (high - low) * X_train)
                row = measure(generator, X_train, X_test, y_train, y_test, low, high, judge, args.labels)
                row.update(scale=scale, alpha=alpha, seed=seed, seconds=time.perf_counter() - start)
                results["runs"].append(row)
                print(row, flush=True)
                write(results, args, started)
    write(results, args, started)


def write(results, args, started):
    results["wall_seconds"] = time.perf_counter() - started
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1))
    args.output.with_suffix(".md").write_text(markdown(results))


def markdown(results):
    runs = results["runs"]
    metrics = [key for key in runs[0] if key not in ("scale", "alpha", "seed", "seconds")] if runs else []
    lines = [
        f"# alpha x data scale on {results['dataset']} ({results['n_train']} training rows)",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}; wall time {results['wall_seconds'] / 60:.1f} min  ",
        f"Package: {results['package']}  ",
        f"Judge: classifier hidden layer (training accuracy {results['judge_training_accuracy']:.3f}); "
        f"real-vs-real FID floor {results['fid_floor']:.2f}. Errors in [0, 1] units; mean over seeds.",
        "",
        "| scale | alpha | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    keys = sorted({(r["scale"], r["alpha"]) for r in runs}, key=lambda k: (k[0] != "unit", k[1]))
    for scale, alpha in keys:
        group = [r for r in runs if r["scale"] == scale and r["alpha"] == alpha]
        cells = [f"{np.mean([r[m] for r in group]):.4g}" for m in metrics]
        lines.append(f"| {scale} | {alpha:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
