"""Short runs that separate the candidate WAE and RAE settings before any 50-epoch training.

Each run trains one ``LoRAEGenerator`` the way ``reproduce_mnist.py`` trains the 50-epoch
rows (the LoRAE paper's MNIST net, data in [-1, 1], tanh output, batch 32, Adam 1e-3,
4-component GMM), for ``--epochs`` epochs on the first ``--n-train`` training images, and
reports what tells the settings apart:

- per epoch, the loss, its two parts and the penalty's share of the loss (training
  batches), the rank of the test codes and the mean norm of E(x);
- after training, on the test images: the rank of the codes, their mean norm ``||z||``,
  the squared MMD (the WAE's IMQ kernel and scales) between 2,000 codes and as many
  N(0, I) draws, the reconstruction error (on [-1, 1]), and the GMM FID of ``--n-fid``
  samples against the 10,000 test images (few samples: compare runs of one table only).

A run is ``method:alpha:latent_dim`` (``ae:0:8``; alpha is ignored for the AE); for RRAE
the middle field is the rank, a number or ``auto`` for aRRAE (``rrae:5:128``,
``rrae:auto:128``; ``finetune_epochs`` at its default). The
converted weights come from ``check_penalties.py`` (``benchmarks/results/penalty_check.md``):
on [-1, 1], WAE ``alpha = 4 * 10 / 39.2 = 1.02`` (Tolstikhin et al., zdim 8), RAE
``alpha = 4 * 2 * 1e-4 / 16 = 5e-5`` (Ghosh et al., latent 16).
``--output-init torch`` (the default here) trains as the committed 50-epoch rows did.
``--dataset fashion`` runs on Fashion-MNIST (``apt-get install dataset-fashion-mnist``).

Example (the committed result)::

    python benchmarks/probe_code_penalties.py --epochs 3 --n-train 20000 --n-fid 2000 --threads 1 \\
        --runs wae:1.02:8 ae:0:8 rae:5e-5:16 ae:0:16 wae:1.02:128 rae:5e-5:128 \\
        wae:0.012755:128 rae:1e-3:128 ae:0:128 --output benchmarks/results/probe_code_penalties

The 3-epoch figures of LoRAE and the AE before and after ``output_init="data_mean"``
(rank, test MSE, GMM FID of 10,000 samples) are this probe on all training images::

    python benchmarks/probe_code_penalties.py --epochs 3 --n-train 60000 --n-fid 10000 --threads 1 \
        --runs lorae:1e-3:128 ae:0:128 --output-init torch --output benchmarks/results/output_init_3epochs_torch

and the same with ``--output-init data_mean`` (``..._data_mean``).

Runs already in ``<output>.json`` (same budget) are kept, so an interrupted probe goes on.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reproduce_mnist  # noqa: E402
from _data import load_fashion_mnist, load_mnist  # noqa: E402
from _feature_cache import DEFAULT_CACHE_DIR, cached_inception_features  # noqa: E402
from _machine import resumable_results, write_results  # noqa: E402

from sklearn_lorae._bottlenecks import WassersteinBottleneck, imq_mmd  # noqa: E402
from sklearn_lorae.metrics import latent_rank, latent_singular_values  # noqa: E402

MMD_ROWS = 2000
# LoRAE for the before / after figures of output_init (the same columns at 3 epochs).
# RRAE for the RRAE paper's checks (its middle field is the rank, not alpha).
PROBED_METHODS = ("ae", "wae", "rae", "lorae", "rrae")
LOADERS = {"mnist": load_mnist, "fashion": load_fashion_mnist}


def parse_run(text):
    try:
        method, setting, latent_dim = text.split(":")
        if method not in PROBED_METHODS:
            raise ValueError(f"the method is one of {', '.join(PROBED_METHODS)}")
        if method == "rrae":
            return {
                "method": method,
                "rank": setting if setting == "auto" else int(setting),
                "latent_dim": int(latent_dim),
            }
        return {"method": method, "alpha": float(setting), "latent_dim": int(latent_dim)}
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not method:alpha:latent_dim ({error})") from None


def run_name(run):
    setting = {"ae": "", "rrae": f" rank={run.get('rank')}"}.get(run["method"], f" alpha={run.get('alpha', 0):g}")
    return f"{run['method']}{setting} latent={run['latent_dim']}"


def code_statistics(codes, seed):
    """Mean norm of the codes and their squared MMD to N(0, I) (the WAE's kernel)."""
    z = torch.as_tensor(codes[:MMD_ROWS], dtype=torch.float64)
    prior = torch.randn(z.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return {
        "code_mean_norm": float(z.norm(dim=1).mean()),
        "mmd2_to_prior": float(imq_mmd(z, prior, WassersteinBottleneck.SCALES)),
    }


def probe(run, X_train, X_test, reference, args):
    overrides = dict(latent_dim=run["latent_dim"])
    if run["method"] == "rrae":
        overrides["rank"] = run["rank"]
    elif run["method"] != "ae":
        overrides["alpha"] = run["alpha"]
    generator = reproduce_mnist.generator_for(
        run["method"], args, callbacks=[reproduce_mnist.EpochDiagnostics()], **overrides
    )
    start = time.perf_counter()
    generator.fit(X_train)
    seconds = time.perf_counter() - start
    table = reproduce_mnist.epoch_table(generator)
    codes = generator.transform(X_test)
    reconstruction = generator.inverse_transform(codes)
    samples = generator.sample(args.n_fid, random_state=args.seed)
    return {
        **run,
        "epochs": table,
        "penalty_share": [
            None if penalty is None else penalty / loss for penalty, loss in zip(table["penalty"], table["train_loss"])
        ],
        "rank": int(latent_rank(latent_singular_values(codes))),
        # RRAE's truncation rank: given, or what aRRAE's search found (the codes' rank is at most this).
        **({"truncation_rank": int(generator.rank_)} if run["method"] == "rrae" else {}),
        "test_mse": float(np.mean((reconstruction - X_test) ** 2)),
        **code_statistics(codes, args.seed),
        "gmm_fid": reproduce_mnist.fid_against(reference, samples, args),
        "fit_seconds": seconds,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=parse_run, nargs="+", required=True, help="method:alpha:latent_dim")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-fid", type=int, default=2000, help="GMM samples per FID")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--output-init", choices=["torch", "data_mean"], default="torch", help="as reproduce_mnist.py's"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--n-reference", type=int, default=10000, help="test images for the FID reference")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR, help="Inception features of the test images")
    parser.add_argument("--dataset", choices=sorted(LOADERS), default="mnist")
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    pixels_train, _, pixels_test, _ = LOADERS[args.dataset](scaled=False)
    X_train = pixels_train[: args.n_train].astype(np.float32) / 127.5 - 1.0
    X_test = pixels_test.astype(np.float32) / 127.5 - 1.0
    reproduce_mnist.PROBES["test"] = torch.tensor(X_test).view(-1, 1, 28, 28)
    budget = {
        key: getattr(args, key)
        for key in ("epochs", "n_train", "n_fid", "batch_size", "lr", "seed", "output_init", "n_reference")
    }
    # MNIST budgets stay as they were before --dataset, so that their results still resume.
    if args.dataset != "mnist":
        budget["dataset"] = args.dataset
    test_name = {"mnist": "mnist_test", "fashion": "fashion_mnist_test"}[args.dataset]
    results = resumable_results(args.output, budget, "runs")
    reference = reproduce_mnist.Reference(
        cached_inception_features(test_name, pixels_test[: args.n_reference], args.cache_dir, {})
    )
    for run in args.runs:
        name = run_name(run)
        if name in results["runs"]:
            continue
        results["runs"][name] = probe(run, X_train, X_test, reference, args)
        print(name, {k: results["runs"][name][k] for k in ("rank", "test_mse", "gmm_fid")}, flush=True)
        write_results(results, args.output, markdown)


def markdown(results):
    budget = results["budget"]
    lines = [
        f"# Short runs on {'Fashion-MNIST' if budget.get('dataset') == 'fashion' else 'MNIST'}: "
        "the codes, the penalty's share and the GMM FID",
        "",
        *(f"Command: `{command}`  " for command in results["commands"]),
        f"Budget: {budget['epochs']} epochs on the first {budget['n_train']} training images, batch "
        f"{budget['batch_size']}, Adam {budget['lr']}, seed {budget['seed']}, output_init="
        f"{budget['output_init']!r}; the LoRAE paper's net, [-1, 1], tanh; GMM FID of {budget['n_fid']} "
        f"samples against {budget['n_reference']} test images  ",
        f"Machine: {'; '.join(results['machines'])}  ",
        f"Package: {'; '.join(results.get('packages', [results['package']]))}",
        "",
        "Rank: of the test codes; for RRAE, (k=...) is its truncation rank, given or found by aRRAE. "
        "Penalty share: the penalty's part of the training loss (last epoch; largest over the epochs). "
        f"MMD²: IMQ kernel, the WAE's scales, {MMD_ROWS} test codes against as many N(0, I) draws.",
        "",
        "| run | loss | penalty share, last (max) | test MSE | rank | mean ‖z‖ | MMD² to N(0, I) | GMM FID | fit (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in results["runs"].items():
        shares = [share for share in run["penalty_share"] if share is not None]
        share = f"{shares[-1]:.3f} ({max(shares):.3f})" if shares else "-"
        rank = f"{run['rank']} (k={run['truncation_rank']})" if "truncation_rank" in run else run["rank"]
        lines.append(
            f"| {name} | {run['epochs']['train_loss'][-1]:.5f} | {share} | {run['test_mse']:.5f} | {rank} "
            f"| {run['code_mean_norm']:.2f} | {run['mmd2_to_prior']:.4f} | {run['gmm_fid']:.2f} "
            f"| {run['fit_seconds']:.0f} |"
        )
    for name, run in results["runs"].items():
        lines += [
            "",
            f"## {name}: per epoch",
            "",
            "| epoch | loss | reconstruction | penalty | nuclear norm of M | largest singular value of M "
            "| mean norm of E(x) | rank of codes | seconds |",
            "|---|---|---|---|---|---|---|---|---|",
            *reproduce_mnist.epoch_rows(run["epochs"]),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
