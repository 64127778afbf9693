"""A tool run by its path (``python tools/lut_tool.py``) runs as ``python -m tools.lut_tool``.

A file run by its path belongs to no package, and the tools import their helpers relative to
it (``from ._common import ...``): they fail with "attempted relative import with no known
parent package". Python puts the script's folder first on ``sys.path``, which is how a tool
finds this module (``import _by_path``) before anything else is imported. A module of the
tool's commands (``tools/fit.py``) run so says which command runs it (:func:`part_of_lut_tool`).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

__all__ = ["run_as_module", "part_of_lut_tool"]


def run_as_module(script: str) -> None:
    """Run the tool ``script`` (its ``__file__``) as the module ``tools.NAME`` of the checkout
    that holds it, whose hairfx it then uses too, and exit with the status of its ``main()``."""
    path = Path(script).resolve()
    sys.path[0] = str(path.parents[1])  # the checkout, in place of tools/
    sys.exit(importlib.import_module(f"{path.parent.name}.{path.stem}").main())


def part_of_lut_tool(script: str, *commands: str) -> None:
    """Exit with status 2 and a line saying that ``script`` (its ``__file__``), a module of the
    hairfx-lut ``commands``, is run through them: run by its path it did nothing and said
    nothing, or failed on its first relative import with a traceback."""
    path = Path(script)
    tool = path.with_name("lut_tool.py")
    command, which = (commands[0], "") if len(commands) == 1 else ("COMMAND", f", COMMAND {' or '.join(commands)}")
    print(f"{path.name} is part of hairfx-lut, not a command of its own: run python {tool} {command}{which} "
          f"(hairfx-lut {command} where hairfx is installed)", file=sys.stderr)
    sys.exit(2)
