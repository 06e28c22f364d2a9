"""MkDocs hook: lets mkdocstrings find ``kerascnn.tuning`` and ``kerascnn.export``, which live in ``tuning/`` and
``export/`` (pyproject's package-dir), by reading the docstrings from a temporary tree laid out as the
installed package is: ``kerascnn/`` with ``tuning`` and ``export`` linked in. Also drops the Sphinx roles
(``:class:``, ``:func:``) that some docstrings put before a name: the name stays, as code.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parents[2]
MAPPED = {"tuning": ROOT / "tuning", "export": ROOT / "export"}  # [tool.setuptools.package-dir]
_tree = tempfile.TemporaryDirectory(prefix="kerascnn-api-")


@event_priority(100)  # before mkdocstrings reads its handlers' settings
def on_config(config):
    package = Path(_tree.name) / "kerascnn"
    if not package.exists():
        package.mkdir()
        for entry in (ROOT / "kerascnn").iterdir():
            (package / entry.name).symlink_to(entry)
        for name, folder in MAPPED.items():
            (package / name).symlink_to(folder)
    python = config["plugins"]["mkdocstrings"].config["handlers"].setdefault("python", {})
    python["paths"] = [_tree.name]
    return config


SPHINX_ROLE = re.compile(r":(?:class|func|meth|mod|attr|exc):\s*(?=<code)")


def on_page_content(html, page, config, files):
    return SPHINX_ROLE.sub("", html)
