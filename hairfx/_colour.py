"""colour-science, imported quietly (hairfx uses it for measurements and tests, never to plot)."""

from __future__ import annotations


def colour_science():
    """The ``colour`` module (colour-science), imported without the warning it gives on
    every first import where its optional matplotlib is not installed (hairfx never plots).
    Other warnings pass."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Matplotlib.*related API features are not available")
        import colour
    return colour
