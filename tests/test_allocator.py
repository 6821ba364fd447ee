import contextlib
import json
import subprocess
import sys

import numpy as np
import pytest

from sklearn_lorae import LoRAETransformer, _net
from sklearn_lorae._allocator import _glibc


_PAGE_FAULTS_OF_STEPS = """
import json, resource, torch
from sklearn_lorae._allocator import retained_heap

def page_faults_of_steps(n_steps=4, n_tensors=8, megabytes=24):
    # Steps that allocate, touch and free the same 192 MB, as training steps do, after a
    # first step has grown the heap; 24 MB per tensor is below glibc's mmap ceiling.
    def step():
        tensors = [torch.empty(megabytes * 2**18).fill_(1.0) for _ in range(n_tensors)]
        del tensors

    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(n_steps):
        step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

default = page_faults_of_steps()
with retained_heap():
    inside = page_faults_of_steps()
print(json.dumps({"default": default, "inside": inside}))
"""


@pytest.mark.skipif(_glibc() is None, reason="retained_heap only changes glibc's malloc")
def test_retained_heap_stops_steps_from_page_faulting_their_memory_back():
    # A fresh interpreter: malloc's thresholds are process-wide and this one's depend on
    # what ran before (retained_heap fixes them for the rest of a process).
    done = subprocess.run([sys.executable, "-c", _PAGE_FAULTS_OF_STEPS], capture_output=True, text=True, check=True)
    faults = json.loads(done.stdout)
    # With glibc's defaults the 192 MB freed at every step exceed the adaptive trim
    # threshold (64 MB at most): given back to the system and faulted in again, up to
    # 49,152 pages per step. How much depends on the thresholds that the interpreter's
    # start-up left (30,670 faults for 96 MB in one environment, 98,176 in another).
    assert faults["default"] > 20_000
    assert faults["inside"] < faults["default"] / 20


def test_cpu_training_runs_inside_retained_heap(monkeypatch):
    entered = []

    @contextlib.contextmanager
    def recording():
        entered.append("in")
        yield
        entered.append("out")

    monkeypatch.setattr(_net, "retained_heap", recording)
    X = np.random.RandomState(0).rand(40, 6).astype(np.float32)
    LoRAETransformer(latent_dim=2, hidden_layer_sizes=(8,), max_epochs=2, device="cpu", random_state=0).fit(X)
    assert entered == ["in", "out"]
