"""Colour effects for authoring hair LUTs, and the CIELAB conversions they work in.

An *effect* is a pure function of colour: it maps ``(..., 3)`` float sRGB values in
``[0, 1]`` (encoded, like the frames) to new ones. A list of effects, applied in order to
the grid points of an identity LUT, *bakes* a LUT (:func:`bake_lut`). Recipes
(``luts/<name>/recipe.toml``, see ``tools/``) are such lists, one for the light and one
for the dark reference.

Effects work in CIELAB (D65, values divided by 100 so ``L`` lies in ``[0, 1]``), where
lightness ``L`` and the chroma plane ``(a, b)`` are roughly perceptually uniform, so "keep
the texture, change the colour" becomes "remap ``L`` smoothly, replace ``(a, b)``".
CIELAB rather than OkLab because hue is then constant in the space colour differences
(CIEDE2000) and the palette report measure in; OkLab's hue lines for blue bend by over
10 degrees of CIELAB hue between light and dark hair. Results are brought back into the
sRGB gamut by lowering chroma at constant lightness and hue, never by clipping channels
independently (which shifts hue).

The effects, with their parameters (defaults in brackets):

``colorize``  target (``'#RRGGBB'``), amount [1.0], lightness [1.0], contrast [1.0]
    Moves the hair toward ``target``: the hair's mean lightness (taken from the reference
    intensity the LUT is tuned for) is carried ``lightness`` of the way to the target's
    by a smooth tone curve whose slope there is ``contrast`` (1 keeps the hair's strand
    to strand contrast), and the chroma plane is blended ``amount`` of the way to the
    target's hue and chroma, scaled down toward black and white. The hair's new mean
    lightness stays within L* 8..92 (:data:`DST_RANGE`): a black or white target crushed
    about half the hair to flat black or white.
``hue_shift``  degrees
``saturation``  factor (chroma multiplier)
``lightness_curve``  points (``[[in, out], ...]`` on L*/100; (0, 0) and (1, 1) are implied)
``contrast``  amount, pivot (L*/100) [the hair's mean lightness]
``tint``  color (``'#RRGGBB'``), amount [0.2] (adds the colour's chroma)
``lut``  file (a ``.cube``, e.g. from ``hairfx-lut hald-import`` or ``fit``; relative to
    the recipe), amount [1.0]: an artist's grade made in another tool, as one step

>>> lut = bake_lut([{"effect": "saturation", "factor": 0.0}], size=5, source_intensity=0.5)
>>> bool(abs(lut.table[4, 0, 0] - lut.table[4, 0, 0].mean()).max() < 0.02)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._options import number
from .colors import HEX_SWATCH
from .errors import InputError
from .lut import LUT3D, MAX_SIZE, MIN_SIZE, _identity_grid

__all__ = [
    "EFFECTS",
    "srgb_to_lab",
    "lab_to_srgb",
    "hex_to_rgb",
    "parse_hex",
    "validate_effects",
    "apply_effects",
    "bake_lut",
    "reference_lightness",
]

# sRGB (D65) linear RGB -> CIE XYZ, IEC 61966-2-1, and the D65 white point (xy 0.3127, 0.3290).
_RGB_TO_XYZ = np.array(
    [[0.4124, 0.3576, 0.1805],
     [0.2126, 0.7152, 0.0722],
     [0.0193, 0.1192, 0.9505]]
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = np.array([0.3127 / 0.3290, 1.0, (1 - 0.3127 - 0.3290) / 0.3290])
_EPS, _KAPPA = 216 / 24389, 24389 / 27


def _decode(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4)


def _encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.maximum(v, 0.0031308) ** (1 / 2.4) - 0.055)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of encoded sRGB in ``[0, 1]``, **divided by 100** (``L`` in ``[0, 1]``),
    shape ``(..., 3)``, float64."""
    xyz = (_decode(rgb) @ _RGB_TO_XYZ.T) / _WHITE
    f = np.where(xyz > _EPS, np.cbrt(np.maximum(xyz, _EPS)), (_KAPPA * xyz + 16) / 116)
    return np.stack([1.16 * f[..., 1] - 0.16, 5.0 * (f[..., 0] - f[..., 1]), 2.0 * (f[..., 1] - f[..., 2])], -1)


def _lab_to_linear(lab: np.ndarray) -> np.ndarray:
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 0.16) / 1.16
    f = np.stack([fy + lab[..., 1] / 5.0, fy, fy - lab[..., 2] / 2.0], -1)
    xyz = np.where(f**3 > _EPS, f**3, (116 * f - 16) / _KAPPA) * _WHITE
    return xyz @ _XYZ_TO_RGB.T


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """Encoded sRGB in ``[0, 1]`` of (scaled) CIELAB values, mapped into gamut by reducing
    chroma at constant ``L`` and hue (16 bisection steps), float64 ``(..., 3)``."""
    lab = np.asarray(lab, np.float64)
    L = np.clip(lab[..., :1], 0.0, 1.0)
    ab = lab[..., 1:]
    eps = 1e-6

    def inside(L, ab, s):
        lin = _lab_to_linear(np.concatenate([L, ab * s], -1))
        return np.all((lin >= -eps) & (lin <= 1 + eps), -1, keepdims=True)

    scale = np.ones_like(L)
    out = ~inside(L, ab, scale)[..., 0]
    if out.any():  # bisect only the values out of gamut: often a small share of a LUT
        Lo, abo = L[out], ab[out]
        lo, hi = np.zeros_like(Lo), np.ones_like(Lo)
        for _ in range(16):
            mid = 0.5 * (lo + hi)
            good = inside(Lo, abo, mid)
            lo = np.where(good, mid, lo)
            hi = np.where(good, hi, mid)
        scale[out] = lo
    return _encode(_lab_to_linear(np.concatenate([L, ab * scale], -1)))


def parse_hex(value: Any, *, what: str = "colour") -> str:
    """``value`` as a lower-case ``'#rrggbb'`` string, or :class:`InputError` naming it."""
    if not isinstance(value, str) or not HEX_SWATCH.match(value.strip()):
        raise InputError(f"{what} must be a hex colour like '#7a2e8c', got {value!r}")
    return value.strip().lower()


def hex_to_rgb(value: str) -> np.ndarray:
    """``'#rrggbb'`` as float64 sRGB in ``[0, 1]``."""
    h = parse_hex(value)
    return np.array([int(h[i : i + 2], 16) for i in (1, 3, 5)], np.float64) / 255.0


def reference_lightness(intensity: float) -> float:
    """CIELAB L*/100 of the grey whose Rec. 709 luma is ``intensity``: the lightness a LUT's
    reference hair is taken to have (luma of a grey equals its channel value)."""
    return float(srgb_to_lab(np.full(3, float(intensity)))[0])


# --- the effects: each takes scaled CIELAB (N, 3) and a context, returns the same ----


def _tone(L: np.ndarray, pivot: float, target: float, slope: float) -> np.ndarray:
    """Smooth monotone curve with f(0)=0, f(1)=1, f(pivot)=target and f'(pivot)=slope.

    Power laws either side of the pivot: ``target * (L/pivot)**k`` below and
    ``1 - (1-target) * ((1-L)/(1-pivot))**k2`` above, with k, k2 matching the slope.
    """
    pivot = min(max(pivot, 1e-3), 1 - 1e-3)
    target = min(max(target, 1e-3), 1 - 1e-3)
    k = slope * pivot / target
    k2 = slope * (1 - pivot) / (1 - target)
    Lc = np.clip(L, 0.0, 1.0)
    below = target * (Lc / pivot) ** k
    above = 1 - (1 - target) * ((1 - Lc) / (1 - pivot)) ** k2
    return np.where(Lc <= pivot, below, above)


def _chroma_envelope(L: np.ndarray, peak: float) -> np.ndarray:
    """1 at lightness ``peak``, falling smoothly to 0 at black and at white."""
    peak = min(max(peak, 0.05), 0.95)
    Lc = np.clip(L, 0.0, 1.0)
    return np.where(Lc <= peak, (Lc / peak) ** 0.75, ((1 - Lc) / (1 - peak)) ** 0.75)


#: The span (L*/100) the colorize tone curve may carry the hair's mean lightness into. Its
#: exponents are slope * pivot / target (and likewise from white): a target of black or
#: white made them hundreds, and half the hair went flat black or white (texture lost);
#: within 0.08..0.92 they stay single-digit. Hair is never L* 0 or 100 anyway.
DST_RANGE = (0.08, 0.92)


def _colorize(lab, ctx, target, amount=1.0, lightness=1.0, contrast=1.0):
    t = srgb_to_lab(hex_to_rgb(target))
    src = ctx["source_lightness"]
    # within DST_RANGE: black's L* comes out of the conversion a hair below 0 (-3e-17), whose
    # fractional power below would be NaN, and a target at either end crushes the hair
    dst = min(max(src + float(lightness) * (t[0] - src), DST_RANGE[0]), DST_RANGE[1])
    L = _tone(lab[:, 0], src, dst, float(contrast))
    ab_t = t[1:] * _chroma_envelope(L, dst)[:, None] * (dst / max(t[0], 1e-3)) ** 0.25
    ab = (1 - float(amount)) * lab[:, 1:] + float(amount) * ab_t
    return np.column_stack([L, ab])


def _hue_shift(lab, ctx, degrees):
    c, s = math.cos(math.radians(float(degrees))), math.sin(math.radians(float(degrees)))
    a, b = lab[:, 1], lab[:, 2]
    return np.column_stack([lab[:, 0], c * a - s * b, s * a + c * b])


def _saturation(lab, ctx, factor):
    return np.column_stack([lab[:, 0], lab[:, 1:] * float(factor)])


def _monotone_cubic(x: np.ndarray, y: np.ndarray, q: np.ndarray) -> np.ndarray:
    # Fritsch-Carlson monotone cubic Hermite interpolation.
    h = np.diff(x)
    d = np.diff(y) / h
    m = np.zeros_like(x)
    m[1:-1] = np.where(d[:-1] * d[1:] > 0, (d[:-1] + d[1:]) / 2, 0.0)
    m[0], m[-1] = d[0], d[-1]
    for i in range(len(d)):
        if d[i] == 0:
            m[i] = m[i + 1] = 0.0
        else:
            a, b = m[i] / d[i], m[i + 1] / d[i]
            r = a * a + b * b
            if r > 9:
                t = 3 / math.sqrt(r)
                m[i], m[i + 1] = t * a * d[i], t * b * d[i]
    i = np.clip(np.searchsorted(x, q, side="right") - 1, 0, len(x) - 2)
    t = (q - x[i]) / h[i]
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * y[i] + h10 * h[i] * m[i] + h01 * y[i + 1] + h11 * h[i] * m[i + 1]


def _lightness_curve(lab, ctx, points):
    pts = sorted({0.0: 0.0, 1.0: 1.0, **{float(p[0]): float(p[1]) for p in points}}.items())
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    L = _monotone_cubic(x, y, np.clip(lab[:, 0], 0.0, 1.0))
    return np.column_stack([L, lab[:, 1:]])


def _contrast(lab, ctx, amount, pivot=None):
    p = ctx["source_lightness"] if pivot is None else float(pivot)
    return np.column_stack([p + (lab[:, 0] - p) * float(amount), lab[:, 1:]])


def _tint(lab, ctx, color, amount=0.2):
    t = srgb_to_lab(hex_to_rgb(color))
    return np.column_stack([lab[:, 0], lab[:, 1:] + float(amount) * t[1:]])


def _lut(lab, ctx, file, amount=1.0):
    from pathlib import Path

    from .lut import read_cube, sample_trilinear

    path = Path(file)
    if not path.is_absolute():
        path = Path(ctx.get("base_dir") or ".") / path
    luts = ctx.setdefault("luts", {})  # read once for all the chunks of a bake
    if path not in luts:
        luts[path] = read_cube(path)
    lut = luts[path]
    rgb = lab_to_srgb(lab)
    out = sample_trilinear(lut.table, lut.grid_coords(rgb.astype(np.float32))).astype(np.float64)
    return srgb_to_lab(np.clip(rgb + float(amount) * (out - rgb), 0.0, 1.0))


def _check_file(value, where):
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where} must be the path of a .cube file, got {value!r}")


def _check_points(value, where):
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in p)
        for p in value
    )
    xs = [p[0] for p in value] if ok else []
    if not ok or len(set(xs)) != len(xs) or not value:
        raise InputError(f"{where}: points must be a non-empty list of distinct [in, out] pairs in [0, 1], got {value!r}")
    pts = sorted(value)
    ys = [0.0] + [p[1] for p in pts] + [1.0]
    if any(b < a for a, b in zip(ys, ys[1:])):
        raise InputError(f"{where}: lightness curve must be non-decreasing (it would invert the hair's texture), got {value!r}")


def _number(lo, hi):
    def check(value, where):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            raise InputError(f"{where} must be a number in [{lo}, {hi}], got {value!r}")
    check.accepts = f"{lo:g}..{hi:g}"
    return check


_pivot = _number(0, 1)
_pivot.accepts = "0..1, on L*/100; the hair's mean lightness when left out"


def _hexcheck(value, where):
    parse_hex(value, what=where)


#: name -> (function, {parameter: (validator, required)})
EFFECTS = {
    "colorize": (_colorize, {"target": (_hexcheck, True), "amount": (_number(0, 1), False),
                             "lightness": (_number(-0.5, 1.5), False), "contrast": (_number(0.1, 4), False)}),
    "hue_shift": (_hue_shift, {"degrees": (_number(-360, 360), True)}),
    "saturation": (_saturation, {"factor": (_number(0, 4), True)}),
    "lightness_curve": (_lightness_curve, {"points": (_check_points, True)}),
    "contrast": (_contrast, {"amount": (_number(0.1, 4), True), "pivot": (_pivot, False)}),
    "tint": (_tint, {"color": (_hexcheck, True), "amount": (_number(0, 2), False)}),
    "lut": (_lut, {"file": (_check_file, True), "amount": (_number(0, 1), False)}),
}


_hexcheck.accepts = "'#RRGGBB'"
_check_points.accepts = "[[in, out], ...] on L*/100"
_check_file.accepts = "a .cube path, relative to the recipe"


def effects_reference() -> str:
    """Every effect with its parameters, what each accepts and its default, from the
    checks :func:`validate_effects` applies (one line per effect)."""
    import inspect

    lines = []
    for name, (fn, params) in EFFECTS.items():
        defaults = {k: v.default for k, v in inspect.signature(fn).parameters.items()
                    if v.default is not inspect.Parameter.empty}  # fmt: skip
        parts = []
        for key, (check, required) in params.items():
            default = defaults.get(key)
            when = "required" if required else ("optional" if default is None else f"default {default!r}")
            parts.append(f"{key} ({getattr(check, 'accepts', 'see the docs')}; {when})")
        lines.append(f"  {name}: " + ", ".join(parts))
    return "\n".join(lines)


def validate_effects(effects: Any, *, where: str = "effects") -> list[dict]:
    """Check a list of effect tables (``{"effect": name, **params}``) and return it as
    plain dicts; :class:`InputError` names the entry, the effect or parameter at fault
    and the valid choices."""
    if not isinstance(effects, (list, tuple)):
        raise InputError(f"{where} must be a list of effect tables, got {type(effects).__name__}")
    out = []
    for i, entry in enumerate(effects):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict) or "effect" not in entry:
            raise InputError(f"{at} must be a table with an 'effect' key, got {entry!r}")
        name = entry["effect"]
        if not isinstance(name, str) or name not in EFFECTS:
            raise InputError(f"{at}: unknown effect {name!r}; valid effects: {', '.join(sorted(EFFECTS))}")
        params = EFFECTS[name][1]
        for key, value in entry.items():
            if key == "effect":
                continue
            if key not in params:
                raise InputError(f"{at} ({name}): unknown parameter {key!r}; valid: {', '.join(params)}")
            params[key][0](value, f"{at} ({name}) {key}")
        missing = [k for k, (_, req) in params.items() if req and k not in entry]
        if missing:
            raise InputError(f"{at} ({name}): missing parameter {', '.join(missing)}")
        out.append(dict(entry))
    return out


#: Grid points (or pixels) the effects are evaluated on at a time. Every effect maps each
#: colour on its own, so the result does not depend on it; it bounds the memory a bake takes:
#: the CIELAB conversions hold a dozen float64 temporaries the size of their input, which
#: for a whole 256^3 grid came to about 4 GB. 2^16 points (one red slab of a 256^3 grid)
#: keep them near 20 MB, small enough to stay in the processor's caches.
CHUNK_POINTS = 1 << 16


def _context(source_intensity: float, base_dir: str | None) -> dict:
    """What the effects read besides the colours: the reference's lightness, the folder
    ``lut`` files are relative to, and the ``.cube`` files read so far (read once, not once
    per chunk)."""
    if not 0.0 < float(source_intensity) < 1.0:
        raise InputError(f"source intensity must lie in (0, 1), got {source_intensity!r}")
    return {"source_lightness": reference_lightness(source_intensity), "base_dir": base_dir, "luts": {}}


def _apply_chunk(rgb: np.ndarray, effects: list[dict], ctx: dict) -> np.ndarray:
    """``effects`` (validated) on float64 sRGB ``(n, 3)``; returns float64 sRGB ``(n, 3)``."""
    lab = srgb_to_lab(rgb)
    for entry in effects:
        fn = EFFECTS[entry["effect"]][0]
        lab = fn(lab, ctx, **{k: v for k, v in entry.items() if k != "effect"})
    return lab_to_srgb(lab)


def apply_effects(rgb: np.ndarray, effects: list[dict], *, source_intensity: float,
                  base_dir: str | None = None) -> np.ndarray:
    """Apply ``effects`` in order to float sRGB ``rgb`` (``(..., 3)`` in ``[0, 1]``).

    ``source_intensity`` is the hair intensity of the reference the effects are tuned
    for (see :mod:`hairfx.intensity`); effects that act "around the hair" pivot on it.
    Returns float64 sRGB in ``[0, 1]`` of the same shape. The colours are taken
    :data:`CHUNK_POINTS` at a time, which bounds the memory and changes no value.
    """
    effects = validate_effects(effects)
    ctx = _context(source_intensity, base_dir)
    shape = np.shape(rgb)
    flat = np.asarray(rgb, np.float64).reshape(-1, 3)
    out = np.empty_like(flat)
    for start in range(0, len(flat), CHUNK_POINTS):
        out[start : start + CHUNK_POINTS] = _apply_chunk(flat[start : start + CHUNK_POINTS], effects, ctx)
    return out.reshape(shape)


def bake_lut(effects: list[dict], *, size: int = 33, source_intensity: float, title: str = "",
             base_dir: str | None = None) -> LUT3D:
    """The ``size``-point LUT of ``effects`` (see :func:`apply_effects`). Deterministic.

    The grid is evaluated a slab of red values at a time (about :data:`CHUNK_POINTS`
    points), each written into the float32 table: a 256^3 bake holds the table (200 MB)
    and one slab's work, not float64 copies of the whole grid (4 GB). The values are
    those of the identity LUT's grid (:meth:`LUT3D.identity`) taken whole.
    """
    size = number(size, "LUT size", lo=MIN_SIZE, hi=MAX_SIZE, integer=True)  # before the table is allocated
    effects = validate_effects(effects)
    ctx = _context(source_intensity, base_dir)
    out = np.empty((size, size, size, 3), np.float32)
    step = max(1, CHUNK_POINTS // (size * size))
    for r0 in range(0, size, step):
        grid = _identity_grid(size, slice(r0, r0 + step))
        rgb = _apply_chunk(grid.reshape(-1, 3).astype(np.float64), effects, ctx)
        out[r0 : r0 + step] = rgb.reshape(grid.shape)
    return LUT3D(out, title=title)
