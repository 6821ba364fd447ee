"""Fit time of LoRAETransformer against a plain PyTorch loop on the same net.

In one run, on MNIST (../shared/data/mnist.npz) with the LoRAE paper's MNIST net
(image_shape=(1, 28, 28), latent_dim=128), for each batch size:

- ``plain``: a hand-written eager loop, identical module (default memory format), loss
  (mean squared error + alpha * nuclear norm), Adam with its defaults, the same seed and
  so the same initial weights and batch order; ``plain_fused_adam``,
  ``plain_fused_adam_channels_last`` and ``plain_fused_adam_channels_last_retained_heap``:
  the same loop with the estimator's three changes added one at a time;
- ``lorae``: ``LoRAETransformer(regularizer="nuclear").fit`` (training loop timed by skorch's
  epoch timer, and the whole ``fit`` including the post-fit work);
- ``ae``: the same with ``regularizer="none"``.

Every timed run is a fresh process: the estimator changes glibc's malloc thresholds for
the rest of its process (``sklearn_lorae._allocator``), which would otherwise carry over to
the plain loops timed after it.

With ``--post-fit``: on the first ``--post-fit-samples`` training images, one epoch of
``LoRAEGenerator.fit`` against everything it does afterwards (encoding the training set,
the latent spectrum, the GMM), with a breakdown.

Runs are interleaved (plain, lorae, ae, plain, ...) and each ratio is the ratio of medians,
so that a machine busy with other work slows all of them alike. Usage::

    python benchmarks/bench_fit_overhead.py --n-samples 2048 --repeats 3 --threads 1 --post-fit \
        --output benchmarks/results/fit_overhead.json
"""

import argparse
import contextlib
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_mnist  # noqa: E402
from _machine import cpu_description  # noqa: E402

from sklearn_lorae import LoRAEGenerator, LoRAETransformer  # noqa: E402
from sklearn_lorae._allocator import retained_heap  # noqa: E402
from sklearn_lorae._density import fit_gaussian_mixture  # noqa: E402
from sklearn_lorae.metrics import latent_rank, latent_singular_values  # noqa: E402

IMAGE_SHAPE = (1, 28, 28)


def plain_setup(estimator, X, fused=None, channels_last=False):
    """What a user would write by hand: the estimator's own module (default memory
    format) and Adam with its defaults, seeded as the estimator seeds itself (same initial
    weights, same batches: the batches' order comes from a generator of its own, seeded
    alike). Returns the module, the optimizer, the images as a tensor and that generator.
    ``fused`` and ``channels_last`` add the estimator's changes, to see what each gives."""
    seed = check_random_state(estimator.random_state).randint(np.iinfo(np.int32).max)
    torch.manual_seed(seed)
    estimator.n_features_in_ = X.shape[1]  # _build_module reads it
    module = estimator._build_module(IMAGE_SHAPE)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(module.parameters(), lr=estimator.lr, fused=fused)
    return module, optimizer, torch.from_numpy(X).view(-1, *IMAGE_SHAPE), torch.Generator().manual_seed(seed)


def plain_step(module, optimizer, batch):
    """One training step of the plain loop; returns the batch's loss (a tensor)."""
    optimizer.zero_grad()
    reconstruction, h, z = module(batch)
    loss = torch.nn.functional.mse_loss(reconstruction, batch)
    penalty = module.penalty(h, z)
    if penalty is not None:
        loss = loss + penalty
    loss.backward()
    optimizer.step()
    return loss


def plain_loop(estimator, X, fused=None, channels_last=False):
    """Trains as :func:`plain_setup` sets up, in a bare loop. Returns the seconds, the
    last epoch's mean loss and the latent rank of the training codes."""
    module, optimizer, inputs, generator = plain_setup(estimator, X, fused=fused, channels_last=channels_last)
    start = time.perf_counter()
    for _ in range(estimator.max_epochs):
        order = torch.randperm(len(inputs), generator=generator)
        epoch_loss = 0.0
        for first in range(0, len(inputs), estimator.batch_size):
            batch = inputs[order[first : first + estimator.batch_size]]
            epoch_loss += plain_step(module, optimizer, batch).item() * len(batch)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        codes = torch.cat([module.eval().encode(part) for part in torch.split(inputs, 1024)])
    return seconds, epoch_loss / len(inputs), latent_rank(latent_singular_values(codes.numpy()))


PLAIN_VARIANTS = {  # name: (fused Adam, channels-last, retained heap)
    "plain": (None, False, False),
    "plain_fused_adam": (True, False, False),
    "plain_fused_adam_channels_last": (True, True, False),
    "plain_fused_adam_channels_last_retained_heap": (True, True, True),
}
VARIANTS = [*PLAIN_VARIANTS, "lorae", "ae"]


def timed_run(variant, X, batch_size, repeat, settings, threads):
    """One timed training of ``variant``; run in a fresh process (see the module docstring)."""
    if threads:
        torch.set_num_threads(threads)
    regularizer = "none" if variant == "ae" else "nuclear"
    estimator = LoRAETransformer(batch_size=batch_size, regularizer=regularizer, random_state=repeat, **settings)
    if variant in PLAIN_VARIANTS:
        fused, channels_last, keep_heap = PLAIN_VARIANTS[variant]
        with retained_heap() if keep_heap else contextlib.nullcontext():
            seconds, loss, rank = plain_loop(estimator, X, fused=fused, channels_last=channels_last)
        return {"training": seconds, "loss": loss, "rank": rank}
    training, total, loss, rank = estimator_fit(estimator, X)
    return {"training": training, "fit": total, "loss": loss, "rank": rank}


def estimator_fit(estimator, X):
    start = time.perf_counter()
    estimator.fit(X)
    total = time.perf_counter() - start
    training = float(sum(estimator.net_.history[:, "dur"]))
    return training, total, float(estimator.net_.history[-1, "train_loss"]), estimator.latent_rank_


class _TimedGenerator(LoRAEGenerator):
    """LoRAEGenerator that times the steps of its post-fit work as fit runs them."""

    def _encode(self, X, module=None):
        start = time.perf_counter()
        codes = super()._encode(X, module)
        self.post_fit_parts_["encode_training_set"] = time.perf_counter() - start
        self.training_codes_ = codes  # kept, so that nothing encodes the training set again
        return codes

    def _fit_latent_model(self, latents, seed):
        start = time.perf_counter()
        super()._fit_latent_model(latents, seed)
        self.post_fit_parts_["density"] = time.perf_counter() - start


def density_settings(codes, seeds=(0, 1, 2)):
    """The latent mixture as LoRAEGenerator fits it (``_density.fit_gaussian_mixture``: float32,
    k-means++ start, tol=1e-2) against the same with scikit-learn's tol=1e-3 and against
    scikit-learn's defaults (float64, k-means start, tol=1e-3), on the same codes: EM
    iterations, seconds and the mean log-likelihood per code (scored in float64)."""

    def scikit_learn(dtype, **options):
        def fit(codes, seed):
            return GaussianMixture(4, covariance_type="full", random_state=seed, **options).fit(codes.astype(dtype))

        return fit

    settings = {
        "package": lambda codes, seed: fit_gaussian_mixture(codes, 4, seed),
        "package_with_tol_1e-3": scikit_learn(np.float32, init_params="k-means++", tol=1e-3),
        "scikit-learn_defaults": scikit_learn(np.float64, init_params="kmeans", tol=1e-3),
    }
    results = {}
    for name, fit in settings.items():
        for seed in seeds:
            start = time.perf_counter()
            mixture = fit(codes, seed)
            results.setdefault(name, []).append({
                "seed": seed,
                "seconds": time.perf_counter() - start,
                "n_iter": int(mixture.n_iter_),
                "mean_log_likelihood": float(mixture.score(codes.astype(np.float64))),
            })  # fmt: skip
            print(name, results[name][-1], flush=True)
    return results


def post_fit_cost(X, batch_size, compare_density_settings=False):
    """Everything LoRAEGenerator.fit does after its last epoch (encoding the training set,
    the latent spectrum, the GMM), against the epoch itself, with a breakdown."""
    generator = _TimedGenerator(
        image_shape=IMAGE_SHAPE, latent_dim=128, max_epochs=1, batch_size=batch_size, device="cpu", random_state=0
    )
    generator.post_fit_parts_ = {}
    start = time.perf_counter()
    generator.fit(X)
    total = time.perf_counter() - start
    epoch = float(generator.net_.history[-1, "dur"])
    codes = generator.training_codes_
    start = time.perf_counter()
    latent_singular_values(codes)
    spectrum = time.perf_counter() - start
    density = generator.density_
    comparison = {"density_settings": density_settings(codes)} if compare_density_settings else {}
    return {
        "n_samples": len(X),
        "batch_size": batch_size,
        "epoch_seconds": epoch,
        "fit_seconds": total,
        "post_fit_seconds": total - epoch,
        "post_fit_over_epoch": (total - epoch) / epoch,
        "post_fit_parts_seconds": {**generator.post_fit_parts_, "latent_spectrum": spectrum},
        # The dtype the mixture's parameters are stored in: float64 since the float32 fit is
        # converted (_density.in_float64); the fit itself runs in float32 unless it cannot.
        "density": {
            "stored_dtype": str(density.means_.dtype),
            "n_iter": int(density.n_iter_),
            "converged": bool(density.converged_),
        },
        **comparison,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-samples", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[32, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--post-fit", action="store_true", help="also measure the post-fit cost on --post-fit-samples")
    parser.add_argument("--post-fit-samples", type=int, default=60000)
    parser.add_argument(
        "--density-settings", action="store_true",
        help="with --post-fit: compare the latent mixture's settings with scikit-learn's on the same codes",
    )  # fmt: skip
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    X = load_mnist()[0][: args.n_samples]
    # torch's initialisation in the estimator too, so that the plain loop (which builds the
    # same modules without the estimator's data-mean output bias) trains the same net.
    settings = dict(image_shape=IMAGE_SHAPE, latent_dim=128, max_epochs=args.epochs, device="cpu", output_init="torch")
    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{cpu_description()}, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "n_samples": args.n_samples,
        "epochs": args.epochs,
        "batch_sizes": {},
    }
    spawn = multiprocessing.get_context("spawn")
    for batch_size in args.batch_sizes:
        times = {name: [] for name in PLAIN_VARIANTS}
        times.update({"lorae_training": [], "lorae_fit": [], "ae_training": [], "ae_fit": []})
        losses, ranks = {}, {}
        for repeat in range(args.repeats):
            for variant in VARIANTS:
                with ProcessPoolExecutor(1, mp_context=spawn) as fresh_process:
                    run = fresh_process.submit(
                        timed_run, variant, X, batch_size, repeat, settings, args.threads
                    ).result()
                losses[variant], ranks[variant] = run["loss"], run["rank"]
                if variant in PLAIN_VARIANTS:
                    times[variant].append(run["training"])
                else:
                    times[f"{variant}_training"].append(run["training"])
                    times[f"{variant}_fit"].append(run["fit"])
            print(batch_size, repeat, {k: round(v[-1], 2) for k, v in times.items()}, losses, ranks, flush=True)
        median = {k: float(np.median(v)) for k, v in times.items()}
        results["batch_sizes"][batch_size] = {
            "seconds": times,
            "median_seconds": median,
            "last_epoch_mean_loss": losses,
            "latent_rank": ranks,
            "ratio_lorae_training_over_plain": median["lorae_training"] / median["plain"],
            "ratio_plain_fused_adam_over_plain": median["plain_fused_adam"] / median["plain"],
            "ratio_plain_fused_adam_channels_last_over_plain": median["plain_fused_adam_channels_last"]
            / median["plain"],
            "ratio_plain_fused_adam_channels_last_retained_heap_over_plain": (
                median["plain_fused_adam_channels_last_retained_heap"] / median["plain"]
            ),
            "ratio_lorae_fit_over_plain": median["lorae_fit"] / median["plain"],
            "ratio_lorae_over_ae_training": median["lorae_training"] / median["ae_training"],
        }
        print(json.dumps(results["batch_sizes"][batch_size], indent=1), flush=True)
    if args.post_fit:
        results["post_fit"] = post_fit_cost(
            load_mnist()[0][: args.post_fit_samples], batch_size=128, compare_density_settings=args.density_settings
        )
        print(json.dumps(results["post_fit"], indent=1), flush=True)
    if args.output:
        args.output.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
