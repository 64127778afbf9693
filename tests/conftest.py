"""Shared fixtures: tolerances, tiny colours, one GL context for every GL test."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from hairfx.colors import Color
from hairfx.icc import D50, icc_profile, icc_xyz
from hairfx.lut import LUT3D

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

# The authoring tool's tests import `tools` from the checkout. Appended, not prepended, so
# that `hairfx` itself still comes from the installed package when one is installed.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

#: PyTorch and threadpoolctl are extras (pyproject.toml), not requirements: a plain
#: ``pip install "hairfx[test]"`` runs the suite without them, and the tests that need them
#: are skipped there, each saying which extra to install. setup_env.sh and CI install both.
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_TRAIN = HAVE_TORCH and importlib.util.find_spec("threadpoolctl") is not None
TORCH_REASON = 'needs PyTorch, the torch extra: pip install "hairfx[torch]"'
TRAIN_REASON = 'needs PyTorch and threadpoolctl, the train extra: pip install "hairfx[train]"'
#: For a test that runs the torch backend or reads the .pt weights (hairfx.model, load_state_dict).
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason=TORCH_REASON)
#: For a test that trains the network or exports its weights (hairfx.training.train).
needs_train = pytest.mark.skipif(not HAVE_TRAIN, reason=TRAIN_REASON)

_opening: list[list[str]] = []  # one list per open files_opened() block


def _record_open(event: str, args: tuple) -> None:
    if event == "open" and _opening and isinstance(args[0], (str, bytes, os.PathLike)):
        for opened in _opening:
            opened.append(os.path.abspath(os.fsdecode(args[0])))


sys.addaudithook(_record_open)  # an audit hook cannot be removed: it records only inside the block


@contextmanager
def files_opened():
    """The absolute paths of the files opened inside the block (``open()``, ``os.open``,
    Pillow's and pathlib's opens: Python's ``open`` audit event), in order, in a list
    filled as they come; an open by file descriptor is not counted."""
    opened: list[str] = []
    _opening.append(opened)
    try:
        yield opened
    finally:
        _opening.remove(opened)


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


def mask_at_8_bits(mask: np.ndarray) -> np.ndarray:
    """The mask as both renderers take it, in float64: ``m * 255`` in float32 rounded to the
    nearest level (ties to even), over 255. Written with numpy, apart from the OpenCV pass
    the renderers use (:func:`hairfx.frames.mask_levels`)."""
    return np.rint(np.asarray(mask, np.float32) * np.float32(255.0)).astype(np.float64) / 255.0


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


def interrupted_while_loading(cmd, loaded: str, after: float, *, twice: bool = False,
                              env=None) -> subprocess.CompletedProcess:
    """Run ``cmd`` in the checkout and send it SIGINT ``after`` seconds after a shared
    library whose path holds ``loaded`` appears in its memory map (so the signal lands
    while that module is loading, or at a known moment after), again 10 ms later if
    ``twice``. Needs Linux's /proc."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        maps = Path(f"/proc/{proc.pid}/maps")
        while loaded not in maps.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, f"{loaded} was never loaded"
            time.sleep(0.0005)
        time.sleep(after)
        proc.send_signal(signal.SIGINT)
        if twice:
            time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


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


#: A small XMP packet, as the toolkits wrap it: a rating.
XMP_PACKET = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
              b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
              b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>')


def iptc_record(**datasets: str) -> bytes:
    """IPTC-IIM's application record (2) holding ``datasets`` (keywords=..., caption=...),
    each as IIM writes it: tag marker 0x1C, record, dataset number, 2-byte size, data."""
    numbers = {"keywords": 25, "byline": 80, "caption": 120, "copyright": 116}
    return b"".join(bytes([0x1C, 2, numbers[name]]) + struct.pack(">H", len(text.encode())) + text.encode()
                    for name, text in datasets.items())


def photoshop_resource(number: int, data: bytes, name: bytes = b"") -> bytes:
    """One of Photoshop's image resources: "8BIM", its number, its name as a Pascal string
    padded to an even length, the data's size, the data padded to an even length."""
    pascal = bytes([len(name)]) + name
    return (b"8BIM" + struct.pack(">H", number) + pascal + bytes(len(pascal) % 2) + struct.pack(">I", len(data))
            + data + bytes(len(data) % 2))


def grey_profile(gamma: float) -> bytes:
    """An ICC v2 grey display profile with a pure power-law tone curve."""
    curve = b"curv" + bytes(4) + struct.pack(">I", 1) + struct.pack(">H", round(gamma * 256))
    return icc_profile(b"mntrGRAYXYZ ", f"Gamma {gamma} grey", [(b"wtpt", icc_xyz(D50)), (b"kTRC", curve)])


def camera_exif(order: str = "<", *, color_space: int | None = 0xFFFF, index: bytes | None = b"R03",
                maker_note: bytes | None = None) -> bytes:
    """EXIF as a camera writes it: IFD0 pointing to the Exif IFD, which holds ColorSpace
    (SHORT) and points to the Interoperability IFD, which holds the DCF index ("R98" for
    sRGB, "R03" for the Adobe RGB option file: four ASCII bytes, held in the entry); with
    ``maker_note``, the Exif IFD's MakerNote (UNDEFINED) holds it, after the IFDs."""
    def ifd(entries):
        out = struct.pack(order + "H", len(entries))
        for tag, kind, count, field in entries:
            out += struct.pack(order + "HHI", tag, kind, count) + field
        return out + bytes(4)

    exif_at = 8 + 2 + 12 + 4
    exif_count = 1 + (color_space is not None) + (maker_note is not None)
    interop_at = exif_at + 2 + 12 * exif_count + 4
    interop = [] if index is None else [(0x0001, 2, 4, index + b"\0")]
    note_at = interop_at + 2 + 12 * len(interop) + 4
    exif_entries = [] if maker_note is None else [(0x927C, 7, len(maker_note), struct.pack(order + "I", note_at))]
    if color_space is not None:
        exif_entries.append((0xA001, 3, 1, struct.pack(order + "HH", color_space, 0)))
    exif_entries.append((0xA005, 4, 1, struct.pack(order + "I", interop_at)))
    data = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8)
    data += ifd([(0x8769, 4, 1, struct.pack(order + "I", exif_at))])
    return data + ifd(exif_entries) + ifd(interop) + (maker_note or b"")


def nikon_maker_note(preview: bytes) -> bytes:
    """A maker note as Nikon's cameras write it (type 3): "Nikon\\0", version 2.10, then a
    TIFF structure of its own (big-endian, offsets counted from its header) whose
    PreviewIFD (0x0011) locates ``preview``, a JPEG of the photo, by its
    PreviewImageStart and PreviewImageLength (0x0201, 0x0202), as exiftool documents it."""
    def entry(tag, kind, count, field):
        return struct.pack(">HHI", tag, kind, count) + field

    preview_ifd_at = 8 + 2 + 12 * 2 + 4
    jpeg_at = preview_ifd_at + 2 + 12 * 3 + 4
    ifd0 = struct.pack(">H", 2) + entry(0x0001, 7, 4, b"0210") + entry(0x0011, 13, 1, struct.pack(">I", preview_ifd_at))
    preview_ifd = (struct.pack(">H", 3) + entry(0x0103, 3, 1, struct.pack(">HH", 6, 0))  # Compression: JPEG
                   + entry(0x0201, 4, 1, struct.pack(">I", jpeg_at)) + entry(0x0202, 4, 1, struct.pack(">I", len(preview))))
    return b"Nikon\0\x02\x10\0\0" + b"MM\0*" + struct.pack(">I", 8) + ifd0 + bytes(4) + preview_ifd + bytes(4) + preview


def png_with_late_exif(rgb: np.ndarray, exif: bytes) -> bytes:
    """A PNG of ``rgb`` whose ``eXIf`` chunk holding ``exif`` comes after the pixel data,
    where ImageMagick writes it (and where Pillow does not look without decoding)."""
    import zlib

    import cv2

    png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes()
    chunk = struct.pack(">I", len(exif)) + b"eXIf" + exif + struct.pack(">I", zlib.crc32(b"eXIf" + exif))
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


def tiff_photo(rgb: np.ndarray, exif: bytes, *, icc_profile: bytes | None = None, xmp: bytes | None = None) -> bytes:
    """An uncompressed RGB TIFF of ``rgb`` whose tags are those of the EXIF block ``exif``
    (a TIFF structure) and the ones that lay out its pixels, as a camera or a raw converter
    writes one: the block starts the file, so its offsets still hold, and a new IFD0 after
    the pixels holds its IFD0's entries (its sub-IFD pointers among them) with the others,
    and the ``icc_profile`` and ``xmp`` packet given (tags 34675, UNDEFINED, and 700, BYTE)."""
    order = {b"II": "<", b"MM": ">"}[exif[:2]]
    h, w = rgb.shape[:2]
    ifd0 = struct.unpack_from(order + "I", exif, 4)[0]
    entries = {struct.unpack_from(order + "H", exif, ifd0 + 2 + 12 * k)[0]: exif[ifd0 + 2 + 12 * k : ifd0 + 14 + 12 * k]
               for k in range(struct.unpack_from(order + "H", exif, ifd0)[0])}
    data = bytearray(exif + bytes(len(exif) % 2))

    def put(value: bytes) -> int:  # a value outside its entry, on a word boundary
        at = len(data)
        data.extend(value + bytes(len(value) % 2))
        return at

    def entry(tag, kind, count, field):
        entries[tag] = struct.pack(order + "HHI", tag, kind, count) + field

    def long(value):
        return struct.pack(order + "I", value)

    pixels = put(np.ascontiguousarray(rgb, np.uint8).tobytes())
    entry(0x0100, 4, 1, long(w))
    entry(0x0101, 4, 1, long(h))
    entry(0x0102, 3, 3, long(put(struct.pack(order + "3H", 8, 8, 8))))  # BitsPerSample
    entry(0x0103, 3, 1, struct.pack(order + "HH", 1, 0))  # no compression
    entry(0x0106, 3, 1, struct.pack(order + "HH", 2, 0))  # RGB
    entry(0x0111, 4, 1, long(pixels))  # one strip
    entry(0x0115, 3, 1, struct.pack(order + "HH", 3, 0))
    entry(0x0116, 4, 1, long(h))
    entry(0x0117, 4, 1, long(w * h * 3))
    if icc_profile:
        entry(0x8773, 7, len(icc_profile), long(put(icc_profile)))
    if xmp:
        entry(0x02BC, 1, len(xmp), long(put(xmp)))
    at = len(data)
    data += struct.pack(order + "H", len(entries)) + b"".join(entries[tag] for tag in sorted(entries)) + bytes(4)
    data[4:8] = long(at)
    return bytes(data)


def as_bigtiff(tiff: bytes, *, long8: tuple[int, ...] = ()) -> bytes:
    """The classic TIFF file ``tiff`` (one strip, as :func:`tiff_photo` writes) as a
    BigTIFF, laid out by its specification as libtiff writes one: the header is version 43,
    the offset size 8 and IFD0's 8-byte offset, so the classic file's bytes after its header
    move 8 bytes on; IFD0 and the Exif, GPS and Interoperability IFDs it points to are
    written anew after them, each an 8-byte count of 20-byte entries (tag, type, 8-byte
    count, 8-byte value field) and an 8-byte link. A value of up to 8 bytes is held in its
    entry, a longer one stays where it lay; the strip's offset is a LONG8, the sub-IFD
    pointers IFD8s, and so is the one SHORT or LONG value of each tag of ``long8``."""
    order = {b"II": "<", b"MM": ">"}[tiff[:2]]
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
    out = bytearray(tiff[:2] + struct.pack(order + "HHHQ", 43, 8, 0, 0) + tiff[8:])

    def laid_out(at: int) -> int:  # the classic IFD at ``at`` written as a BigTIFF's; where it lies
        entries = []
        for k in range(struct.unpack_from(order + "H", tiff, at)[0]):
            tag, kind, count, field = struct.unpack_from(order + "HHI4s", tiff, at + 2 + 12 * k)
            offset, size = struct.unpack(order + "I", field)[0], sizes[kind] * count
            if tag in (0x8769, 0x8825, 0xA005):  # Exif, GPS, Interoperability IFD
                entries.append((tag, 18, 1, struct.pack(order + "Q", laid_out(offset))))
            elif tag == 0x0111:  # StripOffsets
                assert count == 1
                entries.append((tag, 16, 1, struct.pack(order + "Q", offset + 8)))
            elif tag in long8:
                assert kind in (3, 4) and count == 1
                value = struct.unpack_from(order + ("H" if kind == 3 else "I"), field)[0]
                entries.append((tag, 16, 1, struct.pack(order + "Q", value)))
            elif size <= 4:
                entries.append((tag, kind, count, field[:size].ljust(8, b"\0")))
            elif size <= 8:
                entries.append((tag, kind, count, tiff[offset : offset + size].ljust(8, b"\0")))
            else:
                entries.append((tag, kind, count, struct.pack(order + "Q", offset + 8)))
        out.extend(bytes(len(out) % 2))
        where = len(out)
        out.extend(struct.pack(order + "Q", len(entries)))
        for tag, kind, count, value in entries:
            out.extend(struct.pack(order + "HHQ", tag, kind, count) + value)
        out.extend(bytes(8))
        return where

    out[8:16] = struct.pack(order + "Q", laid_out(struct.unpack_from(order + "I", tiff, 4)[0]))
    return bytes(out)
