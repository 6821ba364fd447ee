"""Benchmark of sklearn_lorae.metrics: Fréchet distance speed and accuracy, Inception FIDs.

Two parts, each writing a JSON file next to ``results/frechet.md``:

``speed``
    ``frechet_distance`` against the formula of pytorch-fid / clean-fid (the trace of
    ``scipy.linalg.sqrtm(S_a @ S_b)``) at n = 10,000 samples and d = 64, 512, 2048
    features, in one process: wall times, speed ratio and relative difference. Timed
    from features (both sides compute means and covariances) and from precomputed
    statistics (the cross term alone).

``inception``
    FID with ``features="inception"`` of MNIST test (10k) against the first 10k MNIST
    training images, with its wall time, and two sanity checks: the two halves of
    MNIST test (small FID expected) and MNIST test against Fashion-MNIST test (large
    FID expected). Features are cached under ``--cache-dir`` so that an interrupted run
    resumes.

``inception-speed``
    Inception feature extraction on the CPU as the package does it (``CpuInception``:
    the frozen graph with batch normalisation folded, fused ReLUs, pooling after the
    pooling branches' 1 x 1 convolutions, the stem in chunks of images; inside
    ``retained_heap``), as it did before (its TorchScript graph: the published one
    without its ``contiguous()`` calls; inside ``retained_heap``), and with the
    published graph as it is, on the same MNIST test images, each run in a fresh
    process, interleaved: images per second, speed-ups, and how far the features differ
    from the published graph's and the previous path's (largest difference, and the
    Fréchet distance between the feature sets).

``gridsearch``
    ``GridSearchCV(LoRAEGenerator(), {"alpha": [...]}, scoring=make_fid_scorer(...))``
    on scikit-learn's digits, with a PCA fitted on the digits as the feature extractor
    (Inception on 8 x 8 digits would be slow and meaningless): the FID of each alpha
    and the one chosen.

Usage::

    python benchmarks/bench_frechet.py speed [--threads 1]
    python benchmarks/bench_frechet.py inception [--cache-dir /tmp/fid_features]
    python benchmarks/bench_frechet.py inception-speed [--n-images 512 --repeats 3 --threads 2]
    python benchmarks/bench_frechet.py gridsearch
"""

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import scipy
import scipy.linalg
import sklearn
import torch
from threadpoolctl import threadpool_info, threadpool_limits

import sklearn_lorae

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import FASHION_MNIST, load_fashion_mnist, load_mnist  # noqa: E402
from _feature_cache import DEFAULT_CACHE_DIR, cached_inception_features  # noqa: E402
from _machine import cpu_description  # noqa: E402

from sklearn_lorae.metrics import (  # noqa: E402
    feature_statistics,
    frechet_distance,
    frechet_distance_from_stats,
)

RESULTS = Path(__file__).parent / "results"


def sqrtm_frechet_from_stats(mean_a, cov_a, mean_b, cov_b):
    """The reference: pytorch-fid's and clean-fid's formula."""
    cross = scipy.linalg.sqrtm(cov_a @ cov_b)
    mean_term = np.sum((mean_a - mean_b) ** 2)
    return float(mean_term + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(cross).real)


def sqrtm_frechet(features_a, features_b):
    mean_a, cov_a = features_a.mean(axis=0), np.cov(features_a, rowvar=False)
    mean_b, cov_b = features_b.mean(axis=0), np.cov(features_b, rowvar=False)
    return sqrtm_frechet_from_stats(mean_a, cov_a, mean_b, cov_b)


def best_time(function, *args, repeats):
    """Result and smallest wall time of ``repeats`` calls (the least disturbed one)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return result, min(times)


def random_features(n_samples, n_features, rng):
    """Two sets with different means and full-rank, correlated covariances whose
    spectra decay like those of real network features."""
    scales = 1.0 / np.sqrt(1.0 + np.arange(n_features))
    sets = []
    for shift in (0.0, 0.1):
        mixing = rng.standard_normal((n_features, n_features)) / np.sqrt(n_features)
        sets.append(shift + (rng.standard_normal((n_samples, n_features)) * scales) @ mixing)
    return sets


def run_speed(args):
    rng = np.random.default_rng(0)
    rows = []
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for n_features in (64, 512, 2048):
            repeats = 1 if n_features >= 2048 else 5
            features_a, features_b = random_features(args.n_samples, n_features, rng)
            stats_a = feature_statistics(features_a)
            stats_b = feature_statistics(features_b)

            ours, ours_time = best_time(frechet_distance, features_a, features_b, repeats=repeats)
            reference, reference_time = best_time(sqrtm_frechet, features_a, features_b, repeats=repeats)
            ours_stats, ours_stats_time = best_time(frechet_distance_from_stats, *stats_a, *stats_b, repeats=repeats)
            reference_stats, reference_stats_time = best_time(
                sqrtm_frechet_from_stats, *stats_a, *stats_b, repeats=repeats
            )
            row = {
                "n_samples": args.n_samples,
                "n_features": n_features,
                "repeats": repeats,
                "frechet_distance": ours,
                "sqrtm_formula": reference,
                "relative_difference": abs(ours - reference) / abs(reference),
                "from_features_s": {"ours": ours_time, "sqrtm": reference_time},
                "speedup_from_features": reference_time / ours_time,
                "from_stats_s": {"ours": ours_stats_time, "sqrtm": reference_stats_time},
                "speedup_from_stats": reference_stats_time / ours_stats_time,
                "relative_difference_from_stats": abs(ours_stats - reference_stats) / abs(reference_stats),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    write_results(
        "frechet_speed.json",
        {"rows": rows, "threads": args.threads, "torch_threads": torch.get_num_threads()},
    )
    print()
    print(
        "| d | FD | sqrtm formula | rel. diff | from features: ours / sqrtm (ratio) "
        "| from stats: ours / sqrtm (ratio) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        f, s = r["from_features_s"], r["from_stats_s"]
        print(
            f"| {r['n_features']} | {r['frechet_distance']:.10g} | {r['sqrtm_formula']:.10g} "
            f"| {r['relative_difference']:.1e} "
            f"| {f['ours']:.3g} s / {f['sqrtm']:.3g} s ({r['speedup_from_features']:.1f}x) "
            f"| {s['ours']:.3g} s / {s['sqrtm']:.3g} s ({r['speedup_from_stats']:.1f}x) |"
        )


def run_inception(args):
    cache_dir = args.cache_dir
    mnist_train, _, mnist_test, _ = load_mnist(scaled=False)
    mnist_test, mnist_train = mnist_test[: args.n_images], mnist_train[: args.n_images]
    timings = {}
    results = {"n_images": args.n_images, "torch_threads": torch.get_num_threads()}

    test = cached_inception_features("mnist_test", mnist_test, cache_dir, timings)
    train = cached_inception_features("mnist_train_first", mnist_train, cache_dir, timings)
    start = time.perf_counter()
    results["fid_mnist_test_vs_train"] = frechet_distance(test, train)
    distance_s = time.perf_counter() - start
    # What fid_score(mnist_test, mnist_train) costs: both extractions and the distance.
    results["fid_mnist_test_vs_train_wall_s"] = (
        timings["mnist_test"]["wall_s"] + timings["mnist_train_first"]["wall_s"] + distance_s
    )
    results["fid_mnist_test_vs_train_cpu_s"] = timings["mnist_test"]["cpu_s"] + timings["mnist_train_first"]["cpu_s"]
    results["frechet_distance_s"] = distance_s
    half = len(test) // 2
    # MNIST's test set is ordered: its first 5,000 digits are the cleaner, easier ones
    # (LeCun et al.), so its two halves differ. A random split compares like with like.
    results["fid_mnist_test_first_vs_second_half"] = frechet_distance(test[:half], test[half:])
    order = np.random.default_rng(0).permutation(len(test))
    results["fid_mnist_test_random_halves"] = frechet_distance(test[order[:half]], test[order[half:]])
    write_results("frechet_inception.json", {**results, "feature_extraction": timings})
    print(json.dumps(results), flush=True)

    if FASHION_MNIST.exists():
        fashion_test = load_fashion_mnist(scaled=False)[2][: args.n_images]
        fashion = cached_inception_features("fashion_mnist_test", fashion_test, cache_dir, timings)
        results["fid_mnist_test_vs_fashion_mnist_test"] = frechet_distance(test, fashion)
    else:
        print(f"{FASHION_MNIST} not found: skipping MNIST vs Fashion-MNIST.")
    write_results("frechet_inception.json", {**results, "feature_extraction": timings})
    print(json.dumps({**results, "feature_extraction": timings}, indent=2))


INCEPTION_VARIANTS = {  # name: (network, retained heap)
    # The published TorchScript graph as it is.
    "published": ("published", False),
    # What extract_features did before section 2c: the published graph without its
    # contiguous() calls (load_inception), inside retained_heap.
    "previous": ("torchscript", True),
    # What extract_features does now: CpuInception (load_cpu_inception), inside retained_heap.
    "package": ("cpu", True),
}


def timed_inception_extraction(variant, images, batch_size, threads):
    """Seconds to set the network up; wall and CPU seconds (all threads) and features of
    one extraction; run in a fresh process, because retained_heap changes malloc's
    thresholds for the rest of its process."""
    import contextlib

    from sklearn_lorae import _features

    if threads is not None:
        torch.set_num_threads(threads)
    network, keep_heap = INCEPTION_VARIANTS[variant]
    loaders = {
        "published": _features.load_published_inception,
        "torchscript": _features.load_inception,
        "cpu": lambda device: _features.load_cpu_inception(),
    }
    start = time.perf_counter()
    loaded = loaders[network]("cpu")
    setup_s = time.perf_counter() - start
    if network == "cpu" and not isinstance(loaded, _features.CpuInception):
        raise RuntimeError("load_cpu_inception fell back to the TorchScript graph")
    feature_map = _features.InceptionFeatureMap((1, 28, 28), (0.0, 1.0), "cpu")
    feature_map.network = loaded
    if not keep_heap:
        _features.retained_heap = contextlib.nullcontext
    start, cpu_start = time.perf_counter(), time.process_time()
    features = _features.extract_features_in_batches(feature_map, images, batch_size)
    wall_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    return setup_s, wall_s, cpu_s, features, torch.get_num_threads()


def run_inception_speed(args):
    from sklearn_lorae.metrics import extract_features

    images = load_mnist()[2][: args.n_images]
    spawn = multiprocessing.get_context("spawn")
    seconds = {name: [] for name in INCEPTION_VARIANTS}
    setup_seconds = {name: [] for name in INCEPTION_VARIANTS}
    cpu_seconds = {name: [] for name in INCEPTION_VARIANTS}
    features = {}
    for _ in range(args.repeats):
        for name in INCEPTION_VARIANTS:
            with ProcessPoolExecutor(1, mp_context=spawn) as fresh_process:
                run = fresh_process.submit(
                    timed_inception_extraction, name, images, args.batch_size, args.threads
                ).result()
            setup_seconds[name].append(run[0])
            seconds[name].append(run[1])
            cpu_seconds[name].append(run[2])
            features[name] = run[3]
            torch_threads = run[4]
            print(name, round(seconds[name][-1], 2), flush=True)
    # The public function computes what the "package" variant timed.
    np.testing.assert_array_equal(
        extract_features(images[:8], image_shape=(1, 28, 28), device="cpu"), features["package"][:8]
    )
    median = {name: float(np.median(times)) for name, times in seconds.items()}
    results = {
        "n_images": args.n_images,
        "batch_size": args.batch_size,
        "torch_threads": torch_threads,
        "variants": {
            name: {"network": network, "retained_heap": heap} for name, (network, heap) in INCEPTION_VARIANTS.items()
        },
        "seconds": seconds,
        # CPU time of the process, all threads: less sensitive than wall time to other
        # work on a shared machine, but it counts threads spinning while they wait.
        "cpu_seconds": cpu_seconds,
        "setup_seconds": setup_seconds,
        "images_per_second": {name: args.n_images / value for name, value in median.items()},
        "speedup_over_published": {name: median["published"] / value for name, value in median.items()},
        "speedup_over_previous": {name: median["previous"] / value for name, value in median.items()},
        "max_abs_feature": float(np.abs(features["published"]).max()),
    }
    for reference in ("published", "previous"):
        results[f"max_abs_feature_difference_from_{reference}"] = {
            name: float(np.abs(features[name] - features[reference]).max()) for name in INCEPTION_VARIANTS
        }
        results[f"frechet_distance_from_{reference}"] = {
            name: frechet_distance(features[name], features[reference]) for name in INCEPTION_VARIANTS
        }
    write_results("frechet_inception_speed.json", results)
    print(json.dumps(results, indent=2))


def run_gridsearch(args):
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import GridSearchCV

    from sklearn_lorae import LoRAEGenerator
    from sklearn_lorae.metrics import make_fid_scorer

    X = load_digits().data / 16.0
    alphas = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    features = PCA(16, random_state=0).fit(X)
    start = time.perf_counter()
    search = GridSearchCV(
        LoRAEGenerator(latent_dim=16, max_epochs=args.max_epochs, random_state=0),
        {"alpha": alphas},
        scoring=make_fid_scorer(features=features, random_state=0),
        cv=3,
    ).fit(X)
    results = {
        "data": "load_digits / 16 (1797 x 64), 3-fold CV",
        "estimator": f"LoRAEGenerator(latent_dim=16, max_epochs={args.max_epochs}, random_state=0)",
        "features": "PCA(16) fitted on the digits",
        "fid_per_alpha": {str(alpha): -score for alpha, score in zip(alphas, search.cv_results_["mean_test_score"])},
        "latent_rank_per_alpha": {},
        "best_alpha": search.best_params_["alpha"],
        "wall_s": time.perf_counter() - start,
    }
    for alpha in alphas:
        model = LoRAEGenerator(latent_dim=16, max_epochs=args.max_epochs, alpha=alpha, random_state=0).fit(X)
        results["latent_rank_per_alpha"][str(alpha)] = model.latent_rank_
    write_results("frechet_gridsearch.json", results)
    print(json.dumps(results, indent=2))


def write_results(name, payload):
    blas = [{k: info.get(k) for k in ("internal_api", "version", "num_threads")} for info in threadpool_info()]
    payload = {
        **payload,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{cpu_description()}, {os.cpu_count()} CPU cores (shared with other work)",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "torch": torch.__version__,
            "sklearn_lorae": sklearn_lorae.__version__,
        },
        "threadpools": blas,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(payload, indent=2) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    speed = commands.add_parser("speed", help="Fréchet distance vs the sqrtm formula")
    speed.add_argument("--n-samples", type=int, default=10_000)
    speed.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS and torch threads for both methods (default: the libraries' own)",
    )
    inception = commands.add_parser("inception", help="Inception FIDs on MNIST")
    inception.add_argument("--n-images", type=int, default=10_000)
    inception.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR)
    inception_speed = commands.add_parser(
        "inception-speed", help="the package's CPU Inception network vs its previous graph and the published one"
    )
    inception_speed.add_argument("--n-images", type=int, default=512)
    inception_speed.add_argument("--batch-size", type=int, default=64)
    inception_speed.add_argument("--repeats", type=int, default=3)
    inception_speed.add_argument(
        "--threads", type=int, default=None, help="torch threads in each process (default: torch's own)"
    )
    gridsearch = commands.add_parser("gridsearch", help="GridSearchCV over alpha by FID")
    gridsearch.add_argument("--max-epochs", type=int, default=50)
    args = parser.parse_args()
    commands = {
        "speed": run_speed,
        "inception": run_inception,
        "inception-speed": run_inception_speed,
        "gridsearch": run_gridsearch,
    }
    commands[args.command](args)


if __name__ == "__main__":
    main()
