"""scikit-learn's estimator checks, on fast settings and on the defaults."""

import pytest
from sklearn.utils.estimator_checks import check_estimator, parametrize_with_checks

from sklearn_lorae import LoRAEGenerator, LoRAETransformer

FAST = dict(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)


@parametrize_with_checks(
    [
        LoRAETransformer(**FAST),
        LoRAETransformer(regularizer="implicit", n_linear=2, **FAST),
        LoRAETransformer(regularizer="none", **FAST),
        LoRAEGenerator(n_components=2, **FAST),
        LoRAEGenerator(sampler="gaussian", **FAST),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("Estimator", [LoRAETransformer, LoRAEGenerator])
def test_check_estimator_with_default_parameters(Estimator):
    # The defaults must stay fast on the checks' tiny data sets, and pass them all.
    results = check_estimator(Estimator(), on_fail=None)
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 40
