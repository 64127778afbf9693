"""``recolor()`` for one image and :class:`RecolorSession` for video.

Both tie together the three parts of the pipeline: the hair mask (given by the caller or
predicted by the hair-mask model), the colour (a light/dark LUT pair) and a renderer
(``"gl"``: OpenGL shaders on a headless context; ``"cpu"``: numpy; ``"auto"``: GL when a
context can be made, else the CPU renderer with one warning; a frame too large for the GL
context's textures is also rendered on the CPU under ``"auto"``, also with one warning).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import Callable

import numpy as np

from ._closeable import Closeable, StreamGuard
from .colors import Color, get_color
from .errors import USE_CPU, InputError, RendererUnavailable
from ._options import flag, number
from .frames import GivenFrame, apply_ramp, as_mask, mask_for_frame, ramp_table
from .presets import check_model_name, resolve_ensemble
from .render_cpu import INTERPOLATIONS, CpuRenderer

__all__ = ["recolor", "release_renderers", "RecolorSession", "make_renderer", "hair_alpha", "RENDERERS", "MASK_RAMP"]

RENDERERS = ("auto", "gl", "cpu")
#: Default weight of the past in the intensity EMA of :class:`RecolorSession`. Off: measured
#: on the eight test clips (examples/VIDEO_REPORT.md), every amount of smoothing (0.5, 0.7,
#: 0.85, or a dead band) made the recoloured hair's colour change more from frame to frame,
#: because the light/dark blend already compensates frame by frame for the intensity
#: changes a lagging estimate would miss. Raise it for sources whose masks are noisy.
DEFAULT_SMOOTHING = 0.0
#: The hair-mask model's probability ``p`` becomes the recolouring weight through a smoothstep
#: from ``MASK_RAMP[0]`` to ``MASK_RAMP[1]``. Low-confidence background (which would tint walls
#: and sky, and make the GL renderer shade nearly the whole frame) drops to exactly 0,
#: confident hair goes to 1, and the edges stay soft; the weight crosses 0.5 where ``p``
#: does (to 8-bit precision), so what counts as hair is unchanged. Masks given by the caller are used as is.
MASK_RAMP = (0.25, 0.75)
_ALPHA_TABLE = ramp_table(*MASK_RAMP)

_fallback_warned = False
_large_frame_warned = False
_gl_unavailable: str | None = None  # reason, once "auto" has failed to make a context
_state_lock = threading.Lock()
_local = threading.local()  # per-thread cached renderers (a renderer serves one call at a time)
# A forked child starts without the parent's cached renderers: their GL contexts cannot be
# used there (render_gl), and "auto" then makes a CPU renderer, with its warning.
os.register_at_fork(after_in_child=lambda: setattr(_local, "renderers", {}))


def _stream_not_pickled(name: str) -> str:
    """Why an object of the class ``name`` that recolours one video stream refuses to be
    pickled (its ``_not_pickled``, :class:`~hairfx._closeable.Closeable`), and what to do."""
    return ("it holds one video stream's state (the previous mask, the smoothed intensity) and a renderer of its "
            f"own (a GL context, where it draws with OpenGL); make a {name} in each process")


def _check_choices(renderer, interpolation) -> None:
    if not isinstance(renderer, str) or renderer not in RENDERERS:
        raise InputError(f"renderer must be one of {', '.join(RENDERERS)}, got {renderer!r}")
    if not isinstance(interpolation, str) or interpolation not in INTERPOLATIONS:
        raise InputError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}")


def make_renderer(renderer: str = "auto", *, interpolation: str = "trilinear"):
    """A new renderer: ``"gl"``, ``"cpu"`` or ``"auto"`` (GL, else CPU with one warning).

    ``"gl"`` raises :class:`~hairfx.errors.RendererUnavailable` when no OpenGL context can
    be made; ``"auto"`` then falls back to the CPU renderer and warns once per process.

    Either renderer pickles (to a worker process) as its options: a CPU renderer is made
    again as a CPU renderer; a GL renderer of ``"gl"`` as a GL renderer (whose first call
    raises ``RendererUnavailable`` where the worker cannot make a context), one of
    ``"auto"`` as ``"auto"`` makes one there (GL, else the CPU renderer with the warning).
    """
    global _fallback_warned, _gl_unavailable
    _check_choices(renderer, interpolation)
    if renderer == "cpu":
        return CpuRenderer(interpolation=interpolation)
    if renderer == "auto" and _gl_unavailable is not None:
        return CpuRenderer(interpolation=interpolation)
    from .render_gl import GLRenderer

    try:
        r = GLRenderer(interpolation=interpolation)
        r._auto = renderer == "auto"  # pickled as "auto": where it is unpickled, GL else the CPU
        return r
    except RendererUnavailable as exc:
        if renderer == "gl":
            raise
        with _state_lock:
            _gl_unavailable = str(exc)
            warn = not _fallback_warned
            _fallback_warned = True
        if warn:
            # exc's own advice (use the CPU renderer) is what was just done: the warning says so
            _warn_caller(f"hairfx: OpenGL unavailable ({exc.reason}); fell back to the CPU renderer "
                         f"(ask for {USE_CPU} to use it without this warning)")
        return CpuRenderer(interpolation=interpolation)


def _remade_auto_renderer(interpolation: str):
    """A GL renderer that :func:`make_renderer` made under ``"auto"``, unpickled: made
    again the same way, in the process that unpickles it."""
    return make_renderer("auto", interpolation=interpolation)


def _warn_caller(message: str) -> None:
    """A ``RuntimeWarning`` attributed to the first caller outside the hairfx package (the
    line that called ``recolor()``, made the session or called ``process()``), whatever
    depth of hairfx's own functions it was raised at."""
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 2  # stacklevel 2 is this function's caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, RuntimeWarning, stacklevel=level)


def _render(r, auto: bool, cpu: Callable[[], CpuRenderer], frame, mask, color, strength: float, intensity_filter=None):
    """``r.render(...)`` of a validated frame and mask; under ``"auto"`` a frame the GL
    renderer refuses (one too large for its textures) is rendered by ``cpu()`` instead, with
    a warning once per process."""
    global _large_frame_warned
    try:
        return r._render_frame(frame, mask, color, strength, intensity_filter)
    except RendererUnavailable as exc:  # raised before the intensity is measured
        if not auto or r.name == "cpu":
            raise
        with _state_lock:
            warn = not _large_frame_warned
            _large_frame_warned = True
        if warn:
            _warn_caller(f"hairfx: fell back to the CPU renderer for a frame OpenGL cannot take ({exc.reason}); "
                         f"give smaller frames, or ask for {USE_CPU} to use it without this warning")
        return cpu()._render_frame(frame, mask, color, strength, intensity_filter)


def _cached_renderer(renderer: str, interpolation: str):
    cache = getattr(_local, "renderers", None)
    if cache is None:
        cache = _local.renderers = {}
    _check_choices(renderer, interpolation)  # before they are used as a key
    key = (renderer, interpolation)
    r = cache.get(key)
    if r is None:
        r = cache[key] = make_renderer(renderer, interpolation=interpolation)
    return r


def release_renderers() -> None:
    """Close the renderers :func:`recolor` keeps for the calling thread.

    A renderer holds a GL context and serves one call at a time, so ``recolor()`` keeps
    one per thread (threads then recolour in parallel) and reuses it from call to call.
    A thread that is done recolouring (a worker of a pool that is shutting down, say)
    calls this to free its context and textures now rather than when the process ends;
    a later ``recolor()`` in the thread makes a new one. Video code should prefer
    :class:`RecolorSession`, which owns its renderer and closes it with the session.
    """
    cache = getattr(_local, "renderers", None)
    if not cache:
        return
    _local.renderers = {}
    for r in cache.values():
        r.close()


def _check_strength(strength) -> float:
    return number(strength, "strength", lo=0.0, hi=1.0)


def hair_alpha(probability: np.ndarray) -> np.ndarray:
    """The recolouring weight for a hair probability map (see :data:`MASK_RAMP`):
    ``H x W`` float32 in ``[0, 1]`` in (or what :func:`~hairfx.frames.as_mask` accepts;
    anything else, such as logits or negative values, raises
    :class:`~hairfx.errors.InputError`), ``H x W`` float32 out, in steps of 1/255."""
    return _model_alpha(as_mask(probability, name="probability"))


def _model_alpha(probability: np.ndarray) -> np.ndarray:
    """:func:`hair_alpha` of a probability known to be valid (the model's own output)."""
    return apply_ramp(probability, _ALPHA_TABLE)


def _predict_mask(
    frame: np.ndarray, model: str, *, tta: bool = False, ensemble: bool | None = None, zoom: bool = True
) -> np.ndarray:
    from .segmenter import get_segmenter  # the model's runtime is loaded only when a mask is needed

    return _model_alpha(get_segmenter(model, ensemble=ensemble).predict(frame, tta=tta, zoom=zoom))


def recolor(
    frame,
    color: "str | Color",
    *,
    mask=None,
    strength: float = 1.0,
    renderer: str = "auto",
    interpolation: str = "trilinear",
    model: str = "small",
    tta: bool = False,
    ensemble: bool | None = None,
    zoom: bool = True,
):
    """Recolour the hair in ``frame``.

    Args:
        frame: ``H x W x 3`` ``uint8`` RGB array, or an RGB PIL image. An image that carries
            a colour profile (``info["icc_profile"]``, such as a phone's Display P3) is
            recoloured in sRGB, as the LUTs were made, and comes back with its profile and
            its own values outside the hair, as ``hairfx recolor`` treats such a photo.
        color: a colour name (see :func:`hairfx.colors`), a ``'#RRGGBB'`` hex colour, or a
            :class:`~hairfx.colors.Color`.
        mask: soft hair mask, ``H x W`` float in ``[0, 1]`` (uint8 0..255, uint16 0..65535 as
            a 16-bit mask file is read, bool, and PIL ``L``, ``1``, ``F``, ``I;16`` and ``I``
            images accepted; see :func:`~hairfx.frames.as_mask`), or a scaled copy of one (resized bilinearly; see :func:`~hairfx.frames.is_scaled_copy`).
            ``None`` runs the hair-mask model (``model``).
        strength: ``0`` leaves the frame unchanged, ``1`` applies the full effect.
        renderer: ``"auto"``, ``"gl"`` or ``"cpu"``.
        interpolation: LUT interpolation, ``"trilinear"`` or ``"tetrahedral"``.
        model: hair-mask model used when ``mask`` is ``None``: ``"small"`` or ``"full"``.
        tta: with the model, run four passes (the frame and its mirror image, twice, the
            second time with the first mask as the previous-frame input) for a better mask
            at four times the cost: for photos, not live video.
        ensemble: with ``model="full"``, whether its mask averages the full network with
            the small one on the mirror image (the default, None, does; see
            :class:`~hairfx.segmenter.Segmenter`). ``False`` runs the full network alone,
            in about two thirds of the time; ``True`` is refused with the small model.
        zoom: with the model, run it again on the square around the hair where the head is
            small in the frame, so it is seen at the scale the networks learnt, and search
            a frame whose mask holds no hair in squares of half its side for a head too small
            for one pass to find (see :meth:`~hairfx.segmenter.Segmenter.predict`);
            ``False``: one pass.

    Returns:
        A new frame of the same kind as ``frame`` (array or PIL image). A frame whose mask
        covers no hair comes back unchanged (as a copy).

    The renderer is made on the first call in a thread and kept for the thread's later
    calls; :func:`release_renderers` frees it.

    >>> out = recolor(frame, "copper", mask=mask)  # doctest: +SKIP
    """
    given = GivenFrame(frame)
    arr = given.work
    col = get_color(color)
    s = _check_strength(strength)
    check_model_name(model)  # also when a mask is given: a typo should not wait for the day it is used
    tta, zoom = flag(tta, "tta"), flag(zoom, "zoom")
    ensemble = resolve_ensemble(model, ensemble)  # also when a mask is given, as for the model's name
    m = mask_for_frame(arr, mask) if mask is not None else \
        _predict_mask(arr, model, tta=tta, ensemble=ensemble, zoom=zoom)
    r = _cached_renderer(renderer, interpolation)
    out = _render(r, renderer == "auto", lambda: _cached_renderer("cpu", interpolation), arr, m, col, s).frame
    return given.output(out)


class RecolorSession(Closeable):
    """Recolours a video frame by frame, carrying state between frames.

    The state is explicit and inspectable:

    * :attr:`intensity`: the hair intensity the blend uses, an exponential moving average
      with ``smoothing`` as the weight of the past (default :data:`DEFAULT_SMOOTHING`, off:
      see there why), and :attr:`last_raw_intensity`, the frame's own;
    * the renderer's GL resources (textures, framebuffers), made once and reused;
    * the previous mask, fed back to the hair-mask model when masks are not given
      (:attr:`segmenter_session`; ``check_every`` is its periodic re-check of that prior,
      see :class:`~hairfx.segmenter.SegmenterSession`; 0, the default, never; ``zoom`` its
      view of a head small in the frame, on by default).

    A scene cut detected by the mask model, or :meth:`reset`, starts afresh.

    A session may be made in one thread and used, or closed, in another (a worker that
    reads frames, say): its GL context is current only during each call. Its frames are
    one sequence, so give them to it one at a time: a frame given while another thread's
    is in :meth:`process` or :meth:`mask` raises :class:`~hairfx.errors.InputError`.
    :meth:`close` and :meth:`reset` from another thread wait for the frame in hand.

    A session is one stream's, and its renderer (a GL context) its process's: pickling one
    (to a worker process) raises ``TypeError``; make a session in each process.

    >>> with RecolorSession("copper") as session:                     # doctest: +SKIP
    ...     for frame in frames:
    ...         out = session.process(frame)
    """

    _not_pickled = _stream_not_pickled("RecolorSession")

    def __init__(
        self,
        color: "str | Color",
        *,
        strength: float = 1.0,
        renderer: str = "auto",
        interpolation: str = "trilinear",
        model: str = "small",
        smoothing: float = DEFAULT_SMOOTHING,
        ensemble: bool | None = None,
        check_every: int = 0,
        zoom: bool = True,
    ):
        self.color = color
        self.strength = strength
        self.smoothing = smoothing
        # the hair model's session re-checks its prior every check_every frames (0: never)
        self.check_every = number(check_every, "check_every", lo=0, integer=True)
        self.zoom = flag(zoom, "zoom")
        check_model_name(model)
        self.model = model
        self.ensemble = resolve_ensemble(model, ensemble)  # as in recolor(): full's ensemble by default
        self.renderer = make_renderer(renderer, interpolation=interpolation)
        self._auto = renderer == "auto"
        self._cpu_renderer: CpuRenderer | None = None  # for frames the GL renderer refuses under "auto"
        self.intensity: float | None = None
        self.segmenter_session = None
        self._handed: np.ndarray | None = None  # the model's mask mask() last returned, until the next call
        self.last_mask: np.ndarray | None = None
        self.last_raw_intensity: float | None = None
        self.last_weight: float | None = None
        # its frames are one sequence: a second thread's frame in the middle of one is refused,
        # and close() or reset() waits for it
        self._guard = StreamGuard("RecolorSession", "this RecolorSession has been closed")

    # colour, strength and smoothing can change between frames
    @property
    def color(self) -> Color:
        return self._color

    @color.setter
    def color(self, value) -> None:
        self._color = get_color(value)

    @property
    def strength(self) -> float:
        return self._strength

    @strength.setter
    def strength(self, value) -> None:
        self._strength = _check_strength(value)

    @property
    def smoothing(self) -> float:
        """The weight of the past in the smoothed hair intensity, in ``[0, 1)``; 0 is off."""
        return self._smoothing

    @smoothing.setter
    def smoothing(self, value) -> None:
        v = number(value, "smoothing")
        if not 0.0 <= v < 1.0:  # 1 would keep the first frame's intensity for ever
            raise InputError(f"smoothing must be in [0, 1), got {value!r}")
        self._smoothing = v

    def _smooth(self, raw: float) -> float:
        self.last_raw_intensity = raw
        if self.intensity is None:
            self.intensity = raw
        else:
            a = self.smoothing
            self.intensity = a * self.intensity + (1.0 - a) * raw
        return self.intensity

    def mask(self, frame, mask=None) -> np.ndarray:
        """The mask used for ``frame``: ``mask`` resized to it, or the model's prediction
        with the previous mask as prior, through :func:`hair_alpha`. A scene cut found by
        the model resets the smoothed intensity too. A frame given its own ``mask`` breaks
        the model's chain of previous masks: the next frame the model sees starts afresh,
        not from a mask it made frames earlier. The model's mask this returns, given back
        to the next call, ``process(frame, mask=m)`` (the model timed apart from the
        recolouring), is the model's own and keeps its chain. The array returned (and kept as
        :attr:`last_mask`) is the session's own, never the caller's ``mask``: a capture loop
        that refills one buffer does not change the state kept."""
        with self._guard.frame():
            m = self._mask(GivenFrame(frame).work, mask)
            self._handed = m if mask is None else None
            return m

    def _mask(self, arr: np.ndarray, mask) -> np.ndarray:
        if mask is not None:
            m = mask_for_frame(arr, mask)
            if isinstance(mask, np.ndarray) and np.may_share_memory(m, mask):
                m = m.copy()
            if self.segmenter_session is not None:
                self.segmenter_session.reset()
            return m
        if self.segmenter_session is None:
            from .segmenter import get_segmenter

            self.segmenter_session = get_segmenter(self.model, ensemble=self.ensemble).session(
                check_every=self.check_every, zoom=self.zoom
            )
        resets = self.segmenter_session.resets
        m = _model_alpha(self.segmenter_session.process(arr))
        if self.segmenter_session.resets != resets:  # a scene cut: the old intensity is stale
            self.intensity = None
        return m

    def process(self, frame, mask=None):
        """Recolour one frame (same conventions as :func:`recolor`); returns the new frame.
        A frame given while another thread's is being processed raises
        :class:`~hairfx.errors.InputError`: the two streams' previous masks would cross."""
        with self._guard.frame():
            return self._process(frame, mask)

    def _process(self, frame, mask):
        given = GivenFrame(frame)
        arr = given.work
        handed, self._handed = self._handed, None
        if mask is not None and mask is handed and mask.shape == arr.shape[:2]:
            # the model's own mask, from mask() just before: its chain goes on. Checked as any
            # mask is: the caller may have written into it (a NaN, a value past 1) since
            m = as_mask(handed)
        else:
            m = self._mask(arr, mask)
        self.last_mask = m
        self.last_raw_intensity = None  # a frame with no hair has none: _smooth sets it when there is
        result = self._render(arr, m, self._color, self._smooth)
        self.last_weight = result.weight
        return given.output(result.frame)

    def _render(self, frame: np.ndarray, mask: np.ndarray, color: Color, intensity_filter):
        """This session's renderer on one colour, with the CPU fallback of ``"auto"``."""
        return _render(self.renderer, self._auto, self._cpu, frame, mask, color, self._strength, intensity_filter)

    def _cpu(self) -> CpuRenderer:
        """The CPU renderer for frames the GL renderer refuses under "auto", made on first use."""
        if self._cpu_renderer is None:
            self._cpu_renderer = CpuRenderer(interpolation=self.renderer.interpolation)
        return self._cpu_renderer

    def reset(self) -> None:
        """Forget the smoothed intensity and the previous mask (call on a scene change)."""
        with self._guard.between_frames():
            self.intensity = None
            self._handed = None
            self.last_raw_intensity = None
            self.last_weight = None
            self.last_mask = None
            if self.segmenter_session is not None:
                self.segmenter_session.reset()

    def close(self) -> None:
        """Release the renderer's resources. The session cannot process frames afterwards.
        From another thread, it waits for the frame in hand."""
        with self._guard.closing():
            self._close()

    def _close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None
        if self._cpu_renderer is not None:
            self._cpu_renderer.close()
            self._cpu_renderer = None
        if self.segmenter_session is not None:
            self.segmenter_session.close()
            self.segmenter_session = None
