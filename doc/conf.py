"""Sphinx configuration of the sklearn_lorae documentation.

Build with ``make -C doc html`` (warnings are errors). Everything is built offline:
no intersphinx inventories are fetched and the gallery's data ship with scikit-learn.
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
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "public_api_check",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"
pygments_style = "sphinx"

# -- autodoc / autosummary / numpydoc ------------------------------------------------
autosummary_generate = True
# Inherited scikit-learn methods (get_params, fit_transform, ...) are documented with the
# estimators, except those whose docstrings link to labels of scikit-learn's own docs,
# which do not exist here (set_output, get_metadata_routing).
autodoc_default_options = {
    "members": True,
    "inherited-members": "_SetOutputMixin,_MetadataRequester",
}
autodoc_typehints = "none"
# numpydoc lists a class's methods in a table; the methods themselves are documented on
# the same page by autodoc (members above), so the table must not build a toctree.
numpydoc_show_class_members = True
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- sphinx-gallery ------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    # Every example must run: a failing one fails the build.
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "within_subsection_order": "gallery_order.ExampleOrder",
    # Names in the examples' code link to this package's API pages only: linking other
    # packages' names would need their inventories (intersphinx), fetched from the web.
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
    "header_links_before_dropdown": 5,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"index": [], "install": []}
html_show_sourcelink = True
html_last_updated_fmt = None
