"""Numpydoc text shared by the public estimators."""

SHARED_PARAMETERS_DOC = """\
    latent_dim : int, default=32
        Width of the latent code (of the encoder's output and of the square bottleneck).

    alpha : float, default=1e-3
        Weight of the method's penalty, whatever the method: the training loss of a batch
        is ``mean((x - x_hat)**2) + alpha * penalty``, the squared error averaged over
        features *and* samples, as in the LoRAE paper's official code (``F.mse_loss``).
        For ``"nuclear"`` it is the LoRAE paper's lambda, on the same scale (its values
        1e-1 ... 1e-5, default 1e-3); for ``"variational"`` the beta of the beta-VAE; for
        ``"rae"`` the RAE paper's beta; for ``"wae"`` the WAE paper's lambda. Ignored by
        ``"implicit"``, ``"none"`` and ``"truncated"``, which have no penalty.

        The error is in the data's units, so the balance depends on the data's scale,
        as for scikit-learn's own penalties: the paper's lambda is for images in
        [-1, 1]; on the same images in [0, 1] (a quarter of the error) the same strength
        is ``alpha / 4``, e.g. ``2.5e-4`` for the paper's 1e-3 (user guide, "The scale
        of the data and alpha").

    regularizer : {"nuclear", "implicit", "none", "variational", "rae", "wae", \
            "truncated"}, default="nuclear"
        The method, i.e. what sits between encoder and decoder:

        - ``"nuclear"``: LoRAE (Mazumder et al. 2024), one square linear layer M without
          bias, penalised by ``alpha * ||M||_*``;
        - ``"implicit"``: IRMAE (Jing et al. 2020), ``n_linear`` square linear layers
          without bias, no penalty;
        - ``"none"``: a plain autoencoder;
        - ``"variational"``: VAE (Kingma & Welling 2014), mean and log-variance heads, a
          reparameterised draw while training, penalty ``alpha * KL(q(z|x) || N(0, I))``
          (summed over latent dimensions); the codes are the means;
        - ``"rae"``: RAE-L2 (Ghosh et al. 2020), penalty
          ``alpha * (||z||**2 / 2 + 1e-3 * ||decoder weights||**2)``;
        - ``"wae"``: WAE-MMD (Tolstikhin et al. 2018), penalty ``alpha * MMD**2`` between
          the codes and N(0, I) draws, inverse multiquadratic kernel;
        - ``"truncated"``: RRAE, strong form (Mounayer et al. 2024): the decoder sees the
          rank-``rank`` truncated SVD of each batch's codes; after training, the codes
          are the projections onto one rank-``rank`` basis of the training codes. With
          ``rank="auto"``, aRRAE: the rank is searched during training (``rank_``).

    n_linear : int, default=4
        Number of linear layers of ``regularizer="implicit"``; ignored otherwise.

    rank : int or "auto", default="auto"
        Rank k of the truncated SVD of ``regularizer="truncated"`` (at most
        ``latent_dim``); ``"auto"`` searches it during training, starting at
        ``latent_dim`` and lowering it by one per period of 100 steps (or per epoch, when
        an epoch is shorter) while the reconstruction keeps up (aRRAE; give it well over
        ``latent_dim`` periods). Ignored by the other regularizers.

    hidden_layer_sizes : tuple of int, default=(256, 128)
        Widths of the hidden ReLU layers of the multilayer-perceptron encoder (the
        decoder mirrors them). Used for flat data, i.e. when ``image_shape`` is None and
        no ``encoder`` / ``decoder`` is given.

    image_shape : tuple of int (C, H, W), default=None
        When given, each row of X is an image of this shape (C * H * W must equal
        ``n_features``, rows in C-order as ``X.reshape(n, C, H, W)``) and the LoRAE
        paper's convolutional nets are used: 32-64-128-256 channels up to 32 x 32 pixels
        (MNIST; 28 x 28 inputs are padded to 32 x 32 inside the net and cropped back),
        128-256-512-1024 above (CelebA, 64 x 64).

    encoder : torch.nn.Module, default=None
        Your own encoder, used instead of the built-in one. It receives batches of shape
        ``(n, n_features)``, or ``(n, C, H, W)`` when ``image_shape`` is given, and must
        return ``(n, latent_dim)``. A copy is trained; the module you pass is not changed.

    decoder : torch.nn.Module, default=None
        Your own decoder: ``(n, latent_dim)`` to the encoder's input shape. A copy is
        trained; ``output_activation`` is ignored for it.

    output_activation : {"identity", "sigmoid", "tanh"}, default="identity"
        Last layer of the built-in decoder. The identity never clips, so it suits any
        data (e.g. standardised tabular data). ``"sigmoid"`` suits data in [0, 1] and
        ``"tanh"`` data in [-1, 1] (the paper's choice, with images scaled to [-1, 1]);
        ``fit`` raises a ValueError when the data leave the activation's range, instead
        of learning reconstructions that are silently clipped.

    max_epochs : int, default=50
        Number of passes over the training data (the most, with ``early_stopping``).

    batch_size : int, default=128
        Mini-batch size.

    lr : float, default=1e-3
        Learning rate of the optimizer.

    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        The optimizer. Adam and AdamW use torch's fused kernel where it runs (torch >=
        2.4) unless ``optimizer_params`` says ``fused``.

    optimizer_params : dict, default=None
        Keyword arguments of the optimizer other than ``lr``, e.g. ``{"weight_decay":
        1e-5, "betas": (0.9, 0.99)}``. A learning-rate schedule goes into ``callbacks``:
        ``[skorch.callbacks.LRScheduler(policy="CosineAnnealingLR", T_max=50)]``.

    early_stopping : bool, default=False
        Set ``validation_fraction`` of the rows aside (drawn from ``random_state``) and
        stop when the validation loss has not improved by at least ``tol`` for
        ``n_iter_no_change`` epochs in a row; the weights of the best epoch are restored
        (``best_epoch_``). The validation loss and its parts are in the history
        (``valid_loss``, ``valid_reconstruction``, ``valid_penalty``). What is computed
        after training (the latent spectrum, the generator's density) uses all rows.
        ``partial_fit`` never stops early.

    validation_fraction : float, default=0.1
        Fraction of the rows set aside with ``early_stopping``.

    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` after which ``early_stopping``
        stops.

    tol : float, default=1e-4
        The smallest improvement of the validation loss (absolute, as in scikit-learn's
        ``MLPRegressor``) that counts.

    device : str, default="auto"
        Torch device to train and infer on. ``"auto"`` takes CUDA when it is available
        and the CPU otherwise; asking for ``"cuda"`` without CUDA raises a ValueError.
        Results are always numpy arrays on the host. On the CPU with glibc, ``fit``
        adjusts malloc's settings for the process (see "CPU and GPU" in the user
        guide): training steps then reuse freed memory instead of page-faulting it.

    random_state : int, RandomState instance or None, default=None
        Seeds the weights' initialisation, the batches' order and everything sampled in
        ``fit``: the same integer gives the same model on the CPU. Torch's global random
        state of the caller is left as it was.

    verbose : int, default=0
        When > 0, print a table of the losses at every epoch (coloured only on a
        terminal) and, on a terminal, one progress bar over the whole fit.

    warm_start : bool, default=False
        When True and the estimator is fitted, ``fit`` continues training the fitted
        net (its weights, the optimizer's state and the fit's random stream) for
        ``max_epochs`` more epochs, with the current ``alpha``, ``lr`` and
        ``batch_size``; the parameters that shape the net cannot change. Two fits of 10
        epochs give the same net as one of 20, except for aRRAE (``rank="auto"``), whose
        rank search continues across the calls but bounds its warm-up by the
        ``max_epochs`` the net was built with.

    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Passed to the skorch net (e.g. ``skorch.callbacks.LRScheduler``, ``Checkpoint``,
        ``EpochScoring``, loggers such as ``TensorBoard``); each fit uses a copy, so the
        callbacks you pass keep no state between fits. A callback that writes files
        into a ``dirname`` (``Checkpoint``, ``TrainEndCheckpoint``) writes them into a
        new sub-folder ``fit-<id>`` of it at every fit, so that fits at once (e.g.
        ``GridSearchCV(n_jobs=2)``) do not write over each other's files.
"""
