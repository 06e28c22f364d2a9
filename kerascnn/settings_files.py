"""Reading the settings files users write by hand: ``--hparams`` and ``--space`` (JSON, or YAML)."""

from __future__ import annotations

import json
from pathlib import Path


def format_name(path) -> str:
    """ "YAML" for .yaml/.yml files, else "JSON"."""
    return "YAML" if Path(path).suffix.lower() in (".yaml", ".yml") else "JSON"


def read_json_or_yaml(path):
    """Parse ``path`` as YAML (.yaml/.yml) or JSON.

    Raises ``OSError`` if the file cannot be read and ``ValueError`` with the parser's first line if it
    is not valid: callers turn both into their own one-line errors.
    """
    path = Path(path)
    text = path.read_text()
    try:
        if format_name(path) == "YAML":
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)
    except Exception as e:  # json and yaml errors both mean "fix the file"
        raise ValueError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
