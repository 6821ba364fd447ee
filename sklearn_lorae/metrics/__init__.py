"""Metrics: the latent spectrum and its rank; metrics of generated data (FID, KID,
precision, recall, density, coverage) and scorers for model selection by them.

The metrics of generated data come in pairs: a function on features
(:func:`frechet_distance`, :func:`kernel_distance`, :func:`precision_recall`,
:func:`density_coverage`) and one on data, which extracts the features first
(:func:`fid_score`, :func:`kid_score`, and :func:`generation_scores` for several metrics
from one extraction).
"""

from ._common import extract_features
from ._frechet import feature_statistics, frechet_distance, frechet_distance_from_stats
from ._kid import kernel_distance
from ._prdc import density_coverage, precision_recall
from ._scorers import make_fid_scorer, make_generation_scorer
from ._scores import fid_score, generation_scores, kid_score
from ._spectrum import DEFAULT_RANK_TOL as DEFAULT_RANK_TOL  # not in __all__: a constant
from ._spectrum import latent_rank, latent_singular_values

__all__ = [
    "frechet_distance",
    "frechet_distance_from_stats",
    "feature_statistics",
    "kernel_distance",
    "precision_recall",
    "density_coverage",
    "extract_features",
    "fid_score",
    "kid_score",
    "generation_scores",
    "make_fid_scorer",
    "make_generation_scorer",
    "latent_singular_values",
    "latent_rank",
]
