"""Tests of the CPU Inception network: the frozen graph run step by step
(sklearn_lorae._inception_cpu) computes what the TorchScript graph computes."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sklearn_lorae import _features, _inception_cpu
from sklearn_lorae.metrics import extract_features

needs_inception = pytest.mark.inception


class _TinyInception(nn.Module):
    """The kinds of steps of the FID graph in miniature: a stem (convolutions with batch
    normalisation and ReLU, a max pooling), a block whose branches include an average
    pooling followed by a 1 x 1 convolution, a concatenation, a global average pooling."""

    def __init__(self, count_include_pad):
        super().__init__()

        def unit(c_in, c_out, kernel, **kwargs):
            return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, bias=False, **kwargs), nn.BatchNorm2d(c_out), nn.ReLU())

        self.stem = nn.Sequential(unit(3, 4, 3, stride=2), unit(4, 6, 3, padding=1), nn.MaxPool2d(3, 2))
        self.branch_1x1 = unit(6, 5, 1)
        self.branch_3x3 = nn.Sequential(unit(6, 4, 1), unit(4, 4, 3, padding=1))
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=count_include_pad)
        self.branch_pool = unit(6, 3, 1)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm2d):  # statistics that folding must carry
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.branch_1x1(x), self.branch_3x3(x), self.branch_pool(self.pool(x))], 1)
        return F.avg_pool2d(x, 6).reshape(-1, 12)  # 29 x 29 images: 6 x 6 maps here


def _script(module):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
        return torch.jit.script(module.eval())


@pytest.mark.parametrize("count_include_pad", [False, True])
def test_the_steps_compute_the_graphs_function(count_include_pad, monkeypatch):
    torch.manual_seed(0)
    scripted = _script(_TinyInception(count_include_pad))
    network = _inception_cpu.CpuInception(scripted)
    assert [step.op for step in network._stem] == ["conv", "conv", "max_pool"]
    # Batch normalisations folded, ReLUs fused into the convolutions.
    assert not any(step.op == "relu" and not step.params.get("in_place") for step in network._blocks)
    pool = next(step for step in network._blocks if step.op == "avg_pool" and step.params["kernel_size"] == [3, 3])
    # The pooling moves after its 1 x 1 convolution only where that keeps the bias:
    # averages that leave the padding out.
    assert pool.inputs[0].endswith(":pre_pool") is not count_include_pad
    monkeypatch.setattr(_inception_cpu, "STEM_CHUNK", 2)  # 5 images: chunks of 2, 2, 1
    images = torch.rand(5, 3, 29, 29).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        torch.testing.assert_close(network(images), scripted(images), rtol=1e-5, atol=1e-5)


def test_a_graph_with_unknown_steps_is_refused():
    scripted = _script(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Sigmoid()))
    with pytest.raises(NotImplementedError, match="sigmoid"):
        _inception_cpu.CpuInception(scripted)


@needs_inception
def test_inception_on_the_cpu_runs_the_steps_with_the_torchscript_graphs_features(monkeypatch):
    network = _features.load_cpu_inception()
    assert isinstance(network, _inception_cpu.CpuInception)  # no fallback on this torch
    assert [step.op for step in network._stem] == ["conv"] * 3 + ["max_pool"] + ["conv"] * 2 + ["max_pool"]
    # The eight average-pooling branches (mixed_5b-d, 6b-e, 7b) pool after their convolution.
    assert sum(step.op == "avg_pool" and step.inputs[0].endswith(":pre_pool") for step in network._blocks) == 8
    monkeypatch.setattr(_inception_cpu, "STEM_CHUNK", 2)  # 3 images: chunks of 2 and 1
    torch.manual_seed(0)
    images = (2 * torch.rand(3, 3, 299, 299) - 1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        features = network(images)
        for graph in (_features.load_inception("cpu"), _features.load_published_inception("cpu")):
            torch.testing.assert_close(features, graph(images), rtol=1e-5, atol=1e-4)


@needs_inception
def test_inception_features_come_from_the_steps_on_the_cpu():
    feature_map = _features.InceptionFeatureMap((1, 28, 28), (0.0, 1.0), "cpu")
    assert feature_map.network is _features.load_cpu_inception()
    grey = np.random.RandomState(0).uniform(size=(2, 28 * 28)).astype(np.float32)
    features = extract_features(grey, image_shape=(1, 28, 28), device="cpu")
    feature_map.network = _features.load_inception("cpu")
    np.testing.assert_allclose(features, feature_map(grey), rtol=1e-5, atol=1e-4)


@needs_inception
def test_load_cpu_inception_falls_back_to_the_torchscript_graph(monkeypatch):
    def refuse(network):
        raise NotImplementedError("a step this module does not know")

    monkeypatch.setattr(_features, "CpuInception", refuse)
    _features.load_cpu_inception.cache_clear()
    try:
        assert _features.load_cpu_inception() is _features.load_inception("cpu")
    finally:
        _features.load_cpu_inception.cache_clear()
