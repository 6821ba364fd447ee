"""Fail the docs build on a broken internal link, offline.

When the HTML is written, every ``href`` and ``src`` of every page that points inside
the site is resolved: the file must exist, and an ``#anchor`` in an HTML file must be
the ``id`` (or ``name``) of an element of that file. Each broken one is a Sphinx warning,
which ``-W`` turns into an error. Links to other sites are not checked (the build is
offline); ``sphinx-build -b linkcheck`` does that where there is a network.
"""

import posixpath
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sphinx.util import logging

logger = logging.getLogger(__name__)

# Folders of the output that hold no pages of their own (copied assets, sources).
_SKIPPED_FOLDERS = {"_static", "_sources", "_images", "_downloads"}
_LINK_ATTRIBUTES = {"href", "src"}


class _PageParser(HTMLParser):
    """The ids of a page and the internal links it makes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)
            elif name in _LINK_ATTRIBUTES:
                self.links.append(value)


def _is_internal(url):
    parts = urlsplit(url)
    return not (parts.scheme or parts.netloc or url.startswith("//"))


def _parse(page):
    parser = _PageParser()
    parser.feed(page.read_text(encoding="utf-8", errors="replace"))
    return parser


def broken_links(outdir):
    """``(page, link, reason)`` for every internal link of the HTML under ``outdir``
    whose file or anchor does not exist."""
    outdir = Path(outdir)
    pages = sorted(
        path
        for path in outdir.rglob("*.html")
        if not _SKIPPED_FOLDERS.intersection(path.relative_to(outdir).parts[:-1])
    )
    parsed = {}

    def parsed_page(path):
        if path not in parsed:
            parsed[path] = _parse(path)
        return parsed[path]

    broken = []
    for page in pages:
        for link in parsed_page(page).links:
            if not _is_internal(link):
                continue
            parts = urlsplit(link)
            relative = page.relative_to(outdir).parent.as_posix()
            target_path = unquote(parts.path)
            target = page if not target_path else outdir / posixpath.normpath(posixpath.join(relative, target_path))
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append((page, link, "no such file"))
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in parsed_page(target).ids:
                broken.append((page, link, f"no id {unquote(parts.fragment)!r} in {target.relative_to(outdir)}"))
    return broken


def check_internal_links(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page, link, reason in broken_links(app.outdir):
        logger.warning(
            f"broken internal link {link!r} in {page.relative_to(app.outdir)}: {reason}",
            type="internal_links",
        )


def setup(app):
    app.connect("build-finished", check_internal_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
