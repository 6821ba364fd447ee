"""Reproduce the LoRAE paper's MNIST tables with the package's public API.

Trains each method with ``LoRAEGenerator`` on the paper's MNIST net (latent 128,
data scaled to [-1, 1], tanh output, Adam) and measures

- Tables 3 and 4: Inception FID of ``--n-fid`` samples from the one-Gaussian (MVG) and the
  4-component GMM latent densities against the first ``--n-reference`` test images (all
  10,000 by default; their features are cached under ``--cache-dir``, shared with
  ``bench_frechet.py``);
- Table 6: test accuracy of an MLP trained on the frozen codes of 10 / 100 / 1000 / 10,000 /
  60,000 class-balanced labelled training images (3 seeds; no selection on the test set);
- Table 7: for a lambda sweep of LoRAE, the rank of the test codes (singular values of
  their covariance above ``sklearn_lorae.metrics.DEFAULT_RANK_TOL`` times the largest) and
  the GMM FID;
- ``--tables floor``: the FID of ``--n-fid`` real training images against the same
  reference, what a perfect generator would score at that sample size.

Results: ``<output>.json`` and ``<output>.md`` (the paper's figures side by side, the
budget, the wall time and the command). Example (a reduced CPU budget)::

    python benchmarks/reproduce_mnist.py --epochs 3 --output benchmarks/results/mnist_3ep

``--dataset fashion`` runs Fashion-MNIST (``apt-get install dataset-fashion-mnist``).
``--n-train`` and ``--n-fid`` shrink the run for smoke tests; every figure then says so.
"""

import argparse
import json
import pickle
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.neural_network import MLPClassifier
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_fashion_mnist, load_mnist  # noqa: E402
from _feature_cache import DEFAULT_CACHE_DIR, cached_inception_features  # noqa: E402
from _machine import cpu_description, package_description  # noqa: E402

from sklearn_lorae import LoRAEGenerator, load_model, save_model  # noqa: E402
from sklearn_lorae._evaluation import balanced_label_subset  # noqa: E402
from sklearn_lorae.metrics import (  # noqa: E402
    DEFAULT_RANK_TOL,
    extract_features,
    feature_statistics,
    frechet_distance_from_stats,
    kernel_distance,
    latent_rank,
    latent_singular_values,
)

# The paper's figures (arXiv 2310.16194, MNIST).
PAPER_FID = {  # method: (MVG, GMM)
    "ae": (103.08, 68.97),
    "vae": (21.01, 18.86),
    "irmae": (26.58, 22.31),
    "wae": (21.04, 11.32),
    "rae": (22.12, 11.54),
    "lorae": (19.50, 11.09),
}
# The runs at the WAE's and the RAE's own settings stand for the same published methods.
PAPER_FID.update(wae_z8=PAPER_FID["wae"], rae_z16=PAPER_FID["rae"])
PAPER_ACCURACY = {  # method: accuracy (%) for 10, 100, 1000, 10000, 60000 labels
    "ae": (41.0, 68.16, 89.8, 96.5, 98.1),
    "vae": (41.5, 77.47, 94.0, 98.5, 98.9),
    "lorae": (46.6, 89.02, 95.4, 97.9, 98.6),
}
PAPER_LAMBDA = {  # lambda: (rank, GMM FID)
    1e-1: (7, 23.65),
    1e-2: (8, 22.18),
    1e-3: (18, 11.09),
    1e-4: (40, 25.60),
    1e-5: (65, 40.75),
}
LABEL_COUNTS = (10, 100, 1000, 10000, 60000)

# Method -> LoRAEGenerator settings. ``alpha`` is each method's penalty weight.
METHODS = {
    "ae": dict(regularizer="none"),
    # Squared error averaged over 784 pixels: alpha = 1 / 784 is the beta = 1 VAE with a
    # Gaussian decoder of variance 1/2 (see VariationalBottleneck).
    "vae": dict(regularizer="variational", alpha=1.0 / 784),
    "irmae": dict(regularizer="implicit", n_linear=4),
    # The WAE paper's lambda = 10 on a squared error summed over pixels, rescaled to the mean.
    "wae": dict(regularizer="wae", alpha=10.0 / 784),
    "rae": dict(regularizer="rae", alpha=1e-3),
    "lorae": dict(regularizer="nuclear", alpha=1e-3),
    # RRAE (arXiv 2405.13980) with the rank its authors recommend as k_max on MNIST, and
    # aRRAE, which searches the rank during training; neither is in the LoRAE paper.
    "rrae": dict(regularizer="truncated", rank=5),
    "arrae": dict(regularizer="truncated", rank="auto"),
    # RRAE at the rank aRRAE found at 50 epochs (its row on doc/reproduction.rst): is the
    # search, or the rank it lands on, what sets aRRAE's figures apart from RRAE's at 5?
    "rrae_k15": dict(regularizer="truncated", rank=15),
    # The WAE and the RAE at their own papers' MNIST settings, converted to this loss on
    # [-1, 1] (check_penalties.py): Tolstikhin et al.'s lambda 10 on 0.05 x the summed
    # squared error with zdim 8, Ghosh et al.'s beta 1e-4 on the mean of z**2 with latent
    # 16; and the AE at each width, their control.
    "wae_z8": dict(regularizer="wae", alpha=4 * 10 / (0.05 * 784), latent_dim=8),
    "rae_z16": dict(regularizer="rae", alpha=4 * 2 * 1e-4 / 16, latent_dim=16),
    "ae_z8": dict(regularizer="none", latent_dim=8),
    "ae_z16": dict(regularizer="none", latent_dim=16),
}


def to_unit_range(X):
    """The nets work on [-1, 1] (tanh output); Inception features are taken on [0, 1]."""
    return np.clip((X + 1.0) / 2.0, 0.0, 1.0)


def generator_for(method, args, **overrides):
    settings = dict(
        image_shape=(1, 28, 28),
        latent_dim=128,
        output_activation="tanh",
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        random_state=args.seed,
        n_components=4,
        output_init=args.output_init,
    )
    return LoRAEGenerator(**{**settings, **METHODS[method], **overrides})


# Rows on which the per-epoch diagnostics are measured (the test images), by name: kept
# out of the callback so that it pickles small into the checkpoints.
PROBES = {}


class EpochDiagnostics(Callback):
    """Records, after every epoch, where the low rank comes from: the nuclear norm and the
    largest singular value of the bottleneck's linear map M (the product of IRMAE's
    layers; none for the methods without one), the mean norm of the encoder's output
    E(x) and the rank of the codes M(E(x)) on the probe rows (the test images)."""

    def __init__(self, probe="test"):
        self.probe = probe

    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        training = module.training
        module.eval()
        with torch.inference_mode():
            h = torch.cat([module.encoder(batch) for batch in torch.split(PROBES[self.probe], 500)])
            codes = module.bottleneck.encode(h)
        module.train(training)
        net.history.record("encoder_output_mean_norm", float(h.norm(dim=1).mean()))
        net.history.record("code_rank", int(latent_rank(latent_singular_values(codes.double().numpy()))))
        matrix = bottleneck_matrix(module.bottleneck)
        if matrix is not None:
            singular = torch.linalg.svdvals(matrix.detach().double())
            net.history.record("M_nuclear_norm", float(singular.sum()))
            net.history.record("M_largest_singular_value", float(singular[0]))


def bottleneck_matrix(bottleneck):
    """The linear map M of the bottleneck (``z = h @ M.T``), or None."""
    if hasattr(bottleneck, "linear"):
        return bottleneck.linear.weight
    if hasattr(bottleneck, "linears"):
        matrix = None
        for layer in bottleneck.linears:
            matrix = layer.weight if matrix is None else layer.weight @ matrix
        return matrix
    return None


DIAGNOSTICS = (
    "train_loss", "reconstruction", "penalty", "M_nuclear_norm", "M_largest_singular_value",
    "encoder_output_mean_norm", "code_rank", "dur",
)  # fmt: skip


def epoch_table(generator):
    history = generator.net_.history
    return {key: [epoch.get(key) for epoch in history] for key in DIAGNOSTICS}


def train(method, X_train, args):
    """Fit ``method`` for ``args.epochs`` epochs. With ``--checkpoint-dir``, in chunks of
    ``--checkpoint-every`` epochs continued with ``warm_start`` (the same net as one fit),
    the generator saved with ``save_model`` (``<method>.pt``) after each; a checkpoint left
    by an interrupted run is continued, as is a pickled one (``<method>.pkl``) of earlier
    versions of this script."""
    if args.checkpoint_dir is None:
        return generator_for(method, args, callbacks=[EpochDiagnostics()]).fit(X_train)
    path = args.checkpoint_dir / f"{method}.pt"
    if path.exists():
        # save_model keeps no callbacks (they are code): the diagnostics are given back.
        generator = load_checkpoint(path).set_params(callbacks=[EpochDiagnostics()], warm_start=True)
        print(f"{method}: continuing the checkpoint at epoch {generator.n_iter_}", flush=True)
    elif path.with_suffix(".pkl").exists():
        generator = load_checkpoint(path.with_suffix(".pkl"))
        print(f"{method}: continuing the pickled checkpoint at epoch {generator.n_iter_}", flush=True)
    else:
        generator = generator_for(method, args, callbacks=[EpochDiagnostics()], warm_start=True)
    if generator.regularizer == "truncated" and generator.rank == "auto" and not hasattr(generator, "net_"):
        # aRRAE's warm-up at full rank lasts at most a fraction of the max_epochs of the
        # fit in which its search began: the whole budget, not a chunk's. That fit is
        # one epoch (partial_fit) of a generator whose max_epochs is the budget.
        generator.partial_fit(X_train)
        save_checkpoint(generator, path)
    # RRAE's second stage (the decoder fine-tuned on the final basis) ends the whole
    # training, not each chunk: it runs after the last chunk only.
    finetune_epochs = generator.get_params().get("finetune_epochs", 0)
    while getattr(generator, "n_iter_", 0) < args.epochs:
        done = getattr(generator, "n_iter_", 0)
        chunk = min(args.checkpoint_every, args.epochs - done)
        final_chunk = done + chunk == args.epochs
        generator.set_params(max_epochs=chunk, finetune_epochs=finetune_epochs if final_chunk else 0)
        generator.fit(X_train)
        save_checkpoint(generator, path)
        last = generator.net_.history[-1]
        print(
            f"{method}: epoch {generator.n_iter_}, loss {last['train_loss']:.6f}, rank {last['code_rank']}, "
            f"{last['dur']:.0f} s/epoch",
            flush=True,
        )
    return generator


def save_checkpoint(generator, path):
    """``save_model`` without the warning that the callbacks are not saved."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="save_model does not save callbacks")
        save_model(generator, path)


def epoch_rows(table):
    """The rows of a per-epoch markdown table of ``epoch_table``'s columns."""
    return [
        f"| {epoch} | " + " | ".join("-" if value is None else f"{value:.6g}" for value in row) + " |"
        for epoch, row in enumerate(zip(*(table[key] for key in DIAGNOSTICS)), start=1)
    ]


class _CheckpointUnpickler(pickle.Unpickler):
    """The pickled checkpoints were written by this script run as ``__main__``: their
    callback is ``__main__.EpochDiagnostics``, whatever script loads them."""

    def find_class(self, module, name):
        if module == "__main__" and name == "EpochDiagnostics":
            return EpochDiagnostics
        return super().find_class(module, name)


def load_checkpoint(path):
    """A checkpoint of this script: a ``save_model`` file (``.pt``), or a pickle
    (``.pkl``) of its earlier versions, given the parameters that later versions added.
    Unpickling runs code: the project's own checkpoints only."""
    path = Path(path)
    if path.suffix == ".pkl":
        with open(path, "rb") as f:
            return with_current_params(_CheckpointUnpickler(f).load())
    return load_model(path)


def with_current_params(generator):
    """A generator pickled by an older sklearn_lorae, given the parameters (at their
    defaults) and private state that later versions added, so that it can continue."""
    # Nets built before output_init existed had torch's initialisation.
    generator.__dict__.setdefault("output_init", "torch")
    for name, value in LoRAEGenerator().get_params().items():
        generator.__dict__.setdefault(name, value)
    generator.__dict__.setdefault("_n_threads", None)
    generator.__dict__.setdefault("_architecture_optimizer", generator._optimizer_params())
    return generator


class Reference:
    """The Inception features of the reference images and their statistics."""

    def __init__(self, features):
        self.features = features
        self.stats = feature_statistics(features)


def inception_features(images, args):
    return extract_features(
        to_unit_range(images), features="inception", image_shape=(1, 28, 28), device=args.device, batch_size=64
    )


def fid_against(reference, images, args):
    return frechet_distance_from_stats(*reference.stats, *feature_statistics(inception_features(images, args)))


def fid_and_kid_against(reference, images, args, name=None):
    """FID and KID (mean and standard deviation over torch-fidelity's 100 subsets of
    1,000) of ``images`` against the reference, from one pass of Inception; the features
    are kept as ``<--save-features>/<name>.npy`` when asked (for
    ``bench_generation_metrics.py --generated``)."""
    features = inception_features(images, args)
    if args.save_features is not None and name is not None:
        args.save_features.mkdir(parents=True, exist_ok=True)
        np.save(args.save_features / f"{name}.npy", features.astype(np.float32))
    kid = kernel_distance(reference.features, features, random_state=args.seed)
    return frechet_distance_from_stats(*reference.stats, *feature_statistics(features)), list(kid)


def sample_fids(method, generator, X_train, reference, args):
    """FID and KID of the GMM density (the generator's own) and of one Gaussian (the MVG)."""
    gmm_samples = generator.sample(args.n_fid, random_state=args.seed)
    gaussian = GaussianMixture(1, covariance_type="full", random_state=args.seed)
    # float64: in float32 the covariance of low-rank codes can fail its Cholesky factorisation.
    gaussian.fit(generator.transform(X_train).astype(np.float64))
    codes = gaussian.sample(args.n_fid)[0].astype(np.float32)
    mvg_samples = generator.inverse_transform(codes)
    scores = {}
    for density, samples in (("mvg", mvg_samples), ("gmm", gmm_samples)):
        name = f"{args.dataset}_{method}_{density}_{args.epochs}epochs_seed{args.seed}"
        scores[density], scores[f"kid_{density}"] = fid_and_kid_against(reference, samples, args, name)
    return scores


def frozen_code_accuracy(generator, X_train, y_train, X_test, y_test, args):
    """Test accuracy (%) of an MLP on frozen codes, per number of labels: mean and std."""
    Z_train, Z_test = generator.transform(X_train), generator.transform(X_test)
    table = {}
    for n_labels in args.labels:
        if n_labels > len(y_train):
            continue
        scores = []
        for seed in range(args.accuracy_seeds):
            # The paper counts labels in all; the same number of each class.
            rows = balanced_label_subset(y_train, max(1, n_labels // len(np.unique(y_train))), seed)
            clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=300, early_stopping=False, random_state=seed)
            scores.append(100.0 * clf.fit(Z_train[rows], y_train[rows]).score(Z_test, y_test))
        table[n_labels] = (float(np.mean(scores)), float(np.std(scores)))
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument(
        "--tables", nargs="+", default=["fid", "accuracy", "lambda"], choices=["fid", "accuracy", "lambda", "floor"]
    )
    parser.add_argument("--accuracy-methods", nargs="+", default=["ae", "vae", "lorae"])
    parser.add_argument("--lambdas", type=float, nargs="+", default=sorted(PAPER_LAMBDA, reverse=True))
    parser.add_argument("--labels", type=int, nargs="+", default=list(LABEL_COUNTS))
    parser.add_argument("--accuracy-seeds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=None, help="training subset (smoke tests)")
    parser.add_argument("--n-fid", type=int, default=10000, help="samples per FID")
    parser.add_argument("--n-reference", type=int, default=10000, help="test images for the FID reference")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR, help="Inception features of the test images")
    parser.add_argument(
        "--save-features", type=Path, default=None, help="folder for the Inception features of the FID samples"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument(
        "--output-init", choices=["torch", "data_mean"], default="torch",
        help="the decoder's last bias: torch's initialisation, as the committed 50-epoch rows "
        "(they predate output_init), or the package's default, the data's mean",
    )  # fmt: skip
    parser.add_argument(
        "--checkpoint-dir", type=Path, default=None, help="train in checkpointed chunks, continued when present"
    )
    parser.add_argument("--checkpoint-every", type=int, default=5, help="epochs per checkpointed chunk")
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    parser.add_argument(
        "--resume", action="store_true",
        help="keep the methods and lambdas already in <output>.json (same budget) and add the others",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    started = time.perf_counter()
    load = load_fashion_mnist if args.dataset == "fashion" else load_mnist
    pixels_train, y_train, pixels_test, y_test = load(scaled=False)
    pixels_train, y_train = pixels_train[: args.n_train], y_train[: args.n_train]
    # The paper's nets see [-1, 1] and end in tanh.
    X_train = pixels_train.astype(np.float32) / 127.5 - 1.0
    X_test = pixels_test.astype(np.float32) / 127.5 - 1.0
    PROBES["test"] = torch.tensor(X_test).view(-1, 1, 28, 28)
    results = {
        "command": "python " + " ".join(sys.argv),
        "dataset": args.dataset,
        "budget": dict(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            n_train=len(X_train),
            n_fid=args.n_fid,
            n_reference=min(args.n_reference, len(X_test)),
            seed=args.seed,
        ),
        "machine": f"{cpu_description()}, torch {torch.__version__}, device {args.device}, "
        f"{torch.get_num_threads()} threads"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
        "package": package_description(),
        "output_init": args.output_init,
        "rank_tol": DEFAULT_RANK_TOL,
        "fid": {},
        "rank": {},
        "epochs": {},
        "accuracy": {},
        "lambda": {},
        "seconds": {},
    }
    if args.resume and args.output.with_suffix(".json").exists():
        results = resumed(results, json.loads(args.output.with_suffix(".json").read_text()))
    needs_fid = bool({"fid", "lambda", "floor"} & set(args.tables))
    if needs_fid:
        timings = {}
        name = f"{'fashion_mnist' if args.dataset == 'fashion' else 'mnist'}_test"
        reference = cached_inception_features(name, pixels_test[: args.n_reference], args.cache_dir, timings)
        reference = Reference(reference)
        results["seconds"]["reference_features_when_computed"] = timings[name]["wall_s"]
    if "floor" in args.tables:
        # What a perfect generator would score at this sample size: real training images.
        dataset = name.removesuffix("_test")
        real = cached_inception_features(f"{dataset}_train_first", pixels_train[: args.n_fid], args.cache_dir, timings)
        results["fid_floor"] = frechet_distance_from_stats(*reference.stats, *feature_statistics(real))
        print("FID of real training images:", results["fid_floor"], flush=True)

    trained = {}
    for method in args.methods:
        wanted = ("fid" in args.tables) or ("accuracy" in args.tables and method in args.accuracy_methods)
        if not wanted or method in results["rank"]:
            continue
        start = time.perf_counter()
        generator = train(method, X_train, args)
        results["seconds"][f"fit_{method}"] = time.perf_counter() - start
        results["epochs"][method] = epoch_table(generator)
        trained[method] = generator
        results["rank"][method] = latent_rank(latent_singular_values(generator.transform(X_test)))
        if "fid" in args.tables:
            start = time.perf_counter()
            results["fid"][method] = sample_fids(method, generator, X_train, reference, args)
            results["seconds"][f"fid_{method}"] = time.perf_counter() - start
        if "accuracy" in args.tables and method in args.accuracy_methods:
            start = time.perf_counter()
            results["accuracy"][method] = frozen_code_accuracy(generator, X_train, y_train, X_test, y_test, args)
            results["seconds"][f"accuracy_{method}"] = time.perf_counter() - start
        print(method, results["fid"].get(method), results["accuracy"].get(method), flush=True)
        write(results, args, started)

    if "lambda" in args.tables:
        for alpha in args.lambdas:
            if alpha in results["lambda"]:
                continue
            generator = trained.get("lorae") if alpha == METHODS["lorae"]["alpha"] else None
            if generator is None:
                start = time.perf_counter()
                generator = generator_for("lorae", args, alpha=alpha).fit(X_train)
                results["seconds"][f"fit_lorae_{alpha:g}"] = time.perf_counter() - start
            rank = latent_rank(latent_singular_values(generator.transform(X_test)))
            samples = generator.sample(args.n_fid, random_state=args.seed)
            results["lambda"][alpha] = {"rank": rank, "gmm_fid": fid_against(reference, samples, args)}
            print("lambda", alpha, results["lambda"][alpha], flush=True)
            write(results, args, started)
    write(results, args, started)


def resumed(results, previous):
    """``results`` with what an earlier run of the same budget left in ``previous``."""
    if previous["budget"] != results["budget"] or previous["dataset"] != results["dataset"]:
        raise SystemExit("--resume: the earlier results have another dataset or budget; use another --output.")
    for table in ("fid", "rank", "seconds", "epochs"):
        results[table] = previous.get(table, {})
    # JSON turned the numeric keys into strings.
    results["accuracy"] = {
        method: {int(n): scores for n, scores in table.items()} for method, table in previous["accuracy"].items()
    }
    results["lambda"] = {float(alpha): row for alpha, row in previous["lambda"].items()}
    commands = previous.get("commands", [previous["command"]])
    results["commands"] = [*commands, results.pop("command")]
    results["earlier_wall_seconds"] = previous["wall_seconds"]
    return results


def write(results, args, started):
    results["wall_seconds"] = time.perf_counter() - started + results.get("earlier_wall_seconds", 0.0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results))


def markdown(results):
    budget = results["budget"]
    lines = [
        f"# LoRAE paper tables, reproduced on {results['dataset']}",
        "",
        *(f"Command: `{command}`  " for command in results.get("commands", [results.get("command")])),
        f"Budget: {budget['epochs']} epochs, batch {budget['batch_size']}, lr {budget['lr']}, "
        f"{budget['n_train']} training images, "
        f"FID on {budget['n_fid']} samples vs {budget['n_reference']} test images, "
        f"seed {budget['seed']}"
        + (f", output_init={results['output_init']!r}" if "output_init" in results else "")
        + "  ",
        f"Machine: {results['machine']}; wall time {results['wall_seconds'] / 60:.1f} min  ",
        *([f"Package: {results['package']}  "] if "package" in results else []),
        "Paper: 50 epochs, batch 32, latent 128, 10,000 samples (its figures are on the original MNIST files).",
        "",
    ]
    if results["fid"]:
        lines += [
            "## Tables 3 and 4: FID (Inception)",
            "",
            "| method | MVG (ours) | MVG (paper) | GMM (ours) | GMM (paper) | rank of test codes (ours) "
            "| KID x 1000, MVG (ours) | KID x 1000, GMM (ours) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for method, fid in results["fid"].items():
            paper = PAPER_FID.get(method, ("-", "-")) if results["dataset"] == "mnist" else ("-", "-")
            rank = results.get("rank", {}).get(method, "-")
            kids = [
                f"{1000 * fid[key][0]:.2f} ± {1000 * fid[key][1]:.2f}" if key in fid else "-"
                for key in ("kid_mvg", "kid_gmm")
            ]
            lines.append(
                f"| {method} | {fid['mvg']:.2f} | {paper[0]} | {fid['gmm']:.2f} | {paper[1]} | {rank} | "
                + " | ".join(kids)
                + " |"
            )
        lines += ["", "KID: mean ± standard deviation over 100 subsets of 1,000 (the paper reports no KID).", ""]
    if results["accuracy"]:
        lines += ["## Table 6: accuracy (%) of an MLP on frozen codes, by number of labels", ""]
        counts = sorted({int(n) for table in results["accuracy"].values() for n in table})
        lines += ["| method | " + " | ".join(str(n) for n in counts) + " |", "|---" * (len(counts) + 1) + "|"]
        for method, table in results["accuracy"].items():
            ours = [f"{table[n][0]:.1f} ± {table[n][1]:.1f}" if n in table else "-" for n in counts]
            lines.append(f"| {method} (ours) | " + " | ".join(ours) + " |")
            if method in PAPER_ACCURACY and results["dataset"] == "mnist":
                paper = dict(zip(LABEL_COUNTS, PAPER_ACCURACY[method]))
                lines.append(f"| {method} (paper) | " + " | ".join(str(paper.get(n, "-")) for n in counts) + " |")
        lines.append("")
    for method, table in results.get("epochs", {}).items():
        lines += [
            f"## {method}: per epoch (loss parts on the training batches; M, E(x) and rank on the test images)",
            "",
            "| epoch | loss | reconstruction | penalty | nuclear norm of M | largest singular value of M "
            "| mean norm of E(x) | rank of codes | seconds |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += epoch_rows(table)
        lines.append("")
    if "fid_floor" in results:
        lines += [
            f"FID of {budget['n_fid']} real training images against the same reference (a perfect generator's "
            f"score at this sample size): {results['fid_floor']:.2f}",
            "",
        ]
    if results["lambda"]:
        lines += [
            "## Table 7: lambda sweep (rank: singular values of the test codes' covariance above "
            f"{results['rank_tol']} x the largest)",
            "",
            "| lambda | rank (ours) | rank (paper) | GMM FID (ours) | GMM FID (paper) |",
            "|---|---|---|---|---|",
        ]
        for alpha, row in results["lambda"].items():
            paper = PAPER_LAMBDA.get(float(alpha), ("-", "-")) if results["dataset"] == "mnist" else ("-", "-")
            lines.append(f"| {alpha:g} | {row['rank']} | {paper[0]} | {row['gmm_fid']:.2f} | {paper[1]} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
