"""
========================================
Generating digits: GMM or Gaussian prior
========================================

:class:`~sklearn_lorae.LoRAEGenerator` is a deterministic autoencoder made generative
after training: it fits a density to the latent codes of the training data and decodes
draws from it (the "ex-post density estimation" of Ghosh et al. that the LoRAE paper
uses). ``sampler`` chooses the density: a Gaussian mixture of ``n_components``
full-covariance components (``"gmm"``, the default), or one full-covariance Gaussian
(``"gaussian"``, the paper's MVG). The paper's argument for a low-rank latent space is
that it makes this density easier to fit: the codes fill a few directions only.
"""

# %%
# Two generators
# --------------
# Same data, same network, same seed: the trained autoencoders are identical and only
# the latent density differs.
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_lorae import LoRAEGenerator

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, stratify=y, random_state=0)

generators = {
    sampler: LoRAEGenerator(
        latent_dim=32, max_epochs=50, sampler=sampler, random_state=0
    ).fit(X_train)
    for sampler in ["gmm", "gaussian"]
}
print(f"latent rank: {generators['gmm'].latent_rank_} of 32")

# %%
# Samples
# -------
# ``sample(n, random_state=...)`` returns new rows in the format of the training data:
# here flattened 8 x 8 images. The decoder's output is not bounded (the default
# ``output_activation="identity"``), so samples may stray a little outside [0, 1]; the
# plots clip them to that range. ``output_activation="sigmoid"`` would bound them.
import matplotlib.pyplot as plt

from sklearn_lorae.plotting import plot_image_grid

n_shown = 40
fig, axes = plt.subplots(3, 1, figsize=(5.5, 7), layout="constrained")
plot_image_grid(
    X_test[:n_shown], n_cols=10, ax=axes[0], vmin=0, vmax=1, title="held-out digits"
)
for ax, (sampler, generator) in zip(axes[1:], generators.items()):
    samples = generator.sample(n_shown, random_state=0)
    plot_image_grid(
        samples, n_cols=10, ax=ax, vmin=0, vmax=1, title=f'sampler="{sampler}"'
    )
plt.show()

# %%
# Measuring the difference: FID
# -----------------------------
# The Fréchet distance between features of generated and of held-out data (FID) puts a
# number on what the eye sees. The standard FID network, Inception-v3, is made for
# natural photographs; for 8 x 8 digits, a :class:`~sklearn.decomposition.PCA` fitted
# to the training data is a cheap and sensible feature extractor. FID depends on the
# features and on the number of samples, so compare FIDs only at equal settings. The
# FID between training and held-out digits is the floor that a perfect generator
# would reach with this many samples.
from sklearn.decomposition import PCA

from sklearn_lorae.metrics import fid_score

features = PCA(n_components=16, random_state=0).fit(X_train)
n_samples = len(X_test)
floor = fid_score(X_test, X_train[:n_samples], features=features)
print(f"held-out vs training digits: FID {floor:.3f}")
for sampler, generator in generators.items():
    samples = generator.sample(n_samples, random_state=0)
    fid = fid_score(X_test, samples, features=features)
    print(f"held-out vs sampler={sampler!r:>10}: FID {fid:.3f}")

# %%
# The mixture captures the clusters that the ten digit classes form in the latent
# space, which one Gaussian smooths over; it usually reaches the lower FID. To tune
# ``n_components`` or ``alpha`` for generation, search them with FID as the score:
# see :ref:`sphx_glr_auto_examples_plot_grid_search_fid.py`.
