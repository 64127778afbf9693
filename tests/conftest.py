"""Shared fixtures: tolerances, tiny colours, one GL context for every GL test."""

from __future__ import annotations

import shutil
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from hairfx.colors import Color
from hairfx.lut import LUT3D

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

# The authoring tool's tests import `tools` from the checkout. Appended, not prepended, so
# that `hairfx` itself still comes from the installed package when one is installed.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

def in_thread(fn, *args):
    """``fn(*args)`` in a thread of its own, waited for: its result, or its exception
    raised here (a failure in the thread is not lost)."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - raised again below, in the test's thread
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")


def in_threads(work, n: int) -> list:
    """Run ``work(i)`` for i < n in n threads started together; their results (or the
    exceptions they raised), in order."""
    start, results = threading.Barrier(n), [None] * n

    def run(i):
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in the thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


#: Largest per-channel difference (8-bit levels) allowed between two implementations of the
#: same math (GL vs CPU, CPU vs ffmpeg): one level, from float rounding at .5 boundaries.
TOL_LEVELS = 1
#: Largest difference between float table values that should be equal after a .cube round
#: trip written with 6 decimals.
TOL_CUBE = 5e-7


def graded(size: int, gain, gamma: float) -> LUT3D:
    """A smooth, clearly non-identity LUT: ``clip(gain * x ** gamma, 0, 1)`` per channel."""
    ident = LUT3D.identity(size).table
    return LUT3D(np.clip(np.asarray(gain, np.float32) * ident**gamma, 0.0, 1.0).astype(np.float32))


@pytest.fixture
def copperish() -> Color:
    """A made-up warm colour: strong enough that every hair pixel changes."""
    return Color(
        name="copperish",
        display_name="Copperish",
        swatch="#b4532a",
        light=graded(17, (1.0, 0.62, 0.42), 1.3),
        dark=graded(17, (1.6, 0.9, 0.6), 0.7),
        light_intensity=0.6,
        dark_intensity=0.2,
    )


@pytest.fixture
def identity_color() -> Color:
    ident = LUT3D.identity(9)
    return Color("ident", "Identity", "#808080", ident, ident, 0.7, 0.1)


@pytest.fixture
def portrait() -> tuple[np.ndarray, np.ndarray]:
    """A real photo and its hair mask, from the project's reference images."""
    import cv2

    img = cv2.imread(str(REPO / "reference_images" / "dark.png"), cv2.IMREAD_COLOR)
    m = cv2.imread(str(REPO / "reference_images" / "dark_mask.png"), cv2.IMREAD_GRAYSCALE)
    if img is None or m is None:
        pytest.fail("reference_images/dark.png and dark_mask.png are part of the project and must exist")
    # a soft edge, like a model's mask
    soft = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 2.0)
    soft[soft < 1.0 / 255.0] = 0.0
    return np.ascontiguousarray(img[:, :, ::-1]), soft


@pytest.fixture(scope="session")
def gl_context():
    """One GL context for all GL tests; skip them, with the reason, where none can be made."""
    from hairfx.errors import RendererUnavailable
    from hairfx.render_gl import create_context

    try:
        ctx = create_context()
    except RendererUnavailable as exc:
        pytest.skip(f"no OpenGL context: {exc}")
    yield ctx
    ctx.release()


@pytest.fixture
def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.skip("ffmpeg is not installed")
    return exe


def read_only_folder(tmp_path: Path) -> Path:
    """An empty folder made read-only (0o500; the caller makes it writable again), or a
    skip where the user writes into it anyway (root, or anyone with CAP_DAC_OVERRIDE)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        (ro / "probe").touch()
    except PermissionError:
        return ro
    (ro / "probe").unlink()
    ro.chmod(0o700)
    pytest.skip("this user writes into read-only folders (root)")


def matrix_shaper_profile(colourspace: str) -> bytes:
    """An ICC v2 matrix/TRC display profile of one of colour-science's RGB colourspaces
    ("Display P3", "Adobe RGB (1998)", "sRGB"), made from its primaries, white point and
    transfer function (a 1024-entry curve): what cameras, phones and editors embed. Made
    here because Pillow creates only sRGB and Lab profiles, and shipped profiles are not
    ours to copy."""
    return _icc_profile(b"mntrRGB XYZ ", colourspace, _rgb_tags(colourspace))


def grey_profile(gamma: float) -> bytes:
    """An ICC v2 grey display profile with a pure power-law tone curve."""
    curve = b"curv" + bytes(4) + struct.pack(">I", 1) + struct.pack(">H", round(gamma * 256))
    return _icc_profile(b"mntrGRAYXYZ ", f"Gamma {gamma} grey", [(b"wtpt", _icc_xyz(_D50)), (b"kTRC", curve)])


_D50 = (0.9642, 1.0, 0.8249)  # the ICC profile connection space's white


def _icc_xyz(v) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(struct.pack(">i", round(float(c) * 65536)) for c in v)


def _rgb_tags(name: str) -> list:
    from hairfx._colour import colour_science

    colour = colour_science()
    cs = colour.RGB_COLOURSPACES[name]
    d50 = colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"])
    adapt = colour.adaptation.matrix_chromatic_adaptation_VonKries(colour.xy_to_XYZ(cs.whitepoint), d50, "Bradford")
    m = adapt @ cs.matrix_RGB_to_XYZ  # columns: the primaries' XYZ under D50, as ICC wants them
    curve = np.clip(cs.cctf_decoding(np.linspace(0.0, 1.0, 1024)), 0.0, 1.0)
    curv = b"curv" + bytes(4) + struct.pack(">I", 1024) + np.round(curve * 65535).astype(">u2").tobytes()
    return [(b"wtpt", _icc_xyz(_D50)), (b"rXYZ", _icc_xyz(m[:, 0])), (b"gXYZ", _icc_xyz(m[:, 1])),
            (b"bXYZ", _icc_xyz(m[:, 2])), (b"rTRC", curv), (b"gTRC", curv), (b"bTRC", curv)]


def _icc_profile(classes: bytes, name: str, tags: list) -> bytes:
    """An ICC v2.1 profile: ``classes`` is the header's class, colour space and connection
    space (12 bytes), ``tags`` (signature, body) pairs; a description and copyright are added."""
    text = name.encode("ascii") + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    tags = [(b"desc", desc), (b"cprt", b"text" + bytes(4) + b"none\0"), *tags]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    header = (struct.pack(">I", 128 + len(body)) + b"none" + bytes([2, 0x10, 0, 0]) + classes + bytes(12) + b"acsp"
              + b"none" + bytes(4 + 4 + 4 + 8 + 4) + _icc_xyz(_D50)[8:] + b"none" + bytes(44))
    assert len(header) == 128
    return header + body
