"""Write the intersphinx inventories that the documentation links other projects with.

The docs build offline, so it cannot fetch the ``objects.inv`` of scikit-learn, NumPy,
PyTorch and the others. This script writes small inventories instead, in Sphinx's
version-2 format, for the objects that the docs and the docstrings reference, with
the public URLs of their pages. Run it after referencing a new object of these projects
(``:class:``, ``:func:``, a name in an example's code), and commit the ``.inv`` files::

    python doc/intersphinx/make_inventories.py

A reference to an object missing here renders as plain text, without a link.
"""

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Per project: (name in intersphinx_mapping, project name, version, base URL, entries).
# An entry is (name, domain:role, URI relative to the base URL, display name); "$" in
# the URI stands for the name (written out in the file: Sphinx expands a final "$" only).


def _generated(names, role, page="modules/generated/{}.html#$"):
    return [(name, role, page.format(name), "-") for name in names]


SKLEARN = [
    *_generated(
        [
            "sklearn.decomposition.IncrementalPCA",
            "sklearn.decomposition.PCA",
            "sklearn.ensemble.IsolationForest",
            "sklearn.linear_model.Lasso",
            "sklearn.linear_model.LogisticRegression",
            "sklearn.linear_model.Ridge",
            "sklearn.mixture.BayesianGaussianMixture",
            "sklearn.mixture.GaussianMixture",
            "sklearn.model_selection.GridSearchCV",
            "sklearn.model_selection.StratifiedKFold",
            "sklearn.neighbors.KernelDensity",
            "sklearn.neural_network.MLPRegressor",
            "sklearn.pipeline.Pipeline",
            "sklearn.preprocessing.StandardScaler",
            "sklearn.utils.metadata_routing.MetadataRequest",
        ],
        "py:class",
    ),
    ("sklearn.exceptions.ConvergenceWarning", "py:exception", "modules/generated/$.html#$", "-"),
    *_generated(
        [
            "sklearn.datasets.load_breast_cancer",
            "sklearn.datasets.load_digits",
            "sklearn.metrics.roc_auc_score",
            "sklearn.model_selection.cross_val_score",
            "sklearn.model_selection.train_test_split",
            "sklearn.pipeline.make_pipeline",
        ],
        "py:function",
    ),
    # Labels that the docstrings of inherited scikit-learn methods (set_output,
    # get_metadata_routing) refer to.
    ("sklearn.base.clone", "py:function", "modules/generated/$.html#$", "-"),
    # Methods that the examples call (sphinx-gallery links them in the code).
    *(
        (f"{cls}.{method}", "py:method", f"modules/generated/{cls}.html#$", "-")
        for cls, methods in [
            ("sklearn.decomposition.PCA", ["inverse_transform", "transform"]),
            ("sklearn.model_selection.GridSearchCV", ["fit"]),
            ("sklearn.pipeline.Pipeline", ["fit", "score", "transform"]),
        ]
        for method in methods
    ),
    ("metadata_routing", "std:label", "metadata_routing.html#metadata-routing", "Metadata Routing"),
    (
        "df_output_transform",
        "std:label",
        "modules/df_output_transform.html#df-output-transform",
        "Pandas/Polars Output for Transformers with set_output API",
    ),
    (
        "sphx_glr_auto_examples_miscellaneous_plot_set_output.py",
        "std:label",
        "auto_examples/miscellaneous/plot_set_output.html#sphx-glr-auto-examples-miscellaneous-plot-set-output-py",
        "Introducing the set_output API",
    ),
]

NUMPY = [
    *_generated(["numpy.memmap", "numpy.ndarray"], "py:class", "reference/generated/{}.html#$"),
    *_generated(
        [
            "numpy.array",
            "numpy.asarray",
            "numpy.concatenate",
            "numpy.linspace",
            "numpy.logspace",
            "numpy.mean",
            "numpy.ones",
            "numpy.vstack",
            "numpy.zeros",
        ],
        "py:function",
        "reference/generated/{}.html#$",
    ),
    ("numpy.ndenumerate", "py:class", "reference/generated/$.html#$", "-"),
    ("numpy.r_", "py:data", "reference/generated/$.html#$", "-"),
    ("numpy.newaxis", "py:data", "reference/constants.html#$", "-"),
]

TORCH = [
    *_generated(["torch.Generator", "torch.nn.Module"], "py:class", "generated/{}.html#$"),
    *_generated(
        [
            "torch.set_flush_denormal",
            "torch.set_num_threads",
            "torch.use_deterministic_algorithms",
        ],
        "py:function",
        "generated/{}.html#$",
    ),
]

PYTHON = [
    ("open", "py:function", "library/functions.html#$", "-"),
    ("pickle", "py:module", "library/pickle.html#module-pickle", "-"),
]

JOBLIB = [
    ("joblib", "py:module", "index.html", "-"),
    ("joblib.parallel_backend", "py:class", "generated/$.html#$", "-"),
    ("joblib.parallel_config", "py:class", "generated/$.html#$", "-"),
]

DISTRIBUTED = [
    ("distributed.Client", "py:class", "api.html#$", "-"),
    ("distributed.LocalCluster", "py:class", "api.html#$", "-"),
    ("distributed.Client.close", "py:method", "api.html#$", "-"),
]

_AXES_METHODS = [
    "axhline",
    "errorbar",
    "hist",
    "imshow",
    "legend",
    "plot",
    "scatter",
    "semilogx",
    "set_title",
    "set_xlabel",
    "set_xscale",
    "set_xticks",
    "set_ylabel",
    "set_ylim",
    "set_yticks",
    "text",
]
MATPLOTLIB = [
    ("matplotlib.axes.Axes", "py:class", "api/axes_api.html#$", "-"),
    *((f"matplotlib.axes.Axes.{name}", "py:method", "api/_as_gen/$.html#$", "-") for name in _AXES_METHODS),
    ("matplotlib.figure.Figure", "py:class", "api/_as_gen/$.html#$", "-"),
    *(
        (f"matplotlib.figure.Figure.{name}", "py:method", "api/_as_gen/$.html#$", "-")
        for name in ["colorbar", "suptitle", "tight_layout"]
    ),
    ("matplotlib.colormaps", "py:data", "api/matplotlib_configuration_api.html#$", "-"),
    ("matplotlib.pyplot.show", "py:function", "api/_as_gen/$.html#$", "-"),
    ("matplotlib.pyplot.subplots", "py:function", "api/_as_gen/$.html#$", "-"),
    ("matplotlib.ticker.MaxNLocator", "py:class", "api/ticker_api.html#$", "-"),
]

INVENTORIES = {
    "sklearn": ("scikit-learn", "stable", SKLEARN),
    "numpy": ("NumPy", "stable", NUMPY),
    "torch": ("PyTorch", "stable", TORCH),
    "python": ("Python", "3", PYTHON),
    "joblib": ("joblib", "stable", JOBLIB),
    "distributed": ("Dask.distributed", "stable", DISTRIBUTED),
    "matplotlib": ("Matplotlib", "stable", MATPLOTLIB),
}


def inventory_bytes(project, version, entries):
    """An ``objects.inv`` of format version 2: a plain header, then the zlib-compressed
    lines ``name domain:role priority uri dispname``."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    # Priority 1, as Sphinx writes for objects (a label's -1 hides it from searches).
    lines = "".join(
        f"{name} {role} {-1 if role == 'std:label' else 1} {uri.replace('$', name)} {dispname}\n"
        for name, role, uri, dispname in sorted(entries)
    )
    return header.encode() + zlib.compress(lines.encode(), 9)


def main():
    for key, (project, version, entries) in INVENTORIES.items():
        path = HERE / f"{key}.inv"
        path.write_bytes(inventory_bytes(project, version, entries))
        print(f"{path}: {len(entries)} objects")


if __name__ == "__main__":
    main()
