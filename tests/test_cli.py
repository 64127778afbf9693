"""The hairfx console script: recolor, colors, bench, and its error reporting."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

import hairfx
from conftest import REPO
from hairfx.cli import main

REF = REPO / "reference_images"


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


@pytest.mark.parametrize(
    "args, message",
    [
        (["--color", "mauvish"], "unknown colour 'mauvish'; valid colours:"),
        (["--color", "copper", "--strength", "3"], "strength must be in [0, 1]"),
        (["--color", "#12345"], "'#12345'"),
    ],
)
def test_recolor_errors_are_reported_not_raised(tmp_path, capsys, args, message):
    rc = main(["recolor", str(REF / "dark.png"), "--mask", str(REF / "dark_mask.png"), "-o", str(tmp_path / "o.png"), *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("hairfx recolor: error:") and message in err


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
                         (tmp_path, "it is a folder")]:
        assert main(["recolor", str(photo), "--color", "copper", "-o", str(out)]) == 2
        assert message in capsys.readouterr().err
    assert photo.read_bytes() == before and not ran  # refused before the model ran


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
    for row in (line.split() for line in out.splitlines() if line.startswith(("1280x720", "1920x1080"))):
        assert float(row[3]) <= float(row[4])  # p90 never below the median, even of two runs


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

    closed = []
    real_close = CpuRenderer.close
    monkeypatch.setattr(CpuRenderer, "close", lambda self: (closed.append(self), real_close(self)))
    with pytest.raises(InputError):
        bench.run_bench(repeat=2, baseline=False, image=tmp_path / "absent.png", mask=tmp_path / "absent_mask.png")
    assert len(closed) == 1
    with pytest.raises(InputError, match="repeat must be at least 1, got 0"):
        bench.run_bench(repeat=0)


def test_cli_and_package_import_neither_opencv_nor_torch():
    """`hairfx --help` stays instant: the heavy libraries load inside the commands."""
    code = "import sys, hairfx, hairfx.cli, hairfx.presets; print('cv2' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
