"""Tests of hairfx.effects: the colour effects recipes are made of."""

from __future__ import annotations

import numpy as np
import pytest

from hairfx.effects import EFFECTS, apply_effects, bake_lut, lab_to_srgb, srgb_to_lab, validate_effects
from hairfx.errors import InputError

#: Round trip sRGB -> CIELAB -> sRGB of in-gamut colours.
ROUNDTRIP_TOL = 1e-9


def test_lab_known_values():
    # Golden values: CIELAB (D65) of sRGB white, black and pure red, as colour-science
    # 0.4.7 computes them (XYZ_to_Lab(sRGB_to_XYZ(...))), divided by 100.
    lab = srgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lab[0], [1.0, 0.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(lab[1], [0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(lab[2], [0.532329, 0.801112, 0.672237], atol=1e-5)


def test_lab_roundtrip():
    x = np.random.default_rng(0).random((500, 3))
    np.testing.assert_allclose(lab_to_srgb(srgb_to_lab(x)), x, atol=ROUNDTRIP_TOL)


def test_out_of_gamut_keeps_hue():
    lab = np.array([[0.5, 1.5, -1.5]])  # far outside sRGB
    rgb = lab_to_srgb(lab)
    back = srgb_to_lab(rgb)
    assert np.all((rgb >= 0) & (rgb <= 1))
    assert abs(np.arctan2(back[0, 2], back[0, 1]) - np.arctan2(-1.5, 1.5)) < 1e-3
    assert abs(back[0, 0] - 0.5) < 1e-3


def test_empty_effect_list_is_identity():
    lut = bake_lut([], size=5, source_intensity=0.4)
    np.testing.assert_allclose(lut.table, np.asarray(bake_lut([], size=5, source_intensity=0.2).table), atol=0)
    from hairfx.lut import LUT3D

    np.testing.assert_allclose(lut.table, LUT3D.identity(5).table, atol=1e-6)


@pytest.mark.parametrize("entry", [
    {"effect": "colorize", "target": "#7a2e8c"},
    {"effect": "hue_shift", "degrees": 30},
    {"effect": "saturation", "factor": 1.5},
    {"effect": "lightness_curve", "points": [[0.3, 0.4], [0.7, 0.75]]},
    {"effect": "contrast", "amount": 1.3},
    {"effect": "tint", "color": "#ff8800", "amount": 0.3},
])
def test_every_effect_bakes_in_range(entry):
    lut = bake_lut([entry], size=5, source_intensity=0.3)
    assert lut.table.min() >= 0 and lut.table.max() <= 1


def test_all_effects_are_tested():
    assert set(EFFECTS) == {"colorize", "hue_shift", "saturation", "lightness_curve", "contrast", "tint", "lut"}


def test_lut_effect_applies_a_cube(tmp_path):
    from hairfx.lut import LUT3D, write_cube

    table = np.clip(LUT3D.identity(5).table * 0.5, 0, 1)  # halves every channel
    write_cube(LUT3D(table), tmp_path / "half.cube")
    out = apply_effects(np.array([[0.8, 0.4, 0.2]]), [{"effect": "lut", "file": "half.cube"}],
                        source_intensity=0.5, base_dir=str(tmp_path))
    np.testing.assert_allclose(out, [[0.4, 0.2, 0.1]], atol=1e-5)


def test_hue_shift_known_value():
    red = np.array([[0.8, 0.2, 0.2]])
    out = apply_effects(red, [{"effect": "hue_shift", "degrees": 90}], source_intensity=0.5)
    h0 = np.degrees(np.arctan2(*srgb_to_lab(red)[0, [2, 1]]))
    h1 = np.degrees(np.arctan2(*srgb_to_lab(out)[0, [2, 1]]))
    assert (h1 - h0) % 360 == pytest.approx(90, abs=1.0)


@pytest.mark.parametrize("effects,message", [
    ([{"effect": "glow"}], "unknown effect 'glow'; valid effects: colorize, contrast"),
    ([{"effect": ["saturation"]}], "unknown effect ['saturation']; valid effects: colorize"),  # was a TypeError
    ([{"effect": {"x": 1}}], "unknown effect {'x': 1}; valid effects: colorize"),
    ([{"degrees": 3}], "must be a table with an 'effect' key"),
    ([{"effect": "tint", "color": "red"}], "hex colour like '#7a2e8c', got 'red'"),
    ([{"effect": "lightness_curve", "points": [[0.2, 0.8], [0.6, 0.3]]}], "non-decreasing"),
    ({"effect": "tint"}, "must be a list of effect tables"),
])
def test_bad_effects(effects, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace("[", r"\[")):
        validate_effects(effects)


def test_bad_source_intensity():
    with pytest.raises(InputError, match="source intensity"):
        apply_effects(np.zeros((1, 3)), [], source_intensity=1.5)


def test_the_effects_reference_lists_every_effect_and_the_ranges_it_checks():
    """`hairfx-lut bake --help` prints it: the ranges were in the code only."""
    from hairfx.effects import EFFECTS, effects_reference

    text = effects_reference()
    assert [line.split(":")[0].strip() for line in text.splitlines()] == list(EFFECTS)
    assert "saturation: factor (0..4; required)" in text
    assert "amount (0..1; default 1.0)" in text and "pivot (0..1, on L*/100" in text
    for bad in (4.5, -0.1):  # the range printed is the range refused
        with pytest.raises(InputError, match=r"must be a number in \[0, 4\]"):
            validate_effects([{"effect": "saturation", "factor": bad}])


#: Every effect, each once, for the bake tests below (a grade file "grade.cube" among them).
ALL_EFFECTS = [
    {"effect": "colorize", "target": "#3a6ea5", "amount": 0.9, "contrast": 1.3},
    {"effect": "hue_shift", "degrees": 12},
    {"effect": "saturation", "factor": 2.5},  # pushes many grid points out of gamut
    {"effect": "lightness_curve", "points": [[0.2, 0.15], [0.6, 0.7]]},
    {"effect": "contrast", "amount": 1.4},
    {"effect": "tint", "color": "#ff00aa", "amount": 0.6},
    {"effect": "lut", "file": "grade.cube", "amount": 0.7},
]


@pytest.fixture
def grade_dir(tmp_path):
    from hairfx.lut import LUT3D, write_cube

    t = LUT3D.identity(5).table
    write_cube(LUT3D(np.clip(t ** 0.8 * 0.9 + 0.05, 0, 1)), tmp_path / "grade.cube")
    return str(tmp_path)


@pytest.mark.parametrize("size", [9, 17, 33])
def test_a_bake_in_chunks_is_the_bake_of_the_whole_grid(size, grade_dir, monkeypatch):
    """bake_lut evaluates the grid a slab at a time; the values are those of the effects
    applied to the identity LUT's whole grid at once (as bakes were made before), exactly.
    A chunk of 1000 points cuts the grid at no slab boundary, nor between slabs alike."""
    import hairfx.effects as effects_mod
    from hairfx.lut import LUT3D

    grid = LUT3D.identity(size).table.astype(np.float64)
    monkeypatch.setattr(effects_mod, "CHUNK_POINTS", size**3)  # one chunk: the grid at once
    whole = apply_effects(grid, ALL_EFFECTS, source_intensity=0.3, base_dir=grade_dir)
    for chunk in (1000, 3 * size * size - 1):
        monkeypatch.setattr(effects_mod, "CHUNK_POINTS", chunk)
        baked = bake_lut(ALL_EFFECTS, size=size, source_intensity=0.3, base_dir=grade_dir)
        np.testing.assert_array_equal(baked.table, whole.astype(np.float32))
        np.testing.assert_array_equal(apply_effects(grid, ALL_EFFECTS, source_intensity=0.3, base_dir=grade_dir), whole)


def test_a_bake_holds_the_table_not_float64_copies_of_the_grid(grade_dir, monkeypatch):
    """A 256^3 bake took 4 GB: float64 temporaries of the whole grid, a dozen of them in the
    CIELAB conversions. Now its memory is the table (and the LUT's own copy of it) and one
    chunk's work."""
    import tracemalloc

    import hairfx.effects as effects_mod

    monkeypatch.setattr(effects_mod, "CHUNK_POINTS", 4096)
    table_bytes = 65**3 * 3 * 4
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        bake_lut(ALL_EFFECTS, size=65, source_intensity=0.3, base_dir=grade_dir)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 3 * table_bytes, f"{peak / 1e6:.1f} MB for a {table_bytes / 1e6:.1f} MB table"
