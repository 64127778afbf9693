"""hairfx.imagefiles: what the commands accept and refuse as image and mask files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import REPO, XMP_PACKET
from hairfx.errors import InputError, MissingFileError
from hairfx.imagefiles import read_mask, read_photo, read_rgb, write_rgb


def test_rgb_round_trip_and_grey_expansion(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red, so a BGR/RGB mix-up shows
    np.testing.assert_array_equal(read_rgb(write_rgb(tmp_path / "a" / "x.png", rgb)), rgb)
    cv2.imwrite(str(tmp_path / "g.png"), np.full((3, 3), 77, np.uint8))
    np.testing.assert_array_equal(read_rgb(tmp_path / "g.png"), np.full((3, 3, 3), 77, np.uint8))


def test_rgb_refusals(tmp_path):
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 2] = 200
    rgba[0, 0, 3] = 255  # one opaque pixel, eight transparent
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    with pytest.raises(InputError, match=r"a.png: has transparent pixels \(8 of 9\); flatten it onto a background"):
        read_rgb(tmp_path / "a.png")
    rgba[..., 3] = 255  # fully opaque, as screenshot tools save: the alpha channel is dropped
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    expected = np.zeros((3, 3, 3), np.uint8)
    expected[..., 0] = 200  # red: BGRA read as RGB
    np.testing.assert_array_equal(read_rgb(tmp_path / "a.png"), expected)
    cv2.imwrite(str(tmp_path / "d.png"), np.zeros((3, 3, 3), np.uint16))
    with pytest.raises(InputError, match=r"expected an 8-bit image, got uint16 \(16 bits per channel\); save it with 8"):
        read_rgb(tmp_path / "d.png")
    (tmp_path / "t.png").write_text("not a picture")
    with pytest.raises(InputError, match="not an image OpenCV can read"):
        read_rgb(tmp_path / "t.png")
    with pytest.raises(MissingFileError, match="image not found"):
        read_rgb(tmp_path / "missing.png")
    with pytest.raises(InputError, match=r"cannot write .*x\.nope: OpenCV has no writer for \.nope"):
        write_rgb(tmp_path / "x.nope", np.zeros((2, 2, 3), np.uint8))
    for grey in ("x.pgm", "x.pbm"):  # OpenCV has writers for them, of grey pictures only
        with pytest.raises(InputError, match=rf"cannot write .*{grey}: a \.p.m file holds a grey picture only"):
            write_rgb(tmp_path / grey, np.zeros((2, 2, 3), np.uint8))
    assert not list(tmp_path.glob("x.*"))


def test_a_failed_write_keeps_the_file_that_was_there(tmp_path, monkeypatch):
    """A full disk or any other write error must not leave the old image deleted or half
    written (cv2.imwrite onto the target did both)."""
    from hairfx import _files

    old = tmp_path / "photo.png"
    cv2.imwrite(str(old), np.full((4, 4, 3), 7, np.uint8))
    before = old.read_bytes()

    class Full(Path().__class__):
        def write_bytes(self, data):
            super().write_bytes(data[: len(data) // 2])
            raise OSError(28, "No space left on device")

    real = _files.replacing

    @contextlib.contextmanager
    def full_disk(path):
        with real(path) as tmp:
            yield Full(tmp)

    monkeypatch.setattr(_files, "replacing", full_disk)
    with pytest.raises(InputError, match="could not write .*photo.png: No space left on device"):
        write_rgb(old, np.zeros((4, 4, 3), np.uint8))
    assert old.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_output_checks_come_before_the_work(tmp_path):
    from hairfx.imagefiles import check_output_image

    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.zeros((2, 2, 3), np.uint8))
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder.png").mkdir()
    for out, message in [
        (tmp_path / "file" / "o.png", "file is a file"),
        (tmp_path / "folder.png", "it is a folder"),
        (tmp_path / "result", "no writer for a name without an extension"),
        (src, "it is the input"),
    ]:
        with pytest.raises(InputError, match=message):
            check_output_image(out, inputs=(src,))
    assert check_output_image(tmp_path / "new" / "o.jpg", inputs=(src,)) == tmp_path / "new" / "o.jpg"


def test_a_truncated_jpeg_is_refused_not_filled_with_grey(tmp_path):
    photo = REPO / "reference_images" / "dark.png"
    cv2.imwrite(str(tmp_path / "whole.jpg"), cv2.imread(str(photo)))
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "padded.jpg").write_bytes(data + b"\x00" * 100)  # as some cameras write: fine
    (tmp_path / "motion.jpg").write_bytes(data + b"\x00\x00\x00\x18ftypmp42" + bytes(2048) + b"SEFT")  # a motion photo
    for cut in (len(data) // 2, 300):  # in the image data, in the headers
        (tmp_path / "half.jpg").write_bytes(data[:cut])
        with pytest.raises(InputError, match="half.jpg: the JPEG data ends early"):
            read_rgb(tmp_path / "half.jpg")
    for fine in ("padded.jpg", "motion.jpg"):
        np.testing.assert_array_equal(read_rgb(tmp_path / fine), read_rgb(tmp_path / "whole.jpg"))


def test_masks(tmp_path):
    cv2.imwrite(str(tmp_path / "m16.png"), np.full((2, 3), 65535, np.uint16))
    np.testing.assert_array_equal(read_mask(tmp_path / "m16.png"), np.ones((2, 3), np.float32))
    cv2.imwrite(str(tmp_path / "grey_rgb.png"), np.full((2, 3, 3), 255, np.uint8))
    np.testing.assert_array_equal(read_mask(tmp_path / "grey_rgb.png"), np.ones((2, 3), np.float32))
    colour = np.zeros((2, 3, 3), np.uint8)
    colour[..., 2] = 255
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    with pytest.raises(InputError, match="differing channels"):
        read_mask(tmp_path / "colour.png")
    with pytest.raises(InputError, match="is 3x2 but the image is 4x4"):
        read_mask(tmp_path / "m16.png", (4, 4))
    cv2.imwrite(str(tmp_path / "labels.png"), np.eye(3, dtype=np.uint8))  # a 0/1 label map
    with pytest.raises(InputError, match=r"labels\.png is uint8 with values 0\.\.1"):
        read_mask(tmp_path / "labels.png")


def test_a_mask_kept_in_the_alpha_channel_is_refused_not_read_as_empty(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 3] = [[0, 255, 255], [0, 0, 255]]  # the hair painted as opacity, colour black
    cv2.imwrite(str(tmp_path / "alpha.png"), rgba)
    with pytest.raises(InputError, match="alpha.png has transparent pixels; .*grey level"):
        read_mask(tmp_path / "alpha.png")
    rgba[..., :3] = 255
    rgba[..., 3] = 255  # an opaque grey image saved with an alpha channel reads as usual
    cv2.imwrite(str(tmp_path / "opaque.png"), rgba)
    np.testing.assert_array_equal(read_mask(tmp_path / "opaque.png"), np.ones((2, 3), np.float32))


# ----------------------------------------------------------------------- EXIF orientation

#: Largest per-channel difference (8-bit levels) between OpenCV's and Pillow's decodes of
#: the same JPEG (their IDCTs round differently).
TOL_JPEG_DECODERS = 2
ORIENTATIONS = range(1, 9)


def asymmetric_rgb(h: int = 24, w: int = 40) -> np.ndarray:
    """Red runs left to right and green top to bottom, so every flip and turn shows."""
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = xx * 255 // (w - 1)
    rgb[..., 1] = yy * 255 // (h - 1)
    rgb[..., 2] = 60
    return rgb


def save_with_orientation(path, array: np.ndarray, orientation: int, **options):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(path, exif=exif, **options)
    return path


def upright(path) -> np.ndarray:
    """The oracle: Pillow's own reading of the file, turned by ``ImageOps.exif_transpose``."""
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


def assert_same_jpeg(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= TOL_JPEG_DECODERS


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_png_exif_orientation_matches_pillow(tmp_path, orientation):
    path = save_with_orientation(tmp_path / "o.png", asymmetric_rgb(), orientation)
    with Image.open(path) as im:
        assert im.getexif().get(0x0112) == orientation  # Pillow wrote an eXIf chunk
    got = read_rgb(path)
    np.testing.assert_array_equal(got, upright(path))
    assert got.flags.c_contiguous


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_jpeg_exif_orientation_matches_pillow(tmp_path, orientation):
    path = save_with_orientation(tmp_path / "o.jpg", asymmetric_rgb(), orientation, quality=95, subsampling=0)
    assert_same_jpeg(read_rgb(path), upright(path))


def test_mask_exif_orientation(tmp_path):
    mask = np.zeros((4, 6), np.uint8)
    mask[0, :2] = 255  # top left
    path = save_with_orientation(tmp_path / "m.png", mask, 6)  # shown turned 90 degrees clockwise
    want = np.zeros((6, 4), np.float32)
    want[:2, -1] = 1.0  # top right
    np.testing.assert_array_equal(read_mask(path), want)
    path16 = save_with_orientation(tmp_path / "m16.png", mask.astype(np.uint16) * 257, 6)
    np.testing.assert_array_equal(read_mask(path16, (6, 4)), want)


def test_files_without_orientation_are_unchanged(tmp_path):
    rgb = asymmetric_rgb()
    Image.fromarray(rgb).save(tmp_path / "plain.png")
    np.testing.assert_array_equal(read_rgb(tmp_path / "plain.png"), rgb)
    save_with_orientation(tmp_path / "one.png", rgb, 1)
    np.testing.assert_array_equal(read_rgb(tmp_path / "one.png"), rgb)
    Image.fromarray(rgb).save(tmp_path / "plain.jpg", quality=95, subsampling=0)
    assert_same_jpeg(read_rgb(tmp_path / "plain.jpg"), upright(tmp_path / "plain.jpg"))


def _xmp_orientation(value: int, *, element: bool = False) -> bytes:
    """An XMP packet stating ``tiff:Orientation`` as an attribute, or as an element."""
    head = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"')
    if element:
        return head + b"><tiff:Orientation>%d</tiff:Orientation></rdf:Description></rdf:RDF></x:xmpmeta>" % value
    return head + b' tiff:Orientation="%d"/></rdf:RDF></x:xmpmeta>' % value


def _jpeg_with_xmp(path, rgb: np.ndarray, xmp: bytes, **options) -> None:
    """A JPEG (Pillow's encoding, with ``options``) with ``xmp`` in an APP1 segment after SOI."""
    import io
    import struct

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95, subsampling=0, **options)
    body = b"http://ns.adobe.com/xap/1.0/\0" + xmp
    data = buf.getvalue()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", 2 + len(body)) + body + data[2:])


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
@pytest.mark.parametrize("element", [False, True])
def test_the_xmp_orientation_turns_a_photo_whose_exif_states_none(tmp_path, suffix, element):
    """Photo software (and Pillow, from 11.1 for PNGs, later for the rest) turns a photo by
    its XMP's tiff:Orientation where its EXIF states none; hairfx did so for JPEG and WebP
    only with some Pillow versions, never for PNG, and not for TIFF, which OpenCV turns by
    its EXIF's only."""
    from PIL import PngImagePlugin, TiffImagePlugin

    rgb, path = asymmetric_rgb(), tmp_path / f"o{suffix}"
    xmp = _xmp_orientation(6, element=element)
    if suffix == ".png":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode())
        Image.fromarray(rgb).save(path, pnginfo=info)
    elif suffix == ".jpg":
        _jpeg_with_xmp(path, rgb, xmp)
    elif suffix == ".tif":
        tags = TiffImagePlugin.ImageFileDirectory_v2()
        tags[700], tags.tagtype[700] = xmp, 1  # XMP, BYTE
        Image.fromarray(rgb).save(path, tiffinfo=tags)
    else:
        Image.fromarray(rgb).save(path, lossless=True, xmp=xmp)
    got = read_rgb(path)
    with Image.open(path) as im:  # Pillow's decoding, not turned (a TIFF's is, by later Pillows)
        decoded = rgb if suffix == ".tif" else np.asarray(im.convert("RGB"))
    want = np.rot90(decoded, -1)  # 6: shown turned 90 degrees clockwise
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).max() <= TOL_JPEG_DECODERS


def test_the_exif_orientation_wins_over_the_xmps(tmp_path):
    rgb, path = asymmetric_rgb(), tmp_path / "o.jpg"
    exif = Image.Exif()
    exif[0x0112] = 1
    _jpeg_with_xmp(path, rgb, _xmp_orientation(6), exif=exif)
    assert read_rgb(path).shape == rgb.shape  # upright, as its EXIF says


def test_tiff_orientation_is_not_applied_twice(tmp_path):
    # OpenCV's TIFF reader turns this layout upright itself
    path = save_with_orientation(tmp_path / "o.tif", asymmetric_rgb(), 3)
    np.testing.assert_array_equal(read_rgb(path), upright(path))


@pytest.mark.parametrize("layout", ["TIFF", "BigTIFF", "big-endian BigTIFF"])
@pytest.mark.parametrize("exif, xmp, turned", [
    (None, 6, lambda rgb: np.rot90(rgb, -1)),  # the XMP's: 90 degrees clockwise
    (3, 6, lambda rgb: rgb[::-1, ::-1]),  # the EXIF's wins: 180 degrees, by OpenCV alone
    (6, 6, lambda rgb: np.rot90(rgb, -1)),  # the same in both: turned once
    (1, 8, lambda rgb: rgb),  # upright, as its EXIF says
], ids=["xmp", "exif-wins", "both", "exif-upright"])
def test_a_tiff_is_turned_by_its_xmp_orientation_where_its_exif_states_none(tmp_path, layout, exif, xmp, turned):
    """OpenCV turns a TIFF by its Orientation tag (its EXIF's), and no flag stops it: hairfx
    turns it by its XMP's where the EXIF states none, and not again where it states one. A
    BigTIFF's the same, in either byte order."""
    from conftest import as_bigtiff, tiff_photo

    rgb = asymmetric_rgb()
    tags = Image.Exif()
    tags.endian = ">" if layout == "big-endian BigTIFF" else "<"
    tags[0x010F] = "Canon"
    if exif is not None:
        tags[0x0112] = exif
    photo = tiff_photo(rgb, tags.tobytes()[6:], xmp=_xmp_orientation(xmp))
    path = tmp_path / "o.tif"
    path.write_bytes(photo if layout == "TIFF" else as_bigtiff(photo))
    np.testing.assert_array_equal(read_rgb(path), turned(rgb))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
def test_a_photo_and_its_metadata_come_from_one_reading_as_from_two(tmp_path, suffix):
    """read_photo gives what read_rgb and read_metadata give, each reading on its own."""
    from conftest import camera_exif, png_with_late_exif
    from hairfx.icc import matrix_shaper_profile
    from hairfx.metadata import read_metadata

    path = save_with_orientation(tmp_path / f"o{suffix}", asymmetric_rgb(), 6,
                                 icc_profile=matrix_shaper_profile("Display P3"))
    rgb, meta = read_photo(path)
    np.testing.assert_array_equal(rgb, read_rgb(path))
    assert rgb.shape == (40, 24, 3) and meta == read_metadata(path)
    assert meta.icc_profile == matrix_shaper_profile("Display P3")
    late = tmp_path / "late.png"
    late.write_bytes(png_with_late_exif(asymmetric_rgb(), camera_exif()))
    assert read_photo(late)[1] == read_metadata(late) and read_metadata(late).exif == camera_exif()


def test_unreadable_exif_does_not_stop_reading(tmp_path, monkeypatch):
    path = save_with_orientation(tmp_path / "o.png", asymmetric_rgb(), 6)

    def broken(*args, **kwargs):
        raise SyntaxError("not a PNG file")  # what Pillow raises for some damaged files

    monkeypatch.setattr(Image, "open", broken)
    np.testing.assert_array_equal(read_rgb(path), asymmetric_rgb())


def _png_stating(path: Path, w: int, h: int) -> Path:
    """A small PNG file whose header states ``w x h`` pixels (its data is all zero rows)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"".join(b"\x00" + bytes(w) for _ in range(h)), 9)
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def test_oversized_and_foreign_files_are_refused_before_they_are_read(tmp_path, monkeypatch):
    """A 110 KB PNG stating 20000 x 4000 pixels was decoded (460 MB) before its size was
    refused, and a 700 MB file that is no image at all was read whole first."""
    big = _png_stating(tmp_path / "big.png", 20000, 4000)
    assert big.stat().st_size < 200_000
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4096))
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} was read"))
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded"))
    for read in (read_rgb, read_mask):
        with pytest.raises(InputError, match=r"big\.png is 20000x4000, larger than the 16384 px per side"):
            read(big)
        with pytest.raises(InputError, match=r"clip\.mp4: not an image OpenCV can read"):
            read(tmp_path / "clip.mp4")


def test_a_folder_is_not_reported_missing(tmp_path):
    (tmp_path / "shots").mkdir()
    with pytest.raises(InputError, match=r"image .*shots is a folder, not an image file"):
        read_rgb(tmp_path / "shots")
    with pytest.raises(InputError, match=r"mask .*shots is a folder"):
        read_mask(tmp_path / "shots")


def test_a_large_image_within_the_limit_is_still_read(tmp_path):
    path = _png_stating(tmp_path / "wide.png", 16384, 2)
    assert read_rgb(path).shape == (2, 16384, 3)


def _photo_jpeg() -> bytes:
    rng = np.random.default_rng(5)
    img = cv2.GaussianBlur(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8), (7, 7), 0)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _damaged_jpeg() -> bytes:
    """The photo with 200 bytes of its entropy-coded data (after the scan header) garbled:
    libjpeg carries on over them, saying "Corrupt JPEG data"."""
    data = bytearray(_photo_jpeg())
    start = data.index(b"\xff\xda") + 40
    data[start : start + 200] = bytes(range(200))
    return bytes(data)


def test_a_jpeg_damaged_in_the_middle_is_read_with_a_warning_that_names_it(tmp_path, capfd):
    """libjpeg carries on over corrupt data and prints "Corrupt JPEG data" with no file name
    (in a batch, nobody can tell which photo it was about); the garbage it fills in is kept,
    but a warning names the file, and nothing else reaches the process's stderr."""
    path = tmp_path / "damaged.jpg"
    path.write_bytes(_damaged_jpeg())
    with pytest.warns(RuntimeWarning, match=rf"{path} is damaged, parts of the picture may be wrong: Corrupt JPEG data"):
        img = read_rgb(path)
    assert img.shape == (96, 128, 3)
    assert capfd.readouterr().err == ""


def test_what_other_threads_write_to_stderr_while_images_decode_is_passed_on_not_taken_for_damage(
        tmp_path, capfd, recwarn):
    """A service that logs to stderr from other threads: the lines written while a photo
    decodes (its decoder's stderr is caught) reach stderr all the same, and a sound photo
    is not called damaged for them. A damaged one still is, for its decoder's words alone."""
    import threading

    path = tmp_path / "photo.jpg"
    path.write_bytes(_photo_jpeg())
    (tmp_path / "damaged.jpg").write_bytes(_damaged_jpeg())
    stop, written = threading.Event(), []

    def log():
        while not stop.is_set() or len(written) < 200:
            line = f"service line {len(written)}\n"
            os.write(2, line.encode())
            written.append(line)

    other = threading.Thread(target=log)
    other.start()
    try:
        for _ in range(100):
            read_rgb(path)
        with pytest.warns(RuntimeWarning) as caught:
            read_rgb(tmp_path / "damaged.jpg")
    finally:
        stop.set()
        other.join()
    err = capfd.readouterr().err
    # every line, whole, once (two may swap about the moment stderr is given back), and
    # nothing of the decoder's
    assert sorted(err.splitlines(keepends=True)) == sorted(written)
    assert len(caught) == 1 and "Corrupt JPEG data" in str(caught[0].message)
    assert "service line" not in str(caught[0].message)
    assert not [w for w in recwarn if "damaged" in str(w.message)]


def test_threads_decode_at_once_and_each_damaged_photo_alone_is_named(tmp_path, capfd, monkeypatch):
    """Decodes in several threads run at once (catching the decoders' stderr once took a
    process-wide lock for each), and a damaged photo among sound ones decoded at the same
    moment is still the only one named, once per reading."""
    import threading
    import time

    from conftest import in_threads

    sound = tmp_path / "sound.jpg"
    sound.write_bytes(_photo_jpeg())
    (tmp_path / "damaged.jpg").write_bytes(_damaged_jpeg())

    plain, lock, running, most = cv2.imdecode, threading.Lock(), [0], [0]

    def slow_imdecode(*args):  # long enough for the threads' decodes to meet
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        try:
            return plain(*args)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(cv2, "imdecode", slow_imdecode)
    said = []  # warnings.warn itself: the warnings module's recorders are not safe across threads
    monkeypatch.setattr("warnings.warn", lambda message, *a, **k: said.append(str(message)))
    names = ["damaged.jpg" if i % 4 == 0 else "sound.jpg" for i in range(16)]
    results = in_threads(lambda i: [read_rgb(tmp_path / names[i]) for _ in range(3)], len(names))
    assert all(isinstance(r, list) and r[0].shape == (96, 128, 3) for r in results), results
    assert most[0] > 1  # at once, not in turn
    assert len(said) == 3 * names.count("damaged.jpg")
    assert all(f"{tmp_path / 'damaged.jpg'} is damaged" in m and "Corrupt JPEG data" in m for m in said)
    assert capfd.readouterr().err == ""  # the decoders' lines went into the warnings, and no further


def test_a_file_that_fails_to_decode_gives_the_decoders_reason_in_the_error_alone(tmp_path, capfd):
    png = cv2.imencode(".png", np.random.default_rng(1).integers(0, 256, (100, 100, 3), dtype=np.uint8))[1].tobytes()
    path = tmp_path / "cut.png"
    path.write_bytes(png[: len(png) // 2])
    with pytest.raises(InputError, match=rf"{path}: not an image OpenCV can read \(libpng error: "):
        read_rgb(path)
    assert capfd.readouterr().err == ""


def test_a_sound_file_is_read_without_a_warning(tmp_path, recwarn):
    path = tmp_path / "fine.jpg"
    path.write_bytes(_photo_jpeg())
    read_rgb(path)
    assert not [w for w in recwarn if "damaged" in str(w.message)]


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tif"])
@pytest.mark.parametrize("size", ["small", "large"])
def test_a_colour_profile_is_carried_into_the_output(tmp_path, suffix, size):
    """The profile Pillow (an independent reader) finds in the output is the input's, byte for
    byte, also one larger than a JPEG segment holds (split into chunks), and so are the EXIF
    and XMP; the pixels decode as those of the same image written without them."""
    from hairfx.metadata import read_metadata

    icc = _srgb_profile()
    if size == "large":  # 150 kB: padded, with the header's length field to match
        icc += bytes(range(256)) * 600
        icc = len(icc).to_bytes(4, "big") + icc[4:]
    src = tmp_path / "in.jpg"
    Image.fromarray(np.full((30, 40, 3), 120, np.uint8)).save(src, icc_profile=icc)
    assert read_metadata(src).icc_profile == icc
    rgb = np.random.default_rng(2).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif = exif.tobytes()[6:]  # the TIFF structure, without JPEG's "Exif\0\0"
    with_icc = write_rgb(tmp_path / f"a{suffix}", rgb, icc_profile=icc, exif=exif, xmp=XMP_PACKET)
    plain = write_rgb(tmp_path / f"b{suffix}", rgb)
    with Image.open(with_icc) as im:
        assert im.info.get("icc_profile") == icc
        assert im.getexif()[0x010F] == "Canon"
        assert im.info.get("xmp") == XMP_PACKET
        decoded = np.asarray(im.convert("RGB"))
    assert np.array_equal(read_rgb(with_icc), read_rgb(plain))
    assert np.array_equal(decoded, read_rgb(plain))


def _webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The chunks of a WebP file, read by the container specification's rules: "RIFF", the
    size of what follows, "WEBP", then chunks of a four-letter type, a little-endian size
    and the data, padded to an even size."""
    assert data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") == len(data) - 8 and data[8:12] == b"WEBP"
    chunks, pos = [], 12
    while pos < len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.append((data[pos : pos + 4], data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + size % 2
    assert pos == len(data)
    return chunks


def test_a_webp_holds_its_metadata_where_the_container_specification_puts_them(tmp_path):
    """VP8X first, its flags saying ICC, EXIF and XMP and its canvas the picture's size,
    then ICCP, the picture, EXIF, XMP; the same picture as written without them."""
    icc = _srgb_profile()
    exif = b"MM\0*\0\0\0\x08\0\0\0\0\0\0"  # an empty IFD0
    rgb = np.random.default_rng(3).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    chunks = _webp_chunks(write_rgb(tmp_path / "a.webp", rgb, icc_profile=icc, exif=exif, xmp=XMP_PACKET).read_bytes())
    plain = _webp_chunks(write_rgb(tmp_path / "b.webp", rgb).read_bytes())
    assert [kind for kind, _ in chunks] == [b"VP8X", b"ICCP", plain[0][0], b"EXIF", b"XMP "]
    header = chunks[0][1]
    assert header[0] == 0x20 | 0x08 | 0x04  # ICC profile, EXIF and XMP flags
    assert int.from_bytes(header[4:7], "little") + 1 == 41 and int.from_bytes(header[7:10], "little") + 1 == 30
    assert chunks[1][1] == icc and chunks[2] == plain[0] and chunks[3][1] == exif and chunks[4][1] == XMP_PACKET
    only_xmp = _webp_chunks(write_rgb(tmp_path / "c.webp", rgb, xmp=XMP_PACKET + b" ").read_bytes())  # odd: padded
    assert [kind for kind, _ in only_xmp] == [b"VP8X", plain[0][0], b"XMP "] and only_xmp[0][1][0] == 0x04
    assert only_xmp[2][1] == XMP_PACKET + b" "
    from hairfx.imagefiles import webp_with_chunks

    lossy = cv2.imencode(".webp", rgb[:, :, ::-1], [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes()  # a VP8 chunk
    (tmp_path / "lossy.webp").write_bytes(webp_with_chunks(lossy, icc=icc, xmp=XMP_PACKET))
    (tmp_path / "plain-lossy.webp").write_bytes(lossy)
    with Image.open(tmp_path / "lossy.webp") as im, Image.open(tmp_path / "plain-lossy.webp") as plain_im:
        assert im.size == (41, 30) and im.info["icc_profile"] == icc and im.info["xmp"] == XMP_PACKET  # canvas: VP8's
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), np.asarray(plain_im.convert("RGB")))


def _tiff_ifd0(data: bytes) -> dict[int, tuple[int, int, bytes]]:
    """IFD0 of a little-endian TIFF file read by the specification's rules: ``{tag: (type,
    count, value)}``, each value from where its entry says (in the entry when it fits)."""
    import struct

    assert data[:4] == b"II*\0"
    at = struct.unpack_from("<I", data, 4)[0]
    assert at % 2 == 0
    tags, sizes = {}, {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}
    for k in range(struct.unpack_from("<H", data, at)[0]):
        tag, kind, count, field = struct.unpack_from("<HHI4s", data, at + 2 + 12 * k)
        size = sizes[kind] * count
        start = struct.unpack("<I", field)[0] if size > 4 else None
        tags[tag] = (kind, count, field[:size] if start is None else data[start : start + size])
    assert list(tags) == sorted(tags)  # in the order TIFF wants them
    return tags


def test_a_tiff_holds_its_metadata_among_its_tags(tmp_path):
    """The profile as tag 34675, XMP as tag 700, the EXIF's IFD0 tags among the file's own
    and its Exif IFD pointed to by tag 34665, every tag of the file's layout as OpenCV wrote
    it; the same picture as written without them."""
    import struct

    icc = _srgb_profile()
    exif = Image.Exif()
    exif[0x010F], exif[0x0112] = "Canon", 1
    exif.get_ifd(0x8769)[0x9003] = "2026:01:01 09:59:58"
    rgb = np.random.default_rng(4).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    data = write_rgb(tmp_path / "a.tif", rgb, icc_profile=icc, exif=exif.tobytes()[6:], xmp=XMP_PACKET).read_bytes()
    plain = write_rgb(tmp_path / "b.tif", rgb).read_bytes()
    tags, own = _tiff_ifd0(data), _tiff_ifd0(plain)
    assert {tag: tags[tag] for tag in own} == own  # strips, size, compression, ...
    assert tags[0x8773] == (7, len(icc), icc) and tags[0x02BC] == (1, len(XMP_PACKET), XMP_PACKET)
    assert tags[0x010F] == (2, 6, b"Canon\0") and tags[0x0112] == (3, 1, b"\1\0")
    exif_at = struct.unpack("<I", tags[0x8769][2])[0]
    entry = data[exif_at + 2 : exif_at + 14]
    tag, kind, count, value_at = struct.unpack("<HHII", entry)
    assert struct.unpack_from("<H", data, exif_at)[0] == 1 and (tag, kind, count) == (0x9003, 2, 20)
    assert data[value_at : value_at + 20] == b"2026:01:01 09:59:58\0"
    assert set(tags) == set(own) | {0x010F, 0x0112, 0x8769, 0x8773, 0x02BC}
    assert np.array_equal(read_rgb(tmp_path / "a.tif"), read_rgb(tmp_path / "b.tif"))
    for bad in (b"not EXIF", b"MM\0*\0\0\xff\xff"):  # no byte order; IFD0 past the end
        with pytest.warns(RuntimeWarning, match=r"c\.tif: the EXIF given cannot be read and is left out"):
            data = write_rgb(tmp_path / "c.tif", rgb, icc_profile=icc, exif=bad).read_bytes()
        assert set(_tiff_ifd0(data)) == set(own) | {0x8773}  # the profile kept


def _jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """The marker segments of a JPEG file before its picture's data, by JPEG's rules: after
    SOI, each an FF, its marker and a big-endian length that counts itself."""
    assert data[:2] == b"\xff\xd8"
    segments, pos = [], 2
    while data[pos + 1] != 0xDA:  # up to the start of scan
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segments.append((data[pos + 1], data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return segments


def test_a_jpeg_and_a_png_hold_xmp_where_its_specification_puts_them(tmp_path):
    """XMP's specification, part 3: in a JPEG, an APP1 segment of "http://ns.adobe.com/xap/1.0/"
    and a NUL then the packet, after the Exif APP1 segment; in a PNG an uncompressed iTXt
    chunk "XML:com.adobe.xmp", before the pixel data. A packet too large for one JPEG segment
    (Extended XMP is not written) is left out of a JPEG with a warning."""
    import struct
    import zlib

    rgb = np.random.default_rng(5).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    exif = b"MM\0*\0\0\0\x08\0\0\0\0\0\0"
    segments = _jpeg_segments(write_rgb(tmp_path / "a.jpg", rgb, exif=exif, icc_profile=_srgb_profile(),
                                        xmp=XMP_PACKET).read_bytes())
    assert [marker for marker, _ in segments][:4] == [0xE0, 0xE1, 0xE1, 0xE2]  # JFIF, Exif, XMP, ICC profile
    assert segments[1][1] == b"Exif\0\0" + exif and segments[2][1] == b"http://ns.adobe.com/xap/1.0/\0" + XMP_PACKET
    png = write_rgb(tmp_path / "a.png", rgb, xmp=XMP_PACKET).read_bytes()
    body = b"iTXt" + b"XML:com.adobe.xmp\0" + b"\0\0" + b"\0" + b"\0" + XMP_PACKET  # no compression, language
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    assert png.index(chunk) < png.index(b"IDAT")
    huge = XMP_PACKET.replace(b"?><x:", b"?>" + b" " * 65_500 + b"<x:")
    with pytest.warns(RuntimeWarning, match=rf"b\.jpg: the input's XMP \({len(huge)} bytes\) is too large for a JPEG "
                                            "file and is left out"):
        data = write_rgb(tmp_path / "b.jpg", rgb, xmp=huge).read_bytes()
    assert b"http://ns.adobe.com/xap/1.0/" not in data
    write_rgb(tmp_path / "b.png", rgb, xmp=huge)
    with Image.open(tmp_path / "b.png") as im:
        assert im.info["xmp"] == huge  # a PNG chunk holds it


def test_a_jpeg_holds_iptc_where_photoshop_puts_it_and_other_formats_say_they_drop_it(tmp_path):
    """An APP13 segment of "Photoshop 3.0" and a NUL then the image resources, after the
    colour profile's segments, as Photoshop writes them; Pillow reads the IPTC record back.
    PNG, WebP and TIFF outputs keep no IPTC, and say so."""
    from PIL import IptcImagePlugin

    from conftest import iptc_record, photoshop_resource

    resources = photoshop_resource(0x0404, iptc_record(keywords="portrait", caption="Anna"))
    rgb = np.random.default_rng(6).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    path = write_rgb(tmp_path / "a.jpg", rgb, icc_profile=_srgb_profile(), xmp=XMP_PACKET, iptc=resources)
    segments = _jpeg_segments(path.read_bytes())
    assert [marker for marker, _ in segments][:4] == [0xE0, 0xE1, 0xE2, 0xED]  # JFIF, XMP, ICC profile, Photoshop
    assert segments[3][1] == b"Photoshop 3.0\0" + resources
    with Image.open(path) as im:
        iptc = IptcImagePlugin.getiptcinfo(im)
    assert (iptc[2, 25], iptc[2, 120]) == (b"portrait", b"Anna")
    for suffix in (".png", ".webp", ".tif"):
        with pytest.warns(RuntimeWarning, match=rf"a{suffix}: \{suffix} output keeps no IPTC; the input's is dropped; "
                                                r"write \.jpg to keep it"):
            write_rgb(tmp_path / f"a{suffix}", rgb, xmp=XMP_PACKET, iptc=resources)
    huge = photoshop_resource(0x0404, iptc_record(keywords="x" * 30_000) * 3)  # 90 kB of keywords
    with pytest.warns(RuntimeWarning, match=r"b\.jpg: the input's IPTC \(90\d+ bytes\) is too large for a JPEG file"):
        assert b"Photoshop 3.0" not in write_rgb(tmp_path / "b.jpg", rgb, iptc=huge).read_bytes()


def test_a_format_that_cannot_hold_the_profile_says_it_is_dropped(tmp_path):
    from hairfx.metadata import Metadata, read_metadata

    rgb = np.full((8, 8, 3), 100, np.uint8)
    with pytest.warns(RuntimeWarning, match=r"\.bmp output keeps no colour profile; the input's is dropped \(colour-"):
        write_rgb(tmp_path / "a.bmp", rgb, icc_profile=_srgb_profile())
    with pytest.warns(RuntimeWarning, match=r"\.bmp output keeps no EXIF; the input's is dropped; write \.jpg, "
                                            r"\.png, \.webp or \.tif to keep it"):
        write_rgb(tmp_path / "a.bmp", rgb, exif=b"MM\0*\0\0\0\x08\0\0\0\0\0\0")
    with pytest.warns(RuntimeWarning, match=r"\.bmp output keeps no colour profile, EXIF and XMP; the input's are "
                                            r"dropped \(colour-managed viewers show it as sRGB\); write \.jpg, \.png, "
                                            r"\.webp or \.tif to keep them"):
        write_rgb(tmp_path / "a.bmp", rgb, icc_profile=_srgb_profile(), exif=b"MM\0*\0\0\0\x08\0\0\0\0\0\0",
                  xmp=XMP_PACKET)
    with pytest.warns(RuntimeWarning, match=r"\.bmp output keeps no XMP and IPTC; the input's are dropped; write "
                                            r"\.jpg to keep them"):
        write_rgb(tmp_path / "a.bmp", rgb, xmp=XMP_PACKET, iptc=b"8BIM\4\4\0\0\0\0\0\0")
    assert read_metadata(tmp_path / "a.bmp") == Metadata()


@pytest.mark.parametrize("suffix", [".gif", ".tif"])
def test_a_file_of_several_frames_says_only_the_first_is_read(tmp_path, suffix, recwarn):
    frames = [Image.fromarray(np.full((12, 16, 3), v, np.uint8)) for v in (40, 120, 200)]
    path = tmp_path / f"anim{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.warns(RuntimeWarning, match=rf"{path} holds 3 frames \(an animation or pages\); only the first is read"):
        first = read_rgb(path)
    assert abs(int(first.mean()) - 40) <= 1
    frames[0].save(tmp_path / f"one{suffix}")
    recwarn.clear()
    read_rgb(tmp_path / f"one{suffix}")
    assert not [w for w in recwarn if "frames" in str(w.message)]


def test_a_libpng_warning_about_the_colour_profile_is_no_damage(tmp_path, capfd, recwarn):
    """libpng warns about colour profiles it finds odd ("iCCP: known incorrect sRGB profile"
    in many older PNGs; here a profile longer than its header says, "iCCP: extra compressed
    data"); that concerns the metadata, the pixels are fine: no 'damaged' warning, and
    nothing on stderr."""
    from hairfx.imagefiles import _with_metadata

    png = cv2.imencode(".png", np.full((8, 8, 3), 90, np.uint8))[1].tobytes()
    path = tmp_path / "old.png"
    path.write_bytes(_with_metadata(png, path, _srgb_profile() + bytes(range(256)) * 600, None))
    cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    assert "libpng warning: iCCP" in capfd.readouterr().err  # what OpenCV alone prints
    assert np.array_equal(read_rgb(path), np.full((8, 8, 3), 90, np.uint8))
    assert not [w for w in recwarn if "damaged" in str(w.message)]
    assert capfd.readouterr().err == ""


def test_opencv_reads_and_writes_files_whose_names_are_not_utf8(tmp_path):
    """imread_any / imwrite_any: what cv2.imread / cv2.imwrite do, under names on which
    they would crash the process (bytes that are not UTF-8, held by Python as surrogates)."""
    import os

    from hairfx.imagefiles import imread_any, imwrite_any

    img = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    odd = tmp_path / os.fsdecode(b"d\xe9j\xe0") / os.fsdecode(b"caf\xe9.png")
    imwrite_any(odd, img, (cv2.IMWRITE_PNG_COMPRESSION, 9))  # its folder created
    cv2.imwrite(str(tmp_path / "plain.png"), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert odd.read_bytes() == (tmp_path / "plain.png").read_bytes()
    np.testing.assert_array_equal(imread_any(odd, cv2.IMREAD_COLOR), img)
    np.testing.assert_array_equal(imread_any(odd, cv2.IMREAD_GRAYSCALE), cv2.imread(str(tmp_path / "plain.png"), 0))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    assert imread_any(tmp_path / "empty.png", cv2.IMREAD_COLOR) is None
    assert imread_any(tmp_path / "text.png", cv2.IMREAD_COLOR) is None
    with pytest.raises(FileNotFoundError):
        imread_any(tmp_path / "missing.png", cv2.IMREAD_COLOR)
    with pytest.raises(InputError, match=r"cannot write .*\.xyz: OpenCV has no writer for \.xyz"):
        imwrite_any(tmp_path / "a.xyz", img)
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(InputError, match=r"could not write .*file/a\.png"):
        imwrite_any(tmp_path / "file" / "a.png", img)


def test_a_phone_mpo_is_one_picture_not_an_animation(tmp_path, recwarn):
    """An MPO (a JPEG with a second picture appended: a depth map or a preview, as phones
    write) is read as its first picture without the several-frames warning."""
    first, second = (Image.fromarray(np.full((12, 16, 3), v, np.uint8)) for v in (60, 180))
    first.save(tmp_path / "photo.mpo", format="MPO", save_all=True, append_images=[second])
    with Image.open(tmp_path / "photo.mpo") as im:
        assert im.format == "MPO" and im.n_frames == 2
    assert abs(int(read_rgb(tmp_path / "photo.mpo").mean()) - 60) <= 1
    assert not [w for w in recwarn if "frames" in str(w.message)]


def test_a_photo_that_cannot_be_read_gives_the_reason_apart_from_its_name(tmp_path):
    """For a caller that names the file itself (`hairfx mask` skipping it), with no need to
    cut the name out of the message."""
    (tmp_path / "notes.jpg").write_text("not an image")
    (tmp_path / "folder.png").mkdir()
    cv2.imwrite(str(tmp_path / "wide.png"), np.zeros((2, 16385, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "deep.png"), np.zeros((8, 8, 3), np.uint16))
    ok, jpg = cv2.imencode(".jpg", np.zeros((64, 64, 3), np.uint8))
    (tmp_path / "cut.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    alpha = np.dstack([np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "clear.png"), alpha)
    for name, reason in [
        ("notes.jpg", "not an image OpenCV can read"),
        ("folder.png", "it is a folder, not an image file"),
        ("wide.png", "it is 16385x2, larger than the 16384 px per side hairfx accepts"),
        ("deep.png", "expected an 8-bit image, got uint16 (16 bits per channel); save it with 8 bits per channel first"),
        ("cut.jpg", "the JPEG data ends early (a truncated or partly copied file)"),
        ("clear.png", "has transparent pixels (64 of 64); flatten it onto a background first"),
        ("absent.png", "not found"),
    ]:
        with pytest.raises(InputError) as caught:
            read_photo(tmp_path / name)
        assert caught.value.reason == reason, name
        assert str(tmp_path / name) in str(caught.value) and str(tmp_path) not in caught.value.reason
