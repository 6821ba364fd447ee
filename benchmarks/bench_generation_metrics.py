"""Cross-check and timing of sklearn_lorae's generative metrics against the reference packages.

On the same feature arrays, two pairs of sets (from one distribution, and from two):

- KID (``kernel_distance``) against torch-fidelity's ``kid_features_to_metric`` and
  clean-fid's ``kernel_distance``, on the same subsets (one seed draws the same ones);
- precision, recall, density, coverage against the ``prdc`` package's ``compute_prdc``
  (with one k for all four, as it computes them; and precision / recall at k=3);
- FID (``frechet_distance``) against clean-fid's and torch-fidelity's functions and
  the trace of ``scipy.linalg.sqrtm`` (pytorch-fid's formula);
- KID and the four others against their published formulas written out here (full
  kernel and distance matrices), up to 4,000 samples.

``--timing`` also times each metric, ours against each reference package, on the
first pair: ``--repeats`` rounds, each calling ours and then every reference once, so
that a slow spell of the machine hits all alike; the best wall time of each, the CPU
time of that call (more than the wall time where a package runs threads of its own:
prdc computes its distances with ``n_jobs=8`` joblib threads whatever the BLAS limit),
and the ratio of the reference's best wall time over ours. It measures our peak memory
beyond the inputs (tracemalloc) in a separate untimed call. For a comparison on one
core, run the script under ``taskset -c 1``: ``--threads`` limits BLAS and torch, not
prdc's threads.

Features: ``--features random`` (default) draws non-negative, correlated features of
width ``--d`` like Inception's; ``--features mnist`` uses the Inception features of the
MNIST test images (cached under ``--cache-dir``, shared with ``bench_frechet.py``)
against those of the first training images, or of generated images in ``--generated``
(an .npy of features), and two random halves of the test set.

torch-fidelity and clean-fid import torchvision for their feature extractors, which
their KID and FID functions do not use; where torchvision cannot be imported (its
wheels for torch 2.13.0 are CUDA builds, whose operators do not load next to
torch 2.13.0+cpu), it is replaced by an empty stand-in module and the results say so.

Usage::

    pip install --no-deps torch-fidelity clean-fid prdc  # optional references
    python benchmarks/bench_generation_metrics.py --n 1000 --d 64
    python benchmarks/bench_generation_metrics.py --timing  # 10,000 x 2048, idle machine
"""

import argparse
import contextlib
import datetime
import importlib.abc
import importlib.machinery
import importlib.metadata
import io
import json
import os
import sys
import time
import tracemalloc
import types
from pathlib import Path

import numpy as np
import scipy.spatial.distance
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _feature_cache import DEFAULT_CACHE_DIR, cached_inception_features
from _machine import cpu_description, package_description
from bench_frechet import sqrtm_frechet

from sklearn_lorae.metrics import frechet_distance, generation_scores, kernel_distance, precision_recall

RESULTS = Path(__file__).parent / "results"
FORMULA_MAX_SAMPLES = 4000
MANIFOLD_METRICS = ("precision", "recall", "density", "coverage")


# ------------------------------------------------------------------ reference packages
class _AnyAttribute(type):
    """Classes whose every attribute is another such class: enough for module-level
    ``class X(torchvision.models.inception.InceptionA)`` statements to run."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _AnyAttribute(name, (), {})


class _StandInModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _AnyAttribute(name, (), {})


class _TorchvisionStandIn(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname == "torchvision" or fullname.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StandInModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def import_references():
    """The reference functions that import, and a line per package on how."""
    status, functions = {}, {}
    try:
        import torchvision  # noqa: F401

        stand_in = ""
    except Exception as error:  # a CUDA build fails with RuntimeError, not ImportError
        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        sys.meta_path.insert(0, _TorchvisionStandIn())
        stand_in = f" (torchvision replaced by an empty stand-in: {type(error).__name__}: {str(error)[:80]})"
    for package, loader in [
        ("torch-fidelity", _load_torch_fidelity),
        ("clean-fid", _load_clean_fid),
        ("prdc", _load_prdc),
    ]:
        try:
            functions[package] = loader()
            uses_torchvision = package != "prdc"
            version = importlib.metadata.version(package)
            status[package] = f"{package} {version}{stand_in if uses_torchvision else ''}"
        except Exception as error:
            status[package] = f"{package}: not available ({type(error).__name__}: {error})"
    return functions, status


def _load_torch_fidelity():
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    def kid(a, b, n_subsets, subset_size, seed):
        result = kid_features_to_metric(
            torch.from_numpy(a),
            torch.from_numpy(b),
            kid_subsets=n_subsets,
            kid_subset_size=subset_size,
            rng_seed=seed,
            verbose=False,
        )
        return result["kernel_inception_distance_mean"], result["kernel_inception_distance_std"]

    def fid(a, b):
        statistics = [fid_features_to_statistics(torch.from_numpy(features)) for features in (a, b)]
        return fid_statistics_to_metric(*statistics, verbose=False)["frechet_inception_distance"]

    return {"kid": kid, "fid": fid}


def _load_clean_fid():
    from cleanfid import fid as cleanfid

    def kid(a, b, n_subsets, subset_size, seed):
        # clean-fid draws from its second set first, from numpy's global generator.
        np.random.seed(seed)
        return cleanfid.kernel_distance(b, a, num_subsets=n_subsets, max_subset_size=subset_size), None

    def fid(a, b):
        return cleanfid.frechet_distance(
            a.mean(axis=0), np.cov(a, rowvar=False), b.mean(axis=0), np.cov(b, rowvar=False)
        )

    return {"kid": kid, "fid": fid}


def _load_prdc():
    from prdc import compute_prdc

    def manifold(a, b, nearest_k):
        with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
            return {name: float(value) for name, value in compute_prdc(a, b, nearest_k=nearest_k).items()}

    return {"manifold": manifold}


# ------------------------------------------------------------------ published formulas
def formula_kid(a, b, n_subsets, subset_size, seed):
    """Bińkowski et al.'s unbiased MMD^2, cubic kernel, on torch-fidelity's subsets."""
    rng = np.random.RandomState(seed)
    estimates = []
    for _ in range(n_subsets):
        x = a[rng.choice(len(a), subset_size, replace=False)]
        y = b[rng.choice(len(b), subset_size, replace=False)]
        kernel = lambda u, v: (u @ v.T / a.shape[1] + 1) ** 3
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        m = subset_size
        within = k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)
        estimates.append(within / (m * (m - 1)) - 2 * k_xy.sum() / m**2)
    return float(np.mean(estimates)), float(np.std(estimates))


def formula_manifold(real, fake, nearest_k):
    """Kynkäänniemi et al.'s precision / recall and Naeem et al.'s density / coverage
    from the full distance matrices."""
    real_real = scipy.spatial.distance.cdist(real, real)
    fake_fake = scipy.spatial.distance.cdist(fake, fake)
    real_fake = scipy.spatial.distance.cdist(real, fake)
    # The k-th nearest other sample: the (k+1)-th smallest distance, the first being 0.
    real_radii = np.sort(real_real, axis=1)[:, nearest_k]
    fake_radii = np.sort(fake_fake, axis=1)[:, nearest_k]
    in_real_balls = real_fake < real_radii[:, None]
    return {
        "precision": float(in_real_balls.any(axis=0).mean()),
        "recall": float((real_fake < fake_radii[None, :]).any(axis=1).mean()),
        "density": float(in_real_balls.sum(axis=0).mean() / nearest_k),
        "coverage": float((real_fake.min(axis=1) < real_radii).mean()),
    }


# ---------------------------------------------------------------------------- features
def random_features(n_samples, n_features, seed):
    """Non-negative features with correlated, decaying spectra, as Inception's: two sets
    of one distribution, and one of another (shifted and rescaled)."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((n_features, n_features)) / np.sqrt(n_features)
    scales = 1.0 / np.sqrt(1.0 + np.arange(n_features))

    def draw(shift, scale):
        return np.abs(shift + scale * (rng.standard_normal((n_samples, n_features)) * scales) @ mixing)

    first, second, other = draw(0.0, 1.0), draw(0.0, 1.0), draw(0.05, 1.1)
    return {"two sets of one distribution": (first, second), "two distributions": (first, other)}


def mnist_features(args):
    from _data import load_mnist

    mnist_train, _, mnist_test, _ = load_mnist(scaled=False)
    timings = {}
    test = cached_inception_features("mnist_test", mnist_test[: args.n], args.cache_dir, timings)
    if args.generated:
        other, other_name = np.load(args.generated)[: args.n].astype(np.float64), f"generated ({args.generated})"
    else:
        train = mnist_train[: args.n]
        other, other_name = cached_inception_features("mnist_train_first", train, args.cache_dir, timings), "train"
    order = np.random.default_rng(args.seed).permutation(len(test))
    half = len(test) // 2
    return {
        f"MNIST test vs {other_name}": (test, other),
        "MNIST test, random halves": (test[order[:half]], test[order[half:]]),
    }


# ------------------------------------------------------------------------- cross-check
def relative_difference(ours, reference, scale=0.0):
    """``|ours - reference|`` relative to the reference, or to ``scale`` where that is
    larger (a standard deviation of 0 against one of rounding size)."""
    return abs(ours - reference) / max(abs(reference), scale, 1e-300)


def cross_check(a, b, args, references):
    """Every metric by us and by each reference, with the largest relative difference."""
    size = min(len(a), len(b), args.subset_size)
    rows = {}

    def add(metric, ours, theirs, scale=0.0):
        theirs = {name: value for name, value in theirs.items() if value is not None}
        largest = max((relative_difference(ours, value, scale) for value in theirs.values()), default=None)
        rows[metric] = {"ours": ours, **theirs, "largest_relative_difference": largest}

    with_formula = max(len(a), len(b)) <= FORMULA_MAX_SAMPLES
    kid = kernel_distance(a, b, n_subsets=args.n_subsets, subset_size=size, random_state=args.seed)
    kid_references = {
        name: functions["kid"](a, b, args.n_subsets, size, args.seed)
        for name, functions in references.items()
        if "kid" in functions
    }
    if with_formula:
        kid_references["formula"] = formula_kid(a, b, args.n_subsets, size, args.seed)
    add("kid", kid[0], {name: value[0] for name, value in kid_references.items()})
    # A standard deviation is compared relative to the KID itself: with every subset the
    # whole set, ours is 0 and the references' are of rounding size.
    add("kid_std", kid[1], {name: value[1] for name, value in kid_references.items()}, scale=abs(kid[0]))

    fid_references = {name: functions["fid"](a, b) for name, functions in references.items() if "fid" in functions}
    fid_references["formula"] = sqrtm_frechet(a, b)
    add("fid", frechet_distance(a, b), fid_references)

    for nearest_k, metrics in [(args.nearest_k, MANIFOLD_METRICS), (3, ("precision", "recall"))]:
        ours = generation_scores(a, b, metrics=metrics, features=None, nearest_k=nearest_k)
        theirs = {}
        if "prdc" in references:
            theirs["prdc"] = references["prdc"]["manifold"](a, b, nearest_k)
        if with_formula:
            theirs["formula"] = formula_manifold(a, b, nearest_k)
        for metric in metrics:
            add(f"{metric} (k={nearest_k})", ours[metric], {name: values[metric] for name, values in theirs.items()})
    return {"n_samples": [len(a), len(b)], "n_features": a.shape[1], "kid_subset_size": size, "metrics": rows}


# ------------------------------------------------------------------------------ timing
def timed_call(function):
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def peak_memory_mb(function):
    """Peak memory that numpy and Python allocate during the call, beyond what exists."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def timing(a, b, args, references):
    size = min(len(a), len(b), args.subset_size)
    ours = {
        "fid": lambda: frechet_distance(a, b),
        "kid": lambda: kernel_distance(a, b, n_subsets=args.n_subsets, subset_size=size, random_state=args.seed),
        "prdc": lambda: generation_scores(a, b, metrics=MANIFOLD_METRICS, features=None, nearest_k=args.nearest_k),
        "precision_recall": lambda: precision_recall(a, b, nearest_k=3),
    }
    theirs = {metric: {} for metric in ours}
    for name, functions in references.items():
        if "fid" in functions:
            theirs["fid"][name] = lambda f=functions["fid"]: f(a, b)
        if "kid" in functions:
            theirs["kid"][name] = lambda f=functions["kid"]: f(a, b, args.n_subsets, size, args.seed)
        if "manifold" in functions:
            theirs["prdc"][name] = lambda f=functions["manifold"]: f(a, b, args.nearest_k)
            theirs["precision_recall"][name] = lambda f=functions["manifold"]: f(a, b, 3)
    rows = {}
    for metric, function in ours.items():
        calls = {"ours": function, **theirs[metric]}
        runs = {name: [] for name in calls}
        for _ in range(args.repeats):  # interleaved: ours, then each reference
            for name, call in calls.items():
                runs[name].append(timed_call(call))
        best = {name: min(times) for name, times in runs.items()}  # (wall, cpu) of the fastest
        row = {
            "ours_s": best["ours"][0],
            "ours_cpu_s": best["ours"][1],
            "references_s": {name: best[name][0] for name in theirs[metric]},
            "references_cpu_s": {name: best[name][1] for name in theirs[metric]},
            "all_wall_s": {name: [wall for wall, _ in times] for name, times in runs.items()},
        }
        row["ratio_reference_over_ours"] = {
            name: seconds / row["ours_s"] for name, seconds in row["references_s"].items()
        }
        row["ours_peak_memory_mb"] = peak_memory_mb(function)
        rows[metric] = row
        print(metric, json.dumps(row), flush=True)
    return {"n_samples": [len(a), len(b)], "n_features": a.shape[1], "repeats": args.repeats, "metrics": rows}


# ----------------------------------------------------------------------------- results
def markdown(results):
    lines = [
        "# Generative metrics: cross-check against the reference packages",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Package: {results['package']}  ",
        *(f"Reference: {line}  " for line in results["references"].values()),
        f"KID: {results['n_subsets']} subsets, seed {results['seed']}; "
        f"density and coverage with k={results['nearest_k']}.",
        "",
    ]
    for pair, check in results["cross_check"].items():
        names = sorted(
            {name for row in check["metrics"].values() for name in row} - {"ours", "largest_relative_difference"}
        )
        lines += [
            f"## {pair}: {check['n_samples'][0]} and {check['n_samples'][1]} samples, "
            f"{check['n_features']} features, KID subsets of {check['kid_subset_size']}",
            "",
            "| metric | ours | " + " | ".join(names) + " | largest rel. diff. |",
            "|---|---|" + "---|" * len(names) + "---|",
        ]
        for metric, row in check["metrics"].items():
            cells = [f"{row[name]:.10g}" if name in row else "-" for name in names]
            largest = row["largest_relative_difference"]
            lines.append(
                f"| {metric} | {row['ours']:.10g} | "
                + " | ".join(cells)
                + f" | {'-' if largest is None else f'{largest:.1e}'} |"
            )
        lines.append("")
    if "timing" in results:
        timed = results["timing"]
        lines += [
            f"## Time on {timed['n_samples'][0]} and {timed['n_samples'][1]} samples of {timed['n_features']} features "
            f"(best of {timed['repeats']} interleaved rounds; wall seconds, CPU seconds of that call in brackets)",
            "",
            "| metric | ours (s) | reference (s) | reference / ours | our peak memory (MB) |",
            "|---|---|---|---|---|",
        ]
        for metric, row in timed["metrics"].items():
            cpu = row.get("references_cpu_s", {})
            references = (
                "; ".join(
                    f"{name} {seconds:.3g}" + (f" ({cpu[name]:.3g})" if name in cpu else "")
                    for name, seconds in row["references_s"].items()
                )
                or "-"
            )
            ours_cpu = f" ({row['ours_cpu_s']:.3g})" if "ours_cpu_s" in row else ""
            ratios = "; ".join(f"{name} {ratio:.2f}" for name, ratio in row["ratio_reference_over_ours"].items()) or "-"
            memory = f"{row['ours_peak_memory_mb']:.0f}"
            lines.append(f"| {metric} | {row['ours_s']:.3g}{ours_cpu} | {references} | {ratios} | {memory} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", choices=["random", "mnist"], default="random")
    parser.add_argument("--n", type=int, default=10_000, help="samples per set")
    parser.add_argument("--d", type=int, default=2048, help="features (random only)")
    parser.add_argument("--generated", default=None, help="mnist: .npy of generated images' Inception features")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR)
    parser.add_argument("--n-subsets", type=int, default=100)
    parser.add_argument("--subset-size", type=int, default=1000)
    parser.add_argument("--nearest-k", type=int, default=5, help="k of prdc's comparison (one k for all four)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing", action="store_true", help="time each metric against the references")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: the libraries')")
    parser.add_argument("--output", type=Path, default=RESULTS / "generation_metrics", help="path without suffix")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    functions, status = import_references()
    pairs = random_features(args.n, args.d, args.seed) if args.features == "random" else mnist_features(args)
    results = {
        "command": "python " + " ".join(sys.argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{cpu_description()}, {os.cpu_count()} CPU cores ({len(os.sched_getaffinity(0))} usable by "
        f"this process), torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads",
        "package": package_description(),
        "references": status,
        "n_subsets": args.n_subsets,
        "nearest_k": args.nearest_k,
        "seed": args.seed,
        "cross_check": {},
    }
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for pair, (a, b) in pairs.items():
            results["cross_check"][pair] = cross_check(a, b, args, functions)
            print(pair, json.dumps(results["cross_check"][pair], indent=1), flush=True)
        if args.timing:
            results["timing"] = timing(*next(iter(pairs.values())), args, functions)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
