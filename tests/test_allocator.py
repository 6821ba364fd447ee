import contextlib
import json
import subprocess
import sys

import numpy as np
import pytest

from sklearn_lorae import LoRAETransformer, _net
from sklearn_lorae._allocator import _glibc

_PAGE_FAULTS_OF_STEPS = """
import json, resource, sys, torch
from sklearn_lorae._allocator import retained_heap

N_STEPS = 8

def page_faults_of_steps(n_tensors, megabytes, n_warmup):
    # Steps that allocate, touch and free the same memory, as training steps do, after
    # warm-up steps have grown the heap.
    def step():
        tensors = [torch.empty(megabytes * 2**18).fill_(1.0) for _ in range(n_tensors)]
        del tensors

    for _ in range(n_warmup):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(N_STEPS):
        step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

n_tensors, megabytes = map(int, sys.argv[1:])
# One warm-up step with glibc's defaults: with more, its adaptive thresholds sometimes
# settle where the 24 MB blocks stay in the heap (the first steps of a fit do fault).
default = page_faults_of_steps(n_tensors, megabytes, n_warmup=1)
with retained_heap():
    inside = page_faults_of_steps(n_tensors, megabytes, n_warmup=3)
print(json.dumps({"default": default, "inside": inside, "n_steps": N_STEPS}))
"""


@pytest.mark.skipif(_glibc() is None, reason="retained_heap only changes glibc's malloc")
@pytest.mark.parametrize(
    "n_tensors, megabytes",
    [(8, 24), (2, 96)],
    ids=["blocks below the mmap threshold", "blocks above its 32 MB ceiling"],
)
def test_retained_heap_stops_steps_from_page_faulting_their_memory_back(n_tensors, megabytes):
    # A fresh interpreter: malloc's thresholds are process-wide and this one's depend on
    # what ran before (retained_heap fixes them for the rest of a process).
    command = [sys.executable, "-c", _PAGE_FAULTS_OF_STEPS, str(n_tensors), str(megabytes)]
    faults = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    # With glibc's defaults the 192 MB freed at every step are given back to the system
    # and faulted in again, up to 49,152 pages per step: above the adaptive trim
    # threshold (64 MB at most) for the 24 MB blocks, and as separate mappings for the
    # 96 MB ones. How much depends on the thresholds that the interpreter's start-up
    # left: 55,000 to 393,000 faults over the 8 steps for the 24 MB blocks.
    assert faults["default"] > 40_000  # at least one step's 192 MB, nearly
    # Inside, the heap keeps what the steps free. Now and then a late step still grows
    # it once (probably a small allocation left between two freed blocks splits the hole):
    # 24,576 faults, one 96 MB block, in some runs. All steps together fault in less
    # than one step does with the defaults.
    assert faults["inside"] < faults["default"] / faults["n_steps"]


def spy_on_retained_heap(monkeypatch, module):
    """Replaces ``module.retained_heap`` by a context manager that records its use in the
    list returned."""
    entered = []

    @contextlib.contextmanager
    def recording():
        entered.append("in")
        yield
        entered.append("out")

    monkeypatch.setattr(module, "retained_heap", recording)
    return entered


def test_cpu_training_runs_inside_retained_heap(monkeypatch):
    entered = spy_on_retained_heap(monkeypatch, _net)
    X = np.random.RandomState(0).rand(40, 6).astype(np.float32)
    LoRAETransformer(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, device="cpu", random_state=0).fit(X)
    assert entered == ["in", "out"]


def test_feature_extraction_runs_torch_networks_on_the_cpu_inside_retained_heap(monkeypatch):
    from sklearn.decomposition import PCA
    from torch import nn

    from sklearn_lorae import _features
    from sklearn_lorae.metrics import extract_features

    entered = spy_on_retained_heap(monkeypatch, _features)
    X = np.random.RandomState(0).rand(20, 6)
    extract_features(X, features=PCA(2).fit(X))
    assert entered == []  # nothing to retain for numpy code
    extract_features(X, features=nn.Linear(6, 2), device="cpu", batch_size=8)
    assert entered == ["in", "out"]  # once around all the batches
