"""Locate the declarative tables (`mappings/`) and conformance resources (`fhir_profiles/`).

In a source checkout (and an editable install) they sit at the repository's top; an
installed wheel carries them as `adapter/_data/...`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory `mappings` or `fhir_profiles`, wherever it is installed."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data directory {name!r} not found beside the adapter package")


@cache
def load_json(directory: str, relative: str) -> dict:
    """Read a JSON file from one of the data directories (cached: the files are immutable)."""
    return json.loads((data_dir(directory) / relative).read_text(encoding="utf-8"))
