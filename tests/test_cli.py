"""The hairfx console script: recolor, colors, bench, and its error reporting."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import hairfx
from conftest import DATA, REPO, interrupted_while_loading
from hairfx.icc import matrix_shaper_profile
from hairfx.cli import main

REF = REPO / "reference_images"
CLIP = DATA / "videos" / "terryky_gl2facemesh_sample_video.mp4"


def test_recolor_with_mask_file(tmp_path, capsys):
    out = tmp_path / "out.png"
    rc = main(["recolor", str(REF / "dark.png"), "--color", "copper", "--mask", str(REF / "dark_mask.png"),
               "-o", str(out), "--renderer", "cpu"])  # fmt: skip
    assert rc == 0 and out.is_file()
    got = cv2.imread(str(out))[:, :, ::-1]
    frame = cv2.imread(str(REF / "dark.png"))[:, :, ::-1].copy()
    mask = cv2.imread(str(REF / "dark_mask.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(got, hairfx.recolor(frame, "copper", mask=mask, renderer="cpu"))
    assert "wrote" in capsys.readouterr().out



def test_recolor_says_when_it_found_no_hair_and_wrote_the_photo_unchanged(tmp_path, capsys):
    """A photo without hair was written back unchanged with only "wrote OUT": a colour that
    seemed to do nothing. The line now says why, for the model's mask and for a --mask."""
    grey, empty = tmp_path / "grey.png", tmp_path / "empty.png"
    cv2.imwrite(str(grey), np.full((48, 64, 3), 120, np.uint8))  # the model finds no hair in it
    cv2.imwrite(str(empty), np.zeros((48, 64), np.uint8))
    out = tmp_path / "out.png"
    for extra, says in (([], "(unchanged: the hair-mask model found no hair in it)"),
                        (["--mask", str(empty)], "(unchanged: the mask found no hair in it)")):
        assert main(["recolor", str(grey), "--color", "copper", "-o", str(out), "--renderer", "cpu", *extra]) == 0
        assert capsys.readouterr().out == f"wrote {out} {says}\n"
        assert (cv2.imread(str(out)) == 120).all()
    cv2.imwrite(str(empty), np.full((48, 64), 255, np.uint8))  # all hair: recoloured, nothing more said
    assert main(["recolor", str(grey), "--color", "copper", "-o", str(out), "--renderer", "cpu", "--mask", str(empty)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"


def test_recolor_with_a_16_bit_mask_file_is_the_api_with_its_array(tmp_path):
    """The API refused the uint16 array (and the PIL image) of a 16-bit mask the CLI takes."""
    from PIL import Image

    mask8 = cv2.imread(str(REF / "dark_mask.png"), cv2.IMREAD_GRAYSCALE)
    mask16 = np.clip(mask8.astype(np.int32) * 257 - 200, 0, 65535).astype(np.uint16)  # not only 8-bit levels
    cv2.imwrite(str(tmp_path / "m16.png"), mask16)
    out = tmp_path / "out.png"
    assert main(["recolor", str(REF / "dark.png"), "--color", "copper", "--mask", str(tmp_path / "m16.png"),
                 "-o", str(out), "--renderer", "cpu"]) == 0  # fmt: skip
    got = cv2.imread(str(out))[:, :, ::-1]
    frame = cv2.imread(str(REF / "dark.png"))[:, :, ::-1].copy()
    for mask in (mask16, Image.open(tmp_path / "m16.png")):
        np.testing.assert_array_equal(got, hairfx.recolor(frame, "copper", mask=mask, renderer="cpu"))

def test_colors_lists_the_palette(capsys):
    assert main(["colors"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == hairfx.colors() and "copper" in listed
    assert main(["colors", "-v"]) == 0
    assert "#b4532a" in capsys.readouterr().out


def test_colors_lists_every_colour_past_a_broken_one(tmp_path, monkeypatch, capsys):
    (tmp_path / "aaa-broken").mkdir()
    (tmp_path / "aaa-broken" / "color.json").write_text("{not json")
    monkeypatch.setenv("HAIRFX_LUT_PATH", str(tmp_path))
    assert main(["colors", "-v"]) == 2
    out, err = capsys.readouterr()
    assert "aaa-broken" in err and "invalid JSON" in err
    assert len(out.splitlines()) == len(hairfx.colors()) - 1 and "#b4532a" in out


def test_colors_says_which_colour_overrides_another(tmp_path, monkeypatch, capsys, copperish):
    """A user colour named like a bundled one replaced it with nothing said: the listing now
    notes it (on standard error, so the names on standard output stay one a line), and the
    verbose listing on its line."""
    from hairfx.colors import save_color

    bundled = hairfx.get_color("copper").path
    save_color(copperish, tmp_path / "copper")
    monkeypatch.setenv("HAIRFX_LUT_PATH", str(tmp_path))
    assert main(["colors"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == hairfx.colors()
    assert err == f"hairfx colors: copper is {tmp_path / 'copper'}, which overrides the bundled colour ({bundled})\n"
    assert main(["colors", "-v"]) == 0
    out, err = capsys.readouterr()
    (line,) = [line for line in out.splitlines() if line.startswith("copper ")]
    assert line.endswith(f"{tmp_path / 'copper'}  overrides the bundled colour ({bundled})") and err == ""
    assert "overrides" not in out.replace(line, "")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--color", "mauvish"], "unknown colour 'mauvish'; valid colours:"),
        (["--color", "#12345"], "'#12345'"),
    ],
)
def test_recolor_errors_are_reported_not_raised(tmp_path, capsys, args, message):
    rc = main(["recolor", str(REF / "dark.png"), "--mask", str(REF / "dark_mask.png"), "-o", str(tmp_path / "o.png"), *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("hairfx recolor: error:") and message in err


def test_recolor_errors_about_the_frame_or_the_mask_name_their_files(tmp_path, capsys):
    # they said "mask is 320x320 but the frame is 300x377" and "frame is 2x2", naming no file
    out = str(tmp_path / "o.png")
    assert main(["recolor", str(REF / "dark.png"), "--mask", str(REF / "light_mask.png"), "--color", "copper",
                 "-o", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hairfx recolor: error: --mask {REF / 'light_mask.png'} for {REF / 'dark.png'}: mask is "
                          "320x320 but the frame is 300x377: their aspect ratios differ")
    cv2.imwrite(str(tmp_path / "tiny.png"), np.full((2, 3, 3), 90, np.uint8))
    assert main(["recolor", str(tmp_path / "tiny.png"), "--color", "copper", "-o", out]) == 2
    assert capsys.readouterr().err == (f"hairfx recolor: error: {tmp_path / 'tiny.png'} is 3x2, smaller than the 4 px "
                                       "per side the hair-mask model needs; give a --mask\n")
    cv2.imwrite(str(tmp_path / "m.png"), np.full((2, 3), 255, np.uint8))
    assert main(["recolor", str(tmp_path / "tiny.png"), "--color", "copper", "--mask", str(tmp_path / "m.png"),
                 "-o", out, "--renderer", "cpu"]) == 0  # with a mask, any size
    assert not (cv2.imread(out) == 90).all()
    assert not list(tmp_path.glob(".*tmp"))


def test_recolor_refuses_an_output_that_would_destroy_its_input_or_fail_after_the_work(tmp_path, capsys, monkeypatch):
    import importlib
    import shutil

    recolor_module = importlib.import_module("hairfx.recolor")

    photo = tmp_path / "photo.png"
    shutil.copy(REF / "dark.png", photo)
    before = photo.read_bytes()
    ran = []
    monkeypatch.setattr(recolor_module, "_predict_mask", lambda *a, **k: ran.append(1))
    for out, message in [(photo, "it is the input"), (tmp_path / "result", "no writer"),
                         (tmp_path, "it is a folder"),
                         (tmp_path / "result.PGM", ".PGM file holds a grey picture only")]:  # encoding failed after the work
        assert main(["recolor", str(photo), "--color", "copper", "-o", str(out)]) == 2
        assert message in capsys.readouterr().err
    assert photo.read_bytes() == before and not ran  # refused before the model ran


def test_an_output_that_goes_into_a_missing_folder_and_back_out_is_refused(tmp_path, capsys, monkeypatch):
    """`new/../photo.png` with `new` missing named no file there when it was checked, but
    once `new` was made it led back to the input (recolor), or to a photo beside it (mask):
    both were overwritten. Refused, as cp refuses it, leaving no folder made."""
    import hairfx.segmenter

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(hairfx.segmenter, "get_segmenter", lambda *a, **k: pytest.fail("the model was loaded"))
    cv2.imwrite("photo.png", _head())
    cv2.imwrite("photo.jpg", _head())
    before = Path("photo.png").read_bytes()
    for argv in (["recolor", "photo.png", "--color", "copper", "-o", "new/../photo.png"],
                 ["mask", "photo.jpg", "-o", "new/.."]):
        assert main(argv) == 2
        assert "folder new does not exist, so the '..' after it cannot be followed" in capsys.readouterr().err
    assert Path("photo.png").read_bytes() == before and not Path("new").exists()


def test_unreadable_input_and_colour_mask(tmp_path, capsys):
    assert main(["recolor", str(tmp_path / "missing.png"), "--color", "copper", "-o", str(tmp_path / "o.png")]) == 2
    assert "image not found" in capsys.readouterr().err
    assert main(["recolor", str(REF / "dark.png"), "--color", "copper", "--mask", str(REF / "dark.png"),
                 "-o", str(tmp_path / "o.png")]) == 2  # fmt: skip
    assert "expected a single-channel" in capsys.readouterr().err


def test_bench_prints_a_table(capsys):
    assert main(["bench", "--repeat", "2", "--no-baseline", "--image", str(REF / "light.png"),
                 "--mask", str(REF / "light_mask.png")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "1280x720" in out and "1920x1080" in out and " cpu " in out
    assert "GL: ?" not in out  # the driver's name, read with the renderer's context current
    gl = next(line for line in out.splitlines() if line.startswith("GL: "))
    assert gl.startswith("GL: unavailable (") or (", OpenGL " in gl and not gl.endswith("?")), gl  # and its version
    for row in (line.split() for line in out.splitlines() if line.startswith(("1280x720", "1920x1080"))):
        assert float(row[3]) <= float(row[4])  # p90 never below the median, even of two runs


def test_bench_without_opengl_says_why_and_that_it_times_the_cpu_renderer(monkeypatch):
    """Where no OpenGL context could be made, the GL line ended with the context error's
    advice, "or use renderer='cpu'": an option bench does not have, for a renderer it times anyway."""
    import moderngl

    from hairfx import bench

    def no_context(*args, **kwargs):
        raise Exception("eglInitialize failed (0x3001)")  # as moderngl says it without a driver

    monkeypatch.setattr(moderngl, "create_standalone_context", no_context)
    lines = []
    results = bench.run_bench(repeat=1, baseline=False, image=REF / "light.png", mask=REF / "light_mask.png",
                              out=lines.append)
    assert lines[1] == ("GL: unavailable (could not create an OpenGL 3.3 context (backend='egl'): eglInitialize "
                        "failed (0x3001)): timed on the cpu renderer only")
    assert all(set(row) == {"coverage", "baseline_ms", "baseline_first_ms", "cpu"} for row in results.values())


def test_bench_takes_a_smaller_mask_at_the_portraits_place_and_refuses_a_wrong_one(tmp_path, capsys):
    from hairfx.bench import load_portrait

    m = cv2.imread(str(REF / "light_mask.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "half.png"), cv2.resize(m, (m.shape[1] // 2, m.shape[0] // 2), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(tmp_path / "cut.png"), m[:, : m.shape[1] // 2])
    _, full = load_portrait(REF / "light.png", REF / "light_mask.png", (1280, 720))
    _, half = load_portrait(REF / "light.png", tmp_path / "half.png", (1280, 720))
    assert abs(float(half.mean()) - float(full.mean())) < 0.01  # the same hair, not a quarter of it
    assert main(["bench", "--repeat", "1", "--no-baseline", "--image", str(REF / "light.png"),
                 "--mask", str(tmp_path / "cut.png")]) == 2  # fmt: skip
    captured = capsys.readouterr()
    assert "aspect ratios differ" in captured.err and "1280x720" not in captured.out  # refused before the table


def test_bench_timer_percentiles():
    from hairfx import bench

    calls = iter([0.0, 0.0] + [0.005, 0.001])  # two warm-up calls, then a 5 ms and a 1 ms run
    clock = iter([0.0, 0.005, 1.0, 1.001])
    import unittest.mock as mock

    with mock.patch.object(bench.time, "perf_counter", lambda: next(clock)):
        median, p90 = bench._time(lambda: next(calls), 2)
    assert median == pytest.approx(3.0) and p90 == pytest.approx(4.6)


def test_bench_closes_its_renderers_when_the_portrait_is_missing(monkeypatch, tmp_path):
    from hairfx import bench
    from hairfx.errors import InputError
    from hairfx.render_cpu import CpuRenderer

    closed, made = [], []
    real_close, real_init = CpuRenderer.close, CpuRenderer.__init__
    monkeypatch.setattr(CpuRenderer, "close", lambda self: (closed.append(self), real_close(self)))
    monkeypatch.setattr(CpuRenderer, "__init__", lambda self, *a, **k: (made.append(self), real_init(self, *a, **k))[1])
    with pytest.raises(InputError, match="image not found"):
        bench.run_bench(repeat=2, baseline=False, image=tmp_path / "absent.png", mask=tmp_path / "absent_mask.png")
    assert made == []  # refused before any renderer was made
    real_fit = bench._fit_portrait

    def fails_at_720p(rgb, mask, size):
        if size == (1280, 720):
            raise InputError("the portrait went away")
        return real_fit(rgb, mask, size)

    monkeypatch.setattr(bench, "_fit_portrait", fails_at_720p)
    with pytest.raises(InputError, match="went away"):
        bench.run_bench(repeat=2, baseline=False, image=REF / "light.png", mask=REF / "light_mask.png")
    assert len(made) == 1 and closed == made  # made, then closed on the error
    with pytest.raises(InputError, match="repeat must be at least 1, got 0"):
        bench.run_bench(repeat=0)


def test_cli_and_package_import_neither_opencv_nor_torch():
    """`hairfx --help` stays instant: the heavy libraries load inside the commands."""
    code = "import sys, hairfx, hairfx.cli, hairfx.presets; print('cv2' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("argv, option", [
    (["video", "in.mp4", "-o", "out.mp4", "--color", "copper", "--frames", "0"], "--frames"),
    (["bench", "--repeat", "0"], "--repeat"),
])
def test_counts_are_checked_by_the_option_that_gives_them(argv, option, capsys):
    """`--frames 0` was refused as 'max_frames must be at least 1', a name the user never typed."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert f"argument {option}: expected a whole number >= 1, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, option, value", [
    (["bench-mask", "--size", "-640x480"], "size", "-640x480"),
    (["video", "in.mp4", "-o", "out.mp4", "--ombre", "copper,teal", "--fade", "-1e3"], "fade", -1e3),
])  # fmt: skip
def test_a_value_that_starts_with_a_minus_and_a_digit_is_the_options_value(argv, option, value):
    """argparse takes only -5 and -0.5 for values: `--size -640x480` or `--smoothing -1e-3`
    was refused as "expected one argument", not by the option's own check."""
    from hairfx.cli import _build_parser

    assert getattr(_build_parser().parse_args(argv), option) == value


@pytest.mark.parametrize("argv, says", [
    (["recolor", "in.png", "-o", "out.png", "-c", "copper", "--strength", "3"],
     "argument --strength: strength must be a number in [0, 1], got '3'"),
    (["recolor", "in.png", "-o", "out.png", "-c", "copper", "--strength", "-2."],  # not "expected one argument"
     "argument --strength: strength must be a number in [0, 1], got '-2.'"),
    (["video", "in.mp4", "-o", "out.mp4", "-c", "copper", "--strength", "nan"],
     "argument --strength: strength must be a number in [0, 1], got 'nan'"),
    (["video", "in.mp4", "-o", "out.mp4", "-c", "copper", "--smoothing", "-1e-3"],
     "argument --smoothing: smoothing must be a number in [0, 1), got '-1e-3'"),
    (["video", "in.mp4", "-o", "out.mp4", "-c", "copper", "--smoothing", "1"],
     "argument --smoothing: smoothing must be a number in [0, 1), got '1'"),
])  # fmt: skip
def test_strength_and_smoothing_out_of_range_are_usage_errors_naming_the_option(capsys, argv, says):
    """They were refused by the library once the command ran: "strength must be in [0, 1]",
    naming no option, without the usage line argparse gives its own errors."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: hairfx {argv[0]} ") and err.endswith(f"hairfx {argv[0]}: error: {says}\n")


def test_video_help_names_every_container_it_writes(capsys):
    from hairfx.video import CONTAINERS

    with pytest.raises(SystemExit):
        main(["video", "--help"])
    import re

    text = " ".join(capsys.readouterr().out.split())
    listed = re.search(r"output video file \(([^;]*); H\.264 with ffmpeg\)", text).group(1)
    assert set(re.findall(r"\.\w+", listed)) == set(CONTAINERS)


# ----------------------------------------------------------------------------- hairfx mask


def _head(h: int = 60, w: int = 48, shade: int = 40) -> np.ndarray:
    """A small synthetic portrait (BGR for cv2.imwrite): a dark cap over a face on a pale wall."""
    img = np.full((h, w, 3), 205, np.uint8)
    cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 2 - 5), 0, 0, 360, (shade, shade, shade), -1)
    cv2.ellipse(img, (w // 2, h // 2 + 6), (w // 4, h // 3), 0, 0, 360, (135, 160, 205), -1)
    return img


def _mask_alone(tmp_path, image) -> np.ndarray:
    """The mask `hairfx mask` writes for ``image`` given on its own."""
    out = tmp_path / "alone"
    shutil.rmtree(out, ignore_errors=True)
    assert main(["mask", str(image), "-o", str(out)]) == 0
    return cv2.imread(str(out / f"{image.stem}.png"), cv2.IMREAD_UNCHANGED)


def test_mask_takes_the_images_directly_in_a_folder_and_nothing_else(tmp_path, capsys):
    """Any-case extensions and links to images are taken; subfolders (the masks' own folder
    among them, so a rerun does not read its masks), folders named like images, hidden files
    (macOS's ._a.jpg and .DS_Store) and other files are not, and are no reason for exit 2."""
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    cv2.imwrite(str(src / "a.jpg"), _head())
    cv2.imwrite(str(src / "sub" / "c.jpg"), _head())
    (src / "B.JPG").write_bytes(cv2.imencode(".jpg", _head(shade=60))[1].tobytes())
    (src / "link.jpg").symlink_to("a.jpg")
    (src / "d.png").mkdir()
    (src / "._a.jpg").write_bytes(b"\x00\x05\x16\x07" + bytes(60))  # an AppleDouble file
    (src / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(20))
    (src / "notes.txt").write_text("not an image")
    out = src / "masks"
    for _ in range(2):
        assert main(["mask", str(src), "-o", str(out)]) == 0
        captured = capsys.readouterr()
        assert captured.err == "" and captured.out == f"wrote 3 masks to {out}\n"
        assert sorted(p.name for p in out.iterdir()) == ["B.png", "a.png", "link.png"]
    assert np.array_equal(cv2.imread(str(out / "link.png"), cv2.IMREAD_UNCHANGED), _mask_alone(tmp_path, src / "a.jpg"))


def test_counts_of_one_are_said_in_the_singular(tmp_path, capsys):
    """"wrote 1 mask(s)" and "wrote o.mp4: 1 frames"."""
    cv2.imwrite(str(tmp_path / "a.jpg"), _head())
    assert main(["mask", str(tmp_path / "a.jpg"), "-o", str(tmp_path / "masks")]) == 0
    assert capsys.readouterr().out == f"wrote 1 mask to {tmp_path / 'masks'}\n"
    exe = shutil.which("ffmpeg") or pytest.skip("ffmpeg is not installed")
    subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-frames:v", "2",
                    "-pix_fmt", "yuv420p", str(tmp_path / "in.mp4")], check=True)  # fmt: skip
    out = tmp_path / "o.mp4"
    assert main(["video", str(tmp_path / "in.mp4"), "-c", "copper", "--renderer", "cpu", "-q", "--frames", "1",
                 "-o", str(out)]) == 0  # fmt: skip
    assert capsys.readouterr().out == f"wrote {out}: 1 frame, 64x48 at 30 fps, no audio\n"


def test_mask_gives_inputs_that_share_a_name_masks_of_their_own(tmp_path, capsys):
    """a.jpg and a.png (and a.jpg in another folder) would all write a.png: each mask gets
    the image's extension in its name and a line says so; a.png must not be numbered a_1.png,
    the name of a_1.jpg's mask. An image given twice is done once."""
    src, other = tmp_path / "in", tmp_path / "other"
    src.mkdir()
    other.mkdir()
    images = {src / "a.jpg": _head(), src / "a.png": _head(40, 64, 90), src / "a_1.jpg": _head(70, 40, 20),
              other / "a.jpg": _head(50, 50, 120)}
    for path, img in images.items():
        cv2.imwrite(str(path), img)
    out = tmp_path / "masks"
    assert main(["mask", str(src), str(src / "a.jpg"), str(other), "-o", str(out)]) == 0
    named = {"a_jpg.png": src / "a.jpg", "a_png.png": src / "a.png", "a_1.png": src / "a_1.jpg",
             "a_jpg_2.png": other / "a.jpg"}
    assert sorted(p.name for p in out.iterdir()) == sorted(named)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"wrote 4 masks to {out}"
    assert sorted(lines[:-1]) == sorted(f"{named[n]}: mask {n} (another input has the same name)"
                                        for n in named if n != "a_1.png")
    for name, image in named.items():
        assert np.array_equal(cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED), _mask_alone(tmp_path, image)), name


def test_mask_skips_a_file_it_may_not_read_and_a_broken_link(tmp_path, capsys, monkeypatch):
    """No permission to read one photo (an OSError, not a decoding error) skips that photo
    like a damaged one: the masks of the others are still written, the exit status is 2."""
    from pathlib import Path

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "locked.jpg", "z.jpg"):
        cv2.imwrite(str(src / name), _head())
    (src / "broken.jpg").symlink_to("missing.jpg")
    read_bytes = Path.read_bytes

    def no_permission(self):  # chmod 000 does not stop root, who may run the tests
        if self.name == "locked.jpg":
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", no_permission)
    out = tmp_path / "out"
    assert main(["mask", str(src), "-o", str(out)]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "z.png"]
    captured = capsys.readouterr()
    assert sorted(captured.err.splitlines()) == [
        f"hairfx mask: skipped {src / 'broken.jpg'}: a link to missing.jpg, which is missing",
        f"hairfx mask: skipped {src / 'locked.jpg'}: cannot read it: Permission denied",
    ]
    assert captured.out.splitlines()[-1].startswith(f"wrote 2 masks to {out}; skipped 2: ")


@pytest.mark.parametrize("argv, argument", [
    (["recolor", "", "-c", "copper", "-o", "o.png"], "IN"),
    (["recolor", "in.png", "-c", "copper", "-o", ""], "-o/--output"),
    # `--mask "$MASK"` with the variable unset: it used to recolour by the model's mask
    (["recolor", "in.png", "-c", "copper", "-o", "o.png", "--mask", ""], "--mask"),
    (["mask", "", "-o", "masks"], "INPUT"),  # it used to mask every image of the current folder
    (["mask", "in.png", "-o", " "], "-o/--out"),
    (["video", "", "-c", "copper", "-o", "o.mp4"], "IN"),
    (["bench", "--image", "", "--mask", "m.png"], "--image"),
])
def test_an_empty_path_is_refused_by_the_argument_that_gives_it(argv, argument, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.png").write_bytes(b"kept")  # an existing output made `recolor ''` raise a traceback
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert f"argument {argument}: an empty path (is a shell variable unset?)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"] and (tmp_path / "o.png").read_bytes() == b"kept"


def test_a_pipe_named_like_an_image_is_refused_as_such(tmp_path, capsys):
    fifo = tmp_path / "frame.png"
    os.mkfifo(fifo)
    assert main(["recolor", str(fifo), "-c", "copper", "-o", str(tmp_path / "o.png")]) == 2
    assert capsys.readouterr().err == f"hairfx recolor: error: image {fifo} is a pipe, socket or device, not an image file\n"


def test_a_truncated_image_gets_one_line_not_opencvs_warning_first(tmp_path):
    ok, png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    cut = tmp_path / "cut.png"
    cut.write_bytes(png.tobytes()[:1000])
    # in a process of its own: OpenCV writes its warnings to the file descriptor, which capsys does not see
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_LOG_LEVEL"}
    cmd = [sys.executable, "-m", "hairfx", "recolor", str(cut), "-c", "copper", "-o", str(tmp_path / "o.png")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"hairfx recolor: error: {cut}: not an image OpenCV can read"]


@pytest.mark.parametrize("cmd", [["hairfx", "colors"],
                                 ["tools.lut_tool", "intensity", "reference_images/light.png",
                                  "--mask", "reference_images/light_mask.png"]])
def test_a_reader_that_stops_early_ends_the_command_quietly(cmd):
    """`hairfx colors | head -1`: the reader's end of the pipe closes before the command
    writes; it stops as a program ended by SIGPIPE would, with no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.close()  # long before the command has imported what it needs and printed
    _, err = proc.communicate(timeout=120)
    assert err.decode() == ""
    assert proc.returncode == 141


@pytest.mark.parametrize("command", ["recolor", "video"])
def test_opengl_that_cannot_start_is_one_line_naming_the_commands_option(command, tmp_path):
    """Where Mesa cannot start a driver (here one that does not exist): its "libEGL warning:
    egl: failed to create dri2 screen" lines came first, twice, and hairfx's line suggested
    the Python API's renderer='cpu', which the command does not take."""
    if command == "video":
        exe = shutil.which("ffmpeg") or pytest.skip("ffmpeg is not installed")
        src, out = tmp_path / "in.mp4", tmp_path / "o.mp4"
        subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-frames:v", "2",
                        "-pix_fmt", "yuv420p", str(src)], check=True)  # fmt: skip
        argv = ["video", src, "-q", "--frames", "1"]
    else:
        out = tmp_path / "o.png"
        argv = ["recolor", REF / "dark.png", "--mask", REF / "dark_mask.png"]
    for renderer, status in (("auto", 0), ("gl", 2)):
        r = subprocess.run([sys.executable, "-m", "hairfx", *argv, "-c", "copper", "-o", out, "--renderer", renderer],
                           capture_output=True, text=True, cwd=REPO, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(REPO), "GALLIUM_DRIVER": "no-such-driver"})
        if "OpenGL" not in r.stderr:  # another vendor's EGL ignores the variable
            pytest.skip("OpenGL starts here even without its driver")
        assert r.returncode == status and len(r.stderr.splitlines()) == 1, r.stderr
        assert "renderer='cpu'" not in r.stderr, r.stderr
        # auto has fallen back, and says so; gl fails, and says what to use instead
        assert ("fell back to the CPU renderer (ask for --renderer cpu to use it without this warning)" if status == 0
                else "use --renderer cpu") in r.stderr, r.stderr


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux's /proc to time the signal")
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="the hair model runs without ONNX Runtime")
@pytest.mark.parametrize("cmd, out, says", [
    (["hairfx", "video", str(CLIP), "-c", "copper", "--renderer", "cpu", "-q", "-o"], "o.mp4", "hairfx video"),
    (["hairfx", "recolor", str(REF / "dark.png"), "-c", "copper", "--renderer", "cpu", "-o"], "o.png",
     "hairfx recolor"),
    (["tools.lut_tool", "intensity", str(REF / "dark.png")], None, "hairfx-lut intensity"),
])  # fmt: skip
def test_ctrl_c_while_onnx_runtime_starts_is_an_interruption_not_a_missing_package(cmd, out, says, tmp_path):
    """Ctrl-C while ONNX Runtime started (for the hair model) failed its import with
    "ImportError: initialization failed", which the commands reported as a missing
    onnxruntime package: "install it", status 2."""
    if str(CLIP) in cmd and not CLIP.is_file():
        pytest.skip(f"test clip {CLIP} not found (the shared data folder sits beside the repository)")
    argv = [sys.executable, "-m", *cmd, *([str(tmp_path / out)] if out else [])]
    for after in (0.0, 0.005, 0.01):  # while its extension starts
        r = interrupted_while_loading(argv, "onnxruntime_pybind11_state", after,
                                      env={**os.environ, "PYTHONPATH": str(REPO)})
        assert (r.returncode, r.stderr) == (130, f"{says}: interrupted\n"), f"SIGINT {after} s after it loaded"
        assert list(tmp_path.iterdir()) == []


def _console_script(tmp_path: Path, name: str) -> Path:
    """The ``name`` console script as pip writes it from ``[project.scripts]`` of pyproject.toml."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, function = scripts[name].partition(":")
    script = tmp_path / name
    script.write_text(f"import sys\nfrom {module} import {function}\nif __name__ == '__main__':\n"
                      f"    sys.argv[0] = sys.argv[0].removesuffix('.exe')\n    sys.exit({function}())\n")
    return script


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux's /proc to time the signal")
@pytest.mark.parametrize("script, command", [
    ("hairfx", "recolor"), ("python -m hairfx", "recolor"), ("hairfx-lut", "intensity"),
])  # fmt: skip
def test_ctrl_c_while_a_console_script_loads_is_one_line_and_status_130(script, command, tmp_path):
    """Ctrl-C while `hairfx` or `hairfx-lut` imported hairfx (numpy and the rest, a few tenths
    of a second) printed a traceback from inside whichever module was loading."""
    if script == "hairfx-lut" and importlib.util.find_spec("hairfx.tools") is None:
        pytest.skip("hairfx.tools is there only once hairfx is installed")
    start = ["-m", "hairfx"] if script.startswith("python") else [str(_console_script(tmp_path, script))]
    # the hairfx these tests import, the checkout's or an installed one (which alone has hairfx.tools)
    env = {**os.environ, "PYTHONPATH": str(Path(hairfx.__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, *start, "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: "), done.stderr  # the script itself works
    name = script.split()[-1]
    args = [command, str(REF / "dark.png")]
    if command == "recolor":
        args += ["-c", "copper", "--renderer", "cpu", "-o", str(tmp_path / "out.png")]
    for after in (0.0, 0.02, 0.05):  # while numpy loads, then while the rest of hairfx does
        r = interrupted_while_loading([sys.executable, *start, *args], "_multiarray_umath", after, env=env)
        where = f"SIGINT {after} s after numpy loaded"
        assert r.returncode == 130 and "Traceback" not in r.stderr, f"{where}: {r.stderr}"
        # "hairfx: interrupted" while it loads, "hairfx recolor: interrupted" once the command runs
        assert r.stderr.startswith(f"{name}") and r.stderr.endswith(": interrupted\n"), f"{where}: {r.stderr}"
        assert r.stderr.count("\n") == 1, f"{where}: {r.stderr}"
        assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("orig_argv, target", [
    (["python", "-m", "hairfx", "colors"], "hairfx"),
    (["python", "-X", "importtime", "-mhairfx", "colors"], "hairfx"),
    (["python", "-Bm", "hairfx.__main__", "colors"], "hairfx.__main__"),
    (["python", "-m", "pytest", "-m", "hairfx"], "pytest"),  # a -m among the arguments
])  # fmt: skip
def test_python_m_target_is_read_from_the_original_command_line(monkeypatch, orig_argv, target):
    from hairfx import _start

    monkeypatch.setattr(sys, "orig_argv", orig_argv, raising=False)
    monkeypatch.setattr(sys, "argv", ["-m", "colors"] if orig_argv[-1] == "colors" else ["-m", "-m", "hairfx"])
    assert _start._python_m_target() == target
    monkeypatch.setattr(sys, "argv", ["/usr/bin/hairfx", "colors"])  # not while `python -m` finds its module
    assert _start._python_m_target() is None


@pytest.mark.parametrize("argv0, command", [
    ("/venv/bin/hairfx", "hairfx"), ("hairfx-lut", "hairfx-lut"), ("hairfx.exe", "hairfx"),
    ("hairfx-script.py", "hairfx"), ("/home/me/hairfx.py", None), ("/usr/bin/python3", None), ("", None),
])  # fmt: skip
def test_only_the_console_scripts_set_up_ctrl_c_as_hairfx_loads(monkeypatch, argv0, command):
    """A program that imports hairfx keeps its own Ctrl-C handling; the console scripts get
    one line and status 130 from the moment hairfx starts loading."""
    from hairfx import _start

    monkeypatch.setattr(sys, "argv", [argv0, "colors"])
    assert _start._console_script() == command


def test_a_process_a_console_script_spawns_keeps_pythons_ctrl_c(tmp_path):
    """multiprocessing's "spawn" start method (macOS's and Windows' default: PyTorch's
    DataLoader workers in `hairfx train`) hands a child its parent's sys.argv before the
    child imports the parent's script, and so hairfx: each worker took Ctrl-C for its own
    command's, printing "hairfx: interrupted" and exiting at once, one line per worker."""
    script = tmp_path / "hairfx"  # named as the console script, as a worker's parent is
    script.write_text(
        "import multiprocessing, signal, sys\n"
        "import hairfx\n\n"
        "def handler(queue):\n"
        "    queue.put(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n\n"
        "if __name__ == '__main__':\n"
        "    spawn = multiprocessing.get_context('spawn')\n"
        "    queue = spawn.Queue()\n"
        "    worker = spawn.Process(target=handler, args=(queue,))\n"
        "    worker.start()\n"
        "    print(signal.getsignal(signal.SIGINT) is signal.default_int_handler, queue.get(timeout=100))\n"
        "    worker.join()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert (r.returncode, r.stdout) == (0, "False True\n"), r.stderr  # the command's own; the worker's, Python's


def test_a_broken_pipe_that_is_not_the_reader_leaving_stays_an_error(monkeypatch, tmp_path):
    from hairfx.errors import run_command

    def command():
        raise BrokenPipeError(32, "a helper's input")

    with open(tmp_path / "out.txt", "w") as out:
        monkeypatch.setattr(sys, "stdout", out)  # standard output is a file, not a pipe
        with pytest.raises(BrokenPipeError, match="a helper's input"):
            run_command(command)


@pytest.mark.parametrize("where", ["output", "input", "colour folder"])
def test_a_name_longer_than_the_file_system_takes_is_one_error_line(tmp_path, capsys, where):
    """A file name of 90 Chinese characters is 270 bytes, over the 255 that Linux file
    systems take: the first stat() of a check raised, and the command ended in a traceback."""
    long = tmp_path / ("写真" * 45)
    args = {"output": [str(REF / "dark.png"), "--color", "copper", "-o", f"{long}.png"],
            "input": [f"{long}.png", "--color", "copper", "-o", str(tmp_path / "out.png")],
            "colour folder": [str(REF / "dark.png"), "--color", str(long / "mine"), "-o", str(tmp_path / "out.png")]}
    assert main(["recolor", *args[where], "--mask", str(REF / "dark_mask.png"), "--renderer", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hairfx recolor: error: ") and "File name too long" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
@pytest.mark.parametrize("cmd", [["hairfx", "colors"], ["hairfx", "colors", "-v"]])
def test_standard_output_that_cannot_be_written_is_one_error_line(cmd):
    """`hairfx colors > /dev/full`: every write fails with ENOSPC. It used to end in a
    traceback; it is one line and status 2, as any other error."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", *cmd], stdout=full, stderr=subprocess.PIPE, cwd=REPO, timeout=120)
    assert proc.stderr.decode() == "hairfx colors: error: cannot write standard output: No space left on device\n"
    assert proc.returncode == 2


def test_an_oserror_of_anything_but_standard_output_is_not_called_an_output_error():
    from hairfx.errors import OutputError, run_command

    def command():
        print("fine")
        raise OSError(28, "No space left on device", "/elsewhere/file")

    with pytest.raises(OSError) as caught:
        run_command(command)
    assert not isinstance(caught.value, OutputError)
    assert caught.value.filename == "/elsewhere/file"
    assert sys.stdout.__class__.__name__ != "_GuardedStdout"  # standard output given back


def test_a_command_run_in_another_thread_leaves_standard_output_alone():
    """sys.stdout is the whole process's: a run_command in a worker thread must not swap it
    (two overlapping ones would put them back out of order and leave the guard for good)."""
    import threading

    from hairfx.errors import run_command

    before, seen = sys.stdout, []
    worker = threading.Thread(target=lambda: seen.append(run_command(lambda: seen.append(sys.stdout) or 3)))
    worker.start()
    worker.join()
    assert seen == [before, 3] and sys.stdout is before


def test_an_errors_reason_is_its_message_unless_one_was_given():
    import pickle

    from hairfx.errors import MissingFileError, RendererUnavailable, UnknownColorError

    assert RendererUnavailable("no GL. Use the CPU").reason == "no GL. Use the CPU"
    assert UnknownColorError("unknown colour 'x'").reason == "unknown colour 'x'"  # not KeyError's quoted form
    missing = MissingFileError("image not found: a.png", reason="not found")
    assert (str(missing), missing.reason) == ("image not found: a.png", "not found")
    again = pickle.loads(pickle.dumps(missing))  # to another process and back
    assert (type(again), str(again), again.reason) == (MissingFileError, "image not found: a.png", "not found")


def test_stop_signals_interrupt_turns_sigterm_into_interrupted():
    import signal

    from hairfx.errors import Interrupted, stop_signals_interrupt

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as caught, stop_signals_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs as soon as kill returns
        time.sleep(1)  # not reached
    assert caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is previous


def test_a_second_ctrl_c_lets_the_clean_up_of_the_first_finish(capsys):
    """Raised inside the clean-up the first one started, a second Ctrl-C cut it short: the
    webcam example's reading thread was left running into the interpreter's exit, which
    aborted the process ("terminate called without an active exception")."""
    import signal

    from hairfx.errors import run_main

    done = []

    def run():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # not reached
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # a second one, during the clean-up
            time.sleep(0.05)
            done.append("cleaned up")

    assert run_main("tool", run) == 130
    assert done == ["cleaned up"] and capsys.readouterr().err == "tool: interrupted\n"


def test_a_third_ctrl_c_ends_a_long_clean_up_at_once(tmp_path):
    script = (
        "import os, signal, time\n"
        "from hairfx.errors import run_main\n"
        "def run():\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n"
        "    finally:\n"
        "        os.kill(os.getpid(), signal.SIGINT); time.sleep(0.05)\n"
        "        os.kill(os.getpid(), signal.SIGINT); time.sleep(30)\n"
        "        print('clean-up finished', flush=True)\n"
        "raise SystemExit(run_main('tool', run, stopped='; nothing written'))\n"
    )
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (130, "", "tool: interrupted; nothing written\n")
    assert time.monotonic() - t < 20


def test_video_refuses_a_fade_with_an_ombre_which_has_no_switch_to_fade(tmp_path, capsys):
    # the fade was ignored without a word
    argv = ["video", str(tmp_path / "in.mp4"), "-o", str(tmp_path / "o.mp4"), "--ombre", "copper,platinum", "--fade", "3"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "hairfx video: error: --fade cross-fades the switches of a --color schedule; an --ombre has none\n")
    assert not (tmp_path / "o.mp4").exists()


def test_mask_says_an_input_that_is_not_there_is_not_found(tmp_path, capsys):
    """It said "neither a file nor a folder", as of a pipe or a device."""
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    for name, says in (("nope.jpg", "image not found: "), ("gone.jpg", "which is missing")):
        assert main(["mask", str(tmp_path / name), "-o", str(tmp_path / "masks")]) == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "masks").exists()


def test_mask_names_a_skipped_file_once(tmp_path, capsys):
    wide = tmp_path / "wide.png"  # its header is read, not its pixels: refused as too large
    cv2.imwrite(str(wide), np.zeros((2, 16385, 3), np.uint8))
    assert main(["mask", str(wide), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"hairfx mask: skipped {wide}: it is 16385x2, larger than the 16384 px per side hairfx accepts\n" in err


def test_mask_says_why_a_photo_too_small_for_the_model_is_skipped(tmp_path, capsys):
    """It said "frame is 2x2, smaller than 4 px per side": a frame the user never named."""
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((2, 2, 3), np.uint8))
    assert main(["mask", str(tiny), "-o", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (f"hairfx mask: skipped {tiny}: it is 2x2, smaller than the 4 px per side "
                                       "the hair-mask model needs\n")


def test_mask_skips_a_named_pipe_in_a_folder_instead_of_waiting_on_it(tmp_path, capsys):
    """A FIFO named like a photo in the input folder: opening it would wait for a writer for
    ever. It is skipped as no regular file and the photos around it are done."""
    import threading

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "z.jpg"):
        cv2.imwrite(str(src / name), _head())
    os.mkfifo(src / "pipe.jpg")
    out, codes = tmp_path / "out", []
    worker = threading.Thread(target=lambda: codes.append(main(["mask", str(src), "-o", str(out)])), daemon=True)
    worker.start()
    worker.join(120)
    assert codes == [2], "hairfx mask did not finish: it waits on the pipe"
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "z.png"]
    assert capsys.readouterr().err == (f"hairfx mask: skipped {src / 'pipe.jpg'}: it is a pipe, socket or device, "
                                       "not an image file\n")


def test_names_that_are_not_utf8_are_read_and_written_not_crashed_on(tmp_path):
    """A name's bytes need not be UTF-8 (files from old archives); Python holds them as
    surrogates, on which OpenCV crashes the process. Images with such names, and outputs
    given such names, work, and are printed as their bytes, as ls prints them, even under a
    locale whose encoding is strict; a non-image among them is skipped like any other."""
    src = tmp_path / "in"
    src.mkdir()
    photo, notes = (src / os.fsdecode(n) for n in (b"caf\xe9.jpg", b"notes_\xe9.jpg"))
    cv2.imwrite(str(src / "z.jpg"), _head())
    shutil.copy(src / "z.jpg", photo)
    notes.write_text("not an image")
    out = tmp_path / os.fsdecode(b"r\xe9sultat.png")

    def hairfx_cli(*args):
        return subprocess.run([sys.executable, "-m", "hairfx", *args], capture_output=True, cwd=REPO, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:strict"})

    done = hairfx_cli("recolor", photo, "--color", "copper", "-o", out)
    assert done.returncode == 0 and done.stdout == b"wrote " + os.fsencode(out) + b"\n", done.stderr
    assert cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_COLOR).shape == (60, 48, 3)
    done = hairfx_cli("mask", src, "-o", tmp_path / "masks")
    assert done.returncode == 2
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == sorted([os.fsdecode(b"caf\xe9.png"), "z.png"])
    assert done.stderr == b"hairfx mask: skipped " + os.fsencode(notes) + b": not an image OpenCV can read\n"


def test_the_video_reader_opens_a_file_whose_name_is_not_utf8(tmp_path):
    from hairfx.video import VideoReader

    clip = tmp_path / os.fsdecode(b"clip_\xe9.avi")
    w = cv2.VideoWriter(str(tmp_path / "plain.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 32))
    for k in range(3):
        w.write(np.full((32, 48, 3), 60 * k, np.uint8))
    w.release()
    (tmp_path / "plain.avi").rename(clip)
    with VideoReader(clip) as reader:
        assert len([f.shape for f in reader]) == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_mask_refuses_an_output_folder_it_cannot_write_before_loading_the_model(tmp_path, capsys, monkeypatch):
    import hairfx.segmenter

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before -o was checked")

    monkeypatch.setattr(hairfx.segmenter, "get_segmenter", no_model)
    cv2.imwrite(str(tmp_path / "a.jpg"), _head())
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        for out, message in ((locked, f"-o {locked} is not writable;"),
                             (locked / "masks", f"-o {locked / 'masks'} is not writable (under {locked}, which takes")):
            assert main(["mask", str(tmp_path / "a.jpg"), "-o", str(out)]) == 2
            assert message in capsys.readouterr().err
    finally:
        locked.chmod(0o755)


def test_mask_takes_every_format_it_reads_from_a_folder_and_names_heic_photos(tmp_path, capsys):
    """A folder is searched for every extension read_rgb reads (GIF, AVIF, JPEG 2000, PNM
    were passed over without a word), and for HEIC, which it cannot decode: a folder of
    iPhone photos is told why, not reported empty."""
    from PIL import Image

    from hairfx.imagefiles import IMAGE_SUFFIXES

    src = tmp_path / "in"
    src.mkdir()
    head = Image.fromarray(np.ascontiguousarray(_head()[:, :, ::-1]))
    head.save(src / "a.gif")
    assert cv2.imwrite(str(src / "b.avif"), _head())  # Pillow writes AVIF from 11.3 on only
    head.save(src / "c.jp2")
    head.save(src / "d.ppm")
    head.save(src / "e.JFIF", format="JPEG")
    (src / "f.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    (src / "g.txt").write_text("not an image, not looked at")
    assert {".gif", ".avif", ".jp2", ".ppm", ".jfif", ".heic"} <= IMAGE_SUFFIXES
    assert main(["mask", str(src), "-o", str(tmp_path / "out")]) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png", "d.png", "e.png"]
    err = capsys.readouterr().err
    assert err == (f"hairfx mask: skipped {src / 'f.heic'}: a HEIC/HEIF photo (as iPhones save them), which hairfx "
                   "cannot decode; convert it to JPEG or PNG first (the iPhone's Camera > Formats > Most Compatible "
                   "saves JPEG)\n")


def _to_srgb(rgb: np.ndarray, icc: bytes) -> np.ndarray:
    """``rgb`` in the profile ``icc`` converted to sRGB by Pillow's LittleCMS binding."""
    import io

    from PIL import Image, ImageCms

    srgb = ImageCms.createProfile("sRGB")
    return np.asarray(ImageCms.profileToProfile(Image.fromarray(rgb), io.BytesIO(icc), srgb,
                                                renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC))


def test_recolor_recolours_a_display_p3_photo_as_its_srgb_twin_and_keeps_profile_and_exif(tmp_path, capsys):
    """The same picture as sRGB and as Display P3 (other numbers, the same colours on a
    colour-managed screen) must come out the same colours: the LUTs were made on sRGB. The
    P3 output keeps the input's profile and EXIF, and every pixel outside the hair is the
    input's own. Applying the LUT to the P3 numbers as held, as hairfx did before, misses."""
    import io

    from PIL import Image, ImageCms

    p3 = matrix_shaper_profile("Display P3")
    srgb_rgb = cv2.imread(str(REF / "dark.png"))[:, :, ::-1].copy()
    mask = cv2.imread(str(REF / "dark_mask.png"), cv2.IMREAD_GRAYSCALE)
    p3_rgb = np.asarray(ImageCms.profileToProfile(Image.fromarray(srgb_rgb), ImageCms.createProfile("sRGB"),
                                                  io.BytesIO(p3), renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC))
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0132] = "2026:01:01 10:00:00"
    Image.fromarray(p3_rgb).save(tmp_path / "p3.png", icc_profile=p3, exif=exif.tobytes())
    common = ["--color", "copper", "--mask", str(REF / "dark_mask.png"), "--renderer", "cpu"]
    assert main(["recolor", str(REF / "dark.png"), *common, "-o", str(tmp_path / "srgb_out.png")]) == 0
    assert main(["recolor", str(tmp_path / "p3.png"), *common, "-o", str(tmp_path / "p3_out.png")]) == 0
    assert main(["recolor", str(tmp_path / "p3.png"), *common, "--no-exif", "-o", str(tmp_path / "bare.png")]) == 0

    with Image.open(tmp_path / "p3_out.png") as im:
        assert im.info["icc_profile"] == p3
        assert im.getexif()[0x010F] == "Canon" and im.getexif()[0x0132] == "2026:01:01 10:00:00"
        out = np.asarray(im.convert("RGB"))
    with Image.open(tmp_path / "bare.png") as im:
        assert im.info["icc_profile"] == p3 and not im.getexif()
    hair = mask > 0
    np.testing.assert_array_equal(out[~hair], p3_rgb[~hair])  # wide-gamut colours and all
    srgb_out = cv2.imread(str(tmp_path / "srgb_out.png"))[:, :, ::-1].astype(int)
    seen = _to_srgb(out, p3).astype(int)  # what a colour-managed screen shows
    err = np.abs(seen - srgb_out)[hair].mean()
    assert err < 1.0, err  # 0.3 levels here: rounding in the conversions
    # a format that holds no profile is shown as sRGB: the sRGB picture is written, EXIF dropped with a word
    capsys.readouterr()
    assert main(["recolor", str(tmp_path / "p3.png"), *common, "-o", str(tmp_path / "p3_out.bmp")]) == 0
    assert ".bmp output keeps no EXIF; the input's is dropped; write .jpg, .png, .webp or .tif" in capsys.readouterr().err
    bmp = cv2.imread(str(tmp_path / "p3_out.bmp"))[:, :, ::-1].astype(int)
    assert np.abs(bmp - srgb_out).mean() < 1.0
    as_held = hairfx.recolor(p3_rgb, "copper", mask=mask / 255.0, renderer="cpu")
    assert np.abs(_to_srgb(as_held, p3).astype(int) - srgb_out)[hair].mean() > 5  # 10.6 levels here


def test_recolor_leaves_out_the_preview_of_the_photo_a_maker_note_holds(tmp_path):
    """A Nikon photo's maker note holds a JPEG preview of the photo: copied with the EXIF,
    the photo before the change would travel inside the recoloured file."""
    import io

    from PIL import Image

    from conftest import camera_exif, nikon_maker_note

    photo = _head()[:, :, ::-1]
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG")
    preview = buf.getvalue()
    Image.fromarray(photo).save(tmp_path / "DSC_0001.jpg", exif=b"Exif\0\0" + camera_exif(maker_note=nikon_maker_note(preview)))
    assert preview in (tmp_path / "DSC_0001.jpg").read_bytes()
    cv2.imwrite(str(tmp_path / "hair.png"), np.full(photo.shape[:2], 255, np.uint8))
    for name in ("out.jpg", "out.png"):
        assert main(["recolor", str(tmp_path / "DSC_0001.jpg"), "--color", "copper", "--mask", str(tmp_path / "hair.png"),
                     "-o", str(tmp_path / name), "--renderer", "cpu"]) == 0
        data = (tmp_path / name).read_bytes()
        assert preview not in data and data.count(b"\xff\xd8\xff") == (name == "out.jpg")  # its own picture alone
        with Image.open(tmp_path / name) as im:
            exif = im.getexif()
            assert 0x927C not in exif.get_ifd(0x8769) and exif.get_ifd(0xA005)[0x0001] == "R03"  # the rest kept


@pytest.mark.parametrize("layout", ["TIFF", "BigTIFF", "big-endian BigTIFF"])
@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.webp", "out.tif"])
def test_recolor_keeps_a_tiffs_exif_as_it_keeps_a_jpegs(tmp_path, name, layout, recwarn):
    """A TIFF's EXIF (camera, date, GPS position, resolution), its colour profile and its
    orientation are kept as a JPEG's are, in each format that holds them: the picture comes
    out upright, its orientation tag 1, its resolution 300 dpi, every pixel outside the
    hair the photo's own (the P3 numbers as read, not their sRGB conversion). A BigTIFF's
    too, in either byte order (Pillow opens no big-endian one: the profile was lost with
    the rest, and the P3 numbers taken as sRGB)."""
    from PIL import ExifTags, Image, ImageOps

    from conftest import as_bigtiff, tiff_photo

    p3 = matrix_shaper_profile("Display P3")
    stored = np.random.default_rng(1).integers(0, 256, (48, 60, 3), dtype=np.uint8)  # as the camera held it
    exif = Image.Exif()
    exif.endian = ">" if layout == "big-endian BigTIFF" else "<"
    exif[0x010F], exif[0x0132], exif[0x0112] = "Canon", "2026:01:01 10:00:00", 6  # shown turned 90 degrees clockwise
    exif[0x011A], exif[0x011B], exif[0x0128] = 300.0, 300.0, 2  # inches
    exif.get_ifd(ExifTags.IFD.Exif)[0x9003] = "2026:01:01 09:59:58"
    exif.get_ifd(ExifTags.IFD.GPSInfo).update({1: "N", 2: (48.0, 51.0, 29.6)})
    photo = tiff_photo(stored, exif.tobytes()[6:], icc_profile=p3)
    (tmp_path / "IMG_1.tif").write_bytes(photo if layout == "TIFF" else as_bigtiff(photo))
    shown = Image.fromarray(stored)
    shown.getexif()[0x0112] = 6
    upright = np.asarray(ImageOps.exif_transpose(shown))  # Pillow's turn, the oracle
    hair = np.zeros(upright.shape[:2], np.uint8)
    hair[:20] = 255
    cv2.imwrite(str(tmp_path / "hair.png"), hair)
    assert main(["recolor", str(tmp_path / "IMG_1.tif"), "--color", "copper", "--mask", str(tmp_path / "hair.png"),
                 "-o", str(tmp_path / name), "--renderer", "cpu"]) == 0
    assert not [str(w.message) for w in recwarn]  # no "keeps no", nor Pillow misreading a BigTIFF
    with Image.open(tmp_path / name) as im:
        got = im.getexif()
        assert (got[0x010F], got[0x0132], got[0x0112]) == ("Canon", "2026:01:01 10:00:00", 1)
        assert got.get_ifd(ExifTags.IFD.Exif)[0x9003] == "2026:01:01 09:59:58"
        assert got.get_ifd(ExifTags.IFD.GPSInfo) == {1: "N", 2: (48.0, 51.0, 29.6)}
        assert im.info["icc_profile"] == p3 and im.size == (48, 60)
        if name == "out.jpg":
            assert im.info["dpi"] == (300, 300)  # Pillow reads a JPEG's from its EXIF
            return
        assert (got[0x011A], got[0x011B], got[0x0128]) == (300.0, 300.0, 2)
        out = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(out[20:], upright[20:])
    assert np.abs(out[:20].astype(int) - upright[:20]).mean() > 5  # the hair, recoloured


def _jpeg_with_segments(rgb: np.ndarray, *bodies: tuple[int, bytes]) -> bytes:
    """A JPEG of ``rgb`` (by OpenCV) with APPn segments ``(n, data)`` put after its SOI."""
    import struct

    data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes()
    return data[:2] + b"".join(bytes([0xFF, 0xE0 + n]) + struct.pack(">H", 2 + len(body)) + body
                               for n, body in bodies) + data[2:]


#: A preview of the photo as Lightroom writes it into XMP: base64 JPEG ("/9j/" is FF D8 FF).
_PREVIEW = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwc"


def _sideways_photo_xmp(width: int, height: int) -> bytes:
    """The XMP of a photo stored sideways, as Lightroom writes it: its rating, keywords and
    title, its orientation and size (as stored), and a preview of the photo."""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
   xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/"
   xmlns:xmpGImg="http://ns.adobe.com/xap/1.0/g/img/"
   xmp:Rating="4" tiff:Orientation="6" exif:PixelXDimension="{width}" exif:PixelYDimension="{height}">
  <dc:subject><rdf:Bag><rdf:li>portrait</rdf:li><rdf:li>copper</rdf:li></rdf:Bag></dc:subject>
  <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Anna, before</rdf:li></rdf:Alt></dc:title>
  <xmp:Thumbnails><rdf:Alt><rdf:li rdf:parseType="Resource"><xmpGImg:format>JPEG</xmpGImg:format>
   <xmpGImg:image>{_PREVIEW}</xmpGImg:image></rdf:li></rdf:Alt></xmp:Thumbnails>
 </rdf:Description>
</rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>""".encode()


@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.webp", "out.tif"])
def test_recolor_keeps_a_photos_xmp_upright_and_without_its_preview(tmp_path, name, capsys):
    """A photo stored sideways (EXIF and XMP orientation 6) with a rating, keywords, a title
    and a preview in its XMP: the output's packet, where Pillow finds it in each format and
    read by ElementTree, keeps them but says upright and the output's size, and the file
    holds no preview of the photo before the change. ``--no-exif`` leaves the XMP out too."""
    import xml.etree.ElementTree as ET

    from PIL import Image

    stored = _head(48, 60)[:, :, ::-1]  # 60 wide, 48 high, shown turned 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "IMG_2.jpg"
    photo.write_bytes(_jpeg_with_segments(stored, (1, exif.tobytes()),
                                          (1, b"http://ns.adobe.com/xap/1.0/\0" + _sideways_photo_xmp(60, 48))))
    cv2.imwrite(str(tmp_path / "hair.png"), np.full((60, 48), 255, np.uint8))
    common = ["--color", "copper", "--mask", str(tmp_path / "hair.png"), "--renderer", "cpu"]
    assert main(["recolor", str(photo), *common, "-o", str(tmp_path / name)]) == 0
    assert "hairfx:" not in capsys.readouterr().err  # no warning
    assert _PREVIEW[:20].encode() not in (tmp_path / name).read_bytes()
    with Image.open(tmp_path / name) as im:
        assert im.size == (48, 60) and im.getexif()[0x0112] == 1
        root = ET.fromstring(im.info["xmp"])
    rdf, xmp, tiff, exif_ns = ("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}", "{http://ns.adobe.com/xap/1.0/}",
                               "{http://ns.adobe.com/tiff/1.0/}", "{http://ns.adobe.com/exif/1.0/}")
    (description,) = root.iter(f"{rdf}Description")
    assert description.attrib[f"{xmp}Rating"] == "4" and description.attrib[f"{tiff}Orientation"] == "1"
    assert (description.attrib[f"{exif_ns}PixelXDimension"], description.attrib[f"{exif_ns}PixelYDimension"]) == (
        "48", "60")
    assert [li.text for li in root.iter(f"{rdf}li")] == ["portrait", "copper", "Anna, before"]
    assert description.find(f"{xmp}Thumbnails") is None
    assert main(["recolor", str(photo), *common, "--no-exif", "-o", str(tmp_path / f"bare-{name}")]) == 0
    with Image.open(tmp_path / f"bare-{name}") as im:
        assert "xmp" not in im.info and not im.getexif().get(0x0112)


@pytest.mark.parametrize("name", ["out.tif", "out.jpg"])
def test_recolor_turns_a_tiff_by_its_xmp_orientation_and_says_upright(tmp_path, name, capsys):
    """A TIFF stored sideways whose XMP says so (tiff:Orientation 6) and whose EXIF states
    no orientation comes out upright, as a JPEG would: its XMP says 1, its EXIF states
    none still, and Pillow, which turns a TIFF by its XMP's where later releases do, finds
    it upright; every pixel outside the hair is the photo's own."""
    import xml.etree.ElementTree as ET

    from PIL import Image

    from conftest import tiff_photo

    stored = _head(48, 60)[:, :, ::-1]  # 60 wide, 48 high, shown turned 90 degrees clockwise
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    (tmp_path / "IMG_5.tif").write_bytes(tiff_photo(stored, exif.tobytes()[6:], xmp=_sideways_photo_xmp(60, 48)))
    upright = np.rot90(stored, -1)
    hair = np.zeros((60, 48), np.uint8)
    hair[:20] = 255
    cv2.imwrite(str(tmp_path / "hair.png"), hair)
    assert main(["recolor", str(tmp_path / "IMG_5.tif"), "--color", "copper", "--mask", str(tmp_path / "hair.png"),
                 "--renderer", "cpu", "-o", str(tmp_path / name)]) == 0
    assert "hairfx:" not in capsys.readouterr().err
    with Image.open(tmp_path / name) as im:
        assert im.size == (48, 60) and im.getexif().get(0x0112, 1) == 1 and im.getexif()[0x010F] == "Canon"
        (description,) = ET.fromstring(im.info["xmp"]).iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")
        assert description.attrib["{http://ns.adobe.com/tiff/1.0/}Orientation"] == "1"
        out = np.asarray(im.convert("RGB"))
    if name == "out.tif":
        np.testing.assert_array_equal(out[20:], upright[20:])
    else:
        assert np.abs(out[20:].astype(int) - upright[20:]).mean() < 3  # JPEG's loss


def test_recolor_writes_a_photo_whose_xmp_is_damaged_without_it_and_says_so_once(tmp_path, capsys):
    """A damaged XMP packet is no reason to fail: the output is written without it, and
    with the rest of the metadata, with one warning naming the photo and what is wrong."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "Canon"
    # upright (Pillow after 11.1 takes a JPEG's orientation from its XMP where its EXIF has none)
    damaged = _sideways_photo_xmp(48, 60).replace(b'tiff:Orientation="6"', b"").replace(b"</dc:title>", b"</dc:titel>")
    photo = tmp_path / "IMG_3.jpg"
    photo.write_bytes(_jpeg_with_segments(_head()[:, :, ::-1], (1, exif.tobytes()),
                                          (1, b"http://ns.adobe.com/xap/1.0/\0" + damaged)))
    cv2.imwrite(str(tmp_path / "hair.png"), np.full((60, 48), 255, np.uint8))
    assert main(["recolor", str(photo), "--color", "copper", "--mask", str(tmp_path / "hair.png"), "--renderer", "cpu",
                 "-o", str(tmp_path / "out.jpg")]) == 0
    err = capsys.readouterr().err
    assert err.count("hairfx") == 1 and f"{photo}: its XMP metadata cannot be read (mismatched tag: line 8" in err
    with Image.open(tmp_path / "out.jpg") as im:
        assert "xmp" not in im.info and im.getexif()[0x010F] == "Canon"  # the rest kept


def test_recolor_keeps_a_jpegs_iptc_but_not_the_thumbnail_photoshop_keeps_beside_it(tmp_path, capsys):
    """A photo from Photoshop: caption, keywords and copyright in its IPTC record, a JPEG
    thumbnail of the photo among the same image resources. A JPEG output keeps the record
    (read back by Pillow's IPTC reader) and not the thumbnail; a PNG output says it keeps
    no IPTC; ``--no-exif`` leaves it out."""
    from PIL import Image, IptcImagePlugin

    from conftest import iptc_record, photoshop_resource

    photo = _head()[:, :, ::-1]
    thumbnail = cv2.imencode(".jpg", cv2.resize(_head(), (24, 30)), [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes()
    resources = (photoshop_resource(0x0404, iptc_record(caption="Anna", keywords="portrait", copyright="(c) Studio"))
                 + photoshop_resource(0x040C, bytes(28) + thumbnail))
    (tmp_path / "IMG_4.jpg").write_bytes(_jpeg_with_segments(photo, (13, b"Photoshop 3.0\0" + resources)))
    cv2.imwrite(str(tmp_path / "hair.png"), np.full((60, 48), 255, np.uint8))
    common = ["--color", "copper", "--mask", str(tmp_path / "hair.png"), "--renderer", "cpu"]
    assert main(["recolor", str(tmp_path / "IMG_4.jpg"), *common, "-o", str(tmp_path / "out.jpg")]) == 0
    assert "hairfx:" not in capsys.readouterr().err
    assert thumbnail[-200:] not in (tmp_path / "out.jpg").read_bytes()  # its coded picture: no byte of it
    with Image.open(tmp_path / "out.jpg") as im:
        assert set(im.info["photoshop"]) == {0x0404}
        iptc = IptcImagePlugin.getiptcinfo(im)
    assert (iptc[2, 120], iptc[2, 25], iptc[2, 116]) == (b"Anna", b"portrait", b"(c) Studio")
    assert main(["recolor", str(tmp_path / "IMG_4.jpg"), *common, "-o", str(tmp_path / "out.png")]) == 0
    assert ".png output keeps no IPTC; the input's is dropped; write .jpg to keep it" in capsys.readouterr().err
    assert main(["recolor", str(tmp_path / "IMG_4.jpg"), *common, "--no-exif", "-o", str(tmp_path / "bare.jpg")]) == 0
    assert b"Photoshop 3.0" not in (tmp_path / "bare.jpg").read_bytes()


def test_recolor_takes_a_camera_adobe_rgb_photo_without_a_profile_as_adobe_rgb(tmp_path):
    """A camera set to Adobe RGB embeds no profile; its EXIF says Adobe RGB (ColorSpace
    "Uncalibrated", DCF index "R03"). Recoloured as the numbers stand, the hair misses the
    colour it gets on the sRGB twin; read as Adobe RGB, it lands on it. The output carries
    an Adobe RGB profile, so that readers that do not read the EXIF's word show it right.
    The twin and the check are colour-science's conversions, not the profile hairfx makes."""
    from PIL import Image

    from conftest import camera_exif
    from hairfx._colour import colour_science

    colour = colour_science()

    def convert(rgb, source, target):  # clipped in linear light, where sRGB cannot hold an Adobe RGB colour
        source, target = colour.RGB_COLOURSPACES[source], colour.RGB_COLOURSPACES[target]
        linear = np.clip(colour.RGB_to_RGB(source.cctf_decoding(rgb / 255.0), source, target), 0.0, 1.0)
        return np.round(target.cctf_encoding(linear) * 255.0).astype(np.uint8)

    srgb_rgb = cv2.imread(str(REF / "dark.png"))[:, :, ::-1].copy()
    mask = cv2.imread(str(REF / "dark_mask.png"), cv2.IMREAD_GRAYSCALE)
    adobe_rgb = convert(srgb_rgb, "sRGB", "Adobe RGB (1998)")
    Image.fromarray(adobe_rgb).save(tmp_path / "_MG_0001.png", exif=b"Exif\0\0" + camera_exif())
    common = ["--color", "copper", "--mask", str(REF / "dark_mask.png"), "--renderer", "cpu"]
    assert main(["recolor", str(REF / "dark.png"), *common, "-o", str(tmp_path / "srgb_out.png")]) == 0
    assert main(["recolor", str(tmp_path / "_MG_0001.png"), *common, "-o", str(tmp_path / "out.png")]) == 0
    with Image.open(tmp_path / "out.png") as im:
        assert im.info["icc_profile"] == matrix_shaper_profile("Adobe RGB (1998)")
        assert im.getexif().get_ifd(0xA005)[0x0001] == "R03"  # the camera's EXIF, kept
        out = np.asarray(im.convert("RGB"))
    hair = mask > 0
    np.testing.assert_array_equal(out[~hair], adobe_rgb[~hair])
    srgb_out = cv2.imread(str(tmp_path / "srgb_out.png"))[:, :, ::-1].astype(int)
    err = np.abs(convert(out, "Adobe RGB (1998)", "sRGB").astype(int) - srgb_out)[hair].mean()
    assert err < 1.0, err  # 0.36 levels here
    as_held = hairfx.recolor(adobe_rgb, "copper", mask=mask / 255.0, renderer="cpu")
    missed = np.abs(convert(as_held, "Adobe RGB (1998)", "sRGB").astype(int) - srgb_out)[hair].mean()
    assert missed > 5, missed  # 11.7 levels here, against 0.36


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_recolor_and_mask_read_a_photos_header_once(tmp_path, suffix):
    """Pillow reads a photo's header once: the size checked before the pixels are read, the
    orientation, the colour profile and the EXIF (a TIFF's too) all come from it. The file
    is opened for that and once more for its bytes; `hairfx mask` first opens each file it
    lists once more, to tell the masks of an earlier run from photos."""
    from PIL import Image

    from conftest import camera_exif, files_opened, tiff_photo

    photo = tmp_path / f"IMG_1{suffix}"
    if suffix == ".tif":
        photo.write_bytes(tiff_photo(_head()[:, :, ::-1], camera_exif(), icc_profile=matrix_shaper_profile("Display P3")))
    else:
        Image.fromarray(_head()[:, :, ::-1]).save(photo, icc_profile=matrix_shaper_profile("Display P3"),
                                                  exif=b"Exif\0\0" + camera_exif())
    cv2.imwrite(str(tmp_path / "m.png"), np.zeros((60, 48), np.uint8))
    with files_opened() as opened:
        assert main(["recolor", str(photo), "--color", "copper", "--mask", str(tmp_path / "m.png"),
                     "-o", str(tmp_path / "out.jpg"), "--renderer", "cpu"]) == 0
    assert opened.count(str(photo)) == 2
    with files_opened() as opened:
        assert main(["mask", str(photo), "-o", str(tmp_path / "masks")]) == 0
    assert opened.count(str(photo)) == 3


@pytest.mark.parametrize("no_audio", [False, True], ids=["sound", "no-audio"])
def test_video_without_ffmpeg_says_once_what_it_writes(tmp_path, monkeypatch, capsys, no_audio):
    """Without ffmpeg, OpenCV's writer makes MPEG-4 part 2 video, which browsers and some
    players do not play: only the sound's loss was said, so with --no-audio nothing told
    that the video was not H.264."""
    exe = shutil.which("ffmpeg") or pytest.skip("ffmpeg is not installed")
    src = tmp_path / "in.mp4"
    subprocess.run([exe, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30", "-f", "lavfi", "-i",
                    "sine=duration=0.2", "-frames:v", "2", "-pix_fmt", "yuv420p", str(src)], check=True)  # fmt: skip
    bare = tmp_path / "bin"  # a PATH without ffmpeg or ffprobe
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    out = tmp_path / "o.mp4"
    args = ["video", str(src), "-c", "copper", "--renderer", "cpu", "-q", "-o", str(out)]
    assert main(args + (["--no-audio"] if no_audio else [])) == 0
    said = capsys.readouterr().err.splitlines()
    assert len(said) == 1 and said[0].startswith("hairfx: ffmpeg not found: writing MPEG-4 part 2 video"), said
    assert ("sound" in said[0]) == (not no_audio)
    assert out.is_file()
