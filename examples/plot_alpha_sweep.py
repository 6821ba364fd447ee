"""
=======================================
Choosing alpha: latent rank against MSE
=======================================

``alpha`` weighs the nuclear norm of LoRAE's bottleneck against the reconstruction
error. The larger it is, the fewer latent directions the model keeps, and the worse it
reconstructs. This example sweeps ``alpha`` over the range the LoRAE paper uses and
draws both sides of the trade-off, with a plain autoencoder (``regularizer="none"``)
as the reference.
"""

# %%
# The sweep
# ---------
# One fit per value, on the same data, with the same seed. ``latent_rank_`` counts the
# latent directions whose variance exceeds 1e-3 times the largest; the reconstruction
# error is measured on held-out digits.
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_lorae import LoRAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, stratify=y, random_state=0)

common = dict(latent_dim=32, max_epochs=40, random_state=0)
alphas = np.logspace(-5, -1, 9)
sweep = [LoRAETransformer(alpha=alpha, **common).fit(X_train) for alpha in alphas]
plain = LoRAETransformer(regularizer="none", **common).fit(X_train)

ranks = [model.latent_rank_ for model in sweep]
errors = [-model.score(X_test) for model in sweep]
for alpha, rank, error in zip(alphas, ranks, errors):
    print(f"alpha={alpha:7.1e}: latent rank {rank:2d}, test MSE {error:.4f}")
print(
    f"plain AE     : latent rank {plain.latent_rank_:2d}, "
    f"test MSE {-plain.score(X_test):.4f}"
)

# %%
# The trade-off
# -------------
# Left, the rank falls as ``alpha`` grows; right, the reconstruction error rises. A
# useful ``alpha`` sits where the rank has dropped but the error has not yet taken off.
# On this data the default ``alpha=1e-3`` is such a point. Note that even a tiny
# ``alpha`` lowers the rank below the plain autoencoder's: the extra linear layer M is
# itself a (weak) implicit regulariser, as in IRMAE.
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

fig, (ax_rank, ax_error) = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
ax_rank.semilogx(alphas, ranks, "o-", label="LoRAE")
ax_rank.axhline(plain.latent_rank_, color="grey", linestyle="--", label="plain AE")
ax_rank.set_xlabel("alpha")
ax_rank.set_ylabel("latent rank")
ax_rank.set_ylim(bottom=0)
ax_rank.yaxis.set_major_locator(MaxNLocator(integer=True))
ax_rank.legend()

ax_error.semilogx(alphas, errors, "o-", label="LoRAE")
ax_error.axhline(-plain.score(X_test), color="grey", linestyle="--", label="plain AE")
ax_error.set_xlabel("alpha")
ax_error.set_ylabel("test reconstruction MSE")
ax_error.legend()
fig.suptitle("LoRAE on digits, latent_dim=32")
plt.show()

# %%
# The spectra behind the ranks
# ----------------------------
# Each curve is one model of the sweep: the larger ``alpha``, the earlier its
# singular values fall off.
from matplotlib import colormaps

from sklearn_lorae.plotting import plot_latent_spectrum

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
colors = colormaps["viridis"](np.linspace(0, 0.9, len(alphas)))
for model, alpha, color in zip(sweep, alphas, colors):
    plot_latent_spectrum(model, ax=ax, color=color, label=f"alpha={alpha:.0e}")
ax.legend(ncols=2, fontsize="small")
plt.show()
