"""hairfx.video and ``hairfx video``: files, colour schedules, ombre, temporal state.

Compositing tests pass explicit masks (a fixed soft ellipse), so they check the video
plumbing and compositing exactly; the CLI tests run the shipped small hair-mask model.
Frames are a real clip from ../shared/data/videos, cut short and scaled down.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import subprocess
import sys
import time
import warnings
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

import hairfx
from hairfx.cli import main
from hairfx.errors import HairfxError, InputError, MissingFileError, UnknownColorError
from hairfx.video import (
    ColorSchedule,
    VideoInfo,
    VideoReader,
    VideoRecolorer,
    VideoWriter,
    mix,
    ombre_weights,
    parse_color_schedule,
    parse_ombre,
    probe,
    recolor_video,
)
from hairfx.video import _Sound, _ffmpeg_release, _ffmpeg_release_of, _passthrough_option, _seconds, _stream_fps
from hairfx.video import _BT601_TO_BT709_RGB, _video_stream

from conftest import DATA, REPO

CLIP = DATA / "videos" / "liveportrait_source_s32.mp4"  # 1280x720, 30 fps, with audio
SMALL = (320, 180)
N_FRAMES = 12  # 0.4 s at 30 fps
#: Largest per-channel difference (8-bit levels) between a frame and the same frame after
#: H.264 at the writer's crf 18 and 4:2:0, on flat colours and the test pattern's wide bars.
TOL_CODEC = 4


def ellipse_mask(h: int, w: int) -> np.ndarray:
    """A soft ellipse over the upper middle of the frame, standing in for a hair mask."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((xx - w / 2) / (w * 0.22)) ** 2 + ((yy - h * 0.35) / (h * 0.3)) ** 2
    return np.clip((1.2 - r) * 2.0, 0.0, 1.0).astype(np.float32)


@pytest.fixture
def hair_model():
    """The shipped small hair-mask model (the CLI and the example load it themselves)."""
    from hairfx.segmenter import get_segmenter

    return get_segmenter("small")


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    if not CLIP.is_file():
        pytest.skip(f"test clip {CLIP} not found (the shared data folder sits beside the repository)")
    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    while len(frames) < N_FRAMES:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(bgr, SMALL, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> object:
    """The first 0.4 s of the real clip at 320x180, with its audio (needs ffmpeg)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("ffmpeg is not installed")
    if not CLIP.is_file():
        pytest.skip(f"test clip {CLIP} not found (the shared data folder sits beside the repository)")
    out = tmp_path_factory.mktemp("clip") / "short.mp4"
    subprocess.run(
        [exe, "-v", "error", "-y", "-i", str(CLIP), "-frames:v", str(N_FRAMES), "-t", "0.4", "-vf", f"scale={SMALL[0]}:{SMALL[1]}",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)],
        check=True,
    )
    return out


def plain_renders(frames, color, masks):
    """The reference: a plain single-colour RecolorSession over the same frames and masks."""
    with hairfx.RecolorSession(color, renderer="cpu") as s:
        return [s.process(f, mask=m) for f, m in zip(frames, masks)]


# --------------------------------------------------------------------- schedules


def test_schedule_single_colour_covers_everything():
    s = parse_color_schedule("copper")
    assert s.color_at(0.0).name == "copper" and s.color_at(1e6).name == "copper"
    assert s.at(3.0) == (s.color_at(3.0), s.color_at(3.0), 0.0)


def test_schedule_switch_with_cross_fade_after_the_switch():
    s = parse_color_schedule("copper:0-5,violet:5-", fade=0.5)
    copper, violet = s.color_at(1.0), s.color_at(6.0)
    assert (copper.name, violet.name) == ("copper", "violet")
    assert s.at(4.999) == (copper, copper, 0.0)  # before the switch: the plain old colour
    old, new, k = s.at(5.25)
    assert (old, new) == (copper, violet) and k == pytest.approx(0.5)
    assert s.at(5.5) == (violet, violet, 0.0)


def test_schedule_hard_switch_and_gaps():
    s = parse_color_schedule("copper:1-2,violet:3-", fade=0)
    assert s.at(0.5) == (None, None, 0.0)
    assert s.at(1.0)[1].name == "copper"
    assert s.at(2.5) == (None, None, 0.0)
    assert s.at(3.0)[1].name == "violet"
    faded = parse_color_schedule("copper:1-2", fade=0.2)
    old, new, k = faded.at(2.1)  # fading out into the gap
    assert old.name == "copper" and new is None and k == pytest.approx(0.5)


@pytest.mark.parametrize(
    "spec, words",
    [
        ("copper:0-5,violet", "needs a time range"),
        ("copper:5-2", "must come after"),
        ("copper:a-b", "expected NAME"),
        ("copper:0-5,violet:4-", "overlap"),
        ("copper:0-1.2.3", "malformed time"),
        ("", "non-empty"),
        ("copper;violet", "expected NAME"),
    ],
)
def test_schedule_malformed_specs_say_why(spec, words):
    with pytest.raises(InputError, match=words):
        parse_color_schedule(spec)


def test_schedule_unknown_colour_lists_names():
    with pytest.raises(UnknownColorError, match="copper"):
        parse_color_schedule("copper:0-1,nosuchcolour:1-")


def test_schedule_rejects_negative_fade():
    with pytest.raises(InputError, match="fade"):
        ColorSchedule([], fade=-1)


def test_parse_ombre():
    roots, tips = parse_ombre("copper, platinum")
    assert (roots.name, tips.name) == ("copper", "platinum")
    for bad in ("copper", "copper,platinum,violet", "copper,", 3):
        with pytest.raises(InputError, match="ROOTS,TIPS"):
            parse_ombre(bad)


# ------------------------------------------------------------------- compositing


def test_ombre_weights_run_roots_to_tips():
    m = np.zeros((100, 60), np.float32)
    m[20:90, 10:50] = 1.0
    w = ombre_weights(m)
    assert w.dtype == np.float32 and w.shape == m.shape
    col = w[20:90, 30]
    assert col[0] == 0.0 and col[-1] == 1.0
    assert np.all(np.diff(col) >= 0)  # never lighter towards the roots
    assert np.all(w[:20] == 0)
    assert not ombre_weights(np.zeros((8, 8), np.float32)).any()


def test_ombre_follows_the_scalp_line():
    # a dome: the hair starts lower at the sides, so the ramp starts lower there too
    m = np.zeros((100, 100), np.float32)
    for x in range(100):
        top = 20 + int(abs(x - 50) * 0.6)
        m[top:95, x] = 1.0
    w = ombre_weights(m)
    assert w[45, 50] > w[45, 10]


def test_mix_is_exact_where_inputs_agree():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert np.array_equal(mix(a, a.copy(), rng.random((16, 16)).astype(np.float32)), a)
    b = np.full_like(a, 200)
    assert np.array_equal(mix(a, b, 0.0), a) and np.array_equal(mix(a, b, 1.0), b)


def test_time_varying_colour_changes_only_what_it_should(clip_frames):
    masks = [ellipse_mask(*f.shape[:2]) for f in clip_frames]
    fps = 30.0
    switch = 6 / fps  # the 7th frame
    fade = 3 / fps
    spec = f"copper:0-{switch},violet:{switch}-"
    with VideoRecolorer(color=spec, renderer="cpu", fade=fade) as rv:
        outs = [rv.process(f, t=i / fps, mask=m) for i, (f, m) in enumerate(zip(clip_frames, masks))]
    copper = plain_renders(clip_frames, "copper", masks)
    violet = plain_renders(clip_frames, "violet", masks)
    for i, (f, m, out) in enumerate(zip(clip_frames, masks, outs)):
        outside = m == 0
        assert np.array_equal(out[outside], f[outside]), f"frame {i}: pixels outside the mask changed"
        t = i / fps
        if t <= switch:  # before (and at) the switch: exactly the plain copper render
            assert np.array_equal(out, copper[i]), f"frame {i}"
        elif t >= switch + fade - 1e-9:
            assert np.array_equal(out, violet[i]), f"frame {i}"
        else:  # in the fade: between the two, and different from both
            lo = np.minimum(copper[i], violet[i]).astype(int) - 1
            hi = np.maximum(copper[i], violet[i]).astype(int) + 1
            assert np.all((out >= lo) & (out <= hi))
            assert not np.array_equal(out, copper[i]) and not np.array_equal(out, violet[i])


def test_ombre_changes_only_the_hair(clip_frames):
    frames = clip_frames[:3]
    masks = [ellipse_mask(*f.shape[:2]) for f in frames]
    with VideoRecolorer(ombre="copper,platinum", renderer="cpu") as rv:
        outs = [rv.process(f, mask=m) for f, m in zip(frames, masks)]
    copper = plain_renders(frames, "copper", masks)
    platinum = plain_renders(frames, "platinum", masks)
    for f, m, out, c, p in zip(frames, masks, outs, copper, platinum):
        assert np.array_equal(out[m == 0], f[m == 0])
        w = ombre_weights(m)
        roots, tips = (m > 0) & (w == 0), (m > 0) & (w == 1)
        assert roots.any() and tips.any()
        assert np.array_equal(out[roots], c[roots])
        assert np.array_equal(out[tips], p[tips])


def test_recolorer_needs_exactly_one_of_colour_and_ombre():
    with pytest.raises(InputError, match="either"):
        VideoRecolorer()
    with pytest.raises(InputError, match="either"):
        VideoRecolorer(color="copper", ombre="copper,platinum")


def test_video_objects_refuse_to_be_pickled_and_say_what_to_do(tmp_path, ffmpeg):
    """Each holds something of its own process (a stream's state and a renderer, an open
    file, an encoder): pickling one (to a worker process) names the class and what to do
    instead, where Python named a lock, a VideoCapture or a pipe inside it."""
    import pickle

    frame = np.full((16, 16, 3), 90, np.uint8)
    with VideoRecolorer(color="copper", renderer="cpu") as rv:
        rv.process(frame, mask=np.ones((16, 16), np.float32))
        with pytest.raises(TypeError, match=r"^cannot pickle a VideoRecolorer: .*make a VideoRecolorer in each process"):
            pickle.dumps(rv)
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, width=16, height=16, fps=10) as writer:
        for _ in range(2):
            writer.write(frame)
        with pytest.raises(TypeError, match=r"^cannot pickle a VideoWriter: .*write each file from the process"):
            pickle.dumps(writer)
    with VideoReader(path) as reader:
        with pytest.raises(TypeError, match=r"^cannot pickle a VideoReader: .*open a VideoReader in each process"):
            pickle.dumps(reader)
        assert reader.read().shape == (16, 16, 3)  # still reading


@pytest.mark.parametrize("t", [float("nan"), float("inf"), -1.0, None, "0"])
def test_a_frame_time_that_is_no_time_is_refused(clip_frames, t):
    """It was taken as "before the first colour" (NaN, a negative time) and the frame came
    back unchanged, or gave a raw TypeError (None)."""
    frame = clip_frames[0]
    with VideoRecolorer(color="copper", renderer="cpu") as rv:
        with pytest.raises(InputError, match=r"t \(the frame's time in seconds\) must be"):
            rv.process(frame, t=t, mask=ellipse_mask(*frame.shape[:2]))


# ------------------------------------------------------------------------- files


def test_probe_and_reader(short_clip):
    info = probe(short_clip)
    assert (info.width, info.height, info.fps, info.frames, info.has_audio) == (*SMALL, 30, N_FRAMES, True)
    with VideoReader(short_clip) as r:
        frames = list(r)
    assert len(frames) == N_FRAMES and frames[0].shape == (SMALL[1], SMALL[0], 3)


def test_probe_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="not found"):
        probe(tmp_path / "nothing.mp4")


def ffmpeg_or_skip() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None or shutil.which("ffprobe") is None:
        pytest.skip("ffmpeg is not installed")
    return exe


def make_clip(exe: str, out, *args: str) -> None:
    """Five or more 64x48 test-pattern frames at 30 fps, shaped by ``args``."""
    subprocess.run(
        [exe, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", *args,
         "-c:v:0", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)],
        check=True,
    )


def test_probe_skips_cover_art(tmp_path):
    exe = ffmpeg_or_skip()
    cover = tmp_path / "cover.png"
    cv2.imwrite(str(cover), np.full((16, 16, 3), 200, np.uint8))
    clip = tmp_path / "cover.mp4"
    # the cover is listed after the video, with r_frame_rate 90000/1 and no frame count
    make_clip(exe, clip, "-i", str(cover), "-map", "0:v", "-map", "1:v", "-frames:v:0", "5",
              "-c:v:1", "png", "-disposition:v:1", "attached_pic")
    info = probe(clip)
    assert (info.width, info.height, info.fps, info.frames) == (64, 48, 30, 5)


def test_probe_takes_the_average_rate_of_a_variable_rate_clip(tmp_path):
    exe = ffmpeg_or_skip()
    clip = tmp_path / "vfr.mp4"
    # 12 frames at 30 fps with frames 3..8 dropped and their timestamps kept: 0.6 s, so
    # r_frame_rate stays 30/1 while the average is 20 fps
    make_clip(exe, clip, "-vf", "select='not(between(n,3,8))'", "-frames:v", "12",
              *_passthrough_option(_ffmpeg_release_of(exe)))
    info = probe(clip)
    assert (info.fps, info.frames) == (20, 12)
    assert math.isclose(info.duration, 0.6)


def test_a_variable_rate_matroska_states_its_average_rate(tmp_path):
    """30 frames at 30 fps then 10 at 10 fps, joined into one .mkv: its avg_frame_rate says
    30 (the first frames'), which made 40 frames last 1.3 s instead of 2."""
    exe = ffmpeg_or_skip()
    make_clip(exe, tmp_path / "a.mkv", "-frames:v", "30")
    make_clip(exe, tmp_path / "b.mkv", "-vf", "fps=10", "-frames:v", "10")
    (tmp_path / "list.txt").write_text("file a.mkv\nfile b.mkv\n")
    subprocess.run([exe, "-v", "error", "-f", "concat", "-i", str(tmp_path / "list.txt"), "-c", "copy",
                    str(tmp_path / "vfr.mkv")], check=True)  # fmt: skip
    assert _ffprobe_streams(tmp_path / "vfr.mkv")[0]["avg_frame_rate"] == "30/1"
    info = probe(tmp_path / "vfr.mkv")
    assert (info.fps, info.frames) == (20, 40) and info.duration == 2.0
    # a constant-rate .mkv keeps its stated rate exactly
    make_clip(exe, tmp_path / "cfr.mkv", "-r", "30000/1001", "-frames:v", "20")
    assert probe(tmp_path / "cfr.mkv").fps == Fraction(30000, 1001)


def _slow_then_fast(exe: str, out, *args: str) -> None:
    """A variable-rate clip: 1.5 s at 15 fps then 1.5 s at 30 fps (23 + 45 frames, 3 s), as
    H.264 with B-frames; ``args`` add to it (another input, a sound)."""
    make_clip(exe, out, *args, "-vf", "select='gte(n,45)+not(mod(n,2))'", "-frames:v", "68", "-bf", "3",
              *_passthrough_option(_ffmpeg_release_of(exe)))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_variable_rate_clip_keeps_its_length_and_the_time_of_every_frame(tmp_path, suffix, hair_model, capsys):
    """Written at its average rate, its frames were evenly spaced, and an MP4 came out
    3.067 s long instead of 3: the average rate of one with B-frames, as its avg_frame_rate
    states it (510/23 for 68/3), is counted over its decoding times, which start earlier
    than they end by the first frames' reordering delay (frames at 15 fps, not 30)."""
    exe = ffmpeg_or_skip()
    src = tmp_path / f"vfr{suffix}"
    _slow_then_fast(exe, src)
    shown = _shown_times(src)
    assert len(shown) == 68 and shown[22:24] == pytest.approx([22 / 15, 1.5], abs=1e-3)
    assert (probe(src).fps, probe(src).frames) == (Fraction(68, 3), 68)
    out = tmp_path / "out.mp4"
    got = recolor_video(src, out, color="copper:1.5-", fade=0, renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert (got.fps, got.frames) == (Fraction(68, 3), 68)
    assert float(_ffprobe_streams(out)[0]["duration"]) == pytest.approx(3.0, abs=1e-6)
    assert _shown_times(out) == pytest.approx(shown, abs=1e-6)
    # the colour schedule follows the frames' times: the hair turns copper at 1.5 s, from
    # frame 23 on (not from frame 34, where 1.5 s falls at the average rate)
    with VideoReader(src) as a, VideoReader(out) as b:
        change = [float(np.abs(x.astype(np.int16) - y).mean()) for x, y in zip(a, b)]
    assert max(change[:23]) < TOL_CODEC < min(change[23:]), change
    # cut short, it keeps the times of the frames it keeps, and ends where the next began
    got = recolor_video(src, tmp_path / "cut.mp4", color="copper", renderer="cpu", progress=False, max_frames=30,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
    assert got.frames == 30 and _shown_times(tmp_path / "cut.mp4") == pytest.approx(shown[:30], abs=1e-6)
    assert got.duration == pytest.approx(shown[30])
    # and `hairfx video` writes the same times
    assert main(["video", str(src), "-c", "copper", "--renderer", "cpu", "-q", "-o", str(tmp_path / "cli.mov")]) == 0
    assert "68 frames, 64x48 at 22.667 fps" in capsys.readouterr().out  # the average rate, in decimals
    assert _shown_times(tmp_path / "cli.mov") == pytest.approx(shown, abs=1e-6)
    assert float(_ffprobe_streams(tmp_path / "cli.mov")[0]["duration"]) == pytest.approx(3.0, abs=1e-6)


def test_a_variable_rate_matroska_written_to_a_pipe_ends_where_its_video_does(tmp_path):
    """Written to a pipe (``ffmpeg ... -f matroska pipe:1 > clip.mkv``), a Matroska file
    states no length of its video: FFmpeg gives it the file's, that of its sound (3.06 s
    here, against 3 s of pictures), and the last frame lasted until the sound ended (the
    rate 22.2 fps for 22.667). The same file written to disk states its video's length
    (its DURATION tag): the oracle."""
    exe = ffmpeg_or_skip()
    _slow_then_fast(exe, tmp_path / "v.mkv")
    on_disk, piped = tmp_path / "on_disk.mkv", tmp_path / "piped.mkv"
    subprocess.run([exe, "-v", "error", "-i", str(tmp_path / "v.mkv"), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=3.06", "-c:v", "copy", "-c:a", "aac", str(on_disk)],
                   check=True)  # fmt: skip
    with open(piped, "wb") as f:
        subprocess.run([exe, "-v", "error", "-i", str(on_disk), "-c", "copy", "-f", "matroska", "pipe:1"],
                       stdout=f, check=True)  # fmt: skip
    assert probe(piped).video_seconds is None and probe(on_disk).video_seconds == pytest.approx(3.0)
    expected = hairfx.video.frame_timing(probe(on_disk))
    assert float(expected.end) == pytest.approx(3.0)
    info = probe(piped)
    assert (info.fps, info.frames) == (Fraction(68, 3), 68)
    assert hairfx.video.frame_timing(info) == expected
    out = tmp_path / "out.mp4"
    recolor_video(piped, out, color="copper", renderer="cpu", progress=False,
                  masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
    assert float(_ffprobe_streams(out)[0]["duration"]) == pytest.approx(3.0, abs=1e-6)
    shown = _shown_times(on_disk)  # from 0.023 s, after the sound's first AAC packet
    assert _shown_times(out) == pytest.approx([t - shown[0] for t in shown], abs=1e-6)


def test_a_variable_rate_mp4_whose_stream_ends_at_its_last_frame_keeps_its_length(tmp_path):
    """An MP4 with B-frames states its stream's duration as its last frame's time (1.5 s
    here; the file's, 2 s, is right): taken as the end, the last frame lasted nothing, the
    copy 1.501 s long at 10/3 fps."""
    ffmpeg_or_skip()
    src = tmp_path / "vfr.mp4"
    with VideoWriter(src, width=64, height=48, fps=5, times=[0, 0.1, 0.5, 0.6, 1.5], end=2) as w:
        for i in range(5):
            w.write(np.full((48, 64, 3), 40 * i, np.uint8))
    assert float(_ffprobe_streams(src)[0]["duration"]) == pytest.approx(1.5)
    assert probe(src).fps == Fraction(5, 2)
    out = tmp_path / "out.mp4"
    got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
    assert (got.fps, got.frames) == (Fraction(5, 2), 5) and got.duration == pytest.approx(2.0)
    assert _shown_times(out) == pytest.approx([0, 0.1, 0.5, 0.6, 1.5], abs=1e-6)


def test_a_variable_rate_mp4_cut_without_re_encoding_counts_the_frames_it_shows(tmp_path):
    """Cut 1 s in with ``-c copy``, the MP4 keeps the packets before the cut, hidden by its
    edit list, in nb_frames (68): that count was kept, and the 53 frames decoded were
    warned of as a truncated file."""
    exe = ffmpeg_or_skip()
    _slow_then_fast(exe, tmp_path / "vfr.mp4")
    cut = tmp_path / "cut.mp4"
    subprocess.run([exe, "-v", "error", "-ss", "1", "-i", str(tmp_path / "vfr.mp4"), "-c", "copy", str(cut)],
                   check=True)  # fmt: skip
    with VideoReader(cut) as r:
        shown = sum(1 for _ in r)
    assert int(_ffprobe_streams(cut)[0]["nb_frames"]) > shown
    info = probe(cut)
    assert info.frames == shown and not info.frames_stated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = recolor_video(cut, tmp_path / "out.mp4", color="copper", renderer="cpu", progress=False,
                            masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
    assert got.frames == shown


def test_timestamps_are_read_once_and_not_for_a_constant_rate_mp4(tmp_path, monkeypatch):
    """frame_timing read every clip's timestamps again after probe (a pass of ffprobe over the
    whole file: 0.1 s for a 10-s clip, 1 s for 30 min at 60 fps), an evenly spaced MP4's too,
    whose average rate is that of its timestamps' grid; it is written as before, as raw frames
    at its rate."""
    import hairfx.video as video

    exe = ffmpeg_or_skip()
    make_clip(exe, tmp_path / "even.mp4", "-frames:v", "10")
    _slow_then_fast(exe, tmp_path / "vfr.mp4")
    _slow_then_fast(exe, tmp_path / "vfr.mkv")
    subprocess.run([exe, "-v", "error", "-i", str(tmp_path / "vfr.mp4"), "-c", "copy", str(tmp_path / "vfr.ts")],
                   check=True)  # fmt: skip
    read = []
    real = video._read_timing
    monkeypatch.setattr(video, "_read_timing", lambda *a, **kw: read.append(a[2]) or real(*a, **kw))
    for name, reads, variable in [("even.mp4", 0, False), ("vfr.mp4", 1, True), ("vfr.mkv", 1, True),
                                  ("vfr.ts", 1, True)]:  # MPEG-TS states no count: read when needed
        read.clear()
        timing = video.frame_timing(probe(tmp_path / name))
        assert (len(read), timing.times is not None) == (reads, variable), name
    timing = video.frame_timing(probe(tmp_path / "even.mp4"))
    with VideoWriter(tmp_path / "out.mp4", width=64, height=48, fps=30, times=timing.times, end=timing.end) as w:
        assert w._proc.args[w._proc.args.index("-f") + 1] == "rawvideo"
        w.write(np.zeros((48, 64, 3), np.uint8))


@pytest.mark.parametrize("suffix, n", [(".mkv", 10), (".webm", 10), (".mkv", 39)])
def test_frames_that_share_a_time_are_spread_to_the_next_one(tmp_path, suffix, n):
    """Frame ``n`` at frame n-1's time (FFmpeg writes such a file with a warning about
    "non-strictly-monotonic PTS"): recolouring failed, the clip's own times refused as
    "frame times must be ... increasing"."""
    exe = ffmpeg_or_skip()
    src = tmp_path / f"same{suffix}"
    codec = ["-c:v", "libx264"] if suffix == ".mkv" else ["-c:v", "libvpx-vp9", "-deadline", "realtime"]
    subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-vf",
                    f"setpts='PTS-eq(N,{n})'", "-frames:v", "40", *_passthrough_option(_ffmpeg_release_of(exe)),
                    *codec, "-pix_fmt", "yuv420p", str(src)], check=True)  # fmt: skip
    shown = _shown_times(src)
    assert len(shown) == 40 and shown[n - 1] == shown[n]
    got = recolor_video(src, tmp_path / "out.mp4", color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
    end = shown[-1] + 0.033  # the last frame lasts as long as it says
    assert got.frames == 40
    assert float(_ffprobe_streams(tmp_path / "out.mp4")[0]["duration"]) == pytest.approx(end, abs=1e-6)
    # the second of the two halfway to the next frame (or the end); every other at its own time
    after = shown[n + 1] if n + 1 < 40 else end
    expected = [*shown[:n], (shown[n] + after) / 2, *shown[n + 1:]]
    assert _shown_times(tmp_path / "out.mp4") == pytest.approx(expected, abs=1e-6)


def test_a_clip_whose_frames_mostly_share_times_is_read(tmp_path):
    """Frames three to a time, 0.12 s apart: most intervals are 0, and their median made
    probe divide by zero."""
    exe = ffmpeg_or_skip()
    src = tmp_path / "dup.mkv"
    subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-frames:v", "12",
                    "-vf", "setpts='floor(N/3)*0.12/TB'", *_passthrough_option(_ffmpeg_release_of(exe)),
                    "-c:v", "ffv1", str(src)], check=True)  # fmt: skip
    assert _shown_times(src) == pytest.approx([0.12 * (i // 3) for i in range(12)], abs=1e-6)
    info = probe(src)
    assert info.frames == 12 and info.duration == pytest.approx(0.4)
    out = tmp_path / "out.mp4"
    got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
    assert got.frames == 12
    # each run of one time spread evenly up to the next (the last up to the end, 0.4 s)
    assert _shown_times(out) == pytest.approx([0.04 * i for i in range(9)] + [0.36, 0.36 + 0.04 / 3, 0.36 + 0.08 / 3],
                                              abs=1e-3)
    assert float(_ffprobe_streams(out)[0]["duration"]) == pytest.approx(0.4, abs=1e-3)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_clip_of_one_or_two_frames_keeps_its_length(tmp_path, suffix):
    """Frames 0 and 5 of a 30 fps clip, the second lasting 1/30 s: 0.2 s. Its one interval
    was taken as the rate (6 fps), and the copy lasted 0.333 s."""
    exe = ffmpeg_or_skip()
    fast = _passthrough_option(_ffmpeg_release_of(exe))
    make_clip(exe, tmp_path / f"two{suffix}", "-vf", "select='eq(n,0)+eq(n,5)'", "-frames:v", "2", *fast)
    make_clip(exe, tmp_path / f"even{suffix}", "-frames:v", "2")
    make_clip(exe, tmp_path / f"one{suffix}", "-frames:v", "1")
    for name, times, seconds in [("two", [0, 1 / 6], 0.2), ("even", [0, 1 / 30], 1 / 15), ("one", [0], 1 / 30)]:
        out = tmp_path / f"{name}-out.mp4"
        got = recolor_video(tmp_path / f"{name}{suffix}", out, color="copper", renderer="cpu", progress=False,
                            masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
        assert got.frames == len(times) and _shown_times(out) == pytest.approx(times, abs=1e-3), name
        assert float(_ffprobe_streams(out)[0]["duration"]) == pytest.approx(seconds, abs=1e-3), name
    assert probe(tmp_path / f"two{suffix}").fps == 10 and probe(tmp_path / f"even{suffix}").fps == 30


def test_a_variable_rate_mp4_copied_into_matroska_keeps_its_average_rate(tmp_path):
    """Copied without re-encoding, the .mkv states the MP4's avg_frame_rate, 510/23 (counted
    over decoding times), within 5 % of its timestamps' 68/3: it was kept, and the frames
    counted from it (67 for 68); an AVI copy, at one rate, lasted 3.067 s for 3."""
    exe = ffmpeg_or_skip()
    _slow_then_fast(exe, tmp_path / "vfr.mp4")
    subprocess.run([exe, "-v", "error", "-i", str(tmp_path / "vfr.mp4"), "-c", "copy", str(tmp_path / "vfr.mkv")],
                   check=True)  # fmt: skip
    assert _ffprobe_streams(tmp_path / "vfr.mkv")[0]["avg_frame_rate"] == "510/23"
    info = probe(tmp_path / "vfr.mkv")
    assert (info.fps, info.frames) == (Fraction(68, 3), 68)
    recolor_video(tmp_path / "vfr.mkv", tmp_path / "out.avi", color="copper", renderer="cpu", progress=False,
                  masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
    assert float(_ffprobe_streams(tmp_path / "out.avi")[0]["duration"]) == pytest.approx(3.0, abs=1e-3)


def test_a_variable_rate_clip_cut_into_one_rate_keeps_the_sound_of_its_frames(tmp_path):
    """Cut to 30 frames, it ends at 1.733 s at its own times, where its sound was cut, but an
    AVI holds one rate: there the 30 frames end at 1.324 s, and the sound ran 0.5 s past them."""
    exe = ffmpeg_or_skip()
    src = tmp_path / "vfr.mp4"
    _slow_then_fast(exe, src, "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac")
    for name, seconds in [("out.avi", 30 / (68 / 3)), ("out.mp4", 26 / 15)]:
        recolor_video(src, tmp_path / name, color="copper", renderer="cpu", progress=False, max_frames=30,
                      masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
        video, audio = (float(s["duration"]) for s in _ffprobe_streams(tmp_path / name))
        # AAC is cut in packets of 1024 samples; an AVI stated 0.09 s more, as long as the
        # sound was moved to follow the B-frames' decoding times
        assert video == pytest.approx(seconds, abs=1e-3) and 0 <= audio - video < 1024 / 44100, name


def test_a_program_stream_with_b_frames_keeps_its_stated_rate(tmp_path):
    """Only Matroska and WebM have their timestamps read: an MPEG-PS file's B-frames have none
    of their own (N/A), which gave 19.4 fps for 25 and a clip 31 % too long."""
    exe = ffmpeg_or_skip()
    subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "2",
                    "-c:v", "mpeg2video", "-bf", "2", "-f", "vob", str(tmp_path / "ps.mpg")], check=True)  # fmt: skip
    assert probe(tmp_path / "ps.mpg").fps == 25


def test_an_mp4_cut_without_re_encoding_is_not_called_truncated(tmp_path):
    """Its nb_frames counts the frames before the cut that its edit list hides."""
    from hairfx.video import shortfall

    exe = ffmpeg_or_skip()
    make_clip(exe, tmp_path / "long.mp4", "-frames:v", "90", "-g", "90")  # one keyframe: the cut keeps them all
    subprocess.run([exe, "-v", "error", "-ss", "1.3", "-i", str(tmp_path / "long.mp4"), "-t", "1", "-c", "copy",
                    str(tmp_path / "cut.mp4")], check=True)  # fmt: skip
    stated = int(_ffprobe_streams(tmp_path / "cut.mp4")[0]["nb_frames"])
    with VideoReader(tmp_path / "cut.mp4") as r:
        decoded = sum(1 for _ in r)
    assert stated > decoded + 10  # what was wrongly taken as a truncated file
    info = probe(tmp_path / "cut.mp4")
    assert not info.frames_stated and abs(info.frames - decoded) <= 2
    assert shortfall(info, decoded, name="cut.mp4") is None


def test_a_truncated_file_that_gave_one_frame_says_so_in_the_singular():
    from hairfx.video import VideoInfo, shortfall

    info = VideoInfo(Path("cut.mkv"), 64, 48, Fraction(25), 50, False, video_seconds=2.0)
    assert shortfall(info, 1, name="cut.mkv") == ("cut.mkv states 2.00 s of video (50 frames at 25 fps) but only "
                                                  "1 frame could be decoded; the file may be truncated")


def test_a_variable_rate_clips_average_is_said_in_decimals():
    """The average rate of 120 frames over 3.999 s (a Matroska clip's milliseconds) is
    27997/933, which was said as 30.0075 fps."""
    from hairfx.video import VideoInfo, shortfall

    info = VideoInfo(Path("cut.mkv"), 64, 48, Fraction(27997, 933), None, False, video_seconds=3.999)
    assert "(120 frames at 30.008 fps)" in shortfall(info, 1, name="cut.mkv")


def test_a_file_named_like_an_option_is_probed_as_a_file(short_clip, tmp_path, monkeypatch):
    """ffprobe took "-clip.mp4" for an option: no audio, rotation or frame count was seen."""
    ffmpeg_or_skip()
    shutil.copy(short_clip, tmp_path / "-clip.mp4")
    monkeypatch.chdir(tmp_path)
    assert probe(Path("-clip.mp4")) == dataclasses.replace(probe(short_clip), path=Path("-clip.mp4"))
    assert probe(Path("-clip.mp4")).has_audio and probe(Path("-clip.mp4")).frames_stated


def test_a_webm_with_vp9_alpha_is_refused(tmp_path):
    """pix_fmt says yuv420p: FFmpeg's own VP9 decoder drops the alpha that WebM keeps aside."""
    exe = ffmpeg_or_skip()
    out = subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "color=c=red@0.0:s=32x32:r=10:d=0.5,format=rgba",
                          "-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p", str(tmp_path / "alpha.webm")])  # fmt: skip
    if out.returncode != 0:
        pytest.skip("this ffmpeg has no libvpx-vp9 encoder")
    assert _ffprobe_streams(tmp_path / "alpha.webm")[0]["pix_fmt"] == "yuv420p"
    with pytest.raises(InputError, match="has transparent pixels"):
        VideoReader(tmp_path / "alpha.webm")


def test_each_writer_has_a_temporary_file_of_its_own(tmp_path):
    """Named .NAME.partial.mp4 for every writer, it was shared by two jobs writing one
    output, and an input with that name was written over and removed."""
    ffmpeg_or_skip()
    bait = tmp_path / ".o.partial.mp4"
    bait.write_bytes(b"someone's clip")
    a, b = (VideoWriter(tmp_path / "o.mp4", width=16, height=16, fps=10) for _ in range(2))
    try:
        assert a._tmp != b._tmp and bait not in (a._tmp, b._tmp)
        assert a._tmp.parent == tmp_path and a._tmp.name.startswith(".o.")
    finally:
        a.abort()
        b.abort()
    assert bait.read_bytes() == b"someone's clip"


@pytest.mark.parametrize("linked", [False, True])
def test_the_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path, linked):
    """A writer killed by SIGKILL (or the out-of-memory killer) cannot remove its hidden
    file. The next write of a file removes such copies, but only of the other writers'
    names: a video's (.o.PID.RANDOM.partial.mp4) stayed beside it for good, as large as the
    video. OpenCV's writer is used: it writes in the killed process itself, so the file is
    complete when the process is gone (ffmpeg, in a session of its own, would go on).
    Written through a link (o.mp4 pointing at real.mov), the file takes the link's
    extension (.real.mov.PID.RANDOM.tmp.mp4), and only the target's was looked for."""
    import signal

    out = tmp_path / "o.mp4"
    if linked:
        out.symlink_to("real.mov")
    code = ("import os, signal, sys, numpy as np; from hairfx.video import VideoWriter\n"
            "w = VideoWriter(sys.argv[1], width=16, height=16, fps=10, use_ffmpeg=False)\n"
            "w.write(np.zeros((16, 16, 3), np.uint8))\n"
            "print(w._tmp, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, cwd=REPO,
                            timeout=120)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    orphan = Path(killed.stdout.strip())
    assert orphan.is_file() and orphan.parent == tmp_path
    with VideoWriter(out, width=16, height=16, fps=10, use_ffmpeg=False) as w:
        assert not orphan.exists()
        w.write(np.zeros((16, 16, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == (["o.mp4", "real.mov"] if linked else ["o.mp4"])


def test_a_writer_whose_ffmpeg_stops_before_the_first_frame_keeps_nothing(tmp_path, monkeypatch):
    """ffmpeg gone before it took the Matroska header of a variable-rate write: the error
    came from VideoWriter() itself, whose ffmpeg, pipe and log were never closed."""
    import hairfx.video as video

    ffmpeg_or_skip()
    started = []
    real = subprocess.Popen
    monkeypatch.setattr(video.subprocess, "Popen", lambda *a, **kw: started.append(real(*a, **kw)) or started[-1])

    def gone(self, data):
        raise HairfxError("ffmpeg stopped")

    monkeypatch.setattr(VideoWriter, "_pipe", gone)
    with pytest.raises(HairfxError, match="ffmpeg stopped"):
        VideoWriter(tmp_path / "out.mp4", width=16, height=16, fps=10, times=[0, 0.1], end=0.3)
    proc = started[-1]  # ffmpeg writing the file (after one asked its release)
    assert proc.returncode is not None and proc.stdin.closed
    assert list(tmp_path.iterdir()) == []


def test_the_writer_shows_each_frame_at_the_time_given(tmp_path):
    ffmpeg_or_skip()
    times = [Fraction(0), Fraction(1, 10), Fraction(3, 10), Fraction(7, 10)]
    colours = [(200, 60, 30), (30, 160, 220), (240, 220, 40), (90, 20, 140)]  # BT.601 would shift them
    frames = [np.full((48, 64, 3), c, np.uint8) for c in colours]
    for name in ("timed.mkv", "timed.mov"):
        with VideoWriter(tmp_path / name, width=64, height=48, fps=10, times=times, end=Fraction(85, 100)) as w:
            for f in frames:
                w.write(f)
        assert _shown_times(tmp_path / name) == pytest.approx([0, 0.1, 0.3, 0.7], abs=1e-6)
        got = probe(tmp_path / name)
        assert (got.frames, got.duration) == (4, pytest.approx(0.85))
    # the same pixels as at an even rate: the frames reach ffmpeg another way
    with VideoWriter(tmp_path / "even.mp4", width=64, height=48, fps=10) as w:
        for f in frames:
            w.write(f)
    with VideoReader(tmp_path / "timed.mov") as a, VideoReader(tmp_path / "even.mp4") as b:
        for x, y, f in zip(a, b, frames):
            assert max(np.abs(x.astype(np.int16) - f).max(), np.abs(y.astype(np.int16) - f).max()) <= TOL_CODEC
    # an AVI file holds one rate: the frames are spaced evenly at fps
    with VideoWriter(tmp_path / "one_rate.avi", width=64, height=48, fps=10, times=times) as w:
        for f in frames:
            w.write(f)
    got = probe(tmp_path / "one_rate.avi")
    assert (got.fps, got.frames) == (10, 4)


@pytest.mark.parametrize("last", [Fraction(1, 2), Fraction(3, 10), Fraction(1, 2000)])
@pytest.mark.parametrize("name", ["timed.mp4", "timed.mkv"])
def test_the_last_frame_lasts_as_long_as_given(tmp_path, name, last):
    """A last frame of 200 ms or more lasted as long as the first interval (a clip 0.3 s long
    for 0.7), FFmpeg having guessed the rate from the first frames; one of a millisecond or
    less lasted nothing, and an MP4 hid it."""
    ffmpeg_or_skip()
    times = [Fraction(0), Fraction(1, 10), Fraction(2, 10)]
    with VideoWriter(tmp_path / name, width=64, height=48, fps=10, times=times, end=times[-1] + last) as w:
        for i in range(3):
            w.write(np.full((48, 64, 3), 80 * i, np.uint8))
    assert _shown_times(tmp_path / name) == pytest.approx([0, 0.1, 0.2], abs=1e-6)
    seconds = float(_ffprobe_streams(tmp_path / name)[0].get("duration") or probe(tmp_path / name).video_seconds)
    # a last frame under a millisecond lasts one, the shortest FFmpeg keeps
    assert seconds == pytest.approx(0.2 + max(float(last), 0.001), abs=1e-6)
    with VideoReader(tmp_path / name) as r:
        assert len(list(r)) == 3


@pytest.mark.parametrize(
    "times, end, words",
    [([0, 0.2, 0.1], None, "starting at 0 and increasing, got \\[0.0, 0.2, 0.1\\]"),
     ([0.5, 1], None, "starting at 0"), (["soon"], None, "numbers of seconds, got \\['soon'\\]"),
     ([0, float("nan")], None, "numbers of seconds"), ([0, 1], 0.5, r"end \(0.5 s\) must come after the last frame's"),
     (None, 1.0, "needs the frames' times"), ([], None, "starting at 0")],
)
def test_frame_times_that_are_no_times_are_refused(tmp_path, times, end, words):
    with pytest.raises(InputError, match=words):
        VideoWriter(tmp_path / "o.mp4", width=16, height=16, fps=10, times=times, end=end)
    assert list(tmp_path.iterdir()) == []


def test_video_stream_choice_on_ffprobe_json():
    cover = {"codec_type": "video", "r_frame_rate": "90000/1", "avg_frame_rate": "0/0", "disposition": {"attached_pic": 1}}
    picture = {"codec_type": "video", "r_frame_rate": "30/1", "avg_frame_rate": "20/1", "nb_frames": "12",
            "disposition": {"attached_pic": 0}}
    second = {"codec_type": "video", "r_frame_rate": "25/1", "avg_frame_rate": "25/1"}
    audio = {"codec_type": "audio", "r_frame_rate": "0/0", "avg_frame_rate": "0/0"}
    assert _video_stream([cover, audio, picture, second]) is picture
    assert _video_stream([audio, cover]) is None and _video_stream([]) is None
    assert _stream_fps(picture) == 20
    assert _stream_fps({"r_frame_rate": "30000/1001", "avg_frame_rate": "0/0"}) == Fraction(30000, 1001)
    assert _stream_fps({"r_frame_rate": "24/1"}) == 24
    assert _stream_fps({"avg_frame_rate": "0/0", "r_frame_rate": "0/0"}) is None


@pytest.mark.parametrize(
    "text, release",
    [
        ("ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021 the FFmpeg developers", (4, 4)),
        ("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2026 the FFmpeg developers", (5, 1)),
        ("ffmpeg version 5.0.3 Copyright (c) 2000-2022 the FFmpeg developers", (5, 0)),
        ("ffmpeg version n6.0 Copyright (c) 2000-2023 the FFmpeg developers", (6, 0)),
        ("ffmpeg version 7.1 Copyright (c) 2000-2024 the FFmpeg developers\nbuilt with clang", (7, 1)),
        ("ffmpeg version 6.0-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2023", (6, 0)),
        ("ffmpeg version N-112345-g1234abcd56 Copyright (c) 2000-2024 the FFmpeg developers", None),
        ("ffmpeg version 2023-03-05-git-912ac82a3c-full_build-www.gyan.dev Copyright", None),
        ("", None),
        ("bash: ffmpeg: command not found", None),
    ],
)
def test_ffmpeg_release_parsing(text, release):
    assert _ffmpeg_release(text) == release


@pytest.mark.parametrize(
    "release, option",
    [((4, 4), "-vsync"), ((5, 0), "-vsync"), ((5, 1), "-fps_mode"), ((6, 0), "-fps_mode"), ((10, 0), "-fps_mode"),
     (None, "-fps_mode")],
)
def test_passthrough_option_follows_the_release(release, option):
    assert _passthrough_option(release) == [option, "passthrough"]


def test_writer_uses_vsync_for_ffmpeg_before_5_1(tmp_path, monkeypatch):
    import hairfx.video

    ffmpeg_or_skip()
    monkeypatch.setattr(hairfx.video, "_ffmpeg_release_of", lambda exe: (4, 4))
    commands = []
    popen = subprocess.Popen

    def recording_popen(cmd, **kwargs):
        commands.append(cmd)
        return popen(cmd, **kwargs)

    monkeypatch.setattr(hairfx.video.subprocess, "Popen", recording_popen)
    with VideoWriter(tmp_path / "old.mp4", width=32, height=16, fps=30) as w:
        for i in range(3):
            w.write(np.full((16, 32, 3), i * 60, np.uint8))
    assert "-vsync" in commands[0] and "-fps_mode" not in commands[0]
    assert probe(tmp_path / "old.mp4").frames == 3


def test_recolor_video_keeps_count_rate_and_audio(short_clip, tmp_path, monkeypatch):
    import hairfx.video

    probed = []
    monkeypatch.setattr(hairfx.video, "probe", lambda p, _probe=probe: probed.append(p) or _probe(p))
    out = tmp_path / "out.mp4"
    info = recolor_video(short_clip, out, color="copper", renderer="cpu", progress=False,
                         masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    # once: the writer takes the sound's VideoInfo, not the path again (it probes only its own output)
    assert [Path(p) for p in probed].count(Path(short_clip)) == 1
    got = probe(out)
    assert (got.width, got.height, got.fps, got.frames, got.has_audio) == (*SMALL, 30, N_FRAMES, True)
    assert info == got  # all of it: the audio codecs and pixel format too, not a partial guess
    assert info.audio_codec == "aac" and info.pixel_format == "yuv420p"
    for bad in ("5", 2.5, 0, True):
        with pytest.raises(InputError, match="max_frames"):
            recolor_video(short_clip, tmp_path / "bad.mp4", color="copper", renderer="cpu", progress=False,
                          max_frames=bad)
    assert not (tmp_path / "bad.mp4").exists()


def test_writer_without_ffmpeg_warns_and_drops_audio(short_clip, tmp_path, monkeypatch):
    import hairfx.video

    monkeypatch.setattr(hairfx.video, "_ffmpeg", lambda: None)
    out = tmp_path / "cv.mp4"
    with pytest.warns(RuntimeWarning, match="ffmpeg not found: .* without any sound the source has"):
        info = recolor_video(short_clip, out, color="copper", renderer="cpu", progress=False,
                             masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert info.frames == N_FRAMES and not info.has_audio
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == N_FRAMES
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    cap.release()


def test_ffmpeg_without_ffprobe_says_the_sound_is_left_out(short_clip, tmp_path, monkeypatch):
    import hairfx.video

    monkeypatch.setattr(hairfx.video, "_ffprobe", lambda: None)  # a lone ffmpeg binary on the PATH
    with pytest.warns(RuntimeWarning, match="ffprobe not found: .*none is copied"):
        info = recolor_video(short_clip, tmp_path / "h264.mp4", color="copper", renderer="cpu", progress=False,
                             masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert info.frames == N_FRAMES and not info.has_audio


def test_writer_checks_frames(tmp_path):
    with VideoWriter(tmp_path / "w.mp4", width=32, height=16, fps=30, use_ffmpeg=False) as w:
        with pytest.raises(InputError, match="32x16"):
            w.write(np.zeros((8, 8, 3), np.uint8))
        w.write(np.zeros((16, 32, 3), np.uint8))
    with pytest.raises(InputError, match="does not exist"):
        VideoWriter(tmp_path / "no" / "w.mp4", width=32, height=16, fps=30)
    (tmp_path / "a_file").write_bytes(b"x")
    with pytest.raises(InputError, match=r"a_file is a file, not a folder"):
        VideoWriter(tmp_path / "a_file" / "sub" / "w.mp4", width=32, height=16, fps=30)


def _ffprobe_streams(path) -> list[dict]:
    import json

    entries = "stream=codec_type,codec_name,pix_fmt,width,height,avg_frame_rate,r_frame_rate,nb_frames,duration"
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)["streams"]


def _shown_times(path) -> list[float]:
    """When each frame of the first video stream of ``path`` is shown, in seconds, as
    ffprobe lists its packets' timestamps (in presentation order)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True)  # fmt: skip
    return sorted(float(t) for t in out.stdout.replace(",", " ").split())  # MPEG-TS: "1.466667," (side data)


def test_odd_sizes_are_written_as_playable_4_2_0_with_the_edge_repeated(tmp_path):
    ffmpeg_or_skip()
    rng = np.random.default_rng(3)
    frame = np.zeros((41, 63, 3), np.uint8)
    frame[:, :32] = 40
    frame[:, 32:] = 200  # the last column is bright: so must be the one added
    frame[:, :, 2] = rng.integers(0, 20, (41, 63))
    with VideoWriter(tmp_path / "odd.mp4", width=63, height=41, fps=30) as w:
        for _ in range(3):
            w.write(frame)
    assert (w.width, w.height) == (64, 42)
    video = [s for s in _ffprobe_streams(tmp_path / "odd.mp4") if s["codec_type"] == "video"][0]
    assert (video["codec_name"], video["pix_fmt"], video["width"], video["height"]) == ("h264", "yuv420p", 64, 42)
    with VideoReader(tmp_path / "odd.mp4") as r:
        got = r.read()
    assert np.abs(got[:41, 63].astype(int) - got[:41, 62]).max() <= 6  # a copy of its neighbour, not black
    assert got[41, :63, 0].mean() > 30


def test_audio_the_container_cannot_hold_is_re_encoded(tmp_path):
    exe = ffmpeg_or_skip()
    src = tmp_path / "pcm.mov"
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-f", "lavfi",
                    "-i", "sine=frequency=440:sample_rate=44100", "-t", "0.3", "-c:v", "libx264", "-preset",
                    "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", str(src)], check=True)  # fmt: skip
    assert probe(src).audio_codec == "pcm_s16le"
    for name, codec in [("out.mp4", "aac"), ("out.mov", "pcm_s16le"), ("out.mkv", "pcm_s16le")]:
        recolor_video(src, tmp_path / name, color="copper", renderer="cpu", progress=False,
                      masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
        audio = [s for s in _ffprobe_streams(tmp_path / name) if s["codec_type"] == "audio"]
        assert [s["codec_name"] for s in audio] == [codec], name


def test_a_failed_or_interrupted_job_leaves_the_old_output_and_no_partial_file(short_clip, tmp_path):
    ffmpeg_or_skip()
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"yesterday's render")

    def interrupt(i, frame):
        if i == 5:
            raise KeyboardInterrupt
        return ellipse_mask(*frame.shape[:2])

    with pytest.raises(KeyboardInterrupt):
        recolor_video(short_clip, out, color="copper", renderer="cpu", progress=False, masks=interrupt)
    assert out.read_bytes() == b"yesterday's render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(out, width=32, height=16, fps=30) as w:
            w.write(np.zeros((16, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert out.read_bytes() == b"yesterday's render" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]
    w = VideoWriter(out, width=32, height=16, fps=30)
    with pytest.raises(InputError, match="no frames were written .* nothing was saved"):
        w.close()
    assert out.read_bytes() == b"yesterday's render" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]


def test_a_second_ctrl_c_while_ffmpeg_is_stopped_leaves_no_partial_file(tmp_path, monkeypatch):
    """Ctrl-C twice in quick succession: the second came while abort() waited for the
    killed ffmpeg, and the hidden partial file stayed beside the output."""
    ffmpeg_or_skip()
    w = VideoWriter(tmp_path / "out.mp4", width=32, height=16, fps=30)
    for _ in range(3):
        w.write(np.zeros((16, 32, 3), np.uint8))
    for _ in range(200):  # ffmpeg has started and made its file
        if any(tmp_path.iterdir()):
            break
        time.sleep(0.05)
    assert [p.name for p in tmp_path.iterdir()] == [w._tmp.name]
    proc, log = w._proc, w._log
    wait = proc.wait

    def interrupted(*a, **kw):
        monkeypatch.setattr(proc, "wait", wait)
        raise KeyboardInterrupt

    monkeypatch.setattr(proc, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        w.abort()
    proc.wait()
    log.close()
    with contextlib.suppress(OSError):  # the frames left in the pipe's buffer: ffmpeg is gone
        proc.stdin.close()
    assert list(tmp_path.iterdir()) == []


def test_outputs_and_inputs_that_cannot_be_a_video_are_refused(short_clip, tmp_path):
    ffmpeg_or_skip()
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(InputError, match="folder.mp4'?: it is a folder"):  # before encoding, not after
        VideoWriter(tmp_path / "folder.mp4", width=32, height=16, fps=30)
    for name in ("out.webm", "out.gif", "out"):
        with pytest.raises(InputError, match=r"hairfx writes H.264 video into \.mp4, \.m4v, \.mov, \.mkv, \.avi"):
            VideoWriter(tmp_path / name, width=32, height=16, fps=30)
    still = tmp_path / "photo.mp4"  # a PNG under a video's name
    cv2.imwrite(str(tmp_path / "photo.png"), np.full((16, 16, 3), 90, np.uint8))
    shutil.copy(tmp_path / "photo.png", still)
    for path in (tmp_path / "photo.png", still):
        with pytest.raises(InputError, match="is a still image, not a video; recolour it with `hairfx recolor`"):
            probe(path)
    (tmp_path / "notes.jpg").write_text("a text file under an image's name")  # FFmpeg's image2, by the name
    with pytest.raises(InputError, match=r"notes\.jpg' is neither a video nor an image \(FFmpeg takes it for one by"):
        probe(tmp_path / "notes.jpg")
    link = tmp_path / "hard_link.mp4"
    link.hardlink_to(short_clip)
    with pytest.raises(InputError, match="would overwrite the input"):
        recolor_video(short_clip, link, color="copper", renderer="cpu", progress=False)
    assert probe(short_clip).frames == N_FRAMES
    with pytest.raises(MissingFileError, match="video not found"):  # beside an existing output
        recolor_video(tmp_path / "missing.mp4", link, color="copper", renderer="cpu", progress=False)
    (tmp_path / "clips.mp4").mkdir()
    with pytest.raises(InputError, match="clips.mp4' is a folder, not a video file"):
        probe(tmp_path / "clips.mp4")


def _ffprobe_video(path) -> dict:
    import json

    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "V:0", "-show_entries",
                          "stream=width,height,sample_aspect_ratio,color_space,color_primaries,color_transfer:"
                          "stream_side_data=rotation", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)["streams"][0]


def _turned(exe: str, src, out) -> None:
    """``src`` remuxed with a 90-degree rotation tag, as phones record upright video: the
    ``-display_rotation`` input option of FFmpeg 6.1 and later, else the ``rotate`` tag."""
    for how in (["-display_rotation", "90", "-i", str(src)], ["-i", str(src), "-metadata:s:v:0", "rotate=90"]):
        done = subprocess.run([exe, "-v", "error", "-y", *how, "-c", "copy", str(out)], capture_output=True)
        if done.returncode == 0 and _ffprobe_video(out).get("side_data_list"):
            return
    pytest.skip("this ffmpeg cannot tag a rotation")


def _decoded_upright(exe: str, path) -> np.ndarray:
    """The first frame as ffmpeg shows it (turned by the rotation tag, its own colour matrix)."""
    info = _ffprobe_video(path)
    w, h = info["width"], info["height"]
    if any(abs(round(float(s.get("rotation", 0)))) % 180 == 90 for s in info.get("side_data_list", [])):
        w, h = h, w
    raw = subprocess.run([exe, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], capture_output=True, check=True).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3)


def test_a_phone_video_with_a_rotation_tag_is_read_and_written_upright(tmp_path):
    exe = ffmpeg_or_skip()
    flat, src = tmp_path / "flat.mp4", tmp_path / "turned.mp4"
    # 64x48 pictures, shown as 48x64: black with a white corner and a red one, so a wrong
    # turn or a second one shows
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "color=black:size=64x48:rate=30", "-vf",
                    "drawbox=x=0:y=0:w=32:h=24:color=white:t=fill,drawbox=x=48:y=32:w=16:h=16:color=red:t=fill",
                    "-frames:v", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(flat)],
                   check=True)  # fmt: skip
    _turned(exe, flat, src)
    info = probe(src)
    assert (info.width, info.height, info.frames) == (48, 64, 4)
    out = tmp_path / "out.mp4"
    got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: np.zeros(f.shape[:2], np.float32))  # no hair: the pictures unchanged
    assert (got.width, got.height, got.frames) == (48, 64, 4)
    assert "side_data_list" not in _ffprobe_video(out)  # upright pixels, no tag to turn them twice
    diff = np.abs(_decoded_upright(exe, out).astype(int) - _decoded_upright(exe, src))
    assert diff.mean() <= TOL_CODEC  # turned the wrong way or twice, it differs by about 100


def test_anamorphic_pixels_keep_their_shape(tmp_path):
    """A 4:3 pixel (64x48 shown at 16:9) was written square, so the output played squashed."""
    exe = ffmpeg_or_skip()
    src = tmp_path / "wide.mp4"
    make_clip(exe, src, "-frames:v", "3", "-vf", "setsar=4/3")
    assert probe(src).sample_aspect_ratio == Fraction(4, 3)
    out = tmp_path / "out.mp4"
    got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert got.sample_aspect_ratio == probe(out).sample_aspect_ratio == Fraction(4, 3)
    assert _ffprobe_video(out)["sample_aspect_ratio"] == "4:3"
    turned = tmp_path / "turned.mp4"
    _turned(exe, src, turned)  # read upright as 48x64: each pixel is now taller than wide
    assert probe(turned).sample_aspect_ratio == Fraction(3, 4)
    recolor_video(turned, out, color="copper", renderer="cpu", progress=False,
                  masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert _ffprobe_video(out)["sample_aspect_ratio"] == "3:4"


def test_colours_are_written_as_bt709_and_tagged_so(tmp_path):
    """Untagged, FFmpeg wrote BT.601 YUV that players show as BT.709 for HD video: a
    green of (48, 160, 96) became (37, 143, 92)."""
    exe = ffmpeg_or_skip()
    colour = np.full((48, 64, 3), (48, 160, 96), np.uint8)
    with VideoWriter(tmp_path / "flat.mp4", width=64, height=48, fps=30) as w:
        for _ in range(3):
            w.write(colour)
    tags = _ffprobe_video(tmp_path / "flat.mp4")
    assert (tags["color_space"], tags["color_primaries"], tags["color_transfer"]) == ("bt709",) * 3
    assert np.abs(_decoded_upright(exe, tmp_path / "flat.mp4").astype(int) - colour).max() <= TOL_CODEC
    with VideoReader(tmp_path / "flat.mp4") as r:
        assert np.abs(r.read().astype(int) - colour).max() <= TOL_CODEC


def _p3_to_srgb(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` in Display P3 converted to sRGB by LittleCMS through Pillow (the oracle)."""
    from PIL import Image, ImageCms

    from hairfx.icc import matrix_shaper_profile

    p3 = ImageCms.ImageCmsProfile(ImageCms.core.profile_frombytes(matrix_shaper_profile("Display P3")))
    transform = ImageCms.buildTransform(p3, ImageCms.createProfile("sRGB"), "RGB", "RGB")
    return np.asarray(ImageCms.applyTransform(Image.fromarray(rgb), transform))


def _with_p3_profile(rgb: np.ndarray):
    from PIL import Image

    from hairfx.icc import matrix_shaper_profile

    image = Image.fromarray(rgb)
    image.info["icc_profile"] = matrix_shaper_profile("Display P3")
    return image


def test_a_pil_frame_with_a_colour_profile_is_written_in_srgb(tmp_path):
    """The video's colours are sRGB's (BT.709): a Display P3 frame's values were written as
    they were, read as sRGB (a red of P3 (200, 80, 60) shown 16 levels off), where recolor()
    and the renderers convert such an image to sRGB."""
    exe = ffmpeg_or_skip()
    p3 = np.full((48, 64, 3), (200, 80, 60), np.uint8)
    want = _p3_to_srgb(p3)
    assert np.abs(want.astype(int) - p3).max() > 3 * TOL_CODEC  # the conversion is far from nothing
    with VideoWriter(tmp_path / "p3.mp4", width=64, height=48, fps=30) as w:
        for _ in range(3):
            w.write(_with_p3_profile(p3))
    assert np.abs(_decoded_upright(exe, tmp_path / "p3.mp4").astype(int) - want).max() <= TOL_CODEC


@pytest.mark.parametrize("ombre", [False, True])
def test_a_pil_frame_with_a_colour_profile_is_recoloured_in_srgb_and_keeps_it(portrait, ombre):
    """VideoRecolorer.process took a Display P3 image's values as sRGB and gave back an array,
    where RecolorSession.process and recolor() recolour it in sRGB and give back the image
    with its profile, every pixel outside the hair its own."""
    from PIL import Image

    frame, mask = portrait
    image = _with_p3_profile(frame)
    options = {"ombre": "copper,platinum"} if ombre else {"color": "copper"}
    with VideoRecolorer(renderer="cpu", **options) as rv:
        out = rv.process(image, mask=mask)
    assert isinstance(out, Image.Image) and out.info.get("icc_profile") == image.info["icc_profile"]
    got, levels = np.asarray(out), np.round(mask * 255)
    np.testing.assert_array_equal(got[levels == 0], frame[levels == 0])  # not touched
    # the hair, seen in sRGB, is what the sRGB picture recolours to (LittleCMS as the oracle)
    with VideoRecolorer(renderer="cpu", **options) as rv:
        want = rv.process(_p3_to_srgb(frame), mask=mask)
    seen = _p3_to_srgb(got).astype(int)
    hair = levels == 255
    assert np.abs(seen - want)[hair].mean() < 1.0 and np.abs(seen - want)[hair].max() <= 4
    if not ombre:  # one colour: what a RecolorSession makes of the image
        with hairfx.RecolorSession("copper", renderer="cpu") as s:
            np.testing.assert_array_equal(got, np.asarray(s.process(image, mask=mask)))
    with VideoRecolorer(renderer="cpu", **options) as rv:  # arrays stay arrays
        assert isinstance(rv.process(frame, mask=mask), np.ndarray)


def test_every_audio_stream_is_kept_each_in_a_codec_the_container_holds(tmp_path):
    """The first stream's codec was used for all: a second one in PCM failed the .mp4 at the end."""
    exe = ffmpeg_or_skip()
    src = tmp_path / "two.mov"
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-f", "lavfi",
                    "-i", "sine=frequency=440", "-f", "lavfi", "-i", "sine=frequency=880", "-t", "0.3", "-map", "0:v",
                    "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a:0", "aac", "-c:a:1", "pcm_s16le", "-metadata:s:a:0", "language=eng",
                    "-metadata:s:a:1", "language=fra", str(src)], check=True)  # fmt: skip
    assert probe(src).audio_codecs == ("aac", "pcm_s16le")
    out = tmp_path / "out.mp4"
    got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert got.has_audio and probe(out).audio_codecs == ("aac", "aac")
    languages = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                                "stream_tags=language", "-of", "csv=p=0", str(out)],
                               capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert languages == ["eng", "fra"]


def test_a_clip_with_transparent_pixels_is_refused_and_an_opaque_one_read(tmp_path):
    """OpenCV drops the alpha channel and shows what lay under the transparent pixels."""
    exe = ffmpeg_or_skip()
    for name, source, clear in [("see_through.mov", "color=c=red@0.5:size=32x16:rate=30", True),
                                ("opaque.mov", "testsrc=size=32x16:rate=30", False)]:  # fmt: skip
        src = tmp_path / name
        subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", f"{source},format=argb", "-frames:v", "3",
                        "-c:v", "qtrle", str(src)], check=True)  # fmt: skip
        assert probe(src).pixel_format == "argb"
        if clear:
            with pytest.raises(InputError, match="has transparent pixels .*argb.*flatten it"):
                VideoReader(src)
        else:
            with VideoReader(src) as r:
                assert len(list(r)) == 3


@pytest.mark.parametrize("name", ["notes.mp4", "noise.mov"])
def test_a_file_that_is_no_video_under_an_mp4_name_is_not_called_cut_short(tmp_path, name):
    """FFmpeg takes any file named .mp4 or .mov that it cannot place by its content for one,
    and says "moov atom not found" of it: a page of text, or random bytes, was said to be
    an MP4 whose index is missing, "cut short, or still being written"."""
    ffmpeg_or_skip()
    src = tmp_path / name
    src.write_bytes(b"# My holiday clips\n\nTo do: recolour them.\n" if name.endswith("mp4") else
                    np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    with pytest.raises(InputError) as err:
        probe(src)
    assert str(err.value) == (f"could not open {str(src)!r} as a video: it does not begin as an MP4 or MOV does, "
                              "which FFmpeg takes it for by its name: it is not a video, or its start is damaged")

def test_a_clip_stopped_before_its_first_frame_says_it_holds_nothing(tmp_path, capsys):
    """ffmpeg cut to no frames (or a recording stopped at once) writes an MP4 with no stream
    at all, which OpenCV cannot open: the error said only "could not open ... as a video"."""
    exe = ffmpeg_or_skip()
    whole, empty = tmp_path / "whole.mp4", tmp_path / "empty.mp4"
    make_clip(exe, whole, "-frames:v", "5")
    subprocess.run([exe, "-v", "error", "-i", str(whole), "-c", "copy", "-frames:v", "0", str(empty)], check=True)
    assert empty.stat().st_size > 0
    rc = main(["video", str(empty), "-c", "copper", "--renderer", "cpu", "-q", "-o", str(tmp_path / "out.mp4")])
    assert rc == 2 and capsys.readouterr().err.splitlines() == [
        f"hairfx video: error: could not open {str(empty)!r} as a video: it holds no streams, neither pictures nor "
        "sound (a recording stopped before its first frame?)"]  # fmt: skip

def test_a_video_too_small_for_the_hair_model_is_named_before_any_work(tmp_path, capsys, monkeypatch):
    """A 2x2 clip failed on its first frame, after the model had loaded and ffmpeg had
    started, with "frame is 2x2, smaller than 4 px per side", which named no file."""
    import hairfx.video as video

    exe = ffmpeg_or_skip()
    tiny = tmp_path / "tiny.mp4"
    subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=2x2:rate=30:duration=0.2", "-c:v",
                    "libx264", "-pix_fmt", "yuv420p", str(tiny)], check=True)  # fmt: skip
    monkeypatch.setattr(video, "VideoRecolorer", lambda **kw: pytest.fail("the model was loaded"))
    rc = main(["video", str(tiny), "-c", "copper", "--renderer", "cpu", "-q", "-o", str(tmp_path / "out.mp4")])
    assert rc == 2 and capsys.readouterr().err.splitlines() == [
        f"hairfx video: error: {str(tiny)!r} is 2x2, smaller than the 4 px per side the hair-mask model needs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.mp4"]
    monkeypatch.undo()  # with masks of its own, no model is needed
    got = recolor_video(tiny, tmp_path / "own.mp4", color="copper", masks=lambda i, f: np.ones(f.shape[:2], np.float32),
                        renderer="cpu", progress=False)
    assert got.frames == 6

def test_files_without_pictures_say_why(tmp_path, capsys):
    exe = ffmpeg_or_skip()
    sound = tmp_path / "sound.mp4"  # an .m4a under a video's name
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=0.3", "-c:a", "aac", "-f", "mp4",
                    str(sound)], check=True)  # fmt: skip
    with pytest.raises(InputError, match="sound.mp4' has no video stream \\(only sound\\)"):
        probe(sound)
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    make_clip(exe, whole, "-frames:v", "30")  # the index (moov) is written last, without +faststart
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    rc = main(["video", str(cut), "-c", "copper", "--renderer", "cpu", "-q", "-o", str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and err.splitlines() == [f"hairfx video: error: could not open {str(cut)!r} as a video: "
                                            "moov atom not found (the index of this MP4 or MOV, which comes at its "
                                            "end, is missing: the file is cut short, or still being written)"]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "sound.mp4", "whole.mp4"]
    # in a process of its own: FFmpeg inside OpenCV writes to the file descriptor, which
    # capsys does not see, and reads its log level once per process
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
    cmd = [sys.executable, "-m", "hairfx", "video", str(cut), "-c", "copper", "-o", str(tmp_path / "out.mp4")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 2 and done.stderr.splitlines() == err.splitlines()  # no "[mov,mp4 @ 0x..]" line


# --------------------------------------------------------------------------- CLI


def test_cli_video_keeps_count_and_rate(short_clip, tmp_path, hair_model, capsys):
    out = tmp_path / "cli.mp4"
    rc = main(["video", str(short_clip), "--color", "copper:0-0.2,violet:0.2-", "-o", str(out), "--renderer", "cpu"])
    assert rc == 0
    got = probe(out)
    assert (got.width, got.height, got.fps, got.frames, got.has_audio) == (*SMALL, 30, N_FRAMES, True)
    err = capsys.readouterr().err
    assert f"{N_FRAMES}/{N_FRAMES} frames" in err  # the progress bar, on stderr


def test_cli_video_makes_the_outputs_missing_folders_and_removes_them_on_failure(short_clip, tmp_path, hair_model):
    out = tmp_path / "new" / "sub" / "clip.mp4"
    assert main(["video", str(short_clip), "-c", "copper", "-o", str(out), "-q", "--frames", "2"]) == 0
    assert probe(out).frames == 2  # made, as `hairfx recolor` and `hairfx mask` make theirs
    missing = tmp_path / "other" / "clip.mp4"
    assert main(["video", str(tmp_path / "nope.mp4"), "-c", "copper", "-o", str(missing), "-q"]) == 2
    assert not (tmp_path / "other").exists()  # the failed command leaves no folder behind


def test_cli_video_full_model_is_its_ensemble_unless_told(short_clip, tmp_path, capsys):
    """`hairfx video --model full` recolours as recolor_video(model="full") does, the
    ensemble; --no-ensemble as ensemble=False; --ensemble with the small model is refused
    before anything is written."""
    def frames(path):
        with hairfx.video.VideoReader(path) as reader:
            return list(reader)

    common = ["-c", "copper", "-q", "--frames", "2", "--renderer", "cpu", "--model", "full"]
    got = {}
    for flags, ensemble in ([], None), (["--no-ensemble"], False):
        cli, api = tmp_path / f"cli_{ensemble}.mp4", tmp_path / f"api_{ensemble}.mp4"
        assert main(["video", str(short_clip), "-o", str(cli), *common, *flags]) == 0
        recolor_video(short_clip, api, color="copper", renderer="cpu", model="full", ensemble=ensemble,
                      max_frames=2, progress=False)
        got[ensemble] = frames(cli)
        assert all(np.array_equal(a, b) for a, b in zip(got[ensemble], frames(api), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(got[None], got[False]))
    out = tmp_path / "small.mp4"
    assert main(["video", str(short_clip), "-o", str(out), "-c", "copper", "-q", "--ensemble"]) == 2
    assert "--ensemble needs --model full" in capsys.readouterr().err and not out.exists()


def test_cli_video_zooms_into_a_small_head_unless_told_not_to(tmp_path):
    """`hairfx video` recolours as recolor_video(zoom=...) does: by default its session sees
    a head small in the frame on the square around it, with --no-zoom the whole frame."""
    from PIL import Image

    face = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "reference_images" / "medium.png").convert("RGB"))
    h, w = face.shape[:2]
    frame = np.full((2 * h, 2 * w, 3), 150, np.uint8)
    frame[h // 2 : h // 2 + h, w // 2 : w // 2 + w] = face
    src = tmp_path / "small_head.mp4"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 10, (2 * w, 2 * h))
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for _ in range(3):
        writer.write(frame[:, :, ::-1])
    writer.release()

    def frames(path):
        with hairfx.video.VideoReader(path) as reader:
            return list(reader)

    common = ["-c", "copper", "-q", "--renderer", "cpu"]
    got = {}
    for flags, zoom in ([], True), (["--no-zoom"], False):
        cli, api = tmp_path / f"cli_{zoom}.mp4", tmp_path / f"api_{zoom}.mp4"
        assert main(["video", str(src), "-o", str(cli), *common, *flags]) == 0
        recolor_video(src, api, color="copper", renderer="cpu", zoom=zoom, progress=False)
        got[zoom] = frames(cli)
        assert all(np.array_equal(a, b) for a, b in zip(got[zoom], frames(api), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(got[True], got[False]))
    with pytest.raises(InputError, match="zoom must be True or False"):
        recolor_video(src, tmp_path / "bad.mp4", color="copper", renderer="cpu", zoom="no", progress=False)


def test_cli_video_ombre(short_clip, tmp_path, hair_model):
    out = tmp_path / "ombre.mp4"
    assert main(["video", str(short_clip), "--ombre", "copper,platinum", "-o", str(out), "-q", "--frames", "4"]) == 0
    assert probe(out).frames == 4


def test_cli_video_bad_schedule_is_a_clear_error(short_clip, tmp_path, hair_model, capsys):
    rc = main(["video", str(short_clip), "--color", "copper:3-1", "-o", str(tmp_path / "x.mp4")])
    assert rc == 2
    assert "must come after" in capsys.readouterr().err


def test_cli_video_stopped_by_sigterm_keeps_the_old_output_and_leaves_no_partial_file(
    short_clip, tmp_path, hair_model, monkeypatch, capsys
):
    """kill (SIGTERM) or a closed terminal (SIGHUP) get Ctrl-C's clean-up: without it the
    process died at once, and ffmpeg, in a session of its own, finished a hidden partial file."""
    import os
    import signal

    from hairfx.video import VideoRecolorer

    out = tmp_path / "keep.mp4"
    out.write_bytes(b"yesterday's render")
    process = VideoRecolorer.process

    def killed_midway(self, frame, t=0.0, mask=None):
        if t > 0.1:
            os.kill(os.getpid(), signal.SIGTERM)
        return process(self, frame, t, mask)

    monkeypatch.setattr(VideoRecolorer, "process", killed_midway)
    handler = signal.getsignal(signal.SIGTERM)
    assert main(["video", str(short_clip), "-c", "copper", "--renderer", "cpu", "-q", "-o", str(out)]) == 143
    assert "hairfx video: interrupted" in capsys.readouterr().err
    assert out.read_bytes() == b"yesterday's render" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]
    assert signal.getsignal(signal.SIGTERM) == handler  # put back


def test_a_clip_cut_short_keeps_the_sound_of_its_frames(short_clip, tmp_path):
    out = tmp_path / "cut.mp4"
    recolor_video(short_clip, out, color="copper", renderer="cpu", progress=False, max_frames=4,
                  masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    got = probe(out)
    assert got.frames == 4 and got.has_audio
    assert got.duration < 4 / 30 + 0.1  # the audio stops with the pictures


def test_a_clip_whose_sound_ends_before_its_pictures_keeps_every_frame(tmp_path):
    exe = ffmpeg_or_skip()
    src = tmp_path / "short_sound.mp4"
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=2",
                    "-f", "lavfi", "-i", "sine=duration=0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(src)], check=True)
    out = tmp_path / "out.mp4"
    recolor_video(src, out, color="copper", renderer="cpu", progress=False, masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    got = probe(out)
    assert got.frames == 50 and got.has_audio  # every picture, with what sound there is


def _flash_and_beep_clip(exe: str, folder, name: str, *, picture_delay: float = 0.0, sound_delay: float = 0.0,
                         sound_codec: str = "copy", rate: int = 44100):
    """A 25 fps black clip whose frame 15 is white, and a sound silent but for a 1 kHz
    beep from 1.0 s into its own stream (AAC, or PCM above AAC's 96 kHz, or ``sound_codec``)
    at ``rate`` samples a second; each stream can start later than the file."""
    pictures, sound, clip = folder / "v.mp4", folder / ("a.m4a" if rate <= 96000 else "a.wav"), folder / name
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "color=black:size=64x48:rate=25:duration=1.6",
                    "-vf", "drawbox=color=white:t=fill:enable='eq(n,15)'", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(pictures)], check=True)
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"aevalsrc='if(between(t,1.0,1.2),sin(2*PI*1000*t),0)':s={rate}:d=2",
                    *(["-c:a", "aac"] if rate <= 96000 else []), str(sound)], check=True)
    subprocess.run([exe, "-v", "error", "-y", "-itsoffset", str(picture_delay), "-i", str(pictures),
                    "-itsoffset", str(sound_delay), "-i", str(sound), "-map", "0:v", "-map", "1:a", "-c:v", "copy",
                    "-c:a", sound_codec, str(clip)], check=True)
    return clip


def _beep_after_flash(exe: str, path) -> float:
    """Seconds from the white frame being shown to the beep being heard, as a player
    places them: each picture at the time FFmpeg's decoder gives it (in an AVI, which keeps
    none, as late as the decoder holds it back), the sound shifted by its start time."""
    starts = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time", "-of",
                             "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout.split()
    start = {kind: float(t) for kind, t in (line.split(",") for line in starts)}
    shown = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "frame=best_effort_timestamp_time", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    cap = cv2.VideoCapture(str(path))
    bright = []
    while (got := cap.read())[0]:
        bright.append(got[1].mean())
    cap.release()
    assert len(bright) == len(shown)
    flash = float(shown[int(np.argmax(np.array(bright) > 128))])
    pcm = np.frombuffer(subprocess.run([exe, "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", "44100",
                                        "-"], capture_output=True, check=True).stdout, np.float32)
    beep = int(np.argmax(np.abs(pcm) > 0.1)) / 44100 + start["audio"]
    return beep - flash


@pytest.mark.parametrize("delays", [{"picture_delay": 0.4}, {"sound_delay": 0.4}], ids=["pictures-late", "sound-late"])
def test_sound_and_pictures_stay_in_step_when_one_starts_late(tmp_path, delays):
    exe = ffmpeg_or_skip()
    src = _flash_and_beep_clip(exe, tmp_path, "late.mp4", **delays)
    gap = _beep_after_flash(exe, src)
    made = 0.4 + delays.get("sound_delay", 0.0) - delays.get("picture_delay", 0.0)  # beep at 1.0 s, flash at 0.6 s
    assert abs(gap - made) < 0.03  # the clip is made as meant
    out = tmp_path / "out.mp4"
    recolor_video(src, out, color="copper", renderer="cpu", progress=False, masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert abs(_beep_after_flash(exe, out) - gap) < 0.03  # under one audio frame and one picture


def _start_times(path) -> dict[str, float]:
    """When each kind of stream of ``path`` starts, in seconds (ffprobe's start_time)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time", "-of", "csv=p=0",
                          str(path)], capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    return {kind: float(t) for kind, t in (line.split(",") for line in out)}


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".mov"])
@pytest.mark.parametrize("source", [".mp4", ".mov", ".mkv"])
def test_copied_aac_starts_with_the_pictures(tmp_path, source, suffix):
    """AAC starts with a packet of priming timed before 0 (1024 samples: 128 ms at 8 kHz),
    which an MP4 or MOV hides with its edit list. Matroska has none for AAC: ffmpeg moved
    the pictures until that packet started at 0, and an .mkv's sound began 128 ms before
    them. (A Matroska source holds its priming so, and its sound is cut where the pictures
    start, like any sound that starts before them.)"""
    exe = ffmpeg_or_skip()
    src, out = tmp_path / f"in{source}", tmp_path / f"out{suffix}"
    make_clip(exe, src, "-f", "lavfi", "-i", "sine=sample_rate=8000", "-t", "0.5", "-c:a", "aac")
    recolor_video(src, out, color="copper", renderer="cpu", progress=False, masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    start = _start_times(out)
    assert start["audio"] == pytest.approx(start["video"], abs=1e-3)  # Matroska counts in milliseconds


@pytest.mark.parametrize("source, codec", [("clip.mkv", "copy"), ("clip.mp4", "copy"), ("clip.mkv", "flac")],
                         ids=["aac-cut", "aac", "flac-to-aac"])  # the priming cut off, or before 0, or the encoder's
def test_an_avi_plays_its_pictures_in_step_with_the_sound(tmp_path, source, codec):
    """An AVI keeps no presentation times: with B-frames its pictures were shown two
    frames (80 ms) after the sound that goes with them. Sound it cannot hold is re-encoded
    to AAC, whose encoder puts 1024 samples of priming before 0: ffmpeg moved the pictures
    a frame later for them (40 ms for 23)."""
    exe = ffmpeg_or_skip()
    src = _flash_and_beep_clip(exe, tmp_path, source, sound_codec=codec)
    out = tmp_path / "out.avi"
    recolor_video(src, out, color="copper", renderer="cpu", progress=False, masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert _beep_after_flash(exe, out) == pytest.approx(_beep_after_flash(exe, src), abs=0.005)


@pytest.mark.parametrize("source, made, written", [
    ("clip.mp4", {"sound_delay": 0.3}, "aac"),
    ("clip.mov", {"sound_delay": 0.3, "sound_codec": "pcm_s16le"}, "pcm_s16le"),
    ("clip.mp4", {"picture_delay": 0.2}, "aac"),
    ("clip.mkv", {"sound_codec": "flac", "rate": 192000}, "aac"),
    ("clip.mp4", {"sound_codec": "libmp3lame"}, "mp3"),
], ids=["aac-late", "pcm-late", "aac-cut-in-a-packet", "192kHz-to-aac", "mp3-copied"])  # fmt: skip
def test_an_avi_plays_sound_that_starts_after_its_first_picture_in_step(tmp_path, source, made, written):
    """An AVI holds no start time for its sound, which plays from the first picture on:
    sound 0.3 s later than the pictures played 0.3 s early, and copied sound whose first
    packet kept starts after the picture (the picture 0.2 s in, inside a packet) 9 ms early.
    It is re-encoded with silence before it, PCM as PCM. AAC goes up to 96 kHz: 192 kHz
    sound is resampled, and its 1024 samples left out for the priming, counted at 192 kHz,
    were half of it (the pictures moved a frame for the rest: 35 ms behind). MP3 from LAME
    starts 1.1 ms after the picture: copied, not re-encoded for it."""
    exe = ffmpeg_or_skip()
    src = _flash_and_beep_clip(exe, tmp_path, source, **made)
    out = tmp_path / "out.avi"
    got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert got.audio_codecs == (written,)
    assert _beep_after_flash(exe, out) == pytest.approx(_beep_after_flash(exe, src), abs=0.005)


def _pcm(exe: str, path) -> np.ndarray:
    """The first audio stream of ``path``, decoded to 16-bit samples."""
    out = subprocess.run([exe, "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    return np.frombuffer(out, np.int16)


def test_an_avi_keeps_sound_shorter_than_aac_priming_as_pcm(tmp_path, capsys):
    """Two frames at 30 fps keep 533 samples of 8 kHz sound, fewer than the 1024 that FFmpeg's
    AAC encoder primes with, for which as many are left out in an .avi: its sound track was
    empty, and the command said "with audio". It is written as PCM, as it was."""
    exe = ffmpeg_or_skip()
    src, out = tmp_path / "in.mkv", tmp_path / "out.avi"
    make_clip(exe, src, "-f", "lavfi", "-i", "sine=sample_rate=8000", "-t", "1", "-c:a", "flac")  # FLAC: not in an AVI
    assert main(["video", str(src), "-c", "copper", "--renderer", "cpu", "-q", "--frames", "2", "-o", str(out)]) == 0
    assert capsys.readouterr().out.rstrip().endswith(", with audio")
    kept = _pcm(exe, out)
    assert kept.size == 533 and np.array_equal(kept, _pcm(exe, src)[:533])


def test_an_avi_whose_sound_all_went_to_aac_priming_says_it_has_none(tmp_path, monkeypatch, capsys):
    # where the length of the sound cannot be told before it is written, it goes to AAC, whose
    # track may come out empty: that is told, not "with audio"
    exe = ffmpeg_or_skip()
    src, out = tmp_path / "in.mkv", tmp_path / "out.avi"
    make_clip(exe, src, "-f", "lavfi", "-i", "sine=sample_rate=8000:duration=0.05", "-frames:v", "5", "-c:a", "flac")
    monkeypatch.setattr(hairfx.video, "_sound_from_picture", lambda exe, info: [_Sound(8000, 0.0, None)])
    assert main(["video", str(src), "-c", "copper", "--renderer", "cpu", "-q", "-o", str(out)]) == 0
    said = capsys.readouterr()
    assert said.out.rstrip().endswith(", no audio")
    assert "no sound of" in said.err and "went to the 1024 samples of priming" in said.err
    assert probe(out).audio_codecs == ("aac",) and _pcm(exe, out).size == 0  # the empty track it tells of


def _sound_before_the_pictures(exe: str, tmp_path: Path, suffix: str) -> Path:
    """A clip of 0.3 s of sound, then 10 pictures from 0.6 s: PCM in a ``.mov``, AAC in an ``.mp4``."""
    pictures, sound, src = tmp_path / "v.mp4", tmp_path / "a.wav", tmp_path / f"early{suffix}"
    make_clip(exe, pictures, "-frames:v", "10")
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=0.3", str(sound)], check=True)
    codec = ["-c:a", "pcm_s16le"] if suffix == ".mov" else ["-c:a", "aac"]
    subprocess.run([exe, "-v", "error", "-y", "-itsoffset", "0.6", "-i", str(pictures), "-i", str(sound), "-map", "0:v",
                    "-map", "1:a", "-c:v", "copy", *codec, str(src)], check=True)
    return src


@pytest.mark.parametrize("suffix", [".mov", ".mp4"], ids=["pcm", "aac"])
def test_sound_that_ends_before_the_first_picture_is_not_reported_as_kept_in_an_avi(tmp_path, suffix):
    """An .avi writes such sound as PCM (none of it is left from the picture on), an empty
    track whose AVI index states neither a count of packets nor a length: it was taken for
    sound, and the command said "with audio" of a file with no sample of it."""
    exe = ffmpeg_or_skip()
    src, out = _sound_before_the_pictures(exe, tmp_path, suffix), tmp_path / "out.avi"
    with pytest.warns(RuntimeWarning, match="no sound of .* ends before the first picture"):
        got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                            masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert not got.has_audio and got.audio_codecs == () and _pcm(exe, out).size == 0


@pytest.mark.parametrize("suffix", [".mov", ".mp4"], ids=["re-encoded", "copied"])
def test_sound_that_ends_before_the_first_picture_is_not_reported_as_kept(tmp_path, suffix):
    exe = ffmpeg_or_skip()
    src = _sound_before_the_pictures(exe, tmp_path, suffix)  # PCM in a .mov is re-encoded for the .mp4
    assert probe(src).has_audio and probe(src).picture_start > 0.5
    out = tmp_path / "out.mp4"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                            masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert got.frames == 10
    assert got.has_audio == probe(out).has_audio  # what the file holds, whichever it is
    said = " ".join(str(w.message) for w in caught)
    assert ("no sound of" in said) == (not got.has_audio), said  # and a sound lost is said to be


def test_a_frame_count_guessed_from_the_duration_is_not_taken_for_truncation(tmp_path):
    exe = ffmpeg_or_skip()
    # Matroska keeps no frame count: it is guessed from the file's duration, here the
    # sound's 2 s against 1.6 s of pictures
    src = _flash_and_beep_clip(exe, tmp_path, "longer_sound.mkv")
    info = probe(src)
    assert not info.frames_stated and info.frames > 40
    assert probe(tmp_path / "v.mp4").frames_stated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = recolor_video(src, tmp_path / "out.mp4", color="copper", renderer="cpu", progress=False,
                            masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert got.frames == 40


def test_a_matroska_output_reports_the_frames_written_not_a_guess(tmp_path):
    # `hairfx video ... -o out.mkv` said "wrote out.mkv: 51 frames" for 40: a .mkv keeps no
    # frame count, and the one guessed from its duration (here the sound's 2 s) was reported
    exe = ffmpeg_or_skip()
    src = _flash_and_beep_clip(exe, tmp_path, "in.mp4")  # 40 frames, 2 s of sound
    out = tmp_path / "out.mkv"
    got = recolor_video(src, out, color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert probe(out).frames != 40  # the container's guess, which the result must not repeat
    assert got.frames == 40 and got.has_audio


def test_a_truncated_matroska_file_is_told_by_its_video_streams_own_length(tmp_path, capsys):
    # Matroska states no frame count, so a cut .mkv was recoloured in part without a word;
    # its video stream's DURATION tag says how long the pictures were meant to last
    exe = ffmpeg_or_skip()
    whole = _flash_and_beep_clip(exe, tmp_path, "whole.mkv")  # 40 frames, 2 s of sound
    info = probe(whole)
    assert not info.frames_stated and info.video_seconds == pytest.approx(40 / 25, abs=0.05)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    masks = lambda i, f: ellipse_mask(*f.shape[:2])  # noqa: E731
    with pytest.warns(RuntimeWarning, match=r"cut.mkv' states 1.6\d s of video \(40 frames at 25 fps\) but only \d+ frames"):
        got = recolor_video(cut, tmp_path / "out.mp4", color="copper", renderer="cpu", progress=False, masks=masks)
    assert 0 < got.frames < 38
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole file: nothing to say
        assert recolor_video(whole, tmp_path / "out2.mp4", color="copper", renderer="cpu", progress=False,
                             masks=masks).frames == 40


def _cut_after_a_reference_frame(exe: str, whole: Path, cut: Path, near: int) -> int:
    """``cut``: ``whole`` (H.264 with B-frames) cut right after the P-frame whose packet
    comes first from the ``near``-th on, so the B-frames shown before it, stored after
    it, are missing; the number of frames it keeps."""
    out = subprocess.run([shutil.which("ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pts,pos,size,flags", "-of", "compact", str(whole)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    packets = [dict(kv.split("=") for kv in line.split("|")[1:]) for line in out.splitlines()
               if line.startswith("packet")]  # fmt: skip
    for i in range(near, len(packets) - 1):
        later = [int(q["pts"]) for q in packets[i + 1 :]]
        if "K" not in packets[i]["flags"] and min(later) < int(packets[i]["pts"]):  # B-frames stored after it
            cut.write_bytes(whole.read_bytes()[: int(packets[i + 1]["pos"])])  # where the next block starts
            return i + 1
    raise AssertionError(f"no P-frame followed by B-frames in {whole}")


def test_a_truncated_matroska_file_with_b_frames_keeps_its_rate(tmp_path):
    """The B-frames shown before the last P-frame of a cut .mkv are stored after it, so
    they are missing: its timestamps span more time than their count fills, which gave
    27.8 fps for 30, more than the 5 % within which the stated rate is kept. Their interval
    tells the rate."""
    exe = ffmpeg_or_skip()
    whole, cut = tmp_path / "whole.mkv", tmp_path / "cut.mkv"
    make_clip(exe, whole, "-frames:v", "60", "-bf", "3", "-x264-params", "b-adapt=0")  # P B B B, P B B B...
    kept = _cut_after_a_reference_frame(exe, whole, cut, 36)
    with VideoReader(cut) as r:
        assert sum(1 for _ in r) == kept
    # what fooled the count over the span: the frames kept leave a hole of three before the last
    times = _shown_times(cut)
    assert len(times) == kept and times[-1] - times[-2] > 3.5 / 30
    info = probe(cut)
    assert info.fps == 30
    with pytest.warns(RuntimeWarning, match=rf"cut.mkv' states 2.00 s of video .* but only {kept} frames"):
        out = recolor_video(cut, tmp_path / "out.mp4", color="copper", renderer="cpu", progress=False,
                            masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert (out.fps, out.frames) == (30, kept)
    assert _ffprobe_streams(tmp_path / "out.mp4")[0]["r_frame_rate"] == "30/1"


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_a_clip_cut_by_stream_copy_keeps_its_rate(tmp_path, suffix):
    """``ffmpeg -ss 1.3 -i whole -t 1 -c copy`` ends the cut at a packet in the order they are
    stored: the B-frames shown before the last P-frame, stored after it, are left out, and
    the cut states when its last frame ends. Those holes were taken for a change of rate:
    28.6 fps for 30, each frame written at its own time. A clip whose rate does change is
    still written so when cut the same way."""
    exe = ffmpeg_or_skip()
    whole, cut = tmp_path / "whole.mp4", tmp_path / f"cut{suffix}"
    make_clip(exe, whole, "-frames:v", "90", "-g", "30", "-bf", "3", "-x264-params", "b-adapt=0")  # P B B B...
    subprocess.run([exe, "-v", "error", "-ss", "1.3", "-i", str(whole), "-t", "1", "-c", "copy", str(cut)],
                   check=True)  # fmt: skip
    shown = _shown_times(cut)
    assert max(np.diff(shown)) > 1.5 / 30  # what the fix is about: frames missing before the last
    info = probe(cut)
    assert info.fps == 30 and hairfx.video.frame_timing(info).times is None
    out = tmp_path / "out.mp4"
    got = recolor_video(cut, out, color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))  # fmt: skip
    assert (got.fps, got.frames) == (30, len(shown))
    assert _shown_times(out) == pytest.approx([i / 30 for i in range(len(shown))], abs=1e-6)
    # 15 fps then 30, with B-frames, cut the same way: its frames keep their own times
    _slow_then_fast(exe, tmp_path / "vfr.mp4")
    vfr_cut = tmp_path / f"vfr_cut{suffix}"
    subprocess.run([exe, "-v", "error", "-ss", "1", "-i", str(tmp_path / "vfr.mp4"), "-t", "1.5", "-c", "copy",
                    str(vfr_cut)], check=True)  # fmt: skip
    shown = _shown_times(vfr_cut)
    timing = hairfx.video.frame_timing(probe(vfr_cut))
    assert timing.times is not None and [float(t) for t in timing.times] == pytest.approx(
        [t - shown[0] for t in shown], abs=1e-3)
    # and so do those of a clip without B-frames, shown as stored, whose last interval is longer
    make_clip(exe, tmp_path / f"late{suffix}", "-vf", "select='not(eq(n,28))'", "-frames:v", "29",
              *_passthrough_option(_ffmpeg_release_of(exe)))
    assert hairfx.video.frame_timing(probe(tmp_path / f"late{suffix}")).times is not None


def test_fps_is_kept_exactly_for_ntsc_rates(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    src = tmp_path / "ntsc.mp4"
    with VideoWriter(src, width=64, height=48, fps=Fraction(30000, 1001)) as w:
        for i in range(5):
            w.write(np.full((48, 64, 3), i * 40, np.uint8))
    info = probe(src)
    assert info.fps == Fraction(30000, 1001) and info.frames == 5
    assert math.isclose(info.duration, 5 * 1001 / 30000)


def test_video_eval_reports_both_runs_for_a_real_clip(short_clip, tmp_path, capsys):
    """The flicker report of examples/VIDEO_REPORT.md, on a short real clip: the 'off' run's
    mask flicker is the mean change of the per-frame masks, measured here independently."""
    from hairfx.recolor import hair_alpha
    from hairfx.segmenter import get_segmenter
    from hairfx.video import read_frames
    from hairfx.video_eval import evaluate_clip, main as video_eval_main

    frames = read_frames(short_clip, 8)
    r = evaluate_clip(frames, get_segmenter("small"), hairfx.get_color("copper"), smoothing=0.0, renderer="cpu")
    masks = [hair_alpha(get_segmenter("small").predict(f)) for f in frames]
    expected = np.mean([np.abs(b - a).mean() * 100.0 for a, b in zip(masks, masks[1:])])
    assert r["off"][0] == pytest.approx(expected, rel=1e-6)
    assert r["on"][0] >= 0.0 and r["off"][1] >= 0.0 and r["on"][1] >= 0.0
    (tmp_path / "videos").mkdir()
    shutil.copy(short_clip, tmp_path / "videos" / "short.mp4")
    assert video_eval_main(["--data", str(tmp_path), "--frames", "8", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| short | " in out and "| **mean** |" in out
    with pytest.raises(InputError, match="no .mp4 clips"):
        video_eval_main(["--data", str(tmp_path / "videos")])


def test_video_eval_finds_the_data_root_or_names_where_it_looked(monkeypatch, tmp_path):
    from hairfx import _datadir, video_eval

    first, second = tmp_path / "a", tmp_path / "b"
    (second / "videos").mkdir(parents=True)
    monkeypatch.setattr(_datadir, "roots", lambda: (first, second))
    assert _datadir.find_data("videos") == second / "videos"
    (first / "videos").mkdir(parents=True)
    assert _datadir.find_data("videos") == first / "videos"  # the working directory's root first
    assert _datadir.find_data("videos", "absent.mp4") is None
    with pytest.raises(InputError, match="no .mp4 clips in .*a/videos"):
        video_eval.main([])
    (first / "videos").rmdir()
    (second / "videos").rmdir()
    with pytest.raises(InputError, match=f"no .mp4 clips in {first}/videos or {second}/videos"):
        video_eval.main([])


def _mounted_tmpfs(folder: Path, options: str):
    """A tmpfs mounted at ``folder`` with ``options`` for the block, or a skip where none
    can be (mounting needs root on Linux)."""
    folder.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("no file system can be mounted here (mounting a tmpfs needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB file system."""
    yield from _mounted_tmpfs(tmp_path / "disk", "size=64k")


@pytest.fixture
def read_only_disk(tmp_path):
    yield from _mounted_tmpfs(tmp_path / "ro", "ro,size=64k")


def test_a_read_only_file_system_is_named_in_one_line(read_only_disk, short_clip, capsys):
    """Removing the temporary file raised a second error (a read-only file system refuses
    even a name that is not there), and making a missing folder was not caught: both ended
    in a traceback instead of the reason."""
    for out in (read_only_disk / "x.mp4", read_only_disk / "new" / "x.mp4"):
        capsys.readouterr()
        assert main(["video", str(short_clip), "-c", "copper", "--renderer", "cpu", "-q", "--frames", "2",
                     "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert "Read-only file system" in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2, err


@pytest.mark.parametrize("use_ffmpeg", [True, False])
def test_a_disk_that_fills_up_fails_the_write_and_keeps_the_old_file(small_disk, use_ffmpeg):
    """FFmpeg 5 exits 0 when it cannot write an MP4's index at the end ("Error writing
    trailer ... No space left on device"): the truncated file, which no player opens, once
    replaced the existing output, and the webcam example said it had written it."""
    if use_ffmpeg and shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    old = small_disk / "out.mp4"
    with VideoWriter(old, width=64, height=48, fps=10, use_ffmpeg=use_ffmpeg) as w:
        for _ in range(5):
            w.write(np.full((48, 64, 3), 90, np.uint8))
    before = old.read_bytes()
    y, x = np.mgrid[0:240, 0:320]
    with pytest.raises(HairfxError, match=r"out\.mp4"):
        with VideoWriter(old, width=320, height=240, fps=30, use_ffmpeg=use_ffmpeg) as w:
            for i in range(120):  # about 60 KiB of pictures: the end no longer fits
                w.write(np.stack([(x + 3 * i) % 256, (y + 2 * i) % 256, ((x + y) // 2 + i) % 256], -1).astype(np.uint8))
    assert old.read_bytes() == before
    assert [p.name for p in small_disk.iterdir()] == ["out.mp4"]  # no temporary file left


def test_progress_is_redrawn_on_a_terminal_and_written_once_to_a_log():
    """Redirected to a file, the bar's ten redraws a second made one endless line of a
    log, and its 100 % was drawn twice."""
    import io
    import time

    from hairfx.video import _Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log, term = io.StringIO(), Terminal()
    for stream in (log, term):
        bar = _Progress(30, stream=stream)
        for _ in range(30):
            bar.update()
            time.sleep(0.006)
        bar.finish(complete=True)
    assert "\r" not in log.getvalue() and log.getvalue().count("\n") == 1
    assert log.getvalue().startswith("[" + "#" * 30 + "] 100% 30/30 frames")
    shown = term.getvalue()
    assert shown.count("\r") >= 2 and shown.endswith("\n") and shown.count("100%") == 1
    # a count of one, in the singular ("1/1 frames" was written)
    for total in (1, None):
        log = io.StringIO()
        bar = _Progress(total, stream=log)
        bar.update()
        bar.finish(complete=True)
        assert "1/1 frame " in log.getvalue() if total else log.getvalue().startswith("1 frame "), log.getvalue()


def test_a_matroska_video_that_starts_late_is_not_called_truncated(short_clip, tmp_path, recwarn):
    """Matroska's DURATION tag is the time the video's last frame ends: for a video that
    starts after the sound, that is more than its length, and a complete file was said to
    be truncated."""
    late = tmp_path / "late.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-itsoffset", "0.2", "-i", str(short_clip), "-i", str(short_clip),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(late)], check=True)
    info = probe(late)
    assert info.picture_start == pytest.approx(0.2, abs=0.05)
    assert info.video_seconds == pytest.approx(N_FRAMES / 30, abs=0.05)
    out = recolor_video(late, tmp_path / "out.mp4", color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert out.frames == N_FRAMES
    assert not [str(w.message) for w in recwarn if "hairfx" in str(w.message)]


def test_a_folder_given_as_the_output_video_is_called_a_folder(tmp_path):
    with pytest.raises(InputError, match=r"it is a folder; give a file name such as '.*out\.mp4'"):
        VideoWriter(tmp_path, width=32, height=16, fps=30)
    with pytest.raises(InputError, match=r"into \.mp4, .* files; give a file name such as out\.mp4"):
        VideoWriter(tmp_path / "clips", width=32, height=16, fps=30)


def test_a_matroska_video_that_starts_after_what_ffprobe_reads_ahead_is_not_called_truncated(tmp_path, recwarn):
    """Sound for 5.5 s before the first picture, encoded straight into Matroska: ffprobe
    reads about 5 s ahead, finds no video packet, and takes the video's start_time for
    the file's (0), so its DURATION tag (when its last frame ends, 5.9 s) was taken for
    its length, and a complete 0.4-s clip was said to be truncated; its sound was kept
    from the file's start, not from its first picture."""
    exe = ffmpeg_or_skip()
    late = tmp_path / "late.mkv"
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=5.9", "-itsoffset", "5.5",
                    "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30:duration=0.4", "-map", "0:a", "-map", "1:v",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(late)],
                   check=True)
    stated = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "V:0", "-show_entries", "stream=start_time",
                             "-of", "csv=p=0", str(late)], capture_output=True, text=True, check=True).stdout.strip()
    assert _seconds(stated) < 5  # the clip is made as meant: ffprobe does not know when its video starts
    info = probe(late)
    assert info.picture_start == pytest.approx(5.5, abs=0.05)
    assert info.video_seconds == pytest.approx(0.4, abs=0.02)
    out = recolor_video(late, tmp_path / "out.mp4", color="copper", renderer="cpu", progress=False,
                        masks=lambda i, f: ellipse_mask(*f.shape[:2]))
    assert out.frames == 12
    assert not [str(w.message) for w in recwarn if "hairfx" in str(w.message)]


def _lossless_clip(exe: str, out, size: str, matrix: str, *tags: str) -> None:
    """Three frames of FFmpeg's colour test pattern at ``size``, its colours brought well
    inside both matrices' range (as a camera's are), turned into YUV with ``matrix`` and
    stored losslessly, with ``tags`` (none: a video that states no matrix)."""
    subprocess.run(
        [exe, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10:duration=0.3",
         "-vf", f"lutrgb=r=32+val*0.7:g=32+val*0.7:b=32+val*0.7,scale=out_color_matrix={matrix}:out_range=tv,"
                "format=yuv420p", *tags,
         "-c:v", "libx264", "-qp", "0", str(out)],
        check=True,
    )


def _decoded_by_ffmpeg(exe: str, path, matrix: str) -> np.ndarray:
    """The first frame of ``path`` as FFmpeg turns its YUV into RGB with ``matrix``."""
    info = probe(path)
    raw = subprocess.run(
        [exe, "-v", "error", "-i", str(path), "-frames:v", "1", "-vf",
         f"scale=in_color_matrix={matrix}:in_range=tv,format=rgb24", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(info.height, info.width, 3).astype(int)


@pytest.mark.parametrize("size, matrix, tags, shown_as_bt709", [
    ("1280x720", "bt709", (), True),  # HD that states no matrix: players take BT.709
    ("960x720", "bt709", (), True),  # more than 576 lines
    ("640x480", "bt601", (), False),  # SD that states none: BT.601
    ("1280x720", "bt709", ("-colorspace", "bt709"), False),  # stated: OpenCV honours it
])
def test_a_video_is_read_in_the_colours_players_show_it(tmp_path, size, matrix, tags, shown_as_bt709):
    """An HD video that states no colour matrix is shown by players with BT.709's, but OpenCV
    (as FFmpeg) decodes it with BT.601's: up to 10 levels off, and hairfx wrote those colours
    out as BT.709, everything outside the hair shifted. Frames are read as FFmpeg decodes
    the same YUV with the matrix players take."""
    exe = ffmpeg_or_skip()
    clip = tmp_path / "clip.mp4"
    _lossless_clip(exe, clip, size, matrix, *tags)
    with VideoReader(clip) as reader:
        got = reader.read().astype(int)
        assert reader.info.shown_as_bt709 is shown_as_bt709
    want = _decoded_by_ffmpeg(exe, clip, matrix)
    diff = np.abs(got - want)
    # 4:2:0 chroma puts a few edge pixels out of range, where decoding cut a channel
    inside = ((got > 0) & (got < 255)).all(axis=2)
    assert inside.mean() > 0.97 and np.percentile(diff, 99) <= 1 and diff[inside].max() <= 3, \
        (inside.mean(), np.percentile(diff, 99), diff[inside].max())
    if shown_as_bt709:  # the check can tell the two matrices apart
        assert np.abs(got - _decoded_by_ffmpeg(exe, clip, "bt601")).max() >= 8


def test_shown_as_bt709_needs_yuv_that_is_not_jpegs_and_an_hd_size(tmp_path):
    info = VideoInfo(tmp_path / "a.mp4", 1280, 720, Fraction(30), 10, False, pixel_format="yuv420p")
    assert info.shown_as_bt709
    for changed in (dict(pixel_format="yuvj420p"), dict(pixel_format="rgb24"), dict(pixel_format=None),
                    dict(color_space="smpte170m"), dict(width=720, height=576)):
        assert not dataclasses.replace(info, **changed).shown_as_bt709, changed
    assert dataclasses.replace(info, width=720, height=1280).shown_as_bt709  # a phone's upright HD
    rgb = np.full((2, 2, 3), 200, np.uint8)
    assert dataclasses.replace(info, pixel_format="rgb24").as_shown(rgb) is rgb


def test_a_recoloured_untagged_hd_video_keeps_the_colours_around_the_hair(tmp_path):
    """Where the mask is empty, the output shows as the source does: an untagged HD source
    as players show it (BT.709), the output as it is tagged (BT.709)."""
    exe = ffmpeg_or_skip()
    src = tmp_path / "flat.mp4"
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=0x3080C0:size=1280x720:duration=0.3",
                    "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p", "-c:v", "libx264", "-qp", "0",
                    str(src)], check=True)
    out = tmp_path / "out.mp4"
    recolor_video(src, out, color="copper", masks=lambda i, f: np.zeros(f.shape[:2], np.float32), renderer="cpu",
                  progress=False)
    shown, written = _decoded_by_ffmpeg(exe, src, "bt709"), _decoded_by_ffmpeg(exe, out, "bt709")
    assert np.abs(shown - written).max() <= 4  # 6 levels off in red, read as BT.601


def test_a_pixel_that_bt601_decoding_cut_is_left_as_decoded(tmp_path):
    """Where BT.601's decoding cut a channel at 0 or 255 the true value is lost, and the
    matrix would move the pixel further from it (a saturated green: 35 levels off in green
    against 18): such a pixel stays as decoded, the rest is turned."""
    info = VideoInfo(tmp_path / "a.mp4", 1280, 720, Fraction(30), 10, False, pixel_format="yuv420p")
    rgb = np.array([[[18, 255, 7], [48, 128, 192], [0, 90, 200]]], np.uint8)
    shown = info.as_shown(rgb)
    assert shown[0, 0].tolist() == [18, 255, 7] and shown[0, 2].tolist() == [0, 90, 200]
    want = _BT601_TO_BT709_RGB @ rgb[0, 1].astype(np.float64)
    assert np.abs(shown[0, 1] - want).max() <= 0.5 and np.abs(shown[0, 1].astype(int) - rgb[0, 1]).max() >= 4
