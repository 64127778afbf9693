"""Words in the messages users read."""

from __future__ import annotations

from fractions import Fraction


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, in the plural unless ``n`` is 1: ``counted(1, "frame")`` is
    ``"1 frame"``, ``counted(0, "mask")`` is ``"0 masks"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def frame_rate(fps: "Fraction | float") -> str:
    """A frame rate as people write it: in decimals, to three places at most (three
    significant digits under 1 fps), without trailing zeros. The exact Fraction of a
    variable-rate clip's average is no rate anyone would recognise (27997/933).

    >>> [frame_rate(f) for f in (Fraction(30000, 1001), Fraction(24000, 1001), Fraction(27997, 933), 25, 0.25)]
    ['29.97', '23.976', '30.008', '25', '0.25']
    """
    value = float(fps)
    return f"{value:.3f}".rstrip("0").rstrip(".") if value >= 1 else f"{value:.3g}"
