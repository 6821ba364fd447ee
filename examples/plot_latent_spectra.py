"""
================================================
Latent spectra of a plain AE, of IRMAE and LoRAE
================================================

How many directions of its latent space does an autoencoder use? The singular values
of the covariance of the training codes answer it: a direction the codes do not vary
along has a singular value of zero. The LoRAE paper plots these spectra (its Figure 2)
to show that a nuclear-norm penalty on the bottleneck collapses the latent space to a
low rank. This example draws the same picture on the digits data set for the three
methods of :ref:`the methods table <methods>`: ``regularizer="none"`` (a plain
autoencoder), ``"implicit"`` (IRMAE, a product of linear layers) and ``"nuclear"``
(LoRAE).
"""

# %%
# Fitting the three autoencoders
# ------------------------------
# Everything but the bottleneck is the same: a 32-dimensional latent space, the same
# multilayer perceptron, the same epochs and seed. Each fitted estimator holds the
# spectrum of its training codes in ``latent_singular_values_`` and counts the
# significant ones (above 1e-3 times the largest) in ``latent_rank_``.
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_lorae import LoRAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, stratify=y, random_state=0)

methods = {
    "AE": "none",
    "IRMAE": "implicit",
    "LoRAE": "nuclear",
}
autoencoders = {
    name: LoRAETransformer(
        latent_dim=32, regularizer=regularizer, max_epochs=40, random_state=0
    ).fit(X_train)
    for name, regularizer in methods.items()
}

# %%
# The spectra
# -----------
# Normalised by their largest value and drawn on a log scale (the paper's Figure 2).
# The plain autoencoder spreads its codes over most of its 32 directions; IRMAE and
# LoRAE concentrate them on a few, the remaining singular values dropping by orders of
# magnitude. Singular values that are exactly zero are left out of the log plot.
import matplotlib.pyplot as plt

from sklearn_lorae.plotting import plot_latent_spectrum

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, autoencoder in autoencoders.items():
    plot_latent_spectrum(
        autoencoder, ax=ax, label=f"{name} (rank {autoencoder.latent_rank_})"
    )
ax.axhline(1e-3, color="grey", linestyle=":", label="rank threshold")
ax.set_title("Latent singular values on digits (latent_dim=32)")
ax.legend()
plt.show()

# %%
# Rank against reconstruction
# ---------------------------
# A lower rank is not free: fewer directions reconstruct less detail. The mean squared
# error on held-out digits shows the price each method pays for its rank; for LoRAE,
# ``alpha`` sets it (see :ref:`sphx_glr_auto_examples_plot_alpha_sweep.py`).
for name, autoencoder in autoencoders.items():
    print(
        f"{name:>6}: latent rank {autoencoder.latent_rank_:2d}, "
        f"test reconstruction MSE {-autoencoder.score(X_test):.4f}"
    )
