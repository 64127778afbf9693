"""Where the training and evaluation data lives when no ``--data`` is given."""

from __future__ import annotations

from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def roots() -> tuple[Path, Path]:
    """``../shared/data`` from the working directory (as it is at the call) first, then
    beside this checkout."""
    return Path.cwd() / ".." / "shared" / "data", _REPO.parent / "shared" / "data"


def find_data(*parts: str) -> Path | None:
    """The first data root holding ``parts`` (a file or folder), joined with them; else None."""
    for root in roots():
        if root.joinpath(*parts).exists():
            return root.joinpath(*parts)
    return None
