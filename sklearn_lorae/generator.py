"""LoRAEGenerator: a low-rank autoencoder with a density on its latent space."""

import copy
from numbers import Integral

import numpy as np
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from ._base import SHARED_PARAMETERS_DOC, BaseLowRankAutoencoder


class LoRAEGenerator(BaseLowRankAutoencoder):
    __doc__ = f"""Low-rank autoencoder (LoRAE) as a generative model.

    :class:`LoRAETransformer` plus a density fitted to the latent codes of the training
    data; :meth:`sample` decodes draws from it (the "ex-post density estimation" of
    Ghosh et al. that the LoRAE paper uses).

    Parameters
    ----------
{SHARED_PARAMETERS_DOC}
    sampler : {{"gmm", "gaussian"}}, default="gmm"
        The latent density: a Gaussian mixture of ``n_components`` full-covariance
        components (scikit-learn's :class:`~sklearn.mixture.GaussianMixture`), or one
        full-covariance Gaussian (the paper's MVG; ``n_components`` is then ignored).

    n_components : int, default=4
        Number of mixture components of ``sampler="gmm"``, as in the LoRAE paper.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module, ``net_.history`` the
        losses of every epoch and batch.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during ``fit``, when X has string column names.

    latent_singular_values_ : ndarray of shape (latent_dim,)
        Singular values of the covariance of the training data's codes, descending.

    latent_rank_ : int
        How many of them exceed 1e-3 times the largest.

    n_iter_ : int
        Number of epochs run.

    density_ : sklearn.mixture.GaussianMixture
        The density fitted to the training codes.

    See Also
    --------
    LoRAETransformer : The same model without the density.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_lorae import LoRAEGenerator
    >>> X = load_digits().data / 16.0
    >>> generator = LoRAEGenerator(latent_dim=16, max_epochs=5, random_state=0).fit(X)
    >>> generator.sample(3, random_state=0).shape
    (3, 64)
    """

    _parameter_constraints: dict = {
        **BaseLowRankAutoencoder._parameter_constraints,
        "sampler": [StrOptions({"gmm", "gaussian"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        latent_dim=32,
        *,
        alpha=1e-3,
        regularizer="nuclear",
        n_linear=4,
        hidden_layer_sizes=(256, 128),
        image_shape=None,
        encoder=None,
        decoder=None,
        output_activation="identity",
        max_epochs=50,
        batch_size=128,
        lr=1e-3,
        device="auto",
        random_state=None,
        verbose=0,
        sampler="gmm",
        n_components=4,
    ):
        self.latent_dim = latent_dim
        self.alpha = alpha
        self.regularizer = regularizer
        self.n_linear = n_linear
        self.hidden_layer_sizes = hidden_layer_sizes
        self.image_shape = image_shape
        self.encoder = encoder
        self.decoder = decoder
        self.output_activation = output_activation
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.sampler = sampler
        self.n_components = n_components

    def _fit_latent_model(self, latents, seed):
        n_components = self.n_components if self.sampler == "gmm" else 1
        if len(latents) < n_components:
            raise ValueError(
                f"n_samples={len(latents)} should be >= n_components={n_components}: "
                "the latent density needs at least one sample per component."
            )
        self.density_ = GaussianMixture(
            n_components, covariance_type="full", random_state=seed
        ).fit(latents.astype(np.float64))

    @validate_params(
        {"n_samples": [Interval(Integral, 1, None, closed="left")], "random_state": ["random_state"]},
        prefer_skip_nested_validation=True,
    )
    def sample(self, n_samples=1, random_state=None):
        """Generate new samples: draw codes from the latent density and decode them.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; None draws fresh samples at every call.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            In the float dtype of the training data.
        """
        check_is_fitted(self)
        rng = check_random_state(random_state)
        density = copy.copy(self.density_)
        density.random_state = rng
        codes, _ = density.sample(n_samples)
        # GaussianMixture.sample returns its draws grouped by component.
        codes = codes[rng.permutation(n_samples)]
        return self._decode(codes.astype(self._fit_dtype))
