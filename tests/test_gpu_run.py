"""benchmarks/gpu_run.py: every stage on the CPU with tiny budgets (``--smoke``), what comes
back, the models' round trip through ``--evaluate``, and a training cut short by the
budget continued from its model file."""

import gzip
import io
import json
import tarfile
import time

import numpy as np
import pytest
from sklearn.datasets import load_digits
from test_benchmark_scripts import import_benchmark
from test_benchmark_scripts import run as run_benchmark


def run(*arguments):
    run_benchmark("gpu_run.py", *map(str, arguments))


@pytest.fixture(scope="module")
def digits_as_mnist(tmp_path_factory):
    """scikit-learn's digits, blown up to MNIST's 28 x 28 uint8 layout: MNIST itself need
    not be on the machine."""
    data = load_digits()
    images = np.kron(data.images, np.ones((3, 3)))  # 24 x 24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2))) * (255 / 16)
    images = images.round().astype(np.uint8)
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    np.savez(path, x_train=images[:1500], y_train=data.target[:1500], x_test=images[1500:], y_test=data.target[1500:])
    return path


def unpack_models(output, folder):
    data = b"".join(path.read_bytes() for path in sorted(output.glob("models.tar.*")))
    folder.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        for member in archive.getmembers():
            name = member.name.removesuffix(".gz")
            (folder / name).write_bytes(gzip.decompress(archive.extractfile(member).read()))
    return sorted(path.stem for path in folder.glob("*.pt"))


def test_smoke_runs_every_stage_and_what_comes_back_fits(digits_as_mnist, tmp_path):
    output = tmp_path / "out"
    run("--smoke", "--data", digits_as_mnist, "--output", output)
    files = list(output.iterdir())
    assert len(files) <= 8 and all(path.stat().st_size <= 16 * 2**20 for path in files)
    assert sum(path.stat().st_size for path in files) <= 64 * 2**20
    report = json.loads((output / "run.json").read_text())
    stages = report["stages"]
    # Stage 1: the CUDA tests ran, and skipped (this machine has no GPU) or passed.
    assert stages["cuda_tests"]["status"] == "exit code 0"
    assert "test_cuda.py" in (output / "cuda_tests.txt").read_text()
    # Stage 2: every variant timed at both batch sizes.
    for row in stages["speed"]["batch_sizes"].values():
        assert {"plain", "package", "plain_synced", "plain_channels_last", "ratio_package_over_plain"} <= set(row)
        assert row["projected_50_epochs_seconds"] > row["package"] > 0
    # Stage 3: both trainings and the sweep's lambda, scored and saved.
    runs = stages["trainings"]["runs"]
    assert set(runs) == {"rrae", "arrae", "lorae_alpha0.1"}
    assert all(run["status"] == "done" and run["finished"] and run["epochs_done"] == 2 for run in runs.values())
    assert all(run["rank"] >= 1 and "10" in run["accuracy"] for run in runs.values())
    if stages["trainings"]["fid"] == "available":
        assert all(run["fid"]["gmm"] > 0 and run["fid"]["mvg"] > 0 for run in runs.values())
    with tarfile.open(output / "trainings.tar.gz") as archive:
        names = set(archive.getnames())
    assert {"trainings/rrae.json", "trainings/rrae.md", "logs/arrae.log"} <= names
    assert (output / "run.md").read_text().count("| rrae |") == 1
    # The models that came back load and score as stage 3 scored them.
    returned = unpack_models(output, tmp_path / "models")
    assert returned == sorted(name.removesuffix(".pt.gz") for name in stages["trainings"]["packed"]["returned"])
    assert "rrae" in returned
    one = tmp_path / "one"  # scoring one of them is enough, and keeps the test light
    (tmp_path / "models" / "rrae.pt").rename(one.mkdir() or one / "rrae.pt")
    evaluated = tmp_path / "evaluated"
    run("--evaluate", one, "--smoke", "--data", digits_as_mnist, "--output", evaluated)
    scored = json.loads((evaluated / "rrae.run.json").read_text())
    assert scored["rank"] == runs["rrae"]["rank"] and scored["accuracy"] == runs["rrae"]["accuracy"]


def test_a_training_cut_short_is_saved_and_continued(digits_as_mnist, tmp_path):
    gpu_run = import_benchmark("gpu_run")
    args = gpu_run.parse_args(["--smoke", "--data", str(digits_as_mnist), "--output", str(tmp_path / "out")])
    (args.work_dir / "models").mkdir(parents=True)
    config = {
        "args": gpu_run.report_safe(args), "method": "lorae", "overrides": {"alpha": 0.01}, "label": "cut",
        "train_by": time.time(), "evaluate_by": time.time() + 600, "threads": 1, "phase": None, "fid": False,
        "package": "test", "result": str(tmp_path / "cut.json"),
    }  # fmt: skip
    gpu_run.train(config)  # train_by has passed: it stops after its first epoch
    first = json.loads((tmp_path / "cut.json").read_text())
    assert first["epochs_done"] == 1 and not first["finished"] and first["status"] == "done"
    saved = tmp_path / "saved"
    (args.work_dir / "models" / "cut.pt").rename(saved.mkdir() or saved / "cut.pt")
    config["args"]["resume_models"] = str(saved)
    config["train_by"] = time.time() + 600
    gpu_run.train(config)
    second = json.loads((tmp_path / "cut.json").read_text())
    assert second["epochs_done"] == 2 and second["finished"] and second["continued_from"] == str(saved / "cut.pt")
