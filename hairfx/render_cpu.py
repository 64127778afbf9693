"""The CPU renderer: the reference implementation of hairfx's recolouring math.

For a frame ``f`` (uint8 RGB), a soft mask ``m`` at frame size and a colour:

1. ``I`` = mean Rec. 709 luma under ``m`` (:func:`hairfx.intensity.hair_intensity`);
   no hair (``None``) returns the frame unchanged;
2. ``w = clamp((I - I_dark) / (I_light - I_dark), 0, 1)`` and
   ``LUT = (1 - w) * dark + w * light``;
3. ``out = f + strength * m * (LUT(f) - f)``, rounded to nearest, clipped to 0..255.

Pixels where ``m == 0`` are copied bit for bit. Only the mask's bounding box is touched.
The :class:`~hairfx.render_gl.GLRenderer` implements the same steps in shaders.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from ._closeable import Closeable
from .colors import Color
from .errors import InputError
from .intensity import MIN_HAIR_WEIGHT, hair_intensity, luma
from .lut import sample_tetrahedral

__all__ = ["CpuRenderer", "RenderResult", "INTERPOLATIONS"]

INTERPOLATIONS = ("trilinear", "tetrahedral")
# Below this many hair pixels one thread is faster than splitting the work.
_PARALLEL_MIN_PIXELS = 60_000


class RenderResult(tuple):
    """``(frame, intensity, weight)``: the output frame, the measured hair intensity
    (``None`` when there was no hair) and the blend weight used (``None`` likewise)."""

    __slots__ = ()

    def __new__(cls, frame, intensity, weight):
        return super().__new__(cls, (frame, intensity, weight))

    frame = property(lambda self: self[0])
    intensity = property(lambda self: self[1])
    weight = property(lambda self: self[2])


def _trilinear_tables(n: int):
    """Per 8-bit input value: the lower grid index and the fraction within the cell."""
    v = np.arange(256, dtype=np.float64) * (n - 1) / 255.0
    i0 = np.minimum(np.floor(v).astype(np.int32), n - 2)
    return i0, (v - i0).astype(np.float32)


class _TrilinearKernel:
    """Fast trilinear lookup for uint8 pixels.

    The red axis is resolved first for all 256 red input values (a planar
    ``(3, 256 * N * N)`` table), leaving a bilinear lookup in green/blue per pixel: four
    scalar gathers per channel on planar arrays, which numpy does quickly and without the
    GIL, so large pixel sets are split across threads. Resolving red is linear in the
    table, so it is done once per colour for the dark LUT and for ``light - dark``; a
    frame's blend is then one multiply-add over that table.
    """

    def __init__(self, n: int):
        self.n = n
        self.i0, self.f = _trilinear_tables(n)
        self._cache: tuple | None = None  # (colour, dark resolved, light - dark resolved)
        self._buf: np.ndarray | None = None

    def _resolve(self, table: np.ndarray) -> np.ndarray:
        planar = np.ascontiguousarray(table.transpose(3, 0, 1, 2))  # (3, r, g, b)
        lo, hi = planar[:, self.i0], planar[:, self.i0 + 1]
        hi -= lo
        hi *= self.f[None, :, None, None]
        lo += hi
        return lo.reshape(3, -1)

    def red_resolved(self, color: Color, weight: float) -> np.ndarray:
        """The colour's table blended at ``weight``, red resolved: ``(3, 256 * N * N)``."""
        if self._cache is None or self._cache[0] is not color:
            dark = self._resolve(color.dark.table)
            diff = self._resolve(color.light.table) - dark
            self._cache = (color, dark, diff)
            self._buf = np.empty_like(dark)
        _, dark, diff = self._cache
        np.multiply(diff, np.float32(weight), out=self._buf)
        self._buf += dark
        return self._buf

    def apply(self, tr: np.ndarray, px: np.ndarray, ms: np.ndarray, out: np.ndarray) -> None:
        """``out = px + ms * (LUT(px) * 255 - px)`` rounded, for ``px`` an ``(P, 3)`` uint8
        array, ``ms`` the ``(P,)`` mask times strength and ``out`` an ``(P, 3)`` uint8 array."""
        n, i0, f = self.n, self.i0, self.f
        r, g, b = px[:, 0], px[:, 1], px[:, 2]
        base = r.astype(np.int32) * (n * n)
        base += i0[g] * n
        base += i0[b]
        fg, fb = f[g], f[b]
        b1, bn, bn1 = base + 1, base + n, base + (n + 1)
        for c in range(3):
            t = tr[c]
            c00, c01, c10, c11 = t.take(base), t.take(b1), t.take(bn), t.take(bn1)
            c01 -= c00
            c01 *= fb
            c00 += c01
            c11 -= c10
            c11 *= fb
            c10 += c11
            c10 -= c00
            c10 *= fg
            c00 += c10  # LUT(px)[c] in [0, 1]
            _compose(px[:, c], c00, ms, out[:, c])


def _compose(f8: np.ndarray, lut01: np.ndarray, ms: np.ndarray, out8: np.ndarray) -> None:
    """``out8 = round(f + ms * (lut * 255 - f))`` clipped to 0..255; ``lut01`` is scratch."""
    f = f8.astype(np.float32)
    lut01 *= np.float32(255.0)
    lut01 -= f
    lut01 *= ms
    lut01 += f
    lut01 += np.float32(0.5)
    np.clip(lut01, 0.0, 255.0, out=lut01)
    out8[:] = lut01


class CpuRenderer(Closeable):
    """Recolours frames on the CPU with numpy. Same interface and math as the GL renderer.

    >>> r = CpuRenderer()
    >>> out, intensity, weight = r.render(frame, mask, get_color("copper"))  # doctest: +SKIP
    """

    name = "cpu"

    def __init__(self, *, interpolation: str = "trilinear", threads: int | None = None):
        if interpolation not in INTERPOLATIONS:
            raise InputError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.interpolation = interpolation
        self._threads = max(1, threads or min(4, os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        self._kernels: dict[int, _TrilinearKernel] = {}

    def _kernel(self, n: int) -> _TrilinearKernel:
        k = self._kernels.get(n)
        if k is None:
            k = self._kernels[n] = _TrilinearKernel(n)
        return k

    def measure(self, frame: np.ndarray, mask: np.ndarray) -> float | None:
        """Hair intensity of ``frame`` under ``mask`` (see :mod:`hairfx.intensity`)."""
        return hair_intensity(frame, mask)

    def render(
        self,
        frame: np.ndarray,
        mask: np.ndarray,
        color: Color,
        *,
        strength: float = 1.0,
        intensity_filter: Callable[[float], float] | None = None,
    ) -> RenderResult:
        """Recolour ``frame`` (``H x W x 3`` uint8) under ``mask`` (``H x W`` float32 at frame
        size, already validated). ``intensity_filter`` maps the measured intensity to the one
        used for the blend (a video session smooths it). Returns a :class:`RenderResult`."""
        frame = np.ascontiguousarray(frame)
        out = frame.copy()
        mflat = np.ascontiguousarray(mask).reshape(-1)
        sel = np.flatnonzero(mflat > 0)
        m_sel = mflat[sel]
        # hair_intensity() restricted to the pixels it weights: the same sum, less work
        total = float(m_sel.sum(dtype=np.float64))
        if total < MIN_HAIR_WEIGHT:
            return RenderResult(out, None, None)
        px = frame.reshape(-1, 3)[sel]
        intensity = float(np.clip(np.dot(m_sel, luma(px)) / total, 0.0, 1.0))
        used = intensity_filter(intensity) if intensity_filter is not None else intensity
        weight = color.weight(used)
        ms = m_sel * np.float32(strength)
        res = np.empty_like(px)
        if self.interpolation == "tetrahedral":
            lut = sample_tetrahedral(color.blended(weight), px.astype(np.float32) * np.float32(1 / 255.0))
            for c in range(3):
                _compose(px[:, c], lut[:, c].copy(), ms, res[:, c])
        else:
            kernel = self._kernel(color.size)
            tr = kernel.red_resolved(color, weight)
            self._parallel(lambda a, b: kernel.apply(tr, px[a:b], ms[a:b], res[a:b]), len(px))
        out.reshape(-1, 3)[sel] = res
        return RenderResult(out, intensity, weight)

    def _parallel(self, fn, total: int) -> None:
        if self._threads == 1 or total < _PARALLEL_MIN_PIXELS:
            fn(0, total)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="hairfx-cpu")
        step = -(-total // self._threads)
        futures = [self._pool.submit(fn, a, min(a + step, total)) for a in range(0, total, step)]
        for fut in futures:
            fut.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
