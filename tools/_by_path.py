"""A tool run by its path (``python tools/lut_tool.py``) runs as ``python -m tools.lut_tool``.

A file run by its path belongs to no package, and the tools import their helpers relative to
it (``from ._common import ...``): they fail with "attempted relative import with no known
parent package". Python puts the script's folder first on ``sys.path``, which is how a tool
finds this module (``import _by_path``) before anything else is imported.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

__all__ = ["run_as_module"]


def run_as_module(script: str) -> None:
    """Run the tool ``script`` (its ``__file__``) as the module ``tools.NAME`` of the checkout
    that holds it, whose hairfx it then uses too, and exit with the status of its ``main()``."""
    path = Path(script).resolve()
    sys.path[0] = str(path.parents[1])  # the checkout, in place of tools/
    sys.exit(importlib.import_module(f"{path.parent.name}.{path.stem}").main())
