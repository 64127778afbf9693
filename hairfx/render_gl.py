"""The OpenGL renderer: the CPU renderer's math in shaders, on a headless moderngl context.

* A standalone context (EGL by default, so no display is needed); failing to make one
  raises :class:`~hairfx.errors.RendererUnavailable`.
* The light and dark LUTs are pre-blended with the frame's weight (``N**3`` multiply-adds)
  and uploaded into one 3D ``RGBA32F`` texture (clamp-to-edge, linear filtering, sampled
  with the half-texel correction ``c * (N - 1) / N + 0.5 / N``, after mapping ``c`` across
  the LUTs' domain when it is not ``[0, 1]``). On llvmpipe one 3D lookup
  per pixel instead of two halves the shading time, and four float channels filter about
  1.2-1.35x faster than three. Both tables are kept as texels per colour, so a new weight (a
  video's, every frame) costs the blend and the upload alone; neither is done when the
  colour and weight did not change.
* The mask is taken at 8 bits, ``round(m * 255) / 255`` (:func:`~hairfx.frames.mask_levels`,
  as the CPU renderer takes it), and travels in the alpha of the RGBA frame texture: one
  upload and one texture fetch per pixel for both. Masks in steps of 1/255 (the model's,
  an 8-bit file's) are exact; another moves each output pixel by at most half a level.
* Of the mask's bounding box, only the 32 x 32 tiles the mask touches are converted,
  uploaded, shaded and read back: packed one after another, in the box's row order, into
  an atlas as wide as the box, which each pass covers with a quad per atlas row; the CPU
  copies them back into place, a piece of adjacent tiles at a time. On llvmpipe shading
  fewer pixels matters more than the LUT lookups, and the transfers are bound by memory.
* The hair intensity is reduced on the GPU over the same atlas: a pass sums ``m * Y'`` and
  ``m`` over 8 x 8 blocks into a float target 1/64 the size, whose partial sums the CPU adds
  up in float64.
* Textures, framebuffers, buffers and the CPU-side arrays for the transfers are sized to
  the largest box seen and reused from frame to frame: each side grows to the largest seen, unless that area would be more than
  :data:`_GROWTH` times the larger of the new box's and the old size's (a wide box, then a
  tall one), when they are sized for the new box alone.
* A box larger than the context's ``GL_MAX_TEXTURE_SIZE`` raises
  :class:`~hairfx.errors.RendererUnavailable` before anything is allocated.

* Threads: a renderer may be used from any thread, one call at a time (a lock makes
  other threads wait). A context a renderer made is current only during each of its
  calls: before the call returns, the thread gets back the EGL context it had current
  (a caller's own) or none, so the next call may come from another thread, and no thread
  ends with it current (Mesa would keep megabytes of that thread's state). A context the
  caller gives (``context=``) is left current, as the caller may go on using it; a call
  from a thread where it cannot be made current (it is current in another) raises
  :class:`~hairfx.errors.RendererUnavailable` rather than drawing into whatever context
  that thread has.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import functools
import os
import threading
import weakref
from typing import Callable

import cv2
import numpy as np

from .colors import Color
from .errors import USE_CPU, InputError, RendererUnavailable
from .frames import mask_bbox, mask_levels
from .intensity import LUMA_WEIGHTS, MIN_HAIR_WEIGHT
from .render_cpu import INTERPOLATIONS, RenderResult, _Renderer

__all__ = ["GLRenderer", "create_context"]

_TILE = 32  # side of the tiles that are shaded or skipped as a whole
_BLOCK = 8  # side of the block each fragment of the intensity pass sums (divides _TILE)
#: How much larger than the box it must hold (or than its old size) a renderer's textures may
#: grow to take boxes of both shapes: 1080x1920 and 1920x1080 in turn share one 1920 square
#: (1.8 times either), a 16x8000 box and an 8000x16 one do not (250 times).
_GROWTH = 2.0
#: Texture capacity (pixels) a renderer keeps however small its later frames: a 1080p box.
#: Above it, what one large photo grew (a 48-megapixel one holds about 600 MB, in system
#: memory under llvmpipe or on the GPU) is given back once :data:`_SHRINK_AFTER` calls in a
#: row have needed under a quarter of it: a thread's cached renderer in a service that
#: once saw a large photo would otherwise hold that memory for as long as the thread lives.
_KEEP_PIXELS = 1920 * 1088
_SHRINK_AFTER = 8

_VERTEX = """
#version 330
in ivec3 run;         // per instance: tiles in a row: first column, row, number of columns
uniform vec2 target;  // size of the viewport, in its own pixels
uniform float tile_px;  // side of a tile, in the viewport's pixels
void main() {
    // a triangle strip over the run; the viewport clips tiles at the box's edge
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));
    vec2 p = (vec2(run.xy) + corner * vec2(run.z, 1.0)) * tile_px;
    gl_Position = vec4(p / target * 2.0 - 1.0, 0.0, 1.0);
}
"""

_INTENSITY = f"""
#version 330
uniform sampler2D frame_tex;  // RGB, and the mask's 8-bit level in alpha
out vec2 sums;  // (sum m * Y', sum m) over one block
const vec3 LUMA = vec3({LUMA_WEIGHTS[0]}, {LUMA_WEIGHTS[1]}, {LUMA_WEIGHTS[2]});
void main() {{
    // Blocks never cross a tile, and the box is uploaded with the mask zero-padded to whole
    // tiles, so the loops have constant bounds (the compiler unrolls them) and need no edge test.
    ivec2 origin = ivec2(gl_FragCoord.xy) * {_BLOCK};
    vec2 acc = vec2(0.0);
    for (int dy = 0; dy < {_BLOCK}; ++dy) {{
        for (int dx = 0; dx < {_BLOCK}; ++dx) {{
            vec4 c = texelFetch(frame_tex, origin + ivec2(dx, dy), 0);
            acc += vec2(dot(c.rgb, LUMA), 1.0) * c.a;
        }}
    }}
    sums = acc;
}}
"""

_RECOLOR = """
#version 330
uniform sampler2D frame_tex;  // RGB, and the mask's 8-bit level in alpha
uniform sampler3D lut_tex;  // (1 - w) * dark + w * light
uniform float strength;
uniform float lut_size;
uniform vec3 domain_min;  // the LUT's input domain: (c - domain_min) * domain_scale in [0, 1]
uniform vec3 domain_scale;
out vec4 color;

#ifndef TETRAHEDRAL
vec3 lookup(vec3 c) {
    // half-texel correction: grid point i sits at the centre of texel i
    vec3 uvw = c * ((lut_size - 1.0) / lut_size) + 0.5 / lut_size;
    return texture(lut_tex, uvw).rgb;
}

#else
vec3 fetch2(ivec3 i) {
    return texelFetch(lut_tex, i, 0).rgb;
}

vec3 lookup(vec3 c) {
    float n1 = lut_size - 1.0;
    vec3 x = clamp(c, 0.0, 1.0) * n1;
    vec3 i0 = min(floor(x), vec3(n1 - 1.0));
    vec3 f = x - i0;
    ivec3 b = ivec3(i0);
    vec3 c000 = fetch2(b), c111 = fetch2(b + ivec3(1, 1, 1));
    if (f.r > f.g) {
        if (f.g > f.b) return (1.0 - f.r) * c000 + (f.r - f.g) * fetch2(b + ivec3(1, 0, 0)) + (f.g - f.b) * fetch2(b + ivec3(1, 1, 0)) + f.b * c111;
        if (f.r > f.b) return (1.0 - f.r) * c000 + (f.r - f.b) * fetch2(b + ivec3(1, 0, 0)) + (f.b - f.g) * fetch2(b + ivec3(1, 0, 1)) + f.g * c111;
        return (1.0 - f.b) * c000 + (f.b - f.r) * fetch2(b + ivec3(0, 0, 1)) + (f.r - f.g) * fetch2(b + ivec3(1, 0, 1)) + f.g * c111;
    }
    if (f.b > f.g) return (1.0 - f.b) * c000 + (f.b - f.g) * fetch2(b + ivec3(0, 0, 1)) + (f.g - f.r) * fetch2(b + ivec3(0, 1, 1)) + f.r * c111;
    if (f.b > f.r) return (1.0 - f.g) * c000 + (f.g - f.b) * fetch2(b + ivec3(0, 1, 0)) + (f.b - f.r) * fetch2(b + ivec3(0, 1, 1)) + f.r * c111;
    return (1.0 - f.g) * c000 + (f.g - f.r) * fetch2(b + ivec3(0, 1, 0)) + (f.r - f.b) * fetch2(b + ivec3(1, 1, 0)) + f.b * c111;
}
#endif

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    vec4 fm = texelFetch(frame_tex, p, 0);
    vec3 f = fm.rgb;
    float m = fm.a;
    vec3 out_rgb = f;  // m == 0 leaves the pixel exactly as it was
    if (m > 0.0) {
        vec3 lut = lookup(clamp((f - domain_min) * domain_scale, 0.0, 1.0));
        out_rgb = clamp(f + strength * m * (lut - f), 0.0, 1.0);
    }
    color = vec4(out_rgb, 1.0);
}
"""

_context_lock = threading.Lock()
# The process that set OpenGL (EGL) up in this address space, if any. A child forked after
# it (multiprocessing's default start method on Linux) inherits Mesa's EGL state half-made,
# and its first read from the GPU hangs for ever, in a context of the parent's or a new one.
_gl_pid: int | None = None
_renderers: "weakref.WeakSet[GLRenderer]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """In a forked child, renderers of the parent's must never call GL again: not when
    they are collected (their finalizers release the context) nor when closed."""
    for r in list(_renderers):
        if getattr(r, "_finalizer", None) is not None:
            r._finalizer.detach()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _forked() -> bool:
    """Whether this process is a child forked after its parent set up OpenGL."""
    return _gl_pid is not None and _gl_pid != os.getpid()


def _check_not_forked() -> None:
    """Raise :class:`RendererUnavailable` in a child forked after its parent set up OpenGL."""
    if _forked():
        why = ("OpenGL was set up by this process's parent before it forked (multiprocessing's 'fork' start "
               "method), and Mesa's EGL hangs when the child uses it")
        raise RendererUnavailable(f"{why}: start workers with the 'spawn' method, or use {USE_CPU} in them", reason=why)


def create_context(backend: str | None = "egl"):
    """A standalone moderngl context (OpenGL 3.3 core or later) without a window.

    Raises :class:`~hairfx.errors.RendererUnavailable` with the reason when none can be
    made (moderngl missing, no EGL/GL driver, too old a GL version).
    """
    global _gl_pid
    _check_not_forked()
    try:
        import moderngl
    except ImportError as exc:  # pragma: no cover - moderngl is a dependency
        raise RendererUnavailable(f"the GL renderer needs moderngl: {exc}") from exc
    try:
        with _context_lock:
            _gl_pid = os.getpid()  # before: a failed attempt may have set EGL up too
            if backend:
                return moderngl.create_standalone_context(require=330, backend=backend)
            return moderngl.create_standalone_context(require=330)
    except Exception as exc:  # moderngl raises plain Exceptions for driver problems
        why = f"could not create an OpenGL 3.3 context (backend={backend!r}): {exc}"
        raise RendererUnavailable(
            f"{why}. Install an EGL/OpenGL driver (on Debian/Ubuntu: libegl1 libgl1-mesa-dri) or use {USE_CPU}.",
            reason=why,
        ) from exc


@functools.cache
def _egl_library():
    """The libEGL that moderngl's EGL backend (glcontext) loads, through ctypes: the one
    ``GLCONTEXT_LINUX_LIBEGL`` names, else the system's; None where there is none."""
    name = os.environ.get("GLCONTEXT_LINUX_LIBEGL") or ctypes.util.find_library("EGL")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if lib is None or not hasattr(lib, "eglGetCurrentContext"):
        return None
    for name in ("eglGetCurrentContext", "eglGetCurrentDisplay", "eglGetCurrentSurface"):
        getattr(lib, name).restype = ctypes.c_void_p
    lib.eglGetCurrentContext.argtypes = lib.eglGetCurrentDisplay.argtypes = []
    lib.eglGetCurrentSurface.argtypes = [ctypes.c_int32]
    lib.eglQueryAPI.restype = ctypes.c_uint
    lib.eglQueryAPI.argtypes = []
    lib.eglBindAPI.restype = ctypes.c_uint
    lib.eglBindAPI.argtypes = [ctypes.c_uint]
    lib.eglMakeCurrent.restype = ctypes.c_uint
    lib.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    return lib


def _current_egl_context() -> int | None:
    """The calling thread's current EGL context (a handle; 0 for none), or None where
    there is no libEGL to ask."""
    lib = _egl_library()
    return None if lib is None else (lib.eglGetCurrentContext() or 0)


_EGL_DRAW, _EGL_READ = 0x3059, 0x305A


def _egl_binding() -> tuple | None:
    """What the calling thread has current through EGL (its bound client API, display,
    surfaces and context), to put back with :func:`_rebind`; None when nothing is."""
    lib = _egl_library()
    context = lib.eglGetCurrentContext() if lib is not None else None
    if not context:
        return None
    return (lib.eglQueryAPI(), lib.eglGetCurrentDisplay(), lib.eglGetCurrentSurface(_EGL_DRAW),
            lib.eglGetCurrentSurface(_EGL_READ), context)


def _rebind(binding: tuple) -> None:
    """Make current again what :func:`_egl_binding` saw."""
    lib = _egl_library()
    api, display, draw, read, context = binding
    lib.eglBindAPI(api)
    lib.eglMakeCurrent(display, draw, read, context)


def _atlas_pieces(touched: np.ndarray) -> np.ndarray:
    """Where the ``touched`` tiles of a box (a tile rows x tile columns bool array) go in
    the atlas: one after another in the box's row order, in atlas rows as wide as the box,
    as pieces of tiles adjacent in both (a run of the box is split where an atlas row
    ends). ``(n, 5)`` int32: each piece's tile column and row in the box, its tile column
    and row in the atlas, and its length in tiles.

    >>> _atlas_pieces(np.array([[0, 1, 1], [1, 1, 1]], bool)).tolist()
    [[1, 0, 0, 0, 2], [0, 1, 2, 0, 1], [1, 1, 0, 1, 2]]
    """
    ty, tx = np.nonzero(touched)  # in the box's row order
    slot = np.arange(len(tx))
    ax, ay = slot % touched.shape[1], slot // touched.shape[1]
    first = np.ones(len(tx), bool)  # where a tile's neighbour in the box or the atlas is not the last
    first[1:] = (np.diff(tx) != 1) | (np.diff(ty) != 0) | (ax[1:] == 0)
    at = np.flatnonzero(first)
    return np.stack([tx[at], ty[at], ax[at], ay[at], np.diff(at, append=len(tx))], axis=1).astype(np.int32)


def _piece_rects(pieces: np.ndarray, w: int, h: int):
    """Each piece (:func:`_atlas_pieces`) in pixels, cut to a ``w x h`` box: its
    ``(rows, columns)`` slices in the box, and in the atlas."""
    for bx, by, ax, ay, n in (pieces * _TILE).tolist():
        rows, cols = min(_TILE, h - by), min(n, w - bx)
        yield (slice(by, by + rows), slice(bx, bx + cols)), (slice(ay, ay + rows), slice(ax, ax + cols))


class GLRenderer(_Renderer):
    """Recolours frames with OpenGL shaders; same interface and math as :class:`CpuRenderer`.

    Its OpenGL context belongs to the process that made it, so a GL renderer pickles as its
    options (``interpolation``, ``backend``): unpickled (in a worker process, say), or
    copied with :mod:`copy`, it is a new renderer with a context of its own, made there and
    then. Where no context can be made there (no EGL driver; a child forked after its parent
    set up OpenGL), its first ``render()`` or ``measure()`` raises the
    :class:`~hairfx.errors.RendererUnavailable` that ``GLRenderer()`` would have raised
    there: raised while unpickling, it would end a ``multiprocessing.Pool`` worker before
    its task began, and the pool would wait for that task for ever. One that
    :func:`hairfx.make_renderer` made under ``"auto"`` is made again as ``"auto"`` makes
    one: GL, else the CPU renderer with its warning. A renderer drawing in a context given
    with ``context=`` (the caller's) or one closed cannot be pickled or copied: either
    raises ``TypeError``.

    >>> with GLRenderer() as r:                                       # doctest: +SKIP
    ...     out, intensity, weight = r.render(frame, mask, get_color("copper"))
    """

    name = "gl"

    def __init__(self, *, interpolation: str = "trilinear", context=None, backend: str | None = "egl"):
        if interpolation not in INTERPOLATIONS:
            raise InputError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
        self._blank(interpolation, backend, own_context=context is None)
        before = _egl_binding() if context is None else None  # making a context makes it current
        self.ctx = create_context(backend) if context is None else context
        # A renderer dropped without close() (a session never closed) frees its context, and
        # with it every object in it, when it is collected: about 20 MB each at 1080p.
        self._finalizer = weakref.finalize(self, self.ctx.release) if context is None else None
        if self._finalizer is not None:
            self._finalizer.atexit = False  # at exit the process frees it anyway
        _renderers.add(self)
        import moderngl

        self._mgl = moderngl
        try:
            # One program per interpolation: llvmpipe evaluates both sides of a branch on a
            # uniform, so a runtime switch would cost the tetrahedral fetches every time.
            source = _RECOLOR
            if interpolation == "tetrahedral":
                source = source.replace("#version 330\n", "#version 330\n#define TETRAHEDRAL\n", 1)
            with self._current(before):
                self._prog = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=source)
                self._prog_sum = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_INTENSITY)
                for prog in (self._prog, self._prog_sum):
                    for name, unit in (("frame_tex", 0), ("lut_tex", 1)):
                        if name in prog:
                            prog[name].value = unit
        except RendererUnavailable:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise RendererUnavailable(f"the GL driver could not compile hairfx's shaders: {exc}") from exc

    def _blank(self, interpolation: str, backend: str | None, *, own_context: bool) -> None:
        """Everything but the context and its programs: a renderer without them draws
        nothing (:meth:`_check_open` raises)."""
        self.interpolation = interpolation
        # what it is made again from where it is unpickled (__reduce__)
        self._backend = backend
        self._own_context = own_context  # False: the caller's (context=), which stays in its process
        self._auto = False  # made by make_renderer("auto"): made again as "auto" makes one
        self._unavailable: RendererUnavailable | None = None  # why an unpickled one has no context
        self.ctx = None
        self._finalizer = None
        self._lock = threading.RLock()  # one call at a time, whichever thread makes it
        self._handle: int | None = None  # the EGL context of self.ctx, once seen current
        self._mgl = None
        self._prog = self._prog_sum = None
        self._cap = (0, 0)
        self._small_calls = 0  # calls in a row that needed under a quarter of the capacity
        self._frame_tex = self._fbo = self._sum_fbo = self._rb = self._sum_rb = None
        # the box's RGBA texels, its mask levels and its shaded pixels, kept from call to call
        self._staging = self._levels = self._atlas_levels = self._readback = np.zeros(0, np.uint8)
        self._lut_tex = None
        self._lut_key: tuple | None = None  # (colour, weight) now in _lut_tex
        self._lut_texels: tuple | None = None  # (colour, dark, light, blend) as texels
        self._quads = None  # one per row of the atlas
        self._n_quads = 0
        self._pieces = np.zeros((0, 5), np.int32)  # the touched tiles, from _atlas_pieces
        self._box_size = (0, 0)
        self._vao_sum = self._vao = None

    def _make_current(self) -> None:
        """Make this renderer's context the calling thread's current one.

        A thread may hold several renderers (a session's and recolor()'s, one per
        interpolation), each with its own context, and GL works on whichever is current.
        EGL refuses, and moderngl does not say so, to make a context current in one
        thread while it is current in another: GL calls would then go to whatever that
        thread has current. So the context seen current the first time is remembered,
        and not finding it current afterwards raises."""
        self._check_open()
        self.ctx.__enter__()  # moderngl's only 'make current'
        now = _current_egl_context()
        if self._handle is None:
            self._handle = now or None  # not an EGL context (or no libEGL to ask): unchecked
        elif now != self._handle:
            raise RendererUnavailable(
                "this GLRenderer's OpenGL context could not be made current in this thread: it is current in "
                "another thread. A context given with context= stays current where its owner made it current; "
                "use the renderer in that thread, or let the renderer make its own context"
            )

    @contextlib.contextmanager
    def _current(self, before: tuple | None | bool = False):
        """One call's use of the context: made current for it, by one thread at a time.

        A context the renderer made is current only during the call: afterwards the
        thread gets back the EGL context it had current before (a caller's own), or none
        (moderngl's exit), so that the renderer's next call may come from another thread.
        A context the caller gave (``context=``) stays current, as creating it left it,
        for the caller's own next GL call. ``before``: what to put back, when it is not
        what the thread has current now."""
        with self._lock:
            own = self._finalizer is not None
            if before is False:
                before = _egl_binding() if own else None
            self._make_current()
            try:
                yield
            finally:
                if own and self.ctx is not None:
                    self._unbind(before)

    def _unbind(self, before: tuple | None) -> None:
        """Leave this renderer's own context current nowhere: the thread gets back
        ``before`` (from :func:`_egl_binding`) or no context."""
        if before is not None and before[-1] != self._handle:
            _rebind(before)
        else:
            self.ctx.__exit__(None, None, None)

    @property
    def gl_renderer(self) -> str:
        """The driver's name for the GPU (``GL_RENDERER``), e.g. ``"llvmpipe (LLVM 15.0.6, 256 bits)"``."""
        return self._gl_string("GL_RENDERER")

    @property
    def gl_version(self) -> str:
        """The OpenGL version and the driver's own (``GL_VERSION``), e.g. ``"4.5 (Core Profile) Mesa 22.3.6"``."""
        return self._gl_string("GL_VERSION")

    def _gl_string(self, name: str) -> str:
        with self._current():  # read, and cached by moderngl, with this context current
            return str(self.ctx.info.get(name) or "?")

    # -- resources ------------------------------------------------------------------
    def _check_fits(self, frame: np.ndarray, w: int, h: int) -> None:
        """Raise :class:`RendererUnavailable` when a ``w x h`` box of ``frame``, in whole
        tiles, is larger than this context's textures or framebuffers can be."""
        info = self.ctx.info
        limits = {k: int(info[k]) for k in ("GL_MAX_TEXTURE_SIZE", "GL_MAX_RENDERBUFFER_SIZE") if k in info}
        if not limits:
            return
        name = min(limits, key=limits.get)
        tw, th = -(-w // _TILE) * _TILE, -(-h // _TILE) * _TILE
        if max(tw, th) > limits[name]:
            fh, fw = frame.shape[:2]
            why = (f"a {fw}x{fh} frame whose hair spans {w}x{h} pixels ({tw}x{th} in whole tiles) is larger than "
                   f"this OpenGL context's {name} of {limits[name]}")
            raise RendererUnavailable(f"{why}; use {USE_CPU} or a smaller frame", reason=why)

    def _ensure_capacity(self, w: int, h: int) -> None:
        cw, ch = self._cap
        if w <= cw and h <= ch:
            if cw * ch <= _KEEP_PIXELS or 4 * w * h > cw * ch:
                self._small_calls = 0
                return
            self._small_calls += 1
            if self._small_calls < _SHRINK_AFTER:
                return
            cw = ch = 0  # made again for this box alone
        self._small_calls = 0
        # whole tiles, so that the zero-padded mask of a box always fits
        w, h = -(-w // _TILE) * _TILE, -(-h // _TILE) * _TILE
        # Grow each side to the largest seen, so boxes of either shape fit from then on
        # (portrait and landscape frames in turn: one square), unless that holds far more
        # than either: a wide box then a tall one would reserve their long sides squared.
        if max(w, cw) * max(h, ch) <= _GROWTH * max(w * h, cw * ch):
            w, h = max(w, cw), max(h, ch)
        cw, ch = w, h
        # moderngl's Framebuffer.release() leaves its renderbuffers alive: release them too
        for name in ("_frame_tex", "_fbo", "_sum_fbo", "_rb", "_sum_rb", "_vao", "_vao_sum", "_quads"):
            obj = getattr(self, name)
            if obj is not None:
                obj.release()
        ctx = self.ctx
        # RGBA, not RGB: llvmpipe uploads and reads back 4-byte texels several times faster,
        # more than paying for the conversion on the CPU. The alpha holds the mask: one
        # texture fetch per pixel instead of two (on llvmpipe the reduction takes 0.85 ms
        # instead of 2.35, the shading 2.9 ms instead of 3.8), and one upload.
        self._frame_tex = ctx.texture((cw, ch), 4, dtype="f1")
        self._frame_tex.filter = (self._mgl.NEAREST, self._mgl.NEAREST)
        self._staging = np.empty(cw * ch * 4, np.uint8)
        self._readback = np.empty(cw * ch * 4, np.uint8)
        self._levels = np.empty(cw * ch, np.uint8)
        self._atlas_levels = np.empty(cw * ch, np.uint8)
        self._rb = ctx.renderbuffer((cw, ch), 4, dtype="f1")
        self._fbo = ctx.framebuffer(color_attachments=[self._rb])
        sw, sh = -(-cw // _BLOCK), -(-ch // _BLOCK)
        self._sum_rb = ctx.renderbuffer((sw, sh), 2, dtype="f4")
        self._sum_fbo = ctx.framebuffer(color_attachments=[self._sum_rb])
        self._quads = ctx.buffer(reserve=-(-ch // _TILE) * 12, dynamic=True)
        self._vao = ctx.vertex_array(self._prog, [(self._quads, "3i/i", "run")])
        self._vao_sum = ctx.vertex_array(self._prog_sum, [(self._quads, "3i/i", "run")])
        self._cap = (cw, ch)

    def _upload_lut(self, color: Color, weight: float) -> None:
        key = (id(color), color, weight)
        if self._lut_key == key:
            return
        n = color.size
        if self._lut_tex is None or self._lut_tex.size != (n, n, n):
            if self._lut_tex is not None:
                self._lut_tex.release()
            # RGBA, not RGB: llvmpipe filters four float channels faster than three
            self._lut_tex = self.ctx.texture3d((n, n, n), 4, dtype="f4")
            self._lut_tex.filter = (self._mgl.LINEAR, self._mgl.LINEAR)
            self._lut_tex.repeat_x = self._lut_tex.repeat_y = self._lut_tex.repeat_z = False  # clamp to edge
        if self._lut_texels is None or self._lut_texels[0] is not color:
            # Per colour, once: both tables as texels, GL's x axis red (x=r, y=g, z=b in
            # memory order, r fastest), alpha unused. A video's weight changes every frame.
            def texels(table):
                out = np.zeros((n, n, n, 4), np.float32)
                out[..., :3] = table.transpose(2, 1, 0, 3)
                return out

            self._lut_texels = (color, texels(color.dark.table), texels(color.light.table), np.empty((n, n, n, 4), np.float32))
        _, dark, light, blend = self._lut_texels
        # (1 - w) * dark + w * light, as Color.blended computes it, into a reused array
        w = np.float32(weight)
        np.multiply(dark, np.float32(1.0) - w, out=blend)
        blend += w * light
        self._lut_tex.write(blend)
        self._lut_key = key

    # -- rendering ------------------------------------------------------------------
    def _upload(self, frame: np.ndarray, levels: np.ndarray, box) -> tuple[int, int, int]:
        """Upload the tiles of the box that the mask's 8-bit ``levels``
        (:func:`~hairfx.frames.mask_levels`) touch, packed into the atlas, with the quads
        that cover it. Returns the atlas's width and height and the number of tiles."""
        y0, y1, x0, x1 = box
        w, h = x1 - x0, y1 - y0
        self._check_fits(frame, w, h)
        self._ensure_capacity(w, h)
        th, tw = -(-h // _TILE), -(-w // _TILE)
        # A tile is touched when its largest mask level is above 0 (a max over each tile's
        # rows, then over its columns, of the box's levels zero-padded to whole tiles).
        padded = self._levels[: th * tw * _TILE * _TILE].reshape(th * _TILE, tw * _TILE)
        padded[:h, :w] = levels[y0:y1, x0:x1]
        padded[h:] = 0
        padded[:h, w:] = 0
        touched = padded.reshape(th, _TILE, tw * _TILE).max(axis=1).reshape(th, tw, _TILE).max(axis=2) > 0
        # The touched tiles alone travel, packed side by side into an atlas as wide as the
        # box (280 tiles of the 828 in the portrait's box): fewer bytes to convert, upload
        # and read back, and both passes draw a quad per atlas row over dense texels. In
        # arrays kept from call to call: RGBA texels with the mask's levels as their alpha.
        pieces = self._pieces = _atlas_pieces(touched)
        n = int(pieces[:, 4].sum())
        rows = -(-n // tw)
        aw, ah = tw * _TILE, rows * _TILE
        atlas_levels = self._atlas_levels[: ah * aw].reshape(ah, aw)
        atlas_levels.fill(0)  # where a tile passes the box's edge, and the last row's free end
        rgba = self._staging[: ah * aw * 4].reshape(ah, aw, 4)
        src = frame[y0:y1, x0:x1]
        for in_box, in_atlas in _piece_rects(pieces, w, h):
            cv2.cvtColor(src[in_box], cv2.COLOR_RGB2RGBA, dst=rgba[in_atlas])
            atlas_levels[in_atlas] = padded[in_box]
        cv2.insertChannel(atlas_levels, rgba, 3)  # the colour where the levels are 0 is left as it was
        self._frame_tex.write(rgba, viewport=(0, 0, aw, ah), alignment=1)
        quads = np.zeros((rows, 3), np.int32)  # whole rows of the atlas, the last as long as its tiles
        quads[:, 1] = np.arange(rows)
        quads[:, 2] = tw
        quads[-1, 2] = n - (rows - 1) * tw
        self._quads.write(quads.tobytes())
        self._n_quads = rows
        self._box_size = (w, h)
        return aw, ah, n

    def _reduce(self, w: int, h: int) -> tuple[float, float]:
        """``(sum m * Y', sum m)`` over the ``w x h`` atlas that :meth:`_upload` made."""
        sw, sh = -(-w // _BLOCK), -(-h // _BLOCK)
        self._sum_fbo.use()
        self.ctx.viewport = (0, 0, sw, sh)
        self._sum_fbo.clear(0.0, 0.0, 0.0, 0.0, viewport=(0, 0, sw, sh))
        prog = self._prog_sum
        prog["target"].value = (float(sw), float(sh))
        prog["tile_px"].value = float(_TILE // _BLOCK)
        self._frame_tex.use(0)
        self._vao_sum.render(self._mgl.TRIANGLE_STRIP, vertices=4, instances=self._n_quads)
        sums = np.frombuffer(self._sum_fbo.read(viewport=(0, 0, sw, sh), components=2, dtype="f4"), np.float32)
        sums = sums.reshape(-1, 2).astype(np.float64).sum(axis=0)
        return float(sums[0]), float(sums[1])

    def _measure(self, frame: np.ndarray, mask: np.ndarray) -> float | None:
        """:meth:`measure` of a frame and a frame-sized mask already validated, reduced on the GPU."""
        _check_not_forked()
        levels = mask_levels(mask)
        box = mask_bbox(levels)
        if box is None:
            return None
        with self._current():
            w, h, _ = self._upload(frame, levels, box)
            return self._intensity(w, h)

    def _intensity(self, w: int, h: int) -> float | None:
        weighted, total = self._reduce(w, h)
        if total < MIN_HAIR_WEIGHT:
            return None
        return float(min(1.0, max(0.0, weighted / total)))

    def _check_open(self) -> None:
        if self.ctx is None:
            exc = self._unavailable
            if exc is not None:
                raise RendererUnavailable(f"a GLRenderer unpickled in this process cannot draw: {exc}",
                                          reason=exc.reason) from exc
            raise RendererUnavailable("this GLRenderer has been closed")

    def __reduce__(self):
        """Pickled (and copied) as its options; see the class's docstring."""
        if self.ctx is None and self._unavailable is None:
            raise TypeError("cannot pickle a GLRenderer: it has been closed; pickle or copy it before close(), "
                            "or make a new one (hairfx.make_renderer('gl'))")
        if not self._own_context:
            raise TypeError("cannot pickle a GLRenderer: it draws in the OpenGL context given with context=, which "
                            "belongs to the process that made it; pickle one that makes its own context "
                            "(GLRenderer() or hairfx.make_renderer('gl'))")
        if self._auto:
            from .recolor import _remade_auto_renderer

            return _remade_auto_renderer, (self.interpolation,)
        return _remade_gl_renderer, (self.interpolation, self._backend)

    def _render_frame(
        self,
        frame: np.ndarray,
        mask: np.ndarray,
        color: Color,
        strength: float = 1.0,
        intensity_filter: Callable[[float], float] | None = None,
    ) -> RenderResult:
        """:meth:`render` of a frame and mask already validated (see :class:`CpuRenderer`)."""
        self._check_open()
        _check_not_forked()
        # The mask read once, as 8-bit levels, for its box and for the upload: reading the
        # float mask a second time for the box's levels cost 0.3-0.5 ms a 720p frame.
        levels = mask_levels(mask)
        box = mask_bbox(levels)
        if box is None:
            return RenderResult(frame.copy(), None, None)
        with self._current():
            return self._render(frame, levels, box, color, strength, intensity_filter)

    def _render(self, frame, levels, box, color, strength, intensity_filter) -> RenderResult:
        out = frame.copy()
        aw, ah, _ = self._upload(frame, levels, box)
        intensity = self._intensity(aw, ah)
        if intensity is None:
            return RenderResult(out, None, None)
        used = intensity_filter(intensity) if intensity_filter is not None else intensity
        weight = color.weight(used)
        self._upload_lut(color, weight)
        self._fbo.use()
        self.ctx.viewport = (0, 0, aw, ah)
        self._frame_tex.use(0)
        self._lut_tex.use(1)
        prog = self._prog
        prog["target"].value = (float(aw), float(ah))
        prog["tile_px"].value = float(_TILE)
        self._prog["strength"].value = float(strength)
        self._prog["lut_size"].value = float(color.size)
        lo, hi = color.domain
        self._prog["domain_min"].value = lo
        self._prog["domain_scale"].value = tuple(1.0 / (b - a) for a, b in zip(lo, hi))
        self._vao.render(self._mgl.TRIANGLE_STRIP, vertices=4, instances=self._n_quads)
        shaded = self._readback[: ah * aw * 4].reshape(ah, aw, 4)
        self._fbo.read_into(shaded, viewport=(0, 0, aw, ah), components=4, alignment=1)
        # each piece back into its place in the box, dropping alpha as it goes
        y0, y1, x0, x1 = box
        dst = out[y0:y1, x0:x1]
        for in_box, in_atlas in _piece_rects(self._pieces, *self._box_size):
            cv2.cvtColor(shaded[in_atlas], cv2.COLOR_RGBA2RGB, dst=dst[in_box])
        return RenderResult(out, intensity, weight)

    def close(self) -> None:
        """Release every GL object (and the context, when the renderer made it). Works
        from any thread; where a context of the caller's is current in another thread,
        its objects are left to go with it."""
        lock = getattr(self, "_lock", None)
        with lock if lock is not None else contextlib.nullcontext():
            self._close()

    def _close(self) -> None:
        self._lut_key = self._lut_texels = None
        self._unavailable = None  # closed from now on, even one that never had a context
        if _forked():  # GL calls would hang; _after_fork_in_child detached the finalizer
            self.ctx = None
            return
        names = (
            "_vao", "_vao_sum", "_quads", "_lut_tex", "_frame_tex", "_fbo", "_sum_fbo", "_rb", "_sum_rb",
            "_prog", "_prog_sum",
        )  # fmt: skip
        held = [n for n in names if getattr(self, n, None) is not None]
        own = getattr(self, "_finalizer", None) is not None and self._finalizer.alive
        before = _egl_binding() if own else None
        if getattr(self, "ctx", None) is not None and (held or own):
            try:
                self._make_current()  # the names are this context's: freed in another, they free its objects
            except RendererUnavailable:
                held = []  # a context of the caller's, current in another thread: they go with it
            for name in held:
                getattr(self, name).release()
            if own:
                # unbound first: a context destroyed while current lives on, and with it
                # megabytes of the thread's EGL state, until the thread unbinds it
                self.ctx.__exit__(None, None, None)
        for name in names:
            setattr(self, name, None)
        self._staging = self._levels = self._atlas_levels = self._readback = np.zeros(0, np.uint8)
        if own:
            self._finalizer()  # releases the context it made
            if before is not None and before[-1] != self._handle:
                _rebind(before)  # the exit above unbinds whatever the thread had current
        self.ctx = None
        self._cap = (0, 0)


def _remade_gl_renderer(interpolation: str, backend: str | None) -> GLRenderer:
    """A :class:`GLRenderer` unpickled: made again with the options of the one pickled.
    Where no context can be made, one without a context whose first call raises why (a
    ``multiprocessing.Pool`` worker that raised while unpickling its task would end, and
    the pool would wait for that task for ever)."""
    try:
        return GLRenderer(interpolation=interpolation, backend=backend)
    except RendererUnavailable as exc:
        r = object.__new__(GLRenderer)
        r._blank(interpolation, backend, own_context=True)
        r._unavailable = exc
        return r
