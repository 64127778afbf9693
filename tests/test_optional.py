"""PyTorch is an extra: without it recolouring and masks work and never ask for it, and
everything that needs it (the torch backend, hairfx.model, `hairfx train`) says what to
install. Each check runs in a fresh interpreter where torch and threadpoolctl cannot be
imported, as after a plain ``pip install hairfx``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import hairfx
from conftest import REPO
from hairfx._optional import require
from hairfx.errors import HairfxError, MissingDependency

REF = REPO / "reference_images"

#: Run first in each interpreter: torch and threadpoolctl (and their submodules) are not
#: there, as where they are not installed, and every attempt to import them is recorded.
NO_TORCH = """
import sys

class _NotInstalled:
    asked = []

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "threadpoolctl"):
            _NotInstalled.asked.append(name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _without_torch(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``code`` (after :data:`NO_TORCH`) in a fresh interpreter, ``args`` as its ``sys.argv[1:]``;
    the hairfx these tests import, the checkout's or an installed one."""
    env = {**os.environ, "PYTHONPATH": str(Path(hairfx.__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-c", NO_TORCH + code, *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)


def _hairfx_without_torch(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The ``hairfx`` command with ``args``, without torch."""
    return _without_torch("from hairfx.cli import main\nsys.exit(main())", *args, cwd=cwd)


def test_recolouring_and_masks_work_without_torch_and_never_ask_for_it():
    code = f"""
import cv2
import numpy as np
import hairfx
from hairfx.segmenter import Segmenter

rgb = cv2.imread({str(REF / "dark.png")!r})[:, :, ::-1].copy()
out = hairfx.recolor(rgb, "copper", renderer="cpu")
changed = float((out != rgb).any(axis=2).mean())
seg = Segmenter()
mask = seg.predict(rgb)
print(changed, seg.backend, mask.shape == rgb.shape[:2], float((mask > 0.5).mean()))
print(_NotInstalled.asked, "torch" in sys.modules)
"""
    done = _without_torch(code)
    assert done.returncode == 0, done.stderr
    recoloured, backend, shape_ok, hair = done.stdout.splitlines()[0].split()
    assert 0.05 < float(recoloured) < 0.6  # the hair of the photo, not nothing and not all of it
    assert backend == "onnxruntime" and shape_ok == "True" and 0.05 < float(hair) < 0.6
    assert done.stdout.splitlines()[1] == "[] False"


def test_what_needs_torch_says_so_and_names_the_extra():
    code = """
from hairfx.errors import HairfxError, MissingDependency
from hairfx.segmenter import Segmenter, load_state_dict

for attempt in (lambda: Segmenter("small", backend="torch"), lambda: Segmenter("full", backend="torch"),
                lambda: load_state_dict("small"), lambda: __import__("hairfx.model"),
                lambda: __import__("hairfx.training.train")):
    try:
        attempt()
    except MissingDependency as exc:
        print(isinstance(exc, HairfxError), isinstance(exc, ImportError), exc)
    else:
        print("no error")
"""
    done = _without_torch(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "True True the torch backend (backend='torch') needs PyTorch, which is not installed: "
        'pip install "hairfx[torch]"',
    ] * 2 + [
        'True True reading the PyTorch weights (small.pt) needs PyTorch, which is not installed: pip install "hairfx[torch]"',
        "True True hairfx.model (the hair-mask network in PyTorch) needs PyTorch, which is not installed: "
        'pip install "hairfx[torch]"',
        "True True training the hair-mask network or exporting its weights needs PyTorch, which is not installed: "
        'pip install "hairfx[train]"',
    ]


def test_weights_without_their_onnx_file_say_that_pytorch_would_run_them(tmp_path):
    """"auto" takes the torch backend for weights that have no ONNX file (``--no-onnx``):
    without PyTorch that is said, not an ImportError's traceback. Weights of neither kind
    are missing weights, as with PyTorch."""
    import shutil

    from hairfx.segmenter import WEIGHTS_DIR

    pt_only, neither = tmp_path / "pt_only", tmp_path / "neither"
    for folder in (pt_only, neither):
        folder.mkdir()
        shutil.copy(WEIGHTS_DIR / "weights.json", folder)
    shutil.copy(WEIGHTS_DIR / "small.pt", pt_only)
    code = f"""
from hairfx.errors import HairfxError
from hairfx.segmenter import Segmenter

for folder in ({str(pt_only)!r}, {str(neither)!r}):
    try:
        Segmenter("small", weights_dir=folder)
    except HairfxError as exc:
        print(type(exc).__name__, exc)
"""
    done = _without_torch(code)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == (f"MissingDependency {pt_only} holds no ONNX weights for 'small' (small.onnx, with its SHA-256 "
                     "in weights.json), which ONNX Runtime and OpenCV run, and running its PyTorch weights (small.pt) "
                     'needs PyTorch, which is not installed: pip install "hairfx[torch]"')
    assert second.startswith(f"WeightsError weights file {neither / 'small.pt'} is missing; train it with")


def test_hairfx_train_without_torch_is_one_line_and_status_2(tmp_path):
    done = _hairfx_without_torch("train", "--model", "small", "--data", str(tmp_path), "--out", str(tmp_path / "run"))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("hairfx train: error: training the hair-mask network or exporting its weights needs "
                           'PyTorch, which is not installed: pip install "hairfx[train]"\n')
    assert not (tmp_path / "run").exists()
    shown = _hairfx_without_torch("train", "--help")  # the options are there to read
    assert shown.returncode == 0 and shown.stdout.startswith("usage: hairfx train"), shown.stderr


@pytest.mark.parametrize("argv, says", [
    (["--no-onnx"], "--no-onnx only goes with --export CKPT"),
    (["--teacher", "t.pt"], "--teacher needs --distill W: the teachers' masks are a distillation target"),
    (["--distill", "1"], "--distill needs --init: the starting weights are the teacher"),
    (["--resume", "--init", "a.pt"], "--init a.pt starts a run from other weights; a resumed run goes on from its "
                                     "own last.pt: leave out --init"),
])  # fmt: skip
def test_hairfx_train_without_torch_says_an_option_error_before_the_missing_torch(tmp_path, argv, says):
    """Options that do not go together were found only once PyTorch had been imported: a
    user without it was told to install it, then, after installing several GB, that the
    command line was wrong."""
    done = _hairfx_without_torch("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *argv)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"hairfx train: error: {says}\n")
    assert not (tmp_path / "run").exists()


def test_bench_mask_without_torch_times_the_other_runtimes_and_refuses_torch():
    done = _hairfx_without_torch("bench-mask", "--model", "small", "--frames", "1", "--size", "64x48")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "torch not installed" in lines[0]
    assert lines[1] == 'torch backend not timed: PyTorch is not installed (pip install "hairfx[torch]")'
    assert [line.split(" | ")[1] for line in lines if line.startswith("| small |")] == ["onnxruntime", "opencv"]
    asked = _hairfx_without_torch("bench-mask", "--model", "small", "--frames", "1", "--backend", "torch")
    assert (asked.returncode, asked.stdout) == (2, "")
    assert asked.stderr == ("hairfx bench-mask: error: the torch backend (--backend torch) needs PyTorch, which is "
                            'not installed: pip install "hairfx[torch]"\n')


def test_require_names_what_needed_the_package_and_the_extra():
    with pytest.raises(MissingDependency) as caught:
        require("hairfx_no_such_package", "the example", "train")
    assert str(caught.value) == ('the example needs hairfx_no_such_package, which is not installed: '
                                 'pip install "hairfx[train]"')
    assert isinstance(caught.value, HairfxError) and isinstance(caught.value, ImportError)
    assert require("math", "the example", "torch").sqrt(4.0) == 2.0


def test_require_says_when_a_package_is_there_but_cannot_be_imported(tmp_path, monkeypatch):
    """PyTorch installed, but a library it loads missing: "not installed" would mislead."""
    (tmp_path / "hairfx_broken_package.py").write_text("import hairfx_its_missing_part\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependency, match=r"^the example needs hairfx_broken_package, which cannot be imported "
                                                r"\(No module named 'hairfx_its_missing_part'\): pip install"):
        require("hairfx_broken_package", "the example", "torch")
