"""colour-science, imported quietly (hairfx uses it for measurements and tests, never to plot)."""

from __future__ import annotations

import functools


@functools.cache
def colour_science():
    """The ``colour`` module (colour-science), imported without the warnings it gives on
    every first import for each optional dependency that is missing (matplotlib, SciPy...:
    '"X" related API features are not available'). hairfx uses none of those features, and
    colour-science raises where a feature that needs one is called. Other warnings pass."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message='.*" related API features are not available')
        import colour
    return colour
