"""
==========================================
Quick start: a LoRAE embedding in Pipeline
==========================================

:class:`~sklearn_lorae.LoRAETransformer` is a scikit-learn transformer: ``fit`` trains a
low-rank autoencoder, ``transform`` encodes, ``inverse_transform`` decodes. Like
:class:`~sklearn.decomposition.PCA` it can reduce the dimension of data ahead of a
classifier. This example puts both, with the same latent width, in front of a logistic
regression on the digits data set.
"""

# %%
# The data
# --------
# 1797 grey images of 8 x 8 pixels, each a row of 64 values in 0..16, scaled to [0, 1].
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# Two pipelines of the same width
# -------------------------------
# The autoencoder trains on a GPU when there is one (``device="auto"``, the default)
# and on the CPU otherwise; ``random_state`` makes the fit reproducible. The codes of an
# autoencoder are not standardised, so a :class:`~sklearn.preprocessing.StandardScaler`
# sits in front of the classifier of both pipelines.
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_lorae import LoRAETransformer

latent_dim = 16
pipelines = {
    "PCA": make_pipeline(
        PCA(n_components=latent_dim, random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    ),
    "LoRAE": make_pipeline(
        LoRAETransformer(latent_dim=latent_dim, max_epochs=40, random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=1000),
    ),
}
for name, pipeline in pipelines.items():
    pipeline.fit(X_train, y_train)
    print(f"{name:>5}: test accuracy {pipeline.score(X_test, y_test):.3f}")

# %%
# On 1347 small images, a linear method is hard to beat: PCA is the optimal linear
# embedding of its width, while the autoencoder's few epochs and its low-rank penalty
# leave it fewer usable directions (see below). The pipeline is the point here: the
# autoencoder is a drop-in transformer, refitted and cross-validated like any other.

# %%
# What the autoencoder learned
# ----------------------------
# The nuclear-norm penalty of LoRAE pushes the latent codes onto a subspace of low
# rank: of the 16 latent directions only ``latent_rank_`` carry variance, where PCA
# keeps all 16 by construction.
pca = pipelines["PCA"][0]
lorae = pipelines["LoRAE"][0]
print(f"latent rank of LoRAE: {lorae.latent_rank_} of {latent_dim}")

# %%
# Both estimators decode their codes back to images. PCA is the best linear
# reconstruction of its width and uses all 16 directions; the autoencoder reconstructs
# from its fewer directions, at a somewhat larger error.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_lorae.plotting import plot_image_grid

digits = X_test[:10]
rows = {
    "test digits": digits,
    "PCA": pca.inverse_transform(pca.transform(digits)),
    "LoRAE": lorae.inverse_transform(lorae.transform(digits)),
}
fig, axes = plt.subplots(len(rows), 1, figsize=(6, 2.4), layout="constrained")
for ax, (name, images) in zip(axes, rows.items()):
    plot_image_grid(images, n_cols=len(digits), ax=ax, vmin=0, vmax=1)
    ax.set_ylabel(name, rotation=0, ha="right", va="center")

for name, estimator in [("PCA", pca), ("LoRAE", lorae)]:
    reconstruction = estimator.inverse_transform(estimator.transform(X_test))
    mse = np.mean((X_test - reconstruction) ** 2)
    print(f"{name:>5}: test reconstruction MSE {mse:.4f}")
plt.show()
