"""Where the training and evaluation data lives when no ``--data`` is given."""

from __future__ import annotations

from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
# ``../shared/data`` from the working directory first, then beside this checkout
ROOTS = (Path.cwd() / ".." / "shared" / "data", _REPO.parent / "shared" / "data")


def find_data(*parts: str) -> Path | None:
    """The first data root holding ``parts`` (a file or folder), joined with them; else None."""
    for root in ROOTS:
        if root.joinpath(*parts).exists():
            return root.joinpath(*parts)
    return None
