"""Sphinx configuration of the sklearn_lorae documentation.

Build with ``make -C doc html`` (warnings are errors). Everything is built offline:
the intersphinx inventories are small files committed in ``doc/intersphinx`` (written
by ``doc/intersphinx/make_inventories.py``), and the gallery's data ship with
scikit-learn.
"""

import os
import sys
from pathlib import Path

import torch

import sklearn_lorae

# The gallery's networks are tiny: torch's intra-op threads buy nothing on them, and on a
# busy machine their spin-waiting made a fit 10 to 20 times slower than one thread.
torch.set_num_threads(int(os.environ.get("SKLEARN_LORAE_DOC_THREADS", "1")))

DOC_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DOC_DIR / "sphinxext"))

# -- Project -------------------------------------------------------------------------
project = "sklearn_lorae"
copyright = "sklearn_lorae developers"
author = "sklearn_lorae developers"
release = sklearn_lorae.__version__
version = ".".join(release.split(".")[:2])

# -- General -------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "viewcode_source",  # sphinx.ext.viewcode, with the modules its analyser cannot parse
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "public_api_check",
    "internal_links",
    "short_titles",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc ------------------------------------------------
autosummary_generate = True
# Inherited scikit-learn methods (get_params, fit_transform, set_output, ...) are
# documented with the estimators; the labels of scikit-learn's docs that their
# docstrings refer to resolve through the scikit-learn inventory below.
autodoc_default_options = {
    "members": True,
    "inherited-members": True,
}
autodoc_typehints = "none"
# numpydoc lists a class's methods in a table; the methods themselves are documented on
# the same page by autodoc (members above), so the table must not build a toctree.
numpydoc_show_class_members = True
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- intersphinx ---------------------------------------------------------------------
# Read from the committed inventories, never fetched: the build is offline. A reference
# to an object that is not in them renders as text; add it to make_inventories.py.
_INVENTORIES = DOC_DIR / "intersphinx"
intersphinx_mapping = {
    "python": ("https://docs.python.org/3/", str(_INVENTORIES / "python.inv")),
    "numpy": ("https://numpy.org/doc/stable/", str(_INVENTORIES / "numpy.inv")),
    "sklearn": ("https://scikit-learn.org/stable/", str(_INVENTORIES / "sklearn.inv")),
    "torch": ("https://docs.pytorch.org/docs/stable/", str(_INVENTORIES / "torch.inv")),
    "joblib": ("https://joblib.readthedocs.io/en/stable/", str(_INVENTORIES / "joblib.inv")),
    "distributed": ("https://distributed.dask.org/en/stable/", str(_INVENTORIES / "distributed.inv")),
    "matplotlib": ("https://matplotlib.org/stable/", str(_INVENTORIES / "matplotlib.inv")),
}
intersphinx_timeout = 1

# -- sphinx-gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    # Every example must run: a failing one fails the build.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "within_subsection_order": "gallery_order.ExampleOrder",
    # Names in the examples' code link to this package's API pages, and to those of the
    # other packages whose objects are in the committed inventories (intersphinx).
    "doc_module": ("sklearn_lorae",),
    "backreferences_dir": "generated/backreferences",
    "download_all_examples": False,
    "show_memory": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# -- HTML ----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_lorae {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    # The navbar shows the pages up to the API reference; the rest are under "More".
    "header_links_before_dropdown": 6,
    "logo": {"text": "sklearn_lorae"},
    # Links right after the name, and the search as a button (Ctrl+K still works):
    # with the search field and the links aligned to the text column, the header
    # took two rows at 1280 px.
    "navbar_align": "left",
    "navbar_persistent": ["search-button"],
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    # The section navigation is checked like the other templates, so that a page
    # without sub-pages gets no empty left column (doc/_templates/sidebar-nav-bs.html).
    "templates_skip_empty_check": ["navbar-nav.html"],
}
html_sidebars = {"**": ["sidebar-nav-bs.html"], "index": [], "install": []}
# The navbar's labels of pages whose titles are long (doc/sphinxext/short_titles.py).
short_toctree_titles = {"reproduction": "Reproduction"}
# Objects in the page's contents under their own names ("fit()"), not prefixed by
# their class, which the right-hand column cut off.
toc_object_entries_show_parents = "hide"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = True
html_last_updated_fmt = None
