"""Which stage of a fit differs when it runs in a thread instead of the main thread.

On one CI machine, samples of fits run in threads differed from those of the same fits
run alone by float32 rounding, while the codes were bit-identical (issue: reliability).
This script fits the same small generator in the main thread and in a new thread and
prints, stage by stage, whether the results are bit-identical, with the machine's facts.
It never fails: it reports. Run at the end of ``.ci/run``; by hand:

    python benchmarks/diagnose_threads.py
"""

import platform
import threading

import numpy as np
import torch
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_info
from torch.nn.utils import parameters_to_vector

from sklearn_lorae import LoRAEGenerator


def _stages(X):
    estimator = LoRAEGenerator(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0, n_components=2)
    estimator.fit(X)
    density = estimator.density_
    return {
        "network weights": parameters_to_vector(estimator.net_.module_.parameters()).detach().numpy(),
        "codes in float64 (transform)": estimator.transform(X),
        "codes in float32 (the density's data)": estimator._encode(X.astype(np.float32)),
        "density means": density.means_,
        "density covariances": density.covariances_,
        "samples": estimator.sample(5, random_state=0),
    }


def main():
    X = load_digits().data[:300] / 16
    alone = _stages(X)
    in_thread = {}
    thread = threading.Thread(target=lambda: in_thread.update(_stages(X)))
    thread.start()
    thread.join()
    print(f"machine: {platform.machine()}, {platform.processor() or 'processor unknown'}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU capability:", end=" ")
    print(torch.backends.cpu.get_cpu_capability())
    for library in threadpool_info():
        print(f"  {library['prefix']} {library.get('version')} {library.get('architecture')}: {library['num_threads']}")
    for stage, value in alone.items():
        difference = np.max(np.abs(value - in_thread[stage]))
        verdict = "bit-identical" if np.array_equal(value, in_thread[stage]) else f"differs by up to {difference:.3g}"
        print(f"{stage}, main thread against a new thread: {verdict}")


if __name__ == "__main__":
    main()
