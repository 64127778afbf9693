"""Where the training and evaluation data lives when no ``--data`` is given."""

from __future__ import annotations

from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]


def roots() -> tuple[Path, Path]:
    """``../shared/data`` from the working directory (as it is at the call) first, then
    beside this checkout."""
    return Path.cwd() / ".." / "shared" / "data", _REPO.parent / "shared" / "data"


def reference_dirs() -> tuple[Path, Path]:
    """Where the reference images may be: the source checkout's ``reference_images/``, then
    ``reference_images/`` in the working directory (as it is at the call). ``pip install .``
    does not install them."""
    return _REPO / "reference_images", Path.cwd() / "reference_images"


def find_data(*parts: str) -> Path | None:
    """The first data root holding ``parts`` (a file or folder), joined with them; else None."""
    for root in roots():
        if root.joinpath(*parts).exists():
            return root.joinpath(*parts)
    return None
