"""Tests of hairfx.synth: a colour for any hex target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hairfx.colors import Color, get_color
from hairfx.effects import srgb_to_lab
from hairfx.errors import InputError
from hairfx.lut import LUT3D
from hairfx.synth import DARK_INTENSITY, LIGHT_INTENSITY, color_from_hex

REPO = Path(__file__).resolve().parents[1]

#: CIELAB hue (degrees) the synthesised LUTs may stray from the target's on hair-like greys.
HUE_TOL = 3.0


def hue(lab):
    return np.degrees(np.arctan2(lab[..., 2], lab[..., 1]))


def test_smoke_and_shapes():
    c = color_from_hex("#7a2e8c")
    assert isinstance(c, Color)
    assert c.swatch == "#7a2e8c" and c.size == 33
    assert (c.light_intensity, c.dark_intensity) == (LIGHT_INTENSITY, DARK_INTENSITY)
    assert c.light.table.shape == (33, 33, 33, 3)


def test_deterministic_and_cached():
    a = color_from_hex("#7A2E8C")
    assert color_from_hex("#7a2e8c") is a
    from hairfx import synth

    synth._cached.cache_clear()
    b = color_from_hex("#7a2e8c")
    assert b is not a
    np.testing.assert_array_equal(a.light.table, b.light.table)
    np.testing.assert_array_equal(a.dark.table, b.dark.table)


def test_get_color_accepts_hex():
    assert get_color("#1D7D80").swatch == "#1d7d80"


@pytest.mark.parametrize("target", ["#000000", "#ffffff", "#010101"])
def test_the_ends_of_the_range_are_colours_too(target):
    """Black's L* converts to a hair below zero; its LUTs must still be finite, darken hair
    towards it, and stay neutral (no hue of their own)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "invalid value in power" came before the NaN table
        c = color_from_hex(target)
    grey = LUT3D.identity(33).table[16, 16, 16]  # mid grey hair
    for lut in (c.light, c.dark):
        out = lut.apply(grey[None])[0]
        assert np.isfinite(lut.table).all() and np.ptp(out) < 0.01
        assert (out.mean() < grey.mean()) == (target != "#ffffff")
    # the hair keeps its texture: about half of it went flat black (or white) before
    from hairfx import recolor
    from hairfx.imagefiles import read_mask, read_rgb

    for ref in ("light", "dark"):
        rgb = read_rgb(REPO / "reference_images" / f"{ref}.png")
        mask = read_mask(REPO / "reference_images" / f"{ref}_mask.png")
        hair = recolor(rgb, c, mask=mask, renderer="cpu")[mask > 0.5].astype(int)
        flat = (hair.max(axis=1) <= 2) | (hair.min(axis=1) >= 253)
        assert flat.mean() < 0.2, (ref, flat.mean())


@pytest.mark.parametrize("bad", ["#12345g", "7a2e8c", "#7a2e8", "#7a2e8c0", "", None, 0x7A2E8C])
def test_invalid_hex(bad):
    with pytest.raises(InputError, match="hex colour like '#7a2e8c'"):
        color_from_hex(bad)


def test_reference_hair_lands_on_target():
    # The reference-intensity grey goes to the target's lightness and hue in each LUT.
    target = "#b4532a"
    t_lab = srgb_to_lab(np.array([0xB4, 0x53, 0x2A]) / 255.0)
    c = color_from_hex(target)
    for lut, i in ((c.light, LIGHT_INTENSITY), (c.dark, DARK_INTENSITY)):
        out = lut.apply(np.full((1, 3), i, np.float32))[0]
        lab = srgb_to_lab(out)
        assert abs(lab[0] - t_lab[0]) < 0.02
        assert abs(hue(lab) - hue(t_lab)) < HUE_TOL


def test_texture_kept():
    # Neighbouring hair greys stay in order (the tone curve is monotone): texture survives.
    c = color_from_hex("#2d5bbf")
    greys = np.linspace(0.05, 0.7, 40, dtype=np.float32)
    for lut in (c.light, c.dark):
        L = srgb_to_lab(lut.apply(np.repeat(greys[:, None], 3, 1)))[:, 0]
        assert (np.diff(L) > 0).all()
