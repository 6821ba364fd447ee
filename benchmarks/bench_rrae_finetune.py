"""RRAE's decoder fine-tuning (the authors' second stage) against none.

RRAE's decoder learns on each batch's truncated SVD, but after training the codes are
projections onto one basis of all the training codes. ``finetune_epochs`` trains the
decoder alone on those projections, the encoder (and the basis) frozen. For each data
set and seed, one fit with ``finetune_epochs=--finetune`` records the reconstruction
error of the projected codes (``inverse_transform(transform(X))``, mean squared error
per feature) on the training and test rows when the first stage ends (what
``finetune_epochs=0``, the fits before the parameter existed, return) and after every fine-tuning epoch; a
second fit without fine-tuning trains the first stage for as many more epochs instead
(the same number of epochs spent the other way).

Data: digits (``load_digits() / 16``, 75 / 25 split) and the first 10,000 MNIST training
images with 2,000 test images, in [0, 1]; the multilayer-perceptron nets, a fixed rank.

The committed run::

    python benchmarks/bench_rrae_finetune.py --output benchmarks/results/rrae_finetune
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_mnist  # noqa: E402
from _machine import run_description  # noqa: E402

from sklearn_lorae import LoRAETransformer  # noqa: E402

# Per data set: the estimator's settings and the epochs of the first stage.
SETTINGS = {
    "digits": dict(latent_dim=32, rank=5, batch_size=32, max_epochs=50),
    "mnist": dict(latent_dim=128, rank=5, batch_size=32, max_epochs=10),
}


def load(name):
    if name == "digits":
        X = (load_digits().data / 16.0).astype(np.float32)
        return train_test_split(X, test_size=0.25, random_state=0)
    X_train, _, X_test, _ = load_mnist()
    return X_train[:10_000], X_test[:2_000]


def projected_error(module, X):
    """Mean squared error of the decoded projections of X's codes, per feature."""
    training = module.training
    module.eval()
    with torch.no_grad():
        x = torch.from_numpy(X)
        error = torch.mean((module.decoder(module.encode(x)) - x) ** 2).item()
    module.train(training)
    return error


class FinetuneErrors(Callback):
    """The training and test errors of the projected codes when the fine-tuning starts
    (the first stage's model, on the basis computed after it) and after each of its
    epochs, in ``errors_``."""

    def __init__(self, X_train, X_test):
        self.X_train, self.X_test = X_train, X_test

    def initialize(self):
        self.errors_ = []
        return self

    def _record(self, net):
        module = net.module_
        self.errors_.append((projected_error(module, self.X_train), projected_error(module, self.X_test)))

    def on_epoch_begin(self, net, **kwargs):
        if not self.errors_ and net.module_.bottleneck.basis is not None:
            self._record(net)

    def on_epoch_end(self, net, **kwargs):
        if net.history[-1, "finetune"]:
            self._record(net)


def run(name, seed, finetune):
    X_train, X_test = load(name)
    settings = SETTINGS[name]
    errors = FinetuneErrors(X_train, X_test)
    start = time.perf_counter()
    estimator = LoRAETransformer(
        regularizer="truncated",
        finetune_epochs=finetune,
        callbacks=[("errors", errors)],
        random_state=seed,
        **settings,
    ).fit(X_train)
    seconds = time.perf_counter() - start
    curve = dict(estimator.net_.callbacks_)["errors"].errors_
    durations = np.array(estimator.net_.history[:, "dur"])
    finetuning = np.array(estimator.net_.history[:, "finetune"])
    # The estimator's own score is the last fine-tuning epoch's test error.
    assert np.isclose(-estimator.score(X_test), curve[-1][1], rtol=1e-4), (estimator.score(X_test), curve[-1])
    control = LoRAETransformer(
        regularizer="truncated",
        finetune_epochs=0,
        random_state=seed,
        **{**settings, "max_epochs": settings["max_epochs"] + finetune},
    ).fit(X_train)
    return {
        "dataset": name,
        "seed": seed,
        "train_mse": [train for train, _ in curve],  # index: fine-tuning epochs done
        "test_mse": [test for _, test in curve],
        "control_train_mse": -control.score(X_train),
        "control_test_mse": -control.score(X_test),
        "seconds": seconds,
        # Seconds per epoch of each stage (the fine-tuning needs no SVD and no encoder gradient).
        "first_stage_epoch_seconds": float(np.mean(durations[~finetuning])),
        "finetune_epoch_seconds": float(np.mean(durations[finetuning])) if finetune else None,
    }


def summary(rows, finetune, shown):
    lines = []
    for name in dict.fromkeys(row["dataset"] for row in rows):
        mine = [row for row in rows if row["dataset"] == name]
        settings = SETTINGS[name]
        lines += [
            f"## {name}: latent {settings['latent_dim']}, rank {settings['rank']}, batch {settings['batch_size']}, "
            f"{settings['max_epochs']} epochs, seeds {[row['seed'] for row in mine]}",
            "",
            "Mean squared error of the projected codes' reconstructions (mean over seeds; per seed in brackets).",
            "",
            "| model | train MSE | test MSE | test change |",
            "|---|---|---|---|",
        ]
        before = np.mean([row["test_mse"][0] for row in mine])

        def line(label, train, test, before=before):
            change = 100 * (np.mean(test) / before - 1)
            per_seed = ", ".join(f"{value:.5f}" for value in test)
            return f"| {label} | {np.mean(train):.5f} | {np.mean(test):.5f} ({per_seed}) | {change:+.1f}% |"

        for epochs in shown:
            label = "finetune_epochs=0 (as before)" if epochs == 0 else f"finetune_epochs={epochs}"
            lines.append(line(label, [r["train_mse"][epochs] for r in mine], [r["test_mse"][epochs] for r in mine]))
        lines.append(
            line(
                f"no fine-tuning, {settings['max_epochs'] + finetune} epochs",
                [r["control_train_mse"] for r in mine],
                [r["control_test_mse"] for r in mine],
            )
        )
        stage, tuning = (
            np.mean([r[key] for r in mine]) for key in ("first_stage_epoch_seconds", "finetune_epoch_seconds")
        )
        lines += ["", f"Seconds per epoch: {stage:.2f} in the first stage, {tuning:.2f} fine-tuning.", ""]
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--finetune", type=int, default=10, help="fine-tuning epochs of the measured fits")
    parser.add_argument("--output", type=Path, default=None, help="writes OUTPUT.json and OUTPUT.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    shown = [epochs for epochs in (0, 1, 2, 5, 10, 20, 50) if epochs <= args.finetune]
    header = run_description()
    rows = []
    for name in args.datasets:
        for seed in args.seeds:
            rows.append(run(name, seed, args.finetune))
            print(json.dumps({key: rows[-1][key] for key in ("dataset", "seed", "seconds")}), flush=True)
            report = {**header, "finetune_epochs": args.finetune, "settings": SETTINGS, "runs": rows}
            lines = [
                "# RRAE: the decoder fine-tuned on the projected codes, against none",
                "",
                f"Command: `{header['command']}`  ",
                f"Machine: {header['machine']}, 1 thread  ",
                f"Package: {header['package']}",
                "",
                *summary(rows, args.finetune, shown),
            ]
            print("\n".join(lines))
            if args.output is not None:
                args.output.parent.mkdir(parents=True, exist_ok=True)
                args.output.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
                args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
