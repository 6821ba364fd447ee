"""The latent densities of LoRAEGenerator: a fitted Gaussian mixture, or the prior N(0, I)."""

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.mixture import GaussianMixture


def standard_normal(latent_dim):
    """The prior N(0, I) as a fitted one-component GaussianMixture (it has ``sample``,
    ``score_samples``, ...), for ``sampler="prior"``."""
    density = GaussianMixture(1, covariance_type="full")
    eye = np.eye(latent_dim)[None]
    density.weights_ = np.ones(1)
    density.means_ = np.zeros((1, latent_dim))
    density.covariances_ = eye
    density.precisions_ = eye
    density.precisions_cholesky_ = eye
    density.converged_, density.n_iter_, density.lower_bound_ = True, 0, -np.inf
    density.n_features_in_ = latent_dim
    return density


def fit_gaussian_mixture(latents, n_components, seed):
    """A full-covariance GaussianMixture fitted to the latents, in float32 if it can be.

    Three settings differ from scikit-learn's defaults, each for speed, measured on
    60,000 x 128 MNIST codes (benchmarks/results/fit_overhead.json and
    density_settings.json):

    - float32 halves the memory traffic of EM. Codes of very different scales can make a covariance numerically
      singular in float32 (``reg_covar`` is absolute): the fit is then repeated in
      float64. The fitted parameters are returned in float64 either way (:func:`in_float64`);
    - a k-means++ start instead of a whole k-means run;
    - ``tol=1e-2`` instead of 1e-3 on the change of the mean log-likelihood per code:
      8-12 EM iterations instead of 12-18 (30 with scikit-learn's k-means start).

    The mean log-likelihood per code (about 725) ended within 0.04 of the same fit run
    to ``tol=1e-3`` and 0.17-0.26 below scikit-learn's defaults, whose k-means start
    found a slightly better optimum (benchmarks/results/density_settings.json).
    """
    for dtype in (np.float32, np.float64):
        mixture = GaussianMixture(
            n_components,
            covariance_type="full",
            tol=1e-2,
            init_params="k-means++",
            random_state=seed,
        )
        try:
            mixture.fit(latents.astype(dtype, copy=False))
        except ValueError as error:
            if dtype is np.float64 or "ill-defined empirical covariance" not in str(error):
                raise
        else:
            return in_float64(mixture)


def in_float64(mixture):
    """The fitted full-covariance ``mixture`` with its parameters in float64.

    The covariances are recomputed from the Cholesky factors of the precisions, so that
    they are symmetric and positive definite to float64 rounding, and the precisions from
    the same factors. Float32 covariances are so only to float32 rounding, and
    ``GaussianMixture.sample`` (numpy's ``multivariate_normal``, tolerance 1e-8) warned
    that the covariances of full-rank 128-dimensional codes were "not symmetric
    positive-semidefinite".
    """
    factors = mixture.precisions_cholesky_.astype(np.float64)  # upper triangular
    inverses = np.stack([solve_triangular(factor, np.eye(len(factor))) for factor in factors])
    covariances = inverses.transpose(0, 2, 1) @ inverses
    mixture.covariances_ = (covariances + covariances.transpose(0, 2, 1)) / 2
    mixture.precisions_cholesky_ = factors
    mixture.precisions_ = factors @ factors.transpose(0, 2, 1)
    mixture.weights_ = mixture.weights_.astype(np.float64)
    mixture.means_ = mixture.means_.astype(np.float64)
    return mixture
