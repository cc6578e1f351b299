"""Where the vendors' own API documents are (the official Tripletex OpenAPI file, Yuki's
example messages): kept beside the project, not in it, because they are the vendors' files.

``LEDGERBRIDGE_SPECS`` names the folder; otherwise ``shared/specs`` next to the checkout, then
``/work/shared/specs``. Tests that need a document skip, saying where they looked, when none
of these has it.
"""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    *([Path(os.environ["LEDGERBRIDGE_SPECS"])] if os.environ.get("LEDGERBRIDGE_SPECS") else []),
    Path(__file__).resolve().parents[2] / "shared" / "specs",
    Path("/work/shared/specs"),
]


def spec_path(relative: str) -> Path:
    """The first existing copy of ``relative`` (e.g. ``tripletex/…json``), else the first
    candidate's path (so a skip message names where it was expected)."""
    for folder in _CANDIDATES:
        if (folder / relative).exists():
            return folder / relative
    return _CANDIDATES[0] / relative
