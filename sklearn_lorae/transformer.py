"""LoRAETransformer: a low-rank autoencoder as a scikit-learn transformer."""

import torch

from ._base import FINETUNE_EPOCHS_DOC, OUTPUT_INIT_DOC, SHARED_PARAMETERS_DOC, BaseLowRankAutoencoder


class LoRAETransformer(BaseLowRankAutoencoder):
    __doc__ = f"""Low-rank autoencoder (LoRAE) as a scikit-learn transformer.

    An encoder E, a bottleneck and a decoder D are trained to reconstruct X; with the
    default ``regularizer="nuclear"`` the bottleneck is a square linear layer M whose
    nuclear norm is penalised, which lowers the rank of the latent space (Mazumder et
    al., "Learning Low-Rank Latent Spaces with Simple Deterministic Autoencoder",
    WACV 2024, arXiv 2310.16194). ``transform`` returns the codes ``M(E(x))``,
    ``inverse_transform`` decodes them. Training runs in a skorch ``NeuralNet``
    (``net_``), on CUDA when available.

    Read more in the :ref:`User Guide <concepts>`.

    Parameters
    ----------
{SHARED_PARAMETERS_DOC}
{OUTPUT_INIT_DOC}{FINETUNE_EPOCHS_DOC}    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module, ``net_.history`` the
        losses of every epoch and batch (``"reconstruction"`` and ``"penalty"`` too).

    n_features_in_ : int
        Number of features seen during ``fit``.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during ``fit``, when X has string column names.

    latent_singular_values_ : ndarray of shape (latent_dim,)
        Singular values of the covariance of the training data's codes, descending.

    latent_rank_ : int
        How many of them exceed 1e-3 times the largest (see
        :func:`sklearn_lorae.metrics.latent_rank`).

    rank_ : int or None
        The rank of the truncated SVD of ``regularizer="truncated"`` (the one found when
        ``rank="auto"``); None for the other regularizers, which impose no hard rank.

    n_iter_ : int
        Number of epochs the net has been trained for (over all calls, when a fit was
        continued with ``warm_start`` or ``partial_fit``).

    best_epoch_ : int
        With ``early_stopping``: the epoch (1-based, counted as ``n_iter_``) whose
        weights were restored, the one with the lowest validation loss.

    See Also
    --------
    LoRAEGenerator : The same model, with a density on the latent space to sample from.
    sklearn.decomposition.PCA : The linear counterpart.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_lorae import LoRAETransformer
    >>> X = load_digits().data / 16.0
    >>> lorae = LoRAETransformer(latent_dim=16, max_epochs=5, random_state=0)
    >>> Z = lorae.fit_transform(X)
    >>> Z.shape
    (1797, 16)
    >>> lorae.inverse_transform(Z).shape
    (1797, 64)
    """

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
