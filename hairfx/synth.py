"""A :class:`~hairfx.colors.Color` for any hex colour, synthesised without an artist.

``color_from_hex('#7a2e8c')`` bakes a light and a dark LUT that bring hair of the light
and of the dark reference intensity to the target colour in CIELAB: the hair's mean
lightness is carried to the target's by a smooth tone curve that keeps strand-to-strand
contrast, and its chroma plane is replaced by the target's hue and chroma (see the
``colorize`` effect in :mod:`hairfx.effects`). The result is cached per colour.

>>> color_from_hex('#7A2E8C').swatch
'#7a2e8c'
"""

from __future__ import annotations

from functools import lru_cache

from .colors import Color
from .effects import bake_lut, parse_hex

__all__ = ["color_from_hex", "LIGHT_INTENSITY", "DARK_INTENSITY", "SIZE"]

#: Hair intensities of the shipped light and dark reference images
#: (reference_images/intensities.json, measured with hairfx.intensity.hair_intensity).
LIGHT_INTENSITY = 0.546235
DARK_INTENSITY = 0.165912
#: LUT size of synthesised colours.
SIZE = 33


def synth_effects(swatch: str) -> list[dict]:
    """The effect list used for both LUTs of a synthesised colour."""
    return [{"effect": "colorize", "target": swatch, "amount": 1.0, "lightness": 1.0, "contrast": 1.0}]


@lru_cache(maxsize=64)
def _cached(swatch: str) -> Color:
    effects = synth_effects(swatch)
    return Color(
        name=swatch,
        display_name=swatch,
        swatch=swatch,
        light=bake_lut(effects, size=SIZE, source_intensity=LIGHT_INTENSITY, title=f"{swatch} light"),
        dark=bake_lut(effects, size=SIZE, source_intensity=DARK_INTENSITY, title=f"{swatch} dark"),
        light_intensity=LIGHT_INTENSITY,
        dark_intensity=DARK_INTENSITY,
    )


def color_from_hex(value: str) -> Color:
    """The synthesised :class:`Color` for ``'#RRGGBB'`` (case-insensitive); deterministic
    and cached. An invalid hex string raises :class:`~hairfx.errors.InputError`."""
    return _cached(parse_hex(value))
