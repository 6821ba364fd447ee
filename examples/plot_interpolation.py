"""
============================================
Interpolating between digits in latent space
============================================

Walking on a straight line between the codes of two images and decoding each point
shows what lies between them in the model's latent space (the LoRAE paper's Figure 3).
In pixel space the same walk merely cross-fades the two images, one digit showing
through the other; through an autoencoder's latent space, each step is decoded into
one digit-like image whose shape changes from the first digit into the second.
"""

# %%
# Two autoencoders
# ----------------
# A plain autoencoder and LoRAE with the same network and seed.
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_lorae import LoRAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

common = dict(latent_dim=32, max_epochs=50, random_state=0)
autoencoders = {
    "plain AE": LoRAETransformer(regularizer="none", **common).fit(X_train),
    "LoRAE": LoRAETransformer(**common).fit(X_train),
}

# %%
# Paths between pairs of held-out digits
# --------------------------------------
# Each path has ``n_steps`` points ``(1 - t) * z_start + t * z_end``; for pixel space,
# the same formula on the images.
pairs = [(0, 6), (1, 7), (3, 8), (4, 9)]
n_steps = 9
t = np.linspace(0, 1, n_steps)[:, np.newaxis]

starts = np.array([X_test[y_test == a][0] for a, _ in pairs])
ends = np.array([X_test[y_test == b][0] for _, b in pairs])


def interpolate(start, end):
    """Rows of the straight path from start to end, one path after the other."""
    return np.concatenate([(1 - t) * a + t * b for a, b in zip(start, end)])


paths = {"pixel space": interpolate(starts, ends)}
for name, autoencoder in autoencoders.items():
    codes = interpolate(autoencoder.transform(starts), autoencoder.transform(ends))
    paths[name] = autoencoder.inverse_transform(codes)

# %%
# The paths
# ---------
# One panel per method, one row per pair of digits, from the first digit (left) to the
# second (right). The end points of the latent paths are reconstructions, not the
# digits themselves. On these 8 x 8 digits both autoencoders stay close to digit
# shapes; the clear contrast is with the ghosted images of pixel space.
import matplotlib.pyplot as plt

from sklearn_lorae.plotting import plot_image_grid

fig, axes = plt.subplots(len(paths), 1, figsize=(5, 7.5), layout="constrained")
for ax, (name, images) in zip(axes, paths.items()):
    plot_image_grid(images, n_cols=n_steps, ax=ax, vmin=0, vmax=1, title=name)
plt.show()
