"""The CPU renderer: the reference implementation of hairfx's recolouring math.

For a frame ``f`` (uint8 RGB), a soft mask at frame size and a colour:

0. the mask is taken at 8 bits, ``m = round(mask * 255) / 255``
   (:func:`~hairfx.frames.mask_levels`), as the GL renderer carries it in its frame
   texture's alpha: a mask in steps of 1/255 (the model's, an 8-bit file's) is used
   exactly, any other moves by at most half a step, and each output pixel by at most
   half a level (plus what the intensity's tiny change does to the blend);
1. ``I`` = mean Rec. 709 luma under ``m`` (:func:`hairfx.intensity.hair_intensity`);
   no hair (``None``) returns the frame unchanged;
2. ``w = clamp((I - I_dark) / (I_light - I_dark), 0, 1)`` and
   ``LUT = (1 - w) * dark + w * light``;
3. ``out = f + strength * m * (LUT(f) - f)``, rounded to nearest, clipped to 0..255.

Pixels where ``m == 0`` (a mask below half a step) are copied bit for bit; only the pixels
``m`` weights are looked up. The :class:`~hairfx.render_gl.GLRenderer` implements the same
steps in shaders. A LUT whose
domain is not ``[0, 1]`` is sampled where each input falls in its domain (clamped), as
colour-science applies it. A renderer may be used from any thread (a lock makes other
threads wait for the trilinear kernel's shared tables), as the GL renderer.
"""

from __future__ import annotations

import collections
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np

from ._closeable import Closeable
from .colors import Color
from .errors import InputError
from .frames import GivenFrame, as_frame, mask_for_frame, mask_levels
from .intensity import LUMA_WEIGHTS, MIN_HAIR_WEIGHT, hair_intensity
from .lut import sample_tetrahedral

__all__ = ["CpuRenderer", "RenderResult", "INTERPOLATIONS"]

INTERPOLATIONS = ("trilinear", "tetrahedral")
# Trilinear kernels a CPU renderer keeps, one per LUT size and domain in use.
_KERNELS_KEPT = 4
# Below this many hair pixels one thread is faster than splitting the work.
_PARALLEL_MIN_PIXELS = 60_000


class RenderResult(tuple):
    """``(frame, intensity, weight)``: the output frame, the measured hair intensity
    (``None`` when there was no hair) and the blend weight used (``None`` likewise)."""

    __slots__ = ()

    def __new__(cls, frame, intensity, weight):
        return super().__new__(cls, (frame, intensity, weight))

    def __getnewargs__(self):  # pickled (a worker process's result) as its three values
        return tuple(self)

    frame = property(lambda self: self[0])
    intensity = property(lambda self: self[1])
    weight = property(lambda self: self[2])


def _trilinear_tables(n: int, domain: tuple):
    """Per channel and 8-bit input value: the lower grid index and the fraction within the
    cell, ``(3, 256)`` each, for a table of ``n`` points per axis spanning ``domain``
    (``(domain_min, domain_max)``; inputs outside it take the value at its edge)."""
    lo = np.asarray(domain[0], np.float64)[:, None]
    span = np.asarray(domain[1], np.float64)[:, None] - lo
    # (k - 255 lo) (n - 1) / (255 span): for the unit domain exactly k (n - 1) / 255
    v = np.clip((np.arange(256, dtype=np.float64) - 255.0 * lo) * (n - 1) / (255.0 * span), 0.0, n - 1)
    i0 = np.minimum(np.floor(v).astype(np.int32), n - 2)
    return i0, (v - i0).astype(np.float32)


_LUMA4 = np.array((*LUMA_WEIGHTS, 0.0)) / 255.0  # per byte of an RGB-and-one-more pixel
_RUN = 32768  # pixels per run of the kernel: its scratch (about 3 MB) stays near the cache


class _Scratch:
    """One thread's reusable work arrays for :meth:`_TrilinearKernel.apply`. Fresh arrays
    of a few MB per frame cost more in page faults than the arithmetic done in them."""

    def __init__(self):
        self.index = np.empty((2, _RUN), np.int32)  # a corner's index, and a term of it
        self.frac = np.empty((2, _RUN, 1), np.float32)  # green and blue fractions
        self.corners = np.empty((4, _RUN), np.complex128)  # 16-byte items: R, G, B, 0
        self.pixels = np.empty((_RUN, 4), np.float32)


class _TrilinearKernel:
    """Fast trilinear lookup for uint8 pixels.

    The red axis is resolved first for all 256 red input values, leaving a bilinear lookup
    in green/blue per pixel. The resolved table holds each entry's three channels and a
    zero as four float32s, read as one 16-byte item: a pixel's four corners are four
    typed gathers (``take``) rather than twelve, which numpy does without the GIL, so large
    pixel sets are split across threads. Resolving red is linear in the table, so it is
    done once per colour for the dark LUT and for ``light - dark``; a frame's blend is then
    one multiply-add over that table. Pixels go through in runs of :data:`_RUN`, in
    scratch arrays each thread keeps.
    """

    def __init__(self, n: int, domain: tuple):
        self.n = n
        i0, f = _trilinear_tables(n, domain)
        self.i0, self.f = i0[0], f[0]  # red's, for resolving it
        self._green_base = i0[1] * np.int32(n)  # green's index term
        self._blue_i0, self._green_f, self._blue_f = i0[2], f[1], f[2]
        self._red_base = np.arange(256, dtype=np.int32) * np.int32(n * n)  # red's index term
        self._cache: tuple | None = None  # (colour, dark resolved, light - dark resolved)
        self._buf: np.ndarray | None = None
        self._local = threading.local()

    def _resolve(self, table: np.ndarray) -> np.ndarray:
        """``table`` (``N x N x N x 3``) with red resolved: ``(256 * N * N, 4)``, the last
        channel zero."""
        lo, hi = table[self.i0], table[self.i0 + 1]  # (256, N, N, 3)
        hi -= lo
        hi *= self.f[:, None, None, None]
        lo += hi
        out = np.zeros((lo.shape[0] * self.n * self.n, 4), np.float32)
        out[:, :3] = lo.reshape(-1, 3)
        return out

    def red_resolved(self, color: Color, weight: float) -> np.ndarray:
        """The colour's table blended at ``weight``, red resolved: ``(256 * N * N,)``
        16-byte items, each an entry's R, G, B and 0 as float32."""
        if self._cache is None or self._cache[0] is not color:
            dark = self._resolve(color.dark.table)
            diff = self._resolve(color.light.table) - dark
            self._cache = (color, dark, diff)
            self._buf = np.empty_like(dark)
        _, dark, diff = self._cache
        np.multiply(diff, np.float32(weight), out=self._buf)
        self._buf += dark
        return self._buf.view(np.complex128).reshape(-1)  # one item per entry, for take()

    def apply(self, tr: np.ndarray, px: np.ndarray, ms: np.ndarray, out: np.ndarray) -> None:
        """``out = px + ms * (LUT(px) * 255 - px)`` rounded, for ``px`` an ``(P, 4)`` uint8
        array of RGB and a fourth byte, ``ms`` the ``(P,)`` mask times strength and ``out``
        an ``(P, 4)`` uint8 array (its fourth byte is left meaningless)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _Scratch()
        for a in range(0, len(px), _RUN):
            b = min(a + _RUN, len(px))
            self._run(tr, px[a:b], ms[a:b], out[a:b], scratch)

    def _run(self, tr, px, ms, out, s: _Scratch) -> None:
        k, n = len(px), self.n
        g, b = px[:, 1], px[:, 2]
        base, term = s.index[0, :k], s.index[1, :k]
        np.take(self._red_base, px[:, 0], out=base)
        base += np.take(self._green_base, g, out=term)
        base += np.take(self._blue_i0, b, out=term)
        fg, fb = s.frac[0, :k], s.frac[1, :k]
        np.take(self._green_f, g, out=fg[:, 0])
        np.take(self._blue_f, b, out=fb[:, 0])
        c00, c01, c10, c11 = (s.corners[i, :k] for i in range(4))
        np.take(tr, base, out=c00)
        for offset, corner in ((1, c01), (n, c10), (n + 1, c11)):
            np.take(tr, np.add(base, offset, out=term), out=corner)
        c00, c01, c10, c11 = (c.view(np.float32).reshape(k, 4) for c in (c00, c01, c10, c11))
        c01 -= c00
        c01 *= fb
        c00 += c01
        c11 -= c10
        c11 *= fb
        c10 += c11
        c10 -= c00
        c10 *= fg
        c00 += c10  # LUT(px) in [0, 1]
        f = s.pixels[:k]
        f[:] = px
        _compose(f, c00, ms, out)


def _compose(f: np.ndarray, lut01: np.ndarray, ms: np.ndarray, out8: np.ndarray) -> None:
    """``out8 = round(f + ms * (lut * 255 - f))`` clipped to 0..255, for ``(P, C)`` float32
    pixels ``f`` and their ``(P,)`` mask times strength; ``lut01`` is scratch."""
    lut01 *= np.float32(255.0)
    lut01 -= f
    lut01 *= ms[:, None]
    lut01 += f
    lut01 += np.float32(0.5)
    np.clip(lut01, 0.0, 255.0, out=lut01)
    out8[:] = lut01


def checked_render_args(frame, mask, color, strength, intensity_filter) -> tuple:
    """A renderer's arguments as its drawing code takes them: the frame through
    :func:`~hairfx.frames.as_frame`, the mask through :func:`~hairfx.frames.mask_for_frame`,
    a colour's name looked up, the strength checked to lie in ``[0, 1]``."""
    from ._options import number
    from .colors import get_color

    arr = as_frame(frame)
    m = mask_for_frame(arr, mask)
    c = color if isinstance(color, Color) else get_color(color)
    if intensity_filter is not None and not callable(intensity_filter):
        raise InputError(f"intensity_filter must be a function of the measured intensity, got {intensity_filter!r}")
    return arr, m, c, number(strength, "strength", lo=0.0, hi=1.0), intensity_filter


class _Renderer(Closeable):
    """What the CPU and GL renderers share: :meth:`render`, which checks its arguments as
    :func:`hairfx.recolor` does, then draws them (each renderer's ``_render_frame``, which
    :func:`hairfx.recolor` and the sessions call directly, having checked them already)."""

    def render(
        self,
        frame,
        mask,
        color: "Color | str",
        *,
        strength: float = 1.0,
        intensity_filter: Callable[[float], float] | None = None,
    ) -> RenderResult:
        """Recolour ``frame`` under ``mask`` with ``color``, each as :func:`hairfx.recolor`
        takes them (what is wrong raises :class:`~hairfx.errors.InputError`).
        ``intensity_filter`` maps the measured intensity to the one used for the blend (a
        video session smooths it). Returns a :class:`RenderResult` whose frame is an
        ``H x W x 3`` uint8 array. A PIL image with a colour profile is recoloured and
        measured in sRGB, as :func:`hairfx.recolor` does, and its pixels come back in its
        own profile, those of the image :func:`hairfx.recolor` returns."""
        self._check_open()
        given = GivenFrame(frame)
        result = self._render_frame(*checked_render_args(given.work, mask, color, strength, intensity_filter))
        return RenderResult(given.pixels(result.frame), result.intensity, result.weight)

    def measure(self, frame, mask) -> float | None:
        """The hair intensity :meth:`render` would measure for ``frame`` under ``mask``
        (see :mod:`hairfx.intensity`; the mask taken at 8 bits,
        :func:`~hairfx.frames.mask_levels`), or ``None`` when the mask covers no hair. The
        frame and mask are taken as :func:`hairfx.recolor` takes them (what is wrong raises
        :class:`~hairfx.errors.InputError`)."""
        self._check_open()
        arr = GivenFrame(frame).work  # a PIL image with a colour profile in sRGB, as recolor() takes it
        return self._measure(arr, mask_for_frame(arr, mask))

    def _check_open(self) -> None:
        """Raise where this renderer can draw no more (a GL renderer once closed)."""

    def _measure(self, frame: np.ndarray, mask: np.ndarray) -> float | None:
        raise NotImplementedError  # pragma: no cover - every renderer defines it

    def _render_frame(self, frame, mask, color, strength=1.0, intensity_filter=None) -> RenderResult:
        raise NotImplementedError  # pragma: no cover - every renderer defines it


class CpuRenderer(_Renderer):
    """Recolours frames on the CPU with numpy. Same interface and math as the GL renderer.

    It holds nothing but caches and a thread pool, so it pickles as its options: unpickled
    (in a worker process, say), it is a new renderer with the same ``interpolation`` and
    ``threads``.

    >>> r = CpuRenderer()
    >>> out, intensity, weight = r.render(frame, mask, get_color("copper"))  # doctest: +SKIP
    """

    name = "cpu"

    def __init__(self, *, interpolation: str = "trilinear", threads: int | None = None):
        if interpolation not in INTERPOLATIONS:
            raise InputError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self.interpolation = interpolation
        self._threads_given = threads  # None: as many as the process that unpickles one has cores for
        self._threads = max(1, threads or min(4, os.cpu_count() or 1))
        self._pool: ThreadPoolExecutor | None = None
        # by (LUT size, domain), most recently used last; a kernel holds its last colour's
        # tables (13 MB at 33^3), so only the few last in use are kept
        self._kernels: "collections.OrderedDict[tuple, _TrilinearKernel]" = collections.OrderedDict()
        # one frame at a time: the kernels' blend buffers and caches are shared state
        self._lock = threading.Lock()

    def __reduce__(self):
        return _remade_cpu_renderer, (self.interpolation, self._threads_given)

    def _kernel(self, n: int, domain: tuple) -> _TrilinearKernel:
        k = self._kernels.get((n, domain))
        if k is None:
            k = self._kernels[(n, domain)] = _TrilinearKernel(n, domain)
            while len(self._kernels) > _KERNELS_KEPT:
                self._kernels.popitem(last=False)
        self._kernels.move_to_end((n, domain))
        return k

    def _measure(self, frame: np.ndarray, mask: np.ndarray) -> float | None:
        """:meth:`measure` of a frame and a frame-sized mask already validated."""
        levels = mask_levels(mask)
        return hair_intensity(frame, levels.astype(np.float32) * np.float32(1.0 / 255.0))

    def _render_frame(
        self,
        frame: np.ndarray,
        mask: np.ndarray,
        color: Color,
        strength: float = 1.0,
        intensity_filter: Callable[[float], float] | None = None,
    ) -> RenderResult:
        """:meth:`render` of a frame (``H x W x 3`` uint8) and mask (``H x W`` float32 in
        ``[0, 1]`` at frame size) already validated, as :func:`hairfx.recolor` has them."""
        import cv2  # here, not at the top: ``import hairfx`` stays free of OpenCV

        # the mask at 8 bits, as the GL renderer takes it (in its texture's alpha)
        levels = mask_levels(np.ascontiguousarray(mask)).reshape(-1)
        sel = np.flatnonzero(levels > 0)  # on bools: several times faster than on uint8
        m_sel = levels.take(sel).astype(np.float32) * np.float32(1.0 / 255.0)  # as as_mask() reads uint8
        # hair_intensity() restricted to the pixels it weights: the same sum, less work
        total = float(m_sel.sum(dtype=np.float64))
        if total < MIN_HAIR_WEIGHT:
            return RenderResult(np.array(frame, copy=True, order="C"), None, None)
        # Pixels as 4-byte items (RGB and a fourth byte): gathering and scattering them
        # by index is a typed take and put, several times faster than indexing 3-byte rows.
        rgba = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2RGBA)
        items = rgba.view(np.uint32).reshape(-1)
        px = items.take(sel).view(np.uint8).reshape(-1, 4)
        # sum(m * Y') as the mask-weighted sum of each channel, in float64: exact to the
        # last digit that matters and 2x faster than a float32 luma per pixel
        weighted = float(np.dot(m_sel.astype(np.float64) @ px.astype(np.float64), _LUMA4))
        intensity = float(np.clip(weighted / total, 0.0, 1.0))
        used = intensity_filter(intensity) if intensity_filter is not None else intensity
        weight = color.weight(used)
        ms = m_sel * np.float32(strength)
        res = np.empty_like(px)
        if self.interpolation == "tetrahedral":  # no shared state: threads need not wait
            coords = color.grid_coords(px[:, :3].astype(np.float32) * np.float32(1 / 255.0))
            lut = sample_tetrahedral(color.blended(weight), coords)
            _compose(px[:, :3].astype(np.float32), lut, ms, res[:, :3])
        else:
            with self._lock:
                kernel = self._kernel(color.size, color.domain)
                tr = kernel.red_resolved(color, weight)
                self._parallel(lambda a, b: kernel.apply(tr, px[a:b], ms[a:b], res[a:b]), len(px))
        items[sel] = res.view(np.uint32).reshape(-1)
        return RenderResult(cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB), intensity, weight)

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


def _remade_cpu_renderer(interpolation: str, threads: int | None) -> CpuRenderer:
    """A :class:`CpuRenderer` unpickled: made again with the options of the one pickled."""
    return CpuRenderer(interpolation=interpolation, threads=threads)
