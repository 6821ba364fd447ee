"""How the GMM FID of a trained model moves with the latent density's settings.

The LoRAE paper's GMM FIDs (Table 4) match ours for the AE but not for LoRAE (17.26
against 11.09), whose MVG FID matches (18.81 against 19.50). Without training anything,
this script takes the committed 50-epoch models and refits only the density on their
codes, then scores ``--n-fid`` decoded samples of each density against the 10,000 test
images, as ``reproduce_mnist.py`` does (Inception FID and KID, samples seed 0):

- ``package``: the model's own ``density_`` (the package's ``sampler="gmm"``: 4
  full-covariance components, k-means++ start, ``tol=1e-2``, on the 60,000 training
  codes); its FID is the committed figure, computed again (a check of this pipeline);
- ``sklearn-4-full``: ``GaussianMixture(4, covariance_type="full")`` with scikit-learn's
  defaults (k-means start, ``tol=1e-3``, one initialisation) on the training codes;
- ``sklearn-4-full-test``: the same fitted to the codes of the 10,000 *test* images, the
  reference of the FID: what facebookresearch/irmae's ``generation.py`` does (its
  ``--task gmm`` and ``mvg`` fit the test loader's codes, ``-d 4`` components), the code
  the LoRAE paper compares with;
- ``sklearn-4-full-ninit5``: five initialisations, the best likelihood kept;
- ``sklearn-10-full``: ten components, as the RAE paper (Ghosh et al.);
- ``sklearn-4-diag``: diagonal covariances;
- ``sklearn-4-full-rs1`` .. ``-rs3``: ``sklearn-4-full`` with the mixture's start and draws
  seeded 1 to 3 instead of ``--seed``: the spread a rerun sees. The LoRAE authors' own
  ``generation.py`` (tirthajit/LoRAE_WACV24) passes no ``random_state``, so each of their
  runs drew one such fit; it fits the codes of MNIST's *training* images (its ``test_set``
  is ``datasets.MNIST(train=True)``), 4 full components, scikit-learn's defaults.

``--reference train`` scores against the first ``--n-reference`` *training* images
instead: that ``generation.py`` writes its FID reference from the same training loader.

Checkpoints are the pickles of ``benchmarks/checkpoints/mnist_cpu_50epochs`` (or
``save_model`` files). Results are kept per model and setting in ``<output>.json``, so an
interrupted run goes on. Example (the committed result)::

    python benchmarks/gmm_fid_settings.py --threads 1 --models lorae irmae \\
        --settings package sklearn-4-full-test sklearn-4-full sklearn-10-full \\
        sklearn-4-full-ninit5 sklearn-4-diag --output benchmarks/results/gmm_fid_settings
"""

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reproduce_mnist  # noqa: E402
from _data import load_mnist  # noqa: E402
from _feature_cache import DEFAULT_CACHE_DIR, cached_inception_features  # noqa: E402
from _machine import resumable_results, write_results  # noqa: E402

CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints" / "mnist_cpu_50epochs"

#: setting -> (GaussianMixture parameters, codes it is fitted to); None: the model's own density.
SETTINGS = {
    "package": None,
    "sklearn-4-full": (dict(n_components=4, covariance_type="full"), "train"),
    "sklearn-4-full-test": (dict(n_components=4, covariance_type="full"), "test"),
    "sklearn-4-full-ninit5": (dict(n_components=4, covariance_type="full", n_init=5), "train"),
    "sklearn-10-full": (dict(n_components=10, covariance_type="full"), "train"),
    "sklearn-4-diag": (dict(n_components=4, covariance_type="diag"), "train"),
    **{
        f"sklearn-4-full-rs{seed}": (dict(n_components=4, covariance_type="full", random_state=seed), "train")
        for seed in (1, 2, 3)
    },
}


def load_checkpoint(folder, method):
    path = folder / f"{method}.pt"
    return reproduce_mnist.load_checkpoint(path if path.exists() else path.with_suffix(".pkl"))


def samples_of(generator, setting, codes, args):
    """``args.n_fid`` decoded samples of the density ``setting``, and what its fit took."""
    if SETTINGS[setting] is None:
        return generator.sample(args.n_fid, random_state=args.seed), {}
    params, fitted_to = SETTINGS[setting]
    start = time.perf_counter()
    density = GaussianMixture(**{"random_state": args.seed, **params}).fit(codes[fitted_to])
    fit = {
        "fit_seconds": time.perf_counter() - start,
        "n_iter": int(density.n_iter_),
        "converged": bool(density.converged_),
        "mean_log_likelihood_train": float(density.score(codes["train"])),
        "mean_log_likelihood_test": float(density.score(codes["test"])),
    }
    draws = density.sample(args.n_fid)[0].astype(np.float32)
    return generator.inverse_transform(draws), fit


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["lorae", "irmae"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--checkpoint-dir", type=Path, default=CHECKPOINTS)
    parser.add_argument("--n-fid", type=int, default=10000)
    parser.add_argument("--n-reference", type=int, default=10000)
    parser.add_argument("--n-train", type=int, default=None, help="training codes (smoke tests)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--reference",
        choices=["test", "train"],
        default="test",
        help="the FID's reference: the first --n-reference test images (this page's) or training images "
        "(what the LoRAE authors' generation.py writes for MNIST)",
    )
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR, help="Inception features of the reference images")
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # What reproduce_mnist's FID helpers read.
    scoring = SimpleNamespace(device="cpu", seed=args.seed, save_features=None, dataset="mnist", epochs=50)

    pixels_train, _, pixels_test, _ = load_mnist(scaled=False)
    X_train = pixels_train[: args.n_train].astype(np.float32) / 127.5 - 1.0
    X_test = pixels_test[: args.n_reference].astype(np.float32) / 127.5 - 1.0
    # The cache names of the other benchmarks, so that they share the features.
    name, pixels = ("mnist_test", pixels_test) if args.reference == "test" else ("mnist_train_first", pixels_train)
    reference = reproduce_mnist.Reference(
        cached_inception_features(name, pixels[: args.n_reference], args.cache_dir, {})
    )
    budget = {"n_fid": args.n_fid, "n_reference": args.n_reference, "n_train": len(X_train), "seed": args.seed}
    if args.reference != "test":  # the results written before --reference existed stay resumable
        budget["reference"] = args.reference
    results = resumable_results(args.output, budget, "fid")
    for method in args.models:
        todo = [setting for setting in args.settings if setting not in results["fid"].get(method, {})]
        if not todo:
            continue
        generator = load_checkpoint(args.checkpoint_dir, method)
        # float64, once: in float32 the covariance of low-rank codes can fail its Cholesky factorisation.
        codes = {name: generator.transform(X).astype(np.float64) for name, X in (("train", X_train), ("test", X_test))}
        for setting in todo:
            start = time.perf_counter()
            samples, fit = samples_of(generator, setting, codes, args)
            fid, kid = reproduce_mnist.fid_and_kid_against(reference, samples, scoring)
            row = {"fid": fid, "kid": kid, **fit, "seconds": time.perf_counter() - start}
            results["fid"].setdefault(method, {})[setting] = row
            print(method, setting, f"FID {fid:.2f}", flush=True)
            write_results(results, args.output, markdown)


def markdown(results):
    budget = results["budget"]
    lines = [
        "# GMM FID of the 50-epoch MNIST models against the latent density's settings",
        "",
        *(f"Command: `{command}`  " for command in results["commands"]),
        f"Machine: {'; '.join(results['machines'])}  ",
        f"Package: {'; '.join(results.get('packages', [results['package']]))}  ",
        f"FID and KID of {budget['n_fid']} samples (seed {budget['seed']}) against the first "
        f"{budget['n_reference']} {budget.get('reference', 'test')} images; densities fitted to the codes of "
        f"{budget['n_train']} training images unless marked test. "
        "The models are the committed checkpoints; only the density changes.",
        "",
        "| model | setting | FID | KID x 1000 | EM iterations | mean log-likelihood, train / test codes |",
        "|---|---|---|---|---|---|",
    ]
    for method, rows in results["fid"].items():
        for setting, row in rows.items():
            likelihood = (
                f"{row['mean_log_likelihood_train']:.1f} / {row['mean_log_likelihood_test']:.1f}"
                if "mean_log_likelihood_train" in row
                else "-"
            )
            lines.append(
                f"| {method} | {setting} | {row['fid']:.2f} | {1000 * row['kid'][0]:.2f} ± {1000 * row['kid'][1]:.2f} "
                f"| {row.get('n_iter', '-')} | {likelihood} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
