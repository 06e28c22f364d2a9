"""MkDocs hook: drops the maintainers' HTML comments from the built pages.

``<!-- snippet: ... -->`` lines tell tests/test_docs.py how to run the example after them, and
``<!-- slot: ... -->`` lines mark where a section is to be written; neither is for readers, so neither reaches
the HTML.
"""

from __future__ import annotations

import re

MAINTAINERS_COMMENT = re.compile(r"^[ \t]*<!--\s*(snippet|slot):.*?-->[ \t]*\n", re.MULTILINE)


def on_page_markdown(markdown, page, config, files):
    return MAINTAINERS_COMMENT.sub("", markdown)
