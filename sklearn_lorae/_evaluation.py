"""Offline yardsticks of the main job and the benchmarks: what the LoRAE paper compares,
measured without downloading anything.

- few-label accuracy: a classifier trained on the frozen codes of a few labelled rows per
  class (the paper's Table 6 measures it with 10, 100 and 1,000 labels);
- a judge for generated images where Inception is out of reach: the hidden layer of a
  small classifier trained on the real training images, whose features separate what
  matters for the classes (the idea of the "classifier FID" of small-image papers).
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.utils.validation import check_is_fitted


class ClassifierFeatures(TransformerMixin, BaseEstimator):
    """The ReLU hidden layer of an MLP classifier fitted to labelled real data.

    Passed as ``features=`` to the metrics, it compares images by what a classifier of
    the same domain sees in them. It is fitted once, on real training data only, and is
    then fixed: every model is judged in the same space.
    """

    def __init__(self, hidden_units=64, random_state=0):
        self.hidden_units = hidden_units
        self.random_state = random_state

    def fit(self, X, y):
        classifier = MLPClassifier(
            hidden_layer_sizes=(self.hidden_units,), max_iter=1000, random_state=self.random_state
        )
        classifier.fit(X, y)
        self.weights_, self.bias_ = classifier.coefs_[0], classifier.intercepts_[0]
        self.training_accuracy_ = classifier.score(X, y)
        return self

    def transform(self, X):
        check_is_fitted(self)
        return np.maximum(np.asarray(X, dtype=np.float64) @ self.weights_ + self.bias_, 0.0)


def balanced_label_subset(y, labels_per_class, seed):
    """Row indices of ``labels_per_class`` rows of each class (fewer where a class has
    fewer), drawn without replacement."""
    rng = np.random.RandomState(seed)
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), min(labels_per_class, np.sum(y == c)), replace=False) for c in np.unique(y)]
    )


def few_label_accuracy(Z_train, y_train, Z_test, y_test, labels_per_class, n_draws=3, classifier=None):
    """Test accuracy of ``classifier`` (default: logistic regression) trained on the codes
    of ``labels_per_class`` labelled rows per class: mean and standard deviation over
    ``n_draws`` draws of the labelled rows (seeds 0, 1, ...)."""
    classifier = LogisticRegression(max_iter=3000) if classifier is None else classifier
    scores = []
    for seed in range(n_draws):
        rows = balanced_label_subset(y_train, labels_per_class, seed)
        scores.append(clone(classifier).fit(Z_train[rows], y_train[rows]).score(Z_test, y_test))
    return float(np.mean(scores)), float(np.std(scores))
