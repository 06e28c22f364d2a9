"""MkDocs hook: the lesson notebooks (``notebooks/*.ipynb``, outside ``docs/``) become pages of the site.

mkdocs-jupyter renders them (as committed: without outputs, not executed); this hook only adds the files before
that plugin looks for notebooks, so the notebooks stay where the tests and ``notebooks/_build.py`` expect them.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files, config):
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(
            File(
                f"notebooks/{notebook.name}",
                src_dir=str(ROOT),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files
