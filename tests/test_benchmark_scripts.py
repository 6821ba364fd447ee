"""Smoke tests that keep the benchmark scripts from rotting (tiny budgets, real code paths)."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
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


def import_benchmark(name):
    """A benchmark script (or helper) as a module, for tests of its functions."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def assert_names_cpu(machine):
    """Speed figures depend on the CPU's instruction set (AVX-512 and AVX2 machines have
    both run them): the results must say which one torch used."""
    import torch

    assert f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}" in machine


@needs_mnist
@pytest.mark.inception
def test_reproduce_mnist_smoke(tmp_path):
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
    saved = tmp_path / "generated"
    run("reproduce_mnist.py", *tiny_budget, "--methods", "lorae", "ae", "--resume", "--save-features", str(saved))
    results = json.loads(output.with_suffix(".json").read_text())
    assert set(results["fid"]) == {"lorae", "ae"} and results["fid"]["lorae"] == first["fid"]["lorae"]
    assert len(results["commands"]) == 2 and results["wall_seconds"] > first["wall_seconds"]
    assert all(fid[density] > 0 for fid in results["fid"].values() for density in ("mvg", "gmm"))
    # KID (unbiased, so it may be below 0 for such a tiny sample) from the same features.
    kids = [fid[f"kid_{density}"] for fid in results["fid"].values() for density in ("mvg", "gmm")]
    assert all(np.isfinite(mean) and std >= 0 for mean, std in kids)
    assert set(results["accuracy"]["lorae"]) == {"10", "100"}
    assert set(results["lambda"]) == {"0.1", "0.001"}
    assert results["budget"]["n_reference"] == 16 and results["fid_floor"] > 0
    assert len(list((tmp_path / "features").glob("*.npy"))) == 2  # test and training images, once each
    # The features of the samples the second run scored (the AE's only: lorae was kept).
    kept = {path.name: np.load(path) for path in saved.glob("*.npy")}
    assert set(kept) == {"mnist_ae_mvg_1epochs_seed0.npy", "mnist_ae_gmm_1epochs_seed0.npy"}
    assert all(features.shape == (16, 2048) and np.isfinite(features).all() for features in kept.values())
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


def test_generation_metrics_smoke(tmp_path):
    # Random features: no data needed. The reference packages are compared when they
    # import; the published formulas always are.
    output = tmp_path / "generation_metrics"
    tiny = ["--n", "300", "--d", "16", "--n-subsets", "5", "--subset-size", "100", "--timing", "--output", str(output)]
    run("bench_generation_metrics.py", *tiny)
    results = json.loads(output.with_suffix(".json").read_text())
    assert set(results["cross_check"]) == {"two sets of one distribution", "two distributions"}
    for check in results["cross_check"].values():
        assert check["kid_subset_size"] == 100
        for metric, row in check["metrics"].items():
            assert "formula" in row and row["largest_relative_difference"] < 1e-8, (metric, row)
    assert set(results["timing"]["metrics"]) == {"fid", "kid", "prdc", "precision_recall"}
    assert_names_cpu(results["machine"])
    assert "| kid |" in output.with_suffix(".md").read_text()


def test_dask_benchmark_smoke(tmp_path):
    output = tmp_path / "dask"
    # The grid's digits ship with scikit-learn; the out-of-core fit needs MNIST.
    tasks = ["grid", "out_of_core"] if MNIST.exists() else ["grid"]
    tiny = ["--repeats", "1", "--grid-epochs", "1", "--grid-rows", "150", "--ooc-rows", "1000", "--block-rows", "500"]
    variants = ["n_jobs_1", "dask_threads", "in_memory", "dask_blocks"]  # threads: no worker processes to start
    run("bench_dask.py", *tiny, "--ooc-epochs", "1", "--test-rows", "100", "--tasks", *tasks, "--variants", *variants,
        "--warm", "--output", str(output))  # fmt: skip
    results = json.loads(output.with_suffix(".json").read_text())
    assert_names_cpu(results["machine"])
    median, runs = results["median"], results["runs"]
    assert median["grid/dask_threads"]["startup_seconds"] > 0 and median["grid/n_jobs_1"]["search_seconds"] > 0
    assert median["grid/n_jobs_1"]["startup_seconds"] > 0  # --warm: the first fit, timed apart
    assert runs["grid/dask_threads"][0]["best_params"] == runs["grid/n_jobs_1"][0]["best_params"]  # the same search
    if "out_of_core" in tasks:
        in_memory, blocks = median["out_of_core/in_memory"], median["out_of_core/dask_blocks"]
        assert (in_memory["n_iter"], blocks["n_iter"]) == (1, 2)  # one epoch; one partial_fit per block
        assert blocks["peak_rss_mb"] > 0 and blocks["test_mse"] > 0
    assert "| dask_threads |" in output.with_suffix(".md").read_text()


@needs_mnist
def test_training_controls_smoke(tmp_path):
    output = tmp_path / "controls"
    run(
        "bench_training_controls.py", "--parts", "early-stopping", "chunking", "--epochs", "3", "--patience", "1",
        "--n-train", "300", "--n-test", "100", "--chunk", "150", "--passes", "1", "--seeds", "0",
        "--threads", "1", "--output", str(output),
    )  # fmt: skip
    results = json.loads(output.with_suffix(".json").read_text())
    runs = results["early_stopping"]
    fixed, early = runs["fixed"], runs["early"]
    assert len(fixed["test_mse_per_epoch"]) == fixed["epochs"] == 3
    assert len(early["test_mse_per_epoch"]) == early["epochs"] <= 3
    # The fixed run's error after its last epoch is the error of the fitted estimator.
    assert fixed["test_mse"] == pytest.approx(fixed["test_mse_per_epoch"][-1], rel=1e-5)
    reached = runs["fixed_epochs_to_reach_early_test_mse"]
    assert reached is None or fixed["test_mse_per_epoch"][reached - 1] <= early["test_mse"]
    chunking = results["chunking"]["test_mse"]["0"]
    assert set(chunking) == {"fit", "chunks", "whole_batches"} and all(0 < mse < 1 for mse in chunking.values())
    # 2 chunks of 150 rows end in 22-row batches; whole batches (128) do not: different nets.
    assert chunking["chunks"] != chunking["whole_batches"]
    report = output.with_suffix(".md").read_text()
    assert "## Early stopping" in report and "| 0 | " in report and results["package"] in report


@needs_mnist
@pytest.mark.inception
def test_inception_bfloat16_smoke(tmp_path):
    import torch

    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("oneDNN has no bfloat16 convolutions on this CPU")
    output = tmp_path / "inception_bfloat16"
    tiny = ["--n-images", "8", "--batch-size", "4", "--threads", "1"]
    run("bench_inception_bfloat16.py", *tiny, "--output", str(output))
    results = json.loads(output.with_suffix(".json").read_text())
    variants = results["variants"]
    assert list(variants) == ["float32", "bfloat16", "bfloat16_split_weights"]
    assert variants["float32"]["fid_relative_difference"] == 0.0
    for row in variants.values():
        assert np.isfinite(row["fid"]) and row["images_per_second"] > 0
    # bfloat16 moves the features (max about 6), but not far.
    for name in ("bfloat16", "bfloat16_split_weights"):
        assert 0 < variants[name]["max_abs_feature_difference"] < 1
    # Inception-v3's convolutions, counted from their shapes: 5.7 G multiply-adds.
    assert results["conv_gflop_per_image"] == pytest.approx(11.4, rel=0.01)
    assert results["test_halves"] is None
    assert_names_cpu(results["machine"])


def test_startup_smoke(tmp_path):
    output = tmp_path / "startup"
    run("bench_startup.py", "--repeats", "1", "--max-epochs", "2", "--output", str(output))
    results = json.loads(output.with_suffix(".json").read_text())
    plain, dynamo_first = (results["median_seconds"][variant] for variant in ("plain", "dynamo_first"))
    assert "import torch._dynamo" not in plain and dynamo_first["import torch._dynamo"] > 0
    for seconds in (plain, dynamo_first):
        assert all(value > 0 for value in seconds.values())
        assert list(seconds)[:3] == ["import torch", "import sklearn.model_selection", "import sklearn_lorae"]
    report = output.with_suffix(".md").read_text()
    assert "| fit 1 |" in report and "in all." in report and results["package"] in report
    assert_names_cpu(results["machine"])


def test_contention_grid_timeline_smoke(tmp_path):
    output = tmp_path / "contention"
    tasks = ["grid_n_jobs_1", "grid_n_jobs_2", "grid_threads_2"]
    budget = ["--rules", "rule", "--repeats", "1", "--grid-epochs", "1"]
    run("bench_contention.py", "--tasks", *tasks, *budget, "--timeline", "--output", str(output))
    results = json.loads(output.with_suffix(".json").read_text())
    for task in tasks:
        (timeline,) = results["timelines"][f"{task}/rule/none"]
        assert len(timeline) == 8 * 3 + 1  # the folds' fits and the refit, which runs here
        assert timeline[-1][0] == "main" and all(0 < start < end for _, start, end in timeline)
        processes = {process for process, _, _ in timeline[:-1]}
        # loky's two workers (one may start late enough that the other fits all 24).
        assert processes == {"main"} if task != "grid_n_jobs_2" else processes <= {"worker 0", "worker 1"}
    assert "| grid_n_jobs_2/rule/none |" in output.with_suffix(".md").read_text()


@needs_mnist
def test_denormals_smoke(tmp_path):
    output = tmp_path / "denormals"
    run(
        "bench_denormals.py",
        "--methods",
        "lorae",
        "--threads",
        "1",
        "--rows",
        "64",
        "--repeats",
        "1",
        "--output",
        str(output),
    )
    results = json.loads(output.with_suffix(".json").read_text())
    (kept,), (flushed,) = results["runs"]["lorae/1/kept"], results["runs"]["lorae/1/flushed"]
    assert kept["epochs_before"] == flushed["epochs_before"] == 50
    # Adam's state of the 50-epoch LoRAE holds denormals (a fifth of it on the machine
    # that trained it), its weights none.
    assert 0.01 < kept["adam_state"] == flushed["adam_state"] < 0.5 and kept["weights"] < 1e-3
    # The timed epoch's (2 steps of 32 images), not the checkpoint's last one (1,875 steps).
    assert 0 < kept["seconds_per_epoch"] != flushed["seconds_per_epoch"] > 0
    assert "| lorae | 50 |" in output.with_suffix(".md").read_text()


def test_checkpoint_progress_reports_each_epoch_of_a_saved_checkpoint(tmp_path, digits):
    from sklearn_lorae import LoRAEGenerator, save_model

    generator = LoRAEGenerator(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)
    save_model(generator.fit(digits[0][:200]), tmp_path / "ae.pt")
    output = tmp_path / "progress"
    run("checkpoint_progress.py", str(tmp_path / "ae.pt"), "--trained-by", "a test", "--output", str(output))
    results = json.loads(output.with_suffix(".json").read_text())
    assert results["epochs_done"] == 3 and results["trained_by"] == "a test"
    assert results["epochs"]["train_loss"] == list(generator.net_.history[:, "train_loss"])
    assert "3 epochs trained so far" in output.with_suffix(".md").read_text()


@needs_mnist
@pytest.mark.inception
def test_probe_code_penalties_smoke(tmp_path):
    output = tmp_path / "probe"
    tiny_budget = [
        "--epochs", "1", "--n-train", "64", "--n-fid", "16", "--n-reference", "16", "--threads", "1",
        "--cache-dir", str(tmp_path / "features"), "--output", str(output),
    ]  # fmt: skip
    run("probe_code_penalties.py", *tiny_budget, "--runs", "wae:1.02:8", "ae:0:8")
    # A second run keeps the runs already there and adds the new one.
    run(
        "probe_code_penalties.py", *tiny_budget,
        "--runs", "wae:1.02:8", "rae:5e-5:16", "lorae:1e-3:8", "rrae:2:8", "rrae:auto:8",
    )  # fmt: skip
    results = json.loads(output.with_suffix(".json").read_text())
    names = ["wae alpha=1.02 latent=8", "ae latent=8", "rae alpha=5e-05 latent=16", "lorae alpha=0.001 latent=8"]
    assert list(results["runs"]) == [*names, "rrae rank=2 latent=8", "rrae rank=auto latent=8"]
    assert results["runs"]["rrae rank=2 latent=8"]["rank"] <= 2
    assert results["runs"]["rrae rank=2 latent=8"]["truncation_rank"] == 2
    found = results["runs"]["rrae rank=auto latent=8"]["truncation_rank"]
    assert 1 <= found <= 8 and results["runs"]["rrae rank=auto latent=8"]["rank"] <= found
    assert f"(k={found}) |" in output.with_suffix(".md").read_text()
    assert len(results["commands"]) == 2
    wae, ae = results["runs"]["wae alpha=1.02 latent=8"], results["runs"]["ae latent=8"]
    assert 0 < wae["penalty_share"][0] < 1 and ae["penalty_share"][0] == 0
    assert all(run["gmm_fid"] > 0 and np.isfinite(run["mmd2_to_prior"]) for run in results["runs"].values())
    assert "| wae alpha=1.02 latent=8 |" in output.with_suffix(".md").read_text()
    with pytest.raises(subprocess.CalledProcessError):
        run("probe_code_penalties.py", *tiny_budget, "--runs", "rrae:two:8")


@needs_mnist
@pytest.mark.inception
def test_gmm_fid_settings_smoke(tmp_path):
    from sklearn_lorae import LoRAEGenerator, save_model

    with np.load(MNIST) as data:
        X = data["x_train"][:64].reshape(64, -1).astype(np.float32) / 127.5 - 1.0
    model = LoRAEGenerator(image_shape=(1, 28, 28), latent_dim=8, output_activation="tanh", max_epochs=1)
    save_model(model.set_params(random_state=0).fit(X), tmp_path / "lorae.pt")
    output = tmp_path / "settings"
    tiny = [
        "--models", "lorae", "--checkpoint-dir", str(tmp_path), "--n-fid", "16", "--n-reference", "16",
        "--n-train", "64", "--threads", "1", "--cache-dir", str(tmp_path / "features"), "--output", str(output),
    ]  # fmt: skip
    run("gmm_fid_settings.py", *tiny, "--settings", "package", "sklearn-4-full-test")
    # keeps the first two
    run("gmm_fid_settings.py", *tiny, "--settings", "package", "sklearn-4-diag", "sklearn-4-full", "sklearn-4-full-rs1")
    results = json.loads(output.with_suffix(".json").read_text())
    rows = results["fid"]["lorae"]
    assert list(rows) == ["package", "sklearn-4-full-test", "sklearn-4-diag", "sklearn-4-full", "sklearn-4-full-rs1"]
    # The seeded setting is its own fit and draw, not --seed's again.
    assert rows["sklearn-4-full-rs1"]["fid"] != rows["sklearn-4-full"]["fid"]
    assert all(row["fid"] > 0 for row in rows.values())
    assert "n_iter" not in rows["package"] and rows["sklearn-4-diag"]["n_iter"] >= 1
    assert "| lorae | sklearn-4-full-test |" in output.with_suffix(".md").read_text()
    # The same samples against training images: another budget, so another file.
    with pytest.raises(subprocess.CalledProcessError):
        run("gmm_fid_settings.py", *tiny, "--settings", "package", "--reference", "train")
    on_train = tmp_path / "on_train"
    run("gmm_fid_settings.py", *tiny[:-1], str(on_train), "--settings", "package", "--reference", "train")
    results = json.loads(on_train.with_suffix(".json").read_text())
    assert results["budget"]["reference"] == "train"
    assert results["fid"]["lorae"]["package"]["fid"] != rows["package"]["fid"]


def test_rrae_synthetic_smoke(tmp_path):
    output = tmp_path / "synthetic"
    run(
        "bench_rrae_synthetic.py", "--epochs", "2", "--finetune-epochs", "1", "--factors", "1", "--seeds", "0",
        "--output", str(output),
    )  # fmt: skip
    results = json.loads(output.with_suffix(".json").read_text())
    assert results["settings"]["finetune_epochs"] == 1
    (result,) = results["runs"]
    assert result["factors"] == 1 and 1 <= result["found_rank"] <= 8
    assert set(result["fixed_rank_test_mse"]) == {"1", "2", "3"}
    assert all(error > 0 for error in result["fixed_rank_test_mse"].values())
    assert "Rank found equal to k*:" in output.with_suffix(".md").read_text()
