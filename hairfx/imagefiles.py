"""Image files at the edge: read as RGB / masks, write from RGB (OpenCV underneath).

Shared by the ``hairfx`` and ``hairfx-lut`` commands so that both accept and refuse the same
files with the same messages. Library functions take arrays; only these touch files.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import warnings
from pathlib import Path

import numpy as np

from ._files import as_path, check_readable_file, opencv_name, opencv_readable
from .errors import InputError
from .frames import MAX_SIDE, as_frame, as_mask
from .metadata import _PHOTOSHOP, _PNG_XMP, BIG_ENDIAN_BIGTIFF, Metadata, image_metadata, tiff_metadata

__all__ = ["read_rgb", "read_photo", "read_mask", "write_rgb", "check_output_image", "imread_any", "imwrite_any"]


#: The extensions of the image files a folder given to ``hairfx mask`` is searched for (any
#: case): what :func:`read_rgb` reads, and HEIC/HEIF, which it refuses with a reason (a
#: folder of phone photos should not look empty).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff",
                            ".gif", ".avif", ".jp2", ".pbm", ".pgm", ".ppm", ".pnm", ".heic", ".heif"})


#: Formats whose EXIF orientation OpenCV ignores under ``IMREAD_UNCHANGED`` (as Pillow names
#: them; MPO is the multi-picture JPEG many phones write): hairfx turns them upright itself,
#: by the EXIF's orientation, else the XMP's (:func:`_orientation`). OpenCV's TIFF reader applies the
#: tag itself (OpenCV 5: strips and tiles, grey, RGB and RGBA, 8 and 16 bits, every compression
#: Pillow writes, BigTIFF too), with no flag to stop it, so a TIFF is turned by its XMP's only
#: where its EXIF states none. Either way the output's orientation tags say 1
#: (:func:`hairfx.metadata.exif_for_output`, :func:`hairfx.xmp.xmp_for_output`).
_ORIENTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})


def _orientation(meta: Metadata, *, tiff: bool = False) -> int | None:
    """The orientation a photo states: its EXIF's tag, else its XMP's ``tiff:Orientation``
    (:func:`hairfx.xmp.xmp_orientation`), as photo software reads them; None for neither.
    Read from the blocks :func:`~hairfx.metadata.image_metadata` found, not by Pillow's
    ``getexif()``: it would decode a PNG's whole picture to look for EXIF after the pixel
    data, and whether it falls back on the XMP depends on its version (11.1 for PNGs only).
    For a TIFF (``tiff``) only the XMP's, where the EXIF states none: the EXIF's is the
    file's own Orientation tag, by which OpenCV has turned the picture already (libtiff
    takes the tag as this does: a single value 1 to 8, else none)."""
    from PIL import Image

    from .xmp import xmp_orientation

    value = None
    if meta.exif:
        try:
            exif = Image.Exif()
            exif.load(b"Exif\0\0" + meta.exif)
            value = exif.get(0x0112)
        except Exception:  # noqa: BLE001 - an EXIF block Pillow cannot follow states nothing
            value = None
    if isinstance(value, int) and 1 <= value <= 8:
        return None if tiff else value
    return xmp_orientation(meta.xmp)


def _header(path: Path) -> tuple[tuple[int, int] | None, int, Metadata]:
    """The image's ``(width, height)`` as its header states them, read by Pillow without
    decoding the pixels (None where Pillow does not know the format or cannot read it),
    the orientation to turn the picture OpenCV decodes by (1..8, :func:`_orientation`; 1
    for none) and its :class:`~hairfx.metadata.Metadata`, all from one reading of the
    header. A file of several frames (an animated GIF or WebP, a multi-page TIFF) gives a
    warning that only the first is read."""
    from PIL import Image

    size, value, frames, meta = None, None, 1, Metadata()
    try:
        with warnings.catch_warnings(), open(path, "rb") as f:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if f.read(4) == BIG_ENDIAN_BIGTIFF:  # which Pillow cannot open; OpenCV reads it
                meta = tiff_metadata(f)
                value = _orientation(meta, tiff=True)
            else:
                f.seek(0)
                with Image.open(f) as im:
                    size = im.size
                    # an MPO's second picture is the phone's depth map or a preview, no page of its own
                    several = getattr(im, "is_animated", False) and im.format != "MPO" or im.format == "TIFF"
                    frames = getattr(im, "n_frames", 1) if several else 1
                    meta = image_metadata(im, path)
                    if im.format in _ORIENTED_FORMATS or im.format == "TIFF":
                        value = _orientation(meta, tiff=im.format == "TIFF")
    except Image.DecompressionBombError:  # over twice Pillow's 89 M pixel limit: a side over MAX_SIDE
        size = (MAX_SIDE + 1, MAX_SIDE + 1)
    except Exception:  # Pillow raises many types on files it half understands; OpenCV may read them
        pass
    if isinstance(frames, int) and frames > 1:
        warnings.warn(f"hairfx: {path} holds {frames} frames (an animation or pages); only the first is read",
                      RuntimeWarning, stacklevel=4)
    return size, value if isinstance(value, int) and 1 <= value <= 8 else 1, meta


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """``img`` (``H x W`` or ``H x W x C``) turned upright for an EXIF orientation, as
    ``PIL.ImageOps.exif_transpose`` does. Rows are y, so ``np.rot90`` turns counter-clockwise."""
    if orientation == 2:  # FLIP_LEFT_RIGHT
        img = img[:, ::-1]
    elif orientation == 3:  # ROTATE_180
        img = img[::-1, ::-1]
    elif orientation == 4:  # FLIP_TOP_BOTTOM
        img = img[::-1]
    elif orientation == 5:  # TRANSPOSE
        img = img.swapaxes(0, 1)
    elif orientation == 6:  # ROTATE_270: 90 degrees clockwise
        img = np.rot90(img, -1)
    elif orientation == 7:  # TRANSVERSE
        img = img.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:  # ROTATE_90: 90 degrees counter-clockwise
        img = np.rot90(img, 1)
    return np.ascontiguousarray(img)


def _truncated_jpeg(data: bytes) -> bool:
    """Whether ``data`` is a JPEG file whose image data ends before its end-of-image marker.

    The marker segments are walked from the start (so a thumbnail inside the EXIF block is
    skipped) to the main image's first scan; its compressed data can hold no ``FF D9`` but
    the end marker itself. Data after that marker (the video of a phone's motion photo,
    maker trailers, padding) is allowed.
    """
    if data[:2] != b"\xff\xd8":
        return False
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return False  # not a marker where one must be: leave it to the decoder
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the image data follows
            return data.find(b"\xff\xd9", pos) < 0
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return True  # the headers themselves end early


_PROFILE_WARNING = re.compile(r"libpng warning: (iCCP|sRGB|cHRM|gAMA)\b")
#: What the decoders OpenCV uses write to stderr: libjpeg's warnings (jerror.h's JWRN_*),
#: libpng's and libtiff's messages, and OpenCV's own log lines from its image codecs.
_DECODER_LINE = re.compile(
    r"Corrupt JPEG data|Premature end of JPEG file|Invalid SOS parameters|Inconsistent progression sequence"
    r"|Unknown Adobe color transform|Warning: unknown JFIF revision|Application transferred too (few|many)"
    r"|libpng (warning|error)|TIFF\w*: |\[[^\]]*\] global (grfmt\w*|loadsave|bitstrm|exif)\.cpp"
)
#: The line a decode writes into the pipe once it is done (it goes no further): every line
#: its decoder wrote lies before it.
_MARK = re.compile(rb"\0hairfx-decode-end (\d+)\n")
#: How long a decode waits for the pipe's reader to reach its end mark: it only waits
#: longer where the real stderr takes no more (a full pipe nobody reads).
_MARK_WAIT = 5.0


class _Watch:
    """One decode's share of :class:`_DecoderStderr`."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.lines: list[str] = []
        self.shared = False  # a decoder's line came while another decode was open too
        self.ended = threading.Event()


class _DecoderStderr:
    """What the image decoders write to the process's stderr (file descriptor 2), sorted by
    decode: libjpeg's "Corrupt JPEG data: ..." and libpng's "libpng error: ..." name no
    file, and in a batch nobody could tell which photo they were about.

    While decodes are in flight, descriptor 2 is a pipe read by a thread. Decodes in
    several threads share it and run at once. A decode is open from before it starts
    until the reader meets the mark it writes into the pipe when done: the decoders' lines
    met while it is open alone are its own. A line met while two are open cannot be told
    apart: those decodes are made again one at a time (:meth:`decode` with ``alone``), a
    rare cost, since sound files print nothing. Whatever else reaches the pipe (another thread's logging, say) is
    passed on to the real stderr line by line as it comes, unchanged, and is not taken
    for a decoder's."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._gate = threading.Lock()  # held through a decode made alone; briefly by the others
        self._users = 0
        self._count = 0
        self._open: dict[int, _Watch] = {}
        self._saved: int | None = None
        self._reader: threading.Thread | None = None

    def decode(self, work, *, alone: bool = False):
        """``(work(), the decoders' lines, whether they may be another decode's)``."""
        with contextlib.ExitStack() as gate:
            gate.enter_context(self._gate)  # no decode starts while one made alone waits or runs
            if alone:  # it waits for those in flight, and holds the gate to its end
                with self._state:
                    while self._users:
                        self._state.wait()
            watch = self._enter()
            if not alone:
                gate.close()  # the others run side by side
            if watch is None:  # no stderr to catch (a daemon's closed descriptor), or no pipe
                return work(), [], False
            try:
                result = work()
            finally:
                self._mark(watch.number)
                watch.ended.wait(_MARK_WAIT)
                self._leave()
        return result, list(watch.lines), watch.shared

    def _enter(self) -> _Watch | None:
        with self._state:
            if self._users == 0 and not self._start():
                return None
            self._users += 1
            self._count += 1
            watch = _Watch(self._count)
            self._open[watch.number] = watch
            return watch

    def _start(self) -> bool:
        sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:
            return False
        try:
            read_end, write_end = os.pipe()
        except OSError:  # out of descriptors: decode without catching
            os.close(saved)
            return False
        # the thread owns the read end and a copy of the real stderr, and closes both at
        # the pipe's end (which waits for every descriptor of its write end to close)
        self._reader = threading.Thread(target=self._read, args=(read_end, os.dup(saved)), daemon=True,
                                        name="hairfx-decoder-stderr")
        self._reader.start()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._saved = saved
        return True

    def _leave(self) -> None:
        with self._state:
            self._users -= 1
            if self._users == 0:
                os.dup2(self._saved, 2)  # the pipe's last write end closes: the reader reads to its end
                os.close(self._saved)
                self._saved = None
                reader, self._reader = self._reader, None
                self._state.notify_all()
            else:
                reader = None
        if reader is not None:
            reader.join(_MARK_WAIT)

    @staticmethod
    def _mark(number: int) -> None:
        try:
            os.write(2, b"\0hairfx-decode-end %d\n" % number)
        except OSError:  # pragma: no cover - the pipe is open while the decode is counted
            pass

    def _read(self, source: int, out: int) -> None:
        """Lines from the pipe ``source`` to its end: marks and decoders' lines to the
        decodes open, the rest written to ``out``. Closes both."""
        try:
            pending = b""
            while chunk := os.read(source, 65536):
                *complete, pending = (pending + chunk).split(b"\n")
                for raw in complete:
                    self._sort(raw + b"\n", out)
            if pending:
                self._sort(pending, out)
        finally:
            os.close(source)
            os.close(out)
            with self._state:  # a decode whose end mark never came (the pipe closed first)
                for watch in self._open.values():
                    watch.ended.set()

    def _sort(self, raw: bytes, out: int) -> None:
        mark = _MARK.fullmatch(raw)
        with self._state:
            if mark is not None:
                watch = self._open.pop(int(mark.group(1)), None)
                if watch is not None:
                    watch.ended.set()
                return
            text = raw.decode("utf-8", "replace").strip()
            if _DECODER_LINE.match(text):
                for watch in self._open.values():
                    watch.lines.append(text)
                    watch.shared = watch.shared or len(self._open) > 1
                return
        while raw:
            try:
                raw = raw[os.write(out, raw) :]
            except OSError:  # a closed stderr: as it would have been for its writer
                return


_DECODER_STDERR = _DecoderStderr()


def _decode(path: Path, data: bytes):
    """``cv2.imdecode`` of ``data`` (alpha and 16 bits kept), with what its decoders say
    about the file put in hairfx's words: a file that fails is refused with their reason,
    and one that decodes in spite of damage (libjpeg carries on over corrupt data, filling
    what it lost with garbage) gives a warning naming the file."""
    import cv2

    def work():
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None

    img, said, shared = _DECODER_STDERR.decode(work)
    if shared:  # another decode's lines may be among them: made again alone, to know
        img, said, _ = _DECODER_STDERR.decode(work, alone=True)
    # OpenCV's own log lines ("[ERROR:0@0.03] global grfmt_tiff.cpp ...") say what the error
    # below says; libpng's warnings about a colour profile ("iCCP: known incorrect sRGB
    # profile", common in older files) concern metadata, not the pixels
    said = [line for line in said if not line.startswith("[") and not _PROFILE_WARNING.match(line)]
    if img is None:
        why = "not an image OpenCV can read" + (f" ({'; '.join(said)})" if said else "")
        raise InputError(f"{path}: {why}", reason=why)
    if said:
        warnings.warn(f"hairfx: {path} is damaged, parts of the picture may be wrong: {'; '.join(said)}",
                      RuntimeWarning, stacklevel=4)
    return img


#: ISO base media ``ftyp`` brands of HEIF still images (HEIC: HEVC-coded, as iPhones save
#: photos). AVIF is HEIF too, but OpenCV reads it.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})


def _unreadable(path: Path) -> str:
    """Why OpenCV reads no image from ``path``, in words for its owner."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        head = b""
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return ("a HEIC/HEIF photo (as iPhones save them), which hairfx cannot decode; convert it to JPEG "
                "or PNG first (the iPhone's Camera > Formats > Most Compatible saves JPEG)")
    return "not an image OpenCV can read"


def _imread(path: Path, kind: str) -> tuple[np.ndarray, Metadata]:
    """The file as OpenCV reads it (BGR, alpha and 16 bits kept), turned upright by its
    EXIF orientation (else its XMP's), and its metadata."""
    import cv2

    check_readable_file(path, kind, "an image file")
    # Checked before the file is read and decoded: a small PNG can state 20000 x 20000
    # pixels (1.2 GB decoded), and a large file need not be an image at all.
    size, orientation, meta = _header(path)
    if size is not None and max(size) > MAX_SIDE:
        w, h = size
        why = f"{w}x{h}, larger than the {MAX_SIDE} px per side hairfx accepts"
        raise InputError(f"{path} is {why}", reason=f"it is {why}")
    if size is None:
        with opencv_readable(path) as name:
            if not cv2.haveImageReader(name):
                why = _unreadable(path)
                raise InputError(f"{path}: {why}", reason=why)
    data = path.read_bytes()  # read once: checked here, decoded from memory below
    if _truncated_jpeg(data):  # OpenCV only warns, and fills the missing rows with grey
        why = "the JPEG data ends early (a truncated or partly copied file)"
        raise InputError(f"{path}: {why}", reason=why)
    img = _decode(path, data)
    # IMREAD_UNCHANGED keeps alpha and 16 bits but ignores the orientation tag (OpenCV applies a TIFF's own)
    return _apply_orientation(img, orientation), meta


def read_rgb(path: str | os.PathLike, *, sixteen_bits: bool = False) -> np.ndarray:
    """An 8-bit image file as an ``H x W x 3`` uint8 RGB array, turned upright by its EXIF
    orientation. A grayscale file is expanded to three equal channels; an alpha channel that
    is fully opaque (as screenshot tools and some editors save) is dropped; transparent
    pixels are refused. A 16-bit file is refused, or with ``sixteen_bits`` rounded to the
    nearest 8-bit level (where 8 bits is all the result keeps, as a LUT fitted to it)."""
    path = as_path(path, "image")
    return _as_rgb(path, _imread(path, "image")[0], sixteen_bits)


def read_photo(path: str | os.PathLike, *, sixteen_bits: bool = False) -> tuple[np.ndarray, Metadata]:
    """A photo to recolour: its picture as :func:`read_rgb` reads it (``sixteen_bits`` as
    there), and its colour profile and EXIF as :func:`~hairfx.metadata.read_metadata` reads
    them, from one reading of its header (Pillow's, which also gives the size checked
    before the pixels are read)."""
    path = as_path(path, "image")
    img, meta = _imread(path, "image")
    return _as_rgb(path, img, sixteen_bits), meta


def _as_rgb(path: Path, img: np.ndarray, sixteen_bits: bool) -> np.ndarray:
    if img.dtype == np.uint16 and sixteen_bits:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if img.dtype != np.uint8:
        why = (f"expected an 8-bit image, got {img.dtype} ({8 * img.dtype.itemsize} bits per channel); "
               f"save it with 8 bits per channel first")
        raise InputError(f"{path}: {why}", reason=why)
    if img.ndim == 2:
        img = np.dstack([img, img, img])
    elif img.shape[2] == 4:
        clear = int((img[:, :, 3] < 255).sum())
        if clear:  # what lies under them is no part of the picture
            why = f"has transparent pixels ({clear} of {img.shape[0] * img.shape[1]}); flatten it onto a background first"
            raise InputError(f"{path}: {why}", reason=why)
        img = img[:, :, :3]
    return as_frame(np.ascontiguousarray(img[:, :, ::-1]), name=str(path))


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A mask file (255 = hair; 8 or 16 bits) as ``H x W`` float32 in ``[0, 1]``, turned
    upright by its EXIF orientation like :func:`read_rgb`. A file with colour channels is
    refused unless its channels are equal (a grey image saved as RGB), and one with
    transparent pixels is refused (the hair is read from the grey level). With ``shape``
    (``(H, W)``) the mask must have that size."""
    path = as_path(path, "mask")
    m = _imread(path, "mask")[0]
    if m.ndim == 3 and m.shape[2] == 4:
        alpha = m[:, :, 3]
        opaque = np.iinfo(alpha.dtype).max if np.issubdtype(alpha.dtype, np.integer) else 1.0
        if alpha.min() < opaque:
            raise InputError(
                f"mask {path} has transparent pixels; hairfx reads the hair from the grey level, not "
                f"the alpha channel: save the mask as a single-channel image (255 = hair)"
            )
        m = m[:, :, :3]
    if m.ndim == 3:
        if m.shape[2] not in (3, 4) or not (np.array_equal(m[:, :, 0], m[:, :, 1]) and np.array_equal(m[:, :, 1], m[:, :, 2])):
            raise InputError(f"mask {path} has {m.shape[2]} differing channels; expected a single-channel (grayscale) image")
        m = m[:, :, 0]
    if m.dtype.kind == "u" and m.max() == 1:  # as_mask refuses it too, but with advice for arrays
        top = np.iinfo(m.dtype).max
        raise InputError(f"mask {path} is {m.dtype} with values 0..1, as a label map is; a mask file holds 0..{top} "
                         f"({top} = hair): save it with hair at {top}")
    mask = as_mask(m, name=str(path))  # 8 or 16 bits, scaled as the API scales such arrays
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}")
    return mask


def _check_writer(path: Path) -> None:
    """Refuse a file name OpenCV has no image writer for, judged by its extension alone:
    OpenCV must not see a name that is not UTF-8 (:func:`~hairfx._files.opencv_name`)."""
    import cv2

    if opencv_name(path.suffix) is None or not cv2.haveImageWriter("image" + path.suffix):
        raise InputError(f"cannot write {path}: OpenCV has no writer for {path.suffix or 'a name without an extension'}; "
                         f"use .png or .jpg")


def imread_any(path: str | os.PathLike, flags: int) -> np.ndarray | None:
    """``cv2.imread(path, flags)`` for a file of any name: OpenCV decodes the bytes, so a
    name that is not UTF-8 (:func:`~hairfx._files.opencv_name`) cannot crash the process.
    None where the file is empty or not an image, as ``cv2.imread`` gives; an OS error
    (missing, no permission) is raised. For dataset and tool code that wants OpenCV's own
    decoding; user images go through :func:`read_rgb`, which checks them first."""
    import cv2

    data = Path(path).read_bytes()
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None


def imwrite_any(path: str | os.PathLike, img: np.ndarray, params: tuple = ()) -> None:
    """``cv2.imwrite(path, img, params)`` (BGR, the format by the extension) for a file of
    any name, encoded in memory and written whole (:func:`write_whole`); a failure raises
    :class:`~hairfx.errors.InputError` naming the file."""
    import cv2

    path = Path(path)
    _check_writer(path)
    ok, data = cv2.imencode(path.suffix, img, list(params))
    if not ok:
        raise InputError(f"could not encode {path} as {path.suffix}")
    write_whole(path, data.tobytes())


def check_output_image(path: str | os.PathLike, *, inputs: tuple = ()) -> Path:
    """Refuse, before any work, an image output that could not be written or would destroy
    an input: a format OpenCV cannot write (or writes in grey only: ``.pgm``, ``.pbm``), a
    folder at the path, a parent that is a file or takes no new files, or the same file as
    one of ``inputs``. Returns the path."""
    from ._files import check_not_input, check_output_file

    path = as_path(path, "output image")
    check_output_file(path, "out.png")
    _check_writer(path)
    if path.suffix.lower() in _GREY_FORMATS:  # OpenCV has a writer for them, which fails on colour, after the work
        raise InputError(f"cannot write {path}: a {path.suffix} file holds a grey picture only, and this one is in "
                         f"colour; use .ppm, .png or .jpg")
    check_not_input(path, inputs)
    return path


#: Formats OpenCV writes grey pictures only in (PGM, PBM): a colour one cannot be encoded.
_GREY_FORMATS = (".pgm", ".pbm")


#: Output formats :func:`write_rgb` embeds a colour profile, EXIF and XMP in (as their extensions).
METADATA_FORMATS = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff")
#: Those it embeds IPTC in, among Photoshop's image resources. PNG and WebP have no place
#: for them that their readers agree on; a TIFF's place is a tag of its own (IPTC-NAA,
#: 33723), apart from Photoshop's other resources, which hairfx does not write.
IPTC_FORMATS = (".jpg", ".jpeg", ".jpe")


def png_with_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """An encoded ``png`` with one more chunk of type ``kind`` (``b"tEXt"``, ``b"iCCP"``)
    holding ``data``, right after its header chunk ``IHDR``, where chunks that must come
    before the pixels go."""
    import struct
    import zlib

    body = kind + data
    chunk = struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    end = 8 + 8 + 13 + 4  # signature, then IHDR: length and type, 13 bytes of data, CRC
    return png[:end] + chunk + png[end:]


#: The most data one JPEG marker segment holds (its length field counts itself).
_SEGMENT = 65533
#: What starts a JPEG's APP1 segment that holds an XMP packet (its APP13 segment of
#: Photoshop's image resources starts with :data:`hairfx.metadata._PHOTOSHOP`).
_XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\0"


def _app_segment(marker: int, signature: bytes, body: bytes, what: str, path: Path) -> bytes:
    """A JPEG ``APPn`` segment (``n`` is ``marker``) holding ``signature`` then ``body``;
    empty, with a warning naming ``path`` and ``what`` the body is, where they do not fit
    in one segment."""
    if len(signature) + len(body) > _SEGMENT:
        warnings.warn(f"hairfx: {path}: the input's {what} ({len(body)} bytes) is too large for a JPEG file and "
                      "is left out", RuntimeWarning, stacklevel=4)
        return b""
    return bytes([0xFF, 0xE0 + marker]) + (2 + len(signature) + len(body)).to_bytes(2, "big") + signature + body


def _with_metadata(data: bytes, path: Path, icc: bytes | None, exif: bytes | None, xmp: bytes | None = None,
                   iptc: bytes | None = None) -> bytes:
    """``data``, encoded for ``path`` (by its extension, one of :data:`METADATA_FORMATS`),
    with ``icc``, ``exif``, ``xmp`` and ``iptc`` (Photoshop's image resources, in a JPEG
    only) embedded where each format's readers look for them. In a JPEG, after its JFIF
    header: an APP1 ``Exif`` segment, an APP1 XMP segment (XMP's specification, part 3),
    APP2 ``ICC_PROFILE`` segments (the ICC specification's split into chunks of at most
    65,519 bytes), then an APP13 ``Photoshop 3.0`` segment, as Photoshop writes them;
    EXIF, XMP or IPTC larger than a JPEG segment is left out, with a warning. In a PNG,
    ``iCCP``, ``eXIf`` and an uncompressed ``iTXt`` ``XML:com.adobe.xmp`` chunk after
    ``IHDR``. In a WebP, ``ICCP``, ``EXIF`` and ``XMP`` chunks (:func:`webp_with_chunks`);
    in a TIFF, tags of its own (:func:`~hairfx.metadata.tiff_with_metadata`)."""
    import struct
    import zlib

    suffix = path.suffix.lower()
    if suffix == ".png":
        if xmp:
            data = png_with_chunk(data, b"iTXt", _PNG_XMP + b"\0\0\0\0\0" + xmp)
        if exif:
            data = png_with_chunk(data, b"eXIf", exif)
        return png_with_chunk(data, b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)) if icc else data
    if suffix == ".webp":
        return webp_with_chunks(data, icc=icc, exif=exif, xmp=xmp)
    if suffix in (".tif", ".tiff"):
        from .metadata import tiff_with_metadata

        try:
            return tiff_with_metadata(data, icc_profile=icc, exif=exif, xmp=xmp)
        except (ValueError, KeyError, IndexError, struct.error):  # the EXIF's IFD0: OpenCV's own file can be read
            warnings.warn(f"hairfx: {path}: the EXIF given cannot be read and is left out", RuntimeWarning,
                          stacklevel=3)
            return tiff_with_metadata(data, icc_profile=icc, xmp=xmp)
    segments = b""
    if exif:
        segments += _app_segment(1, b"Exif\0\0", exif, "EXIF", path)
    if xmp:
        segments += _app_segment(1, _XMP_SIGNATURE, xmp, "XMP", path)
    if icc:
        parts = [icc[i : i + 65519] for i in range(0, len(icc), 65519)]
        if len(parts) > 255:
            raise InputError(f"the colour profile ({len(icc)} bytes) is too large for a JPEG file")
        # each part fits: 14 bytes of signature and sequence, at most 65,519 of profile
        segments += b"".join(_app_segment(2, b"ICC_PROFILE\0" + bytes([k + 1, len(parts)]), part, "colour profile", path)
                             for k, part in enumerate(parts))
    if iptc:
        segments += _app_segment(13, _PHOTOSHOP, iptc, "IPTC", path)
    pos = 2  # after SOI, and after the JFIF APP0 segment when it comes first
    if data[2:4] == b"\xff\xe0":
        pos = 4 + int.from_bytes(data[4:6], "big")
    return data[:pos] + segments + data[pos:]


def webp_with_chunks(webp: bytes, *, icc: bytes | None = None, exif: bytes | None = None,
                     xmp: bytes | None = None) -> bytes:
    """An encoded ``webp`` (a still picture, as OpenCV writes it) in WebP's extended format,
    with ``icc`` in an ``ICCP`` chunk, ``exif`` (the TIFF structure) in an ``EXIF`` chunk and
    ``xmp`` in an ``XMP`` chunk, as the WebP container specification lays them out: a
    ``VP8X`` header chunk whose flags say which are there and whose canvas is the picture's
    size, the profile, the picture's own chunks, the EXIF, the XMP. Chunks are padded to
    an even size."""
    chunks, pos = [], 12  # after "RIFF", the size, "WEBP"
    while pos + 8 <= len(webp):
        size = int.from_bytes(webp[pos + 4 : pos + 8], "little")
        chunks.append((webp[pos : pos + 4], webp[pos + 8 : pos + 8 + size]))
        pos += 8 + size + size % 2
    header = next((body for kind, body in chunks if kind == b"VP8X"), None)
    picture = [(kind, body) for kind, body in chunks if kind not in (b"VP8X", b"ICCP", b"EXIF", b"XMP ")]
    if header is None:  # a simple file: one VP8 (lossy) or VP8L (lossless) chunk
        width, height = _webp_size(*picture[0])
        header = bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    # alpha and animation as they were; then ICC profile, EXIF, XMP
    flags = header[0] & 0x12 | (0x20 if icc else 0) | (0x08 if exif else 0) | (0x04 if xmp else 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return kind + len(body).to_bytes(4, "little") + body + bytes(len(body) % 2)

    body = (b"WEBP" + chunk(b"VP8X", bytes([flags]) + header[1:]) + (chunk(b"ICCP", icc) if icc else b"")
            + b"".join(chunk(kind, data) for kind, data in picture) + (chunk(b"EXIF", exif) if exif else b"")
            + (chunk(b"XMP ", xmp) if xmp else b""))
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _webp_size(kind: bytes, body: bytes) -> tuple[int, int]:
    """The width and height a ``VP8`` or ``VP8L`` chunk's bitstream header states."""
    if kind == b"VP8L":  # a signature byte, then 14 bits each of width - 1 and height - 1
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1
    if kind == b"VP8 ":  # a frame tag and start code, then 14 bits each (and 2 of scale)
        return int.from_bytes(body[6:8], "little") & 0x3FFF, int.from_bytes(body[8:10], "little") & 0x3FFF
    raise InputError(f"not a WebP picture chunk: {kind!r}")


def write_rgb(path: str | os.PathLike, rgb: np.ndarray, *, icc_profile: bytes | None = None,
              exif: bytes | None = None, xmp: bytes | None = None, iptc: bytes | None = None) -> Path:
    """Write an ``H x W x 3`` uint8 RGB array; the format follows the file extension.
    Missing parent folders are created. The image is encoded first and written through a
    temporary file renamed into place, so a failure (a full disk, say) leaves the file
    that was there, never a half-written or deleted one. ``icc_profile``, ``exif`` and
    ``xmp`` (see :mod:`hairfx.metadata`) are embedded in a JPEG, PNG, WebP or TIFF file
    (:data:`METADATA_FORMATS`), ``iptc`` in a JPEG (:data:`IPTC_FORMATS`); a
    format that cannot hold what is given gets a ``RuntimeWarning`` saying what it drops."""
    import cv2

    path = check_output_image(path)
    arr = as_frame(rgb, name="image to write")
    try:
        ok, data = cv2.imencode(path.suffix, np.ascontiguousarray(arr[:, :, ::-1]))
    except cv2.error as exc:
        raise InputError(f"could not encode {path}: {str(exc).strip().splitlines()[-1]}") from None
    if not ok:
        raise InputError(f"could not encode {path} as {path.suffix}")
    data = data.tobytes()
    suffix = path.suffix.lower()
    given = {"colour profile": icc_profile, "EXIF": exif, "XMP": xmp, "IPTC": iptc}
    held = {kind: value for kind, value in given.items()
            if value and suffix in (IPTC_FORMATS if kind == "IPTC" else METADATA_FORMATS)}
    if held:
        data = _with_metadata(data, path, *(held.get(kind) for kind in given))
    kinds = [kind for kind, value in given.items() if value and kind not in held]
    if kinds:
        dropped = " and ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)
        are, them = ("is", "it") if len(kinds) == 1 else ("are", "them")
        shown = " (colour-managed viewers show it as sRGB)" if "colour profile" in kinds else ""
        where = ".jpg" if "IPTC" in kinds else ".jpg, .png, .webp or .tif"
        warnings.warn(f"hairfx: {path}: {path.suffix} output keeps no {dropped}; the input's {are} dropped{shown}; "
                      f"write {where} to keep {them}", RuntimeWarning, stacklevel=2)
    return write_whole(path, data)


def write_whole(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (missing folders created) through a temporary file renamed
    into place, so a failure leaves the file that was there; an OS error becomes an
    :class:`~hairfx.errors.InputError` naming the file."""
    from ._files import replacing

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise InputError(f"could not write {path}: {exc.strerror or exc}") from None
    return path
