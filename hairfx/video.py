"""Video files: reading, writing (with the source's audio), colour schedules and ombre.

* :class:`VideoReader` decodes a file into RGB frames (OpenCV); :func:`probe` reads its
  size, exact frame rate, frame count and whether it has audio (ffprobe when present).
* :class:`VideoWriter` pipes RGB frames into ``ffmpeg`` (H.264, every audio stream of the
  source copied with ``-c:a copy``; a variable-rate clip's frames each at its own time), or,
  when ffmpeg is absent, writes with ``cv2.VideoWriter`` without audio and warns once.
* :func:`parse_color_schedule` turns ``"copper:0-5,violet:5-"`` (seconds) into a
  :class:`ColorSchedule`. At each switch the new colour **cross-fades in over**
  :data:`FADE_SECONDS` **starting at the switch time**, so every frame before a switch is
  exactly the plain render of the old colour; ``fade=0`` gives a hard switch. Times no
  segment covers leave the hair unchanged (and fade to and from it the same way).
* :func:`ombre_weights` maps a hair mask to a roots-to-tips weight: 0 at the scalp line,
  1 at the tips. The scalp line is the top edge of the hair in each column (smoothed
  across columns), so the gradient follows the curve of the head instead of running
  straight across the frame; distances are measured downwards from it and divided by the
  height of the whole hair region. The ramp runs from :data:`OMBRE_START` to
  :data:`OMBRE_END` of that height with a smoothstep, so roots and tips keep their pure
  colours.

Both the cross-fade and the ombre render the frame once per colour with the engine's
renderer (same mask, same smoothed intensity) and mix the two results,
``a + t * (b - a)`` rounded to nearest, so the recolouring math stays the engine's and
pixels outside the mask are copied bit for bit.

:class:`VideoRecolorer` is the per-frame object behind ``hairfx video``;
:func:`recolor_video` runs it over a whole file.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
import operator
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

import numpy as np

from ._closeable import Closeable
from ._files import (
    Replacement, as_path, check_new_file, check_readable_file, opencv_name, opencv_readable, write_target
)
from ._options import number
from ._text import counted, frame_rate
from .colors import Color, get_color
from .errors import HairfxError, InputError
from .frames import GivenFrame, mask_bbox
from .recolor import DEFAULT_SMOOTHING, RecolorSession, _stream_not_pickled

__all__ = [
    "VideoInfo",
    "probe",
    "VideoReader",
    "read_frames",
    "shortfall",
    "VideoWriter",
    "FrameTiming",
    "frame_timing",
    "ColorSchedule",
    "parse_color_schedule",
    "parse_ombre",
    "ombre_weights",
    "mix",
    "VideoRecolorer",
    "recolor_video",
    "FADE_SECONDS",
    "OMBRE_START",
    "OMBRE_END",
]

#: ffmpeg's words for a file it could not finish although it exits 0 (FFmpeg 5 does so when
#: the trailer, an MP4's index, cannot be written).
_WRITE_FAILED = re.compile(
    r"Error writing trailer|No space left on device|Disk quota exceeded|File too large|Input/output error"
)

#: Length of the cross-fade at a colour switch, in seconds (starts at the switch time).
FADE_SECONDS = 0.25
#: Fractions of the hair height (from the scalp line) where the ombre ramp starts and ends.
OMBRE_START = 0.2
OMBRE_END = 0.8
#: Mask value above which a pixel counts as hair when finding the scalp line.
OMBRE_THRESHOLD = 0.5


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: ``fps`` is exact (``Fraction``), ``frames`` may be ``None``
    when it cannot be told, and is the container's own count when ``frames_stated``, else
    possibly an estimate from its duration (Matroska and WebM keep no count, and their
    duration is that of the longest stream, often the sound). Telling the two apart needs
    ffprobe: without it no count is taken as stated."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int | None
    has_audio: bool
    audio_codecs: tuple[str, ...] = ()  # ffprobe's name for each audio stream's codec, in order
    #: Seconds from the start of the file (its earliest stream) to the first picture:
    #: nonzero when the sound starts before the pictures. Frames are read from the first
    #: picture on, so the sound copied beside them is cut by as much to stay in sync.
    picture_start: float = 0.0
    frames_stated: bool = False
    #: The shape of one pixel as shown, width over height: 1 for square pixels (and when
    #: the file does not say), 4/3 for 1440x1080 shown at 16:9. It is that of the frames as
    #: read, which are turned upright by a rotation tag (90 degrees turns it over too).
    sample_aspect_ratio: Fraction = Fraction(1)
    #: ffprobe's name for the video's pixel format, e.g. "yuv420p10le"; "yuva420p" for VP8/VP9
    #: with alpha, which ffprobe names without it (see :attr:`alpha_decoder`)
    pixel_format: str | None = None
    #: The video stream's own length in seconds where the container keeps one but no frame
    #: count (Matroska and WebM written by FFmpeg or mkvmerge: the stream's DURATION tag),
    #: or a count that is not the frames shown (an MP4 cut without re-encoding: its edit
    #: list hides frames it counts); None otherwise. It lets a truncated file be told.
    video_seconds: float | None = None
    #: The FFmpeg decoder that sees the video's alpha channel where the default one does
    #: not: "libvpx-vp9" or "libvpx" for VP9 or VP8 with alpha (a WebM's alpha_mode tag).
    alpha_decoder: str | None = None
    #: What :func:`probe` learnt of the frames' timestamps, for :func:`frame_timing`: the
    #: :class:`_Timing` it read, False where there are no times to keep (an MP4 whose
    #: average rate is that of its timestamps' grid: evenly spaced; or timestamps that do not
    #: tell), None where it did not look (they are read when needed).
    _timing: "_Timing | bool | None" = field(default=None, repr=False, compare=False)
    #: ffprobe's name for the colour matrix the video states its YUV in ("bt709",
    #: "smpte170m", ...), None where it states none (or there is no ffprobe to ask).
    color_space: str | None = None

    @property
    def audio_codec(self) -> str | None:
        """ffprobe's name for the first audio stream's codec; None without audio (or ffprobe)."""
        return self.audio_codecs[0] if self.audio_codecs else None

    @property
    def duration(self) -> float | None:
        return None if self.frames is None else self.frames / float(self.fps)

    @property
    def shown_as_bt709(self) -> bool:
        """Whether players show this video's YUV with BT.709's matrix where it states none:
        an HD video (1280 wide or more than 576 lines, as mpv, VLC and browsers decide),
        whose YUV is not JPEG's (``yuvj``, BT.601 by definition). OpenCV and FFmpeg decode
        such a video with BT.601's matrix unless told; :meth:`as_shown` turns it."""
        fmt = self.pixel_format or ""
        yuv = fmt.startswith(("yuv", "nv12", "nv21", "p010", "p016")) and not fmt.startswith("yuvj")
        hd = max(self.width, self.height) >= 1280 or min(self.width, self.height) > 576
        return self.color_space is None and yuv and hd

    def as_shown(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb``, a frame of this video as OpenCV decodes it, in the colours players show:
        for a video :attr:`shown_as_bt709`, turned from BT.601's RGB to BT.709's (up to 10
        levels: a frame recoloured from BT.601's and written as BT.709 shifted colour
        everywhere, the hair's surroundings too); else ``rgb`` itself. A pixel with a channel
        at 0 or 255 is left as decoded: BT.601's decoding cut it there, which no matrix undoes
        (turned, a saturated green came out 35 levels off instead of 18)."""
        if not self.shown_as_bt709:
            return rgb
        import cv2

        out = cv2.transform(rgb, _BT601_TO_BT709_RGB)
        cut = cv2.inRange(rgb, (1, 1, 1), (254, 254, 254)) == 0
        np.copyto(out, rgb, where=cut[:, :, None])
        return out


def _ypbpr(kr: float, kb: float) -> np.ndarray:
    """RGB to Y'PbPr for a matrix's luma weights (ITU-R BT.601: 0.299, 0.114; BT.709: 0.2126,
    0.0722)."""
    kg = 1.0 - kr - kb
    return np.array([[kr, kg, kb],
                     [-0.5 * kr / (1 - kb), -0.5 * kg / (1 - kb), 0.5],
                     [0.5, -0.5 * kg / (1 - kr), -0.5 * kb / (1 - kr)]])


#: RGB decoded from YUV with BT.601's matrix to the RGB of the same YUV with BT.709's: both
#: are linear in the YUV, with the same ranges, so one 3x3 matrix takes one to the other.
_BT601_TO_BT709_RGB = (np.linalg.inv(_ypbpr(0.2126, 0.0722)) @ _ypbpr(0.299, 0.114)).astype(np.float32)


def _ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


def _ffprobe() -> str | None:
    return shutil.which("ffprobe")


def _fraction(text) -> Fraction | None:
    try:
        f = Fraction(text)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if f > 0 else None


_FFMPEG_RELEASE = re.compile(r"ffmpeg version n?(\d+)\.(\d+)")


def _ffmpeg_release(version_text: str) -> tuple[int, int] | None:
    """``(major, minor)`` from ``ffmpeg -version`` output ("ffmpeg version 4.4.2-0ubuntu0.22.04.1",
    "ffmpeg version n6.0"), or ``None`` when it names no release (git builds: "N-12345-g...").

    >>> _ffmpeg_release("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers")
    (5, 1)
    """
    m = _FFMPEG_RELEASE.match(version_text.strip())
    return None if m is None else (int(m.group(1)), int(m.group(2)))


def _passthrough_option(release: tuple[int, int] | None) -> list[str]:
    """The option that keeps the input's timestamps: ``-fps_mode`` from FFmpeg 5.1,
    ``-vsync`` before (it is what 4.x knows). An unknown release is taken to be recent."""
    if release is not None and release < (5, 1):
        return ["-vsync", "passthrough"]
    return ["-fps_mode", "passthrough"]


@functools.lru_cache(maxsize=None)
def _ffmpeg_release_of(exe: str) -> tuple[int, int] | None:
    """The release of the ffmpeg at ``exe``, asked once per path."""
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return _ffmpeg_release(out.stdout)


def _video_stream(streams: list[dict]) -> dict | None:
    """The stream a player shows from ffprobe's ``streams``: the first video stream that
    is not an attached picture (cover art, which comes with a rate of 90000/1)."""
    for s in streams:
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic"):
            return s
    return None


def _stream_fps(stream: dict) -> Fraction | None:
    """``avg_frame_rate`` (true to a variable-rate clip's length), else ``r_frame_rate``
    (the rate its timestamps are counted in); ffprobe writes "0/0" for one it does not know."""
    return _fraction(stream.get("avg_frame_rate")) or _fraction(stream.get("r_frame_rate"))


def _ratio(text) -> Fraction:
    """ffprobe's ``sample_aspect_ratio`` ("4:3") as a Fraction; 1 for one it does not
    state ("N/A", "0:1", missing)."""
    return _fraction(str(text).replace(":", "/")) or Fraction(1)


def _rotation(stream: dict) -> int:
    """Degrees a player turns the stream by: its display matrix (FFmpeg 5 and later list it
    in ``side_data_list``), else its ``rotate`` tag (what FFmpeg 4 reports); 0 for none."""
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return round(_seconds(side["rotation"]))
    return round(_seconds((stream.get("tags") or {}).get("rotate")))


def _holds_sound(stream: dict, *, avi: bool = False) -> bool:
    """Whether ffprobe's ``stream`` is an audio stream with sound in it. An AVI lists one
    with no packets (its length stated as 0, and no count of them) where all of the sound
    went to the priming of the AAC it was re-encoded to (:func:`_avi_audio` writes such
    sound as PCM where it can tell its length). ``avi``: the file's index counts each
    stream's packets where it has any, as an AVI's does, so no count is none (an AVI's
    empty PCM track, of sound that ends before the first picture, states no length either)."""
    if stream.get("codec_type") != "audio":
        return False
    count, length = str(stream.get("nb_frames", "")), str(stream.get("duration", "N/A"))
    if count.isdigit():
        return int(count) > 0
    return not avi and (length == "N/A" or _seconds(length) > 0)


#: What FFmpeg says of an MP4 or MOV without its index (the "moov" box), which most writers put
#: at the end of the file: one cut short before it, or still being recorded. It says so too of
#: any file it takes for one by its name alone (text, or random bytes, named .mp4).
MISSING_INDEX = "moov atom not found"
#: The types of box an MP4 or MOV file begins with: its brand, the index, the media, padding.
_FIRST_BOXES = {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"junk", b"pdin",
                b"sidx", b"moof"}


def _begins_as_mp4(p: Path) -> bool:
    """Whether ``p`` begins with the header of a box an MP4 or MOV file begins with (4 bytes
    of size, 4 of type); True where it cannot be read, for FFmpeg's word to stand."""
    try:
        with open(p, "rb") as f:
            head = f.read(8)
    except OSError:
        return True
    return head[4:8] in _FIRST_BOXES


def _ffprobe_streams(exe: str, p: Path) -> tuple[list[dict], dict, str | None]:
    """ffprobe's ``streams`` and ``format`` for ``p``, and why it could not open it (an MP4
    cut before its index: "moov atom not found"), or None when it could."""
    entries = "format=format_name,start_time:stream=index,codec_type,codec_name,avg_frame_rate,r_frame_rate"
    entries += ",nb_frames,start_time,duration,width,height,pix_fmt,sample_aspect_ratio,color_space"
    entries += ":stream_disposition=attached_pic:stream_tags=rotate,DURATION,alpha_mode:stream_side_data=rotation"
    out = subprocess.run(
        # -i: a file named "-clip.mp4" is a file, not an option
        [exe, "-v", "error", "-show_entries", entries, "-of", "json", "-i", str(p)], capture_output=True, text=True
    )
    try:
        found = json.loads(out.stdout or "{}")
        streams = found.get("streams") or []
        fmt = found.get("format") or {}
    except (ValueError, AttributeError):
        streams, fmt = [], {}
    if out.returncode == 0 or streams:
        return streams, fmt, None
    lines = [line.strip() for line in out.stderr.splitlines() if line.strip()]
    reason = lines[0].split("] ", 1)[-1] if lines else f"ffprobe exit {out.returncode}"  # "[mov,mp4 @ 0x..] "
    return streams, fmt, reason.removeprefix(f"{p}: ")


def probe(path: "str | os.PathLike") -> VideoInfo:
    """Size, frame rate, frame count and audio presence of a video file.

    With ffprobe, the rate and count are those of the first video stream that is not cover
    art, and the rate is the average one (``avg_frame_rate``), so a variable-rate clip
    written at it keeps its length. Size and pixel shape are those of the frames as
    :class:`VideoReader` gives them: turned upright by the file's rotation tag.

    Raises :class:`~hairfx.errors.InputError` when the file is missing or not a video.
    """
    import cv2

    p = as_path(path, "video")
    check_readable_file(p, "video", "a video file", shown=repr(str(p)))
    if p.stat().st_size == 0:  # FFmpeg's own words for it: "moov atom not found", "EBML header parsing failed"
        raise InputError(f"video {str(p)!r} is empty (0 bytes)")
    # ffprobe first: a file with no pictures is refused before OpenCV prints FFmpeg's own
    # complaints about it. One ffprobe cannot open is still tried with OpenCV, whose FFmpeg
    # may be another release.
    exe = _ffprobe()
    streams, fmt, unreadable = _ffprobe_streams(exe, p) if exe is not None else ([], {}, None)
    container = fmt.get("format_name", "")
    if container == "image2" or container.endswith("_pipe"):  # png_pipe, jpeg_pipe, webp_pipe...
        # image2 is also FFmpeg's guess from the extension alone: a text file named .jpg
        with opencv_readable(p) as name:
            if not cv2.haveImageReader(name):
                raise InputError(f"{str(p)!r} is neither a video nor an image (FFmpeg takes it for one by its name, "
                                 "but it holds none)")
        raise InputError(f"{str(p)!r} is a still image, not a video; recolour it with `hairfx recolor`")
    video = _video_stream(streams)
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if streams and video is None:
        raise InputError(f"{str(p)!r} has no video stream" + (" (only sound)" if audio else ""))
    with opencv_readable(p) as name:
        cap = cv2.VideoCapture(name)
    try:
        if not cap.isOpened():
            if unreadable == MISSING_INDEX and not _begins_as_mp4(p):
                unreadable = ("it does not begin as an MP4 or MOV does, which FFmpeg takes it for by its name: it "
                              "is not a video, or its start is damaged")
            elif unreadable == MISSING_INDEX:
                unreadable += (" (the index of this MP4 or MOV, which comes at its end, is missing: the file is cut "
                               "short, or still being written)")
            elif unreadable is None and exe is not None and not streams:  # ffprobe read it, and found nothing in it
                unreadable = ("it holds no streams, neither pictures nor sound (a recording stopped before its first "
                              "frame?)")
            raise InputError(f"could not open {str(p)!r} as a video" + (f": {unreadable}" if unreadable else ""))
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cv_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        cv_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        cap.release()
    if width <= 0 or height <= 0:
        raise InputError(f"{str(p)!r} has no video stream")
    fps = Fraction(cv_fps).limit_denominator(1001) if cv_fps > 0 else None
    frames = cv_frames if cv_frames > 0 else None
    picture_start, stated, sar, video_seconds, timing = 0.0, False, Fraction(1), None, None
    codecs = tuple(str(s.get("codec_name")) for s in audio)
    pixel_format, alpha_decoder = None if video is None else video.get("pix_fmt"), None
    if video is not None:
        fps = _stream_fps(video) or fps
        tags = video.get("tags") or {}
        seconds = _seconds(video.get("duration"))
        if str(video.get("nb_frames", "")).isdigit():
            frames, stated = int(video["nb_frames"]), True
            # the average rate of a variable-rate MP4 with B-frames is counted over its decoding
            # times, which start earlier than they end by the first frames' reordering delay
            # (510/23 for 68 frames in 3 s): where it is not the rate of its timestamps'
            # grid (r_frame_rate), they are read
            varied = exe is not None and fps != _fraction(video.get("r_frame_rate"))
            timing = (_read_timing(exe, p, video.get("index")) or False) if varied else False
            from_timing = _timestamp_rate(timing, _even_interval(timing, fps)) if timing else None
            if from_timing is not None:
                fps = from_timing[1]
                if from_timing[0] != frames:
                    # nb_frames counts the packets an edit list hides too (an MP4 cut without
                    # re-encoding: 68 stated, 53 shown); the timestamps' are those decoded
                    frames, stated = from_timing[0], False
            elif fps is not None and seconds > 0 and frames > seconds * float(fps) * 1.01 + 1:
                # an MP4 cut without re-encoding counts the frames before the cut that its
                # edit list hides (71 stated, 32 shown): the stream's duration is what plays
                frames, stated, video_seconds = round(seconds * float(fps)), False, seconds
        else:
            # the time its last frame ends: from a late start, less. Where the video starts past
            # what ffprobe reads ahead (5 s of sound first), its start_time is N/A or the
            # file's; its first packet's time, read here anyway, is when it starts
            ends_at, start = _clock(tags.get("DURATION")), _seconds(video.get("start_time"))
            # Matroska and WebM keep no frame count, and their avg_frame_rate is read from the
            # first frames: a clip at 60 fps then 15 says 60. Its timestamps tell the real one;
            # within 5 % the stated rate of evenly spaced frames is kept (exact, where the
            # timestamps are rounded to ms), not that of others: an MP4 copied into Matroska
            # states the MP4's average, counted over decoding times (510/23 for 68/3)
            from_timing, even = None, True
            if "matroska" in container:
                timing = _read_timing(exe, p, video.get("index"), ends_at=ends_at) or False
                if timing:
                    start, step = timing.start, _even_interval(timing, fps)
                    from_timing, even = _timestamp_rate(timing, step), step is not None
            if ends_at is not None:
                video_seconds = max(ends_at - max(start, 0.0), 0.0) or None
            if from_timing is not None and (fps is None or not even or abs(from_timing[1] / fps - 1) > 0.05):
                frames, fps = from_timing
        if str(tags.get("alpha_mode", "")) == "1" and video.get("codec_name") in ("vp8", "vp9"):
            # VP8/VP9 keep alpha in a side channel FFmpeg's own decoders drop, so pix_fmt does not show it
            pixel_format = "yuva420p"
            alpha_decoder = "libvpx-vp9" if video.get("codec_name") == "vp9" else "libvpx"
        # the first packet's time where read: the start_time of a video that starts late may be wrong
        first = timing.start if timing else _seconds(video.get("start_time"))
        picture_start = first - _seconds(fmt.get("start_time"))
        sar = _ratio(video.get("sample_aspect_ratio"))
        # OpenCV turns the frames upright; a quarter turn makes a pixel's width its height
        if _rotation(video) % 180 == 90 and (width, height) == (video.get("height"), video.get("width")):
            sar = 1 / sar
    if fps is None:
        raise InputError(f"{str(p)!r} does not state its frame rate")
    space = None if video is None else video.get("color_space")
    return VideoInfo(
        p, width, height, fps, frames, bool(audio), codecs, max(picture_start, 0.0), stated, sar,
        pixel_format, video_seconds, alpha_decoder, timing,
        color_space=None if space in (None, "unknown", "reserved") else str(space),
    )


#: Frames at the end of a cut file among which B-frames may be missing: those shown before
#: the last reference frame are stored after it, and H.264 lets a decoder hold back up to 16.
_REORDER = 16
#: Largest distance, as a fraction of the interval, from a frame's time to its place on an
#: even grid for the clip to count as constant-rate (with a millisecond, Matroska's rounding).
_EVEN = 0.125


@dataclass(frozen=True)
class _Timing:
    """When the frames of a video stream are shown, read from its packets without decoding:
    ``pts``, sorted, in ``time_base`` units from the first frame; ``listed``, the packets
    listed (those without a time too); ``end``, when the last frame stops, in seconds, where
    the file says so (:func:`_read_timing`), else None; ``start``, the first frame's time in
    seconds on the file's clock (the stream's true start_time, which ffprobe may not know);
    ``held``, for a stream with B-frames (a frame stored after one shown later), the latest
    time (in ``pts``'s units) of the frames stored before the last one shown, else None: a
    cut in the order frames are stored (a file cut short, a clip cut with ``ffmpeg -t ...
    -c copy``) can only lose frames shown after that time: the B-frames that the last
    reference frame, stored before them, is shown after."""

    pts: np.ndarray
    time_base: Fraction
    listed: int
    end: float | None
    start: float = 0.0
    held: int | None = None

    @property
    def seconds(self) -> np.ndarray:
        return self.pts * float(self.time_base)

    @property
    def covered(self) -> float:
        return float(self.pts[-1] * self.time_base)

    @property
    def span(self) -> float:
        """Seconds from the first frame to the end of the last: :attr:`end`, else the last
        frame's time and a typical interval."""
        return self.end if self.end is not None else self.covered + float(np.median(np.diff(self.seconds)))


def _read_timing(
    exe: str, p: Path, stream, stated: float | None = None, *, ends_at: float | None = None
) -> _Timing | None:
    """The :class:`_Timing` of video stream ``stream`` of ``p`` (its index, or a specifier:
    "V:0", the first that is not cover art). Its end is the first of these lengths that
    ends after the last frame by about one frame (by more than nothing, up to one and a
    half of the longest interval): ``stated``, where the caller knows one, or the time from the first frame to
    ``ends_at``, where the caller knows when the last one stops (Matroska's DURATION tag), the
    stream's duration (an MP4's, its edit list applied), the file's (where the video is
    its longest stream; what an MP4 of a variable rate with B-frames keeps right); none
    in a file cut short, whose stated lengths run past its last frame. A Matroska or WebM
    file without a length of its video (``ends_at`` None: one written to a pipe, which
    cannot go back to write it) has its last frame end as its own packet says, before
    those: FFmpeg gives each of its streams the file's length, that of its longest stream,
    often the sound's, which would else have made the last frame last until the sound
    ends. Frames an MP4's
    edit list hides are left out, as decoders leave them. None when the timestamps do not
    tell (fewer than two, or a tenth without one: an MPEG-PS file's B-frames)."""
    if not isinstance(stream, (int, str)):
        return None
    out = subprocess.run(
        [exe, "-v", "error", "-select_streams", str(stream), "-show_entries",
         "packet=pts,duration,flags:stream=time_base,start_time,duration:format=format_name,start_time,duration",
         "-of", "compact",
         "-i", str(p)], capture_output=True, text=True,
    )  # fmt: skip
    listed, pts, durations, found = 0, [], [], {}
    for line in out.stdout.splitlines():
        section, _, rest = line.partition("|")
        fields = dict(kv.split("=", 1) for kv in rest.split("|") if "=" in kv)
        if section == "packet":
            if "D" not in fields.get("flags", ""):  # D: discarded (an edit list hides it)
                listed += 1
                if fields.get("pts", "").lstrip("-").isdigit():  # "N/A": a frame all the same, with no time of its own
                    pts.append(int(fields["pts"]))
                    length = fields.get("duration", "")
                    durations.append(int(length) if length.isdigit() else 0)  # "N/A": not said
        elif section in ("stream", "format"):
            found[section] = fields
    time_base = _fraction(found.get("stream", {}).get("time_base"))
    if time_base is None or len(pts) < 2 or len(pts) < 0.9 * listed:
        return None
    stored = np.array(pts, np.int64)  # in the order the file stores them: decoding order
    pts = np.sort(stored)
    start = float(pts[0] * time_base)  # the stream's start_time, even where ffprobe does not know it
    last = int(np.argmax(stored))  # where the last frame shown is stored
    reordered = bool(np.any(stored[1:] < np.maximum.accumulate(stored)[:-1]))  # B-frames
    held = int(stored[:last].max() - pts[0]) if reordered and last > 0 else None
    pts -= pts[0]
    gaps = np.diff(pts)
    covered, longest = float(pts[-1] * time_base), float(gaps.max() * time_base)
    if covered <= 0:
        return None
    # a length that ends at the last frame's own time (an MP4 with B-frames states so its
    # stream's duration) would give that frame none: the end lies past it by half a
    # millisecond at least (half the shortest last frame VideoWriter writes, well over
    # ffprobe's rounding), or half the shortest interval where that is less. Not more:
    # frames that share the last time (0.36 s three times, ending at 0.4) share its length
    least = min(0.5 * float(gaps[gaps > 0].min() * time_base), 0.0005)
    if ends_at is not None:
        stated = ends_at - max(start, 0.0)
    fmt = found.get("format", {})
    lengths = [stated, _seconds(found["stream"].get("duration")),
               _seconds(fmt.get("duration")) + _seconds(fmt.get("start_time")) - start]  # fmt: skip
    if ends_at is None and "matroska" in fmt.get("format_name", ""):
        own = max(d for t, d in zip(stored.tolist(), durations) if t == stored[last])  # the last frame's
        lengths.insert(1, covered + float(own * time_base) if own > 0 else None)
    end = next((x for x in lengths if x and least <= x - covered <= 1.5 * longest), None)
    return _Timing(pts, time_base, listed, end, start, held)


def _even_interval(timing: _Timing, hint: Fraction | None = None) -> float | None:
    """The interval of frames shown at ``timing``'s times when they are evenly spaced, each
    within :data:`_EVEN` of an interval of its place on the grid; None for a variable rate.
    Missing frames are allowed only where a cut in storage order explains them
    (:func:`_lost_in_a_cut`): the B-frames the last reference frame shows after, which a
    truncated file lacks, and so does a clip cut with ``ffmpeg -t ... -c copy``, whose end
    is stated (a 30 fps clip so cut was taken for one of 28.6 fps). The grid is counted in ``hint``'s
    interval (the container's stated rate), else in the typical (median) one of those
    between different times. Two frames
    have one interval, which says nothing of their spacing: where the stream's end is
    known, the second frame's length is held to it too (0 and 1/6 s, ending at 0.2 s, are
    not evenly spaced)."""
    t = timing.seconds
    if len(t) == 2 and timing.end is not None:
        t = np.append(t, timing.end)
    gaps = np.diff(t)
    # frames that share a time have gaps of 0, which tell no interval (half or more of them
    # would make the median one 0)
    moving = gaps[gaps > 0]
    typical = float(np.median(moving)) if moving.size else 0.0
    for rate in ([float(hint)] if hint else []) + ([1 / typical] if typical > 0 else []):
        if not (rate > 0 and math.isfinite(rate)):
            continue
        counts = np.rint(gaps * rate)  # intervals each gap spans: 1, or more across missing frames
        if counts.min() < 1:
            continue
        missing = np.flatnonzero(counts > 1)
        if missing.size and not _lost_in_a_cut(timing, missing, counts):
            continue
        grid = np.concatenate([[0.0], np.cumsum(counts)])
        step = t[-1] / grid[-1]
        if np.abs(t - grid * step).max() <= max(_EVEN * step, 0.001):
            return step
    return None


def _lost_in_a_cut(timing: _Timing, missing: np.ndarray, counts: np.ndarray) -> bool:
    """Whether frames missing from an even grid can be B-frames that a cut in storage order
    left out (``counts``: the intervals each gap between ``timing``'s sorted times spans;
    ``missing``: where they span more than one): up to :data:`_REORDER` of them shown after
    every frame stored before the last one shown (:attr:`_Timing.held`), or any among the
    last :data:`_REORDER` of a stream that may be cut short (its :attr:`_Timing.end` unknown).
    A stream without B-frames, shown as stored, loses none but its last frames to a cut:
    a longer interval in it is a change of rate."""
    if timing.end is None and missing[0] >= len(counts) - _REORDER:
        return True
    lost = int(counts[missing].sum()) - missing.size
    return timing.held is not None and timing.pts[missing[0]] >= timing.held and lost <= _REORDER


def _timestamp_rate(timing: _Timing, step: float | None) -> tuple[int, Fraction] | None:
    """The frames of a video stream and their rate, told by their timestamps (``timing``):
    that of their interval ``step`` where they are evenly spaced (:func:`_even_interval`'s
    result; a truncated file's missing B-frames do not lower it), else, with ``step`` None,
    their average (frames over :attr:`_Timing.span`); None when the timestamps do not tell."""
    rate = 1 / step if step is not None else timing.listed / timing.span
    if not (rate > 0 and math.isfinite(rate)):
        return None
    return timing.listed, Fraction(rate).limit_denominator(1001)


def _variable_times(info: VideoInfo) -> tuple[list[Fraction], Fraction] | None:
    """When each frame of ``info``'s video is shown (seconds from the first, exact in its
    time base) and when the last one stops, for a clip whose frames are not evenly spaced
    (:func:`_even_interval`); None for one that is, or where ffprobe cannot tell. The
    timestamps :func:`probe` read are not read again, nor those of an MP4 it found evenly
    spaced; those of other files (MPEG-TS, FLV) are read here. Frames that share a time
    (written so with FFmpeg's warning "non-strictly-monotonic PTS") are spread evenly up
    to the next one's, so that the times increase, as a writer needs them to."""
    timing = info._timing
    if timing is None:
        exe = _ffprobe()
        timing = None if exe is None else _read_timing(exe, info.path, "V:0", info.video_seconds)
    if not timing or _even_interval(timing, info.fps) is not None:
        return None
    tb = timing.time_base
    end = max(round(timing.span / tb), int(timing.pts[-1]) + 1) * tb
    # built as Fractions of whole numbers: int * Fraction costs twice as much (108,000 frames)
    num, den = tb.numerator, tb.denominator
    times = [Fraction(p * num, den) for p in timing.pts.tolist()]
    starts = np.flatnonzero(np.diff(timing.pts, prepend=-1))  # where each run of one time begins
    stops = np.append(starts[1:], len(times))
    for a, b in zip(starts[stops - starts > 1].tolist(), stops[stops - starts > 1].tolist()):
        step = ((times[b] if b < len(times) else end) - times[a]) / (b - a)
        times[a + 1 : b] = [times[a] + j * step for j in range(1, b - a)]
    return times, end


class FrameTiming(NamedTuple):
    """When the frames of a copy of a clip are written: :class:`VideoWriter`'s ``times``,
    ``end`` and ``audio_seconds`` (see :func:`frame_timing`)."""

    times: list[Fraction] | None
    end: Fraction | None
    audio_seconds: float | None


def frame_timing(info: VideoInfo, max_frames: int | None = None) -> FrameTiming:
    """The :class:`FrameTiming` of a frame-for-frame copy of ``info``'s clip, up to
    ``max_frames`` frames: a variable-rate clip's frames each at its own time (None for an
    evenly spaced one, written at ``info.fps``), and its sound cut where the frame after the
    last one kept begins (at ``max_frames / fps`` for an evenly spaced one; not cut without
    ``max_frames``)."""
    audio_seconds = None if max_frames is None else max_frames / float(info.fps)
    times, end = _variable_times(info) or (None, None)
    if times is not None and max_frames is not None and max_frames < len(times):
        times, end = times[:max_frames], times[max_frames]
        audio_seconds = float(end)  # the sound up to where the next frame begins
    return FrameTiming(times, end, audio_seconds)


def _clock(text) -> float | None:
    """Seconds in a Matroska DURATION tag, ``HH:MM:SS.nnnnnnnnn``; None for anything else."""
    m = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", str(text or "").strip())
    if m is None:
        return None
    value = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    return value if value > 0 else None


def _seconds(text) -> float:
    """An ffprobe time in seconds; 0 for one it does not know ("N/A" or missing)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def shortfall(info: VideoInfo, decoded: int, *, name: str, limit: int | None = None) -> str | None:
    """What to warn of when a file called ``name`` gave fewer frames than it states (up to
    ``limit``, when only that many were asked for): a truncated or partly copied file. None
    when it did not. A count off by one, or by under 1 %, is taken as the container's
    rounding, and a count estimated from the whole file's duration proves nothing (it may be
    the sound's). A file that states no count but the video's own length (Matroska, WebM)
    is held to it more loosely, within 5 % or two frames: the count is then computed from
    an average rate."""
    if info.frames_stated and info.frames:
        expected = info.frames if limit is None else min(limit, info.frames)
        if expected - decoded <= max(1, expected // 100):
            return None
        return f"{name} states {expected} frames but only {decoded} could be decoded; the file may be truncated"
    if info.video_seconds:
        whole = math.floor(info.video_seconds * info.fps)
        expected = whole if limit is None else min(limit, whole)
        if expected - decoded <= max(2, expected // 20):
            return None
        return (f"{name} states {info.video_seconds:.2f} s of video ({whole} frames at {frame_rate(info.fps)} fps) but only "
                f"{counted(decoded, 'frame')} could be decoded; the file may be truncated")
    return None


_ALPHA_FORMAT = re.compile(r"^(yuva|gbrap|ya\d|pal8)|rgba|bgra|argb|abgr")


def _alpha_format(pix_fmt: str | None) -> bool:
    """Whether an FFmpeg pixel format can carry transparency ("argb", "yuva444p12le",
    "pal8"...). GIFs always decode to "bgra", so the frames are looked at too (:func:`_transparent`)."""
    return bool(pix_fmt) and _ALPHA_FORMAT.search(pix_fmt) is not None


def _transparent(path: Path, decoder: str | None = None) -> bool:
    """Whether the first picture of ``path`` has a pixel that is not fully opaque, decoded
    by ``decoder`` when given (:attr:`VideoInfo.alpha_decoder`); False when ffmpeg is
    missing or cannot tell."""
    exe = _ffmpeg()
    if exe is None:
        return False
    cmd = [exe, "-v", "error", "-nostdin", *(["-c:v", decoder] if decoder else []), "-i", str(path)]
    cmd += ["-map", "0:V:0", "-frames:v", "1"]
    cmd += ["-vf", "alphaextract", "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    alpha = np.frombuffer(out.stdout, np.uint8)
    return out.returncode == 0 and alpha.size > 0 and int(alpha.min()) < 255


class VideoReader(Closeable):
    """Decodes a video file into ``H x W x 3`` ``uint8`` RGB frames.

    >>> with VideoReader("clip.mp4") as reader:                     # doctest: +SKIP
    ...     for frame in reader:
    ...         ...
    """

    _not_pickled = "it holds an open video file; send its path and open a VideoReader in each process"

    def __init__(self, path: "str | os.PathLike"):
        import cv2

        self.info = probe(path)
        # OpenCV drops the alpha channel and shows what lies under transparent pixels,
        # often black or garbage; images with alpha are refused the same way (read_rgb)
        if _alpha_format(self.info.pixel_format) and _transparent(self.info.path, self.info.alpha_decoder):
            raise InputError(
                f"{str(self.info.path)!r} has transparent pixels (alpha channel, {self.info.pixel_format}), which "
                "hairfx's H.264 output cannot keep; flatten it onto a background first"
            )
        self._cv2 = cv2
        with opencv_readable(self.info.path) as name:
            self._cap = cv2.VideoCapture(name)
        if not self._cap.isOpened():  # pragma: no cover - probe opened it a moment ago
            raise InputError(f"could not open {str(self.info.path)!r} as a video")

    def read(self) -> np.ndarray | None:
        """The next frame, or ``None`` at the end of the file."""
        if self._cap is None:
            raise InputError("this VideoReader has been closed")
        ok, bgr = self._cap.read()
        if not ok:
            return None
        return self.info.as_shown(self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB))

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def read_frames(path: "str | os.PathLike", limit: int, max_side: int | None = None) -> list[np.ndarray]:
    """Up to ``limit`` RGB frames of ``path``, shrunk (area filter) so neither side exceeds
    ``max_side`` when one is given. For evaluations that need a clip in memory."""
    import cv2

    out = []
    with VideoReader(path) as reader:
        while len(out) < limit and (frame := reader.read()) is not None:
            h, w = frame.shape[:2]
            scale = max_side / max(h, w) if max_side else 1.0
            if scale < 1.0:
                frame = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            out.append(frame)
    return out


# A variable-rate clip reaches ffmpeg as Matroska holding raw RGB frames, each with its
# time: raw video (the constant-rate path) carries none. Only what FFmpeg's demuxer needs.


def _ebml(element: bytes, payload: bytes) -> bytes:
    """One EBML element: its ID, its size (8 bytes: 0x01 and 7 bytes of length), ``payload``."""
    return element + (0x01 << 56 | len(payload)).to_bytes(8, "big") + payload


def _ebml_uint(element: bytes, value: int) -> bytes:
    return _ebml(element, value.to_bytes(8, "big"))


def _matroska_header(width: int, height: int, default_ns: int) -> bytes:
    """The start of a Matroska stream of ``width`` x ``height`` RGB24 frames (V_UNCOMPRESSED,
    colour space FourCC "RGB" 24) timed in nanoseconds, up to its first cluster; the
    segment's size is left unknown, as a live stream's is. ``default_ns``, the track's
    default frame duration, is what FFmpeg gives the last frame (it reads no other), as the
    stream's rate where that is under 1000 fps (:data:`_SHORTEST_NS`); from 5 fps down (200
    ms) only where ffmpeg reads no frame to guess the rate from (``-probesize 32``): it would
    else give the last frame the interval of the first ones."""
    ebml = _ebml(b"\x1a\x45\xdf\xa3", _ebml_uint(b"\x42\x86", 1) + _ebml_uint(b"\x42\xf7", 1)
                 + _ebml_uint(b"\x42\xf2", 4) + _ebml_uint(b"\x42\xf3", 8) + _ebml(b"\x42\x82", b"matroska")
                 + _ebml_uint(b"\x42\x87", 4) + _ebml_uint(b"\x42\x85", 2))  # fmt: skip
    info = _ebml(b"\x15\x49\xa9\x66", _ebml_uint(b"\x2a\xd7\xb1", 1) + _ebml(b"\x4d\x80", b"hairfx")
                 + _ebml(b"\x57\x41", b"hairfx"))  # TimestampScale: 1 ns  # fmt: skip
    video = _ebml(b"\xe0", _ebml_uint(b"\xb0", width) + _ebml_uint(b"\xba", height)
                  + _ebml(b"\x2e\xb5\x24", b"RGB\x18"))  # fmt: skip
    track = _ebml(b"\xae", _ebml_uint(b"\xd7", 1) + _ebml_uint(b"\x73\xc5", 1) + _ebml_uint(b"\x83", 1)
                  + _ebml(b"\x86", b"V_UNCOMPRESSED") + _ebml_uint(b"\x23\xe3\x83", default_ns) + video)  # fmt: skip
    segment = b"\x18\x53\x80\x67" + b"\x01" + b"\xff" * 7  # of unknown size
    return ebml + segment + info + _ebml(b"\x16\x54\xae\x6b", track)


def _matroska_frame_head(ns: int, size: int) -> bytes:
    """What comes before a frame of ``size`` bytes shown at ``ns`` nanoseconds: a cluster of
    its own (a block's time is 16 bits from its cluster's) holding that time and the start
    of a SimpleBlock (track 1, at the cluster's time, a keyframe)."""
    timestamp = _ebml_uint(b"\xe7", ns)
    block = b"\x81\x00\x00\x80"
    block_head = b"\xa3" + (0x01 << 56 | len(block) + size).to_bytes(8, "big") + block
    cluster_size = len(timestamp) + len(block_head) + size
    return b"\x1f\x43\xb6\x75" + (0x01 << 56 | cluster_size).to_bytes(8, "big") + timestamp + block_head


#: The shortest last frame a variable-rate output keeps (nanoseconds): FFmpeg's Matroska
#: demuxer takes a default frame duration as the rate only under 1000 fps, as it rounds it
#: (1.000001 ms is 1000/1); after a shorter one the last frame lasts nothing, and an MP4's
#: edit list hides it. A shorter one is made this long.
_SHORTEST_NS = 1_001_000
#: Containers that hold frames at any times; others (AVI) hold one rate.
VARIABLE_RATE = {".mp4", ".m4v", ".mov", ".mkv"}
#: The finest time base a variable-rate output is written in; times that need a finer one
#: (floats) are written in MPEG's 90 kHz clock.
_FINEST = 1_000_000


def _frame_times(times, end, fps: Fraction) -> tuple[list[Fraction] | None, Fraction | None]:
    """``times`` and ``end`` as :class:`VideoWriter` takes them, as Fractions, ``end``
    filled in (the last interval again, or ``1 / fps`` after a single frame);
    :class:`~hairfx.errors.InputError` for times that do not start at 0 and increase."""
    if times is None:
        if end is not None:
            raise InputError("end (when the last frame stops) needs the frames' times")
        return None, None
    try:
        got = [t if isinstance(t, Fraction) else Fraction(t) for t in times]  # Fractions kept, not copied
        end = None if end is None else Fraction(end)
    except (TypeError, ValueError, OverflowError):  # a string, NaN, infinity
        raise InputError(f"frame times must be numbers of seconds, got {str(list(times))[:80]}") from None
    if not got or got[0] != 0 or not all(map(operator.lt, got, got[1:])):
        raise InputError("frame times must be seconds from the first frame, starting at 0 and increasing, got "
                         f"{str([float(t) for t in got])[:80]}")
    if end is None:
        end = got[-1] + (got[-1] - got[-2] if len(got) > 1 else 1 / fps)
    if end <= got[-1]:
        raise InputError(f"end ({float(end):g} s) must come after the last frame's time ({float(got[-1]):g} s)")
    return got, end


def _time_of(i: int, times: list[Fraction], end: Fraction) -> Fraction:
    """When frame ``i`` is shown: its time, or, past the last, the last frame's duration on."""
    last = len(times) - 1
    return times[i] if i <= last else times[last] + (i - last) * (end - times[last])


def _frames_before(seconds: float, times: list[Fraction], end: Fraction) -> float:
    """How many frames are shown before ``seconds``, the part of the one shown then counted
    too: the inverse of :func:`_time_of` (``len(times)`` at ``end``).

    >>> _frames_before(0.5, [Fraction(0), Fraction(1, 10), Fraction(1, 2)], Fraction(1))
    2.0
    """
    i = max(bisect.bisect_right(times, seconds) - 1, 0)
    length = (times[i + 1] if i + 1 < len(times) else end) - times[i]  # past the last: its duration
    return i + float((Fraction(seconds) - times[i]) / length)


def _time_base(times: list[Fraction]) -> int:
    """The least common denominator of ``times`` (seconds): they are exact in 1/that; 90000
    where it would exceed :data:`_FINEST`."""
    den = 1
    for t in times:
        den = math.lcm(den, t.denominator)
        if den > _FINEST:
            return 90000
    return den


#: Containers the H.264 writer fills, each with the audio codecs it takes as they are
#: (``None``: any); other audio is re-encoded to AAC rather than failing the whole job.
CONTAINERS = {
    ".mp4": {"aac", "mp3", "alac", "ac3", "eac3"},
    ".m4v": {"aac", "mp3", "alac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le"},
    ".mkv": None,
    ".avi": {"aac", "mp3", "ac3", "pcm_s16le", "pcm_u8"},
}
#: Containers whose edit list hides what a stream holds before its start (MP4, MOV): AAC's
#: priming (1024 samples timed before 0, 2112 from Apple's encoder), and sound copied from
#: before a cut. Matroska (for AAC) and AVI have none: ffmpeg moved every stream until the
#: earliest packet started at 0, so the sound began 23 ms (128 ms at 8 kHz) before the
#: pictures. There the packets copied from before the start are left out.
_EDIT_LISTS = {".mp4", ".m4v", ".mov"}
#: Samples of priming FFmpeg's AAC encoder puts before the sound it encodes.
_AAC_PRIMING = 1024
#: The rates FFmpeg's AAC encoder takes (samples a second); it resamples others to the nearest.
_AAC_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
#: Seconds after the first picture within which copied lossy sound may start in an .avi,
#: which holds no start time for its sound and plays it from the first picture on, that
#: much early; from later it is re-encoded, with silence before it. MP3 from LAME, whose
#: first packet kept starts 47 samples after its hidden encoder delay (1.1 ms at 44.1 kHz),
#: is copied, not re-encoded lossily (and its first 1024 samples given up to AAC's priming)
#: for a shift no one hears: lip sync is noticed from about 45 ms of sound ahead. PCM,
#: re-encoded without loss, starts with the picture to the sample.
_AVI_SLACK = 0.002
#: Seconds of a source's packets read, past the first picture, to find the first one a copy
#: of its sound keeps (:func:`_sound_from_picture`).
_SOUND_WINDOW = 2.0


def _aac_rate(rate: int) -> int:
    """The rate FFmpeg's AAC encoder writes sound of ``rate`` at: that rate where it takes it,
    else the nearest it takes (the higher of two as near).

    >>> _aac_rate(44100), _aac_rate(192000), _aac_rate(50000)
    (44100, 96000, 48000)
    """
    return min(_AAC_RATES, key=lambda r: (abs(r - rate), -r))


class _Sound(NamedTuple):
    """One audio stream of a source, as seen from its first picture (:func:`_sound_from_picture`):
    ``rate``, its samples a second (None where not stated); ``late``, seconds from the
    picture to the first packet a copy of it keeps (those before are left out), None where
    none was found; ``seconds``, of sound from the picture to its end, None where the file
    does not state its length."""

    rate: int | None
    late: float | None
    seconds: float | None


def _sound_from_picture(exe: str, info: VideoInfo) -> list[_Sound]:
    """A :class:`_Sound` for each audio stream of ``info``'s file, in order, read by ffprobe
    (``exe``) from the stream headers and the packets of the first
    ``info.picture_start +`` :data:`_SOUND_WINDOW` seconds."""
    entries = "format=start_time:stream=index,sample_rate,start_time,duration:stream_tags=DURATION"
    out = subprocess.run(
        [exe, "-v", "error", "-select_streams", "a", "-show_entries",
         f"{entries}:packet=stream_index,pts_time,duration_time",
         "-read_intervals", f"%+{info.picture_start + _SOUND_WINDOW:.6f}", "-of", "json", "-i", str(info.path)],
        capture_output=True, text=True,
    )  # fmt: skip
    try:
        found = json.loads(out.stdout or "{}")
    except ValueError:
        found = {}
    picture = _seconds((found.get("format") or {}).get("start_time")) + info.picture_start
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for packet in found.get("packets") or []:
        t, index = packet.get("pts_time"), packet.get("stream_index")
        if t in (None, "N/A"):
            continue
        # a copy keeps the packets from the picture on (-copypriorss 0); 1 us for the rounding
        if _seconds(t) >= picture - 1e-6:
            first.setdefault(index, _seconds(t) - picture)
        last[index] = max(last.get(index, -math.inf), _seconds(t) + _seconds(packet.get("duration_time")))
    sounds = []
    for s in found.get("streams") or []:
        rate = str(s.get("sample_rate", ""))
        start, length = _seconds(s.get("start_time")), _seconds(s.get("duration"))
        # Matroska states no stream duration but, where FFmpeg or mkvmerge wrote it, when it
        # ends; where neither is stated, packets that stop well inside the time read (by
        # more than any packet lasts, and any lag of one stream behind another in the
        # file) show where the sound ends
        end = start + length if length > 0 else _clock((s.get("tags") or {}).get("DURATION"))
        if end is None and last.get(s.get("index"), math.inf) < picture + _SOUND_WINDOW / 2:
            end = last[s.get("index")]
        sounds.append(_Sound(int(rate) if rate.isdigit() else None, first.get(s.get("index")),
                             None if end is None else end - picture))  # fmt: skip
    return sounds


def _avi_audio(codec: str, held: bool, sound: _Sound, seconds: float | None) -> tuple[str, str | None]:
    """How an audio stream whose codec is ``codec`` (ffprobe's name) is written into an
    .avi, which plays its sound from the first picture on: the encoder ("copy": as it is;
    ``held``: the container takes the codec) and the filters before it, or None. ``sound``
    tells when it starts and ends from the first picture on, ``seconds`` where the writer
    cuts it.

    Copied sound is kept where its first packet starts with the picture (lossy sound within
    :data:`_AVI_SLACK`), else re-encoded from the picture on, silence put before it where it
    starts later (``aresample``, the first frame placed to the sample): PCM as the same PCM,
    other sound to AAC. FFmpeg's AAC encoder puts :data:`_AAC_PRIMING` samples of priming
    before the sound, so as many of the sound's first samples are left out for the priming
    to take their place, counted at the rate it encodes at (the sound is resampled to it
    first: 96 kHz for 192 kHz). Sound no longer than that would leave nothing: it is
    written as 16-bit PCM, which has no priming.

    >>> _avi_audio("flac", False, _Sound(192000, 0.3, 2.0), None)
    ('aac', 'aresample=osr=96000:min_comp=0:first_pts=0,atrim=start_sample=1024')
    >>> _avi_audio("pcm_s16le", True, _Sound(44100, 0.3, 2.0), None)
    ('pcm_s16le', 'aresample=min_comp=0:first_pts=0')
    """
    lossless = codec.startswith("pcm_")
    if held and sound.late is not None and sound.late <= (1e-6 if lossless else _AVI_SLACK):
        return "copy", None
    # min_comp=0: compensation from the first sample's worth of difference, which at the
    # first frame pads (or trims) it to 0; later, only gaps past aresample's 0.1 s are
    # filled (or overlaps trimmed), which an AVI could not keep anyway
    pad = "min_comp=0:first_pts=0"
    if held and lossless:
        return codec, f"aresample={pad}"  # without loss
    if sound.rate is None:  # not stated: the encoder chooses, unseen
        return "aac", f"aresample={pad},atrim=start_sample={_AAC_PRIMING}"
    rate = _aac_rate(sound.rate)
    lengths = [x for x in (sound.seconds, seconds) if x is not None]  # the sound's, the cut's
    if lengths and min(lengths) * rate <= _AAC_PRIMING:  # the priming would leave none of it
        return "pcm_s16le", f"aresample={pad}"
    return "aac", f"aresample=osr={rate}:{pad},atrim=start_sample={_AAC_PRIMING}"


#: Seconds of sound longer than any recording (about 31,700 years); ffmpeg refuses a cut
#: past about nine times this (int64 microseconds), so a longer one is no cut at all.
_LONGEST_CUT = 1e12


class VideoWriter(Closeable):
    """Writes RGB frames to a video file at an exact frame rate, or at the times given.

    With ffmpeg on the ``PATH``: H.264 yuv420p (``crf`` quality), which every player
    decodes; a frame of odd width or height gets its last column or row repeated to the
    even size 4:2:0 needs (:attr:`width` and :attr:`height` are the size written). When
    ``audio_from`` names a file with audio (the clip the frames come from; its path, or
    the :class:`VideoInfo` :func:`probe` gave for it, which saves probing it again), its audio is
    copied, or re-encoded to AAC when the container cannot hold it (:data:`CONTAINERS`),
    from that file's first picture on (:attr:`VideoInfo.picture_start`), as the frames
    are; ``audio_seconds`` keeps only that many seconds from there (the frames of a clip
    cut short). An .avi holds no start time for its sound, which plays from the first
    picture on: sound that starts later is re-encoded with silence before it (PCM as PCM,
    other sound to AAC), and sound re-encoded to AAC gives up its first 1024 samples to
    the encoder's priming, or is written as PCM where that would leave none of it
    (:func:`_avi_audio`). Every audio stream is kept, each copied or re-encoded on its own. The
    colours are written as BT.709 and tagged so; ``sample_aspect_ratio`` (a pixel's width
    over its height, :attr:`VideoInfo.sample_aspect_ratio`) is written for anamorphic
    frames. Without ffmpeg:
    ``cv2.VideoWriter`` (MPEG-4 part 2) and no audio, with a warning. :attr:`audio` says
    whether audio is being written, and after :meth:`close` whether the file holds any
    (none, with a warning, when the sound ends before the first picture or ffmpeg could
    not read it from there).

    ``times`` (seconds from the first frame: 0, then increasing; Fractions are kept
    exactly) writes each frame at its own time instead of at ``fps``, as a variable-rate
    clip needs, and ``end`` is when the last one stops (the interval before it, when not
    given); frames past the last time follow at the last frame's duration. They need
    ffmpeg and a container that holds any times (:data:`VARIABLE_RATE`); OpenCV's writer
    and an AVI file, which hold one rate, space the frames evenly at ``fps`` instead, and
    cut the sound at the frame where ``audio_seconds`` falls among ``times``, wherever that
    frame then is.

    The video is written to a hidden file beside ``path`` and renamed onto it by
    :meth:`close`, so a failed or interrupted job never leaves a partial video, nor
    replaces one that was there; :meth:`abort` (and leaving a ``with`` block by an
    exception) discards it. Where ``path`` is a symbolic link, the file it points at is
    written and the link kept (:func:`~hairfx._files.write_target`).
    """

    _not_pickled = ("it writes one file through its own encoder (an ffmpeg process or OpenCV's writer); write each "
                    "file from the process that opened its VideoWriter")

    def __init__(
        self,
        path: "str | os.PathLike",
        *,
        width: int,
        height: int,
        fps: "Fraction | float",
        audio_from: "str | os.PathLike | VideoInfo | None" = None,
        audio_seconds: float | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        use_ffmpeg: bool | None = None,
        sample_aspect_ratio: "Fraction | None" = None,
        times: "Sequence[Fraction | float] | None" = None,
        end: "Fraction | float | None" = None,
    ):
        self.path = as_path(path, "output video")
        if self.path.is_dir():  # a folder named like a video is named below, by check_new_file
            if self.path.suffix.lower() not in CONTAINERS:
                raise InputError(f"cannot write {str(self.path)!r}: it is a folder; give a file name such as "
                                 f"{str(self.path / 'out.mp4')!r}")
        elif self.path.suffix.lower() not in CONTAINERS:
            raise InputError(
                f"cannot write {str(self.path)!r}: hairfx writes H.264 video into "
                f"{', '.join(CONTAINERS)} files" + ("; give a file name such as out.mp4" if not self.path.suffix else "")
            )
        self.width, self.height = int(width), int(height)
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"video size must be positive, got {width}x{height}")
        self.source_size = (self.width, self.height)
        self.fps = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        if self.fps <= 0:
            raise InputError(f"frame rate must be positive, got {fps}")
        sar = Fraction(1) if sample_aspect_ratio is None else Fraction(sample_aspect_ratio).limit_denominator(65535)
        if sar <= 0:
            raise InputError(f"sample aspect ratio must be positive, got {sample_aspect_ratio}")
        self.sample_aspect_ratio = sar
        self._times, self._end = _frame_times(times, end, self.fps)
        # checked now: the rename onto a folder would fail after the whole encode
        check_new_file(self.path, "give a file name")
        self.frames = 0
        self._audio_seconds = audio_seconds
        self._proc = None
        self._cv = None
        # a name of its own per writer: two jobs writing one output, or an input that happens
        # to be called like a writer's temporary file, are never written over or removed. It
        # ends in the output's extension, by which ffmpeg and OpenCV choose the container, and
        # lies beside the file written: where the output is a symbolic link, its target.
        self._replacement = Replacement(self.path, suffix=self.path.suffix)
        self._tmp = self._replacement.tmp
        # a folder that takes no new file (read-only, another user's) is refused now, naming
        # the output, not by ffmpeg after the first frame, naming the hidden file
        try:
            os.close(os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as exc:
            raise InputError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from None
        os.unlink(self._tmp)
        exe = _ffmpeg() if use_ffmpeg is not False else None
        if use_ffmpeg and exe is None:
            raise HairfxError("ffmpeg was requested but is not on the PATH")
        if exe is None or self.path.suffix.lower() not in VARIABLE_RATE:  # one rate: the frames evenly at fps
            if self._times is not None and audio_seconds is not None:  # the sound cut at the same frame
                self._audio_seconds = _frames_before(audio_seconds, self._times, self._end) / float(self.fps)
            self._times = self._end = None
        source = audio_from if isinstance(audio_from, VideoInfo) or audio_from is None else probe(audio_from)
        want_audio = source is not None and source.has_audio
        self._sound_of = source.path if want_audio else None
        self.width += self.width % 2  # 4:2:0 halves both sides: they must be even (OpenCV's writer too)
        self.height += self.height % 2
        if exe is None:
            # one line either way: the sound is lost where there was a source to take it from
            # (without ffprobe it cannot even be seen), and MPEG-4 part 2 in place of H.264 is
            # worth knowing anyway (browsers and some players do not play it); not said when
            # OpenCV's writer was asked for (use_ffmpeg=False) and no sound was
            if source is not None:
                warnings.warn(
                    "hairfx: ffmpeg not found: writing MPEG-4 part 2 video with OpenCV, without any sound the "
                    "source has (install ffmpeg for H.264 and the audio track)", RuntimeWarning, stacklevel=2
                )
            elif use_ffmpeg is None:
                warnings.warn(
                    "hairfx: ffmpeg not found: writing MPEG-4 part 2 video with OpenCV, which browsers and some "
                    "players do not play (install ffmpeg for H.264)", RuntimeWarning, stacklevel=2
                )
            self._open_cv2()
            self.audio = False
        else:
            if source is not None and _ffprobe() is None:  # a lone ffmpeg binary (imageio-ffmpeg ships one)
                warnings.warn(
                    "hairfx: ffprobe not found: without it the source's sound cannot be seen, so none is copied "
                    "(install ffprobe, which comes with ffmpeg, for the audio track)", RuntimeWarning, stacklevel=2
                )
            try:
                self._open_ffmpeg(exe, source if want_audio else None, crf, preset)
            except BaseException:  # ffmpeg gone before the header was taken: its pipe, log and file too
                self.abort()
                raise
            self.audio = want_audio

    def _open_ffmpeg(self, exe: str, audio: VideoInfo | None, crf: int, preset: str) -> None:
        w, h = self.width, self.height
        cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        if self._times is None:
            cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(self.fps)]
        else:
            # nothing read ahead: the frames' rate guessed from the first ones, not the header's
            # default duration, would be the last frame's duration (0.1 s for a last one of 0.5)
            cmd += ["-probesize", "32", "-analyzeduration", "0", "-f", "matroska"]
        cmd += ["-i", "pipe:0"]
        if audio is not None:
            held = CONTAINERS[self.path.suffix.lower()]
            # each audio stream on its own: a second one (another language, a commentary)
            # the container cannot hold would otherwise fail the job at its very end
            # a clip cut short (--frames) keeps the sound of its frames only (not -shortest:
            # it would also cut the pictures of a clip whose sound ends before them)
            # (--frames 99999999999999999999 for all of it: no cut, and past ffmpeg's range)
            seconds = self._audio_seconds
            cut = ["-t", f"{seconds:.6f}"] if seconds is not None and seconds < _LONGEST_CUT else []
            # the frames were read from the first picture on: sound before it is cut, so
            # the two start together (input -ss counts from the file's start)
            if audio.picture_start > 0:
                cut = ["-ss", f"{audio.picture_start:.6f}", *cut]
            cmd += [*cut, "-i", str(audio.path), "-map", "0:v:0", "-map", "1:a?"]
            avi = self.path.suffix.lower() == ".avi"
            probe_exe = _ffprobe() if avi else None
            sounds = _sound_from_picture(probe_exe, audio) if probe_exe is not None else []
            for i, name in enumerate(audio.audio_codecs):
                codec, filters = "copy" if held is None or name in held else "aac", None
                if avi:  # an AVI holds no start time for its sound: it plays from the first picture on
                    sound = sounds[i] if i < len(sounds) else _Sound(None, 0.0, None)
                    codec, filters = _avi_audio(name, codec == "copy", sound, seconds)
                cmd += [f"-c:a:{i}", codec, *([f"-filter:a:{i}", filters] if filters else [])]
            if self.path.suffix.lower() not in _EDIT_LISTS:
                # each packet kept at its own time: the sound starts with the pictures, or
                # less than a packet after them where the priming ends inside one (Apple's
                # ends 64 samples into its third packet; an .avi re-encodes such sound)
                cmd += ["-copypriorss:a", "0"]
        # RGB to BT.709 YUV, and said so: players guess the matrix of an untagged HD video
        # as BT.709 but FFmpeg converts with BT.601 unless told, which shifts every colour
        filters = "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
        if self.sample_aspect_ratio != 1:  # anamorphic: shown stretched, as the source was
            filters += f",setsar={self.sample_aspect_ratio.numerator}/{self.sample_aspect_ratio.denominator}"
        cmd += ["-vf", filters, "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"]
        cmd += ["-color_range", "tv", "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf))]
        if self.path.suffix.lower() == ".avi":
            # An AVI keeps no presentation times: B-frames there are shown as late as a decoder
            # holds them back (two frames, 67 ms at 30 fps), and their negative decoding times
            # made ffmpeg move the sound as far, which AVI cannot hold (it padded the sound's
            # length, stated 0.09 s too long). Without them the file is about a third larger.
            cmd += ["-bf", "0"]
        cmd += _passthrough_option(_ffmpeg_release_of(exe))
        if self._times is not None:  # each frame's time kept exactly: else rounded to 1/rate of the first ones
            cmd += ["-enc_time_base", f"1/{_time_base([*self._times, self._end])}"]
        cmd += ["-movflags", "+faststart", str(self._tmp)]
        self._log = tempfile.TemporaryFile()
        # A session of its own: Ctrl-C in a terminal reaches this process only, which then
        # stops ffmpeg and discards the partial file, instead of ffmpeg dying mid-write.
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True
            )
        except BaseException:
            self._log.close()
            raise
        if self._times is not None:
            last = max(round((self._end - self._times[-1]) * 10**9), _SHORTEST_NS)
            self._pipe(_matroska_header(w, h, last))

    def _open_cv2(self) -> None:
        import cv2

        self._cv2 = cv2
        name = opencv_name(self._tmp)
        if name is None:
            raise InputError(
                f"OpenCV cannot write {str(self.path)!r}: its folder's or its own name is not valid UTF-8; "
                "rename it, or install ffmpeg, which can"
            )
        self._cv = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*"mp4v"), float(self.fps), (self.width, self.height))
        if not self._cv.isOpened():
            raise InputError(f"OpenCV could not open {str(self.path)!r} for writing")

    def _ffmpeg_error(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace").strip()[-2000:]

    def write(self, frame) -> None:
        """Append one ``H x W x 3`` ``uint8`` RGB frame of the writer's size (or an RGB PIL
        image). The video's colours are sRGB's (BT.709), so a PIL image that carries a colour
        profile (a Display P3 frame, or one :meth:`VideoRecolorer.process` gave back) is
        written converted to sRGB, as :func:`~hairfx.recolor` sees it
        (:class:`~hairfx.frames.GivenFrame`), not as its values read as sRGB."""
        arr = GivenFrame(frame).work
        w, h = self.source_size
        if arr.shape[:2] != (h, w):
            raise InputError(f"frame is {arr.shape[1]}x{arr.shape[0]} but the video is {w}x{h}")
        if (w, h) != (self.width, self.height):  # odd sides: repeat the last column / row
            arr = np.pad(arr, ((0, self.height - h), (0, self.width - w), (0, 0)), mode="edge")
        if self._proc is not None:
            data = arr.tobytes()
            if self._times is not None:
                ns = round(_time_of(self.frames, self._times, self._end) * 10**9)
                self._pipe(_matroska_frame_head(ns, len(data)))
            self._pipe(data)
        elif self._cv is not None:
            self._cv.write(self._cv2.cvtColor(arr, self._cv2.COLOR_RGB2BGR))
        else:
            raise InputError("this VideoWriter has been closed")
        self.frames += 1

    def _pipe(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise HairfxError(f"ffmpeg stopped while writing {str(self.path)!r}: {self._ffmpeg_error()}") from None

    def close(self) -> None:
        """Finish the file (waits for ffmpeg) and move it to ``path``. Raises, keeping
        nothing, when ffmpeg failed or no frame was written."""
        if self.frames == 0 and (self._proc is not None or self._cv is not None):
            self.abort()
            raise InputError(f"no frames were written to {str(self.path)!r}; nothing was saved")
        try:
            if self._proc is not None:
                proc, self._proc = self._proc, None
                try:
                    proc.stdin.close()
                except OSError:
                    pass
                rc = proc.wait()
                msg = self._ffmpeg_error()
                self._log.close()
                # FFmpeg 5 exits 0 when the end of the file cannot be written (a full disk:
                # "Error writing trailer ... No space left on device"), leaving no index
                if rc != 0 or _WRITE_FAILED.search(msg):
                    status = f" (exit {rc})" if rc else ""
                    raise HairfxError(f"ffmpeg failed writing {str(self.path)!r}{status}: {msg}")
                streams = self._written_streams(_ffprobe(), msg)
                avi = self.path.suffix.lower() == ".avi"
                if self.audio and streams is not None and not any(_holds_sound(st, avi=avi) for st in streams):
                    self.audio = False
                    if avi and any(st.get("codec_type") == "audio" and st.get("codec_name") == "aac" for st in streams):
                        # listed, but empty: AAC re-encoded for an .avi gave it all to its priming
                        why = (f"it all went to the {_AAC_PRIMING} samples of priming of the AAC it was re-encoded "
                               "to, for which as many of its first samples are left out in an .avi")
                    else:
                        why = ("it ends before the first picture, or ffmpeg could not seek in it: a truncated file "
                               "has no index")
                    warnings.warn(
                        f"hairfx: no sound of {str(self._sound_of)!r} could be written with the video ({why}); "
                        f"{str(self.path)!r} has none", RuntimeWarning, stacklevel=2,
                    )
            elif self._cv is not None:
                self._cv.release()
                self._cv = None
                self._check_cv_written()
            else:
                return  # closed before
            try:
                self._replacement.commit()
            except OSError as exc:
                raise HairfxError(f"cannot write {str(self.path)!r}: {exc.strerror or exc}") from None
        finally:
            self._discard()

    def _discard(self) -> None:
        """Remove the temporary file, as far as the file system lets it (a read-only one
        refuses even a name that is not there: the error that brought us here is the one
        to report)."""
        try:
            self._replacement.discard()
        except OSError:
            pass

    def _written_streams(self, exe: str | None, said: str) -> list[dict] | None:
        """The streams of the file ffmpeg wrote, as ffprobe lists them (nothing else read);
        None without ffprobe. A file that holds no readable video (its end not written: a
        full disk, a quota) is refused, before it replaces anything."""
        if exe is None:
            return None
        streams, _, unreadable = _ffprobe_streams(exe, self._tmp)
        if unreadable is not None or _video_stream(streams) is None:
            why = unreadable or "no video stream"
            raise HairfxError(f"ffmpeg did not finish {str(self.path)!r} ({why})" + (f": {said}" if said else ""))
        return streams

    def _check_cv_written(self) -> None:
        """As :meth:`_written_streams` checks, for OpenCV's writer, which says nothing of a failed write."""
        with opencv_readable(self._tmp) as name:
            cap = self._cv2.VideoCapture(name)
        try:
            readable = cap.isOpened() and cap.read()[0]
        finally:
            cap.release()
        if not readable:
            raise HairfxError(f"OpenCV did not finish {str(self.path)!r}: the file it wrote cannot be read back "
                              "(a full disk?)")

    def abort(self) -> None:
        """Stop writing and discard the file; ``path`` is left as it was. The file goes
        even when a second Ctrl-C cuts short the wait for the killed ffmpeg."""
        try:
            if self._proc is not None:
                proc, self._proc = self._proc, None
                proc.kill()
                proc.wait()
                for f in (proc.stdin, self._log):
                    try:
                        f.close()
                    except OSError:
                        pass
            if self._cv is not None:
                self._cv.release()
                self._cv = None
        finally:
            self._discard()

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# ------------------------------------------------------------------ colour schedules

# NAME, or NAME:START-END; NAME may be a colour folder's path (without ',', ':' or ';')
_SEGMENT = re.compile(r"^\s*([^,:;]+?)\s*(?::\s*([0-9.]*)\s*-\s*([0-9.]*)\s*)?$")


@dataclass(frozen=True)
class _Segment:
    color: Color
    start: float
    end: float  # math.inf when open-ended


class ColorSchedule:
    """Which colour applies at each time, with cross-fades at the switches.

    :meth:`at` returns ``(old, new, t)``: the frame is the render of ``old`` mixed towards
    the render of ``new`` by ``t`` in ``[0, 1)`` (``new`` alone when ``t`` is 0 and ``old``
    is ``new``). ``None`` stands for "hair left unchanged".
    """

    def __init__(self, segments: list[_Segment], *, fade: float = FADE_SECONDS):
        fade = number(fade, "fade (seconds)", lo=0)
        self.segments = sorted(segments, key=lambda s: s.start)
        self.fade = fade
        # times where the colour changes, with the colour in effect just before each
        self._switches: list[tuple[float, Color | None]] = []
        bounds = sorted({s.start for s in self.segments} | {s.end for s in self.segments if math.isfinite(s.end)})
        for b in bounds:
            if b <= 0.0:
                continue
            old = next((s.color for s in self.segments if s.start < b <= s.end), None)
            if old is not self.color_at(b):
                self._switches.append((b, old))

    def color_at(self, t: float) -> Color | None:
        """The colour in effect at ``t`` seconds, ignoring fades."""
        for s in self.segments:
            if s.start <= t < s.end:
                return s.color
        return None

    def at(self, t: float) -> tuple[Color | None, Color | None, float]:
        """``(old, new, mix)`` for time ``t`` in seconds."""
        new = self.color_at(t)
        if self.fade > 0.0:
            for when, old in reversed(self._switches):
                if when <= t:
                    if t - when < self.fade and old is not new:
                        return old, new, (t - when) / self.fade
                    break
        return new, new, 0.0

    @property
    def colors(self) -> list[Color]:
        seen: list[Color] = []
        for s in self.segments:
            if s.color not in seen:
                seen.append(s.color)
        return seen


def parse_color_schedule(spec: "str | Color", *, fade: float = FADE_SECONDS) -> ColorSchedule:
    """Parse a colour schedule: ``"copper"`` (the whole clip) or comma-separated
    ``NAME:START-END`` segments in seconds, ``END`` left empty for "to the end"
    (``"copper:0-5,violet:5-"``). Segments may leave gaps (hair unchanged there) but must
    not overlap. Unknown colours raise :class:`~hairfx.errors.UnknownColorError`.

    >>> parse_color_schedule("copper:0-5,violet:5-").color_at(6).name  # doctest: +SKIP
    'violet'
    """
    if isinstance(spec, Color):
        return ColorSchedule([_Segment(spec, 0.0, math.inf)], fade=fade)
    if isinstance(spec, str) and "/" in spec and not re.search(r"[,:]", spec):  # one colour folder, by its path
        return ColorSchedule([_Segment(get_color(spec), 0.0, math.inf)], fade=fade)
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"colour schedule must be a non-empty string like 'copper:0-5,violet:5-', got {spec!r}")
    parts = spec.split(",")
    segments: list[_Segment] = []
    cache: dict[str, Color] = {}
    for part in parts:
        m = _SEGMENT.match(part)
        if m is None:
            raise InputError(
                f"malformed colour segment {part.strip()!r} in {spec!r}: expected NAME or NAME:START-END "
                "in seconds, e.g. 'copper:0-5,violet:5-'"
            )
        name, a, b = m.group(1), m.group(2), m.group(3)
        if a is None:
            if len(parts) > 1:
                raise InputError(f"colour {name!r} in {spec!r} needs a time range (NAME:START-END) when several are given")
            start, end = 0.0, math.inf
        else:
            try:
                start = float(a) if a else 0.0
                end = float(b) if b else math.inf
            except ValueError:
                raise InputError(f"malformed time range in {part.strip()!r}: times are seconds like 2.5") from None
            if not end > start:
                raise InputError(f"colour segment {part.strip()!r}: the end ({b}) must come after the start ({a or 0})")
        if name not in cache:
            cache[name] = get_color(name)
        segments.append(_Segment(cache[name], start, end))
    ordered = sorted(segments, key=lambda s: s.start)
    for x, y in zip(ordered, ordered[1:]):
        if y.start < x.end:
            raise InputError(
                f"colour segments overlap in {spec!r}: {x.color.name} runs {x.start:g}-{x.end:g} s "
                f"and {y.color.name} starts at {y.start:g} s"
            )
    return ColorSchedule(segments, fade=fade)


def parse_ombre(spec: str) -> tuple[Color, Color]:
    """``"copper,platinum"`` -> the (roots, tips) colours."""
    if not isinstance(spec, str):
        raise InputError(f"ombre must be 'ROOTS,TIPS' (two colour names), got {spec!r}")
    names = [n.strip() for n in spec.split(",")]
    if len(names) != 2 or not all(names):
        raise InputError(f"ombre must be 'ROOTS,TIPS' (two colour names), e.g. 'copper,platinum', got {spec!r}")
    return get_color(names[0]), get_color(names[1])


# ------------------------------------------------------------------------ compositing


def _smoothstep(x: np.ndarray) -> np.ndarray:
    np.clip(x, 0.0, 1.0, out=x)
    return x * x * (3.0 - 2.0 * x)


def ombre_weights(
    mask: np.ndarray,
    *,
    start: float = OMBRE_START,
    end: float = OMBRE_END,
    threshold: float = OMBRE_THRESHOLD,
) -> np.ndarray:
    """Roots-to-tips weight for an ``H x W`` float32 hair mask: ``H x W`` float32, 0 at the
    roots and 1 at the tips (0 everywhere when the mask has no hair).

    The scalp line ``top(x)`` is the first row with ``mask >= threshold`` in column ``x``,
    filled in across columns without hair and smoothed; a pixel's depth is
    ``(y - top(x)) / H_hair`` with ``H_hair`` the height of the hair region, and the weight
    is a smoothstep from ``start`` to ``end`` of that depth.

    >>> m = np.zeros((10, 4), np.float32); m[2:10] = 1
    >>> w = ombre_weights(m); float(w[2, 0]), float(w[9, 0])
    (0.0, 1.0)
    """
    if not 0.0 <= start < end <= 1.0:
        raise InputError(f"ombre needs 0 <= start < end <= 1, got start {start}, end {end}")
    h, w = mask.shape
    out = np.zeros((h, w), np.float32)
    hair = mask >= threshold
    cols = np.flatnonzero(hair.any(axis=0))
    if cols.size == 0:
        return out
    top = np.argmax(hair[:, cols], axis=0).astype(np.float32)
    bottom = (h - 1 - np.argmax(hair[::-1, cols], axis=0)).astype(np.float32)
    x = np.arange(w, dtype=np.float32)
    top_all = np.interp(x, cols.astype(np.float32), top).astype(np.float32)
    k = max(1, (int(cols[-1] - cols[0]) // 12) | 1)  # smooth the scalp line over ~1/12 of the hair width
    if k > 1:
        pad = np.pad(top_all, k // 2, mode="edge")
        top_all = np.convolve(pad, np.ones(k, np.float32) / k, mode="valid").astype(np.float32)
    height = max(1.0, float(bottom.max() - top.min()))
    box = mask_bbox(mask)
    y0, y1, x0, x1 = box
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    depth = (ys - top_all[None, x0:x1]) / np.float32(height)
    depth -= np.float32(start)
    depth *= np.float32(1.0 / (end - start))
    out[y0:y1, x0:x1] = _smoothstep(depth)
    return out


def mix(a: np.ndarray, b: np.ndarray, t, *, mask: np.ndarray | None = None) -> np.ndarray:
    """``round(a + t * (b - a))`` for two uint8 frames and a scalar or ``H x W`` weight.

    Where ``a == b`` the result is ``a`` exactly. With ``mask``, only its bounding box is
    computed (the renders agree outside it) and ``a`` is copied elsewhere.
    """
    if np.isscalar(t):
        if t <= 0.0:
            return a.copy()
    out = a.copy()
    box = mask_bbox(mask) if mask is not None else (0, a.shape[0], 0, a.shape[1])
    if box is None:
        return out
    y0, y1, x0, x1 = box
    fa = a[y0:y1, x0:x1].astype(np.float32)
    d = b[y0:y1, x0:x1].astype(np.float32)
    d -= fa
    if np.isscalar(t):
        d *= np.float32(t)
    else:
        d *= np.asarray(t, np.float32)[y0:y1, x0:x1, None]
    fa += d
    fa += 0.5
    np.clip(fa, 0.0, 255.0, out=fa)
    out[y0:y1, x0:x1] = fa.astype(np.uint8)
    return out


class VideoRecolorer(Closeable):
    """Recolours video frames with a colour schedule or an ombre, carrying state across
    frames through a :class:`~hairfx.recolor.RecolorSession` (previous-mask feedback to the
    hair-mask model, reset on scene cuts, smoothed intensity).

    Exactly one of ``color`` (a name, a :class:`Color` or a schedule string) and
    ``ombre`` (``(roots, tips)`` colours or ``"roots,tips"``) is given.

    Like a :class:`~hairfx.recolor.RecolorSession` it is one stream's and is not pickled:
    make one in each process.

    >>> with VideoRecolorer(color="copper:0-5,violet:5-") as rv:      # doctest: +SKIP
    ...     out = rv.process(frame, t=i / fps)
    """

    _not_pickled = _stream_not_pickled("VideoRecolorer")

    def __init__(
        self,
        *,
        color=None,
        ombre=None,
        strength: float = 1.0,
        renderer: str = "auto",
        interpolation: str = "trilinear",
        model: str = "small",
        smoothing: float = DEFAULT_SMOOTHING,
        fade: float = FADE_SECONDS,
        ensemble: bool | None = None,
        zoom: bool = True,
    ):
        if (color is None) == (ombre is None):
            raise InputError("give either a colour (schedule) or an ombre, not both and not neither")
        if ombre is not None:
            if isinstance(ombre, str):
                roots, tips = parse_ombre(ombre)
            elif isinstance(ombre, (tuple, list)) and len(ombre) == 2:
                roots, tips = get_color(ombre[0]), get_color(ombre[1])
            else:
                raise InputError(f"ombre must be 'ROOTS,TIPS' or a (roots, tips) pair of colours, got {ombre!r}")
            self.schedule = None
            self.ombre = (roots, tips)
            first = roots
        else:
            self.schedule = parse_color_schedule(color, fade=fade)
            self.ombre = None
            first = self.schedule.segments[0].color
        self.session = RecolorSession(
            first,
            strength=strength,
            renderer=renderer,
            interpolation=interpolation,
            model=model,
            smoothing=smoothing,
            ensemble=ensemble,
            zoom=zoom,
        )
        self.last_mask: np.ndarray | None = None

    def _render(self, frame: np.ndarray, mask: np.ndarray, colors: list[Color | None]) -> list[np.ndarray]:
        """One render per colour, sharing a single smoothed intensity update."""
        s = self.session
        results: dict[int, np.ndarray] = {}
        smoothed = False

        def used(raw: float) -> float:
            return s.intensity if s.intensity is not None else raw

        s.last_raw_intensity = s.last_weight = None  # a frame with no hair has none
        for c in colors:
            if c is None or id(c) in results:
                continue
            f = used if smoothed else s._smooth
            result = s._render(frame, mask, c, f)
            results[id(c)] = result.frame
            if not smoothed:
                s.last_weight = result.weight  # the first colour's, as RecolorSession keeps one
            smoothed = True
        return [frame if c is None else results[id(c)] for c in colors]

    def process(self, frame, t: float = 0.0, mask=None):
        """Recolour one RGB frame shown at ``t`` seconds; ``frame`` and ``mask`` as in
        :meth:`RecolorSession.process` (``mask=None``: the hair-mask model), and the frame
        returned of the same kind: an array for an array; for a PIL image, a PIL image, one
        with a colour profile recoloured (and its hair found) in sRGB and given back with its
        profile, as :func:`~hairfx.recolor` does (:class:`VideoWriter` writes it in sRGB)."""
        if self.session.renderer is None:
            raise InputError("this VideoRecolorer has been closed")
        t = number(t, "t (the frame's time in seconds)", lo=0)
        given = GivenFrame(frame)
        with self.session._guard.frame():  # the session's guard: one frame at a time, and not once closed
            return given.output(self._process(given.work, t, mask))

    def _process(self, arr: np.ndarray, t: float, mask) -> np.ndarray:
        m = self.session._mask(arr, mask)
        self.last_mask = self.session.last_mask = m
        if self.ombre is not None:
            roots, tips = self._render(arr, m, list(self.ombre))
            return mix(roots, tips, ombre_weights(m), mask=m)
        old, new, k = self.schedule.at(t)
        if old is new:
            return arr.copy() if new is None else self._render(arr, m, [new])[0]
        a, b = self._render(arr, m, [old, new])
        return mix(a, b, k, mask=m)

    def reset(self) -> None:
        self.session.reset()

    def close(self) -> None:
        self.session.close()


# ------------------------------------------------------------------------- whole files


class _Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second on a terminal;
    written to a file or a pipe (a log), only its last state, once, as a line of its own."""

    def __init__(self, total: int | None, *, stream=None, enabled: bool = True):
        self.total, self.stream, self.enabled = total, stream or sys.stderr, enabled
        try:
            self.live = bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):  # a stand-in without one, or closed
            self.live = False
        self.start = self._last = time.perf_counter()
        self.done = 0

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and self.live and (now - self._last >= 0.1 or self.done == self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self.start, 1e-9)
        if self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 30)
            eta = (self.total - self.done) / rate if rate > 0 else 0.0
            done = f"{self.done}/{counted(self.total, 'frame')}"
            line = f"\r[{bar:<30}] {frac:4.0%} {done}  {rate:5.1f} fps  ETA {eta:4.0f} s"
        else:
            line = f"\r{counted(self.done, 'frame')}  {rate:5.1f} fps"
        self.stream.write(line if self.live else line[1:])
        self.stream.flush()

    def finish(self, complete: bool = False) -> None:
        """End the line; ``complete``: the input ended, so show 100 % whatever its count said."""
        if complete and self.total and self.done:
            self.total = self.done
        if self.enabled:
            now = time.perf_counter()
            if not (self.live and now - self._last < 0.05 and self.done == self.total):  # else drawn already
                self._draw(now)
            self.stream.write("\n")
            self.stream.flush()


def recolor_video(
    src: "str | os.PathLike",
    dst: "str | os.PathLike",
    *,
    color=None,
    ombre=None,
    strength: float = 1.0,
    renderer: str = "auto",
    interpolation: str = "trilinear",
    model: str = "small",
    smoothing: float = DEFAULT_SMOOTHING,
    fade: float = FADE_SECONDS,
    masks: Callable[[int, np.ndarray], np.ndarray] | None = None,
    max_frames: int | None = None,
    progress: bool = True,
    keep_audio: bool = True,
    ensemble: bool | None = None,
    zoom: bool = True,
) -> VideoInfo:
    """Recolour every frame of ``src`` into ``dst``, keeping its size, frame count, frame
    rate and (with ffmpeg) its pixel shape and every audio stream; a variable-rate clip
    keeps each frame's time (:class:`VideoWriter`'s ``times``), and its colour schedule
    follows them. ``color``/``ombre`` as in :class:`VideoRecolorer`; ``masks(i, frame)``
    supplies masks instead of the model; ``model`` and ``ensemble`` as in
    :func:`~hairfx.recolor.recolor`, ``zoom`` as in :class:`~hairfx.recolor.RecolorSession`.
    Returns the output's :class:`VideoInfo`.

    >>> recolor_video("in.mp4", "out.mp4", color="copper:0-5,violet:5-")   # doctest: +SKIP
    """
    if max_frames is not None:
        max_frames = number(max_frames, "max_frames", lo=1, integer=True)
    src, dst = as_path(src, "video"), as_path(dst, "output video")
    write_target(dst)  # a symbolic link that cannot be written through, before resolve() meets its loop
    same = src.exists() and dst.exists() and os.path.samefile(src, dst)  # hard links too
    if same or src.resolve() == dst.resolve():
        raise InputError(f"output {str(dst)!r} would overwrite the input")
    with VideoReader(src) as reader:
        info = reader.info
        if masks is None:  # said of the file, before the model loads and ffmpeg starts
            from .segmenter import MIN_SIDE

            if min(info.width, info.height) < MIN_SIDE:
                raise InputError(f"{str(src)!r} is {info.width}x{info.height}, smaller than the {MIN_SIDE} px per side "
                                 "the hair-mask model needs")
        total = info.frames if max_frames is None else min(max_frames, info.frames or max_frames)
        # a variable-rate clip: each frame written at its own time, and coloured by it
        times, end, audio_seconds = frame_timing(info, max_frames)
        with VideoRecolorer(
            color=color,
            ombre=ombre,
            strength=strength,
            renderer=renderer,
            interpolation=interpolation,
            model=model,
            smoothing=smoothing,
            fade=fade,
            ensemble=ensemble,
            zoom=zoom,
        ) as rv:
            writer = VideoWriter(
                dst,
                width=info.width,
                height=info.height,
                fps=info.fps,
                audio_from=info if keep_audio else None,
                audio_seconds=audio_seconds,
                sample_aspect_ratio=info.sample_aspect_ratio,
                times=times,
                end=end,
            )
            bar = _Progress(total, enabled=progress)
            finished = False
            try:
                for i, frame in enumerate(reader):
                    if max_frames is not None and i >= max_frames:
                        break
                    mask = masks(i, frame) if masks is not None else None
                    t = float(_time_of(i, times, end)) if times is not None else i / float(info.fps)
                    writer.write(rv.process(frame, t=t, mask=mask))
                    bar.update()
                finished = writer.frames > 0
            finally:
                bar.finish(complete=finished)  # before any error, so the message starts a line of its own
                if not finished:
                    writer.abort()  # an error, Ctrl-C or no frames: the output stays as it was
    if writer.frames == 0:
        raise InputError(f"{str(src)!r} holds no decodable frames")
    writer.close()
    short = shortfall(info, writer.frames, name=repr(str(src)), limit=max_frames)
    if short:
        warnings.warn(f"hairfx: {short}", RuntimeWarning, stacklevel=2)
    if _ffprobe() is not None:  # what the file holds, its audio codecs and pixel format too
        # with the frames counted as written: a .mkv keeps no count, and probe's guess from
        # its duration (often the sound's) is not the number of frames it holds; and without
        # sound where the writer found none in what it wrote (an AVI may list an empty stream)
        got = replace(probe(dst), frames=writer.frames)
        return got if writer.audio else replace(got, has_audio=False, audio_codecs=())
    return VideoInfo(
        dst, writer.width, writer.height, info.fps, writer.frames, writer.audio, frames_stated=True,
        sample_aspect_ratio=writer.sample_aspect_ratio,
    )
