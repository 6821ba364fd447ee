"""aRRAE on data with a known bottleneck: does ``rank="auto"`` find it?

The RRAE paper's first check (arXiv 2405.13980): data generated from ``k*`` latent factors,
on which the adaptive search must end at ``k*``. Here ``k*`` uniform factors in [-1, 1]
go through a fixed smooth map (a random one-hidden-layer tanh net) into 64 standardised
features, 3,200 rows, for ``k*`` in ``--factors`` and each data seed in ``--seeds``. For
each: the rank aRRAE finds (``rank_``) from ``latent_dim=8``, and, as the yardstick the
search is meant to replace, RRAE's reconstruction error (mean squared error per feature,
on 800 held-out rows) at every fixed rank 1 to ``max(--factors) + 2``: the error should
fall steeply up to ``k*`` and flatten after it.

The estimators' settings are those of the package's own test of the search
(``tests/test_rrae.py``): the multilayer-perceptron net with one hidden layer of 128,
batch 16, Adam 3e-3, 24 epochs, no fine-tuning.

The committed run::

    python benchmarks/bench_rrae_synthetic.py --output benchmarks/results/rrae_synthetic

and with the authors' second stage after every fit (``--finetune-epochs 2``, the
package's default; ``..._finetune``).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import run_description  # noqa: E402

from sklearn_lorae import LoRAETransformer  # noqa: E402

SETTINGS = dict(
    regularizer="truncated",
    latent_dim=8,
    hidden_layer_sizes=(128,),
    batch_size=16,
    lr=3e-3,
    max_epochs=24,
    finetune_epochs=0,
    random_state=0,
)
N_TRAIN, N_TEST, N_FEATURES = 3200, 800, 64


def make_factor_data(n_factors, seed):
    """Training and test rows generated from ``n_factors`` uniform factors through a fixed
    random smooth map into ``N_FEATURES`` features, standardised on the training rows."""
    rng = np.random.RandomState(seed)
    factors = rng.uniform(-1, 1, size=(N_TRAIN + N_TEST, n_factors))
    weights, bias = rng.normal(size=(n_factors, 32)), 0.5 * rng.normal(size=32)
    X = np.tanh(factors @ weights + bias) @ rng.normal(size=(32, N_FEATURES)) / np.sqrt(32)
    train, test = X[:N_TRAIN], X[N_TRAIN:]
    mean, std = train.mean(0), train.std(0)
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=SETTINGS["max_epochs"])
    parser.add_argument(
        "--finetune-epochs", type=int, default=SETTINGS["finetune_epochs"],
        help="epochs of the second stage (the decoder on the global basis), for every fit",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    settings = {**SETTINGS, "max_epochs": args.epochs, "finetune_epochs": args.finetune_epochs}
    fixed_ranks = list(range(1, max(args.factors) + 3))
    results = {**run_description(), "settings": settings, "threads": args.threads, "runs": []}
    started = time.perf_counter()
    for n_factors in args.factors:
        for seed in args.seeds:
            X_train, X_test = make_factor_data(n_factors, seed)
            found = LoRAETransformer(**settings, rank="auto").fit(X_train)
            errors = {
                rank: float(-LoRAETransformer(**settings, rank=rank).fit(X_train).score(X_test)) for rank in fixed_ranks
            }
            results["runs"].append(
                {
                    "factors": n_factors,
                    "seed": seed,
                    "found_rank": int(found.rank_),
                    "found_test_mse": float(-found.score(X_test)),
                    "fixed_rank_test_mse": errors,
                }
            )
            print(n_factors, seed, found.rank_, flush=True)
            results["wall_seconds"] = time.perf_counter() - started
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
            args.output.with_suffix(".md").write_text(markdown(results, fixed_ranks))


def markdown(results, fixed_ranks):
    lines = [
        "# aRRAE on data with a known bottleneck k*",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}, {results['threads']} thread(s); wall time "
        f"{results['wall_seconds'] / 60:.1f} min  ",
        f"Package: {results['package']}  ",
        "Settings: " + ", ".join(f"{key}={value}" for key, value in results["settings"].items()),
        "",
        "Test MSE: mean squared error per feature of 800 held-out rows (standardised features).",
        "",
        "| k* | data seed | rank found | its test MSE | "
        + " | ".join(f"test MSE, rank {rank}" for rank in fixed_ranks)
        + " |",
        "|---" * (4 + len(fixed_ranks)) + "|",
    ]
    for run in results["runs"]:
        errors = run["fixed_rank_test_mse"]
        lines.append(
            f"| {run['factors']} | {run['seed']} | **{run['found_rank']}** | {run['found_test_mse']:.4f} | "
            + " | ".join(f"{errors[rank]:.4f}" for rank in fixed_ranks)
            + " |"
        )
    found = [run["found_rank"] == run["factors"] for run in results["runs"]]
    lines += ["", f"Rank found equal to k*: {sum(found)} of {len(found)} runs."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
