"""Numeric and enumerated options of the public API: a wrong type or value raises an
InputError naming the option, never a bare TypeError, ValueError or IndexError."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hairfx
from hairfx._options import number
from hairfx.errors import InputError


def test_number_accepts_numbers_and_names_what_it_refuses():
    assert number(np.float32(0.25), "x", lo=0, hi=1) == 0.25
    assert number(np.int64(3), "n", lo=1, integer=True) == 3 and isinstance(number(3.0, "n", integer=True), int)
    for bad, message in [
        ("3", "n must be a number, got '3'"),
        (None, "n must be a number, got None"),
        (True, "n must be a number, got True"),
        (math.nan, "n must be a finite number, got nan"),
        (2.5, "n must be a whole number, got 2.5"),
        (0, r"n must be in \[1, inf\], got 0"),
    ]:
        with pytest.raises(InputError, match=message):
            number(bad, "n", lo=1, integer=True)


def test_intensity_blend_weight():
    from hairfx.intensity import blend_weight

    assert blend_weight(np.float32(0.35), 0.1, 0.6) == pytest.approx(0.5)
    with pytest.raises(InputError, match="hair intensity must be a number, got None"):
        blend_weight(None, 0.1, 0.6)
    with pytest.raises(InputError, match="hair intensity must be a finite number, got nan"):
        blend_weight(math.nan, 0.1, 0.6)  # used to give 0.0: the dark LUT, silently


def test_segmenter_options():
    from hairfx.segmenter import Segmenter, get_segmenter

    with pytest.raises(InputError, match="threads must be a number, got 'x'"):
        Segmenter("small", threads="x")
    from hairfx._options import MAX_THREADS

    with pytest.raises(InputError, match="weights_dir must be a folder's path, got int 5"):
        Segmenter("small", weights_dir=5)
    for bad in (0, MAX_THREADS + 1, 5000):  # 5000 made ONNX Runtime start 5000 threads and hang
        with pytest.raises(InputError, match=rf"threads must be in \[1, {MAX_THREADS}\], got {bad}"):
            Segmenter("small", threads=bad)
    seg = get_segmenter("small")
    for kw, message in [
        ({"cut_threshold": "abc"}, "cut_threshold must be a number, got 'abc'"),
        ({"cut_threshold": -0.1}, r"cut_threshold must be in \[0, 1\], got -0.1"),
        ({"confirm": 2}, r"confirm must be in \[0, 1\], got 2"),
        ({"min_area": math.inf}, "min_area must be a finite number"),
        ({"check_every": 1.5}, "check_every must be a whole number, got 1.5"),
        ({"check_every": -15}, r"check_every must be in \[0, inf\], got -15"),
    ]:
        with pytest.raises(InputError, match=message):
            seg.session(**kw)


def test_video_and_lut_options():
    from hairfx.video import VideoRecolorer, parse_color_schedule

    with pytest.raises(InputError, match="fade \\(seconds\\) must be a number, got 'x'"):
        parse_color_schedule("copper", fade="x")
    with pytest.raises(InputError, match=r"fade \(seconds\) must be in \[0, inf\], got -1"):
        parse_color_schedule("copper", fade=-1)
    with pytest.raises(InputError, match=r"ombre must be 'ROOTS,TIPS' or a \(roots, tips\) pair of colours, got \('copper',\)"):
        VideoRecolorer(ombre=("copper",), renderer="cpu")
    with pytest.raises(InputError, match="LUT size must be a number, got 'x'"):
        hairfx.LUT3D.identity("x")
    with pytest.raises(InputError, match=r"LUT size must be in \[2, 256\], got 1"):
        hairfx.LUT3D.identity(1)


def test_recolor_checks_the_model_name_also_when_a_mask_is_given(portrait):
    frame, mask = portrait
    with pytest.raises(InputError, match="unknown model 'huge'; valid models are: small, full"):
        hairfx.recolor(frame, "copper", mask=mask, model="huge", renderer="cpu")


def test_every_error_crosses_a_process_boundary():
    """Errors raised in a worker process reach the parent pickled: each comes back as
    itself, with its message (Interrupted once failed: its args hold the signal's name)."""
    import pickle
    import signal

    from hairfx import errors

    for exc in (errors.InputError("bad frame"), errors.Interrupted(signal.SIGTERM),
                errors.RendererUnavailable("no GL"), errors.UnknownColorError("mauve")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
    assert pickle.loads(pickle.dumps(errors.Interrupted(signal.SIGTERM))).signum == signal.SIGTERM


def test_a_path_that_is_not_a_path_is_named_not_a_type_error(tmp_path):
    from hairfx.colors import load_color
    from hairfx.imagefiles import read_mask, read_rgb, write_rgb
    from hairfx.lut import LUT3D, read_cube, write_cube
    from hairfx.video import VideoReader, VideoWriter, probe, recolor_video

    frame = np.zeros((4, 4, 3), np.uint8)
    for call, what in ((lambda: read_rgb(3), "image"), (lambda: read_mask(None), "mask"),
                       (lambda: write_rgb(5, frame), "output image"), (lambda: probe(3), "video"),
                       (lambda: VideoReader(3.5), "video"),
                       (lambda: VideoWriter(7, width=4, height=4, fps=30), "output video"),
                       (lambda: recolor_video(3, tmp_path / "o.mp4", color="copper"), "video"),
                       (lambda: read_cube(5), "LUT file"), (lambda: write_cube(LUT3D.identity(2), None), "output LUT file"),
                       (lambda: load_color(2.0), "colour folder")):
        with pytest.raises(InputError, match=rf"^{what} must be a path \(str or os.PathLike\), got "):
            call()
