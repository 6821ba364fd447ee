import numpy as np
import pytest

from sklearn_lorae.metrics import latent_rank, latent_singular_values


def test_spectrum_is_the_covariance_spectrum():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 5.0
    expected = np.sort(np.linalg.eigvalsh(np.cov(Z.T)))[::-1]
    np.testing.assert_allclose(latent_singular_values(Z), expected, rtol=1e-10)
    assert latent_singular_values(Z[:1]).tolist() == [0.0] * 6


def test_rank_of_a_low_rank_latent_space():
    rng = np.random.RandomState(0)
    Z = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 10))  # rank 3 in 10 dimensions
    spectrum = latent_singular_values(Z)
    assert latent_rank(spectrum) == 3
    assert latent_rank(spectrum + 2e-3 * spectrum[0]) == 10  # a floor above tol counts
    assert latent_rank(spectrum + 5e-4 * spectrum[0]) == 3  # one below it does not
    assert latent_rank(np.zeros(4)) == 0
    with pytest.raises(ValueError):
        latent_singular_values(np.array([[np.nan, 1.0], [0.0, 1.0]]))
