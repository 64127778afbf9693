"""The ``hairfx`` console script: a thin layer over the public API.

Heavy imports (torch, moderngl, colour-science) happen inside the commands so that
``hairfx --help`` stays instant. Files are read and written with OpenCV, so BGR is
converted to RGB here, at the edge, and nowhere else.
"""

from __future__ import annotations

import argparse
import sys

from .errors import HairfxError

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hairfx", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Each _add_* function registers one subcommand and sets args.run to its handler.
    for add in _COMMANDS:
        add(sub)
    return parser


_COMMANDS: list = []


def command(add):
    """Register a function that adds one subcommand to the parser."""
    _COMMANDS.append(add)
    return add


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except HairfxError as exc:
        print(f"hairfx {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hairfx {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
