"""Scaling out on Dask (issue 16): grid searches through joblib's Dask backend on real
``LocalCluster`` s, fits on workers, and out-of-core training and inference on Dask arrays.

Every cluster listens on the loopback only, its dashboard on a free port, and is shut
down by its context manager when the tests that use it are done."""

import os
import re
import subprocess
import sys

import dask
import dask.array as da
import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV

from sklearn_lorae import LoRAEGenerator, LoRAETransformer
from sklearn_lorae.metrics import make_fid_scorer

TINY = dict(hidden_layer_sizes=(32,), max_epochs=2, device="cpu", random_state=0)
GRID = {"alpha": [1e-3, 1e-1], "latent_dim": [4, 8]}
N_FOLDS = 3
N_ROWS = 300

CLUSTERS = {
    "2 processes of 1 thread": dict(n_workers=2, threads_per_worker=1, processes=True),
    "1 process of 2 threads": dict(n_workers=1, threads_per_worker=2, processes=False),
}


@pytest.fixture(scope="module", params=list(CLUSTERS))
def client(request):
    """A client of a LocalCluster of each kind (the threads run in this process)."""
    with (
        LocalCluster(
            host="127.0.0.1", protocol="tcp", dashboard_address="127.0.0.1:0", **CLUSTERS[request.param]
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_the_clusters_listen_on_the_loopback_only(client):
    import psutil  # a dependency of distributed

    listening = set()
    for pid in {os.getpid(), *client.run(os.getpid).values()}:  # this process (scheduler, nannies), the workers
        process = psutil.Process(pid)
        connections = process.net_connections if hasattr(process, "net_connections") else process.connections  # < 6.0
        listening |= {c.laddr.ip for c in connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}


def _search(scoring, X):
    """The grid search of the tests: the reconstruction score of the transformer, or the
    FID of the generator's samples (drawn from one seed) on features fitted to X (a PCA)."""
    if scoring == "reconstruction":
        return GridSearchCV(LoRAETransformer(**TINY), GRID, cv=N_FOLDS)
    features = PCA(n_components=8, random_state=0).fit(X)
    return GridSearchCV(
        LoRAEGenerator(**TINY), GRID, cv=N_FOLDS, scoring=make_fid_scorer(features=features, random_state=0)
    )


@pytest.fixture(scope="module")
def searched_alone(digits):
    """Each search run with n_jobs=1, the reference."""
    X = digits[0][:N_ROWS]
    return {scoring: _search(scoring, X).fit(X) for scoring in ("reconstruction", "fid")}


@pytest.mark.parametrize("scoring", ["reconstruction", "fid"])
def test_grid_search_on_dask_gives_the_results_of_n_jobs_1(client, digits, searched_alone, scoring):
    X = digits[0][:N_ROWS]
    search = _search(scoring, X)
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        search.fit(X)
    # Every fit ran on the cluster, in tasks of joblib's batches ("batch_of__fit_and_score_2_calls-...").
    batches = [re.search(r"batch_of__fit_and_score_(\d+)_calls", task["key"]) for task in tasks.data]
    assert sum(int(batch[1]) for batch in batches if batch) == len(search.cv_results_["params"]) * N_FOLDS
    alone = searched_alone[scoring]
    assert search.best_params_ == alone.best_params_
    scores = [key for key in alone.cv_results_ if "test_score" in key]
    assert len(scores) == N_FOLDS + 3  # each fold, the mean, the std and the rank
    for key in scores:
        if scoring == "fid":
            # The samples are bit-identical (test_reliability.py), but the scorer's own
            # linear algebra (features, the Frechet distance) runs outside any fit, on
            # as many BLAS threads as the worker has at that moment: seen as 1e-9 relative.
            np.testing.assert_allclose(search.cv_results_[key], alone.cv_results_[key], rtol=1e-7, err_msg=key)
        else:
            np.testing.assert_array_equal(search.cv_results_[key], alone.cv_results_[key], err_msg=key)


def test_a_fit_on_a_worker_comes_back_to_the_client_as_the_fit_here(client, digits):
    X = digits[0][:N_ROWS]
    generator = LoRAEGenerator(latent_dim=4, **TINY)
    remote = client.submit(clone(generator).fit, X).result()
    here = generator.fit(X)
    np.testing.assert_array_equal(remote.transform(X), here.transform(X))
    # Bit-identical, as fits in threads are (test_reliability.py).
    np.testing.assert_array_equal(remote.sample(10, random_state=0), here.sample(10, random_state=0))


# ---------------------------------------------------------------- out of core
def _blocks_that_record_their_loading(X, rows_per_block):
    """X (of a multiple of ``rows_per_block`` rows) as a Dask array whose blocks are made
    when computed, as if read from disk, and the list of the indices of the blocks made."""
    loaded = []

    def load(block_info=None):
        (start, stop), _ = block_info[None]["array-location"]
        loaded.append(block_info[None]["chunk-location"][0])
        return X[start:stop]

    chunks = ((rows_per_block,) * (len(X) // rows_per_block), (X.shape[1],))
    return da.map_blocks(load, chunks=chunks, dtype=X.dtype, meta=X[:0]), loaded


def test_partial_fit_over_the_blocks_of_a_dask_array_loads_one_block_at_a_time(digits):
    X = digits[0][:N_ROWS]
    X_dask, loaded = _blocks_that_record_their_loading(X, rows_per_block=100)
    streamed = LoRAETransformer(latent_dim=4, **TINY)
    # In this process, where the list is, whatever client another test left active.
    with dask.config.set(scheduler="synchronous"):
        # The loop of the docs ("Scaling out"): one epoch per pass over the blocks.
        for _ in range(2):
            for block in X_dask.blocks:
                streamed.partial_fit(block.compute())
    assert loaded == [0, 1, 2, 0, 1, 2]  # each block once per pass, never the whole array
    in_memory = LoRAETransformer(latent_dim=4, **TINY)
    for _ in range(2):
        for start in range(0, N_ROWS, 100):
            in_memory.partial_fit(X[start : start + 100])
    assert streamed.n_iter_ == in_memory.n_iter_ == 6
    np.testing.assert_array_equal(streamed.transform(X), in_memory.transform(X))


def test_transform_inverse_transform_and_sample_map_over_dask_blocks(client, digits):
    # float64: the results do not depend on how the rows are split into blocks.
    X = digits[0][:N_ROWS].astype(np.float64)
    generator = LoRAEGenerator(latent_dim=4, **TINY).fit(X)
    X_dask = da.from_array(X, chunks=(128, -1))
    # The one-liners of the docs: lazy, block by block, with the output's shape known.
    Z = X_dask.map_blocks(generator.transform, chunks=(X_dask.chunks[0], generator.latent_dim), dtype=X.dtype)
    X_back = Z.map_blocks(generator.inverse_transform, chunks=(Z.chunks[0], generator.n_features_in_), dtype=X.dtype)
    samples = da.concatenate(
        [
            da.from_delayed(dask.delayed(generator.sample)(100, random_state=seed), (100, X.shape[1]), dtype=X.dtype)
            for seed in range(3)
        ]
    )
    assert (Z.shape, X_back.shape, samples.shape) == ((N_ROWS, 4), X.shape, (300, X.shape[1]))
    Z_computed, X_back_computed, samples_computed = dask.compute(Z, X_back, samples)  # on the cluster
    np.testing.assert_array_equal(Z_computed, generator.transform(X))
    np.testing.assert_array_equal(X_back_computed, generator.inverse_transform(generator.transform(X)))
    np.testing.assert_array_equal(
        samples_computed, np.vstack([generator.sample(100, random_state=seed) for seed in range(3)])
    )


def test_the_package_imports_without_dask():
    # Dask is an optional extra. None in sys.modules makes "import dask" fail, as when it
    # is not installed.
    code = "import sys; sys.modules.update(dask=None, distributed=None); import sklearn_lorae, sklearn_lorae.metrics"
    subprocess.run([sys.executable, "-c", code], check=True)
