"""What a photo file holds besides its pixels, and what ``hairfx recolor`` does with it.

* **The ICC colour profile.** hairfx's LUTs are authored on sRGB photos, and its mask
  model was trained on them. A phone's Display P3 photo or a camera's Adobe RGB one holds
  other numbers for the same colours: applied to them as held, a LUT lands the hair more
  saturated than its artist made it. :class:`ColourProfile` converts such a photo to sRGB
  for the work and the pixels the work changed back to the photo's own profile, which the
  output keeps: every other pixel stays exactly as it was, wide-gamut colours included.
  A camera's Adobe RGB JPEG, which holds no profile but says Adobe RGB in its EXIF, is
  converted with a profile made for it (:attr:`Metadata.colour_profile`).
* **EXIF** (camera, lens, date, place): :func:`exif_for_output` gives the input's block to
  write with the output, its bytes as they were but for the orientation (the pixels are
  turned upright when read), and less what shows the hair before the change: the
  thumbnail and the maker note, which can hold a preview of the photo. A TIFF's EXIF lies
  among the tags of the file's own layout: :func:`tiff_exif` gathers it into a block (a
  BigTIFF's too: :func:`tiff_metadata` reads a TIFF's tags without Pillow), and
  :func:`tiff_with_metadata` lays a block (and a profile) out among a TIFF output's tags.
* **XMP** (ratings, keywords, titles, an editor's settings): read here from where each
  format holds it; :func:`hairfx.xmp.xmp_for_output` gives the packet to write.
* **IPTC** (caption, keywords, credit, copyright, as news and stock agencies' tools write
  them) among the Photoshop image resources of a JPEG's APP13 segment:
  :func:`iptc_for_output` gives them to write, less the thumbnail Photoshop keeps there.

Pillow (its LittleCMS binding, ``PIL.ImageCms``) reads the profiles and converts; the
tests check its conversions against colour-science's.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Metadata", "read_metadata", "image_metadata", "ColourProfile", "exif_for_output", "exif_colour_space",
           "tiff_metadata", "tiff_exif", "tiff_with_metadata", "iptc_for_output"]


@dataclass(frozen=True)
class Metadata:
    """An image file's ICC profile, EXIF block (TIFF-structured bytes, without the
    ``Exif\\0\\0`` prefix JPEG files put before them), XMP packet (:mod:`hairfx.xmp`, as
    the file holds it) and, for a JPEG, Photoshop's image resources, IPTC's among them (as
    its APP13 segments hold them after their ``Photoshop 3.0`` signature); None for what it
    has not."""

    icc_profile: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    iptc: bytes | None = None

    @property
    def colour_profile(self) -> bytes | None:
        """The ICC profile the pixels are in: the embedded one; else, where the EXIF says
        Adobe RGB (a camera's JPEG, which embeds none: :func:`exif_colour_space`), one made
        for it (:func:`hairfx.icc.matrix_shaper_profile`); else None, for sRGB."""
        if self.icc_profile is None and exif_colour_space(self.exif) == "Adobe RGB (1998)":
            from .icc import matrix_shaper_profile

            return matrix_shaper_profile("Adobe RGB (1998)")
        return self.icc_profile


#: How a big-endian BigTIFF file starts. Pillow (11.1 to 13 at least) cannot open one: it
#: looks for the version, 43, in the byte where a little-endian file holds it, and reads the
#: file as a classic TIFF, which it is not. Its tags are read by :func:`tiff_metadata`.
BIG_ENDIAN_BIGTIFF = b"MM\0+"


def read_metadata(path: str | os.PathLike) -> Metadata:
    """The ICC profile, EXIF and XMP of a JPEG, PNG, WebP or TIFF file (a TIFF's read from
    among its own tags, :func:`tiff_metadata`; a BigTIFF's too), and a JPEG's IPTC, as far
    as Pillow reads them; an empty :class:`Metadata` for a file Pillow cannot open (but a
    big-endian BigTIFF, read without it). Only the headers are read, not the pixels, and
    only from a regular file (opening a named pipe would wait for a writer for ever)."""
    from pathlib import Path

    from PIL import Image

    if not Path(path).is_file():
        return Metadata()
    try:
        with open(path, "rb") as f:
            if f.read(4) == BIG_ENDIAN_BIGTIFF:
                return tiff_metadata(f)
            f.seek(0)
            with Image.open(f) as im:
                return image_metadata(im, path)
    except Exception:  # noqa: BLE001 - not an image Pillow reads: no metadata it can give
        return Metadata()


def image_metadata(im, path: str | os.PathLike) -> Metadata:
    """:func:`read_metadata` of the file ``path`` that Pillow has open as ``im``, from the
    header Pillow has read (a PNG's EXIF and XMP after its pixel data are found by
    :func:`png_metadata`; a TIFF's tags are read by :func:`tiff_metadata`); never raises.
    For readers that open the file for more than this."""
    if im.format == "TIFF":
        return tiff_metadata(im.fp)
    try:
        icc, exif, xmp = im.info.get("icc_profile"), im.info.get("exif"), im.info.get("xmp")
        if im.format == "PNG" and (exif is None or xmp is None):  # ImageMagick writes eXIf after the pixels
            late_exif, late_xmp = png_metadata(path)
            exif, xmp = late_exif if exif is None else exif, late_xmp if xmp is None else xmp
        iptc = b"".join(data[len(_PHOTOSHOP):] for marker, data in getattr(im, "applist", ())  # JPEG, MPO
                        if marker == "APP13" and data.startswith(_PHOTOSHOP))
    except Exception:  # noqa: BLE001 - a header Pillow half understands: no metadata it can give
        return Metadata()
    if isinstance(exif, (bytes, bytearray)):
        exif = bytes(exif).removeprefix(b"Exif\0\0")
        if exif[:4] not in (b"II*\0", b"MM\0*"):  # not a TIFF structure: nothing a writer could use
            exif = None
    else:
        exif = None
    if isinstance(xmp, str):  # a PNG's iTXt text, decoded as UTF-8
        xmp = xmp.encode("utf-8", "surrogateescape")
    xmp = bytes(xmp) if isinstance(xmp, (bytes, bytearray)) else None
    iptc = bytes(iptc) if isinstance(iptc, (bytes, bytearray)) else None
    return Metadata(bytes(icc) if icc else None, exif or None, xmp or None, iptc or None)


#: The keyword of a PNG's iTXt chunk that holds its XMP packet, and the most its
#: packet may hold once decompressed (far more than any photo's; a bomb is not unpacked).
_PNG_XMP, _PNG_XMP_MAX = b"XML:com.adobe.xmp", 1 << 24


def png_metadata(path: str | os.PathLike) -> tuple[bytes | None, bytes | None]:
    """The ``eXIf`` chunk of the PNG file ``path`` (its TIFF structure, without the
    ``Exif\\0\\0`` some writers put first) and its XMP packet (the ``iTXt`` chunk
    ``XML:com.adobe.xmp``), wherever they lie; None for each it has not. Pillow reads
    chunks only up to the pixel data without decoding it, and ImageMagick writes EXIF
    after them; this walks the chunk headers, reading only the data of iTXt and eXIf
    chunks, so a large PNG costs a few thousand small reads, not a decode."""
    exif = xmp = None
    try:
        with open(path, "rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return None, None
            while (exif is None or xmp is None) and len(head := f.read(8)) == 8:
                length, kind, start = struct.unpack(">I", head[:4])[0], head[4:], f.tell()
                if kind == b"IEND":
                    break
                if kind == b"eXIf" and exif is None:
                    data = f.read(length)
                    exif = data.removeprefix(b"Exif\0\0") if len(data) == length else None
                elif (kind == b"iTXt" and xmp is None and length > len(_PNG_XMP) + 1
                      and f.read(len(_PNG_XMP) + 1) == _PNG_XMP + b"\0"):
                    xmp = _itxt_text(f.read(length - len(_PNG_XMP) - 1))
                f.seek(start + length + 4)  # past the data and its CRC
    except OSError:
        pass
    return exif, xmp


def _itxt_text(data: bytes) -> bytes | None:
    """The text of a PNG ``iTXt`` chunk whose data after its keyword is ``data``: the
    compression flag and method, the language and translated keyword, each ended by a
    NUL, then the text, perhaps compressed; None where it cannot be read."""
    import zlib

    compressed, rest = data[:1] == b"\1", data[2:].split(b"\0", 2)
    if len(rest) < 3:
        return None
    if not compressed:
        return rest[2]
    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(rest[2], _PNG_XMP_MAX)
    except zlib.error:
        return None
    return None if inflate.unconsumed_tail else text


def tiff_metadata(fp) -> Metadata:
    """The ICC profile (IFD0's tag 34675), EXIF (:func:`tiff_exif`) and XMP packet (tag
    700) of the TIFF or BigTIFF file open as ``fp``, in either byte order, read from its
    tags as they are, not by Pillow, which reads no BigTIFF's EXIF and opens no big-endian
    BigTIFF (:data:`BIG_ENDIAN_BIGTIFF`). The file is mapped into memory, so that only the
    pages its tags lie in are read; its position is left where it was. An XMP tag typed
    ASCII, as some writers type it, gives its bytes without the NUL that ends it. Never
    raises: an empty :class:`Metadata` where IFD0 cannot be read."""
    import mmap

    try:
        with mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _tiff_metadata(data)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):  # not a file that maps
        pos = fp.tell()
        try:
            fp.seek(0)
            return _tiff_metadata(fp.read())
        except OSError:
            return Metadata()
        finally:
            fp.seek(pos)


def _tiff_metadata(data) -> Metadata:
    blocks = {}
    try:
        tiff = _Tiff(data, big=True)
        if tiff.u16(2) != 42 and not tiff.big:
            return Metadata()
        for pos, tag, kind, count in tiff.entries(tiff.first_ifd())[0]:
            if tag in (_ICC_TAG, _XMP_TAG) and _TYPE_BYTES.get(kind) == 1:  # BYTE, ASCII, UNDEFINED
                start, end = tiff.value_bytes(pos, kind, count) or (tiff.field(pos), tiff.field(pos) + count)
                value = bytes(data[start:end]) if end <= len(data) else b""
                blocks[tag] = value[:-1] if kind == 2 and value.endswith(b"\0") else value
    except (struct.error, ValueError, IndexError, KeyError):
        return Metadata()
    return Metadata(blocks.get(_ICC_TAG) or None, tiff_exif(data), blocks.get(_XMP_TAG) or None)


# ----------------------------------------------------------------------------- colour

#: A profile whose conversion to sRGB moves no 8-bit value by more than this many levels
#: is taken as sRGB: the photo's values are used as held (as for the many sRGB profiles
#: cameras and editors embed, each a little different in its bytes).
SRGB_TOLERANCE = 1


class ColourProfile:
    """The colour space a photo's values are in, by its embedded ICC profile, and the
    conversions recolouring needs between it and sRGB.

    ``ColourProfile(icc, name=...)`` with ``icc`` None, or an sRGB profile, or one that
    cannot be read (with a warning), is sRGB: :attr:`is_srgb`, and the conversions return
    their input. An RGB profile (Display P3, Adobe RGB, a camera's) converts both ways
    (relative colorimetric; colours outside sRGB are clipped on the way in, and only the
    pixels recolouring changed come back, see :meth:`from_srgb`); the output keeps the
    profile (:attr:`output_profile`). A grey profile converts the grey values into sRGB
    and the output is sRGB, with no profile: a recoloured photo is no longer grey. Any
    other (a CMYK photo's: OpenCV reads CMYK as RGB without its profile) is dropped with a
    warning, and the values are taken as sRGB.

    Photos with the same profile share its conversions, built for the first of them (for
    the last :data:`PROFILES_KEPT` profiles used, in any thread).
    """

    def __init__(self, icc: bytes | None, *, name: str = "image") -> None:
        self.name = name
        self.kind = "sRGB"  # or "RGB", "GRAY"
        self._to = self._back = None
        self.output_profile = icc
        if not icc:
            return
        self.kind, self._to, self._back, self.output_profile, problem = _conversions(bytes(icc))
        if problem:
            warnings.warn(f"hairfx: {name}{problem}", RuntimeWarning, stacklevel=2)

    @property
    def is_srgb(self) -> bool:
        """Whether the values are used as held (no conversion either way)."""
        return self._to is None

    def to_srgb(self, rgb: np.ndarray) -> np.ndarray:
        """``rgb`` (``H x W x 3`` uint8, in this profile) converted to sRGB."""
        if self._to is None:
            return rgb
        if self.kind == "GRAY":  # the file's grey read as three equal channels
            if not (np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 1], rgb[:, :, 2])):
                warnings.warn(f"hairfx: {self.name} is in colour but its colour profile is for grey images; the "
                              "profile is ignored and its values are taken as sRGB", RuntimeWarning, stacklevel=2)
                return rgb
            return _apply(self._to, np.ascontiguousarray(rgb[:, :, 0]))
        return _apply(self._to, rgb)

    def from_srgb(self, original: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
        """The picture to write in :attr:`output_profile`: ``original`` (as read) where
        the work left ``before`` (its sRGB conversion) as it was in ``after``; where the
        work changed it, ``original`` plus the change, the difference between ``after``
        and ``before`` each converted back to this profile. A colour sRGB cannot hold
        (a vivid P3 green) was clipped in ``before``: a faint edge of the hair over it
        moves by what the recolouring did, not by the clipping too. For a grey profile,
        whose output is sRGB, that is ``after`` itself."""
        if self._back is None:
            return after
        changed = np.any(after != before, axis=2)
        out = original.copy()
        if changed.any():
            ys, xs = np.nonzero(changed)
            box = np.s_[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]  # the box of the hair, converted
            moved = (_apply(self._back, np.ascontiguousarray(after[box])).astype(np.int16)
                     - _apply(self._back, np.ascontiguousarray(before[box])))
            inside = changed[box]
            region = out[box]
            region[inside] = np.clip(region[inside] + moved[inside], 0, 255).astype(np.uint8)
        return out


#: How many profiles' conversions :class:`ColourProfile` keeps, the most recently used: a
#: batch of photos from one camera or phone shares one or two profiles, and building the
#: conversions (LittleCMS transforms both ways and the sRGB check) takes some 6 ms a photo.
#: A camera's or phone's profile is a few kilobytes; the two transforms made from an Adobe
#: RGB one take about 300 KB.
PROFILES_KEPT = 16


@functools.lru_cache(maxsize=PROFILES_KEPT)
def _conversions(icc: bytes) -> tuple:
    """What :class:`ColourProfile` makes of the profile ``icc``: its ``kind``, the
    transforms to and from sRGB (or None), its ``output_profile``, and the warning to give
    after the photo's name (or None). Kept by the profile's bytes, for
    :data:`PROFILES_KEPT` profiles; ``lru_cache`` keeps its table whole under threads, and a
    LittleCMS transform may be applied in several threads at once (each call works on its
    own copy of the transform's one-pixel cache, since LittleCMS 2.3), as Pillow does with
    the GIL released."""
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = profile.profile.xcolor_space.strip()
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError) as exc:
        return "sRGB", None, None, icc, f": its colour profile cannot be read ({exc}); its values are taken as sRGB"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    intent = ImageCms.Intent.RELATIVE_COLORIMETRIC
    try:
        if space == "RGB":
            to = ImageCms.buildTransform(profile, srgb, "RGB", "RGB", renderingIntent=intent)
            grid = np.stack(np.meshgrid(*[np.arange(0, 256, 15, dtype=np.uint8)] * 3, indexing="ij"), -1)
            grid = grid.reshape(-1, 1, 3)
            if np.abs(_apply(to, grid).astype(np.int16) - grid).max() <= SRGB_TOLERANCE:
                return "sRGB", None, None, icc, None  # sRGB in all but its bytes: the values as held, the profile kept
            back = ImageCms.buildTransform(srgb, profile, "RGB", "RGB", renderingIntent=intent)
            return "RGB", to, back, icc, None
        if space == "GRAY":
            return "GRAY", ImageCms.buildTransform(profile, srgb, "L", "RGB", renderingIntent=intent), None, None, None
    except ImageCms.PyCMSError as exc:
        return "sRGB", None, None, icc, f": its colour profile cannot be used ({exc}); its values are taken as sRGB"
    return "sRGB", None, None, None, (f" has a {space} colour profile, which hairfx does not apply: its picture is "
                                      "read as sRGB, and the output has no profile")


def _apply(transform, arr: np.ndarray) -> np.ndarray:
    """A LittleCMS ``transform`` applied to an ``H x W x 3`` (or ``H x W`` grey) uint8 array."""
    from PIL import Image, ImageCms

    return np.asarray(ImageCms.applyTransform(Image.fromarray(arr), transform)).copy()


# ----------------------------------------------------------------------------- EXIF

_ORIENTATION, _EXIF_IFD, _GPS_IFD, _MAKER_NOTE = 0x0112, 0x8769, 0x8825, 0x927C
#: Tags holding the picture's width or height: IFD0's ImageWidth/ImageLength, the Exif
#: IFD's PixelXDimension/PixelYDimension.
_WIDTH_TAGS, _HEIGHT_TAGS = (0x0100, 0xA002), (0x0101, 0xA003)
#: IFD0's SubIFDs, the pictures a TIFF holds besides its main one (full-size and preview
#: pictures, in a DNG): never copied.
_SUB_IFDS = 0x014A
#: IFD0 tags that hold other metadata blocks whole: XMP (700), IPTC (IPTC-NAA, 33723) and
#: Photoshop's image resources (34377, which can hold a thumbnail). They reach an EXIF
#: block copied from a TIFF's first IFD; the output gets the XMP and IPTC edited in their
#: own places (:mod:`hairfx.xmp`), so the unedited copies here, previews and all, are not kept.
_EMBEDDED_BLOCKS = (0x02BC, 0x83BB, 0x8649)
#: The bytes of one value of each TIFF field type (BYTE, ASCII, SHORT, LONG, RATIONAL,
#: SBYTE, UNDEFINED, SSHORT, SLONG, SRATIONAL, FLOAT, DOUBLE, IFD, BigTIFF's LONG8,
#: SLONG8 and IFD8, and Exif 3.0's UTF-8 text).
_TYPE_BYTES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8,
               129: 1}


def exif_for_output(exif: bytes | None, width: int, height: int, *, name: str = "the input") -> bytes | None:
    """The EXIF block ``exif`` (from :func:`read_metadata`) to write with an upright
    ``width x height`` picture made from its photo: the same bytes, so that every tag's
    offsets still hold, but with the orientation set to 1 (the pixels were turned upright
    when read: the tag again would turn them twice), the width and height tags set to the
    picture's, and without what shows the photo before the change: the thumbnail (IFD1),
    the maker note (0x927C: Nikon, Sony, Pentax, Olympus and others keep a preview of the
    photo in theirs, each in its own private layout), sub-pictures (SubIFDs) and copies of
    other metadata blocks in IFD0 (XMP, IPTC, Photoshop's resources). Every
    byte that the IFDs kept (IFD0 and the Exif, GPS and Interoperability IFDs) do not
    point to is cleared, so that what was left out does not travel in the file
    unreferenced, and the block ends after the last byte kept. A sub-IFD that cannot be
    followed is left out. None, with a warning naming ``name``, for a block whose first
    IFD cannot be followed: better no EXIF than a damaged one."""
    if not exif:
        return None
    try:
        return _patched(bytearray(exif), width, height)
    except (struct.error, ValueError, IndexError, KeyError):
        warnings.warn(f"hairfx: {name}: its EXIF block is damaged and is not copied", RuntimeWarning, stacklevel=2)
        return None


class _Tiff:
    """Reading the IFDs of a TIFF structure: an EXIF block, or a TIFF file's own tags. With
    ``big``, a BigTIFF (version 43) is read as such: its offsets, its IFDs' counts of entries
    and its entries' counts are 8 bytes, so an entry is 20 bytes and holds a value of up to
    8 bytes itself. Without, or for any other version, the classic layout: 4-byte offsets,
    12-byte entries holding up to 4 bytes."""

    def __init__(self, data: bytes | bytearray, *, big: bool = False) -> None:
        self.data = data
        self.order = {b"II": "<", b"MM": ">"}[bytes(data[:2])]
        self.big = big and self.u16(2) == 43
        if self.big and (self.u16(4), self.u16(6)) != (8, 0):  # the size of its offsets, then 0
            raise ValueError("a BigTIFF header whose offsets are not 8 bytes")
        #: the bytes of an IFD's count of entries, of an entry, and of an entry's value field
        self._count, self._entry, self.field_size = (8, 20, 8) if self.big else (2, 12, 4)

    def u16(self, pos: int) -> int:
        return struct.unpack_from(self.order + "H", self.data, pos)[0]

    def u32(self, pos: int) -> int:
        return struct.unpack_from(self.order + "I", self.data, pos)[0]

    def offset(self, pos: int) -> int:
        """The offset (or count) at ``pos``: 4 bytes, or a BigTIFF's 8."""
        return struct.unpack_from(self.order + ("Q" if self.big else "I"), self.data, pos)[0]

    def first_ifd(self) -> int:
        """Where IFD0 lies, as the header says."""
        return self.offset(8 if self.big else 4)

    def field(self, pos: int) -> int:
        """Where the value field of the entry at ``pos`` lies (after its tag, type and count)."""
        return pos + 4 + self.field_size

    def entries(self, ifd: int, tail: int | None = None) -> tuple[list[tuple[int, int, int, int]], int]:
        """``(position, tag, type, count)`` of each entry of the IFD at ``ifd``, and where
        its next-IFD link is; ``tail`` bytes of that link (all of it by default) must fit
        in the block."""
        count = self.offset(ifd) if self.big else self.u16(ifd)
        start, size = ifd + self._count, self._entry
        if start + size * count + (self.field_size if tail is None else tail) > len(self.data):
            raise ValueError("IFD runs past the block")
        return [(start + size * k, self.u16(start + size * k), self.u16(start + size * k + 2),
                 self.offset(start + size * k + 4)) for k in range(count)], start + size * count

    def sub_ifd_at(self, tags, tag: int) -> int | None:
        """Where the sub-IFD that entry ``tag`` of ``tags`` points to lies, where there is
        such an entry and the IFD can be followed; else None (readers pass over a broken one)."""
        for pos, found, kind, count in tags:
            # LONG or IFD: the sub-IFD's offset; in a BigTIFF also LONG8 or IFD8
            if found == tag and kind in ((4, 13, 16, 18) if self.big else (4, 13)) and count == 1:
                try:
                    at = (self.u32 if kind in (4, 13) else self.offset)(self.field(pos))
                    self.entries(at, tail=0)  # its next-IFD link, never used, may be missing
                    return at
                except (struct.error, ValueError):
                    return None
        return None

    def sub_ifd(self, tags, tag: int) -> list[tuple[int, int, int, int]]:
        """The entries of the sub-IFD that entry ``tag`` of ``tags`` points to; none where
        there is no such entry or it cannot be followed."""
        at = self.sub_ifd_at(tags, tag)
        return [] if at is None else self.entries(at, tail=0)[0]

    def value_bytes(self, pos: int, kind: int, count: int) -> tuple[int, int] | None:
        """``(start, end)`` of the value of the entry at ``pos`` where it lies outside the
        entry (more than its field holds); None where the entry holds it (or its type is unknown)."""
        size = _TYPE_BYTES.get(kind, 0) * count
        if size <= self.field_size:
            return None
        start = self.offset(self.field(pos))
        return start, start + size


def _patched(data: bytearray, width: int, height: int) -> bytes:
    tiff = _Tiff(data)
    order = tiff.order
    kept = [(0, 8)]  # the byte ranges the output's IFDs point to: the header first

    def set_value(pos, kind, count, value):
        """Every value of a SHORT or LONG entry held in its 4-byte value field (a count of
        two SHORTs is odd but written; readers take the first)."""
        if kind == 3 and count in (1, 2):  # SHORT
            for k in range(count):
                struct.pack_into(order + "H", data, pos + 8 + 2 * k, min(value, 0xFFFF))
        elif kind == 4 and count == 1:  # LONG
            struct.pack_into(order + "I", data, pos + 8, value)

    def set_size(pos, tag, kind, count):
        if tag in _WIDTH_TAGS + _HEIGHT_TAGS:
            set_value(pos, kind, count, width if tag in _WIDTH_TAGS else height)

    def keep(at: int, tail: int, pointers: tuple = (), drop: tuple = ()) -> tuple[list, int, dict[int, int]]:
        """The entries of the IFD at ``at``, less those of the tags ``drop`` and of the
        ``pointers`` to sub-IFDs that cannot be followed (the others moved up in their
        place), and where its next-IFD link is; its bytes and its entries' values are
        marked kept. Also where each sub-IFD of ``pointers`` followed lies."""
        tags, link = tiff.entries(at, tail)
        subs = {tag: tiff.sub_ifd_at(tags, tag) for tag in pointers}
        gone = set(drop) | {tag for tag, sub in subs.items() if sub is None}
        staying = [bytes(data[pos : pos + 12]) for pos, tag, _, _ in tags if tag not in gone]
        if len(staying) < len(tags):
            next_ifd = bytes(data[link : link + 4])  # a sub-IFD's may be missing
            struct.pack_into(order + "H", data, at, len(staying))
            data[at + 2 : at + 2 + 12 * len(staying)] = b"".join(staying)
            link = at + 2 + 12 * len(staying)
            data[link : link + len(next_ifd)] = next_ifd
            tags = tiff.entries(at, tail)[0]
        kept.append((at, link + 4))
        kept.extend(r for pos, _, kind, count in tags if (r := tiff.value_bytes(pos, kind, count)))
        return tags, link, {tag: sub for tag, sub in subs.items() if sub is not None}

    tags, link, subs = keep(tiff.u32(4), 4, pointers=(_EXIF_IFD, _GPS_IFD), drop=(_SUB_IFDS, *_EMBEDDED_BLOCKS))
    for pos, tag, kind, count in tags:
        if tag == _ORIENTATION:
            set_value(pos, kind, count, 1)
        elif tag not in (_EXIF_IFD, _GPS_IFD):
            set_size(pos, tag, kind, count)
    struct.pack_into(order + "I", data, link, 0)  # no IFD1, so no thumbnail
    if _EXIF_IFD in subs:
        exif_tags, _, exif_subs = keep(subs[_EXIF_IFD], 0, pointers=(_INTEROP_IFD,), drop=(_MAKER_NOTE,))
        for pos, tag, kind, count in exif_tags:
            if tag != _INTEROP_IFD:
                set_size(pos, tag, kind, count)
        if _INTEROP_IFD in exif_subs:
            keep(exif_subs[_INTEROP_IFD], 0)
    if _GPS_IFD in subs:
        keep(subs[_GPS_IFD], 0)
    # what no IFD kept points to (the thumbnail, the maker note, ...) is cleared, and the end cut
    end = 0
    for start, stop in sorted((max(a, 0), min(b, len(data))) for a, b in kept):
        if start >= stop:
            continue
        if start > end:
            data[end:start] = bytes(start - end)
        end = max(end, stop)
    return bytes(data[:end])


#: The tags of a TIFF's IFD0 its EXIF is made of: those Exif lists for IFD0 that describe
#: the photo, not how the file lays out its pixels. ImageDescription, Make, Model,
#: Orientation, XResolution, YResolution, ResolutionUnit, TransferFunction, Software,
#: DateTime, Artist, WhitePoint, PrimaryChromaticities, Copyright.
_TIFF_EXIF_TAGS = frozenset({0x010E, 0x010F, 0x0110, 0x0112, 0x011A, 0x011B, 0x0128, 0x012D, 0x0131, 0x0132,
                             0x013B, 0x013E, 0x013F, 0x8298})


def tiff_exif(data) -> bytes | None:
    """The EXIF of the TIFF file whose bytes are ``data`` (or a memory map of them: only
    what its tags point to is read), as a JPEG holds it: a TIFF structure of the file's
    IFD0 tags that describe the photo (camera, date, artist, copyright, resolution,
    orientation: :data:`_TIFF_EXIF_TAGS`) and of its Exif, GPS and Interoperability IFDs.
    In the file they lie among the tags that lay out its pixels, their values at offsets
    counted from the file's start: each entry is copied into a block of their own, its
    value with it. The maker note is not: its own offsets may count from the file's start,
    and would point astray (:func:`exif_for_output` leaves maker notes out anyway). A
    BigTIFF's tags are read as such and laid out as a classic TIFF structure, as EXIF is in
    every format (:func:`_gathered`). None where the file has none of these, or its IFD0
    cannot be read; a sub-IFD that cannot be followed, or an entry whose value lies past
    the file's end, is left out."""
    try:
        order, ifds = _gathered(data)
    except (struct.error, ValueError, IndexError, KeyError):
        return None
    if not any(ifds):
        return None
    return bytes(data[:2]) + struct.pack(order + "HI", 42, 8) + _laid_out(order, ifds, 8)


def _gathered(data) -> tuple[str, list[list[tuple[int, int, int, bytes, bool]]]]:
    """The byte order of the TIFF structure ``data`` and the entries :func:`tiff_exif`
    copies from it: those of IFD0 (:data:`_TIFF_EXIF_TAGS`), of the Exif IFD (less its
    maker note and its pointer to the next), of the Interoperability and of the GPS IFD,
    each as ``(tag, type, count, value, whether the value lies outside the entry)`` as a
    classic TIFF structure lays them out. A BigTIFF's are read as such: a value of 5 to 8
    bytes, which its entry holds, goes outside; a value of its 8-byte integer types (LONG8,
    SLONG8, IFD8), which classic TIFF has not, becomes LONG or SLONG where it fits in 4
    bytes, and is left out where it does not, as is a value of a type whose size is
    unknown. Raises ``ValueError`` (or ``struct.error``) where IFD0 cannot be read."""
    tiff = _Tiff(data, big=True)
    if tiff.u16(2) != 42 and not tiff.big:
        raise ValueError("not a TIFF structure")
    ifd0 = tiff.entries(tiff.first_ifd())[0]
    exif_ifd = tiff.sub_ifd(ifd0, _EXIF_IFD)
    interop = tiff.sub_ifd(exif_ifd, _INTEROP_IFD)
    gps = tiff.sub_ifd(ifd0, _GPS_IFD)

    def copied(entries) -> list[tuple[int, int, int, bytes, bool]]:
        out = []
        for pos, tag, kind, count in entries:
            span, field = tiff.value_bytes(pos, kind, count), tiff.field(pos)
            if span is None:
                if kind not in _TYPE_BYTES:  # classic: the field as found; a BigTIFF's cannot be cut to 4 bytes
                    if not tiff.big:
                        out.append((tag, kind, count, bytes(data[field : field + 4]), False))
                    continue
                value = bytes(data[field : field + _TYPE_BYTES[kind] * count])
            elif span[1] <= len(data):
                value = bytes(data[span[0] : span[1]])
            else:
                continue
            if kind in (16, 17, 18):  # LONG8, SLONG8, IFD8
                try:
                    value = struct.pack(f"{tiff.order}{count}{'i' if kind == 17 else 'I'}",
                                        *struct.unpack(f"{tiff.order}{count}{'q' if kind == 17 else 'Q'}", value))
                except struct.error:  # a number that needs more than 4 bytes
                    continue
                kind = 9 if kind == 17 else 4
            outside = len(value) > 4
            out.append((tag, kind, count, value if outside else value.ljust(4, b"\0"), outside))
        return out

    return tiff.order, [copied(e for e in ifd0 if e[1] in _TIFF_EXIF_TAGS),
                        copied(e for e in exif_ifd if e[1] not in (_INTEROP_IFD, _MAKER_NOTE)), copied(interop),
                        copied(gps)]


def _laid_out(order: str, ifds: list[list[tuple]], at: int, *, next_ifd: int = 0) -> bytes:
    """The IFDs ``ifds`` (IFD0, Exif, Interoperability, GPS, as :func:`_gathered` gives
    them; any may be empty) written in byte order ``order`` to lie at the offset ``at``
    (even) of their file: IFD0 first, linked to ``next_ifd``, then the sub-IFDs that have
    entries, each pointed to from its parent, then the values held outside the entries,
    each on a word boundary. The entries are sorted by tag, as TIFF wants them."""
    # the sub-IFDs' pointers, their offsets written below: IFD0 to the Exif and GPS IFDs,
    # the Exif IFD to the Interoperability IFD
    pointers = {_EXIF_IFD: 1, _GPS_IFD: 3, _INTEROP_IFD: 2}
    ifds = [[entry for entry in entries if entry[0] not in pointers] for entries in ifds]
    if ifds[2]:
        ifds[1].append((_INTEROP_IFD, 4, 1, None, False))
    ifds[0] += [(tag, 4, 1, None, False) for tag in (_EXIF_IFD, _GPS_IFD) if ifds[pointers[tag]]]
    start, ifd_at = at, {}
    for k, entries in enumerate(ifds):
        if entries or k == 0:
            entries.sort(key=lambda entry: entry[0])
            ifd_at[k], at = at, at + 2 + 12 * len(entries) + 4
    block, values = bytearray(), bytearray()
    for k, entries in enumerate(ifds):
        if k not in ifd_at:
            continue
        block += struct.pack(order + "H", len(entries))
        for tag, kind, count, value, outside in entries:
            if value is None:  # a sub-IFD's pointer
                field = struct.pack(order + "I", ifd_at[pointers[tag]])
            elif outside:
                values += bytes(len(values) % 2)  # values start on a word boundary
                field = struct.pack(order + "I", at + len(values))
                values += value
            else:
                field = value
            block += struct.pack(order + "HHI", tag, kind, count) + field
        block += struct.pack(order + "I", next_ifd if k == 0 else 0)
    if len(block) != at - start:  # pragma: no cover - fixed by the layout above
        raise AssertionError("IFDs laid out at the wrong offsets")
    return bytes(block + values)


#: IFD0's tags for the ICC profile (InterColorProfile) and XMP, as TIFF files hold them.
_ICC_TAG, _XMP_TAG = 0x8773, 0x02BC
#: The bytes of each number a value of a TIFF field type holds, which a change of byte
#: order turns around (a RATIONAL is two LONGs).
_NUMBER_BYTES = {1: 1, 2: 1, 6: 1, 7: 1, 129: 1, 3: 2, 8: 2, 4: 4, 9: 4, 11: 4, 13: 4, 5: 4, 10: 4, 12: 8}
#: The UNDEFINED values whose bytes hold numbers in the byte order of their EXIF, as the
#: Exif standard (CIPA DC-008, 2.32 and 3.0) lays them out, by the IFD they belong to (1:
#: Exif, 3: GPS, as :func:`_gathered` lists them) and their tag. Every other UNDEFINED
#: value of the standard is bytes in any order: ExifVersion, FlashpixVersion and
#: InteroperabilityVersion (four ASCII digits), ComponentsConfiguration, FileSource and
#: SceneType (a byte each); the maker note, whose layout is its maker's, is never copied.
_UNDEFINED_LAYOUTS = {
    (1, 0x9286): "text",  # UserComment: an 8-byte character code; under "UNICODE", UTF-16 text
    (3, 0x001B): "text",  # GPSProcessingMethod, the same
    (3, 0x001C): "text",  # GPSAreaInformation, the same
    (1, 0xA302): "counts",  # CFAPattern: SHORT columns and rows, then a byte per cell
    (1, 0x8828): "table",  # OECF: SHORT columns and rows, the columns' names, an SRATIONAL per cell
    (1, 0xA20C): "table",  # SpatialFrequencyResponse: the same, a RATIONAL per cell
    (1, 0xA40B): "settings",  # DeviceSettingDescription: SHORT columns and rows, then UCS-2 strings
    (1, 0xA462): "exposures",  # SourceExposureTimesOfCompositeImage: 7 RATIONALs, 2 SHORTs, RATIONALs
}


def tiff_with_metadata(data: bytes, *, icc_profile: bytes | None = None, exif: bytes | None = None,
                       xmp: bytes | None = None) -> bytes:
    """The TIFF file ``data`` (one picture, as OpenCV writes it) with ``icc_profile``,
    ``exif`` (a TIFF-structured block, as :func:`exif_for_output` gives it) and ``xmp`` (a
    packet) among its tags, where TIFF readers look for them: the profile and XMP packet
    as IFD0's tags 34675 and 700, the EXIF's IFD0 tags that describe the photo (camera, date,
    resolution, orientation) beside the file's own, and its Exif, GPS and Interoperability
    IFDs pointed to from IFD0, as :func:`tiff_exif` reads them back. The file is left as
    it is but for its header's pointer to IFD0: a new IFD0, the old one's entries (whose
    values stay where they lie) with these, is written after its end, and the old one's
    table is cleared. EXIF in the other byte order is turned to the file's (an entry of a
    type it cannot turn is left out). Raises ``ValueError`` (or ``struct.error``) for a file
    or an EXIF block whose IFD0 cannot be read, and for a BigTIFF file: OpenCV's encoder
    writes only classic TIFF files, which hold any picture hairfx writes (16384 pixels
    square, RGB, is 805 MB before compression, within the 4 GB a classic TIFF's offsets
    reach), so a BigTIFF input's metadata goes into a classic TIFF output."""
    tiff = _Tiff(data)
    if tiff.u16(2) != 42:
        raise ValueError("not a classic TIFF file")
    old = tiff.u32(4)
    tags, link = tiff.entries(old)
    entries = {tag: (tag, kind, count, bytes(data[pos + 8 : pos + 12]), False) for pos, tag, kind, count in tags}
    ifds = [[], [], [], []]
    if exif:
        order, ifds = _gathered(exif)
        ifds = [_in_order(each, order, tiff.order, ifd=k) for k, each in enumerate(ifds)]
        entries.update((entry[0], entry) for entry in ifds[0])
    for tag, kind, value in ((_ICC_TAG, 7, icc_profile), (_XMP_TAG, 1, xmp)):
        if value:
            entries[tag] = (tag, kind, len(value), value if len(value) > 4 else value.ljust(4, b"\0"), len(value) > 4)
    at = len(data) + len(data) % 2  # an IFD starts on a word boundary
    block = _laid_out(tiff.order, [list(entries.values()), *ifds[1:]], at, next_ifd=tiff.u32(link))
    out = bytearray(data) + bytes(at - len(data)) + block
    out[4:8] = struct.pack(tiff.order + "I", at)
    out[old : link + 4] = bytes(link + 4 - old)  # the old IFD0's table, which nothing points to now
    return bytes(out)


def _in_order(entries: list[tuple], source: str, target: str, *, ifd: int) -> list[tuple]:
    """The entries ``entries`` (as :func:`_gathered` gives them, of its IFD number ``ifd``)
    of a TIFF structure in byte order ``source``, turned to ``target``: each number of each
    value turned around, those that UNDEFINED values of the Exif standard hold among their
    bytes too (:data:`_UNDEFINED_LAYOUTS`), less the entries of a type whose numbers' size
    is unknown."""
    if source == target:
        return entries
    turned = []
    for tag, kind, count, value, outside in entries:
        size = _NUMBER_BYTES.get(kind)
        if size is None:
            continue
        used = min(len(value), _TYPE_BYTES[kind] * count)  # an entry's field may hold fewer than 4 bytes
        if size > 1:
            value = b"".join(value[k : k + size][::-1] for k in range(0, used, size)) + value[used:]
        elif kind == 7 and (ifd, tag) in _UNDEFINED_LAYOUTS:
            numbers = bytearray(value)
            for start, width in _undefined_numbers(_UNDEFINED_LAYOUTS[ifd, tag], value[:used], source):
                numbers[start : start + width] = value[start : start + width][::-1]
            value = bytes(numbers)
        turned.append((tag, kind, count, value, outside))
    return turned


def _undefined_numbers(layout: str, value: bytes, order: str) -> list[tuple[int, int]]:
    """``(start, size)`` of each number the UNDEFINED ``value`` of a layout of
    :data:`_UNDEFINED_LAYOUTS` holds in byte order ``order``, as far as the value goes.
    A text's UTF-16 code units are numbers where its code says UNICODE (as exiftool reads
    it: "UNICODE", then a NUL or a space); a table's cells are its last 8 bytes a cell, after
    its columns' names (exiftool's reading, which needs no names to be well ended)."""
    if layout == "text":
        unicode = value[:7] == b"UNICODE" and value[7:8] in (b"\0", b" ")
        return [(k, 2) for k in range(8, len(value) - 1, 2)] if unicode else []
    if len(value) < 4:
        return []
    counts = [(0, 2), (2, 2)]
    if layout == "settings":
        return counts + [(k, 2) for k in range(4, len(value) - 1, 2)]
    if layout == "exposures":
        return ([(k, 4) for k in range(0, min(56, len(value)) - 3, 4)]
                + [(k, 2) for k in (56, 58) if k + 2 <= len(value)] + [(k, 4) for k in range(60, len(value) - 3, 4)])
    if layout == "table":
        columns, rows = struct.unpack_from(order + "HH", value)
        cells = len(value) - 8 * columns * rows
        return counts + ([(k, 4) for k in range(cells, len(value), 4)] if cells >= 4 else [])
    return counts


#: The Exif IFD's ColorSpace tag, and its Interoperability IFD's pointer and index tag.
_COLOR_SPACE, _INTEROP_IFD, _INTEROP_INDEX = 0xA001, 0xA005, 0x0001


def exif_colour_space(exif: bytes | None) -> str | None:
    """The colour space an EXIF block says its photo is in, for a photo without an ICC
    profile: "sRGB", "Adobe RGB (1998)", or None where it says neither or cannot be read.

    A camera set to Adobe RGB embeds no profile. Exif and DCF mark such a JPEG with the Exif
    IFD's ColorSpace "Uncalibrated" (0xFFFF) and the Interoperability IFD's index "R03" (DCF's
    option file; sRGB photos say "R98"); a few cameras write ColorSpace 2, which Exif does not
    define, for Adobe RGB. Photo editors read both so, as exiftool names them."""
    if not exif:
        return None
    try:
        tiff = _Tiff(exif)
        exif_ifd = tiff.sub_ifd(tiff.entries(tiff.u32(4))[0], _EXIF_IFD)
        space = next((tiff.u16(pos + 8) for pos, tag, kind, count in exif_ifd
                      if tag == _COLOR_SPACE and kind == 3 and count == 1), None)
        index = next((bytes(exif[pos + 8 : pos + 8 + min(count, 4)]).rstrip(b"\0")
                      for pos, tag, kind, count in tiff.sub_ifd(exif_ifd, _INTEROP_IFD)
                      if tag == _INTEROP_INDEX and kind in (2, 7)), None)  # ASCII "R03\0", inline
    except (struct.error, ValueError, IndexError, KeyError):
        return None
    if space == 1:
        return "sRGB"
    if space == 2 or (space == 0xFFFF and index == b"R03"):
        return "Adobe RGB (1998)"
    return None


# ----------------------------------------------------------------------------- IPTC

#: What starts a JPEG's APP13 segment that holds Photoshop's image resources.
_PHOTOSHOP = b"Photoshop 3.0\0"
#: The signatures an image resource starts with: Photoshop's, and those of other programs
#: that exiftool reads too.
_RESOURCE_SIGNATURES = frozenset({b"8BIM", b"PHUT", b"AgHg", b"DCSR", b"MeSa"})
#: Image resources left out of the output: Photoshop's thumbnails of the photo (0x0409,
#: Photoshop 4's; 0x040C, later ones'), and its copies of the ICC profile, EXIF and XMP
#: (0x040F, 0x0422, 0x0423, 0x0424), which the output holds, made fit for it, where
#: their readers look: copied as found, a copy would still show the photo's preview, or
#: turn it twice.
_RESOURCES_DROPPED = frozenset({0x0409, 0x040C, 0x040F, 0x0422, 0x0423, 0x0424})


def iptc_for_output(resources: bytes | None, *, name: str = "the input") -> bytes | None:
    """Photoshop's image resources ``resources`` (:attr:`Metadata.iptc`) to write with the
    recoloured photo: each as it was, IPTC's record (0x0404: caption, keywords, credit,
    copyright, ...) and its digest among them, less those of :data:`_RESOURCES_DROPPED`.
    Each resource is a signature, its ID (big-endian), a Pascal-string name padded to an
    even length, its size and its data, padded to an even length. None where none is
    left, and, with a warning naming ``name``, for resources that cannot be followed:
    better no IPTC than a damaged block."""
    if not resources:
        return None
    kept, pos = [], 0
    while pos < len(resources) and any(resources[pos:]):  # some writers pad the end with zeros
        start = pos
        named = pos + 6 + (resources[pos + 6] + 2) // 2 * 2 if pos + 6 < len(resources) else len(resources)
        size = int.from_bytes(resources[named : named + 4], "big")
        pos = named + 4 + size
        if resources[start : start + 4] not in _RESOURCE_SIGNATURES or pos > len(resources):
            warnings.warn(f"hairfx: {name}: its IPTC (Photoshop) block is damaged and is not copied", RuntimeWarning,
                          stacklevel=2)
            return None
        if int.from_bytes(resources[start + 4 : start + 6], "big") not in _RESOURCES_DROPPED:
            kept.append(resources[start:pos] + bytes(size % 2))
        pos += size % 2
    return b"".join(kept) or None
