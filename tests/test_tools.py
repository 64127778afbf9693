"""Tests of the LUT authoring tool (tools/, installed as hairfx.tools)."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from hairfx.errors import InputError, LutFormatError
from hairfx.lut import LUT3D, read_cube, sample_trilinear, sample_tetrahedral, write_cube
from tools import lut_tool
from tools.fit import fit_lut
from tools.hald import identity_hald, read_hald, table_from_hald, write_hald
from tools.recipe import bake_recipe, load_recipe

# Tolerances, in one place.
HALD16_TOL = 1.0 / 65535 + 1e-6  # 16-bit quantisation of the identity
FFMPEG_TOL = 1.0  # 8-bit levels: ffmpeg's integer haldclut vs our float sampling, rounded
FIT_TOL = 0.02  # fitted vs known LUT, on the grid points the samples cover

REPO = Path(__file__).resolve().parents[1]

RECIPE = """\
name = "{name}"
display_name = "Test"
swatch = "#b4532a"
size = 9

[light]
intensity = 0.55
[[light.effects]]
effect = "colorize"
target = "#b4532a"
contrast = 1.2
[[light.effects]]
effect = "hue_shift"
degrees = 5

[dark]
intensity = 0.17
[[dark.effects]]
effect = "colorize"
target = "#b4532a"
lightness = 0.9
[[dark.effects]]
effect = "{dark_effect}"
{dark_param}
"""


def write_recipe(folder: Path, name="test", dark_effect="saturation", dark_param="factor = 1.1") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "recipe.toml"
    path.write_text(RECIPE.format(name=name, dark_effect=dark_effect, dark_param=dark_param), encoding="utf-8")
    return path


def known_transform(rgb: np.ndarray) -> np.ndarray:
    """A smooth colour edit with cross-channel terms (golden LUT for the fit and Hald tests)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.clip(np.stack([r**0.8 * 0.9 + 0.1 * g, 0.15 + 0.7 * g * (0.6 + 0.4 * b), 0.8 * b + 0.1], -1), 0, 1)


# --- Hald -----------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [8, 16])
def test_hald_export_import_is_identity(tmp_path, depth):
    path = tmp_path / "identity.png"
    assert lut_tool.main(["hald-export", "--level", "4", "--depth", str(depth), "-o", str(path)]) == 0
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img.shape == (64, 64, 3)
    lut = read_hald(path)
    assert lut.size == 16
    tol = HALD16_TOL if depth == 16 else 0.5 / 255 + 1e-6
    np.testing.assert_allclose(lut.table, LUT3D.identity(16).table, atol=tol)


def test_hald_export_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    # it said "error: [Errno 28] No space left on device", naming no file, where every other
    # command names the file it could not write
    import contextlib

    from hairfx import _files

    real = _files.replacing

    class Full(type(tmp_path)):
        def write_bytes(self, data):
            super().write_bytes(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

    @contextlib.contextmanager
    def full_disk(path):
        with real(path) as tmp:
            yield Full(tmp)

    monkeypatch.setattr(_files, "replacing", full_disk)
    out = tmp_path / "new folder" / "identity.png"
    assert lut_tool.main(["hald-export", "--level", "2", "-o", str(out)]) == 2
    assert capsys.readouterr().err == f"hairfx-lut hald-export: error: could not write {out}: No space left on device\n"
    assert list(tmp_path.iterdir()) == []  # neither a half-written Hald nor the folder made for it


def test_hald_import_cli_writes_cube(tmp_path):
    hald = tmp_path / "id.png"
    write_hald(hald, identity_hald(3), depth=16)
    out = tmp_path / "out.cube"
    assert lut_tool.main(["hald-import", str(hald), "-o", str(out)]) == 0
    np.testing.assert_allclose(read_cube(out).table, LUT3D.identity(9).table, atol=HALD16_TOL + 1e-6)


def test_hald_import_refuses_a_photo_saved_in_place_of_the_graded_hald(tmp_path, capsys):
    import cv2

    graded = tmp_path / "graded.png"
    write_hald(graded, known_transform(identity_hald(8)), depth=16)  # a real grade: imported
    assert lut_tool.main(["hald-import", str(graded), "-o", str(tmp_path / "grade.cube")]) == 0
    photo = cv2.resize(cv2.imread(str(REPO / "reference_images" / "dark.png")), (512, 512))
    cv2.imwrite(str(tmp_path / "photo.png"), photo)  # the graded reference photo, saved by mistake
    assert lut_tool.main(["hald-import", str(tmp_path / "photo.png"), "-o", str(tmp_path / "p.cube")]) == 2
    assert "does not look like an edited Hald image" in capsys.readouterr().err
    assert not (tmp_path / "p.cube").exists()
    assert lut_tool.main(["hald-import", str(tmp_path / "photo.png"), "-o", str(tmp_path / "p.cube"), "--force"]) == 0


def test_hald_import_takes_a_grade_that_sets_channels_to_one_value(tmp_path):
    # ffmpeg's colorchannelmixer=rr=1:gg=0:bb=0 on the identity: green and blue are 0
    # everywhere, neither rising nor falling, and counted against the image (33%)
    red_only = identity_hald(4) * np.array([1.0, 0.0, 0.0])
    write_hald(tmp_path / "redonly.png", red_only, depth=16)
    assert lut_tool.main(["hald-import", str(tmp_path / "redonly.png"), "-o", str(tmp_path / "r.cube")]) == 0
    np.testing.assert_allclose(read_cube(tmp_path / "r.cube").table[..., 1:], 0.0)
    write_hald(tmp_path / "flat.png", np.full_like(red_only, 0.5), depth=16)  # a grade to one colour
    assert lut_tool.main(["hald-import", str(tmp_path / "flat.png"), "-o", str(tmp_path / "f.cube")]) == 0


def _turn_hue(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """``rgb`` (float, ``(..., 3)``) with its hue turned, as an editor's Hue/Saturation does."""
    import cv2

    hsv = cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + degrees) % 360
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).reshape(rgb.shape)


@pytest.mark.parametrize("turn", [120, 240])
def test_hald_import_takes_a_hue_turn_and_a_channel_swap(tmp_path, turn):
    """Red follows blue after a 120 degree hue turn: such grades were refused as photos."""
    ident = identity_hald(8).astype(np.float32)
    grid = LUT3D.identity(64).table
    for name, graded, expect in ((f"hue{turn}", _turn_hue(ident, turn), _turn_hue(grid, turn)),
                                 ("swap", ident[..., ::-1], grid[..., ::-1])):
        write_hald(tmp_path / f"{name}.png", graded, depth=16)
        out = tmp_path / f"{name}.cube"
        assert lut_tool.main(["hald-import", str(tmp_path / f"{name}.png"), "-o", str(out)]) == 0
        np.testing.assert_allclose(read_cube(out).table, expect, atol=2e-3)  # the grade itself, blue for red


def test_hald_import_refuses_an_8x8_tile_lookup_image(tmp_path, capsys):
    """The 512x512 lookup of GPUImage and mobile apps is a level-8 Hald's size, and every
    channel rises along some axis when it is read as one: it imported as a LUT hundreds of
    levels wrong. Graded the same way as a Hald, the Hald imports and the lookup does not."""
    grid = LUT3D.identity(64).table  # [r, g, b]
    tiles = grid.transpose(2, 1, 0, 3).reshape(8, 8, 64, 64, 3)  # [b // 8, b % 8, g, r]
    lookup = tiles.transpose(0, 2, 1, 3, 4).reshape(512, 512, 3)  # y = (b // 8) * 64 + g, x = (b % 8) * 64 + r
    assert np.array_equal(lookup[64 + 5, 3 * 64 + 7], grid[7, 5, 11])  # b = 11: tile row 1, column 3
    for name, image in (("hald", identity_hald(8)), ("lookup", lookup)):
        write_hald(tmp_path / f"{name}.png", known_transform(image.astype(np.float32)), depth=16)
    assert lut_tool.main(["hald-import", str(tmp_path / "hald.png"), "-o", str(tmp_path / "h.cube")]) == 0
    assert lut_tool.main(["hald-import", str(tmp_path / "lookup.png"), "-o", str(tmp_path / "l.cube")]) == 2
    assert "8x8-tile lookup image" in capsys.readouterr().err and not (tmp_path / "l.cube").exists()


def test_hald_import_onto_a_folder_is_an_error_and_leaves_nothing(tmp_path, capsys):
    hald = tmp_path / "id.png"
    write_hald(hald, identity_hald(2), depth=8)
    (tmp_path / "lib").mkdir()
    assert lut_tool.main(["hald-import", str(hald), "-o", str(tmp_path / "lib")]) == 2
    assert "lib: it is a folder; give a file name ending in .cube" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["id.png", "lib"]  # no lib.tmp left behind
    for decimals in ("-1", "0"):
        with pytest.raises(SystemExit) as exc:
            lut_tool.main(["hald-import", str(hald), "-o", str(tmp_path / "x.cube"), "--decimals", decimals])
        assert exc.value.code == 2 and f"--decimals: must be in 3..12, got {decimals}" in capsys.readouterr().err
    assert not (tmp_path / "x.cube").exists()


def test_fit_hald_import_and_preview_never_write_over_what_they_read(tmp_path, capsys):
    # an -o that repeats an input name (a typo, a finished command recalled and half edited)
    # replaced the artist's edited photo, graded Hald or mask, with exit status 0
    before, after = synthetic_pair(16)
    photos = {"before.png": before[:, :, ::-1], "after.png": after[:, :, ::-1], "mask.png": np.full((16, 16), 255, np.uint8)}
    for name, img in photos.items():
        cv2.imwrite(str(tmp_path / name), img)
    write_hald(tmp_path / "graded.png", known_transform(identity_hald(2)), depth=16)
    shutil.copy(tmp_path / "before.png", tmp_path / "before_link.cube")  # a .cube name, but the photo's bytes...
    (tmp_path / "same.cube").hardlink_to(tmp_path / "before.png")  # ...and the photo itself under a .cube name
    fit = ["fit", "--before", str(tmp_path / "before.png"), "--after", str(tmp_path / "after.png"),
           "--mask", str(tmp_path / "mask.png"), "--size", "5", "--grid", "5", "-o"]
    held = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for argv, message in [
        (fit + [str(tmp_path / "after.png")], "a LUT is written as a .cube file; give a file name ending in .cube"),
        (fit + [str(tmp_path / "mask.PNG")], "a LUT is written as a .cube file"),
        (fit + [str(tmp_path / "same.cube")], f"it is the input {tmp_path / 'before.png'}; give another output name"),
        (["hald-import", str(tmp_path / "graded.png"), "-o", str(tmp_path / "graded.png")], "a LUT is written as a .cube"),
        (["preview", "copper", "--data", "none", "--extra", str(tmp_path / "before.png"), "-o", str(tmp_path / "before.png")],
         f"it is the input {tmp_path / 'before.png'}"),
        (["preview", "copper", "--data", "none", "-o", str(REPO / "reference_images" / "light.png")],
         f"it is the input {REPO / 'reference_images' / 'light.png'}"),
    ]:
        assert lut_tool.main(argv) == 2, argv
        assert message in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == held  # every file as it was, nothing new
    assert lut_tool.main(fit + [str(tmp_path / "before_link.cube")]) == 0  # a different file of that name is replaced
    assert read_cube(tmp_path / "before_link.cube").size == 5


@pytest.mark.parametrize("command", ["hald-export", "hald-import", "fit", "report"])
def test_an_output_under_a_file_names_the_file(tmp_path, capsys, command):
    # hald-export said "[Errno 17] File exists"; -o and --markdown under a file are refused alike
    (tmp_path / "file.png").write_bytes(b"x")
    out = tmp_path / "file.png" / "sub" / "x.png"
    hald = tmp_path / "id.png"
    write_hald(hald, identity_hald(2), depth=8)
    cv2.imwrite(str(tmp_path / "m.png"), np.full((8, 8), 255, np.uint8))
    argv = {
        "hald-export": ["hald-export", "--level", "2", "-o", str(out)],
        "hald-import": ["hald-import", str(hald), "-o", str(out)],
        "fit": ["fit", "--before", str(hald), "--after", str(hald), "--mask", str(tmp_path / "m.png"), "-o", str(out)],
        # refused before the subjects are read (there are none here) and measured
        "report": ["report", "--data", str(tmp_path / "nodata"), "--markdown", str(out)],
    }[command]
    assert lut_tool.main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"hairfx-lut {command}: error: cannot write {out}: {tmp_path}/file.png is a file, not a folder\n"


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_ends_a_command_cleanly(tmp_path, signame):
    """kill (SIGTERM) or a closed terminal (SIGHUP) get Ctrl-C's clean-up: one line on
    stderr, the exit status a shell gives a process that signal killed, and no temporary
    file or new folder left behind (before, they killed the process where it stood)."""
    import os
    import signal
    import time

    hald = tmp_path / "id.png"
    write_hald(hald, identity_hald(4), depth=16)
    out = tmp_path / "new" / "grade.cube"
    # a 128^3 .cube is 2 million rows: seconds of writing, time to be interrupted in it
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tools.lut_tool", "hald-import", str(hald), "-o", str(out),
                             "--size", "128"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        while not list(out.parent.glob(".grade.cube.*.tmp")):  # the writing has begun
            assert proc.poll() is None, f"it ended before writing: {proc.communicate()}"
            assert time.monotonic() < deadline, "no temporary .cube appeared in 60 s"
            time.sleep(0.01)
        proc.send_signal(getattr(signal, signame))
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + getattr(signal, signame)  # 143, 129
    assert stderr == "hairfx-lut hald-import: interrupted\n" and stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["id.png"]  # no grade.cube, its .tmp, nor new/


def test_hald_red_varies_fastest():
    # Pixel 1 of a level-2 Hald (4-point LUT) is the grid point r=1, g=0, b=0.
    h = identity_hald(2)
    np.testing.assert_allclose(h[0, 1], [1 / 3, 0, 0])
    np.testing.assert_allclose(h[0, 4], [0, 1 / 3, 0])  # i = 4 = g * N
    np.testing.assert_allclose(table_from_hald(h)[2, 1, 3], [2 / 3, 1 / 3, 1])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed; the haldclut oracle needs it")
@pytest.mark.parametrize("interp,sample", [("trilinear", sample_trilinear), ("tetrahedral", sample_tetrahedral)])
def test_hald_import_agrees_with_ffmpeg_haldclut(tmp_path, interp, sample):
    graded = known_transform(identity_hald(4))
    write_hald(tmp_path / "graded.png", graded, depth=8)
    img = np.random.default_rng(0).integers(0, 256, (24, 32, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "in.png"), img[:, :, ::-1])
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "in.png"), "-i", str(tmp_path / "graded.png"),
         "-filter_complex", f"[0][1]haldclut=interp={interp}", "-frames:v", "1", str(tmp_path / "out.png")],
        check=True, timeout=60,
    )
    theirs = cv2.imread(str(tmp_path / "out.png"))[:, :, ::-1].astype(np.float64)
    ours = np.round(sample(read_hald(tmp_path / "graded.png").table, img.astype(np.float32) / 255) * 255)
    assert np.abs(theirs - ours).max() <= FFMPEG_TOL


def test_hald_of_wrong_size_is_refused(tmp_path):
    bad = tmp_path / "bad.png"
    cv2.imwrite(str(bad), np.zeros((60, 64, 3), np.uint8))
    with pytest.raises(LutFormatError, match=r"bad.png is 64x60, not a Hald CLUT"):
        read_hald(bad)
    cv2.imwrite(str(bad), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(LutFormatError, match="level\\*\\*3"):
        read_hald(bad)
    assert lut_tool.main(["hald-import", str(bad), "-o", str(tmp_path / "x.cube")]) == 2
    (tmp_path / "graded").mkdir()
    with pytest.raises(InputError, match="Hald image .*graded is a folder, not an image file"):
        read_hald(tmp_path / "graded")  # was reported as not found


def test_hald_export_bad_level():
    with pytest.raises(InputError, match="Hald level"):
        identity_hald(1)


# --- fit ------------------------------------------------------------------------------


def synthetic_pair(n=96):
    """A 'photo' whose colours cover the cube, and the same photo through known_transform."""
    rng = np.random.default_rng(1)
    before = rng.integers(0, 256, (n, n, 3), np.uint8)
    after = np.round(known_transform(before / 255.0) * 255).astype(np.uint8)
    return before, after


def test_fit_recovers_known_lut():
    before, after = synthetic_pair()
    lut = fit_lut(before, after, np.ones(before.shape[:2], np.float32), size=9, grid=9, smoothness=1e-3)
    truth = known_transform(LUT3D.identity(9).table.astype(np.float64))
    assert np.abs(lut.table - truth).max() < FIT_TOL * 2
    assert np.abs(lut.table - truth).mean() < FIT_TOL / 2


def test_fit_extends_smoothly_outside_the_hair_colours():
    # Hair samples only in dark colours; the edit (a brightening) extends to light ones
    # smoothly instead of snapping back to identity.
    rng = np.random.default_rng(2)
    before = rng.integers(0, 110, (64, 64, 3), np.uint8)
    after = np.clip(before.astype(int) + 40, 0, 255).astype(np.uint8)
    lut = fit_lut(before, after, np.ones((64, 64), np.float32), size=9)
    mid = lut.table[6, 6, 6] - LUT3D.identity(9).table[6, 6, 6]  # input 0.75 grey, far from any sample
    assert (mid > 0.05).all()
    assert np.isfinite(lut.table).all()


def test_fit_cli_reports_error(tmp_path, capsys):
    before, after = synthetic_pair(48)
    cv2.imwrite(str(tmp_path / "b.png"), before[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "a.png"), after[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "m.png"), np.full((48, 48), 255, np.uint8))
    rc = lut_tool.main(["fit", "--before", str(tmp_path / "b.png"), "--after", str(tmp_path / "a.png"),
                        "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "f.cube"), "--size", "9", "--grid", "9"])
    assert rc == 0
    assert "CIEDE2000 mean" in capsys.readouterr().out
    assert read_cube(tmp_path / "f.cube").size == 9


def test_fit_takes_an_edited_photo_saved_with_16_bits(tmp_path, capsys):
    """The same fit from an 8-bit and a 16-bit export of the edit (editors often save 16)."""
    before, after = synthetic_pair(48)
    cv2.imwrite(str(tmp_path / "b.png"), before[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "a8.png"), after[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "a16.png"), after[:, :, ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "m.png"), np.full((48, 48), 255, np.uint8))
    for name in ("a8", "a16"):
        assert lut_tool.main(["fit", "--before", str(tmp_path / "b.png"), "--after", str(tmp_path / f"{name}.png"),
                              "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / f"{name}.cube"),
                              "--size", "9", "--grid", "9"]) == 0  # fmt: skip
    np.testing.assert_array_equal(read_cube(tmp_path / "a8.cube").table, read_cube(tmp_path / "a16.cube").table)
    from hairfx.imagefiles import read_rgb

    with pytest.raises(InputError, match="expected an 8-bit image, got uint16"):  # elsewhere: refused
        read_rgb(tmp_path / "a16.png")


def test_fit_before_after_of_different_sizes(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((10, 12, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((10, 14, 3), np.uint8))
    rc = lut_tool.main(["fit", "--before", str(tmp_path / "b.png"), "--after", str(tmp_path / "a.png"),
                        "--mask", str(tmp_path / "b.png"), "-o", str(tmp_path / "f.cube")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "12x10" in err and "14x10" in err
    with pytest.raises(InputError, match="same photo at the same size"):
        fit_lut(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8), np.ones((4, 4), np.float32))


def test_fit_with_the_other_photos_mask_names_it_once(tmp_path, capsys):
    """The mask's name, a path here, was repeated in the advice: "pass a mask PATH with the
    frame's shape", as if that very file were the one to pass."""
    ref = REPO / "reference_images"
    mask = ref / "dark_mask.png"  # 300x377, for the 320x320 light.png
    assert lut_tool.main(["fit", "--before", str(ref / "light.png"), "--after", str(ref / "light.png"),
                          "--mask", str(mask), "-o", str(tmp_path / "g.cube")]) == 2
    err = capsys.readouterr().err
    assert err == (f"hairfx-lut fit: error: mask {mask} is 300x377 but the frame is 320x320: their aspect ratios "
                   "differ, so stretching it would misplace the hair; pass one of the frame's shape\n")


def test_fit_refuses_a_negative_smoothness():
    before, after = synthetic_pair(16)
    with pytest.raises(InputError, match="fit smoothness must be a number >= 0, got -1"):
        fit_lut(before, after, np.ones((16, 16), np.float32), smoothness=-1.0)


def test_fit_empty_mask():
    before, after = synthetic_pair(16)
    with pytest.raises(InputError, match="mask selects no hair"):
        fit_lut(before, after, np.zeros((16, 16), np.float32))


# --- recipes and bake ------------------------------------------------------------------


def test_bake_is_deterministic(tmp_path):
    recipe = write_recipe(tmp_path / "src")
    a = bake_recipe(recipe, tmp_path / "a" / "test")
    b = bake_recipe(recipe, tmp_path / "b" / "test")
    for f in ("light.cube", "dark.cube", "color.json", "recipe.toml"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    from hairfx.colors import load_color

    color = load_color(a)
    assert (color.light_intensity, color.dark_intensity, color.size) == (0.55, 0.17, 9)


def test_bake_cli(tmp_path):
    recipe = write_recipe(tmp_path / "test")
    assert lut_tool.main(["bake", str(recipe), "-o", str(tmp_path / "test")]) == 0
    assert (tmp_path / "test" / "light.cube").is_file()


def test_bake_keeps_the_artists_loop_but_not_over_another_colour(tmp_path, capsys, monkeypatch):
    """Baking again over a colour baked from a recipe is the edit-bake-preview loop; a
    colour made another way, or a shipped one from a foreign recipe, needs --force."""
    import importlib

    from hairfx.colors import load_color, save_color

    colors = importlib.import_module("hairfx.colors")
    recipe = write_recipe(tmp_path / "src" / "test")
    out = tmp_path / "lib" / "test"
    assert lut_tool.main(["bake", str(recipe), "-o", str(out)]) == 0
    assert lut_tool.main(["bake", str(recipe), "-o", str(out)]) == 0  # the loop: again, and again
    save_color(load_color(REPO / "luts" / "copper"), tmp_path / "fitted" / "test")  # no recipe.toml
    before = (tmp_path / "fitted" / "test" / "light.cube").read_bytes()
    assert lut_tool.main(["bake", str(recipe), "-o", str(tmp_path / "fitted" / "test")]) == 2
    assert "holds a colour not baked from a recipe (no recipe.toml); pass --force" in capsys.readouterr().err
    assert (tmp_path / "fitted" / "test" / "light.cube").read_bytes() == before
    monkeypatch.setattr(colors, "_bundled_dir", lambda: tmp_path / "lib")  # as if lib/ were the shipped palette
    other = write_recipe(tmp_path / "elsewhere" / "test")
    assert lut_tool.main(["bake", str(other), "-o", str(out)]) == 2
    assert "holds a shipped palette colour; pass --force" in capsys.readouterr().err
    assert lut_tool.main(["bake", str(out / "recipe.toml"), "-o", str(out)]) == 0  # its own recipe, re-baked
    assert lut_tool.main(["bake", str(other), "-o", str(out), "--force"]) == 0


def test_a_bake_stopped_as_it_copies_the_recipe_leaves_the_last_copy_whole(tmp_path, capsys, monkeypatch):
    """The copy of the recipe was written in place: Ctrl-C as it was opened left it empty, no
    longer marked as a copy, and the next bake refused to replace it as someone's own recipe."""
    from pathlib import Path as RealPath

    from tools.recipe import COPY_MARK, is_baked_copy

    recipe = write_recipe(tmp_path / "src" / "test")
    out = tmp_path / "lib" / "test"
    assert lut_tool.main(["bake", str(recipe), "-o", str(out)]) == 0
    copied = (out / "recipe.toml").read_text(encoding="utf-8")
    write_text = RealPath.write_text

    def stopped(self, data, *args, **kwargs):
        if data.startswith(COPY_MARK):
            open(self, "w").close()  # opened, and then Ctrl-C
            raise KeyboardInterrupt
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(RealPath, "write_text", stopped)
    with pytest.raises(KeyboardInterrupt):
        bake_recipe(recipe, out)
    monkeypatch.undo()
    assert (out / "recipe.toml").read_text(encoding="utf-8") == copied and is_baked_copy(out / "recipe.toml")
    assert sorted(p.name for p in out.iterdir()) == ["color.json", "dark.cube", "light.cube", "recipe.toml"]
    assert lut_tool.main(["bake", str(recipe), "-o", str(out)]) == 0, capsys.readouterr().err


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (temporary ones too) by its path there, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def full_disk(real, written, when=lambda *args: True):
    """``real``, a writer, that writes half of the file ``written(*args)`` and then fails as
    a full disk does, in the calls where ``when(*args)``."""

    def write(*args, **kwargs):
        if not when(*args):
            return real(*args, **kwargs)
        real(*args, **kwargs)
        path = Path(written(*args))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        raise OSError(28, "No space left on device")

    return write


@pytest.mark.parametrize("fails", ["lut", "recipe copy", "grade copy"])
def test_a_bake_that_fails_part_way_leaves_no_trace_and_what_was_there_whole(tmp_path, capsys, monkeypatch, fails):
    """A bake stopped by a full disk left the colour folder it made (empty, or with LUTs and
    no recipe), and over a colour baked before, new LUTs beside the old recipe copy. Now it
    leaves no folder or file it made, and what was there as it was."""
    import importlib

    from pathlib import Path as RealPath

    from tools.recipe import COPY_MARK

    colors_module = importlib.import_module("hairfx.colors")  # the module: hairfx.colors is also a function
    src = tmp_path / "src" / "test"
    (src / "grades").mkdir(parents=True)
    write_cube(LUT3D(np.clip(LUT3D.identity(5).table * 0.9, 0, 1)), src / "grades" / "g.cube")
    recipe = write_recipe(src, dark_effect="lut", dark_param='file = "grades/g.cube"')
    baked_before = tmp_path / "lib" / "test"
    assert lut_tool.main(["bake", str(recipe), "-o", str(baked_before)]) == 0
    before = files_under(tmp_path / "lib")
    recipe.write_text(recipe.read_text(encoding="utf-8").replace("factor = 1.1", "").replace(
        "contrast = 1.2", "contrast = 1.5"), encoding="utf-8")  # a new look: every file changes
    if fails == "lut":
        monkeypatch.setattr(colors_module, "_write_cube", full_disk(
            colors_module._write_cube, lambda lut, path, d: path, when=lambda lut, path, d: "dark" in path.name))
    elif fails == "recipe copy":
        monkeypatch.setattr(RealPath, "write_text", full_disk(
            RealPath.write_text, lambda path, *a: path, when=lambda path, data, *a: data.startswith(COPY_MARK)))
    else:
        monkeypatch.setattr(shutil, "copyfile", full_disk(shutil.copyfile, lambda src, dst: dst))
    for out in (tmp_path / "new" / "deeper" / "test", baked_before):
        assert lut_tool.main(["bake", str(recipe), "-o", str(out)]) == 2
        assert capsys.readouterr().err == (f"hairfx-lut bake: error: cannot save colour 'test' to {out}: "
                                           "No space left on device\n")
    assert not (tmp_path / "new").exists()  # nor the folders made for it
    assert files_under(tmp_path / "lib") == before  # no temporary file, no file changed
    monkeypatch.undo()
    assert lut_tool.main(["bake", str(recipe), "-o", str(baked_before)]) == 0
    assert files_under(tmp_path / "lib").keys() == before.keys() and files_under(tmp_path / "lib") != before


def test_recipes_in_utf8_with_a_bom_load_and_other_encodings_are_named(tmp_path):
    recipe = write_recipe(tmp_path / "test")
    text = recipe.read_text(encoding="utf-8")
    recipe.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # as Notepad saves it
    assert load_recipe(recipe)["name"] == "test"
    recipe.write_bytes(text.replace('name = "test"', 'name = "test"\ndisplay_name = "Caf\xe9"').encode("latin-1"))
    with pytest.raises(InputError, match=r"recipe.toml: not UTF-8 text \(byte \d+\); save the recipe as UTF-8"):
        load_recipe(recipe)


def test_new_escapes_quotes_and_backslashes_in_the_display_name(tmp_path):
    from hairfx.colors import load_color

    name = 'AC\\DC "Special" Caf\u00e9'
    assert lut_tool.main(["new", "plum", "--target", "#7a2e8c", "-o", str(tmp_path), "--display-name", name]) == 0
    assert load_recipe(tmp_path / "plum" / "recipe.toml")["display_name"] == name
    assert load_color(tmp_path / "plum").display_name == name


def test_unknown_effect_in_recipe(tmp_path):
    recipe = write_recipe(tmp_path, dark_effect="sparkle", dark_param="amount = 1")
    with pytest.raises(InputError, match=r"dark.effects\[1\]: unknown effect 'sparkle'; valid effects: colorize"):
        load_recipe(recipe)


def test_unknown_parameter_and_bad_value_in_recipe(tmp_path):
    with pytest.raises(InputError, match="unknown parameter 'factr'"):
        load_recipe(write_recipe(tmp_path, dark_param="factr = 1.1"))
    with pytest.raises(InputError, match="missing parameter factor"):
        load_recipe(write_recipe(tmp_path, dark_param=""))
    with pytest.raises(InputError, match=r"factor must be a number in \[0, 4\], got 9"):
        load_recipe(write_recipe(tmp_path, dark_param="factor = 9"))


def test_bake_refuses_an_output_under_a_file_before_baking(tmp_path, capsys, monkeypatch):
    # the check came after the bake: 34 s lost at size 129, minutes at 256
    import importlib

    recipe_mod = importlib.import_module("tools.recipe")
    recipe = write_recipe(tmp_path / "src")
    (tmp_path / "blocker").write_text("x")
    monkeypatch.setattr(recipe_mod, "color_from_recipe", lambda r: pytest.fail("baked before the output was checked"))
    out = tmp_path / "blocker" / "test"
    assert lut_tool.main(["bake", str(recipe), "-o", str(out)]) == 2
    assert capsys.readouterr().err == (f"hairfx-lut bake: error: cannot save colour 'test' to {out}: "
                                       f"{tmp_path / 'blocker'} is a file, not a folder\n")


def test_bake_output_folder_must_match_name(tmp_path):
    recipe = write_recipe(tmp_path / "src")
    with pytest.raises(InputError, match="must be named after the colour"):
        bake_recipe(recipe, tmp_path / "other")


def test_bake_and_new_take_the_colour_folder_or_the_folder_of_colour_folders(tmp_path, capsys):
    """`new -o` took the folder of colour folders and `bake -o` the colour folder: `bake -o
    luts` was refused, and `new plum -o luts/plum` made luts/plum/plum, a colour that no
    LUT path finds. Both take either form now; where neither reading makes a colour the
    LUT path finds, the error names both."""
    lib = tmp_path / "lib"
    recipe = write_recipe(tmp_path / "src" / "test")
    assert lut_tool.main(["new", "plum", "--target", "#7a2e8c", "-o", str(lib)]) == 0  # as it always was
    assert lut_tool.main(["new", "rose", "--target", "#c06070", "-o", str(lib / "rose")]) == 0
    assert lut_tool.main(["bake", str(recipe), "-o", str(lib)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"baked {recipe} -> {lib / 'test'}"
    assert lut_tool.main(["bake", str(recipe), "-o", str(lib / "test")]) == 0  # as it always was
    assert sorted(p.name for p in lib.iterdir()) == ["plum", "rose", "test"]
    assert all((lib / name / "color.json").is_file() for name in ("plum", "rose", "test"))
    # a folder named after the colour that holds colour folders is still a folder of them
    assert lut_tool.main(["new", "lib", "--target", "#123456", "-o", str(lib)]) == 0
    assert (lib / "lib" / "color.json").is_file()
    before = files_under(tmp_path)
    forms = f"give the colour's own folder, named after it ({lib / 'test'}), or the folder of colour folders to make it in ({lib})"
    for argv, why in [
        (["bake", str(recipe), "-o", str(lib / "plum")], f"{lib / 'plum'} is the folder of another colour (it holds color.json)"),
        (["new", "test", "--target", "#7a2e8c", "-o", str(lib / "plum")], f"{lib / 'plum'} is the folder of another colour"),
        (["bake", str(recipe), "-o", str(lib / "tset")], f"{lib / 'tset'} does not exist and lies among colour folders"),
        (["new", "test", "--target", "#7a2e8c", "-o", str(lib / "tset")], "does not exist and lies among colour folders"),
    ]:
        assert lut_tool.main(argv) == 2
        err = capsys.readouterr().err
        assert why in err and err.endswith(f"; {forms}\n"), err
    assert files_under(tmp_path) == before  # nothing made, nothing changed


def test_bake_refuses_a_grade_outside_the_recipe_folder_before_writing(tmp_path):
    from hairfx.lut import write_cube

    write_cube(LUT3D.identity(5), tmp_path / "grade.cube")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "grade.cube").write_text("an artist's own file")
    recipe = write_recipe(tmp_path / "src", dark_effect="lut", dark_param='file = "../grade.cube"')
    with pytest.raises(InputError, match="grade file '../grade.cube' lies outside the recipe's folder"):
        bake_recipe(recipe, tmp_path / "lib" / "test")
    assert not (tmp_path / "lib" / "test").exists()
    assert (tmp_path / "lib" / "grade.cube").read_text() == "an artist's own file"
    shutil.copy(tmp_path / "grade.cube", tmp_path / "src" / "grade.cube")  # beside the recipe: travels with it
    recipe = write_recipe(tmp_path / "src", dark_effect="lut", dark_param='file = "grade.cube"')
    out = bake_recipe(recipe, tmp_path / "lib" / "test")
    assert (out / "grade.cube").read_bytes() == (tmp_path / "grade.cube").read_bytes()


def test_bake_names_a_misspelt_grade_with_its_recipe_and_the_grades_beside_it(tmp_path, capsys):
    """A lut effect's file that is not there was reported as "LUT file not found: PATH",
    with neither the recipe nor the side that names it."""
    from hairfx.lut import write_cube

    recipe = write_recipe(tmp_path / "src", dark_effect="lut", dark_param='file = "dark_grde.cube"')
    write_cube(LUT3D.identity(5), tmp_path / "src" / "dark_grade.cube")
    assert lut_tool.main(["bake", str(recipe), "-o", str(tmp_path / "lib")]) == 2
    err = capsys.readouterr().err
    assert (f"{recipe}: [dark] lut file 'dark_grde.cube' not found (looked for {tmp_path / 'src' / 'dark_grde.cube'}); "
            "beside it: dark_grade.cube") in err
    assert not (tmp_path / "lib").exists()


# --- new, intensity, preview ----------------------------------------------------------


def test_an_unquoted_hex_target_gets_a_hint_to_quote_it(tmp_path, capsys):
    """`--target #4a5d23` reaches the program as `--target` alone (the shell drops the rest of
    the line as a comment), and argparse said only "expected one argument"."""
    with pytest.raises(SystemExit) as exc:
        lut_tool.main(["new", "moss", "-o", str(tmp_path), "--target"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.endswith(
        "hairfx-lut new: error: argument --target: expected one argument (quote a hex colour, '#RRGGBB': the shell "
        "takes an unquoted # for the start of a comment)\n")
    with pytest.raises(SystemExit):  # an option that takes no colour: as before
        lut_tool.main(["new", "moss", "--target", "#4a5d23", "-o"])
    assert capsys.readouterr().err.endswith("error: argument -o/--output: expected one argument\n")


def test_new_invalid_hex(tmp_path, capsys):
    assert lut_tool.main(["new", "x", "--target", "#12345g", "-o", str(tmp_path)]) == 2
    assert "--target must be a hex colour like '#7a2e8c', got '#12345g'" in capsys.readouterr().err


def test_new_does_not_replace_a_hand_made_colour(tmp_path, capsys):
    from hairfx.colors import load_color, save_color

    save_color(load_color(REPO / "luts" / "copper"), tmp_path / "plum")  # a colour with no recipe.toml
    before = (tmp_path / "plum" / "light.cube").read_bytes()
    assert lut_tool.main(["new", "plum", "--target", "#7a2e8c", "-o", str(tmp_path)]) == 2
    assert "already holds a colour (color.json); pass --force" in capsys.readouterr().err
    assert (tmp_path / "plum" / "light.cube").read_bytes() == before
    assert lut_tool.main(["new", "plum", "--target", "#7a2e8c", "-o", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "plum" / "light.cube").read_bytes() != before


def test_new_writes_a_loadable_colour(tmp_path):
    assert lut_tool.main(["new", "plum", "--target", "#7a2e8c", "-o", str(tmp_path)]) == 0
    from hairfx.colors import load_color

    color = load_color(tmp_path / "plum")
    assert color.swatch == "#7a2e8c" and color.size == 33
    assert load_recipe(tmp_path / "plum")["swatch"] == "#7a2e8c"


def test_intensity_matches_the_engine(tmp_path, capsys):
    from hairfx.intensity import hair_intensity

    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:, :4] = (200, 100, 50)
    rgb[:, 4:] = (20, 20, 20)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 2:6] = 255
    cv2.imwrite(str(tmp_path / "i.png"), rgb[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    assert lut_tool.main(["intensity", str(tmp_path / "i.png"), "--mask", str(tmp_path / "m.png")]) == 0
    printed = float(capsys.readouterr().out)
    assert printed == pytest.approx(hair_intensity(rgb, mask / np.float32(255)), abs=1e-6)


def test_intensity_takes_a_mask_at_another_size_as_the_engine_does(tmp_path, capsys):
    """A half-size mask is the frame's mask scaled down: `hairfx recolor --mask` takes it, and
    so must the intensity that pairs a LUT with its reference."""
    import hairfx
    from hairfx.frames import mask_for_frame
    from hairfx.intensity import hair_intensity

    rgb = cv2.imread(str(REPO / "reference_images" / "light.png"))[:, :, ::-1]
    full = cv2.imread(str(REPO / "reference_images" / "light_mask.png"), cv2.IMREAD_GRAYSCALE)
    half = cv2.resize(full, (full.shape[1] // 2, full.shape[0] // 2), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "half.png"), half)
    image = str(REPO / "reference_images" / "light.png")
    assert lut_tool.main(["intensity", image, "--mask", str(tmp_path / "half.png")]) == 0
    printed = float(capsys.readouterr().out)
    assert printed == pytest.approx(hair_intensity(np.ascontiguousarray(rgb), mask_for_frame(rgb, half)), abs=1e-6)
    assert printed == pytest.approx(hairfx.get_color("copper").light_intensity, abs=0.01)  # the light reference's
    cv2.imwrite(str(tmp_path / "wrong.png"), half[:, :-9])  # another aspect ratio: refused, named
    assert lut_tool.main(["intensity", image, "--mask", str(tmp_path / "wrong.png")]) == 2
    assert f"mask {tmp_path / 'wrong.png'} is" in capsys.readouterr().err


def test_intensity_and_fit_take_a_photo_in_srgb_as_recolor_does(tmp_path, capsys):
    """`hairfx recolor` recolours a phone's Display P3 photo in sRGB, so the intensity of such a
    reference and a LUT fitted on it must be taken there too. On the values as held, the
    intensity was not the engine's, and a photo exported to sRGB unedited (an editor's
    default) fitted the P3-to-sRGB conversion as a grade: 8 levels off on average."""
    from PIL import Image

    from hairfx.icc import matrix_shaper_profile
    from hairfx.intensity import hair_intensity
    from hairfx.metadata import ColourProfile

    rng = np.random.default_rng(5)
    held = rng.integers(20, 220, (48, 48, 3)).astype(np.uint8)
    p3 = matrix_shaper_profile("Display P3")
    Image.fromarray(held).save(tmp_path / "phone.png", icc_profile=p3)
    srgb = ColourProfile(p3).to_srgb(held)  # what `hairfx recolor phone.png` recolours
    cv2.imwrite(str(tmp_path / "export.png"), srgb[:, :, ::-1])  # the same colours, saved as sRGB
    mask = np.full((48, 48), 255, np.uint8)
    mask[:, :8] = 0
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    assert lut_tool.main(["intensity", str(tmp_path / "phone.png"), "--mask", str(tmp_path / "m.png")]) == 0
    printed = float(capsys.readouterr().out)
    assert printed == pytest.approx(hair_intensity(srgb, mask / np.float32(255)), abs=1e-6)
    assert lut_tool.main(["fit", "--before", str(tmp_path / "phone.png"), "--after", str(tmp_path / "export.png"),
                          "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "f.cube"),
                          "--size", "9", "--grid", "9"]) == 0  # fmt: skip
    out = read_cube(tmp_path / "f.cube").apply(srgb / np.float32(255)) * 255
    assert np.abs(out - srgb)[mask > 0].mean() < 0.5  # no edit: the identity on the hair


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fit", "--before", "b.png", "--after", "a.png", "-o", "f.cube", "--size", "1"], "--size: must be in 2..256, got 1"),
        (["fit", "--before", "b.png", "--after", "a.png", "-o", "f.cube", "--grid", "99"], "--grid: must be in 4..65"),
        (["fit", "--before", "b.png", "--after", "a.png", "-o", "f.cube", "--smoothness", "-1"], "expected a number >= 0"),
        # not "expected one argument", as if -1e-3 were an option
        (["fit", "--before", "b.png", "--after", "a.png", "-o", "f.cube", "--smoothness", "-1e-3"],
         "--smoothness: expected a number >= 0, got '-1e-3'"),
        (["resample", "x.cube", "-o", "y.cube", "--size", "-2."], "--size: expected an integer in 2..256, got '-2.'"),
        (["hald-import", "h.png", "-o", "x.cube", "--decimals", "2"], "--decimals: must be in 3..12, got 2"),
        (["hald-import", "h.png", "-o", "x.cube", "--size", "300"], "--size: must be in 2..256, got 300"),
        (["resample", "x.cube", "-o", "y.cube", "--size", "two"], "expected an integer in 2..256, got 'two'"),
    ],
)
def test_numbers_out_of_range_are_refused_before_any_work(argv, message, capsys):
    """The files named do not even exist: the option is checked first, as the README says."""
    with pytest.raises(SystemExit) as exc:
        lut_tool.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_new_refuses_a_blank_display_name_by_its_option(tmp_path, capsys):
    assert lut_tool.main(["new", "emp", "--target", "#123456", "--display-name", " ", "-o", str(tmp_path)]) == 2
    assert "--display-name must not be blank, got ' '" in capsys.readouterr().err
    assert not (tmp_path / "emp").exists()


def test_new_and_bake_say_a_name_must_start_with_a_letter_or_digit(tmp_path, capsys):
    """'_plum' and '-plum' were refused as not "lower case letters, digits, '-' or '_'", which
    they are: the rule they break went unsaid."""
    rule = "must be lower-case letters, digits, '-' and '_', starting with a letter or digit"
    assert lut_tool.main(["new", "_plum", "--target", "#123456", "-o", str(tmp_path)]) == 2
    assert f"colour name {rule}, like 'copper' or 'deep-plum_2', got '_plum'" in capsys.readouterr().err
    recipe = write_recipe(tmp_path / "src", name="-plum")
    with pytest.raises(InputError, match=f"recipe.toml: name {rule}, .* got '-plum'"):
        load_recipe(recipe)
    assert not (tmp_path / "_plum").exists()


def test_new_takes_any_display_name_as_text_and_names_one_that_is_not(tmp_path, capsys):
    """A DEL in the name made a recipe TOML refuses, reported against a temporary file's
    name; bytes not in the terminal's encoding (lone surrogates) ended in a traceback."""
    from hairfx.colors import load_color

    assert lut_tool.main(["new", "odd", "--target", "#123456", "--display-name", 'Plum "Nº 1"\x7f\t\\',
                          "-o", str(tmp_path)]) == 0  # fmt: skip
    assert load_color(tmp_path / "odd").display_name == 'Plum "Nº 1"\x7f\t\\'
    assert load_recipe(tmp_path / "odd")["display_name"] == 'Plum "Nº 1"\x7f\t\\'
    capsys.readouterr()
    assert lut_tool.main(["new", "cafe", "--target", "#123456", "--display-name", "Caf\udce9",
                          "-o", str(tmp_path)]) == 2  # fmt: skip
    assert "--display-name 'Caf\\udce9' holds bytes that are not UTF-8 text" in capsys.readouterr().err
    assert not (tmp_path / "cafe").exists()


def test_resample_pairs_luts_of_two_sizes(tmp_path, capsys):
    """The route the size-mismatch error gives: a 17^3 LUT brought to 33^3 (exact: every old
    grid point is a new one, and trilinear between them), then a colour that loads."""
    import shutil as sh

    from hairfx.colors import load_color

    folder = tmp_path / "copper"
    sh.copytree(REPO / "luts" / "copper", folder)
    small = LUT3D(sample_trilinear(read_cube(folder / "dark.cube").table, LUT3D.identity(17).table))
    write_cube(small, folder / "dark.cube")
    with pytest.raises(LutFormatError, match=r"hairfx-lut resample FILE.cube --size N -o OUT.cube"):
        load_color(folder)
    assert lut_tool.main(["resample", str(folder / "dark.cube"), "--size", "33", "-o", str(tmp_path / "d33.cube")]) == 0
    assert "wrote" in capsys.readouterr().out
    back = read_cube(tmp_path / "d33.cube")
    rng = np.random.default_rng(4)
    x = rng.random((3000, 3), dtype=np.float32)
    np.testing.assert_allclose(back.apply(x), small.apply(x), atol=2e-6)
    np.testing.assert_allclose(colour_read(tmp_path / "d33.cube"), back.table, atol=1e-6)
    sh.move(tmp_path / "d33.cube", folder / "dark.cube")
    assert load_color(folder).size == 33
    # over its own input, or to a name that is not a .cube: refused, nothing written
    assert lut_tool.main(["resample", str(folder / "dark.cube"), "--size", "9", "-o", str(folder / "dark.cube")]) == 2
    assert read_cube(folder / "dark.cube").size == 33


def test_resample_puts_a_lut_with_a_domain_onto_the_unit_domain(tmp_path):
    lut = LUT3D(LUT3D.identity(9).table * 2.0, domain_min=(0, 0, 0), domain_max=(2, 2, 2))  # the identity on [0, 2]
    write_cube(lut, tmp_path / "d.cube")
    assert lut_tool.main(["resample", str(tmp_path / "d.cube"), "--size", "5", "-o", str(tmp_path / "u.cube")]) == 0
    back = read_cube(tmp_path / "u.cube")
    assert back.has_unit_domain and back.size == 5
    np.testing.assert_allclose(back.table, LUT3D.identity(5).table, atol=1e-6)


def test_resample_keeps_a_windows_1252_title_as_text(tmp_path):
    # the title of a .cube saved by a Windows tool comes out as the same text, in UTF-8
    rows = "".join(f"{r} {g} {b}\r\n" for b in (0, 1) for g in (0, 1) for r in (0, 1))
    (tmp_path / "win.cube").write_bytes(f'TITLE "Café Crème – warm"\r\nLUT_3D_SIZE 2\r\n{rows}'.encode("cp1252"))
    assert lut_tool.main(["resample", str(tmp_path / "win.cube"), "--size", "3", "-o", str(tmp_path / "u.cube")]) == 0
    assert (tmp_path / "u.cube").read_text(encoding="utf-8").splitlines()[0] == 'TITLE "Café Crème – warm"'


def colour_read(path: Path) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour
    return colour.read_LUT(str(path)).table


def test_intensity_empty_mask(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "i.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "m.png"), np.zeros((8, 8), np.uint8))
    assert lut_tool.main(["intensity", str(tmp_path / "i.png"), "--mask", str(tmp_path / "m.png")]) == 2
    assert "covers no hair" in capsys.readouterr().err


def test_reference_intensities_are_current():
    import json

    from hairfx.intensity import hair_intensity
    from tools._common import read_mask, read_rgb

    recorded = json.loads((REPO / "reference_images" / "intensities.json").read_text())
    for name, value in recorded.items():
        rgb = read_rgb(REPO / "reference_images" / f"{name}.png")
        mask = read_mask(REPO / "reference_images" / f"{name}_mask.png", rgb.shape[:2])
        assert hair_intensity(rgb, mask) == pytest.approx(value, abs=1e-6), name


def test_reference_masks_names_a_missing_photo_and_makes_no_output_folder(tmp_path, capsys):
    # it raised FileNotFoundError with a traceback, after creating the output folder
    from tools import reference_masks

    src = {key: tmp_path / key for key in ("kphotoalbum", "mahotas", "skimage")}
    argv = [a for key, folder in src.items() for a in (f"--{key}", str(folder))] + ["-o", str(tmp_path / "out")]
    assert reference_masks.main(argv) == 2
    assert capsys.readouterr().err.startswith(
        f"reference_masks: error: source photo not found: {src['kphotoalbum'] / 'anne_helene.jpg'}; fetch and unpack")
    assert not (tmp_path / "out").exists()
    for where, filename, *_ in reference_masks.REFERENCES.values():
        src[where].mkdir(exist_ok=True)
        (src[where] / filename).write_bytes(b"not an image")
    assert reference_masks.main(argv) == 2
    assert "is not an image OpenCV can read" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_apply_color_is_the_engines_recolor():
    import hairfx
    from tools._common import apply_color, reference

    rgb, mask, _ = reference("medium")
    for strength in (1.0, 0.4):
        expected = hairfx.recolor(rgb, "copper", mask=mask, strength=strength, renderer="cpu")
        np.testing.assert_array_equal(apply_color(rgb, "copper", mask, strength=strength), expected)


def test_recipes_can_be_read_on_python_3_10():
    # tools/recipe.py falls back to tomli where the standard library has no tomllib (3.10)
    from packaging.requirements import Requirement

    from tools.recipe import tomllib

    deps = [Requirement(d) for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]
    tomli = [r for r in deps if r.name == "tomli"]
    assert len(tomli) == 1 and tomli[0].marker is not None
    assert tomli[0].marker.evaluate({"python_version": "3.10"})
    assert not tomli[0].marker.evaluate({"python_version": "3.11"})


def test_preview_writes_a_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    assert lut_tool.main(["preview", str(REPO / "luts" / "copper"), "-o", str(out), "--data", "none"]) == 0
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] > 200


def test_preview_takes_a_name_as_the_registered_colour_not_a_folder_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "copper").mkdir()  # the sources of a recipe named copper, say: not a colour folder
    assert lut_tool.main(["preview", "copper", "-o", "sheet.png", "--data", "none",
                          "--references", str(REPO / "reference_images")]) == 0  # fmt: skip
    assert (tmp_path / "sheet.png").is_file()


def test_preview_of_a_recipe_folder_here_by_name_says_to_bake_it_first(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_recipe(tmp_path / "mine", name="mine")  # a recipe's sources, not yet baked
    assert lut_tool.main(["preview", "mine", "-o", "sheet.png", "--data", "none",
                          "--references", str(REPO / "reference_images")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith("hairfx-lut preview: error: unknown colour 'mine'; ")
    assert err.endswith("; ./mine exists but holds no color.json: it looks like a recipe's folder; bake it first "
                        "(hairfx-lut bake ./mine -o DIR) and name the colour folder that makes by its path\n")
    assert not (tmp_path / "sheet.png").exists()


def test_preview_extra_photo_without_a_mask_names_both_places_looked(tmp_path, capsys):
    photo = tmp_path / "images" / "me.png"
    photo.parent.mkdir()
    shutil.copy(REPO / "reference_images" / "dark.png", photo)
    argv = ["preview", "copper", "-o", str(tmp_path / "s.png"), "--data", "none", "--extra", str(photo)]
    assert lut_tool.main(argv) == 2
    err = capsys.readouterr().err
    assert f"no mask for {photo}: looked for {tmp_path}/images/me_mask.png and {tmp_path}/masks/me.png" in err
    shutil.copy(REPO / "reference_images" / "dark_mask.png", tmp_path / "images" / "me_mask.png")
    assert lut_tool.main(argv) == 0


def test_preview_takes_the_reference_photos_a_folder_has(tmp_path, capsys):
    """`preview --references DIR` stopped on a folder without intensities.json, then on one
    without medium.png, which the help did not ask for: an artist's own folder holds the two
    photos the LUTs are tuned on. It takes any of light, medium and dark, each with its mask."""
    from tools.preview import TILE

    refs = tmp_path / "mine"
    refs.mkdir()
    argv = ["preview", "copper", "-o", str(tmp_path / "sheet.png"), "--data", "none", "--references", str(refs)]
    assert lut_tool.main(argv) == 2
    assert capsys.readouterr().err == (f"hairfx-lut preview: error: no reference photos in {refs}: expected any of "
                                       "light.png, medium.png and dark.png, each with NAME_mask.png (255 = hair) "
                                       "beside it\n")
    shutil.copy(REPO / "reference_images" / "dark.png", refs / "dark.png")
    assert lut_tool.main(argv) == 2
    assert capsys.readouterr().err == (f"hairfx-lut preview: error: reference photo {refs / 'dark.png'} has no mask: "
                                       f"expected {refs / 'dark_mask.png'} (255 = hair) beside it\n")
    assert not (tmp_path / "sheet.png").exists()
    for name in ("light.png", "light_mask.png", "dark_mask.png"):
        shutil.copy(REPO / "reference_images" / name, refs / name)
    assert lut_tool.main(argv) == 0, capsys.readouterr().err
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    tiles = [cv2.imread(str(refs / f"{name}.png")).shape for name in ("light", "dark")]
    assert sheet.shape[1] == sum(round(w * TILE / h) + 4 for h, w, _ in tiles)  # a column for each, no more


@pytest.mark.parametrize(
    "command", ["intensity", "hald-export", "hald-import", "resample", "fit", "bake", "new", "preview", "report"]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        lut_tool.main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: hairfx-lut " + command in capsys.readouterr().out


def test_palette_recipes_rebake_to_the_shipped_luts(tmp_path):
    # Every shipped colour is reproducible from the recipe beside it: all of them (about two
    # seconds), as a change to one effect can move one colour alone (the colorize range moved
    # only jet-black, whose target is darker than L* 8).
    from tools.recipe import color_from_recipe

    folders = sorted(p for p in (REPO / "luts").iterdir() if (p / "recipe.toml").is_file())
    assert len(folders) >= 12
    for folder in folders:
        color = color_from_recipe(load_recipe(folder))
        for side in ("light", "dark"):
            np.testing.assert_allclose(getattr(color, side).table, read_cube(folder / f"{side}.cube").table, atol=1e-5,
                                       err_msg=f"{folder.name}/{side}.cube")


def test_artist_workflow_from_two_graded_halds(tmp_path):
    # Export an identity Hald, "grade" it as an editor would (one grade per reference),
    # import both, reference them from a recipe and bake a colour folder the engine loads.
    from hairfx.colors import load_color

    assert lut_tool.main(["hald-export", "--level", "3", "-o", str(tmp_path / "identity.png")]) == 0
    ident = cv2.imread(str(tmp_path / "identity.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1] / 65535.0
    src = tmp_path / "src"
    src.mkdir()
    for side, gain in (("light", 0.9), ("dark", 1.4)):
        graded = np.clip(ident * np.array([gain, 0.8, 0.6]), 0, 1)
        write_hald(tmp_path / f"{side}.png", graded, depth=16)
        assert lut_tool.main(["hald-import", str(tmp_path / f"{side}.png"), "-o", str(src / f"{side}_grade.cube")]) == 0
    (src / "recipe.toml").write_text(
        'name = "mine"\nswatch = "#a05030"\nsize = 9\n'
        '[light]\nintensity = 0.55\n[[light.effects]]\neffect = "lut"\nfile = "light_grade.cube"\n'
        '[dark]\nintensity = 0.17\n[[dark.effects]]\neffect = "lut"\nfile = "dark_grade.cube"\n',
        encoding="utf-8",
    )
    assert lut_tool.main(["bake", str(src / "recipe.toml"), "-o", str(tmp_path / "luts" / "mine")]) == 0
    color = load_color(tmp_path / "luts" / "mine")
    np.testing.assert_allclose(color.dark.table[8, 8, 8], [1.0, 0.8, 0.6], atol=2e-3)
    np.testing.assert_allclose(color.light.table[8, 8, 8], [0.9, 0.8, 0.6], atol=2e-3)
    # The baked folder is self-contained: it rebakes from its own copy of the recipe.
    assert (tmp_path / "luts" / "mine" / "light_grade.cube").is_file()
    assert lut_tool.main(["bake", str(tmp_path / "luts" / "mine"), "-o", str(tmp_path / "again" / "mine")]) == 0


def test_recipe_lut_named_like_an_output_is_refused(tmp_path):
    recipe = write_recipe(tmp_path, dark_effect="lut", dark_param='file = "dark.cube"')
    with pytest.raises(InputError, match="would be overwritten by the baked dark.cube"):
        load_recipe(recipe)


# --- after a plain `pip install .`: reference images, output folders, help, stderr ----------


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """As after a non-editable install: no reference_images/ beside the package (nor data
    beside it); the working directory is an empty folder, returned."""
    from hairfx import _datadir, bench

    site = tmp_path / "site-packages" / "hairfx"
    monkeypatch.setattr(_datadir, "_REPO", site)  # hairfx/.. of a checkout; the package itself here
    monkeypatch.setattr(bench, "find_data", lambda *parts: None)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_preview_finds_the_reference_images_in_the_working_directory(installed, tmp_path, capsys):
    argv = ["preview", "copper", "-o", str(tmp_path / "s.png"), "--data", "none"]
    assert lut_tool.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("hairfx-lut preview: error: reference images not found: looked in ")
    assert f"{tmp_path}/site-packages/hairfx/reference_images and {installed}/reference_images; " \
           "pass --references DIR" in err
    assert not (tmp_path / "s.png").exists()
    shutil.copytree(REPO / "reference_images", installed / "reference_images")  # running from the checkout
    assert lut_tool.main(argv) == 0
    assert cv2.imread(str(tmp_path / "s.png")) is not None
    assert lut_tool.main(["preview", "copper", "-o", str(tmp_path / "s.png"), "--data", "none",
                          "--references", str(tmp_path / "nowhere")]) == 2
    assert f"reference images folder {tmp_path}/nowhere does not exist" in capsys.readouterr().err


def test_bench_finds_its_portrait_in_the_working_directory(installed, capsys):
    # hairfx bench shares the rule: the checkout's reference_images/, then ./reference_images
    from hairfx import bench
    from hairfx.cli import main as hairfx_main

    assert hairfx_main(["bench", "--repeat", "1", "--no-baseline"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hairfx bench: error: no benchmark portrait found: looked for ")
    assert f"{installed}/reference_images; pass --image FILE --mask FILE" in err
    shutil.copytree(REPO / "reference_images", installed / "reference_images")
    assert bench._default_portrait() == (installed / "reference_images" / "dark.png",
                                         installed / "reference_images" / "dark_mask.png")


def test_commands_writing_a_file_create_its_folders(tmp_path, monkeypatch, capsys):
    # The start of the workflow in hairfx-lut's docstring, run as written (a level-3 Hald
    # for speed), into folders that do not exist yet.
    monkeypatch.chdir(tmp_path)
    assert "hairfx-lut hald-import light_hald.png -o mine/light_grade.cube --size 33" in lut_tool.__doc__
    write_hald(tmp_path / "light_hald.png", known_transform(identity_hald(3)), depth=16)
    assert lut_tool.main("hald-import light_hald.png -o mine/light_grade.cube --size 33".split()) == 0
    assert read_cube(tmp_path / "mine" / "light_grade.cube").size == 33
    assert lut_tool.main(["hald-export", "--level", "2", "-o", "deep/er/identity.png"]) == 0
    before, after = synthetic_pair(32)
    cv2.imwrite("b.png", before[:, :, ::-1])
    cv2.imwrite("a.png", after[:, :, ::-1])
    cv2.imwrite("m.png", np.full((32, 32), 255, np.uint8))
    assert lut_tool.main(["fit", "--before", "b.png", "--after", "a.png", "--mask", "m.png",
                          "-o", "fits/a/f.cube", "--size", "5", "--grid", "5"]) == 0
    assert read_cube(tmp_path / "fits" / "a" / "f.cube").size == 5
    # a command that fails leaves no folder behind
    assert lut_tool.main(["hald-import", "b.png", "-o", "new/er/x.cube"]) == 2
    assert "b.png is 32x32, not a Hald CLUT" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def tiny_split(root: Path) -> Path:
    """A dataset split of two 40x40 subjects, light and dark hair, hair on the top half."""
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True)
    mask = np.zeros((40, 40), np.uint8)
    mask[:20] = 255
    for name, grey in (("light", 190), ("dark", 40)):
        img = np.random.default_rng(grey).integers(grey - 30, grey + 30, (40, 40, 3)).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"{name}.png"), img)
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask)
    return root


def test_preview_and_report_take_a_split_whose_odd_sized_masks_average_above_one(tmp_path, capsys):
    """Subjects are ranked on a half-size read, the mask averaged down to it. At an odd size
    (a 35x25 JPEG reads as 18x13) an area of ones came out at 1.0000001, and preview and
    report stopped with "mask values must lie in [0, 1]" for masks that were fine (27 of
    Figaro1k's test split)."""
    for sub in ("images", "masks"):
        (tmp_path / "split" / sub).mkdir(parents=True)
    for name, grey in (("light", 190), ("dark", 40)):
        cv2.imwrite(str(tmp_path / "split" / "images" / f"{name}.jpg"), np.full((25, 35, 3), grey, np.uint8))
        cv2.imwrite(str(tmp_path / "split" / "masks" / f"{name}.png"), np.full((25, 35), 255, np.uint8))
    assert lut_tool.main(["preview", "copper", "--data", str(tmp_path / "split"), "--subjects", "2",
                          "-o", str(tmp_path / "sheet.png")]) == 0, capsys.readouterr().err
    assert lut_tool.main(["report", "--data", str(tmp_path / "split"), "--subjects", "2", "--color", "copper"]) == 0


def test_report_writes_markdown_into_a_new_folder(tmp_path, capsys):
    data = tiny_split(tmp_path / "split")
    out = tmp_path / "reports" / "2024" / "palette.md"
    assert lut_tool.main(["report", "--data", str(data), "--subjects", "2", "--color", "copper",
                          "--markdown", str(out)]) == 0
    text = out.read_text()
    assert "| copper | `#" in text
    assert f"--subjects 2 --color copper --markdown {out}" in text  # the line that makes this report again


def test_preview_and_report_find_the_default_split_from_any_working_folder(tmp_path, monkeypatch, capsys):
    # ../shared/data was taken from the working folder only: run elsewhere, report failed
    # and preview dropped the dataset subjects without a word
    from hairfx import _datadir

    here, beside = tmp_path / "here" / "shared" / "data", tmp_path / "beside" / "shared" / "data"
    monkeypatch.setattr(_datadir, "roots", lambda: (here, beside))
    monkeypatch.chdir(tmp_path)
    assert lut_tool.main(["report", "--subjects", "2", "--color", "copper"]) == 2
    assert capsys.readouterr().err == (
        f"hairfx-lut report: error: no dataset split given and none found: looked in {here}/celeb1k/test and "
        f"{beside}/celeb1k/test; pass --data DIR (a folder with images/ and masks/)\n")
    tiny_split(beside / "celeb1k" / "test")
    assert lut_tool.main(["report", "--subjects", "2", "--color", "copper"]) == 0
    assert "| copper |" in capsys.readouterr().out
    sheets = {}
    for data in ("auto", "none"):
        assert lut_tool.main(["preview", "copper", "-o", f"{data}.png", "--data", data, "--subjects", "2",
                              "--references", str(REPO / "reference_images")]) == 0
        sheets[data] = cv2.imread(f"{data}.png")
    assert sheets["auto"].size > sheets["none"].size  # the two subjects drawn beside the references


def test_help_shows_the_whole_workflow(capsys):
    with pytest.raises(SystemExit) as exc:
        lut_tool.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    # every line of the workflow, indented as written (RawDescriptionHelpFormatter)
    for line in lut_tool.__doc__.replace("``", "").splitlines():
        assert line in out.splitlines(), line
    assert "    hairfx-lut hald-import light_hald.png -o mine/light_grade.cube --size 33" in out.splitlines()
    assert "Run 'hairfx-lut COMMAND --help' for each command." in out


@pytest.mark.parametrize("script, argv", [
    ("lut_tool.py", ["--help"]),
    ("lut_tool.py", ["hald-export", "--level", "2", "-o", "identity.png"]),  # the helpers of a command
    ("palette_report.py", ["--data", "split", "--subjects", "2", "--color", "copper"]),
    ("reference_masks.py", ["--help"]),
])
def test_the_tools_run_by_their_path(tmp_path, script, argv):
    """`python tools/lut_tool.py --help` failed: "attempted relative import with no known
    parent package". Each tool runs with the checkout's hairfx, not another found first on
    the path (reference_masks took whichever came first)."""
    import os

    tiny_split(tmp_path / "split")
    other = tmp_path / "elsewhere" / "hairfx"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("raise ImportError('not the checkout hairfx')\n")
    env = {**os.environ, "PYTHONPATH": str(other.parent)}
    done = subprocess.run([sys.executable, str(REPO / "tools" / script), *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout or (tmp_path / "identity.png").is_file() or "| copper |" in done.stdout


@pytest.mark.parametrize("script, command", [("fit.py", "fit"), ("preview.py", "preview"),
                                             ("hald.py", "COMMAND, COMMAND hald-export or hald-import"),
                                             ("recipe.py", "COMMAND, COMMAND bake or new")])
def test_a_module_of_a_command_run_by_its_path_names_the_command(tmp_path, script, command):
    """`python tools/preview.py copper -o sheet.png` ended in "attempted relative import with no
    known parent package"; `python tools/fit.py ...` did nothing and exited 0."""
    done = subprocess.run([sys.executable, str(REPO / "tools" / script), "--before", "b.png"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and not done.stdout
    assert done.stderr == (f"{script} is part of hairfx-lut, not a command of its own: run python "
                           f"{REPO / 'tools' / 'lut_tool.py'} {command} (hairfx-lut {command.split(',')[0]} where "
                           "hairfx is installed)\n")


def run_tool(argv, cwd) -> subprocess.CompletedProcess:
    """hairfx-lut in a fresh interpreter (colour-science warns on its first import only), with
    the checkout's tools appended to sys.path as conftest does."""
    code = f"import sys; sys.path.append({str(REPO)!r}); from tools.lut_tool import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


def _installed(dist: str) -> bool:
    """Whether ``dist`` is installed (not find_spec: colour-science puts a mock matplotlib in
    sys.modules when the real one is missing, and find_spec raises on it)."""
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(_installed("matplotlib"), reason="matplotlib is installed, so colour-science has nothing to warn about")
def test_fit_and_report_print_no_matplotlib_warning(tmp_path):
    before, after = synthetic_pair(32)
    cv2.imwrite(str(tmp_path / "b.png"), before[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "a.png"), after[:, :, ::-1])
    cv2.imwrite(str(tmp_path / "m.png"), np.full((32, 32), 255, np.uint8))
    fit = run_tool(["fit", "--before", "b.png", "--after", "a.png", "--mask", "m.png", "-o", "f.cube",
                    "--size", "5", "--grid", "5"], tmp_path)
    assert fit.returncode == 0, fit.stderr
    assert "CIEDE2000 mean" in fit.stdout and fit.stderr == ""
    report = run_tool(["report", "--data", str(tiny_split(tmp_path / "split")), "--subjects", "2",
                       "--color", "copper"], tmp_path)
    assert report.returncode == 0, report.stderr
    assert "| copper |" in report.stdout
    assert "Matplotlib" not in report.stderr and "Warning" not in report.stderr  # its progress lines remain


@pytest.mark.parametrize("argv, argument", [
    (["bake", "", "-o", "luts/x"], "recipe"),
    (["fit", "--before", "b.png", "--after", "", "-o", "g.cube"], "--after"),
    (["hald-import", "h.png", "-o", ""], "-o/--output"),
])
def test_lut_tool_refuses_an_empty_path_by_the_argument_that_gives_it(argv, argument, capsys):
    with pytest.raises(SystemExit) as exit_:
        lut_tool.main(argv)
    assert exit_.value.code == 2
    assert f"argument {argument}: an empty path (is a shell variable unset?)" in capsys.readouterr().err


# --- an artist's work is never replaced unasked ------------------------------------------


def test_hald_export_refuses_to_replace_a_file_without_force(tmp_path, capsys):
    graded = tmp_path / "edited_hald.png"
    write_hald(graded, known_transform(identity_hald(2)), depth=8)
    before = graded.read_bytes()
    assert lut_tool.main(["hald-export", "--level", "2", "-o", str(graded)]) == 2
    assert capsys.readouterr().err == (f"hairfx-lut hald-export: error: {graded} already exists (an edited Hald?); "
                                       "pass --force to replace it with the identity\n")
    assert graded.read_bytes() == before
    assert lut_tool.main(["hald-export", "--level", "2", "-o", str(graded), "--force"]) == 0
    np.testing.assert_allclose(read_hald(graded).table, LUT3D.identity(4).table, atol=0.5 / 255 + 1e-6)
    (tmp_path / "folder.png").mkdir()
    assert lut_tool.main(["hald-export", "--level", "2", "-o", str(tmp_path / "folder.png")]) == 2
    assert "it is a folder; give a file name such as hald.png" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited_hald.png", "folder.png"]  # no temporary left


def test_a_baked_copy_names_its_source_from_anywhere(tmp_path, monkeypatch):
    """Baked from another folder with a relative path, the copy's first line named the
    source as typed (../src/test/recipe.toml), which means nothing from the copy's folder."""
    src = tmp_path / "src" / "test"
    write_recipe(src)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert lut_tool.main(["bake", "../src/test/recipe.toml", "-o", "../out/test"]) == 0
    first = (tmp_path / "out" / "test" / "recipe.toml").read_text().splitlines()[0]
    assert first == f"# hairfx-lut bake copied this recipe from {(src / 'recipe.toml').resolve()}; edit that one and bake again"


def test_bake_refuses_to_replace_a_folders_own_recipe_with_another(tmp_path, capsys):
    """v1/mine baked in place holds the artist's recipe and grade; baking v2's recipe into it
    replaced both without a word."""
    from hairfx.lut import write_cube

    v1, v2 = tmp_path / "v1" / "test", tmp_path / "v2" / "test"
    for folder, scale in ((v1, 0.9), (v2, 0.5)):
        write_recipe(folder, dark_effect="lut", dark_param='file = "dark_grade.cube"')
        write_cube(LUT3D(LUT3D.identity(5).table * scale), folder / "dark_grade.cube")
    assert lut_tool.main(["bake", str(v1), "-o", str(v1)]) == 0  # in place: v1's recipe is a source
    kept = {n: (v1 / n).read_bytes() for n in ("recipe.toml", "dark_grade.cube", "dark.cube")}
    assert lut_tool.main(["bake", str(v2), "-o", str(v1)]) == 2
    assert f"{v1} holds its own recipe ({v1 / 'recipe.toml'}), not a copy baked from elsewhere" in capsys.readouterr().err
    assert {n: (v1 / n).read_bytes() for n in kept} == kept
    # baked elsewhere, the folder holds a marked copy that the next bake replaces, grades and all
    out = tmp_path / "lib" / "test"
    assert lut_tool.main(["bake", str(v1), "-o", str(out)]) == 0
    assert (out / "recipe.toml").read_text().startswith(f"# hairfx-lut bake copied this recipe from {v1 / 'recipe.toml'};")
    assert load_recipe(out)["dark"] == load_recipe(v1)["dark"] | {}  # the copy reads as the recipe it copies
    assert lut_tool.main(["bake", str(v2), "-o", str(out)]) == 0
    assert (out / "dark_grade.cube").read_bytes() == (v2 / "dark_grade.cube").read_bytes()
    assert lut_tool.main(["bake", str(v2), "-o", str(v1), "--force"]) == 0  # asked for


def test_bake_takes_a_grade_named_like_a_baked_file_in_a_subfolder(tmp_path):
    from hairfx.lut import write_cube

    src = tmp_path / "src" / "test"
    write_recipe(src, dark_effect="lut", dark_param='file = "grades/dark.cube"')
    (src / "grades").mkdir()
    write_cube(LUT3D(LUT3D.identity(5).table * 0.8), src / "grades" / "dark.cube")
    out = bake_recipe(src, tmp_path / "lib" / "test")  # copied to lib/test/grades/, beside dark.cube
    assert (out / "grades" / "dark.cube").read_bytes() == (src / "grades" / "dark.cube").read_bytes()
    write_recipe(src, dark_effect="lut", dark_param='file = "./dark.cube"')
    with pytest.raises(InputError, match="lut file './dark.cube' would be overwritten by the baked dark.cube"):
        load_recipe(src)


@pytest.mark.parametrize("value", ["5", '["a"]', '""'])
def test_a_display_name_that_is_not_text_is_refused(tmp_path, value):
    recipe = write_recipe(tmp_path / "test")
    recipe.write_text(recipe.read_text().replace('display_name = "Test"', f"display_name = {value}", 1))
    with pytest.raises(InputError, match="display_name must be a non-empty string, got"):
        load_recipe(recipe)


def test_the_current_folder_is_a_colour_folder_for_bake_and_preview(tmp_path, monkeypatch, capsys):
    from hairfx.colors import get_color

    folder = tmp_path / "test"
    write_recipe(folder)
    monkeypatch.chdir(folder)
    assert lut_tool.main(["bake", "recipe.toml", "-o", "."]) == 0
    assert get_color(".").name == "test" and (folder / "light.cube").is_file()
    monkeypatch.chdir(folder / "..")
    assert get_color("test/").name == "test"


def test_new_interrupted_while_baking_leaves_no_half_made_colour(tmp_path, monkeypatch):
    import importlib

    colors = importlib.import_module("hairfx.colors")  # the module, not hairfx.colors(), the function

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(colors, "_write_cube", interrupted)
    assert lut_tool.main(["new", "plum", "--target", "#7a2e8c", "-o", str(tmp_path / "mine")]) == 130
    assert list(tmp_path.iterdir()) == []  # not even the folder it made
    monkeypatch.undo()
    assert lut_tool.main(["new", "plum", "--target", "#7a2e8c", "-o", str(tmp_path)]) == 0
    kept = {p.name: p.read_bytes() for p in (tmp_path / "plum").iterdir()}
    monkeypatch.setattr(colors, "_write_cube", interrupted)
    # replacing it with --force: the old colour stays whole
    assert lut_tool.main(["new", "plum", "--target", "#2e8c7a", "-o", str(tmp_path), "--force"]) == 130
    assert {p.name: p.read_bytes() for p in (tmp_path / "plum").iterdir()} == kept


def test_report_refuses_a_markdown_path_it_cannot_write_before_measuring(tmp_path, capsys, monkeypatch):
    from tools import palette_report

    monkeypatch.setattr(palette_report, "pick_subjects", lambda *a: pytest.fail("measured first"))
    (tmp_path / "adir").mkdir()
    assert lut_tool.main(["report", "--data", str(tmp_path), "--markdown", str(tmp_path / "adir")]) == 2
    assert f"cannot write {tmp_path / 'adir'}: it is a folder; give a file name such as PALETTE_REPORT.md" \
        in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["preview", "copper", "-o", "p.png", "--subjects", "-3"], "expected a whole number >= 0, got '-3'"),
    (["report", "--subjects", "0"], "expected a whole number >= 1, got '0'"),
])
def test_a_count_of_subjects_below_its_least_is_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        lut_tool.main(argv)
    assert exit_.value.code == 2 and f"argument --subjects: {message}" in capsys.readouterr().err
