"""dask-ml's ``Incremental`` wrapper, the route the docs' "Scaling out" page describes.

dask-ml 2025.1.0, its newest release, works with ``dask`` / ``distributed`` 2025.1.0 and
fails with 2026.x even for scikit-learn's own estimators, so these tests need the
``dask-ml`` extra, which pins those versions; without dask-ml they skip, saying so. CI
runs them in an environment of their own (``.ci/run``)."""

import numpy as np
import pytest

dask_ml_wrappers = pytest.importorskip(
    "dask_ml.wrappers", reason='needs the dask-ml extra: pip install ".[dask-ml]" (pins dask 2025.1.0)'
)
import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from sklearn_lorae import LoRAETransformer  # noqa: E402

TINY = dict(latent_dim=4, hidden_layer_sizes=(32,), max_epochs=1, device="cpu", random_state=0)
ROWS_PER_BLOCK = 100


@pytest.fixture(scope="module")
def client():
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=False,
            host="127.0.0.1",
            protocol="tcp",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_incremental_trains_the_network_of_the_loop_over_blocks(client, digits, method):
    X = digits[0][:300]
    X_dask = da.from_array(X, chunks=(ROWS_PER_BLOCK, X.shape[1]))
    incremental = dask_ml_wrappers.Incremental(LoRAETransformer(**TINY), shuffle_blocks=False)
    getattr(incremental, method)(X_dask)
    looped = LoRAETransformer(**TINY)
    for start in range(0, len(X), ROWS_PER_BLOCK):
        looped.partial_fit(X[start : start + ROWS_PER_BLOCK])
    trained = incremental.estimator_
    assert trained.n_iter_ == looped.n_iter_ == len(X) // ROWS_PER_BLOCK
    np.testing.assert_array_equal(trained.transform(X), looped.transform(X))
