"""How fast the CPU Inception network could run in bfloat16, and what that does to the FID.

Issue 17 asks for 35 images per second on two cores with FIDs within 0.1% of the
float32 graph's. This script measures the two sides of that trade on the machine it
runs on:

- the float32 network (``features="inception"`` on the CPU, :mod:`sklearn_lorae._inception_cpu`)
  against the machine's float32 matrix-product rate: its multiplications are counted
  from the shapes of its convolutions, and divided by its time on one thread;
- two bfloat16 versions of the same steps, for CPUs whose matrix units (AMX) multiply
  bfloat16 several times faster than float32: ``bfloat16`` (weights and activations
  rounded to bfloat16; the convolutions accumulate in float32 but round their outputs),
  and ``bfloat16_split_weights`` (each weight as the sum of two bfloat16 numbers, both
  multiplied in one convolution over twice the input channels: the weights' rounding
  error goes, the activations' stays);

each timed on ``--n-images`` MNIST test and as many training images, with the FID between
the two sets and its relative difference from the float32 network's. With
``--test-halves N``, also the FID between two random halves of the first N test images
(``bench_frechet.py inception``'s split: 2.78 for the float32 network at N = 10,000), the
float32 features read from ``bench_frechet.py``'s cache (``--cache-dir``).

These versions are not in the package: see the results for why.

Usage::

    python benchmarks/bench_inception_bfloat16.py --n-images 1024 --threads 2
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import load_mnist  # noqa: E402
from _feature_cache import DEFAULT_CACHE_DIR, cached_inception_features  # noqa: E402
from _machine import cpu_description, cpu_flags, package_description  # noqa: E402
from bench_frechet import best_time  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("float32", "bfloat16", "bfloat16_split_weights")


def matmul_gflops(dtype, size=2048, repeats=5):
    """The best rate of one ``size`` x ``size`` matrix product, in GFLOP/s."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    _, seconds = best_time(torch.matmul, a, b, repeats=repeats)
    return 2 * size**3 / seconds / 1e9


def conv_flops_per_image(network):
    """Multiplications and additions (2 per multiply-add) of the network's convolutions for one image."""
    from sklearn_lorae import _inception_cpu

    total = 0
    convolution = _inception_cpu._OPS["conv"]

    def counting(step, x):
        nonlocal total
        out = convolution(step, x)
        weight = step.params["weight"]
        total += 2 * out.shape[0] * out.shape[2] * out.shape[3] * weight[0].numel() * weight.shape[0]
        return out

    _inception_cpu._OPS["conv"] = counting
    try:
        with torch.inference_mode():
            network(torch.zeros(1, 3, 299, 299).contiguous(memory_format=torch.channels_last))
    finally:
        _inception_cpu._OPS["conv"] = convolution
    return total


class Bfloat16Network:
    """The steps of a CpuInception in bfloat16; the output back in float32."""

    def __init__(self, network, split_weights):
        from sklearn_lorae import _inception_cpu

        self.network = copy.deepcopy(network)
        for step in self.network._stem + self.network._blocks:
            if step.op != "conv":
                continue
            weight = step.params["weight"]
            high = weight.bfloat16()
            if split_weights:
                low = (weight - high.float()).bfloat16()
                step.params["weight"] = torch.cat([high, low], dim=1).contiguous()
                step.op = "conv_split_weights"
            else:
                step.params["weight"] = high
            if step.params["bias"] is not None:
                step.params["bias"] = step.params["bias"].bfloat16()
        # The input twice along the channels, against the high and the low weights.
        _inception_cpu._OPS["conv_split_weights"] = lambda step, x: _inception_cpu._conv(step, torch.cat([x, x], dim=1))

    def __call__(self, images):
        return self.network(images.bfloat16()).float()


def features_and_seconds(feature_map, images, batch_size):
    from sklearn_lorae import _features

    return best_time(_features.extract_features_in_batches, feature_map, images, batch_size, repeats=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-images", type=int, default=1024, help="test images, and as many training images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-halves", type=int, default=0, help="FID of two random halves of this many test images")
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR)
    parser.add_argument("--output", type=Path, default=RESULTS / "inception_bfloat16", help="path without suffix")
    args = parser.parse_args()

    from sklearn_lorae import _features
    from sklearn_lorae.metrics import frechet_distance

    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        raise SystemExit("oneDNN has no bfloat16 convolutions on this CPU: nothing to measure")
    train, _, test, _ = load_mnist()
    sets = (test[: args.n_images], train[: args.n_images])
    feature_map = _features.InceptionFeatureMap((1, 28, 28), (0.0, 1.0), "cpu")
    float32_network = feature_map.network
    if not isinstance(float32_network, _features.CpuInception):
        raise SystemExit("this torch runs the TorchScript graph, not CpuInception: nothing to compare")

    torch.set_num_threads(1)
    flops = conv_flops_per_image(float32_network)
    rates = {str(dtype)[6:]: matmul_gflops(dtype) for dtype in (torch.float32, torch.bfloat16)}
    one_batch = sets[0][: args.batch_size]
    _, one_thread_s = features_and_seconds(feature_map, one_batch, args.batch_size)  # warm-up
    _, one_thread_s = features_and_seconds(feature_map, one_batch, args.batch_size)
    network_gflops = flops * len(one_batch) / one_thread_s / 1e9

    torch.set_num_threads(args.threads)
    networks = {
        "float32": float32_network,
        "bfloat16": Bfloat16Network(float32_network, split_weights=False),
        "bfloat16_split_weights": Bfloat16Network(float32_network, split_weights=True),
    }
    variants, reference = {}, None
    for name in VARIANTS:
        feature_map.network = networks[name]
        features_and_seconds(feature_map, one_batch, args.batch_size)  # warm-up
        (real, real_s), (other, other_s) = (features_and_seconds(feature_map, X, args.batch_size) for X in sets)
        fid = frechet_distance(real, other)
        reference = reference or (fid, real)
        variants[name] = {
            "images_per_second": 2 * args.n_images / (real_s + other_s),
            "fid": fid,
            "fid_relative_difference": fid / reference[0] - 1.0,
            "max_abs_feature_difference": float(np.abs(real - reference[1]).max()),
        }
        print(name, json.dumps(variants[name]), flush=True)

    halves = test_halves(args, networks) if args.test_halves else None

    results = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{cpu_description()}, CPU flags {' '.join(cpu_flags('amx', 'bf16')) or 'none with amx or bf16'}",
        "package": package_description(),
        "n_images": args.n_images,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "conv_gflop_per_image": flops / 1e9,
        "matmul_gflops_one_thread": rates,
        "float32_network_gflops_one_thread": network_gflops,
        "variants": variants,
        "test_halves": halves,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


def test_halves(args, networks):
    """The FID of two random halves of the first ``args.test_halves`` test images, per variant."""
    from sklearn_lorae import _features
    from sklearn_lorae.metrics import frechet_distance

    pixels = load_mnist(scaled=False)[2][: args.test_halves]
    order = np.random.default_rng(0).permutation(len(pixels))
    half = len(pixels) // 2
    # Pixels in [0, 255], as the cache's float32 features were computed.
    feature_map = _features.InceptionFeatureMap((1, 28, 28), (0.0, 255.0), "cpu")
    halves, reference = {}, None
    for name in VARIANTS:
        start = time.perf_counter()
        if name == "float32":
            features = cached_inception_features("mnist_test", pixels, args.cache_dir, {})
        else:
            feature_map.network = networks[name]
            features = _features.extract_features_in_batches(feature_map, pixels.astype(np.float32), args.batch_size)
        fid = frechet_distance(features[order[:half]], features[order[half:]])
        reference = reference or fid
        halves[name] = {
            "fid": fid,
            "fid_relative_difference": fid / reference - 1.0,
            "seconds": time.perf_counter() - start,
        }
        print("halves", name, json.dumps(halves[name]), flush=True)
    return {"n_images": len(pixels), "variants": halves}


def markdown(results):
    rates = results["matmul_gflops_one_thread"]
    lines = [
        "# The CPU Inception network in bfloat16: speed against FID",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Package: {results['package']}",
        "",
        f"One thread: a 2048 x 2048 matrix product runs at {rates['float32']:.0f} GFLOP/s in float32 and "
        f"{rates['bfloat16']:.0f} in bfloat16; the float32 network's convolutions "
        f"({results['conv_gflop_per_image']:.2f} GFLOP per image) at "
        f"{results['float32_network_gflops_one_thread']:.0f} GFLOP/s, everything else included.",
        "",
        f"{results['n_images']} MNIST test against {results['n_images']} training images, "
        f"{results['threads']} threads, batches of {results['batch_size']}:",
        "",
        "| variant | images per second | FID | relative to float32 | largest feature difference |",
        "|---|---|---|---|---|",
    ]
    for name, row in results["variants"].items():
        lines.append(
            f"| {name} | {row['images_per_second']:.1f} | {row['fid']:.6f} | {row['fid_relative_difference']:+.2e} "
            f"| {row['max_abs_feature_difference']:.3g} |"
        )
    if results.get("test_halves"):
        halves = results["test_halves"]
        lines += [
            "",
            f"Two random halves of the first {halves['n_images']} test images (float32 features from the cache):",
            "",
            "| variant | FID | relative to float32 |",
            "|---|---|---|",
        ]
        for name, row in halves["variants"].items():
            lines.append(f"| {name} | {row['fid']:.6f} | {row['fid_relative_difference']:+.2e} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
