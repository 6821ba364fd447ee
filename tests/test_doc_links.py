"""The docs build's offline check of internal links (doc/sphinxext/internal_links.py)."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doc" / "sphinxext"))
from internal_links import broken_links  # noqa: E402


def _write(root, name, body):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>", encoding="utf-8")


def test_broken_links_finds_missing_files_and_anchors(tmp_path):
    _write(tmp_path, "index.html", '<a href="guide/page.html#usage">ok</a><a href="#top">top</a><p id="top"></p>')
    _write(tmp_path, "guide/page.html", '<section id="usage"></section><a href="../index.html">up</a>')
    _write(tmp_path, "_static/skipped.html", '<a href="nowhere.html">assets are not pages</a>')
    # What _modules/index.html of viewcode held for modules it wrote no page for, and a
    # link to an anchor that does not exist.
    _write(
        tmp_path,
        "_modules/index.html",
        '<a href="pkg/_missing.html">gone</a><a href="../guide/page.html#nope">bad anchor</a>'
        '<a href="https://example.org/x.html">external</a><a href="mailto:a@b.c">mail</a>',
    )

    broken = {(page.relative_to(tmp_path).as_posix(), link) for page, link, _ in broken_links(tmp_path)}

    assert broken == {
        ("_modules/index.html", "pkg/_missing.html"),
        ("_modules/index.html", "../guide/page.html#nope"),
    }
