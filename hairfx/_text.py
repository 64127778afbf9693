"""Words in the messages users read."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1: ``counted(1, "frame")`` is
    ``"1 frame"``, ``counted(0, "mask")`` is ``"0 masks"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
