"""Fail the docs build when a public name is missing from the API reference.

The public names are those in ``__all__`` of the package and of its public modules;
each must be listed in ``api.rst`` under its ``currentmodule``, so that a function
added to a module's ``__all__`` cannot go undocumented. A missing one is reported as a
Sphinx warning, which ``-W`` turns into an error.
"""

import importlib
import re
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

PUBLIC_MODULES = ["sklearn_lorae", "sklearn_lorae.metrics", "sklearn_lorae.plotting"]
NOT_DOCUMENTED = {"__version__"}

_CURRENT_MODULE = re.compile(r"^\.\. currentmodule:: (\S+)\s*$")
_LISTED_NAME = re.compile(r"^\s+([A-Za-z_][\w.]*)\s*$")


def documented_names(api_rst):
    """Fully qualified names listed in the autosummary tables of ``api_rst``."""
    names, module = set(), ""
    for line in api_rst.splitlines():
        if match := _CURRENT_MODULE.match(line):
            module = match[1]
        elif match := _LISTED_NAME.match(line):
            names.add(f"{module}.{match[1]}" if module else match[1])
    return names


def check_public_api(app):
    documented = documented_names(Path(app.srcdir, "api.rst").read_text(encoding="utf-8"))
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            qualified = f"{module_name}.{name}"
            if name not in NOT_DOCUMENTED and qualified not in documented:
                logger.warning(f"{qualified} is public (in {module_name}.__all__) but not listed in doc/api.rst.")


def setup(app):
    app.connect("builder-inited", check_public_api)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
