"""
==============================================
Tabular data: a low-rank embedding for a model
==============================================

LoRAE is not only for images. On tabular data the built-in encoder and decoder are
multilayer perceptrons, and the nuclear-norm penalty picks how many latent directions
the data need. This example embeds the 30 features of the breast-cancer data set ahead
of a logistic regression and compares it with PCA of the same width.
"""

# %%
# The data
# --------
# 569 tumours, 30 features of very different scales, two classes. Features of different
# units need standardising before an autoencoder, as before PCA: its loss is the mean
# squared error over the features, which large-valued features would dominate. The
# default ``output_activation="identity"`` suits standardised data, which is not
# bounded.
from sklearn.datasets import load_breast_cancer

X, y = load_breast_cancer(return_X_y=True)
print(f"{X.shape[0]} samples, {X.shape[1]} features")

# %%
# Three pipelines
# ---------------
# Cross-validated accuracy of a logistic regression on all 30 standardised features, on
# 8 PCA components, and on an 8-dimensional LoRAE embedding. Each pipeline is refitted
# on every fold, the autoencoder included, so that no fold's test data leak into it.
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_lorae import LoRAETransformer

latent_dim = 8
lorae = LoRAETransformer(
    latent_dim=latent_dim,
    hidden_layer_sizes=(64,),
    max_epochs=60,
    batch_size=64,
    random_state=0,
)
pipelines = {
    "all 30 features": make_pipeline(StandardScaler(), LogisticRegression()),
    f"PCA ({latent_dim})": make_pipeline(
        StandardScaler(),
        PCA(latent_dim, random_state=0),
        StandardScaler(),
        LogisticRegression(),
    ),
    f"LoRAE ({latent_dim})": make_pipeline(
        StandardScaler(), lorae, StandardScaler(), LogisticRegression()
    ),
}
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
scores = {
    name: cross_val_score(pipeline, X, y, cv=cv) for name, pipeline in pipelines.items()
}
for name, fold_scores in scores.items():
    print(f"{name:>16}: accuracy {fold_scores.mean():.3f} +/- {fold_scores.std():.3f}")

# %%
# How many directions the embedding uses
# --------------------------------------
# Fitted on all the data, the autoencoder's latent spectrum (left) shows how many of its
# ``latent_dim`` directions carry variance (``latent_rank_``), next to the variances of
# PCA's components, the spectrum of the standardised data themselves. The right panel
# shows the codes along their two leading principal directions: the two classes
# separate along the first, as they do along PCA's first component.
import matplotlib.pyplot as plt
import numpy as np

from sklearn_lorae.plotting import plot_latent_spectrum

embedding = make_pipeline(StandardScaler(), lorae).fit(X)
pca = make_pipeline(StandardScaler(), PCA(random_state=0)).fit(X)
print(f"latent rank of LoRAE: {embedding[-1].latent_rank_} of {latent_dim}")

codes = embedding.transform(X)
leading = PCA(n_components=2, random_state=0).fit_transform(codes)

fig, (ax_spectrum, ax_codes) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
plot_latent_spectrum(
    pca[-1].explained_variance_, ax=ax_spectrum, label="PCA of the data"
)
plot_latent_spectrum(embedding[-1], ax=ax_spectrum, label="LoRAE codes")
ax_spectrum.set_title("Spectra")
ax_spectrum.legend()
for label, name in enumerate(load_breast_cancer().target_names):
    mask = y == label
    ax_codes.scatter(leading[mask, 0], leading[mask, 1], s=8, alpha=0.6, label=name)
ax_codes.set_xlabel("first latent direction")
ax_codes.set_ylabel("second latent direction")
ax_codes.set_title("LoRAE codes")
ax_codes.legend()
plt.show()

# %%
# The embedding is an ordinary scikit-learn transformer: it names its output features
# and can feed any estimator, or a :class:`~sklearn.model_selection.GridSearchCV` over
# ``latent_dim`` and ``alpha`` (whose score, without a scorer, is the negative
# reconstruction error).
print(np.asarray(embedding.get_feature_names_out()))
