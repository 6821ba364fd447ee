"""Why did the paper's net stop depending on its input? Its first steps, watched one by one.

``bench_collapse.py`` counts the one-epoch fits that collapse; this script watches the
fits of one of its cells step by step, to tell the candidate causes apart: the tanh
output saturating, dead ReLUs in the decoder, or neither. Before the first step and after
every training step it passes the same ``--probe-rows`` training rows through the net and
records:

- the mean output;
- the share of output pixels whose tanh is saturated (``|output| > tanh(3)``: a
  pre-activation beyond 3, where the tanh's slope is under 0.01, so that almost no
  gradient passes);
- the share of dead units after the decoder's first ReLU (its linear layer's
  128 x 8 x 8 outputs) and its last one (the 32 x 32 x 32 before the output layer): units
  that are 0 for every probe row, through which no gradient passes;
- how much the output varies across the rows, as a share of how much the rows do (mean
  over pixels of the std across rows): near 0, the output no longer depends on the input.

A fit counts as collapsed as in ``bench_collapse.py``. The cell is MNIST, tanh on
[-1, 1], batch 128, the first 6,000 training rows, latent 128, one epoch, the AE (the
cell where torch's initialisation collapsed in 6 of 20 seeds), from torch's
initialisation and from the data's mean (the fix). The committed run, seeds 0-12 (the
collapsed seeds 1, 7, 8, 10 and 12 of that cell among them)::

    python benchmarks/diagnose_collapse.py --seeds 0 1 2 3 4 5 6 7 8 9 10 11 12 \\
        --output benchmarks/results/diagnose_collapse
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_collapse  # noqa: E402
from _machine import run_description  # noqa: E402

SATURATED = math.tanh(3.0)  # |output| above which tanh's slope, 1 - tanh^2, is under 0.01


class FirstSteps(Callback):
    """What the net does with the probe rows, before training and after every step."""

    def __init__(self, rows, records):
        self.rows = rows
        self.records = records

    def __deepcopy__(self, memo):
        # The estimator trains a copy of its callbacks: this one keeps writing to our list.
        return FirstSteps(self.rows, self.records)

    def on_train_begin(self, net, **kwargs):
        self.records.append(self.measure(net))

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            self.records.append(self.measure(net))

    @torch.no_grad()
    def measure(self, net):
        decoder = net.module_.decoder
        seen = {}
        hooks = [
            decoder.features[0].register_forward_hook(lambda m, i, o: seen.__setitem__("first_relu", o)),
            decoder.features[-3].register_forward_hook(lambda m, i, o: seen.__setitem__("last_relu", o)),
        ]
        try:
            output = net.module_(self.rows)[0].flatten(1)
        finally:
            for hook in hooks:
                hook.remove()
        rows = self.rows.flatten(1)
        return {
            "mean_output": float(output.mean()),
            "saturated": float((output.abs() > SATURATED).float().mean()),
            "dead_first_relu": float((seen["first_relu"] == 0).all(dim=0).float().mean()),
            "dead_last_relu": float((seen["last_relu"] == 0).all(dim=0).float().mean()),
            "std_ratio": float(output.std(dim=0).mean() / rows.std(dim=0).mean()),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(20)))
    parser.add_argument("--inits", nargs="+", choices=["torch", "data_mean"], default=["torch", "data_mean"])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--probe-rows", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True, help="path without suffix")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X = bench_collapse.load_mnist()[0][: args.rows] * 2 - 1
    probe = torch.from_numpy(X[: args.probe_rows]).view(-1, 1, 28, 28)
    results = {**run_description(), "threads": args.threads, "rows": args.rows, "probe_rows": args.probe_rows}
    results["data_mean"], results["fits"] = float(X.mean()), []
    started = time.perf_counter()
    for init in args.inits:
        for seed in args.seeds:
            steps = []
            # bench_collapse's criterion, at its defaults.
            fit = bench_collapse.one_fit(
                X, "tanh", 128, "ae", seed, output_init=init, callbacks=[FirstSteps(probe, steps)]
            )
            results["fits"].append({"output_init": init, **fit, "steps": steps})
            print(init, seed, fit["collapsed"], steps[0]["mean_output"], steps[-1]["saturated"], flush=True)
            results["wall_seconds"] = time.perf_counter() - started
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
            args.output.with_suffix(".md").write_text(markdown(results))


def first_step(steps, key, above):
    """The first step at which ``key`` exceeds ``above`` (0: before training), or None."""
    return next((index for index, step in enumerate(steps) if step[key] > above), None)


def markdown(results):
    lines = [
        "# The first steps of the paper's net: MNIST, tanh on [-1, 1], batch 128, the AE",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}, {results['threads']} thread(s); wall time "
        f"{results['wall_seconds'] / 60:.1f} min  ",
        f"Package: {results['package']}  ",
        f"{results['rows']} training rows, one epoch; measured on the first {results['probe_rows']} rows "
        f"before training (step 0) and after every step. Saturated: |output| > tanh(3); "
        "dead: 0 for every probe row; std ratio: the output's std across rows over the rows'.",
        "",
        "| output_init | seed | collapsed | step 0: mean output | step 0: saturated | "
        "first step > 50% saturated | last step: saturated | last step: mean output | "
        "dead units, first / last ReLU (last step) | std ratio (last step) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fit in results["fits"]:
        steps = fit["steps"]
        start, end = steps[0], steps[-1]
        half = first_step(steps, "saturated", 0.5)
        lines.append(
            f"| {fit['output_init']} | {fit['seed']} | {'**yes**' if fit['collapsed'] else 'no'} "
            f"| {start['mean_output']:+.3f} | {start['saturated']:.1%} | {'-' if half is None else half} "
            f"| {end['saturated']:.1%} | {end['mean_output']:+.3f} "
            f"| {end['dead_first_relu']:.1%} / {end['dead_last_relu']:.1%} | {end['std_ratio']:.3g} |"
        )
    lines += ["", "Summary, per output_init:", ""]
    for init in dict.fromkeys(fit["output_init"] for fit in results["fits"]):
        fits = [fit for fit in results["fits"] if fit["output_init"] == init]
        collapsed = [fit for fit in fits if fit["collapsed"]]
        negative = [fit for fit in fits if fit["steps"][0]["mean_output"] < 0]
        lines.append(
            f"- {init}: {len(collapsed)} of {len(fits)} fits collapsed; "
            f"{sum(fit['collapsed'] for fit in negative)} of the {len(negative)} whose untrained mean output "
            f"was negative, {len(collapsed) - sum(fit['collapsed'] for fit in negative)} of the "
            f"{len(fits) - len(negative)} others (the data's mean is {results.get('data_mean', float('nan')):+.3f})."
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
