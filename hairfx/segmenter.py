"""Hair-mask inference: letterbox preprocessing, verified weights, and video sessions.

Frames are ``H x W x 3`` ``uint8`` RGB; masks are ``H x W`` ``float32`` in ``[0, 1]`` at
frame size, with exact zeros where the probability is below 1/255 (renderers use
``mask > 0`` as their region).

The network sees a letterboxed canvas: the frame is scaled so its longer side fits the
preset's input size and centred on zero (black) padding, so the aspect ratio is kept
(stretching would squash heads differently for every camera). The canvas is no larger
than the network needs: each side is the content's, rounded up to a multiple of the
network's stride (:func:`canvas_layout`), so a 640x480 frame costs the full preset a
512x384 canvas, not the 512x512 square. A prior mask is letterboxed identically, and the
output is cropped back and resized to the frame.

Three runtimes give the same masks (see :data:`BACKENDS`): ONNX Runtime (the default,
the fastest) and OpenCV's DNN module on the shipped ONNX export, and PyTorch on the
shipped state dict. PyTorch is an extra (``pip install "hairfx[torch]"``): without it the
torch backend raises :class:`~hairfx.errors.MissingDependency`, and the other two need
nothing of it. Every weights file is checked against the SHA-256 recorded in
``weights/weights.json`` before it is loaded.

>>> seg = get_segmenter("small")
>>> mask = seg.predict(np.zeros((480, 640, 3), np.uint8))
>>> mask.shape, mask.dtype
((480, 640), dtype('float32'))
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from ._closeable import Closeable, StreamGuard
from ._optional import require
from .errors import InputError, MissingDependency, WeightsError
from .frames import GivenFrame, apply_ramp, mask_for_frame, ramp_table
from ._options import flag, number, thread_count
from .presets import (
    BACKENDS, ENSEMBLE_PARTNER, ENSEMBLE_PRESET, MODEL_NAMES, PRESETS, check_model_name, resolve_ensemble,
)

__all__ = [
    "Segmenter",
    "SegmenterSession",
    "get_segmenter",
    "MODEL_NAMES",
    "BACKENDS",
    "WEIGHTS_DIR",
    "PRIOR_RAMP",
    "OPENCV_NETS",
    "letterbox",
    "canvas_layout",
    "zoom_box",
    "search_tiles",
    "ENSEMBLE_PRESET",
]

_AUTO_BACKEND = {"small": "onnxruntime", "full": "onnxruntime"}

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: Frames with a side shorter than this are refused (there is nothing to segment).
MIN_SIDE = 4

#: Most OpenCV DNN nets one :class:`Segmenter` runs at once (threads beyond them wait for
#: one). A cv2.dnn.Net is not reentrant, so each concurrent call needs its own. On the idle
#: 2-core machine, 2 or 4 threads of 640x480 frames got 1.3x the frames per second with 2
#: nets that they got taking turns on one (small preset: 158 to 174 against 124 to 131;
#: full: 1.2x), 4 nets no more than 2, and one thread the same (138 to 141). Each extra net
#: holds about 14 MiB (small) or 53 MiB (full).
OPENCV_NETS = 2

#: Probabilities below this are set to exactly 0.
ZERO_BELOW = 1.0 / 255.0
#: A session feeds its previous mask back through a smoothstep from ``PRIOR_RAMP[0]`` to
#: ``PRIOR_RAMP[1]``: uncertain pixels (weak false positives on hair-coloured backgrounds)
#: drop to 0 and confident hair goes to 1, so the network is not handed its own doubts
#: to reinforce frame after frame; the 0.5 boundary is unchanged. Measured on the eight
#: test clips (150 frames each, ``hairfx evaluate``), mean frame-to-frame mask change in %
#: of full range, shipped weights: small preset 0.42 with no prior, 0.31 with the raw
#: probabilities fed back, 0.28 with the ramp; the full network alone 0.49, 0.32 and 0.30
#: (the ramp steadier than no prior on 8 of 8 clips for small, 7 of 8 for the full network
#: alone, the eighth a clip of light blonde hair that the prior-free mask nearly misses; the
#: full preset's ensemble 0.43, 0.34 and 0.29, 8 of 8). With earlier weights the raw
#: feedback was steadier on only 6 of 8 clips (small: 0.71, 0.54, 0.44).
PRIOR_RAMP = (0.25, 0.75)
_PRIOR_TABLE = ramp_table(*PRIOR_RAMP)

#: :meth:`Segmenter.predict`'s zoom. The networks find hair at the scale they were trained
#: on, heads filling much of the frame: the validation photos shrunk to half their size on a
#: black frame score 0.74-0.79 IoU instead of 0.83-0.88, at 0.35 of it 0.28-0.52. Where the
#: pixels above ``ZOOM_FIND`` (with ``ZOOM_MARGIN`` of their extent added on each side, as a
#: square) span at most ``ZOOM_SPAN`` of the frame's longer side, the square is run again
#: and its mask replaces the first one there (model card, "Small heads").
ZOOM_FIND = 0.2
ZOOM_MARGIN = 0.15
ZOOM_SPAN = 0.8
#: A :class:`SegmenterSession` keeps its view of a small head from frame to frame, and moves it
#: when the hair comes within ``ZOOM_EDGE`` of the view's side (of its longer side) or needs
#: less than ``ZOOM_SHRINK`` of it.
ZOOM_EDGE = 0.03
ZOOM_SHRINK = 0.75
#: Where a mask with the zoom holds no hair, the frame is searched in overlapping squares
#: (:func:`search_tiles`) whose side is ``SEARCH_TILE`` of the frame's longer side, so that a
#: head too small for the first pass to find anything of it is seen at twice the scale; the
#: squares overlap by at least ``SEARCH_OVERLAP`` of their side (model card, "Small heads").
SEARCH_TILE = 0.5
SEARCH_OVERLAP = 0.25


def _train_hint(name: str, weights_dir: Path | None = None) -> str:
    where = "" if weights_dir is None else f" --weights-dir {weights_dir}"
    return (
        f"train it with `hairfx train --model {name}` and ship it with "
        f"`hairfx train --model {name} --export runs/{name}/best.pt{where}`"
    )


def _verified_bytes(name: str, suffix: str, key: str, weights_dir: Path | None) -> tuple[Path, bytes]:
    """Bytes of ``<weights_dir>/<name><suffix>`` after checking the SHA-256 under ``key``."""
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    path = folder / f"{name}{suffix}"
    index_path = folder / "weights.json"
    if not path.is_file():
        raise WeightsError(f"weights file {path} is missing; {_train_hint(name, weights_dir)}")
    try:
        expected = str(json.loads(index_path.read_text())[name][key]).lower()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"no SHA-256 recorded for {path} in {index_path} ({exc!r}); {_train_hint(name, weights_dir)}") from None
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise WeightsError(
            f"weights file {path} fails its checksum: SHA-256 {actual} but {index_path.name} records "
            f"{expected}; the file is corrupt or was replaced. Reinstall hairfx or {_train_hint(name, weights_dir)}"
        )
    return path, data


def load_state_dict(name: str, weights_dir: Path | None = None) -> dict:
    """The verified state dict of preset ``name``.

    Reads ``<weights_dir>/<name>.pt``, checks its SHA-256 against ``weights.json`` and
    unpickles it with ``torch.load(weights_only=True)``. Any problem raises
    :class:`~hairfx.errors.WeightsError` naming the file; without PyTorch,
    :class:`~hairfx.errors.MissingDependency`.
    """
    torch = require("torch", f"reading the PyTorch weights ({name}.pt)", "torch")
    check_model_name(name)
    path, data = _verified_bytes(name, ".pt", "sha256", weights_dir)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means unusable weights
        raise WeightsError(f"weights file {path} cannot be loaded: {exc}") from None


def _onnx_available(name: str, weights_dir: Path | None) -> bool:
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    try:
        return (folder / f"{name}.onnx").is_file() and "onnx_sha256" in json.loads((folder / "weights.json").read_text())[name]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _holds_preset(folder: Path | None, name: str) -> bool:
    """Whether ``folder``'s ``weights.json`` records weights of preset ``name``."""
    if folder is None:
        return False
    try:
        return name in json.loads((Path(folder) / "weights.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def letterbox(h: int, w: int, size: int) -> tuple[int, int, int, int]:
    """``(new_h, new_w, top, left)`` placing an ``h x w`` image centred in a ``size`` square.

    Each side is at least one pixel: an image more than ``2 * size`` times wider than high
    (4 x 16384 in a 256 square) becomes one full row of the canvas, taller than its scale
    would make it, rather than vanish; its mask is that row's, resized back (usually empty:
    no head fits in it).
    """
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    return nh, nw, (size - nh) // 2, (size - nw) // 2


def canvas_layout(h: int, w: int, size: int, stride: int) -> tuple[int, int, int, int, int, int]:
    """``(canvas_h, canvas_w, new_h, new_w, top, left)`` for an ``h x w`` frame: scaled as
    :func:`letterbox` scales it (the longer side ``size``) and centred on a canvas whose
    sides are the content's rounded up to a multiple of ``stride``, the network's total
    downsampling (``size`` is a multiple of it, so the canvas is at most ``size`` square).

    The full square would only add zeros to convolve: a 640x480 frame's 512x384 canvas
    (full preset) has a quarter fewer pixels than the square, a 1280x720 frame's 512x320
    37 % fewer, and the network's time falls with them. The masks match the square's
    within the noise of the test sets (the model card compares the two).

    Each side is at least two strides (up to ``size``): on a canvas one stride high (a frame
    8 or more times wider than high) the network's bottleneck is one pixel high, and there
    OpenCV's DNN module computed values up to 1e25 where ONNX Runtime and PyTorch did not.

    >>> canvas_layout(480, 640, 512, 64)
    (384, 512, 384, 512, 0, 0)
    >>> canvas_layout(720, 1280, 256, 32)
    (160, 256, 144, 256, 8, 0)
    >>> canvas_layout(40, 428, 256, 32)
    (64, 256, 24, 256, 20, 0)
    """
    nh, nw, _, _ = letterbox(h, w, size)
    least = min(size, 2 * stride)
    ch, cw = max(least, -(-nh // stride) * stride), max(least, -(-nw // stride) * stride)
    return ch, cw, nh, nw, (ch - nh) // 2, (cw - nw) // 2


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """``img`` at ``w x h``: area-averaged when shrinking, bilinear when enlarging.

    OpenCV's area shrink is several times faster by a whole factor than by any other, so a
    shrink by more than 2 first takes the largest whole factor that divides both sides,
    then the rest: 640x480 to 256x192 by 2 and then 1.25 took 0.75 ms instead of 1.33,
    1280x720 to 512x288 1.2 ms instead of 2.2, 1920x1080 to 512x288 3.1 instead of 4.8.
    Each step averages whole areas, so the result differs from one step's by a few levels
    at most.
    """
    ih, iw = img.shape[:2]
    if iw == w and ih == h:
        return img
    if w > iw and h > ih:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    k = min(iw // w, ih // h)
    if k >= 2 and not (iw == k * w and ih == k * h):  # an exact whole factor needs one step
        while iw % k or ih % k:
            k -= 1
        if k >= 2:
            img = cv2.resize(img, (iw // k, ih // k), interpolation=cv2.INTER_AREA)
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def _freeze(torch, net, size: int):
    """A traced, frozen TorchScript copy of ``net`` (less Python overhead per layer:
    about 1.3x faster for the small preset on 2 cores); ``net`` itself if tracing fails.
    Traced on the square, it runs any canvas shape: its upsampling takes the skips' sizes
    at run time (tests compare it with the ONNX runtimes on several shapes)."""
    import warnings

    x = torch.zeros(1, size, size, 4).permute(0, 3, 1, 2)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            frozen = torch.jit.freeze(torch.jit.trace(net, x))
            frozen(x)
        return frozen
    except Exception:  # noqa: BLE001 - an optimisation only; eager mode is always correct
        return net


def _sigmoid_inplace(logits: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-logits))`` computed in ``logits``' own memory (clipped: no overflow)."""
    np.clip(logits, -30.0, 30.0, out=logits)
    np.negative(logits, out=logits)
    np.exp(logits, out=logits)
    logits += np.float32(1.0)
    return np.reciprocal(logits, out=logits)


def _ort_session(path: Path, data: bytes, threads: int | None):
    """An ONNX Runtime CPU session on the verified ONNX bytes ``data`` read from ``path``."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise InputError(
            f"backend 'onnxruntime' needs the onnxruntime package ({exc}); install it "
            f"(pip install onnxruntime) or choose backend 'opencv' or 'torch'"
        ) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads) if threads is not None else 0  # 0: one per core
    options.inter_op_num_threads = 1  # one chain of layers: nothing to run side by side
    # Extended, not all: the "all" level adds the NCHWc layout, which pads every
    # convolution's outputs to a block of 16 channels on AVX-512. The full-resolution
    # refinement has 1 to 5 outputs, so there it did up to 16 times the work. Without
    # the layout full's network took 11.8 against 13.3 ms on a 512x384 canvas (model
    # card, Speed).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    # Worker threads sleep between runs instead of spinning: in the live webcam path the
    # spinning threads took a core from the capture thread and the renderer (mask stage
    # 12.1 / 11.3 ms without spinning against 14.1 / 12.7 ms with it, two interleaved runs
    # at 1280x720); alone, a pass is at most 0.5 ms slower for it.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: they are raised below anyway
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types
        raise WeightsError(f"weights file {path} cannot be loaded by ONNX Runtime: {exc}") from None


def _auto_backend(name: str) -> str:
    """The preset's fastest runtime (:data:`_AUTO_BACKEND`), OpenCV's DNN module where
    ONNX Runtime is not installed."""
    choice = _AUTO_BACKEND[name]
    if choice == "onnxruntime":
        import importlib.util

        if importlib.util.find_spec("onnxruntime") is None:
            return "opencv"
    return choice


def _torch_for(name: str, weights_dir: Path | None, auto: bool):
    """PyTorch, for the torch backend; without it a :class:`~hairfx.errors.MissingDependency`
    that says what needed it: the backend asked for, or (``auto``) weights without the ONNX
    file that the other runtimes run."""
    if not auto:
        return require("torch", "the torch backend (backend='torch')", "torch")
    folder = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    what = (f"{folder} holds no ONNX weights for {name!r} ({name}.onnx, with its SHA-256 in weights.json), "
            f"which ONNX Runtime and OpenCV run, and running its PyTorch weights ({name}.pt)")
    try:
        return require("torch", what, "torch")
    except MissingDependency:
        if not (folder / f"{name}.pt").is_file():  # no weights of either kind: that, as with PyTorch
            raise WeightsError(f"weights file {folder / f'{name}.pt'} is missing; {_train_hint(name, weights_dir)}") from None
        raise


_torch_fork_handled = False


def _one_torch_thread_after_fork(torch) -> None:
    """Make a child forked from this process run torch on one thread (once per process).

    GNU OpenMP's worker threads, which torch's CPU operators run on, do not survive a fork,
    and its next parallel region in the child waits for them for ever: a service that warmed
    up a torch segmenter and then forked its workers (multiprocessing's default start method
    on Linux) never got a mask from them. On one thread no parallel region is entered."""
    global _torch_fork_handled
    if not _torch_fork_handled:
        _torch_fork_handled = True
        os.register_at_fork(after_in_child=lambda: torch.set_num_threads(1))


def zoom_box(prob: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` of the part of the frame that :meth:`Segmenter.predict`
    runs again, for the first pass's probability ``prob``; None when the hair found (above
    :data:`ZOOM_FIND`) already spans much of the frame, or there is none, or the square, cut
    by the frame, is thinner than :data:`MIN_SIDE`.

    >>> p = np.zeros((100, 200), np.float32); p[40:60, 90:110] = 0.9
    >>> zoom_box(p)
    (37, 63, 87, 113)
    """
    return _zoom_box(prob > ZOOM_FIND, None, prob.shape)


def _zoom_box(found: np.ndarray, view, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """:func:`zoom_box` of a frame of ``shape`` whose hair found (probability above
    :data:`ZOOM_FIND`) is ``found`` in ``view`` (None: the whole frame) and none elsewhere."""
    rows = np.flatnonzero(found.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(found.any(axis=0))
    h, w = shape
    dy, dx = (0, 0) if view is None else (view[0], view[2])
    y0, y1, x0, x1 = dy + int(rows[0]), dy + int(rows[-1]) + 1, dx + int(cols[0]), dx + int(cols[-1]) + 1
    half = max(y1 - y0, x1 - x0) * (0.5 + ZOOM_MARGIN)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    top, bottom = max(0, round(cy - half)), min(h, round(cy + half))
    left, right = max(0, round(cx - half)), min(w, round(cx + half))
    if max(bottom - top, right - left) > ZOOM_SPAN * max(h, w) or min(bottom - top, right - left) < MIN_SIDE:
        return None
    return top, bottom, left, right


def search_tiles(h: int, w: int) -> list[tuple[int, int, int, int]]:
    """``(top, bottom, left, right)`` of each square in which an ``h x w`` frame is searched
    for hair too small in it for the first pass: sides :data:`SEARCH_TILE` of the frame's
    longer side (cut to the frame), spread evenly from edge to edge so that neighbours
    overlap by at least :data:`SEARCH_OVERLAP` of a side, row by row.

    >>> tiles = search_tiles(480, 640)  # 3 x 2 squares of 320 px
    >>> len(tiles), tiles[:3], tiles[3]
    (6, [(0, 320, 0, 320), (0, 320, 160, 480), (0, 320, 320, 640)], (160, 480, 0, 320))
    """
    side = max(MIN_SIDE, round(SEARCH_TILE * max(h, w)))

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = -(-(length - side) // int(side * (1 - SEARCH_OVERLAP))) + 1
        return [round(i * (length - side) / (n - 1)) for i in range(n)]

    th, tw = min(side, h), min(side, w)
    return [(y, y + th, x, x + tw) for y in starts(h) for x in starts(w)]


def _strongest_box(
    prob: np.ndarray, view=None, shape: tuple[int, int] | None = None
) -> tuple[int, int, int, int] | None:
    """:func:`zoom_box` of the connected part of ``prob`` above :data:`ZOOM_FIND` that holds
    the most probability: one head of several, or a head rather than a stray find beside it.
    ``prob`` is of ``view`` of a frame of ``shape`` (as :func:`_zoom_box` takes them), with
    nothing found elsewhere; by default, of the whole frame."""
    count, labels = cv2.connectedComponents((prob > ZOOM_FIND).view(np.uint8), connectivity=8)
    if count <= 1:
        return None
    mass = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=count)
    mass[0] = 0.0
    return _zoom_box(labels == int(np.argmax(mass)), view, prob.shape if shape is None else shape)


def _holds_hair(mask: np.ndarray) -> bool:
    return cv2.minMaxLoc(mask)[1] > 0.5


def _zero_small(prob: np.ndarray) -> np.ndarray:
    """Set probabilities below :data:`ZERO_BELOW` to exactly 0 (in place, SIMD)."""
    cv2.threshold(prob, ZERO_BELOW - 1e-9, 0.0, cv2.THRESH_TOZERO, dst=prob)
    return prob


class Segmenter:
    """A loaded hair-mask network (one preset). Thread-safe (:func:`get_segmenter` hands
    one instance to every thread): calls from several threads run side by side, each with
    its own input buffer; with the OpenCV backend each also needs a net of its own (an
    OpenCV DNN net keeps state between ``setInput`` and ``forward``), made as needed, up to
    :data:`OPENCV_NETS`.

    ``backend`` is one of :data:`BACKENDS`. ``threads`` sets the runtime's thread
    count when given: this segmenter's own for ONNX Runtime (default one per core), the
    whole process's for torch or OpenCV. Weights are verified against
    the SHA-256 recorded in ``weights.json`` before they are loaded. Once a torch segmenter
    is made, a process forked from this one runs torch on one thread, as PyTorch's own
    DataLoader workers do (:func:`_one_torch_thread_after_fork`).

    The full preset is an ensemble by default: it averages the full network's probability
    with the small network's on the mirror image of the frame (mirrored back). The two
    networks err in different places, so their mean is the better mask (validation IoU
    0.843 -> 0.854, model card) for the cost of one small pass: 14.8-18.7 ms at 640x480 on
    a 2-core machine, within the preset's 25 ms. ``ensemble=False`` runs the full network
    alone (11.3-17.2 ms); ``ensemble=True`` is refused for the small preset. The small
    network comes from ``weights_dir`` when that folder holds one, else from the package.

    A segmenter pickles by reference, not by value, so it can be handed to a
    ``multiprocessing`` worker (``pool.map(seg.predict, frames)``): unpickling makes it
    again from its preset and the options it was made with, its weights read and verified
    again, and one that :func:`get_segmenter` shared comes back as the shared one of the
    process that unpickles it (loaded there once, whatever the number of tasks). A
    ``weights_dir`` travels as its absolute path: the other process must see that folder.

    >>> seg = Segmenter("small")
    >>> seg.predict(np.zeros((64, 48, 3), np.uint8)).shape
    (64, 48)
    """

    def __init__(
        self,
        name: str = "small",
        *,
        backend: str = "auto",
        weights_dir: Path | None = None,
        threads: int | None = None,
        ensemble: bool | None = None,
    ):
        check_model_name(name)
        if weights_dir is not None and not isinstance(weights_dir, (str, os.PathLike)):
            raise InputError(f"weights_dir must be a folder's path, got {type(weights_dir).__name__} {weights_dir!r}")
        if threads is not None:
            threads = thread_count(threads)
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; valid backends are: {', '.join(BACKENDS)}")
        ensemble = resolve_ensemble(name, ensemble)
        # what it is made again from where it is unpickled (__reduce__): the options as given
        # ("auto" resolved there), a relative weights_dir as the folder it names here
        self._options = {"backend": backend, "weights_dir": None if weights_dir is None else os.path.abspath(weights_dir),
                         "threads": threads, "ensemble": ensemble}
        self._shared: tuple[str, bool] | None = None  # (name, ensemble) of get_segmenter's shared one
        self._partner = None
        if ensemble:
            self._partner = Segmenter(
                ENSEMBLE_PARTNER, backend=backend, threads=threads,
                weights_dir=weights_dir if _holds_preset(weights_dir, ENSEMBLE_PARTNER) else None,
            )
        auto = backend == "auto"
        if auto:
            backend = _auto_backend(name) if _onnx_available(name, weights_dir) else "torch"
        self.name = name
        self.backend = backend
        self.input_size = PRESETS[name].input_size
        self.stride = PRESETS[name].stride
        # What one call needs to itself, taken from and given back to this list (pop and
        # append are atomic): an input canvas, and for OpenCV a net. A call that finds none
        # idle makes one, so there are as many as calls have ever run at once.
        self._idle: list = []
        self._net = None
        if backend == "onnxruntime":
            path, data = _verified_bytes(name, ".onnx", "onnx_sha256", weights_dir)
            self._ort = _ort_session(path, data, threads)
            self._ort_input = self._ort.get_inputs()[0].name
            self._idle.append(self._new_slot())
        elif backend == "opencv":
            path, data = _verified_bytes(name, ".onnx", "onnx_sha256", weights_dir)
            if threads is not None:
                cv2.setNumThreads(int(threads))
            self._onnx = np.frombuffer(data, np.uint8)  # checked: more nets are made from it
            self._net_slots = threading.BoundedSemaphore(OPENCV_NETS)
            try:
                self._idle.append(self._new_slot())
            except cv2.error as exc:
                raise WeightsError(f"weights file {path} cannot be loaded by OpenCV DNN: {exc}") from None
        else:
            torch = _torch_for(name, weights_dir, auto)
            from .model import HairNet, fuse_batchnorm

            _one_torch_thread_after_fork(torch)
            if threads is not None:
                torch.set_num_threads(int(threads))
            state = load_state_dict(name, weights_dir)
            net = HairNet(PRESETS[name])
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                raise WeightsError(f"weights for {name!r} do not match the network: {exc}") from None
            net.eval()
            fuse_batchnorm(net)
            self._net = _freeze(torch, net.to(memory_format=torch.channels_last), self.input_size)
            self._torch = torch

    def _new_slot(self) -> tuple:
        """``(net, canvas)`` for one call: a net of its own for OpenCV (None for ONNX Runtime
        and torch, whose sessions and modules may be called from several threads at once)
        and an input canvas, square until a call needs another shape."""
        s = self.input_size
        net = cv2.dnn.readNetFromONNX(self._onnx) if self.backend == "opencv" else None
        return net, np.zeros(self._canvas_shape(s, s), np.float32)

    def _canvas_shape(self, ch: int, cw: int) -> tuple[int, int, int, int]:
        if self.backend == "torch":  # N x H x W x C, seen as N x C x H x W by torch: channels_last, no copy
            return 1, ch, cw, 4
        return 1, 4, ch, cw  # planar N x C x H x W for ONNX

    def _layout(self, h: int, w: int) -> tuple[int, int, int, int, int, int]:
        return canvas_layout(h, w, self.input_size, self.stride)

    def _forward(
        self, frame_small: np.ndarray, layout: tuple[int, ...], prior_canvas: np.ndarray | None
    ) -> np.ndarray:
        """Logits-to-probability on the canvas of ``layout`` (:func:`canvas_layout`),
        ``canvas_h x canvas_w`` float32 (a new array).

        Safe from several threads at once: each call has a canvas (and an OpenCV net) of its
        own. Calls side by side use 2 cores better than one call's own threads do: with torch,
        2 or 4 threads got 1.8x the frames per second of calls taking turns (small preset,
        640x480: 128 to 143 against 70 to 77; one thread 63 to 71 either way)."""
        if self.backend == "opencv":
            with self._net_slots:  # at most OPENCV_NETS nets
                return self._run(frame_small, layout, prior_canvas)
        return self._run(frame_small, layout, prior_canvas)

    def _run(self, frame_small, layout, prior_canvas) -> np.ndarray:
        try:
            slot = self._idle.pop()
        except IndexError:  # every one is in use: another thread's call is running
            slot = self._new_slot()
        try:
            dnn, canvas = slot
            ch, cw, nh, nw, top, left = layout
            shape = self._canvas_shape(ch, cw)
            if canvas.shape != shape:  # a frame of another shape than this slot's last
                canvas = np.zeros(shape, np.float32)
                slot = dnn, canvas
            scale = np.float32(1.0 / 255.0)
            canvas.fill(0.0)
            if self.backend != "torch":  # planar ONNX input
                np.multiply(frame_small.transpose(2, 0, 1), scale, out=canvas[0, :3, top : top + nh, left : left + nw],
                            casting="unsafe")
                if prior_canvas is not None:
                    canvas[0, 3] = prior_canvas
                if dnn is not None:
                    dnn.setInput(canvas)
                    logits = dnn.forward()[0, 0]  # a copy
                else:
                    logits = self._ort.run(None, {self._ort_input: canvas})[0][0, 0]  # a new array
                return _sigmoid_inplace(logits)
            torch = self._torch
            np.multiply(frame_small, scale, out=canvas[0, top : top + nh, left : left + nw, :3], casting="unsafe")
            if prior_canvas is not None:
                canvas[0, :, :, 3] = prior_canvas
            with torch.inference_mode():
                return torch.sigmoid(self._net(torch.from_numpy(canvas).permute(0, 3, 1, 2)))[0, 0].numpy()
        finally:
            self._idle.append(slot)

    # -- core -----------------------------------------------------------------------

    def _infer(
        self, frame: np.ndarray, prior_canvas: np.ndarray | None, *, keep_canvas: bool = False
    ) -> tuple[np.ndarray | None, np.ndarray]:
        """Run on a validated frame; returns ``(canvas_probability, mask_at_frame_size)``.

        ``prior_canvas`` is in canvas coordinates, the frame's canvas shape (or None for no
        prior). The canvas probability (the next prior of a video) is returned only if
        ``keep_canvas``.
        """
        h, w = frame.shape[:2]
        layout = self._layout(h, w)
        _, _, nh, nw, _, _ = layout
        prob = self._network(_resize(frame, nw, nh), layout, prior_canvas)
        prob_canvas = prob if keep_canvas else None  # a fresh array from _network, not a buffer
        return prob_canvas, _zero_small(self._canvas_to_frame(prob, h, w))

    def _network(
        self, frame_small: np.ndarray, layout: tuple[int, ...], prior_canvas: np.ndarray | None
    ) -> np.ndarray:
        """The probability on the canvas of ``layout``: :meth:`_forward`, averaged with the
        partner network's (:meth:`_add_partner`) when this segmenter is the ensemble."""
        prob = self._forward(frame_small, layout, prior_canvas)
        if self._partner is not None:
            self._add_partner(prob, frame_small, layout, prior_canvas)
        return prob

    def _add_partner(
        self, prob: np.ndarray, frame_small: np.ndarray, layout: tuple[int, ...], prior_canvas: np.ndarray | None
    ) -> None:
        """Average, in place, the content of ``prob`` (this network's canvas) with the
        partner network's probability on the mirrored frame, mirrored back. The partner
        sees the frame and the prior at its own scale, taken from this canvas's content."""
        _, _, nh, nw, top, left = layout
        partner = self._partner
        p_layout = partner._layout(nh, nw)
        _, _, pnh, pnw, ptop, pleft = p_layout
        mirrored = np.ascontiguousarray(_resize(frame_small, pnw, pnh)[:, ::-1])
        p_prior = None
        if prior_canvas is not None:
            prior = np.ascontiguousarray(prior_canvas[top : top + nh, left : left + nw][:, ::-1])
            p_prior = partner._prior_to_canvas(prior)
        p_prob = partner._forward(mirrored, p_layout, p_prior)
        back = _resize(np.ascontiguousarray(p_prob[ptop : ptop + pnh, pleft : pleft + pnw][:, ::-1]), nw, nh)
        content = prob[top : top + nh, left : left + nw]
        content += back
        content *= np.float32(0.5)

    def _prior_to_canvas(self, prior: np.ndarray) -> np.ndarray:
        ch, cw, nh, nw, top, left = self._layout(*prior.shape)
        out = np.zeros((ch, cw), np.float32)
        out[top : top + nh, left : left + nw] = _resize(prior, nw, nh)
        return out

    def _canvas_to_frame(self, canvas: np.ndarray, h: int, w: int) -> np.ndarray:
        """The content of ``canvas`` (the layout of an ``h x w`` frame) at the frame's size: the
        inverse of :meth:`_prior_to_canvas`."""
        _, _, nh, nw, top, left = self._layout(h, w)
        return _resize(np.ascontiguousarray(canvas[top : top + nh, left : left + nw]), w, h)

    def _check_frame(self, frame) -> np.ndarray:
        frame = GivenFrame(frame).work  # a PIL image with a colour profile in sRGB, as recolor() takes it
        if min(frame.shape[:2]) < MIN_SIDE:
            size = f"{frame.shape[1]}x{frame.shape[0]}"
            raise InputError(f"frame is {size}, smaller than {MIN_SIDE} px per side",
                             reason=f"it is {size}, smaller than the {MIN_SIDE} px per side the hair-mask model needs")
        return frame

    # -- public ---------------------------------------------------------------------

    def predict(self, frame, prior=None, *, tta: bool = False, zoom: bool = True) -> np.ndarray:
        """Hair probability for one ``H x W x 3`` uint8 RGB frame, ``H x W`` float32 in [0, 1].
        A PIL image that carries a colour profile is seen in sRGB, as :func:`~hairfx.recolor`
        and ``hairfx mask`` see it (:class:`~hairfx.frames.GivenFrame`).

        ``prior`` is the previous frame's mask, or None for a fresh start. Like any mask
        in hairfx it may be at the frame's size or another size with the frame's aspect
        ratio (resized bilinearly). It is used as given: a :class:`SegmenterSession`
        feeds back its masks through :data:`PRIOR_RAMP` instead, which the model card
        shows is steadier than the raw probability. Values below 1/255 are exactly 0.

        ``tta=True`` (test-time augmentation, for photos rather than live video) runs four
        passes in two rounds. Each round averages the frame and its mirror image; the first
        takes ``prior``, the second the first round's mask through :data:`PRIOR_RAMP`, as a
        video session would feed it back. Four times the work; on the validation photos it
        raises the mean IoU by 0.007 to 0.013 with the shipped weights, more than mirroring
        alone and more than mirrored and zoomed-out passes (see the model card).

        ``zoom=True`` (the default) runs the frame again, cut to the square around the hair
        the first pass found (:func:`zoom_box`), where that square spans at most
        :data:`ZOOM_SPAN` of the frame: a head small in the frame is then seen at the scale
        the networks learnt. The mask is then the square's, and 0 outside it, where the
        first pass found nothing above :data:`ZOOM_FIND`. Frames whose hair fills much of the
        frame cost one pass. Where the mask would then hold no hair (no pixel above 0.5), a
        head may be too small for the first pass to find any of it: the frame is searched,
        one pass on each of :func:`search_tiles` (squares of half its longer side, so twice
        the scale), and the square around the strongest find is looked at as above; its
        mask is the frame's if it holds hair. A frame without hair costs those passes too
        (7 for a 640x480 frame). ``zoom=False`` is always one pass. A
        :class:`SegmenterSession` keeps such a view from frame to frame, and searches one
        tile a frame.
        """
        tta = flag(tta, "tta")
        zoom = flag(zoom, "zoom")
        frame = self._check_frame(frame)
        if prior is not None:
            prior = mask_for_frame(frame, prior, name="prior")
        mask = self._predict_once(frame, prior, tta)
        if not zoom:
            return mask
        box = zoom_box(mask)
        if box is not None:
            mask = self._second_look(frame, prior, tta, box)
        if not _holds_hair(mask):
            found = self._search(frame, prior, tta)
            if found is not None:
                mask = found
        return mask

    def _second_look(self, frame: np.ndarray, prior: np.ndarray | None, tta: bool, box) -> np.ndarray:
        crop_prior = None if prior is None else _cut(prior, box)
        return _placed(self._predict_once(_cut(frame, box), crop_prior, tta), frame.shape[:2], box)

    def _search(self, frame: np.ndarray, prior: np.ndarray | None, tta: bool) -> np.ndarray | None:
        """The mask of a head too small in ``frame`` for the first pass: one pass on each of
        :func:`search_tiles`, the strongest find's square (:func:`_strongest_box`) looked at as
        :meth:`predict`'s second look does; None when no tile finds hair or that look holds none."""
        h, w = frame.shape[:2]
        prob = np.zeros((h, w), np.float32)
        for tile in search_tiles(h, w):
            top, bottom, left, right = tile
            tile_prior = None if prior is None else self._prior_to_canvas(_cut(prior, tile))
            part = self._infer(_cut(frame, tile), tile_prior)[1]
            np.maximum(prob[top:bottom, left:right], part, out=prob[top:bottom, left:right])
        box = _strongest_box(prob)
        if box is None:
            return None
        mask = self._second_look(frame, prior, tta, box)
        return mask if _holds_hair(mask) else None

    def _predict_once(self, frame: np.ndarray, prior: np.ndarray | None, tta: bool) -> np.ndarray:
        if tta:
            return self._predict_tta(frame, prior)
        prior_canvas = None if prior is None else self._prior_to_canvas(prior)
        return self._infer(frame, prior_canvas)[1]

    def _predict_tta(self, frame: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
        mirrored = np.ascontiguousarray(frame[:, ::-1])

        def both_ways(p: np.ndarray | None) -> np.ndarray:
            canvas = mirrored_canvas = None
            if p is not None:
                canvas = self._prior_to_canvas(p)
                mirrored_canvas = self._prior_to_canvas(np.ascontiguousarray(p[:, ::-1]))
            a = self._infer(frame, canvas)[1]
            b = self._infer(mirrored, mirrored_canvas)[1]
            return (a + b[:, ::-1]) * np.float32(0.5)

        first = both_ways(prior)
        return _zero_small(both_ways(apply_ramp(first, _PRIOR_TABLE)))

    def session(self, **options) -> "SegmenterSession":
        """A :class:`SegmenterSession` for a video stream; ``options`` are its keyword
        arguments (``cut_threshold``, ``confirm``, ``min_area``, ``check_every``,
        ``recheck_threshold``, ``zoom``), documented and defaulted there only."""
        return SegmenterSession(self, **options)

    def __reduce__(self):
        if self._shared is not None:
            return _shared_segmenter, self._shared
        return _remade_segmenter, (self.name, self._options)

    def __copy__(self) -> "Segmenter":
        # a shallow copy shares the runtime sessions and idle canvases (pickling makes it again)
        seg = object.__new__(type(self))
        seg.__dict__.update(self.__dict__)
        return seg

    def __repr__(self) -> str:
        ensemble = f", ensemble={self.ensemble}" if self.name == ENSEMBLE_PRESET else ""
        return f"Segmenter({self.name!r}, backend={self.backend!r}, input_size={self.input_size}{ensemble})"

    @property
    def ensemble(self) -> bool:
        """Whether masks average this preset's network with the small one's (full's default)."""
        return self._partner is not None


_THUMB = 16  # the side of a frame's thumbnail, in cells


def _thumb(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).astype(
        np.float32
    ) * np.float32(1.0 / 255.0)


def _cut(image: np.ndarray, view) -> np.ndarray:
    """``view`` (``(top, bottom, left, right)``, or None: all) of ``image``, contiguous."""
    if view is None:
        return image
    top, bottom, left, right = view
    return np.ascontiguousarray(image[top:bottom, left:right])


def _placed(part: np.ndarray, shape: tuple[int, int], view) -> np.ndarray:
    """A mask of ``shape``: ``part`` in ``view``, 0 elsewhere."""
    out = np.zeros(shape, np.float32)
    top, bottom, left, right = view
    out[top:bottom, left:right] = part
    return out


def _outside(found: np.ndarray, view) -> np.ndarray:
    """``found`` (of the whole frame) with ``view`` cleared: what lies outside the view."""
    out = found.copy()
    top, bottom, left, right = view
    out[top:bottom, left:right] = False
    return out


def _reaches_edge(found: np.ndarray, view, shape: tuple[int, int]) -> bool:
    """Whether hair found (probability above :data:`ZOOM_FIND`: ``found``) in ``view`` of a
    frame of ``shape`` lies within :data:`ZOOM_EDGE` of the view's side on a side that is not
    the frame's."""
    top, bottom, left, right = view
    h, w = found.shape
    band = max(1, round(ZOOM_EDGE * max(h, w)))
    return bool((top > 0 and found[:band].any()) or (bottom < shape[0] and found[h - band :].any())
                or (left > 0 and found[:, :band].any()) or (right < shape[1] and found[:, w - band :].any()))


def _same_place(a, b) -> bool:
    """Whether squares ``a`` and ``b`` (``(top, bottom, left, right)``) overlap by more than
    half their union."""
    h = min(a[1], b[1]) - max(a[0], b[0])
    w = min(a[3], b[3]) - max(a[2], b[2])
    common = max(h, 0) * max(w, 0)
    union = (a[1] - a[0]) * (a[3] - a[2]) + (b[1] - b[0]) * (b[3] - b[2]) - common
    return common > 0.5 * union


def _disagreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(fraction of a's hair that b confirms, fraction of the canvas where they differ)``."""
    a, b = a > 0.5, b > 0.5
    n = np.count_nonzero(a)
    confirmed = 1.0 if n == 0 else np.count_nonzero(a & b) / n
    return confirmed, np.count_nonzero(a ^ b) / a.size


class SegmenterSession(Closeable):
    """Masks for consecutive video frames, feeding each mask back as the next prior
    (through the :data:`PRIOR_RAMP` smoothstep).

    The prior is dropped (a fresh start, as for the first frame) when:

    * **scene cut**: the mean absolute difference between 16x16 grey thumbnails of
      this and the previous frame exceeds ``cut_threshold`` (on a 0-1 scale), or the
      frame size changes;
    * **prior clearly wrong**: the network, given the prior, confirms less than
      ``confirm`` of the prior's hair (it rejected most of it) while the prior and the
      new mask differ on more than ``min_area`` of the canvas; or a second prediction
      made *without* the prior confirms less than ``confirm`` of the prediction made
      with it, again over more than ``min_area`` of the canvas (the prior would
      otherwise keep propagating a mistake). The frame is then re-run without the
      prior and that result is used.

      The second prediction is made for a frame whose thumbnail changed by more than
      ``recheck_threshold`` (but not enough for a cut): a jump cut inside one shot,
      where the same person, framed a little differently, moves the thumbnail by about
      0.03-0.08, or a fast movement. The consecutive frames of the eight test clips
      change it by 0.016 at the 99th percentile; 7 of their 4,154 frames (a hand waved
      in front of the face) are re-checked, and none reset. Without it, a misplaced
      prior after such a cut could hold part of the face for over a second (50 frames
      of a spliced test clip with the small preset; ``examples/VIDEO_REPORT.md``).
      ``recheck_threshold=1`` turns it off (and the look at the whole frame outside a view,
      below).

      The second prediction is also made every ``check_every`` frames; that costs
      one extra inference per ``check_every`` frames. It is
      off by default (``check_every=0``): with the shipped weights, at ``check_every=15``
      on the eight test clips (``hairfx evaluate --check-every 15``), it resets once with
      the small preset, four times with the full preset's ensemble and six times with the
      full network alone, on clips it leaves less steady (mean change 0.11% -> 0.18% with
      small; 0.31% -> 0.41% with the ensemble; 0.19% -> 0.25% and 0.43% -> 0.61% with the
      full network alone); with earlier weights and no prior ramp its resets, each a jump back
      to the prior-free mask, made the small model's masks less steady (mean change
      0.48% of full range without it, 0.60% with it, 0.59% with no prior).

    Both tests are on areas, not IoU alone, so small or thin hair regions (where IoU
    swings with a few pixels) do not cause resets, which would themselves flicker.
    :attr:`resets` counts the resets of either kind.

    **A head small in the frame** (``zoom=True``, the default): where a mask of the whole
    frame finds one (:func:`zoom_box`, as :meth:`Segmenter.predict` does), that frame is run
    again on the square around it, and the following frames on that square alone, its
    :attr:`view`: one pass a frame, seeing the head at the scale the networks learnt, the
    mask 0 outside the view. The view moves to the hair when the hair comes within
    :data:`ZOOM_EDGE` of its side (where that is not the frame's) or needs less than
    :data:`ZOOM_SHRINK` of it, and gives way to the whole frame when the hair is lost or
    spans much of the frame, at a cut, and at a re-check (``recheck_threshold``,
    ``check_every``; someone may have come into the frame). Someone who walks in changes no
    frame enough for a re-check, so the whole frame is also looked at (one more pass) when the
    part of its thumbnail wholly outside the view has changed by more than
    ``recheck_threshold`` since the frame was last seen whole; the view gives way if that
    finds hair outside it, and is kept as it was otherwise. While the frame's mask holds no
    hair (no pixel above 0.5) and there is no view, each frame is followed by one pass on the
    next of :func:`search_tiles`, in turn, as :meth:`Segmenter.predict` searches a photo: a
    head too small for a pass of the whole frame to find is found within as many frames as
    there are tiles (6 for 4:3 and 16:9, 9 for a square), and the square around it is the
    next frame's view. A weak find of the whole frame (nothing above 0.5) whose square holds
    no hair at the closer scale either does not become the view; the search goes on, and
    the same find in the next frames (its square overlapping by more than half) is not
    looked at again, so such a frame costs two passes. ``zoom=False``: the whole frame,
    every frame.

    A session is one stream's and is not pickled: a worker process is given the
    :class:`Segmenter`, which pickles, and opens a session of its own.

    >>> with get_segmenter("small").session() as sess:
    ...     masks = [sess.process(f) for f in frames]  # doctest: +SKIP
    """

    _not_pickled = ("it holds one video stream's state (the previous mask, the view); send its Segmenter, which "
                    "pickles, and open a session in each process with segmenter.session()")

    def __init__(
        self,
        segmenter: Segmenter,
        *,
        cut_threshold: float = 0.12,
        confirm: float = 0.3,
        min_area: float = 0.02,
        check_every: int = 0,
        recheck_threshold: float = 0.03,
        zoom: bool = True,
    ):
        self.segmenter = segmenter
        self.zoom = flag(zoom, "zoom")
        self.cut_threshold = number(cut_threshold, "cut_threshold", lo=0, hi=1)
        self.confirm = number(confirm, "confirm", lo=0, hi=1)
        self.min_area = number(min_area, "min_area", lo=0, hi=1)
        self.check_every = number(check_every, "check_every", lo=0, integer=True)
        self.recheck_threshold = number(recheck_threshold, "recheck_threshold", lo=0, hi=1)
        self.resets = 0
        # one stream: a second thread's frame in the middle of one is refused, and reset()
        # or close() waits for it
        self._guard = StreamGuard("SegmenterSession", "this SegmenterSession is closed")
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: the next frame starts with an empty prior."""
        with self._guard.between_frames():
            self._forget()

    def _forget(self) -> None:
        self._prior: np.ndarray | None = None
        self._view: tuple[int, int, int, int] | None = None  # the part of the frame the prior is of
        self._thumb: np.ndarray | None = None
        self._seen: np.ndarray | None = None  # the thumbnail of the frame last seen whole
        self._shape: tuple[int, int] | None = None
        self._count = 0
        self._searched = 0  # search_tiles looked at while the frame holds no hair
        self._empty: tuple[int, int, int, int] | None = None  # a weak find's square the second look found no hair in

    @property
    def previous_mask_canvas(self) -> np.ndarray | None:
        """The prior the next frame will get (the last mask through :data:`PRIOR_RAMP`), in
        the network's letterboxed canvas (:func:`canvas_layout`) of :attr:`view`, or None."""
        return self._prior

    @property
    def view(self) -> tuple[int, int, int, int] | None:
        """``(top, bottom, left, right)`` of the part of the frame the next frame's network
        pass will see (the zoom), or None for the whole frame."""
        return self._view

    def process(self, frame) -> np.ndarray:
        """The ``H x W`` float32 hair mask of the next ``frame`` of the stream. A frame
        given while another thread's is in hand raises :class:`~hairfx.errors.InputError`:
        the two streams' previous masks would cross."""
        with self._guard.frame():
            return self._process(frame)

    def _process(self, frame) -> np.ndarray:
        seg = self.segmenter
        frame = seg._check_frame(frame)
        shape = frame.shape[:2]
        thumb = _thumb(frame)
        prior, view = self._prior, self._view
        change = 0.0 if prior is None else float(np.abs(thumb - self._thumb).mean())
        if prior is not None and (shape != self._shape or change > self.cut_threshold):
            prior = view = self._empty = None
            self.resets += 1
            self._count = 0  # the periodic check counts from the new scene
        check = False
        if prior is not None:
            self._count += 1
            check = change > self.recheck_threshold or (self.check_every > 0 and self._count % self.check_every == 0)
            if check and view is not None:  # a re-check sees the whole frame: someone may have come into it
                prior, view = self._moved(prior, view, None, shape), None
        resets = self.resets
        if view is not None and self._changed_outside(thumb, view, shape):
            # the frame outside the view has changed since it was last seen: someone may have come
            # in. The whole frame is looked at, and the view kept unless hair is found outside it.
            whole = self._moved(prior, view, None, shape)
            self._seen = thumb
            canvas, part = self._pass(frame, None, whole)
            if self.resets != resets or _outside(part > ZOOM_FIND, view).any():
                prior, view = whole, None
            else:
                canvas, part = self._pass(frame, view, prior)
        else:
            if view is None:
                self._seen = thumb
            canvas, part = self._pass(frame, view, prior, check)
        if self.resets != resets:  # the prior was wrong: the frame's mask is the one made without it
            prior = None
        if view is None:
            mask, box = part, zoom_box(part) if self.zoom else None
            if box is not None and not _holds_hair(part) and self._empty is not None and _same_place(box, self._empty):
                box = None  # the weak find the last frame's second look found no hair in: not looked at again
            if box is not None:  # a head small in the frame: looked at again, as predict() does
                looked, seen = self._pass(frame, box, None if prior is None else self._moved(prior, None, box, shape))
                if _holds_hair(seen) or _holds_hair(part):
                    view, canvas, part, mask = box, looked, seen, _placed(seen, shape, box)
                    self._empty = None
                else:  # a weak find holding no hair at that scale either: the frame is searched, as predict() does
                    mask, self._empty = _placed(seen, shape, box), box
            next_view = view
            if self.zoom and view is None and not _holds_hair(mask):
                next_view = self._search_step(frame)
        else:
            mask = _placed(part, shape, view)
            found = part > ZOOM_FIND
            box = _zoom_box(found, view, shape)
            # the hair has reached the view's edge, or left most of it: the view follows it
            grown = box is None or _reaches_edge(found, view, shape)
            shrunk = box is not None and max(box[1] - box[0], box[3] - box[2]) < ZOOM_SHRINK * max(
                view[1] - view[0], view[3] - view[2])
            next_view = box if grown or shrunk else view
        if next_view == view:
            self._prior = apply_ramp(canvas, _PRIOR_TABLE)
        else:  # this frame's mask, as the next frame's view sees it
            self._prior = seg._prior_to_canvas(_cut(apply_ramp(mask, _PRIOR_TABLE), next_view))
        self._view, self._thumb, self._shape = next_view, thumb, shape
        return mask

    def _pass(self, frame: np.ndarray, view, prior: np.ndarray | None, check: bool = False):
        """``(canvas probability, mask)`` of the network on ``view`` of ``frame`` (None: all of
        it) with ``prior`` (that view's canvas, or None), with the wrong-prior tests."""
        seg = self.segmenter
        crop = _cut(frame, view)
        canvas, part = seg._infer(crop, prior, keep_canvas=True)
        if prior is None:
            return canvas, part
        confirmed, differ = _disagreement(prior, canvas)
        wrong = confirmed < self.confirm and differ > self.min_area
        if wrong:
            canvas, part = seg._infer(crop, None, keep_canvas=True)
        elif check:
            free_canvas, free_part = seg._infer(crop, None, keep_canvas=True)
            confirmed, differ = _disagreement(canvas, free_canvas)
            wrong = confirmed < self.confirm and differ > self.min_area
            if wrong:
                canvas, part = free_canvas, free_part
        if wrong:
            self.resets += 1
        return canvas, part

    def _search_step(self, frame: np.ndarray) -> tuple[int, int, int, int] | None:
        """The next of :func:`search_tiles` in turn, one a frame while the whole frame holds no
        hair: the view of the strongest hair it finds (:func:`_strongest_box`), or None."""
        shape = frame.shape[:2]
        tiles = search_tiles(*shape)
        tile = tiles[self._searched % len(tiles)]
        self._searched += 1
        return _strongest_box(self.segmenter._infer(_cut(frame, tile), None)[1], tile, shape)

    def _changed_outside(self, thumb: np.ndarray, view, shape: tuple[int, int]) -> bool:
        """Whether the cells of the frame's thumbnail ``thumb`` that lie wholly outside ``view``
        differ from those of the frame last seen whole by more than ``recheck_threshold`` on
        average."""
        h, w = shape
        i = np.arange(_THUMB)
        rows = (i * h < view[1] * _THUMB) & ((i + 1) * h > view[0] * _THUMB)
        cols = (i * w < view[3] * _THUMB) & ((i + 1) * w > view[2] * _THUMB)
        outside = ~(rows[:, None] & cols[None, :])
        return bool(outside.any()) and float(np.abs(thumb - self._seen)[outside].mean()) > self.recheck_threshold

    def _moved(self, prior: np.ndarray, old, new, shape: tuple[int, int]) -> np.ndarray:
        """``prior``, the canvas of view ``old`` of a frame of ``shape``, as the canvas of view ``new``."""
        seg = self.segmenter
        seen = seg._canvas_to_frame(prior, *(shape if old is None else (old[1] - old[0], old[3] - old[2])))
        return seg._prior_to_canvas(_cut(seen if old is None else _placed(seen, shape, old), new))

    def close(self) -> None:
        """Forget the stream; frames are refused afterwards. From another thread, it waits
        for the frame in hand."""
        with self._guard.closing():
            self._forget()


def _shared_segmenter(name: str, ensemble: bool) -> Segmenter:
    """:func:`get_segmenter`'s shared segmenter, where one is unpickled."""
    return get_segmenter(name, ensemble=ensemble)


def _remade_segmenter(name: str, options: dict) -> Segmenter:
    """A :class:`Segmenter` unpickled: made again from its preset and the options it was made with."""
    return Segmenter(name, **options)


_CACHE: dict[tuple[str, bool], Segmenter] = {}
#: One lock per preset and mode: threads asking for one at once load it once and all get
#: that instance, while one already loaded is handed out without waiting for another's
#: load. The ensemble's lock is taken before its networks' (never the other way round).
_LOCKS = {(name, ensemble): threading.Lock() for name in MODEL_NAMES for ensemble in (False, True)}


def _ensemble_of(network: Segmenter, partner: Segmenter) -> Segmenter:
    """The ensemble of ``network`` (the full preset's network alone) and ``partner``, made
    of both: it shares their weights, runtime sessions and idle canvases, so a process
    using the presets and the ensemble together holds each network once."""
    seg = copy.copy(network)
    seg._partner = partner
    return seg


def get_segmenter(name: str = "small", *, ensemble: bool | None = None) -> Segmenter:
    """The shared :class:`Segmenter` for preset ``name`` (weights are loaded once, even
    when several threads ask for it at the same time). It may be used from any thread.
    ``ensemble`` is :class:`Segmenter`'s: the full preset's ensemble by default, and
    ``get_segmenter("full", ensemble=False)`` the shared full network alone. The shared
    ensemble is made of the shared full and small segmenters, so it loads no network
    of its own.

    Unknown names raise :class:`~hairfx.errors.InputError` listing the valid ones.
    """
    check_model_name(name)
    key = name, resolve_ensemble(name, ensemble)
    seg = _CACHE.get(key)
    if seg is None:
        with _LOCKS[key]:
            seg = _CACHE.get(key)
            if seg is None:
                if key[1]:
                    seg = _ensemble_of(get_segmenter(name, ensemble=False), get_segmenter(ENSEMBLE_PARTNER))
                else:
                    seg = Segmenter(name, ensemble=False)
                seg._shared = key  # pickled as this key: unpickled, the other process's shared one
                _CACHE[key] = seg
    return seg
