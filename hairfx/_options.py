"""Checks for the numeric and yes/no options of the public API: a wrong type or value
raises an :class:`~hairfx.errors.InputError` that names the option, not a bare
``ValueError``, and nothing is taken by its truthiness (``tta="no"`` is not a yes)."""

from __future__ import annotations

import math
import os
import numbers

import numpy as np

from .errors import InputError

#: The most threads a runtime is given: four per core, at least 8. More only adds OS threads
#: that wait (ONNX Runtime makes one per thread asked for: 5000 hung the process).
MAX_THREADS = max(8, 4 * (os.cpu_count() or 1))


def thread_count(value, name: str = "threads") -> int:
    """``value`` as a thread count in ``[1, MAX_THREADS]``."""
    return number(value, name, lo=1, hi=MAX_THREADS, integer=True)


def number(value, name: str, *, lo: float | None = None, hi: float | None = None, integer: bool = False):
    """``value`` as a ``float`` (``int`` with ``integer``) within ``[lo, hi]``.

    >>> number(0.5, "strength", lo=0, hi=1)
    0.5
    >>> number("3", "threads")
    Traceback (most recent call last):
    hairfx.errors.InputError: threads must be a number, got '3'
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    if integer:
        if v != int(v):
            raise InputError(f"{name} must be a whole number, got {value!r}")
        v = int(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        low = "-inf" if lo is None else f"{lo:g}"
        high = "inf" if hi is None else f"{hi:g}"
        raise InputError(f"{name} must be in [{low}, {high}], got {value!r}")
    return v


def flag(value, name: str) -> bool:
    """``value`` as a ``bool``: ``True`` or ``False`` (numpy's too), nothing else.

    >>> flag("no", "tta")
    Traceback (most recent call last):
    hairfx.errors.InputError: tta must be True or False, got 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return bool(value)
