"""The per-epoch diagnostics of a partly trained checkpoint of ``reproduce_mnist.py``.

A 50-epoch training that a session must stop leaves its checkpoint (``<method>.pt``,
written by ``save_model``, or a pickle of earlier runs) for a later session to continue
with ``reproduce_mnist.py --checkpoint-dir``. This script writes what the checkpoint has
done so far, in the format of ``reproduce_mnist.py``'s per-epoch tables::

    python benchmarks/checkpoint_progress.py benchmarks/checkpoints/mnist_cpu_50epochs/rrae.pt \\
        --trained-by "python benchmarks/reproduce_mnist.py --epochs 50 ..." \\
        --output benchmarks/results/mnist_cpu_50epochs_rrae_partial
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import run_description
from reproduce_mnist import DIAGNOSTICS, epoch_rows, epoch_table, load_checkpoint


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--trained-by", required=True, help="the command that trained the checkpoint")
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    generator = load_checkpoint(args.checkpoint)
    table = epoch_table(generator)
    params = {key: repr(value) for key, value in generator.get_params().items() if key != "callbacks"}
    results = {**run_description(), "trained_by": args.trained_by, "epochs_done": generator.n_iter_}
    results.update(params=params, epochs=table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [
        f"# {args.checkpoint.name}: {generator.n_iter_} epochs trained so far",
        "",
        f"Trained by: `{args.trained_by}`  ",
        f"Report: `{results['command']}` on {results['machine']}, package {results['package']}  ",
        "Settings: " + ", ".join(f"{key}={value}" for key, value in sorted(params.items())),
        "",
        "| epoch | " + " | ".join(DIAGNOSTICS) + " |",
        "|---" * (len(DIAGNOSTICS) + 1) + "|",
    ]
    lines += epoch_rows(table)
    args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
