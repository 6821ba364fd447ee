"""Give viewcode the definitions of modules that Sphinx's analyser fails to parse.

Sphinx's ``ModuleAnalyzer`` fails on a module with a dict display that unpacks another
dict (``{"X": ["array-like"], **_SHARED}``: Sphinx 9.0's ``sphinx.pycode.ast.unparse``
zips the keys, without the ``None`` of ``**``, against all the values). viewcode then
writes no source page for the module and no [source] link for its functions, yet lists
the module in ``_modules/index.html``, as a broken link. The definitions viewcode
needs (name -> kind, first and last line) come from the tokenizer-based
``DefinitionFinder``, which that failure does not reach: this handler of viewcode's
``viewcode-find-source`` event returns them when the analyser fails.
"""

from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.pycode.parser import DefinitionFinder


def find_source(app, modname):
    """``(source, definitions)`` of ``modname``, or None to leave it to viewcode."""
    try:
        analyzer = ModuleAnalyzer.for_module(modname)
    except PycodeError:
        return None  # no source: viewcode skips the module as it would
    try:
        analyzer.find_tags()
    except PycodeError:
        finder = DefinitionFinder(analyzer.code.splitlines(keepends=True))
        finder.parse()
        return analyzer.code, finder.definitions
    return analyzer.code, analyzer.tags


def setup(app):
    app.setup_extension("sphinx.ext.viewcode")
    app.connect("viewcode-find-source", find_source)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
