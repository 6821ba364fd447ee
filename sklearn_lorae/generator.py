"""LoRAEGenerator: a low-rank autoencoder with a density on its latent space."""

import copy
import inspect
from numbers import Integral

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from ._base import FINETUNE_EPOCHS_DOC, OUTPUT_INIT_DOC, SHARED_PARAMETERS_DOC, BaseLowRankAutoencoder
from ._bottlenecks import BOTTLENECKS
from ._density import fit_gaussian_mixture, standard_normal
from ._threads import limited_threads

# Rows drawn and decoded at a time by sample().
_SAMPLE_CHUNK_SIZE = 8192


class LoRAEGenerator(BaseLowRankAutoencoder):
    __doc__ = f"""Low-rank autoencoder (LoRAE) as a generative model.

    :class:`LoRAETransformer` plus a density fitted to the latent codes of the training
    data; :meth:`sample` decodes draws from it (the "ex-post density estimation" of
    Ghosh et al. that the LoRAE paper uses).

    Read more in the :ref:`User Guide <generating>`.

    Parameters
    ----------
{SHARED_PARAMETERS_DOC}
{OUTPUT_INIT_DOC}{FINETUNE_EPOCHS_DOC}    sampler : {{"gmm", "gaussian", "prior"}} or estimator, default="gmm"
        The latent density:

        - ``"gmm"``: a Gaussian mixture of ``n_components`` full-covariance components
          (scikit-learn's :class:`~sklearn.mixture.GaussianMixture`) fitted to the
          training codes;
        - ``"gaussian"``: one full-covariance Gaussian fitted to them (the LoRAE paper's
          MVG);
        - ``"prior"``: no fit, the prior N(0, I) of the methods that train their codes
          towards it (``regularizer="variational"`` or ``"wae"``; any other raises a
          ValueError), as a fitted one-component ``GaussianMixture``;
        - any scikit-learn estimator with ``fit`` and ``sample`` (e.g.
          :class:`~sklearn.neighbors.KernelDensity`,
          :class:`~sklearn.mixture.BayesianGaussianMixture`): a clone is fitted to the
          training codes. When it has a ``random_state`` parameter left at None, the
          clone gets one drawn from this estimator's ``random_state``, so that fits
          repeat.

    n_components : int, default=4
        Number of mixture components of ``sampler="gmm"``, as in the LoRAE paper;
        ignored by the other samplers. The best count depends on the model: on the
        reproduction page's 50-epoch MNIST models, 10 components lower IRMAE's GMM FID
        from 17.3 to 13.2 and raise LoRAE's from 17.3 to 22.3. Choose it by the FID of
        the samples.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module, ``net_.history`` the
        losses of every epoch and batch.

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during ``fit``, when X has string column names.

    latent_singular_values_ : ndarray of shape (latent_dim,)
        Singular values of the covariance of the training data's codes, descending.

    latent_rank_ : int
        How many of them exceed 1e-3 times the largest.

    rank_ : int or None
        The rank of the truncated SVD of ``regularizer="truncated"`` (the one found when
        ``rank="auto"``); None for the other regularizers, which impose no hard rank.

    n_iter_ : int
        Number of epochs the net has been trained for (over all calls, when a fit was
        continued with ``warm_start`` or ``partial_fit``).

    best_epoch_ : int
        With ``early_stopping``: the epoch (1-based, counted as ``n_iter_``) whose
        weights were restored, the one with the lowest validation loss.

    density_ : estimator
        The latent density :meth:`sample` draws from: a
        :class:`~sklearn.mixture.GaussianMixture` fitted to the training codes
        (``"gmm"``, ``"gaussian"``; fitted in float32, or in float64 when float32
        cannot represent a covariance, from a k-means++ start, to ``tol=1e-2``, and
        kept in float64:
        several times faster than scikit-learn's defaults, which
        ``sampler=GaussianMixture(n_components, covariance_type="full")`` gives),
        N(0, I) as a one-component ``GaussianMixture`` (``"prior"``), or the fitted clone of the ``sampler`` estimator.

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
        "sampler": [StrOptions({"gmm", "gaussian", "prior"}), HasMethods(["fit", "sample"])],
        "n_components": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        latent_dim=32,
        *,
        alpha=1e-3,
        regularizer="nuclear",
        n_linear=4,
        rank="auto",
        finetune_epochs=2,
        hidden_layer_sizes=(256, 128),
        image_shape=None,
        encoder=None,
        decoder=None,
        output_activation="identity",
        output_init="data_mean",
        max_epochs=50,
        batch_size=128,
        lr=1e-3,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
        optimizer=torch.optim.Adam,
        optimizer_params=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        sampler="gmm",
        n_components=4,
    ):
        self.latent_dim = latent_dim
        self.alpha = alpha
        self.regularizer = regularizer
        self.n_linear = n_linear
        self.rank = rank
        self.finetune_epochs = finetune_epochs
        self.hidden_layer_sizes = hidden_layer_sizes
        self.image_shape = image_shape
        self.encoder = encoder
        self.decoder = decoder
        self.output_activation = output_activation
        self.output_init = output_init
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.optimizer = optimizer
        self.optimizer_params = optimizer_params
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.sampler = sampler
        self.n_components = n_components

    def _build_module(self, image_shape):
        # Checked here, before training, rather than when the density is fitted.
        module = super()._build_module(image_shape)
        if _is_string(self.sampler, "prior") and not module.bottleneck.standard_normal_prior:
            with_prior = sorted(name for name, cls in BOTTLENECKS.items() if cls.standard_normal_prior)
            raise ValueError(
                f"sampler='prior' draws codes from N(0, I), which only the methods that "
                f"train their codes towards it have (regularizer in {with_prior}), not "
                f"regularizer={self.regularizer!r}. Use a density fitted to the codes, "
                "e.g. sampler='gmm'."
            )
        return module

    def _fit_latent_model(self, latents, seed):
        if _is_string(self.sampler, "prior"):
            self.density_ = standard_normal(latents.shape[1])
            return
        if not isinstance(self.sampler, str):
            density = clone(self.sampler)
            if density.get_params().get("random_state", 0) is None:
                density.set_params(random_state=seed)
            self.density_ = density.fit(latents.astype(np.float64))
            return
        n_components = self.n_components if self.sampler == "gmm" else 1
        if len(latents) < n_components:
            raise ValueError(
                f"n_samples={len(latents)} should be >= n_components={n_components}: "
                "the latent density needs at least one sample per component."
            )
        self.density_ = fit_gaussian_mixture(latents, n_components, seed)

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
        takes_random_state = "random_state" in inspect.signature(density.sample).parameters
        if not takes_random_state:
            density.random_state = rng  # e.g. GaussianMixture
        module = self._inference_module(self._fit_dtype)
        samples = np.empty((n_samples, self.n_features_in_), dtype=self._fit_dtype)
        # Codes are drawn and decoded a chunk at a time, so that memory beyond the
        # output stays bounded: a million float64 codes alone would take 1 GB.
        # The draws' linear algebra on the fit's threads, as the density's fit was.
        with limited_threads(getattr(self, "_n_threads", None)):
            for start in range(0, n_samples, _SAMPLE_CHUNK_SIZE):
                n_rows = min(_SAMPLE_CHUNK_SIZE, n_samples - start)
                if takes_random_state:
                    codes = density.sample(n_rows, random_state=rng)  # e.g. KernelDensity
                else:
                    codes = density.sample(n_rows)
                if isinstance(codes, tuple):  # GaussianMixture returns (X, labels)
                    codes = codes[0]
                # GaussianMixture.sample returns its draws grouped by component.
                codes = np.asarray(codes)[rng.permutation(n_rows)].astype(self._fit_dtype)
                samples[start : start + n_rows] = self._decode(codes, module)
        return samples


def _is_string(value, string):
    """``value == string`` without asking an estimator to compare itself to a string."""
    return isinstance(value, str) and value == string
