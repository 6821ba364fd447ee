"""
=============================
Grid search on a Dask cluster
=============================

:class:`~sklearn.model_selection.GridSearchCV` hands its fits to joblib, and joblib can
hand them to a `Dask <https://distributed.dask.org>`_ cluster: inside
``joblib.parallel_backend("dask")``, every fit of every candidate and fold runs as a
task on the cluster's workers, and only the scores come back. The search is the one that
``n_jobs=1`` runs, score for score: on the CPU, with the same seeds, the results are
identical bit for bit. See :ref:`scaling` for clusters of several machines and GPUs.
"""

# %%
# A cluster on this machine
# -------------------------
# A :class:`~distributed.LocalCluster` whose scheduler, worker and dashboard listen on
# the loopback only. Its worker is two threads of this process (``processes=False``),
# which start at once; with its defaults, ``LocalCluster()`` starts worker processes
# instead, as a cluster of machines has, and the search runs the same (the tests run
# both). On a real cluster, the :class:`~distributed.Client` connects to the
# scheduler's address (``Client("tcp://scheduler:8786")``) and nothing else below
# changes. The dashboard shows the tasks as they run; its pages need ``bokeh`` (``pip
# install bokeh``), without which the address answers with that advice.
from distributed import Client, LocalCluster

cluster = LocalCluster(
    n_workers=1,
    threads_per_worker=2,
    processes=False,
    host="127.0.0.1",
    protocol="tcp",
    dashboard_address="127.0.0.1:0",
)
client = Client(cluster)
print(client)
print("dashboard:", client.dashboard_link)

# %%
# The search
# ----------
# Three values of ``alpha`` by two of ``latent_dim``, three folds: eighteen fits of a
# generator, scored by the FID of its samples on a 16-component PCA of the digits
# (:ref:`sphx_glr_auto_examples_plot_grid_search_fid.py` explains the choice). The
# scorer's ``random_state`` draws the same samples wherever a fit is scored.
import joblib
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV, train_test_split

from sklearn_lorae import LoRAEGenerator
from sklearn_lorae.metrics import make_fid_scorer

X, y = load_digits(return_X_y=True)
X_train, X_test = train_test_split(X / 16.0, test_size=0.25, stratify=y, random_state=0)
features = PCA(n_components=16, random_state=0).fit(X_train)

search = GridSearchCV(
    LoRAEGenerator(max_epochs=12, random_state=0),
    {"alpha": [1e-4, 1e-3, 1e-2], "latent_dim": [8, 32]},
    scoring=make_fid_scorer(features=features, random_state=0),
    cv=3,
)
with joblib.parallel_backend("dask"):
    search.fit(X_train)

# %%
# The results
# -----------
# ``cv_results_`` is gathered on the client, as with any backend. The refit of the best
# candidate on all the training rows ran here, in the client's process.
results = search.cv_results_
print(
    f"{'alpha':>8} {'latent_dim':>10} {'FID':>8} {'+/-':>6} {'rank':>4} {'fit (s)':>7}"
)
for params, score, std, rank, seconds in zip(
    results["params"],
    results["mean_test_score"],
    results["std_test_score"],
    results["rank_test_score"],
    results["mean_fit_time"],
):
    print(
        f"{params['alpha']:8.0e} {params['latent_dim']:10d} {-score:8.3f} "
        f"{std:6.3f} {rank:4d} {seconds:7.2f}"
    )
print("best:", search.best_params_)

client.close()
cluster.close()

# %%
# The FID of every candidate, and samples of the best one.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_lorae.plotting import plot_image_grid

alphas, widths = search.param_grid["alpha"], search.param_grid["latent_dim"]
fids = -np.array(
    [
        [
            results["mean_test_score"][
                results["params"].index({"alpha": a, "latent_dim": w})
            ]
            for w in widths
        ]
        for a in alphas
    ]
)
fig, (ax_fid, ax_samples) = plt.subplots(
    1, 2, figsize=(10, 3.6), layout="constrained", width_ratios=[1, 1.3]
)
image = ax_fid.imshow(fids, cmap="viridis_r")
ax_fid.set_xticks(range(len(widths)), [str(w) for w in widths])
ax_fid.set_yticks(range(len(alphas)), [f"{a:.0e}" for a in alphas])
ax_fid.set_xlabel("latent_dim")
ax_fid.set_ylabel("alpha")
for (row, column), fid in np.ndenumerate(fids):
    light = image.norm(fid) < 0.5  # the yellow end of the reversed map
    ax_fid.text(
        column,
        row,
        f"{fid:.2f}",
        ha="center",
        va="center",
        color="black" if light else "white",
    )
fig.colorbar(image, ax=ax_fid, label="FID on validation folds (lower is better)")
samples = search.best_estimator_.sample(40, random_state=0)
plot_image_grid(
    samples, n_cols=10, ax=ax_samples, vmin=0, vmax=1, title="samples of the best model"
)
plt.show()
