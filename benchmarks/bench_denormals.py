"""What flushing denormal floats to zero gains on the CPU, late in training.

For each checkpoint of the 50-epoch MNIST reproduction
(``benchmarks/checkpoints/mnist_cpu_50epochs/*.pkl``, the paper's conv net at batch 32):
the share of denormal float32 values (nonzero, below 1.2e-38 in magnitude) among its
weights and in Adam's state, then the seconds of one more epoch on the first ``--rows``
MNIST training images, continuing the checkpoint (``warm_start``), with the package's
flushing (``sklearn_lorae._denormals``, the default) and without it (its ``ENABLED``
set to False), each in a fresh process, at each of ``--threads`` intra-op threads. The
epoch's time is skorch's ``dur`` (the training steps, without the post-fit work), given
per 1,875 steps: an epoch of the 60,000 training images.

Example (the committed result; nothing else should run meanwhile)::

    python benchmarks/bench_denormals.py --output benchmarks/results/denormals
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKPOINTS = HERE / "checkpoints" / "mnist_cpu_50epochs"
STEPS_PER_EPOCH = 60_000 // 32
VARIANTS = ("kept", "flushed")


def run_child(method, variant, n_threads, rows):
    """In this (fresh) process: the checkpoint's denormal shares and one timed epoch."""
    import torch

    sys.path.insert(0, str(HERE))
    import reproduce_mnist
    from _data import load_mnist

    from sklearn_lorae import _denormals

    torch.set_num_threads(n_threads)
    _denormals.ENABLED = variant == "flushed"
    generator = reproduce_mnist.load_checkpoint(CHECKPOINTS / f"{method}.pkl")
    X_train, _, X_test, _ = load_mnist()
    reproduce_mnist.PROBES["test"] = torch.as_tensor(X_test[:500] * 2.0 - 1.0, dtype=torch.float32).view(-1, 1, 28, 28)
    net = generator.net_
    state = [value for values in net.optimizer_.state.values() for value in values.values() if value.dim() > 0]
    shares = {"weights": _denormal_share(net.module_.parameters()), "adam_state": _denormal_share(state)}
    epochs = generator.n_iter_
    generator.set_params(max_epochs=1, warm_start=True).fit(X_train[:rows] * 2.0 - 1.0)
    assert generator.n_iter_ == epochs + 1
    steps = -(-rows // generator.batch_size)
    # The fit trained a copy of the net (kept when the fit ends): its last epoch is the new one.
    seconds = generator.net_.history[-1, "dur"]
    return {**shares, "epochs_before": epochs, "seconds_per_epoch": seconds / steps * STEPS_PER_EPOCH}


def _denormal_share(tensors):
    import torch

    tiny = torch.finfo(torch.float32).tiny
    tensors = [tensor.detach() for tensor in tensors]
    denormal = sum(int(((tensor != 0) & (tensor.abs() < tiny)).sum()) for tensor in tensors)
    return denormal / sum(tensor.numel() for tensor in tensors)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(run_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    methods = sorted(path.stem for path in CHECKPOINTS.glob("*.pkl"))
    parser.add_argument("--methods", nargs="+", default=methods, choices=methods)
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rows", type=int, default=1024, help="training images of the timed epoch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    started = time.perf_counter()
    runs = {}
    for _ in range(args.repeats):  # interleaved, so that drifts hit every variant alike
        for method in args.methods:
            for n_threads in args.threads:
                for variant in VARIANTS:
                    command = [sys.executable, __file__, "--child", method, variant, str(n_threads), str(args.rows)]
                    done = subprocess.run(command, capture_output=True, text=True, check=True)
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    runs.setdefault(f"{method}/{n_threads}/{variant}", []).append(result)
                    print(method, n_threads, variant, result, flush=True)
    sys.path.insert(0, str(HERE))
    from _machine import run_description

    results = {
        **run_description(),
        "runs": runs,
        "median_seconds_per_epoch": {
            key: statistics.median(run["seconds_per_epoch"] for run in values) for key, values in runs.items()
        },
        "wall_seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results, args))


def markdown(results, args):
    median = results["median_seconds_per_epoch"]
    lines = [
        "# Denormal floats late in training, kept or flushed to zero",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Package: {results['package']}; wall time {results['wall_seconds'] / 60:.1f} min  ",
        f"Seconds per epoch of 60,000 images at batch 32, from one epoch on {args.rows} images "
        f"continuing each checkpoint; median of {args.repeats} fresh processes.",
        "",
        "| method | epochs trained | denormal weights | denormal Adam state | threads | kept | flushed | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method in args.methods:
        first = results["runs"][f"{method}/{args.threads[0]}/kept"][0]
        for n_threads in args.threads:
            kept, flushed = (median[f"{method}/{n_threads}/{variant}"] for variant in VARIANTS)
            lines.append(
                f"| {method} | {first['epochs_before']} | {first['weights']:.2%} | {first['adam_state']:.1%} | "
                f"{n_threads} | {kept:.0f} | {flushed:.0f} | {kept / flushed:.2f}x |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
