"""Live hair recolouring from a webcam or a video file, with hairfx.

    python examples/webcam_recolor.py                         # camera 0, in a window
    python examples/webcam_recolor.py --camera 1 --color platinum
    python examples/webcam_recolor.py --input clip.mp4        # a file, played at its frame rate
    python examples/webcam_recolor.py --input clip.mp4 --output out.mp4 --frames 60   # no window
    python examples/webcam_recolor.py --input clip.mp4 --bench --size 1280x720        # speed figures

Keys in the window:
    c / x      next / previous colour          + / -   strength up / down
    m          mask view                       b       side by side (original | recoloured)
    o          effect off (original feed)      s       save a snapshot (PNG)
    q / Esc    quit

Capture runs on its own thread. From a camera only the latest frame is kept, so one slow
frame never builds a backlog; from a file in headless or bench mode every frame is
processed in order. The overlay shows frames per second and the milliseconds of each
stage: capture (decode + colour conversion, on the capture thread), mask (the hair-mask
model, fed its previous mask), render (the LUT recolouring) and display (composing the
picture shown or written).
"""

from __future__ import annotations

import os
import signal
import sys

if __name__ == "__main__":
    # Ctrl-C before the run (the imports below take a moment) or after it: nothing to clean
    # up, so the one line and the status main() gives an interrupted run, not a traceback from
    # inside whichever module was loading. main() makes Ctrl-C raise KeyboardInterrupt in between.
    def _interrupted(signum, frame):
        os.write(2, os.fsencode(os.path.basename(sys.argv[0])) + b": interrupted\n")
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, _interrupted)

import argparse
import math
import queue
import threading
import time
from pathlib import Path

os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # OpenCV's own camera-probing chatter
# FFmpeg's lines inside OpenCV ("[mov,mp4 @ 0x..] moov atom not found"): the error says it
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# Mesa's "libEGL warning: egl: failed to create dri2 screen" where OpenGL cannot start:
# hairfx's own line says so, and what to do
os.environ.setdefault("EGL_LOG_LEVEL", "fatal")

import cv2
import numpy as np

# pip's OpenCV points Qt at a font folder it does not ship (set when cv2 is imported), and Qt
# then warns on every window: use the system's fonts instead when that folder is missing.
if not os.path.isdir(os.environ.get("QT_QPA_FONTDIR", "/")):
    for _fonts in ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts"):
        if os.path.isdir(_fonts):
            os.environ["QT_QPA_FONTDIR"] = _fonts
            break

import hairfx
from hairfx._files import opencv_readable, path_argument
from hairfx._text import counted
from hairfx.cli import ArgumentParser, print_names_as_given, smoothing_argument, strength_argument
from hairfx.errors import InputError, run_main
from hairfx.frames import MAX_SIDE
from hairfx.imagefiles import imwrite_any
from hairfx.presets import MODEL_NAMES, add_ensemble_argument, add_zoom_argument, ensemble_from_args
from hairfx.recolor import DEFAULT_SMOOTHING, RENDERERS
from hairfx.segmenter import MIN_SIDE

MODES = ("effect", "mask", "side", "off")
WINDOW = "hairfx"
ESC_KEYSYM = 0xFF1B  # Esc as cv2.waitKeyEx() gives it on X11 (GTK, and Qt for a key that types no character)
#: A camera that delivers nothing for this long is treated as gone.
CAMERA_TIMEOUT_S = 3.0
CAMERA_START_S = 10.0  # the first frame of a camera that is waking up
CAMERA_INDEX_MAX = 2**31 - 1
CAMERA_SIZE = (1280, 720)  # asked of a camera unless --size says
#: cv2.cvtColor codes to RGB by the number of channels of an 8-bit frame as a driver delivers
#: it: BGR, grayscale (H x W, or H x W x 1; infrared and monochrome cameras) or BGRA.
TO_RGB = {3: cv2.COLOR_BGR2RGB, 1: cv2.COLOR_GRAY2RGB, 4: cv2.COLOR_BGRA2RGB}


def one_line(exc: BaseException) -> str:
    """``"cv2.error: OpenCV(...) ... in function 'cvtColor'"``: an exception in one line."""
    kind = type(exc).__qualname__
    if type(exc).__module__ != "builtins":
        kind = f"{type(exc).__module__}.{kind}"
    text = " ".join(str(exc).split())
    return f"{kind}: {text}" if text else kind


class Capture:
    """Reads frames on a background thread.

    ``latest=True`` keeps only the newest frame (a live camera: never fall behind);
    ``latest=False`` hands over every frame in order (a file processed offline).
    ``pace=True`` plays a file as a player does, each frame at its time in the file (a
    variable-rate clip too). ``size`` resizes frames to ``(w, h)``.

    A camera is read from the moment it is opened: it is live, and wakes up meanwhile. A
    file is read, and its clock started, at :meth:`start` or the first :meth:`get`, so that
    opening it before the slow set-up (the window check, the model's load) skips none of it.
    """

    def __init__(self, source, *, latest: bool, pace: bool = False, size=None, camera_size=None):
        self.is_camera = isinstance(source, int)
        self.info = None  # a file's VideoInfo
        if self.is_camera:
            cap = cv2.VideoCapture(source)
            if not cap.isOpened():
                raise hairfx.CameraError(
                    f"could not open camera {source}: no such camera, or another program is using it "
                    "(try another index with --camera, or a file with --input)"
                )
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            if camera_size is not None:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, camera_size[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, camera_size[1])
        else:
            from hairfx.video import probe

            # a folder, a still image, a file with no pictures or cut before its index:
            # refused with the reason, as `hairfx video` does; its exact rate, sound and count
            self.info = probe(source)
            with opencv_readable(self.info.path) as name:  # OpenCV crashes on a name that is not UTF-8
                cap = cv2.VideoCapture(name)
            if not cap.isOpened():
                raise hairfx.CameraError(f"could not open {source!r} as a video")
        self.source = source
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        self._cap = cap
        self._size = size
        self._latest = latest
        self._pace = pace and not self.is_camera
        self._queue: queue.Queue = queue.Queue(maxsize=1 if latest else 4)
        self._stop = threading.Event()
        self.error: str | None = None
        self.decoded = 0  # frames read so far (a window shows only some of a file's when it falls behind)
        self.capture_ms = 0.0
        self._last_item = time.perf_counter()  # when get() last had a frame (or the start)
        self._since = 0.0  # frames that came before this time are not handed out (skip_to_now)
        self._had_frame = False
        self._thread = threading.Thread(target=self._run, name="hairfx-capture", daemon=True)
        if self.is_camera:
            self.start()

    def skip_to_now(self) -> None:
        """Hand out only frames that come from now on: a camera is read while the model loads,
        and the first frame shown should not be one of that time."""
        self._since = time.perf_counter()

    def start(self) -> None:
        """Begin reading (a second call does nothing)."""
        if self._thread.ident is None:
            self._last_item = time.perf_counter()  # a camera's wait for its first frame counts from here
            self._thread.start()

    def _put(self, item) -> None:
        if self._latest:
            try:
                self._queue.get_nowait()  # drop the frame nobody took yet
            except queue.Empty:
                pass
            self._queue.put_nowait(item)
            return
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        # The camera is released here, by the thread that reads it: close() may give up
        # waiting while a read() is stuck inside the driver, and releasing the device
        # under that read is undefined.
        try:
            self._read_loop()
        except Exception as exc:
            # A fault here rather than in the camera: its traceback is printed, and the main
            # thread still ends with an error, not as if the stream had ended.
            self.error = f"the capture thread failed: {one_line(exc)}"
            raise
        finally:
            self._cap.release()

    def _read(self):
        """``(frame, None, t)``; ``(None, None, t)`` where read() said no (the end of a file, a
        camera that has no frame yet); ``(None, why, t)`` where it raised or returned nothing.

        ``t`` is when the work on the frame began. A camera's read() first waits for the
        camera's next frame, a whole frame interval at its rate, so a camera is read as
        read() does it, grab() then retrieve() (the driver's decoding), and ``t`` is taken
        between the two; a file's read() decodes from its start."""
        t = time.perf_counter()
        try:
            if self.is_camera:
                ok = self._cap.grab()
                t = time.perf_counter()
                ok, frame = self._cap.retrieve() if ok else (False, None)
            else:
                ok, frame = self._cap.read()
        except Exception as exc:  # cv2.error from some drivers when a USB camera is unplugged
            return None, f"read() raised {one_line(exc)}", t
        if not ok:
            return None, None, t
        if frame is None or frame.size == 0:
            return None, "read() returned an empty frame", t
        return frame, None, t

    def _read_loop(self) -> None:
        period = 1.0 / self.fps
        clock = time.perf_counter()  # when the file's time 0 is played
        shown = -period  # the time in the file of the last frame played
        last_ok = time.perf_counter()
        started = False  # a camera waking up gets CAMERA_START_S for its first frame
        n = 0
        while not self._stop.is_set():
            bgr, why, t0 = self._read()
            if bgr is None:
                if not self.is_camera:  # a file: no retries
                    if why is not None:
                        self.error = f"could not decode {self.source!r} after {counted(n, 'frame')}: {why}"
                    break  # else the end of the file
                # A camera that fails, however it fails, is retried for as long as one whose
                # read() says no: one bad read is not the end of a live session.
                if time.perf_counter() - last_ok > (CAMERA_TIMEOUT_S if started else CAMERA_START_S):
                    cause = f": {why}" if why else ""
                    self.error = (
                        f"camera {self.source} stopped delivering frames{cause} "
                        "(unplugged or taken by another program?)"
                        if started else
                        f"camera {self.source} delivered no frame in the {CAMERA_START_S:g} s after it was opened"
                        f"{cause} (taken by another program, or not a camera that streams?)"
                    )
                    break
                time.sleep(0.01)
                continue
            last_ok, started = time.perf_counter(), True
            channels = bgr.shape[2] if bgr.ndim == 3 else 1 if bgr.ndim == 2 else 0
            code = TO_RGB.get(channels) if bgr.dtype == np.uint8 else None
            if code is None:  # 16-bit depth or infrared, raw YUYV: no picture to recolour
                what = f"camera {self.source}" if self.is_camera else repr(self.source)
                self.error = (
                    f"{what} delivered a frame of shape {bgr.shape} {bgr.dtype}; expected 8-bit BGR, BGRA or "
                    "grayscale (H x W x 3, H x W x 4, or H x W)"
                )
                break
            n += 1
            self.decoded = n
            if self._size is not None and (bgr.shape[1], bgr.shape[0]) != self._size:
                bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)
            rgb = cv2.cvtColor(bgr, code)
            if self.info is not None:  # a file: in the colours a player shows it (an untagged HD video's BT.709)
                rgb = self.info.as_shown(rgb)
            self.capture_ms = (time.perf_counter() - t0) * 1000.0
            if self._pace:
                # each frame at its own time: a phone's variable-rate clip (15 fps in the dark,
                # 30 in daylight) played at one rate ran its slow stretches fast, its fast ones slow
                at = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                shown = at if math.isfinite(at) and at > shown else shown + period
                delay = clock + shown - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:  # fallen behind: played on from this frame
                    clock = time.perf_counter() - shown
            self._put((rgb, self.capture_ms, t0))
        self._put(None)

    def get(self):
        """``(rgb_frame, capture_ms)``, or ``None`` at the end of a file. Raises
        :class:`hairfx.CameraError` when the camera went away or the file could not be read."""
        self.start()
        while True:
            try:
                item = self._queue.get(timeout=min(0.5, CAMERA_TIMEOUT_S))
            except queue.Empty:
                if self.error is not None:
                    raise hairfx.CameraError(self.error) from None
                if not self._thread.is_alive():
                    return None
                # read() itself may hang (some drivers block instead of failing). Twice the
                # reader's own timeout, so a read that fails is reported by the reader first;
                # a camera waking up gets longer for its first frame.
                limit = 2 * CAMERA_TIMEOUT_S + (0.0 if self._had_frame else CAMERA_START_S)
                if self.is_camera and time.perf_counter() - self._last_item > limit:
                    raise hairfx.CameraError(
                        f"camera {self.source} delivered no frame for {limit:g} s "
                        "(unplugged, or taken by another program?)"
                    ) from None
                continue
            if item is None and self.error is not None:
                raise hairfx.CameraError(self.error)
            if item is not None and item[2] < self._since:  # came before skip_to_now()
                continue
            self._last_item, self._had_frame = time.perf_counter(), True
            return item if item is None else item[:2]

    def close(self) -> None:
        """Stop reading. The reading thread releases the camera when its current read()
        returns; a read stuck in the driver is not waited for beyond two seconds."""
        self._stop.set()
        if self._thread.ident is None:  # never started: nothing reads the file
            self._cap.release()
            return
        self._thread.join(timeout=2.0)


class Stats:
    """Exponential moving averages of the frame rate and stage times (milliseconds)."""

    def __init__(self, alpha: float = 0.1):
        self.alpha = alpha
        self.ms: dict[str, float] = {}
        self.fps = 0.0
        self._last: float | None = None
        self.totals: dict[str, float] = {}
        self.frames = 0

    def add(self, **stages: float) -> None:
        now = time.perf_counter()
        if self._last is not None:
            inst = 1.0 / max(now - self._last, 1e-6)
            self.fps = inst if self.fps == 0 else self.fps + self.alpha * (inst - self.fps)
        self._last = now
        self.frames += 1
        for k, v in stages.items():
            self.ms[k] = v if k not in self.ms else self.ms[k] + self.alpha * (v - self.ms[k])
            self.totals[k] = self.totals.get(k, 0.0) + v


def mask_view(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The frame dimmed, with the hair mask in green."""
    out = (frame >> 1).astype(np.uint8)
    g = out[:, :, 1].astype(np.float32) + mask * 160.0
    out[:, :, 1] = np.minimum(g, 255.0).astype(np.uint8)
    return out


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Both frames at half size next to each other, on a canvas of the frame's size."""
    h, w = left.shape[:2]
    hw, hh = w // 2, h // 2
    canvas = np.zeros_like(left)
    y = (h - hh) // 2
    canvas[y : y + hh, :hw] = cv2.resize(left, (hw, hh), interpolation=cv2.INTER_AREA)
    canvas[y : y + hh, hw : 2 * hw] = cv2.resize(right, (hw, hh), interpolation=cv2.INTER_AREA)
    return canvas


def fps_text(fps: float) -> str:
    """The frame rate as the overlay shows it: none before one is known (the first two frames,
    drawn before a frame time is taken; they had shown "0.0 FPS", as if the pipeline had stalled).

    >>> [fps_text(f) for f in (0.0, 29.96, 7.25)]
    ['  --- FPS', ' 30.0 FPS', '  7.2 FPS']
    """
    return f"{fps:5.1f} FPS" if fps > 0 else "  --- FPS"


def strength_text(strength: float) -> str:
    """The strength as the overlay shows it, to the hundredth that --strength and the keys set
    (keys step by 0.1 from any start), with one decimal at least.

    >>> [strength_text(s) for s in (1.0, 0.7, 0.25, 0.04)]
    ['1.0', '0.7', '0.25', '0.04']
    """
    text = f"{strength:.2f}"
    return text[:-1] if text.endswith("0") else text


def draw_overlay(bgr: np.ndarray, lines: list[str]) -> None:
    """White text on a darkened panel in the top-left corner, scaled down until the longest
    line fits the frame (a text outline drawn thicker does not line up with the text in
    every OpenCV release; a panel reads the same everywhere)."""
    if not lines:
        return
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.6
    h, w = bgr.shape[:2]

    def width(text: str) -> int:
        return cv2.getTextSize(text, font, scale, 1)[0][0]

    scale = max(0.4, min(scale, scale * (w - 20) / max(max(map(width, lines)), 1)))
    fitted: list[str] = []
    for text in lines:  # still too wide at the smallest readable size: wrap at spaces
        if width(text) <= w - 20:
            fitted.append(text)
            continue
        words = text.split()
        line = words[0] if words else ""
        for word in words[1:]:
            if width(f"{line} {word}") > w - 20:
                fitted.append(line)
                line = word
            else:
                line = f"{line} {word}"
        fitted.append(line)
    lines = fitted
    (_, th), base = cv2.getTextSize("Hg", font, scale, 1)
    step = th + base + 6
    pw = min(w, max(map(width, lines)) + 20)
    ph = min(h, step * len(lines) + 8)
    bgr[:ph, :pw] = (bgr[:ph, :pw] >> 2) + (bgr[:ph, :pw] >> 3)  # about 40 % brightness
    y = 4 + th + 2
    for text in lines:
        cv2.putText(bgr, text, (10, y), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
        y += step


class App:
    def __init__(self, args, palette: list[str]):
        self.args = args
        self.palette = palette
        self.color_index = palette.index(args.color) if args.color in palette else 0
        args.color = palette[self.color_index] if args.color is None else args.color
        self.mode = "effect"
        self.session = hairfx.RecolorSession(
            args.color, strength=args.strength, renderer=args.renderer, model=args.model, smoothing=args.smoothing,
            ensemble=args.ensemble, zoom=args.zoom,
        )
        self.stats = Stats()
        self.last_picture: np.ndarray | None = None
        self.broken: set[str] = set()  # colours that failed to load, skipped by c / x

    def warm_up(self, size: tuple[int, int]) -> None:
        """Load the hair model and make the renderer's resources on a blank frame of ``size``
        (w, h), then forget it: done on the first frame shown, it held that picture for as
        long, and a file's clock ran on meanwhile."""
        w, h = size
        self.session.process(np.full((max(h, MIN_SIDE), max(w, MIN_SIDE), 3), 128, np.uint8))
        self.session.reset()

    def step(self, frame: np.ndarray, capture_ms: float, *, overlay: bool) -> np.ndarray:
        """Mask, recolour and compose one frame; returns the BGR picture to show or write."""
        t0 = time.perf_counter()
        mask = self.session.mask(frame) if self.mode != "off" else None
        t1 = time.perf_counter()
        out = self.session.process(frame, mask=mask) if mask is not None else frame
        t2 = time.perf_counter()
        if self.mode == "mask":
            shown = mask_view(frame, mask)
        elif self.mode == "side":
            shown = side_by_side(frame, out)
        else:
            shown = out
        bgr = cv2.cvtColor(shown, cv2.COLOR_RGB2BGR)
        self.last_picture = bgr.copy() if overlay else bgr  # what a snapshot saves: no figures on it
        if overlay:
            s, ms = self.stats, self.stats.ms
            draw_overlay(
                bgr,
                [
                    f"{fps_text(s.fps)}  {self.session.color.display_name}  "
                    f"strength {strength_text(self.session.strength)}  view {self.mode}",
                    f"capture {ms.get('capture', 0):.1f}  mask {ms.get('mask', 0):.1f}  "
                    f"render {ms.get('render', 0):.1f}  display {ms.get('display', 0):.1f} ms",
                ],
            )
        t3 = time.perf_counter()
        self.stats.add(
            capture=capture_ms, mask=(t1 - t0) * 1e3, render=(t2 - t1) * 1e3, display=(t3 - t2) * 1e3
        )
        return bgr

    def key(self, k: int) -> bool:
        """Handle a key press; returns False to quit."""
        if k in (ord("q"), 27):
            return False
        if k in (ord("c"), ord("x")):
            self.next_color(1 if k == ord("c") else -1)
        elif k in (ord("+"), ord("=")):
            self.session.strength = min(1.0, round(self.session.strength + 0.1, 2))
        elif k in (ord("-"), ord("_")):
            self.session.strength = max(0.0, round(self.session.strength - 0.1, 2))
        elif k == ord("m"):
            self.mode = "effect" if self.mode == "mask" else "mask"
        elif k == ord("b"):
            self.mode = "effect" if self.mode == "side" else "side"
        elif k == ord("o"):
            self.mode = "effect" if self.mode == "off" else "off"
        elif k == ord("s") and self.last_picture is not None:
            self.snapshot()
        return True

    def next_color(self, step: int) -> None:
        """Go ``step`` (1 or -1) along the palette to the next colour that loads. A colour
        folder that cannot be loaded (a malformed color.json or .cube, mismatched LUT
        sizes) is reported once and skipped: the session goes on with the colours that work."""
        n = len(self.palette)
        for k in range(1, n):
            i = (self.color_index + step * k) % n
            name = self.palette[i]
            if name in self.broken:
                continue
            try:
                self.session.color = name
            except hairfx.HairfxError as exc:
                self.broken.add(name)
                print(f"skipping colour {name!r}: {exc}", file=sys.stderr)
                continue
            self.color_index = i
            return

    def snapshot(self) -> Path | None:
        """Save the last picture, without the figures drawn over it, as a PNG in
        --snapshot-dir. A folder that cannot be written is reported, and the session goes on."""
        folder = Path(self.args.snapshot_dir)
        stem = time.strftime("hairfx_snapshot_%Y%m%d_%H%M%S")
        path, n = folder / f"{stem}.png", 1
        while path.exists():  # several snapshots within one second
            n += 1
            path = folder / f"{stem}_{n}.png"
        try:  # written whole, and under any folder name (cv2.imwrite crashes on one that is not UTF-8)
            imwrite_any(path, self.last_picture)
        except InputError as exc:  # "could not write PATH: reason"
            print(f"snapshot not saved: {exc}", file=sys.stderr)
            return None
        print(f"saved {path}")
        return path

    def close(self) -> None:
        self.session.close()


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1280x720, got {text!r}") from None
    if min(w, h) < MIN_SIDE:  # 0, negative, or too small for the hair model
        raise argparse.ArgumentTypeError(f"size must be at least {MIN_SIDE}x{MIN_SIDE}, got {text!r}")
    if max(w, h) > MAX_SIDE:  # else the capture thread failed to allocate the frame, with a traceback
        raise argparse.ArgumentTypeError(f"size must be at most {MAX_SIDE} px a side, got {text!r}")
    return w, h


def parse_args(argv):
    p = ArgumentParser(description="Live hair recolouring from a webcam or a video file.")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, default=0, help="camera index (default 0)")
    src.add_argument("--input", "-i", type=path_argument, help="a video file instead of a camera")
    p.add_argument("--output", "-o", type=path_argument,
                   help="headless: write the recoloured frames to this video file (no window)")
    p.add_argument("--frames", type=int, help="stop after N frames")
    p.add_argument("--bench", action="store_true", help="headless speed run over --input; prints per-stage figures")
    p.add_argument("--size", type=_size, help="resize frames to WIDTHxHEIGHT (a camera is asked for this size)")
    p.add_argument("--color", "-c", help="starting colour (default: copper, else the first of `hairfx colors`)")
    p.add_argument("--strength", type=strength_argument, default=1.0, help="0..1 (default 1)")
    p.add_argument("--renderer", choices=RENDERERS, default="auto")
    p.add_argument("--model", choices=MODEL_NAMES, default="small")
    add_ensemble_argument(p)
    add_zoom_argument(p)
    p.add_argument("--smoothing", type=smoothing_argument, default=DEFAULT_SMOOTHING,
                   help="intensity smoothing, weight of the past (0..<1; default "
                   f"{DEFAULT_SMOOTHING:g}; 0 is off)")
    p.add_argument("--overlay", action="store_true", help="headless: draw the FPS overlay into the output too")
    p.add_argument("--snapshot-dir", default=".", type=path_argument,
                   help="where the s key saves snapshots (default: here)")
    args = p.parse_args(argv)
    if (args.output or args.bench) and not args.input:
        p.error("--output and --bench need --input FILE")
    if args.frames is not None and args.frames < 1:
        p.error("--frames must be at least 1")
    if not 0 <= args.camera <= CAMERA_INDEX_MAX:  # OpenCV takes a C int: a larger one raised a cv2.error traceback
        p.error(f"--camera must be a camera index, 0 to {CAMERA_INDEX_MAX}, got {args.camera}")
    try:
        args.ensemble = ensemble_from_args(args)
    except InputError as exc:
        p.error(str(exc))
    paths = (args.input, args.output)
    if all(paths) and all(Path(p).exists() for p in paths) and os.path.samefile(*paths):
        p.error(f"--output {args.output} would overwrite the input")
    return args


def run_headless(app: App, cap: Capture, args) -> int:
    from hairfx.video import VideoWriter, frame_timing, shortfall

    writer = None
    source = cap.info  # the input file's exact rate, its sound, its frame count
    n = 0
    start = time.perf_counter()
    ok = False
    warm = not args.bench
    try:
        while args.frames is None or n < args.frames:
            item = cap.get()
            if item is None:
                break
            frame, capture_ms = item
            if not warm:  # --bench times the steady state: load the model and make the GL context first
                app.step(frame, capture_ms, overlay=True)
                app.session.reset()
                app.stats = Stats()
                start, warm = time.perf_counter(), True
            # --bench times the window's path, overlay included, but a file gets it only with --overlay
            bgr = app.step(frame, capture_ms, overlay=args.overlay or (args.bench and not args.output))
            if args.output:
                if writer is None:  # the file's exact rate (29.97 is 30000/1001, not 2997/100), and its sound
                    h, w = bgr.shape[:2]
                    # a variable-rate clip: each frame at its own time, as `hairfx video` writes it
                    times, end, audio_seconds = frame_timing(source, args.frames)
                    # the source's pixel shape, unless --size resized the frames to square pixels
                    sar = source.sample_aspect_ratio if args.size is None else None
                    writer = VideoWriter(args.output, width=w, height=h, fps=source.fps, audio_from=source,
                                         audio_seconds=audio_seconds, sample_aspect_ratio=sar, times=times, end=end)
                writer.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            n += 1
        ok = True
    finally:
        if writer is not None and ok:
            writer.close()
        elif writer is not None:
            writer.abort()  # nothing half-written on an error or Ctrl-C
    elapsed = time.perf_counter() - start
    if n == 0:
        raise hairfx.CameraError(f"no frames could be read from {args.input!r}")
    if args.bench:
        t = app.stats.totals
        h, w = frame.shape[:2]
        print(f"webcam path, {w}x{h}, {counted(n, 'frame')}, renderer {app.session.renderer.name}, "
              f"model {args.model}{' (ensemble)' if args.ensemble else ''}")
        print(f"  end to end     {n / elapsed:6.1f} FPS   ({elapsed / n * 1e3:5.1f} ms per frame)")
        for k in ("capture", "mask", "render", "display"):
            print(f"  {k:<14} {t[k] / n:6.1f} ms" + ("   (own thread, overlaps)" if k == "capture" else ""))
    if args.output:
        print(f"wrote {args.output}: {counted(n, 'frame')}")
        short = shortfall(source, n, name=args.input, limit=args.frames)  # fewer than asked and than stated
        if short:
            print(f"warning: {short}", file=sys.stderr)
    return 0


_WINDOW_PROBE = "import cv2; cv2.namedWindow('hairfx-probe'); cv2.waitKey(1); cv2.destroyAllWindows()"
_HEADLESS = "--output OUT.mp4 or --bench to run without a window"
#: A camera is shown only in a window: --output and --bench run on a file.
_HEADLESS_CAMERA = "--input FILE with --output OUT.mp4 or --bench to run on a video file without a window"

#: pip's OpenCV packages, with windows (Qt) and without ("headless"). Each installs the same
#: cv2 folder, so with one of each installed the files of the last one installed are used.
OPENCV_WINDOWED = ("opencv-python", "opencv-contrib-python")
OPENCV_HEADLESS = ("opencv-python-headless", "opencv-contrib-python-headless")


def no_window_support(error: str, instead: str = _HEADLESS) -> str | None:
    """Where ``error`` (what OpenCV said as a window failed to open) is that of an OpenCV
    built without windows: why, and the pip commands that give one with windows, or
    ``instead``, how to run without one; else None.
    A headless package installed beside the one with windows is the usual cause: its cv2
    replaced the other's, and uninstalling it leaves the shared files broken until the
    package with windows is installed again."""
    # OpenCV's highgui, built without a GUI backend, for every window function
    if "The function is not implemented" not in error:
        return None
    from importlib import metadata

    def installed(names):
        found = []
        for name in names:
            try:
                metadata.distribution(name)
            except metadata.PackageNotFoundError:
                continue
            found.append(name)
        return found

    headless, windowed = installed(OPENCV_HEADLESS), installed(OPENCV_WINDOWED)
    if not headless:  # a build of its own, or another package manager's
        return (f"this OpenCV ({cv2.__version__}) was built without windows; install one that has them "
                f"(pip install opencv-python), or use {instead}")
    reinstall = " ".join(windowed or ["opencv-python"])
    where = f" beside {' and '.join(windowed)}, whose cv2 it replaced" if windowed else ""
    return (f"this OpenCV has no windows: {' and '.join(headless)} is installed{where}; run "
            f"`pip uninstall {' '.join(headless)}` then `pip install --force-reinstall {reinstall}`, "
            f"or use {instead}")


def check_window(instead: str = _HEADLESS) -> None:
    """Raise a clear error if this process cannot open a window, saying ``instead``, how
    to run without one.

    OpenCV's GUI backend (Qt) aborts the whole process when there is no usable display,
    so opening a window is tried first in a short-lived child process.
    """
    import subprocess

    try:
        r = subprocess.run([sys.executable, "-c", _WINDOW_PROBE], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise hairfx.HairfxError("opening a window timed out (is the display responding?)") from None
    if r.returncode != 0:
        fix = no_window_support(r.stderr, instead)
        if fix is not None:
            raise hairfx.HairfxError(f"cannot open a window: {fix}")
        lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
        why = next((ln for ln in lines if "display" in ln.lower()), lines[-1] if lines else f"exit code {r.returncode}")
        display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        where = f"display {display!r}" if display else "no display (DISPLAY is not set)"
        raise hairfx.HairfxError(f"cannot open a window on {where}: {why}; use {instead}")


def run_window(app: App, cap: Capture, frames: int | None = None) -> int:
    cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    keys = (__doc__ or "").partition("Keys in the window:")[2].partition("Capture runs")[0].rstrip()
    if keys:  # python -OO strips the docstring that lists them
        print(keys)
    try:
        n = 0
        while frames is None or n < frames:
            item = cap.get()
            if item is None:  # the end of a file: a truncated one is said, as with --output
                from hairfx.video import shortfall

                short = shortfall(cap.info, cap.decoded, name=cap.source, limit=frames) if cap.info else None
                if short:
                    print(f"warning: {short}", file=sys.stderr)
                break
            n += 1
            frame, capture_ms = item
            picture = app.step(frame, capture_ms, overlay=True)
            if n == 1:  # Qt's windows open at 400x300 and shrink the picture to fit: its own size, once
                cv2.resizeWindow(WINDOW, picture.shape[1], picture.shape[0])
            cv2.imshow(WINDOW, picture)
            # waitKey() keeps the low byte of a key's code, and X11's codes (keysyms) for keys
            # that type nothing then read as letters: Insert (0xFF63) as c, the Search key as Esc
            k = cv2.waitKeyEx(1)
            k = 27 if k == ESC_KEYSYM else k
            if 0 <= k < 256 and not app.key(k):
                break
            try:
                closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
            except cv2.error:  # closed from the title bar: some backends (Qt) no longer know the window
                closed = True
            if closed:
                break
    finally:
        cv2.destroyAllWindows()
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    name = Path(sys.argv[0]).name if argv is None else "webcam_recolor"
    print_names_as_given()  # "wrote caf\xe9.mp4" as its bytes, not a UnicodeEncodeError
    # Ctrl-C, kill and a closed terminal stop the run with its clean-up (no half-written
    # video); a reader gone early (| head) is 141, with no traceback
    return run_main(name, lambda: _main(args), stopped=f"; nothing written to {args.output}" if args.output else "",
                    renderer_option="--renderer")


def _main(args) -> int:
    cap = app = None
    try:
        palette = hairfx.colors()
        if not palette:
            raise hairfx.HairfxError("no colours installed (see `hairfx colors`)")
        if args.color is None:
            args.color = "copper" if "copper" in palette else palette[0]
        elif args.color not in palette:
            hairfx.get_color(args.color)  # raises with the list of valid names for unknown names
            if args.color.lower() in palette:  # "Copper": the listed colour, not a second entry
                args.color = args.color.lower()
            else:  # a '#RRGGBB' or a colour folder's path: one more in the c / x cycle
                palette = palette + [args.color]
        headless = bool(args.output or args.bench)
        source = args.input if args.input else args.camera
        cap = Capture(
            source,
            latest=not headless,
            pace=not headless,
            size=args.size,
            camera_size=args.size or CAMERA_SIZE,
        )
        info = cap.info
        if info is not None and args.size is None and min(info.width, info.height) < MIN_SIDE:
            raise InputError(f"{args.input!r} is {info.width}x{info.height}, smaller than the {MIN_SIDE} px per side the "
                             "hair-mask model needs; give a larger --size")
        if not headless:
            # fail fast with a message; Qt itself would abort the process. A camera has no
            # run without a window: --output and --bench take a file
            check_window(_HEADLESS if args.input else _HEADLESS_CAMERA)
        app = App(args, palette)
        if not headless:  # the window's frames are shown as they come: everything loaded first
            app.warm_up(args.size or ((cap.info.width, cap.info.height) if cap.info else CAMERA_SIZE))
            cap.skip_to_now()  # a camera's frames from the load are not shown
        return run_headless(app, cap, args) if headless else run_window(app, cap, args.frames)
    finally:
        if cap is not None:
            cap.close()
        if app is not None:
            app.close()


if __name__ == "__main__":
    status = main()
    # The run is over and has said how it ended. A Ctrl-C from here on would only cut Python's
    # own exit short (its handlers are undone there): the process then ended by the signal,
    # status -2, not the status the line above it gave.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)
