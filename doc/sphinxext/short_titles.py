"""Short labels for long page titles in the root toctree, which feeds the navbar.

The navbar shows each top-level page under its title; a long one wraps the header onto
two rows. ``short_toctree_titles = {"docname": "Label"}`` in ``conf.py`` gives those
pages a label in the root document's toctree (the navbar and the landing page's
contents) while the page keeps its full title. An entry given a title in the toctree
itself (``Label <docname>``) keeps that title.
"""

from sphinx import addnodes


def shorten_root_toctree(app, doctree):
    if app.env.current_document.docname != app.config.root_doc:
        return
    short = app.config.short_toctree_titles
    for toctree in doctree.findall(addnodes.toctree):
        toctree["entries"] = [(short.get(ref) if title is None else title, ref) for title, ref in toctree["entries"]]


def setup(app):
    app.add_config_value("short_toctree_titles", {}, "env", types=frozenset({dict}))
    # Before Sphinx's toctree collector (priority 500), which copies the toctree into
    # env.tocs, where the theme reads the navbar from.
    app.connect("doctree-read", shorten_root_toctree, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
