"""examples/webcam_recolor.py: headless and bench modes on a real clip, keys, camera errors.

Masks come from the shipped small hair-mask model.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import DATA, REPO, interrupted_while_loading, read_only_folder
from test_video import hair_model, short_clip  # noqa: F401 - fixtures

SCRIPT = REPO / "examples" / "webcam_recolor.py"
CLIP = DATA / "videos" / "terryky_gl2facemesh_sample_video.mp4"  # 320x320, 30 fps


@pytest.fixture(scope="module")
def webcam():
    spec = importlib.util.spec_from_file_location("webcam_recolor", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def clip():
    if not CLIP.is_file():
        pytest.skip(f"test clip {CLIP} not found (the shared data folder sits beside the repository)")
    return CLIP


def read_all(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def test_headless_writes_the_expected_frames(webcam, clip, tmp_path, hair_model):
    out = tmp_path / "out.mp4"
    assert webcam.main(["--input", str(clip), "--output", str(out), "--frames", "6", "--renderer", "cpu"]) == 0
    frames = read_all(out)
    assert len(frames) == 6
    assert frames[0].shape == (320, 320, 3)


def test_headless_says_one_frame_in_the_singular(webcam, clip, tmp_path, hair_model, capsys):
    out = tmp_path / "out.mp4"
    assert webcam.main(["--input", str(clip), "--output", str(out), "--frames", "1", "--renderer", "cpu"]) == 0
    assert capsys.readouterr().out == f"wrote {out}: 1 frame\n"


def test_headless_output_keeps_the_clips_sound(webcam, short_clip, tmp_path, hair_model):
    from hairfx.video import probe

    out = tmp_path / "out.mp4"
    assert probe(short_clip).has_audio
    assert webcam.main(["--input", str(short_clip), "--output", str(out), "--frames", "5", "--renderer", "cpu"]) == 0
    got = probe(out)
    assert got.frames == 5 and got.has_audio and got.duration < 5 / 30 + 0.1  # cut to the frames written


def test_headless_output_keeps_the_time_of_every_frame_of_a_variable_rate_clip(webcam, tmp_path, hair_model):
    """The frames of a clip at 15 fps and then at 30 were written evenly spaced at its average
    rate, and cut short with --frames its sound was cut at that rate too: at 30 / (68 / 3) =
    1.32 s, where the 31st frame begins at 1.73 s."""
    from test_video import _ffprobe_streams, _shown_times, _slow_then_fast, ffmpeg_or_skip

    src = tmp_path / "vfr.mkv"
    _slow_then_fast(ffmpeg_or_skip(), src, "-f", "lavfi", "-i", "sine=sample_rate=48000:duration=3",
                    "-c:a", "pcm_s16le")  # copied into a .mov, cut at a packet of 1024 samples (21 ms)
    shown = _shown_times(src)
    out = tmp_path / "out.mp4"
    assert webcam.main(["--input", str(src), "--output", str(out), "--renderer", "cpu"]) == 0
    assert _shown_times(out) == pytest.approx(shown, abs=1e-6)
    assert float(_ffprobe_streams(out)[0]["duration"]) == pytest.approx(3.0, abs=1e-6)
    cut = tmp_path / "cut.mov"
    assert webcam.main(["--input", str(src), "--output", str(cut), "--renderer", "cpu", "--frames", "30"]) == 0
    assert _shown_times(cut) == pytest.approx(shown[:30], abs=1e-6)
    sound = [s for s in _ffprobe_streams(cut) if s["codec_type"] == "audio"]
    assert float(sound[0]["duration"]) == pytest.approx(shown[30], abs=1024 / 48000)


def test_headless_output_of_far_more_frames_than_the_clip_has_keeps_it_all(webcam, short_clip, tmp_path, hair_model):
    """--frames 99999999999999999999 ("all of it") asked ffmpeg to cut the sound at 3.3e18 s,
    which it refused after the whole run: "Invalid duration specification for t"."""
    from hairfx.video import probe

    out = tmp_path / "out.mp4"
    assert webcam.main(["--input", str(short_clip), "--output", str(out), "--frames", "99999999999999999999",
                        "--renderer", "cpu"]) == 0
    got, source = probe(out), probe(short_clip)
    assert got.frames == source.frames and got.has_audio


def test_clip_and_output_names_that_are_not_utf8_are_read_written_and_printed(short_clip, tmp_path):
    """A name's bytes need not be UTF-8 (files from old archives or other systems): OpenCV
    crashed the process (SIGSEGV) opening such a clip, and the "wrote" line raised
    UnicodeEncodeError under a locale whose encoding is strict."""
    from hairfx.video import probe

    clip = tmp_path / os.fsdecode(b"caf\xe9.mp4")
    shutil.copy(short_clip, clip)
    out = tmp_path / os.fsdecode(b"r\xe9sultat.mp4")
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--input", clip, "--output", out, "--frames", "3", "--renderer", "cpu"],
        cwd=REPO, env=_script_env(PYTHONIOENCODING="utf-8:strict"), capture_output=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"wrote " + os.fsencode(out) + b": 3 frames\n"
    assert probe(out).frames == 3


def test_headless_output_of_a_truncated_file_warns(webcam, clip, tmp_path, hair_model, capsys):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    whole = tmp_path / "whole.mp4"  # index first, so the cut file still opens
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-t", "2", "-c", "copy", "-movflags", "+faststart",
                    str(whole)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert webcam.main(["--input", str(cut), "--output", str(tmp_path / "o.mp4"), "--renderer", "cpu"]) == 0
    assert "could be decoded; the file may be truncated" in capsys.readouterr().err
    # asking for more frames than the cut file holds, but fewer than it states, warns too
    assert webcam.main(["--input", str(cut), "--output", str(tmp_path / "o.mp4"), "--renderer", "cpu",
                        "--frames", "50"]) == 0
    assert "states 50 frames but only" in capsys.readouterr().err
    # and as many as it holds does not
    assert webcam.main(["--input", str(cut), "--output", str(tmp_path / "o.mp4"), "--renderer", "cpu",
                        "--frames", "5"]) == 0
    assert "truncated" not in capsys.readouterr().err


def test_a_truncated_file_played_in_the_window_warns_at_its_end(webcam, clip, tmp_path, hair_model, monkeypatch,
                                                                capsys):
    """The window plays a cut file to its last frame and then says it is short, as --output
    does; before, the window just closed, as at the end of a whole file."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    whole = tmp_path / "whole.mp4"  # index first, so the cut file still opens
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-t", "1", "-an", "-c", "copy",
                    "-movflags", "+faststart", str(whole)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    shown = _fake_window(webcam, monkeypatch)
    assert webcam.main(["--input", str(cut), "--renderer", "cpu"]) == 0
    err = capsys.readouterr().err
    assert re.search(rf"warning: {re.escape(str(cut))} states \d+ frames but only \d+ could be decoded; "
                     "the file may be truncated", err)
    assert shown  # played up to there
    # the whole file ends as quietly as before
    assert webcam.main(["--input", str(whole), "--renderer", "cpu"]) == 0
    assert "truncated" not in capsys.readouterr().err


def test_headless_stopped_by_sigterm_says_so_and_writes_nothing(webcam, clip, tmp_path, hair_model, monkeypatch, capsys):
    import os
    import signal

    out = tmp_path / "out.mp4"
    step = webcam.App.step

    def killed(self, *a, **kw):
        os.kill(os.getpid(), signal.SIGTERM)
        return step(self, *a, **kw)

    monkeypatch.setattr(webcam.App, "step", killed)
    assert webcam.main(["--input", str(clip), "--output", str(out), "--frames", "6", "--renderer", "cpu"]) == 143
    assert f"interrupted; nothing written to {out}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_headless_resizes_and_recolours(webcam, clip, tmp_path, hair_model):
    out = tmp_path / "small.mp4"
    argv = ["--input", str(clip), "--output", str(out), "--frames", "3", "--size", "160x120", "--color", "blue"]
    assert webcam.main(argv) == 0
    frames = read_all(out)
    assert len(frames) == 3 and frames[0].shape == (120, 160, 3)
    # the first frame of the clip, resized the same way, differs only where the mask is
    cap = cv2.VideoCapture(str(clip))
    ok, src = cap.read()
    cap.release()
    src = cv2.resize(src, (160, 120), interpolation=cv2.INTER_AREA)
    m = hair_model.predict(cv2.cvtColor(src, cv2.COLOR_BGR2RGB))  # the first frame has no prior
    assert (m > 0.9).sum() > 100, "the model should find hair in this clip"
    diff = np.abs(frames[0].astype(int) - src.astype(int)).max(axis=2)
    # lossy encoding blurs the picture a little; the hair region changes far more
    assert diff[m > 0.9].mean() > 4 * diff[m == 0].mean()


def test_headless_output_keeps_an_ntsc_rate_and_never_overwrites_its_input(webcam, tmp_path, hair_model):
    from fractions import Fraction

    from hairfx.video import VideoWriter, probe

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    src = tmp_path / "ntsc.mp4"
    with VideoWriter(src, width=64, height=48, fps=Fraction(30000, 1001)) as w:
        for i in range(4):
            w.write(np.full((48, 64, 3), 60 + 30 * i, np.uint8))
    out = tmp_path / "out.mp4"
    assert webcam.main(["--input", str(src), "--output", str(out), "--renderer", "cpu"]) == 0
    assert (probe(out).fps, probe(out).frames) == (Fraction(30000, 1001), 4)
    before = src.read_bytes()
    (tmp_path / "link.mp4").hardlink_to(src)
    for target in (src, tmp_path / "link.mp4"):
        with pytest.raises(SystemExit) as exit_:
            webcam.main(["--input", str(src), "--output", str(target), "--renderer", "cpu"])
        assert exit_.value.code == 2
    assert src.read_bytes() == before
    with pytest.raises(SystemExit):
        webcam.parse_args(["--camera", "-1"])  # OpenCV crashes on a negative index


def test_window_stops_after_frames(webcam, monkeypatch, hair_model):
    """--frames holds with a window too (the window itself is faked here; the real one is
    driven under xvfb below)."""
    shown, sized = [], []
    monkeypatch.setattr(webcam.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "resizeWindow", lambda name, w, h: sized.append((w, h)))
    monkeypatch.setattr(webcam.cv2, "imshow", lambda name, img: shown.append(img.shape))
    monkeypatch.setattr(webcam.cv2, "waitKeyEx", lambda ms: -1)
    monkeypatch.setattr(webcam.cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(webcam.cv2, "destroyAllWindows", lambda: None)

    class EndlessCamera:
        def get(self):
            return np.full((48, 64, 3), 90, np.uint8), 0.0

    args = webcam.parse_args(["--renderer", "cpu", "--color", "copper", "--frames", "3"])
    app = webcam.App(args, ["copper"])
    try:
        assert webcam.run_window(app, EndlessCamera(), args.frames) == 0
    finally:
        app.close()
    assert shown == [(48, 64, 3)] * 3
    assert sized == [(64, 48)]  # the picture's size, once: a size the user gives the window later stays


def _fake_window(webcam, monkeypatch) -> list:
    """Window functions that draw nothing; returns the list of pictures imshow() was given."""
    shown = []
    monkeypatch.setattr(webcam, "check_window", lambda *a: time.sleep(0.5))  # the real one takes as long
    monkeypatch.setattr(webcam.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "resizeWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "imshow", lambda name, img: shown.append(img))
    monkeypatch.setattr(webcam.cv2, "waitKeyEx", lambda ms: -1)
    monkeypatch.setattr(webcam.cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(webcam.cv2, "destroyAllWindows", lambda: None)
    return shown


def _slow_model_load(monkeypatch, events: list) -> None:
    """Loading the hair model takes a second, as a first load does, and is noted in ``events``."""
    import hairfx.segmenter

    get_segmenter = hairfx.segmenter.get_segmenter

    def slow(*a, **kw):
        time.sleep(1.0)
        events.append("model")
        return get_segmenter(*a, **kw)

    monkeypatch.setattr(hairfx.segmenter, "get_segmenter", slow)


def test_a_file_in_the_window_starts_at_its_first_frame_once_everything_is_loaded(webcam, clip, hair_model,
                                                                                  monkeypatch):
    """The file was opened and its clock started before the window check (about 0.5 s) and
    the model's load on the first frame: the window keeps only the newest frame, so it
    opened some 0.5 s into the clip, then held that picture while the model loaded."""
    cap = cv2.VideoCapture(str(clip))
    first = cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)
    cap.release()
    events, given = [], []
    real = cv2.VideoCapture

    class NotedFile:  # the real clip, each read() noted
        def __init__(self, *a):
            self._cap = real(*a)

        def __getattr__(self, name):
            return getattr(self._cap, name)

        def read(self):
            events.append("read")
            return self._cap.read()

    step = webcam.App.step

    def noted_step(self, frame, *a, **kw):
        given.append(frame.copy())
        return step(self, frame, *a, **kw)

    monkeypatch.setattr(webcam.cv2, "VideoCapture", NotedFile)
    monkeypatch.setattr(webcam.App, "step", noted_step)
    _slow_model_load(monkeypatch, events)
    shown = _fake_window(webcam, monkeypatch)
    assert webcam.main(["--input", str(clip), "--renderer", "cpu", "--color", "copper", "--frames", "2"]) == 0
    assert len(shown) == 2 and "read" in events
    assert events.index("model") < events.index("read"), events  # the clock starts once the model is in
    np.testing.assert_array_equal(given[0], first)  # the clip's first frame is the first shown


def test_a_variable_rate_file_in_the_window_plays_each_frame_at_its_time(webcam, tmp_path):
    """A file was played at one rate, OpenCV's for the whole file (its average, 22.7 fps, for
    1.5 s at 15 fps then 1.5 s at 30): its slow first half ran in 1 s instead of 1.5, its
    fast second half in 2 s."""
    from test_video import _slow_then_fast, ffmpeg_or_skip

    src = tmp_path / "vfr.mp4"
    _slow_then_fast(ffmpeg_or_skip(), src)
    cap = webcam.Capture(str(src), latest=False, pace=True)
    got = []
    try:
        while cap.get() is not None:
            got.append(time.perf_counter())
    finally:
        cap.close()
    assert len(got) == 68
    assert got[22] - got[0] == pytest.approx(22 / 15, abs=0.15)  # the 23rd frame, the last at 15 fps
    assert got[67] - got[22] == pytest.approx(1.5, abs=0.15)

def test_a_camera_is_read_from_the_start_while_the_model_loads(webcam, hair_model, monkeypatch):
    """A camera is live: it is read, and wakes up, while the model loads, as before; the
    frames of that time are not shown, and the first one shown is not one from before the load."""
    events = []

    class Camera(_FakeCamera):
        def read(self):
            time.sleep(0.01)  # waits for the camera's next frame
            self.reads += 1
            events.append("read")
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, :, 1], frame[:, :, 2] = self.reads // 256, self.reads % 256  # its number, in green and red
            return True, frame

    monkeypatch.setattr(webcam.cv2, "VideoCapture", Camera)
    _slow_model_load(monkeypatch, events)
    given = []
    step = webcam.App.step

    def noted_step(self, frame, *a, **kw):
        given.append(256 * int(frame[0, 0, 1]) + int(frame[0, 0, 0]))  # RGB
        return step(self, frame, *a, **kw)

    monkeypatch.setattr(webcam.App, "step", noted_step)
    _fake_window(webcam, monkeypatch)
    assert webcam.main(["--renderer", "cpu", "--color", "copper", "--frames", "2"]) == 0
    model = events.index("model")
    assert events[0] == "read" and model > 0
    assert given[0] > model, (given, model)  # read after the model was in


def test_keys_that_type_nothing_are_not_taken_for_letters(webcam, monkeypatch, hair_model):
    """cv2.waitKey() keeps the low byte of a key's code, and X11 gives keys that type nothing
    their keysym: Insert (0xFF63) changed the colour as c did, and a keyboard's Search key
    (0x1008FF1B) quit as Esc. Esc itself comes as 27 or, from X11, as its keysym 0xFF1B."""
    monkeypatch.setattr(webcam.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "resizeWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "imshow", lambda name, img: None)
    monkeypatch.setattr(webcam.cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(webcam.cv2, "destroyAllWindows", lambda: None)

    class EndlessCamera:
        def get(self):
            return np.full((48, 64, 3), 90, np.uint8), 0.0

    for esc in (27, 0xFF1B):
        pressed = iter([0xFF63, 0x1008FF1B, -1, ord("m"), esc])  # Insert, Search, none, m, Esc
        codes = []

        def wait_key_ex(ms):
            codes.append(next(pressed))
            return codes[-1]

        monkeypatch.setattr(webcam.cv2, "waitKeyEx", wait_key_ex)
        monkeypatch.setattr(webcam.cv2, "waitKey", lambda ms: wait_key_ex(ms) & 0xFF)  # what OpenCV's waitKey() is
        app = webcam.App(webcam.parse_args(["--renderer", "cpu", "--color", "copper"]), ["copper", "violet"])
        try:
            assert webcam.run_window(app, EndlessCamera(), 10) == 0
            assert app.session.color.name == "copper" and app.mode == "mask"
        finally:
            app.close()
        assert len(codes) == 5  # Esc ended the run, not Search


def test_a_window_closed_from_its_title_bar_ends_the_run_cleanly(webcam, monkeypatch, hair_model):
    """Qt's backend raises, rather than answer 'not visible', when asked about a window the
    title bar's close button destroyed: the run ends with status 0, as with q or Esc."""
    monkeypatch.setattr(webcam.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "resizeWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "imshow", lambda name, img: None)
    monkeypatch.setattr(webcam.cv2, "waitKeyEx", lambda ms: -1)
    monkeypatch.setattr(webcam.cv2, "destroyAllWindows", lambda: None)

    def destroyed(*args):
        raise webcam.cv2.error("NULL guiReceiver (please create a window) in function 'cvGetPropVisible_QT'")

    monkeypatch.setattr(webcam.cv2, "getWindowProperty", destroyed)

    class EndlessCamera:
        def get(self):
            return np.full((48, 64, 3), 90, np.uint8), 0.0

    args = webcam.parse_args(["--renderer", "cpu", "--color", "copper"])
    app = webcam.App(args, ["copper"])
    try:
        assert webcam.run_window(app, EndlessCamera(), None) == 0
    finally:
        app.close()


def test_bench_with_an_output_writes_the_frames_without_the_overlay(webcam, clip, tmp_path, hair_model, capsys):
    from hairfx.video import VideoReader

    outs = {}
    for extra in ([], ["--bench"]):
        out = tmp_path / f"o{len(extra)}.mp4"
        assert webcam.main(["--input", str(clip), "--output", str(out), "--frames", "3", "--renderer", "cpu", *extra]) == 0
        assert f"wrote {out}: 3 frames" in capsys.readouterr().out
        with VideoReader(out) as r:
            outs[len(extra)] = next(iter(r))
    assert np.abs(outs[0].astype(int) - outs[1].astype(int)).mean() < 1.0  # no panel drawn into the file


def test_the_full_model_runs_as_its_ensemble_unless_told(webcam, clip, capsys):
    """--model full is the ensemble, as everywhere; --no-ensemble the full network alone;
    --ensemble with the small model is refused as a usage error."""
    assert webcam.parse_args(["--model", "full"]).ensemble is True
    assert webcam.parse_args(["--model", "full", "--no-ensemble"]).ensemble is False
    assert webcam.parse_args([]).ensemble is False
    with pytest.raises(SystemExit) as exit_:
        webcam.parse_args(["--ensemble"])
    assert exit_.value.code == 2 and "--ensemble needs --model full" in capsys.readouterr().err
    argv = ["--input", str(clip), "--bench", "--frames", "2", "--renderer", "cpu", "--model", "full"]
    assert webcam.main(argv) == 0
    assert "model full (ensemble)" in capsys.readouterr().out
    app = webcam.App(webcam.parse_args(argv + ["--no-ensemble"]), ["copper"])
    with app.session:
        assert app.session.ensemble is False


def test_the_hair_model_keeps_a_view_of_a_small_head_unless_told_not_to(webcam, clip):
    """The session sees a head small in the frame on the square around it (its view), as
    `hairfx video` does; --no-zoom keeps the whole frame."""
    argv = ["--input", str(clip), "--bench", "--frames", "2", "--renderer", "cpu"]
    assert webcam.parse_args(argv).zoom is True and webcam.parse_args(argv + ["--no-zoom"]).zoom is False
    for flags, zoom in ([], True), (["--no-zoom"], False):
        app = webcam.App(webcam.parse_args(argv + flags), ["copper"])
        with app.session:
            assert app.session.zoom is zoom
            app.session.mask(np.full((240, 320, 3), 150, np.uint8))
            assert app.session.segmenter_session.zoom is zoom


def test_overlay_fits_narrow_frames_on_a_dark_panel(webcam):
    lines = ["  31.2 FPS   capture  1.0 ms  mask  8.1 ms  render  2.2 ms  display  0.4 ms",
             "copper   strength 1.0   effect   renderer gl   model small"]  # fmt: skip
    for w in (640, 240):
        img = np.full((180, w, 3), 128, np.uint8)
        webcam.draw_overlay(img, lines)
        bright = np.argwhere(img.max(axis=2) > 200)
        assert len(bright) > 50  # the text is there...
        assert bright[:, 1].max() < w - 4  # ...and ends inside the frame
        assert img[2, 2].max() < 70 and img[-1, -1].max() == 128  # a panel behind it, the rest untouched


def test_bench_prints_per_stage_figures(webcam, clip, hair_model, capsys):
    assert webcam.main(["--input", str(clip), "--bench", "--frames", "4", "--renderer", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "FPS" in out
    for stage in ("capture", "mask", "render", "display"):
        assert stage in out


def test_bench_times_the_steady_state_not_the_first_load(webcam, clip, hair_model, capsys, monkeypatch):
    """Loading the model and making the renderer happen on the first frame; --bench runs
    that frame once untimed, so a slow first call does not show in the per-frame figures."""
    import hairfx

    mask, calls = hairfx.RecolorSession.mask, []

    def slow_first(self, frame, given=None):
        if given is None:  # the model's mask, not process() passing the one it was given on
            calls.append(1)
            if len(calls) == 1:
                time.sleep(1.0)  # as a first model load does
        return mask(self, frame, given)

    monkeypatch.setattr(hairfx.RecolorSession, "mask", slow_first)
    assert webcam.main(["--input", str(clip), "--bench", "--frames", "4", "--renderer", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "4 frames" in out and len(calls) == 5
    mask_ms = float(out.split("mask")[1].split("ms")[0])
    assert mask_ms < 200, out  # 1000 / 4 = 250 ms or more had the first call been timed


def test_a_colour_named_with_capitals_is_the_listed_colour(webcam, clip, tmp_path, hair_model, monkeypatch):
    palettes = []
    app_init = webcam.App.__init__

    def record(self, args, palette):
        palettes.append((args.color, list(palette)))
        app_init(self, args, palette)

    monkeypatch.setattr(webcam.App, "__init__", record)
    assert webcam.main(["--input", str(clip), "--output", str(tmp_path / "o.mp4"), "--frames", "1",
                        "--renderer", "cpu", "--color", "Copper"]) == 0
    color, palette = palettes[0]
    assert color == "copper" and palette.count("copper") == 1 and "Copper" not in palette


def test_keys_change_colour_strength_and_view(webcam, clip, hair_model):
    args = webcam.parse_args(["--input", str(clip), "--output", "unused.mp4", "--renderer", "cpu", "--color", "copper"])
    app = webcam.App(args, ["copper", "violet", "blue"])
    try:
        frame = np.full((64, 64, 3), 90, np.uint8)
        app.key(ord("c"))
        assert app.session.color.name == "violet"
        app.key(ord("x"))
        app.key(ord("x"))
        assert app.session.color.name == "blue"
        app.key(ord("-"))
        assert app.session.strength == pytest.approx(0.9)
        for k, mode in ((ord("m"), "mask"), (ord("b"), "side"), (ord("o"), "off"), (ord("o"), "effect")):
            app.key(k)
            assert app.mode == mode
            assert app.step(frame, 0.0, overlay=True).shape == frame.shape
        assert app.key(ord("q")) is False
    finally:
        app.close()


def test_overlay_shows_the_strength_that_is_applied(webcam, hair_model, monkeypatch):
    """--strength 0.25 was shown as "strength 0.2", and 0.04 as "0.0" while the effect was on."""
    drawn = []
    monkeypatch.setattr(webcam, "draw_overlay", lambda bgr, lines: drawn.append(lines[0]))
    frame = np.full((48, 64, 3), 90, np.uint8)
    for given, keys, shown in (("1", "", "1.0"), ("0.25", "", "0.25"), ("0.25", "-", "0.15"), ("0.04", "", "0.04"),
                               ("0.04", "+", "0.14"), ("0.7", "--", "0.5")):  # fmt: skip
        app = webcam.App(webcam.parse_args(["--renderer", "cpu", "--color", "copper", "--strength", given]), ["copper"])
        try:
            for k in keys:
                app.key(ord(k))
            app.step(frame, 0.0, overlay=True)
        finally:
            app.close()
        assert f"strength {shown} " in drawn[-1], (given, keys, drawn[-1])


def test_the_hair_model_is_fed_its_previous_mask(webcam, clip, hair_model):
    """The window times the model apart from the recolouring (session.mask(), then
    process() with that mask), and giving process() a mask reset the model's session: every
    frame was segmented without its previous mask, the temporal feedback the model is built on."""
    import hairfx

    cap = cv2.VideoCapture(str(clip))
    frames = [cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB) for _ in range(4)]
    cap.release()
    app = webcam.App(webcam.parse_args(["--renderer", "cpu", "--color", "copper"]), ["copper"])
    try:
        for f in frames:
            app.step(f, 0.0, overlay=False)
            assert app.session.segmenter_session.previous_mask_canvas is not None
        shown = app.session.last_mask
    finally:
        app.close()
    with hairfx.RecolorSession("copper", renderer="cpu") as s:
        for f in frames:
            s.process(f)
        np.testing.assert_array_equal(shown, s.last_mask)


def test_overlay_shows_no_frame_rate_before_it_has_two_frames_to_time(webcam, hair_model, monkeypatch):
    """The first frames have no frame time to show: they had shown "0.0 FPS", as if stalled."""
    drawn = []
    monkeypatch.setattr(webcam, "draw_overlay", lambda bgr, lines: drawn.append(lines[0]))
    frame = np.full((48, 64, 3), 90, np.uint8)
    app = webcam.App(webcam.parse_args(["--renderer", "cpu", "--color", "copper"]), ["copper"])
    try:
        for _ in range(3):  # a rate is known once two frames have been timed, shown from the third
            app.step(frame, 0.0, overlay=True)
    finally:
        app.close()
    assert drawn[0].startswith("  --- FPS  ") and " 0.0 FPS" not in drawn[0]
    assert re.match(r" *\d+\.\d FPS  ", drawn[2]) and float(drawn[2].split()[0]) > 0


def test_colour_keys_skip_a_colour_that_cannot_be_loaded(webcam, clip, tmp_path, hair_model, capsys):
    bad = tmp_path / "bad"  # listed by hairfx.colors() as any folder is, but its color.json is broken
    bad.mkdir()
    (bad / "color.json").write_text("{ not json", encoding="utf-8")
    args = webcam.parse_args(["--input", str(clip), "--output", "unused.mp4", "--renderer", "cpu", "--color", "copper"])
    app = webcam.App(args, ["copper", str(bad), "blue"])
    try:
        assert app.key(ord("c"))  # the session goes on, past the broken colour
        assert app.session.color.name == "blue" and app.color_index == 2
        err = capsys.readouterr().err
        assert f"skipping colour '{bad}'" in err and "color.json" in err
        assert app.key(ord("x"))  # back over it: skipped without a second message
        assert app.session.color.name == "copper" and app.color_index == 0
        assert capsys.readouterr().err == ""
        app.palette[2] = str(bad)  # nothing else loads: the colour stays
        app.key(ord("c"))
        assert app.session.color.name == "copper" and app.color_index == 0
    finally:
        app.close()


def test_snapshot_key_saves_the_picture_without_the_figures(webcam, clip, tmp_path, hair_model, capsys):
    args = webcam.parse_args(["--input", str(clip), "--output", "x.mp4", "--renderer", "cpu", "--color", "copper", "--snapshot-dir", str(tmp_path)])
    app = webcam.App(args, ["copper"])
    try:
        shown = app.step(np.full((32, 48, 3), 100, np.uint8), 0.0, overlay=True)
        app.key(ord("s"))
        app.key(ord("s"))  # within the same second: a second file, not an overwrite
        app.args.snapshot_dir = str(tmp_path / "taken")
        (tmp_path / "taken").write_text("a file where the folder should be")
        assert app.key(ord("s"))  # reported, and the session goes on
    finally:
        app.close()
    saved = list(tmp_path.glob("hairfx_snapshot_*.png"))
    assert len(saved) == 2 and all(cv2.imread(str(p)).shape == (32, 48, 3) for p in saved)
    picture = cv2.imread(str(saved[0]))
    np.testing.assert_array_equal(picture, app.last_picture)
    assert np.any(picture != shown)  # the FPS figures drawn over the window are not in the photo
    assert "snapshot not saved: could not write" in capsys.readouterr().err


@pytest.mark.parametrize("argv, says", [
    (["--size", "100000x100000"], "argument --size: size must be at most 16384 px a side, got '100000x100000'"),
    (["--size", "3x3"], "argument --size: size must be at least 4x4, got '3x3'"),
    (["--size", "0x10"], "argument --size: size must be at least 4x4, got '0x10'"),
    (["--size", "-5x10"], "argument --size: size must be at least 4x4, got '-5x10'"),  # not "expected one argument"
    (["--camera", "-1"], "--camera must be a camera index, 0 to 2147483647, got -1"),
    (["--camera", "99999999999999999999"], "--camera must be a camera index, 0 to 2147483647, got 99999999999999999999"),
])
def test_sizes_and_camera_indices_out_of_range_are_refused_before_anything_runs(webcam, capsys, argv, says):
    """A size past hairfx's 16384 px failed in the capture thread (a traceback, then
    OpenCV's "Failed to allocate 30000000000 bytes"); one under the hair model's 4 px after
    the model had loaded; a camera index past a C int raised a cv2.error traceback."""
    with pytest.raises(SystemExit) as exit_:
        webcam.parse_args(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f": error: {says}")


@pytest.mark.parametrize("argv, says", [
    (["--strength", "2"], "argument --strength: strength must be a number in [0, 1], got '2'"),
    (["--strength", "-0.5"], "argument --strength: strength must be a number in [0, 1], got '-0.5'"),
    (["--smoothing", "1"], "argument --smoothing: smoothing must be a number in [0, 1), got '1'"),
])  # fmt: skip
def test_strength_and_smoothing_out_of_range_are_usage_errors_naming_the_option(webcam, capsys, argv, says):
    """`--strength 2` said "strength must be in [0, 1], got 2.0" once the run had started,
    naming no option and without the usage line; `hairfx recolor` and `hairfx video` refuse
    it as argparse refuses its own errors, and so does the demo."""
    with pytest.raises(SystemExit) as exit_:
        webcam.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ") and err.endswith(f": error: {says}\n")


def test_an_unquoted_hex_colour_gets_a_hint_to_quote_it(webcam, capsys):
    """`--color #b4532a` reaches the program as `--color` alone: the shell drops the rest of
    the line as a comment."""
    with pytest.raises(SystemExit):
        webcam.parse_args(["--input", "clip.mp4", "--color"])
    assert capsys.readouterr().err.endswith(
        "error: argument --color/-c: expected one argument (quote a hex colour, '#RRGGBB': the shell takes an "
        "unquoted # for the start of a comment)\n")


def test_missing_camera_is_a_clear_error():
    # a separate process: the real exit code and stderr, and proof there is no traceback
    import hairfx

    env = {**os.environ, "PYTHONPATH": str(Path(hairfx.__file__).resolve().parents[1])}  # the hairfx under test
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--camera", "97"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2
    assert "could not open camera 97" in r.stderr
    assert "Traceback" not in r.stderr


def _script_env(**extra) -> dict:
    import hairfx

    env = {**os.environ, "PYTHONPATH": str(Path(hairfx.__file__).resolve().parents[1]), **extra}  # the hairfx under test
    return env


def test_no_display_is_a_clear_error_not_an_abort(clip):
    # OpenCV's Qt backend aborts the process when it cannot reach a display
    env = {k: v for k, v in _script_env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--input", str(clip)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2, r.stderr
    assert "cannot open a window" in r.stderr and "--output" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_camera_without_a_display_is_not_told_to_use_options_that_need_a_file(webcam, monkeypatch, capsys):
    """With a camera and no display, the error said to use --output OUT.mp4 or --bench,
    which were then refused: "--output and --bench need --input FILE"."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(webcam.cv2, "VideoCapture", _after_frames(1 << 30, None))
    assert webcam.main(["--renderer", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "cannot open a window" in err and len(err.splitlines()) == 1, err
    assert err.rstrip().endswith("; use --input FILE with --output OUT.mp4 or --bench to run on a video file "
                                 "without a window"), err


def test_opengl_that_cannot_start_is_said_in_one_line(short_clip, tmp_path):
    """Where Mesa cannot start a driver (here one that does not exist), its own "libEGL
    warning: egl: failed to create dri2 screen" lines came before hairfx's, which says it,
    and that suggested the Python API's renderer='cpu' for the example's --renderer cpu."""
    out = tmp_path / "out.mp4"
    for renderer, status in (("auto", 0), ("gl", 2)):
        r = subprocess.run(
            [sys.executable, str(SCRIPT), "--input", str(short_clip), "--output", str(out), "--frames", "2",
             "--renderer", renderer],
            cwd=REPO, env=_script_env(GALLIUM_DRIVER="no-such-driver"), capture_output=True, text=True, timeout=120,
        )
        assert "libEGL" not in r.stderr, r.stderr
        if "OpenGL" in r.stderr:  # Mesa's EGL: no context; another vendor's ignores the variable
            assert r.returncode == status and len(r.stderr.splitlines()) == 1, r.stderr
            assert "renderer='cpu'" not in r.stderr, r.stderr
            # auto has fallen back, and says so; gl fails, and says what to use instead
            assert ("fell back to the CPU renderer (ask for --renderer cpu to use it without this warning)" if status == 0
                    else "use --renderer cpu") in r.stderr, r.stderr


def _run_interrupted(clip, out, loaded: str, after: float, *, twice: bool = False) -> subprocess.CompletedProcess:
    """Run the example on ``clip`` into ``out`` and interrupt it (:func:`interrupted_while_loading`)."""
    return interrupted_while_loading([sys.executable, str(SCRIPT), "--input", str(clip), "--output", str(out),
                                      "--renderer", "cpu"], loaded, after, twice=twice, env=_script_env())


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux's /proc to time the signal")
def test_ctrl_c_at_any_moment_is_one_line_and_status_130(clip, tmp_path):
    """Ctrl-C while the modules load (the first 0.2 s) printed a traceback from inside
    numpy or OpenCV; one that came while ONNX Runtime started was taken for a missing
    onnxruntime package ("install it", status 2); a second one soon after the first could
    leave the hidden partial video behind."""
    import importlib.util

    moments = [("_multiarray_umath", 0.0), ("/cv2/", 0.0), ("/cv2/", 0.03), ("/cv2/", 0.08)]  # numpy, OpenCV, hairfx
    if importlib.util.find_spec("onnxruntime") is not None:  # the hair model's runtime, then the frames
        moments += [("onnxruntime_pybind11_state", 0.0), ("onnxruntime_pybind11_state", 0.5)]
    moments = [(loaded, after, False) for loaded, after in moments]
    moments += [("/cv2/", after, True) for after in (0.6, 0.9, 1.2)]  # twice: the second one during the clean-up
    for i, (loaded, after, twice) in enumerate(moments):
        folder = tmp_path / str(i)
        folder.mkdir()
        r = _run_interrupted(clip, folder / "out.mp4", loaded, after, twice=twice)
        where = f"SIGINT{' twice' if twice else ''} {after} s after {loaded} was loaded"
        assert r.returncode == 130, f"{where}: {r.stderr}"
        assert r.stderr.startswith("webcam_recolor.py: interrupted") and len(r.stderr.splitlines()) == 1, where
        assert list(folder.iterdir()) == [], where


def test_a_reader_that_stops_early_ends_the_run_quietly(clip):
    """`webcam_recolor.py --bench ... | head -1`: the figures printed into a pipe whose reader
    has gone ended in a BrokenPipeError traceback and status 1."""
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--input", str(clip), "--bench", "--frames", "2", "--renderer", "cpu"],
        cwd=REPO, env=_script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdout.close()  # the reader goes before the first line
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


# Drives the real window on a virtual X server: waits for it, focuses it, then types keys.
# OpenCV's Qt backend keeps only the last key between two frames, and the first frame waits
# for the model to load, so a snapshot key is repeated until its file appears.
_DRIVER = r"""
"$PY" "$SCRIPT" --input "$CLIP" --renderer cpu --snapshot-dir "$SNAPS" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
snaps() { ls "$SNAPS" 2>/dev/null | wc -l; }
press() {  # focus the window again first: a focus lost or not yet taken drops the key
    xdotool windowfocus "$wid" 2>/dev/null; xdotool key "$1"
}
snapshot() {  # press s until there are at least $1 snapshots
    for _ in $(seq 60); do
        press s; sleep 0.5
        [ "$(snaps)" -ge "$1" ] && return 0
    done
    echo "no snapshot $1" >&2; return 1
}
wid=$(timeout 90 xdotool search --sync --name '^hairfx$' | head -1)
timeout 20 xdotool windowfocus --sync "$wid" || echo "the window did not take the focus at first" >&2
snapshot 1
xdotool getwindowgeometry --shell "$wid"
press m; sleep 1
snapshot $(( $(snaps) + 1 ))
press q
wait "$pid"
"""


@pytest.mark.skipif(not (shutil.which("xvfb-run") and shutil.which("xdotool")), reason="needs xvfb-run and xdotool")
def test_window_under_a_virtual_display_takes_keys(clip, tmp_path, hair_model):
    snaps = tmp_path / "snaps"
    env = _script_env(PY=sys.executable, SCRIPT=str(SCRIPT), CLIP=str(clip), SNAPS=str(snaps))
    start = time.monotonic()
    proc = subprocess.Popen(
        ["xvfb-run", "-a", "bash", "-c", _DRIVER], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # xvfb-run, Xvfb, the driver and the example together
        out, err = proc.communicate()
        pytest.fail(f"the window test timed out:\n{out}\n{err}")
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, out + err
    saved = sorted(snaps.glob("hairfx_snapshot_*.png"), key=lambda p: p.stat().st_mtime_ns)
    assert len(saved) >= 2, out + err
    effect, mask_view = (cv2.imread(str(p)) for p in (saved[0], saved[-1]))
    assert effect.shape == mask_view.shape == (320, 320, 3)
    # Qt opened every window at 400x300 and shrank the picture into it (a 1280x720 camera's
    # to 31 %, its figures unreadable): the window now takes the picture's size
    window = dict(line.split("=", 1) for line in out.splitlines() if line.startswith(("WIDTH=", "HEIGHT=")))
    assert int(window["WIDTH"]) >= 320 and int(window["HEIGHT"]) >= 320, out
    # the mask view dims the frame to half and paints the hair green: blue halves, green does not
    assert mask_view[:, :, 0].mean() < 0.65 * effect[:, :, 0].mean()
    assert (mask_view[:, :, 1].astype(int) - mask_view[:, :, 2]).max() > 100
    if Path("/usr/share/fonts").is_dir():
        assert "QFontDatabase" not in err  # Qt was pointed at the system's fonts
    assert elapsed < 45, "q should quit long before the clip's 56 s have played"


def test_missing_input_file_is_a_clear_error(webcam, tmp_path, capsys):
    assert webcam.main(["--input", str(tmp_path / "none.mp4"), "--output", str(tmp_path / "o.mp4")]) == 2
    assert "not found" in capsys.readouterr().err


def test_an_input_that_is_not_a_video_says_what_it_is(webcam, clip, tmp_path, capsys):
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), np.zeros((8, 8, 3), np.uint8))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    # a recording cut short (`head -c`) before its index, and one that has not begun: FFmpeg's
    # "moov atom not found" for both, which does not say what is wrong with the file
    cut, empty = tmp_path / "cut.mp4", tmp_path / "empty.mp4"
    cut.write_bytes(clip.read_bytes()[:65536])
    empty.write_bytes(b"")
    for source, says in [(still, "is a still image, not a video"), (tmp_path, "is a folder, not a video file"),
                         (broken, f"could not open {str(broken)!r} as a video"),
                         (cut, "moov atom not found (the index of this MP4 or MOV, which comes at its end, is missing: "
                               "the file is cut short, or still being written)"),
                         (empty, f"video {str(empty)!r} is empty (0 bytes)")]:  # fmt: skip
        assert webcam.main(["--input", str(source), "--output", str(tmp_path / "o.mp4")]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and says in err, err
    assert not (tmp_path / "o.mp4").exists()


def test_an_output_folder_that_takes_no_files_is_named_with_the_output(webcam, clip, tmp_path, hair_model, capsys):
    """ffmpeg said it, after the first frame, of the hidden file the user never named:
    "... .out.1234.89ab.partial.mp4: Permission denied"."""
    ro = read_only_folder(tmp_path)
    try:
        out = ro / "out.mp4"
        assert webcam.main(["--input", str(clip), "--output", str(out), "--frames", "2", "--renderer", "cpu"]) == 2
        err = capsys.readouterr().err
        assert err == f"webcam_recolor: error: cannot write {str(out)!r}: Permission denied\n"
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


class _FakeCamera:
    """A cv2.VideoCapture that opens; subclasses say what read() does."""

    def __init__(self, *a):
        self.reads = 0

    def grab(self):  # the example reads a camera in read()'s two steps
        self._read = self.read()
        return self._read[0]

    def retrieve(self):
        return self._read

    def isOpened(self):
        return True

    def set(self, *a):
        return True

    def get(self, *a):
        return 30.0

    def release(self):
        pass


def _camera_error(webcam, monkeypatch, camera) -> str:
    """The message of the CameraError a Capture of the fake ``camera`` class raises."""
    import hairfx

    monkeypatch.setattr(webcam.cv2, "VideoCapture", camera)
    cap = webcam.Capture(0, latest=True)
    try:
        with pytest.raises(hairfx.CameraError) as raised:
            for _ in range(100):
                cap.get()
    finally:
        cap.close()
    return str(raised.value)


def test_capture_time_is_the_decoding_not_the_wait_for_the_cameras_next_frame(webcam, monkeypatch):
    """A camera's read() blocks until the camera has its next frame: the overlay's capture
    figure was the camera's frame interval (33 ms at 30 fps), not the decoding it stands for."""

    class Camera20Fps(_FakeCamera):
        def grab(self):  # waits for the next frame, as V4L2's does
            time.sleep(0.05)
            return True

        def retrieve(self):
            return True, np.zeros((8, 8, 3), np.uint8)

        def read(self):  # what OpenCV's read() is
            return self.retrieve() if self.grab() else (False, None)

    monkeypatch.setattr(webcam.cv2, "VideoCapture", Camera20Fps)
    cap = webcam.Capture(0, latest=False)
    try:
        times = [cap.get()[1] for _ in range(4)]
    finally:
        cap.close()
    assert max(times) < 25, times


def test_camera_that_goes_away_raises_camera_error(webcam, monkeypatch):
    class DeadCamera(_FakeCamera):
        def read(self):
            self.reads += 1
            if self.reads <= 2:
                return True, np.zeros((8, 8, 3), np.uint8)
            return False, None

    monkeypatch.setattr(webcam, "CAMERA_TIMEOUT_S", 0.05)
    assert "stopped delivering" in _camera_error(webcam, monkeypatch, DeadCamera)


def test_a_camera_slow_to_wake_gets_its_start_up_time_and_one_that_never_does_is_named(webcam, monkeypatch):
    class SlowCamera(_FakeCamera):
        def read(self):  # fails for its first 0.3 s, as many USB cameras do while waking
            self.reads += 1
            if time.perf_counter() - self.opened < 0.3:
                return False, None
            return True, np.zeros((8, 8, 3), np.uint8)

        def __init__(self, *a):
            super().__init__()
            self.opened = time.perf_counter()

    monkeypatch.setattr(webcam.cv2, "VideoCapture", SlowCamera)
    monkeypatch.setattr(webcam, "CAMERA_TIMEOUT_S", 0.05)  # far shorter than the wake-up
    monkeypatch.setattr(webcam, "CAMERA_START_S", 2.0)
    cap = webcam.Capture(0, latest=True)
    try:
        assert cap.get()[0].shape == (8, 8, 3)
    finally:
        cap.close()

    class NeverCamera(_FakeCamera):
        def read(self):
            return False, None

    monkeypatch.setattr(webcam, "CAMERA_START_S", 0.2)
    assert "delivered no frame in the 0.2 s after it was opened" in _camera_error(webcam, monkeypatch, NeverCamera)


def test_camera_whose_read_hangs_raises_camera_error(webcam, monkeypatch):
    """Some drivers block in read() instead of failing: get() gives up after the timeout,
    and the camera is released by the reading thread once its read returns."""
    import threading

    import hairfx

    unblock, released = threading.Event(), threading.Event()

    class HangingCamera(_FakeCamera):
        def read(self):
            self.reads += 1
            if self.reads == 1:
                return True, np.zeros((8, 8, 3), np.uint8)
            unblock.wait(10.0)
            return False, None

        def release(self):
            released.set()

    monkeypatch.setattr(webcam.cv2, "VideoCapture", HangingCamera)
    monkeypatch.setattr(webcam, "CAMERA_TIMEOUT_S", 0.1)
    cap = webcam.Capture(0, latest=True)
    try:
        assert cap.get()[0].shape == (8, 8, 3)
        with pytest.raises(hairfx.CameraError, match="delivered no frame for 0.2 s"):
            cap.get()
    finally:
        cap._stop.set()
        assert not released.is_set()  # never released under the hanging read
        unblock.set()
        cap.close()
    assert released.wait(5.0)


def _unplugged() -> None:
    # what some V4L2 drivers raise from read() once a USB camera is pulled out
    raise cv2.error("OpenCV(5.0.0) cap_v4l.cpp:1: error: (-2:Unspecified error) VIDIOC_DQBUF: No such device\n")


def _after_frames(good: int, failure, frame=None):
    """A fake camera class: ``good`` frames, then ``failure()`` is what every read() does."""

    class Failing(_FakeCamera):
        def read(self):
            self.reads += 1
            if self.reads <= good:
                return True, np.full((48, 64, 3), 90, np.uint8) if frame is None else frame
            return failure()

    return Failing


@pytest.fixture
def thread_errors(monkeypatch) -> list:
    """Exceptions that escaped a thread: each one would print a traceback."""
    import threading

    caught = []
    monkeypatch.setattr(threading, "excepthook", lambda info: caught.append(info.exc_value))
    return caught


def test_camera_whose_read_raises_ends_with_one_line_exit_2_and_clean_up(webcam, monkeypatch, capsys, hair_model,
                                                                         thread_errors):
    closed = []
    monkeypatch.setattr(webcam.cv2, "VideoCapture", _after_frames(3, _unplugged))
    monkeypatch.setattr(webcam, "CAMERA_TIMEOUT_S", 0.05)
    monkeypatch.setattr(webcam, "check_window", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "resizeWindow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "imshow", lambda *a: None)
    monkeypatch.setattr(webcam.cv2, "waitKeyEx", lambda ms: -1)
    monkeypatch.setattr(webcam.cv2, "getWindowProperty", lambda *a: 1.0)
    monkeypatch.setattr(webcam.cv2, "destroyAllWindows", lambda: closed.append("window"))
    app_close = webcam.App.close
    monkeypatch.setattr(webcam.App, "close", lambda self: (closed.append("session"), app_close(self)))
    assert webcam.main(["--renderer", "cpu", "--color", "copper"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    assert "camera 0 stopped delivering frames: read() raised cv2.error: OpenCV(5.0.0)" in err
    assert "No such device" in err and thread_errors == []
    assert closed == ["window", "session"]


@pytest.mark.parametrize("frame", [None, np.zeros((0, 0, 3), np.uint8)], ids=["none", "empty"])
def test_camera_that_returns_an_empty_frame_raises_camera_error(webcam, monkeypatch, frame, thread_errors):
    monkeypatch.setattr(webcam, "CAMERA_TIMEOUT_S", 0.05)
    camera = _after_frames(2, lambda: (True, frame))
    assert "stopped delivering frames: read() returned an empty frame" in _camera_error(webcam, monkeypatch, camera)
    assert thread_errors == []


def test_grayscale_and_bgra_camera_frames_become_rgb(webcam, monkeypatch):
    """Monochrome and infrared cameras deliver H x W (or H x W x 1) frames, some drivers BGRA:
    converted, not refused. Resizing an H x W x 1 frame drops its last axis, hence --size too."""
    cvt = cv2.cvtColor

    def opencv4_cvtcolor(src, code, *a):  # 4.x refuses 1 channel for BGR2RGB (5.0 takes it as gray)
        if code == cv2.COLOR_BGR2RGB and (src.ndim == 2 or src.shape[2] not in (3, 4)):
            raise cv2.error("OpenCV(4.8.0) color.simd_helpers.hpp:92: error: (-2:Unspecified error) Invalid number "
                            "of channels in input image: 'VScn::contains(scn)' where 'scn' is 1")
        return cvt(src, code, *a)

    monkeypatch.setattr(webcam.cv2, "cvtColor", opencv4_cvtcolor)  # opencv-python>=4.8 is supported
    bgra = np.zeros((12, 16, 4), np.uint8)
    bgra[:] = (10, 20, 30, 255)
    frames = [np.full((12, 16), 50, np.uint8), np.full((12, 16, 1), 70, np.uint8), bgra]

    class OddCamera(_FakeCamera):
        def read(self):
            self.reads += 1
            return (True, frames[self.reads - 1]) if self.reads <= len(frames) else (False, None)

    monkeypatch.setattr(webcam.cv2, "VideoCapture", OddCamera)
    for size in (None, (8, 6)):
        cap = webcam.Capture(0, latest=False, size=size)  # every frame, in order
        try:
            got = [cap.get()[0] for _ in frames]
        finally:
            cap.close()
        shape = (12, 16, 3) if size is None else (6, 8, 3)
        assert all(f.shape == shape and f.dtype == np.uint8 for f in got)
        assert [tuple(f[0, 0]) for f in got] == [(50, 50, 50), (70, 70, 70), (30, 20, 10)]


@pytest.mark.parametrize("frame", [np.zeros((8, 8, 3), np.uint16), np.zeros((8, 8, 2), np.uint8)],
                         ids=["16-bit", "yuyv"])
def test_camera_frames_that_are_no_picture_are_named(webcam, monkeypatch, frame, thread_errors):
    message = _camera_error(webcam, monkeypatch, _after_frames(1 << 30, None, frame))
    assert f"camera 0 delivered a frame of shape {frame.shape} {frame.dtype}; expected 8-bit BGR" in message
    assert thread_errors == []


def test_input_file_that_fails_to_decode_mid_file_is_an_error_not_its_end(webcam, clip, tmp_path, hair_model,
                                                                          monkeypatch, capsys, thread_errors):
    real = cv2.VideoCapture

    class BadFile:  # the real clip, whose fourth read() raises
        def __init__(self, *a):
            self._cap, self.reads = real(*a), 0

        def __getattr__(self, name):
            return getattr(self._cap, name)

        def read(self):
            self.reads += 1
            return self._cap.read() if self.reads <= 3 else _unplugged()

    monkeypatch.setattr(webcam.cv2, "VideoCapture", BadFile)
    out = tmp_path / "out.mp4"
    assert webcam.main(["--input", str(clip), "--output", str(out), "--renderer", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"could not decode {str(clip)!r} after 3 frames: read() raised cv2.error" in err
    assert thread_errors == [] and not out.exists()  # the writer was aborted


def test_headless_output_keeps_anamorphic_pixels_unless_resized(webcam, tmp_path, hair_model):
    from fractions import Fraction

    from hairfx.video import probe
    from test_video import ffmpeg_or_skip, make_clip

    src = tmp_path / "wide.mp4"
    make_clip(ffmpeg_or_skip(), src, "-frames:v", "3", "-vf", "setsar=4/3")
    out = tmp_path / "out.mp4"
    assert webcam.main(["--input", str(src), "--output", str(out), "--renderer", "cpu"]) == 0
    assert probe(out).sample_aspect_ratio == Fraction(4, 3)  # was written square: played squashed
    assert webcam.main(["--input", str(src), "--output", str(out), "--renderer", "cpu", "--size", "96x54"]) == 0
    assert probe(out).sample_aspect_ratio == 1


def test_a_clip_too_small_for_the_hair_model_is_named_unless_resized(webcam, tmp_path, hair_model, capsys):
    """It failed on its first frame with "frame is 2x2, smaller than 4 px per side", which
    named neither the file nor --size, which makes such a clip usable."""
    from test_video import ffmpeg_or_skip

    tiny = tmp_path / "tiny.mp4"
    subprocess.run([ffmpeg_or_skip(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=2x2:rate=30:duration=0.2",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(tiny)], check=True)  # fmt: skip
    out = tmp_path / "out.mp4"
    for argv in (["--output", str(out)], ["--bench"], []):  # [], the window: refused before it is looked for
        assert webcam.main(["--input", str(tiny), *argv, "--renderer", "cpu"]) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"webcam_recolor: error: {str(tiny)!r} is 2x2, smaller than the 4 px per side the hair-mask model needs; "
            "give a larger --size"]  # fmt: skip
    assert not out.exists()
    assert webcam.main(["--input", str(tiny), "--output", str(out), "--size", "16x16", "--renderer", "cpu"]) == 0
    assert read_all(out)[0].shape == (16, 16, 3)

def test_an_empty_input_is_refused_not_taken_for_the_camera(webcam, capsys):
    """`--input "$CLIP"` with the variable unset used to open camera 0."""
    with pytest.raises(SystemExit) as exit_:
        webcam.main(["--input", "", "--frames", "1"])
    assert exit_.value.code == 2
    assert "argument --input/-i: an empty path (is a shell variable unset?)" in capsys.readouterr().err


def test_hairfx_warnings_read_as_sentences_not_source_lines(webcam, short_clip, tmp_path, hair_model, capsys):
    """A warning from hairfx (here: the clip's sound ends before its first picture, so
    none can be kept) is printed as the hairfx command prints it, not in Python's
    "webcam_recolor.py:521: RuntimeWarning: ... writer.close()" form."""
    late = tmp_path / "late.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-itsoffset", "0.5", "-i", str(short_clip), "-i", str(short_clip),
                    "-map", "0:v", "-map", "1:a", "-c", "copy", str(late)], check=True)
    assert webcam.main(["--input", str(late), "--output", str(tmp_path / "o.mp4"), "--renderer", "cpu"]) == 0
    err = capsys.readouterr().err
    assert any(line.startswith("hairfx: no sound of ") for line in err.splitlines()), err
    assert "RuntimeWarning" not in err and "webcam_recolor.py:" not in err


#: What OpenCV built without a GUI backend says for every window function (opencv-python-headless).
NO_WINDOWS = ("cv2.error: OpenCV(5.0.0) /io/opencv/modules/highgui/src/window.cpp:1301: error: (-2:Unspecified "
              "error) The function is not implemented. Rebuild the library with Windows, GTK+ 2.x or Cocoa support. "
              "If you are on Ubuntu or Debian, install libgtk2.0-dev and pkg-config, then re-run cmake or configure "
              "script in function 'cvNamedWindow'")


def _installed_here(folder: Path, *names: str) -> None:
    """Make ``names`` look installed to importlib.metadata through ``folder`` (on sys.path)."""
    for name in names:
        info = folder / f"{name.replace('-', '_')}-5.0.0.93.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 5.0.0.93\n")


@pytest.mark.parametrize("installed, says", [
    (["opencv-python", "opencv-python-headless"],
     "cannot open a window: this OpenCV has no windows: opencv-python-headless is installed beside opencv-python, "
     "whose cv2 it replaced; run `pip uninstall opencv-python-headless` then `pip install --force-reinstall "
     "opencv-python`, or use --output OUT.mp4 or --bench to run without a window"),
    (["opencv-python-headless"], "is installed; run `pip uninstall opencv-python-headless` then "
                                 "`pip install --force-reinstall opencv-python`"),
    ([], "was built without windows; install one that has them (pip install opencv-python)"),  # a build of its own
])  # fmt: skip
def test_an_opencv_without_windows_is_named_with_the_fix(webcam, monkeypatch, tmp_path, installed, says):
    """pip's opencv-python-headless beside opencv-python replaces the cv2 that has windows: the
    window failed with OpenCV's "The function is not implemented. Rebuild the library with ...
    GTK+ 2.x", advice that does not apply to a pip install."""
    from importlib import metadata

    real = metadata.distribution

    def only_these(name):  # the packages of the case alone, whatever this machine has
        if name in webcam.OPENCV_WINDOWED + webcam.OPENCV_HEADLESS and name not in installed:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    _installed_here(tmp_path / "site", *installed)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setattr(metadata, "distribution", only_these)
    monkeypatch.setattr(webcam, "_WINDOW_PROBE", f"import sys; sys.exit({NO_WINDOWS!r})")
    with pytest.raises(webcam.hairfx.HairfxError) as caught:
        webcam.check_window()
    assert says in str(caught.value) and "GTK" not in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1
