"""Colour profiles and EXIF (hairfx.metadata): conversions against colour-science, EXIF
read back by Pillow."""

from __future__ import annotations

import io
import re
import struct

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms

from conftest import (XMP_PACKET, camera_exif, grey_profile, iptc_record, nikon_maker_note, photoshop_resource,
                      png_with_late_exif, tiff_photo)
from hairfx._colour import colour_science
from hairfx.icc import matrix_shaper_profile
from hairfx.imagefiles import read_photo
from hairfx.metadata import (ColourProfile, Metadata, exif_colour_space, exif_for_output, iptc_for_output,
                             read_metadata, tiff_with_metadata)


def _grid() -> np.ndarray:
    """Every 8-bit level step of 15 on each channel, as a 1-row image."""
    levels = np.arange(0, 256, 15, dtype=np.uint8)
    return np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(1, -1, 3)


@pytest.mark.parametrize("space", ["Display P3", "Adobe RGB (1998)"])
def test_a_wide_gamut_photo_is_converted_to_srgb_as_colour_science_converts_it(space):
    colour = colour_science()
    profile = ColourProfile(matrix_shaper_profile(space), name="photo.jpg")
    assert not profile.is_srgb and profile.output_profile == matrix_shaper_profile(space)
    grid = _grid()
    expected = colour.RGB_to_RGB(grid / 255.0, space, "sRGB", apply_cctf_decoding=True, apply_cctf_encoding=True)
    expected = np.round(np.clip(expected, 0.0, 1.0) * 255.0)
    got = profile.to_srgb(grid)
    assert got.dtype == np.uint8 and got.shape == grid.shape
    assert np.abs(got - expected).max() <= 1
    assert np.abs(got.astype(int) - grid).max() > 60  # a real change: these numbers are not sRGB's
    # back: a change from black to these colours lands them home within the two roundings
    inside = np.all((expected > 3) & (expected < 252), axis=-1)
    back = profile.from_srgb(np.zeros_like(grid), np.zeros_like(got), got)
    assert np.abs(back.astype(int) - grid)[inside].max() <= 2


def test_srgb_profiles_and_none_leave_the_values_as_held():
    pillow_srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for icc in (None, pillow_srgb, matrix_shaper_profile("sRGB")):  # two sRGB profiles, different bytes
        profile = ColourProfile(icc)
        assert profile.is_srgb and profile.output_profile == icc
        grid = _grid()
        assert profile.to_srgb(grid) is grid
        after = grid.copy()
        after[0, :5] = 7
        assert profile.from_srgb(grid, grid, after) is after


def test_only_the_pixels_the_work_changed_are_converted_back():
    """A P3 photo: the pixels the recolouring left alone come out exactly as read, even a
    saturated green that sRGB cannot hold (converting it there and back would clip it); a
    recoloured pixel lands on the sRGB colour it was given; and a faint edge of the hair
    over that green moves by what the recolouring did, not by the clipping as well."""
    profile = ColourProfile(matrix_shaper_profile("Display P3"))
    srgb = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    original = profile.from_srgb(np.zeros_like(srgb), np.zeros_like(srgb), srgb)  # colours sRGB can hold
    original[:, :5] = (40, 220, 60)  # a vivid P3 green down the left edge, outside sRGB
    before = profile.to_srgb(original)
    after = before.copy()
    after[10:20, 15:30] = (180, 80, 40)  # "the hair", recoloured in sRGB
    after[10:20, 4] = np.clip(before[10:20, 4].astype(int) + (15, 1, 14), 0, 255)  # its faint edge over the green
    out = profile.from_srgb(original, before, after)
    changed = np.zeros((40, 50), bool)
    changed[10:20, 15:30] = changed[10:20, 4] = True
    np.testing.assert_array_equal(out[~changed], original[~changed])
    hair = profile.to_srgb(out[10:20, 15:30])  # seen through the profile again
    assert np.abs(hair.astype(int) - (180, 80, 40)).max() <= 2
    edge = out[10:20, 4].astype(int) - original[10:20, 4]
    assert np.abs(edge).max() <= 16  # the change, no more
    green = original[:1, :1]
    there_and_back = profile.from_srgb(np.zeros_like(green), np.zeros_like(green), profile.to_srgb(green))
    assert np.abs(there_and_back.astype(int) - green).max() > 50  # what the clipping alone would have done


def test_a_grey_profile_turns_into_srgb_output_without_a_profile():
    profile = ColourProfile(grey_profile(2.2), name="bw.jpg")
    assert not profile.is_srgb and profile.output_profile is None
    levels = np.arange(256, dtype=np.uint8)
    grey = np.repeat(np.repeat(levels[None, :, None], 3, axis=2), 2, axis=0)  # read_rgb expands grey
    got = profile.to_srgb(grey)
    encode = colour_science().cctf_encoding
    expected = np.round(np.clip(encode((levels / 255.0) ** 2.2, function="sRGB"), 0, 1) * 255)
    assert got.shape == grey.shape and np.abs(got[0, :, 1].astype(int) - expected).max() <= 1
    assert np.array_equal(got[..., 0], got[..., 2])
    after = got.copy()
    after[0, 0] = (200, 90, 30)
    assert profile.from_srgb(grey, got, after) is after  # sRGB out, colour and all


def test_a_grey_profile_on_a_colour_photo_is_ignored_not_made_grey():
    profile = ColourProfile(grey_profile(2.2), name="odd.jpg")
    colour = np.random.default_rng(1).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    with pytest.warns(RuntimeWarning, match=r"odd\.jpg is in colour but its colour profile is for grey images"):
        assert profile.to_srgb(colour) is colour


def test_profiles_it_cannot_apply_are_named():
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    with pytest.warns(RuntimeWarning, match=r"odd\.jpg has a Lab colour profile, which hairfx does not apply"):
        profile = ColourProfile(lab, name="odd.jpg")
    assert profile.is_srgb and profile.output_profile is None  # a Lab profile on RGB output would be wrong
    with pytest.warns(RuntimeWarning, match=r"bad\.jpg: its colour profile cannot be read"):
        profile = ColourProfile(b"not a profile at all" * 10, name="bad.jpg")
    assert profile.is_srgb and profile.output_profile == b"not a profile at all" * 10  # kept, as found


def _profile_copy(space: str, k: int) -> bytes:
    """The profile of ``space`` under another description: other bytes, the same colours."""
    from hairfx.icc import _rgb_tags, icc_profile

    return icc_profile(b"mntrRGB XYZ ", f"{space} copy {k}", _rgb_tags(space))


def test_the_conversions_of_a_profile_are_built_once_for_many_photos():
    """A folder of one camera's photos shares one profile: its conversions are built for
    the first photo and used for the next ones, found by the profile's bytes, for the last
    PROFILES_KEPT profiles; a profile's warning still names each photo it comes with."""
    adobe = matrix_shaper_profile("Adobe RGB (1998)")
    first, second = ColourProfile(bytes(adobe), name="a.jpg"), ColourProfile(bytearray(adobe), name="b.jpg")
    assert first._to is second._to and first._back is second._back and second.output_profile == adobe
    from hairfx.metadata import PROFILES_KEPT

    grid = _grid()
    np.testing.assert_array_equal(second.to_srgb(grid), ColourProfile(_profile_copy("Adobe RGB (1998)", 0)).to_srgb(grid))
    for k in range(1, PROFILES_KEPT + 1):  # as many others: the first is let go
        ColourProfile(_profile_copy("Adobe RGB (1998)", k))
    assert ColourProfile(adobe)._to is not first._to
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    for name in ("a.jpg", "b.jpg"):
        with pytest.warns(RuntimeWarning, match=re.escape(name) + " has a Lab colour profile"):
            assert ColourProfile(lab, name=name).output_profile is None


def test_photos_in_threads_share_a_profiles_conversions():
    """The library is used from threads: photos of one profile, converted at once in eight
    threads through the conversions they share, come out as converted one at a time."""
    from conftest import in_threads

    p3 = _profile_copy("Display P3", 99)
    photos = [np.random.default_rng(k).integers(0, 256, (120, 160, 3), dtype=np.uint8) for k in range(8)]
    alone = [ColourProfile(p3).to_srgb(photo) for photo in photos]
    back = [ColourProfile(p3).from_srgb(photo, photo, np.roll(photo, 1, axis=2)) for photo in photos]

    def work(k):
        profile = ColourProfile(bytes(p3), name=f"{k}.jpg")
        return [(profile.to_srgb(photos[k]), profile.from_srgb(photos[k], photos[k], np.roll(photos[k], 1, axis=2)))
                for _ in range(10)]

    for k, results in enumerate(in_threads(work, len(photos))):
        for srgb, original in results:
            np.testing.assert_array_equal(srgb, alone[k])
            np.testing.assert_array_equal(original, back[k])


def _tiff_exif(order: str = ">", *, orientation: int = 6, width: int = 400, height: int = 300) -> bytes:
    """An EXIF block as cameras write it: IFD0 (Make, Orientation, a pointer to the Exif
    IFD), the Exif IFD (pixel dimensions, as SHORT and LONG), then IFD1, the thumbnail's."""
    def ifd(entries, next_offset):
        out = struct.pack(order + "H", len(entries))
        for tag, kind, count, value in entries:
            field = struct.pack(order + ("HH" if kind == 3 else "I"), *((value, 0) if kind == 3 else (value,)))
            out += struct.pack(order + "HHI", tag, kind, count) + field
        return out + struct.pack(order + "I", next_offset)

    make = b"Canon\0"
    ifd0_at = 8
    ifd0_len = 2 + 12 * 3 + 4
    exif_at = ifd0_at + ifd0_len
    exif_len = 2 + 12 * 2 + 4
    ifd1_at = exif_at + exif_len
    ifd1_len = 2 + 12 * 2 + 4
    make_at = ifd1_at + ifd1_len
    thumb_at = make_at + len(make)
    thumb = b"\xff\xd8thumbnail\xff\xd9"
    data = (b"MM\0*" if order == ">" else b"II*\0") + struct.pack(order + "I", ifd0_at)
    data += ifd([(0x010F, 2, len(make), make_at), (0x0112, 3, 1, orientation), (0x8769, 4, 1, exif_at)], ifd1_at)
    data += ifd([(0xA002, 3, 1, width), (0xA003, 4, 1, height)], 0)
    data += ifd([(0x0201, 4, 1, thumb_at), (0x0202, 4, 1, len(thumb))], 0)
    return data + make + thumb


def _read_exif(tiff: bytes) -> Image.Exif:
    """The block as Pillow, an independent reader, reads it."""
    exif = Image.Exif()
    exif.load(b"Exif\0\0" + tiff)
    return exif


@pytest.mark.parametrize("order", [">", "<"])
def test_exif_keeps_its_tags_but_the_orientation_dimensions_and_thumbnail(order):
    exif = _tiff_exif(order)
    before = _read_exif(exif)
    assert before[0x0112] == 6 and before.get_ifd(ExifTags.IFD.IFD1)  # what a camera wrote: turned, a thumbnail
    out = exif_for_output(exif, 300, 400)  # turned upright: the sides swap
    assert len(out) < len(exif)  # the same block, patched in place, but for the thumbnail at its end
    after = _read_exif(out)
    assert after[0x010F] == "Canon" and after[0x0112] == 1
    assert (after.get_ifd(ExifTags.IFD.Exif)[0xA002], after.get_ifd(ExifTags.IFD.Exif)[0xA003]) == (300, 400)
    assert not after.get_ifd(ExifTags.IFD.IFD1)  # no thumbnail of the photo before the change
    assert b"thumbnail" in exif and b"thumbnail" not in out  # nor its bytes, unreferenced
    assert exif_for_output(out, 300, 400) == out  # nothing more to take out


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _maker_note_preview(maker_note: bytes) -> bytes:
    """The preview a Nikon maker note holds, found as exiftool finds it, by Pillow's TIFF
    reader: its PreviewIFD's start and length, counted from the maker note's TIFF header."""
    from PIL import TiffImagePlugin

    tiff = maker_note[10:]  # after "Nikon\0" and the version
    fp = io.BytesIO(tiff)
    fp.seek(8)
    ifd0 = TiffImagePlugin.ImageFileDirectory_v2(tiff[:8])
    ifd0.load(fp)
    fp.seek(ifd0[0x0011])
    preview = TiffImagePlugin.ImageFileDirectory_v2(tiff[:8])
    preview.load(fp)
    return tiff[preview[0x0201] : preview[0x0201] + preview[0x0202]]


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_maker_note_and_the_preview_of_the_photo_it_holds_are_left_out(order):
    """A Nikon maker note holds a preview of the photo: copied, the photo before the change
    would travel inside the recoloured one. The maker note is left out, and its bytes with
    it; what the camera's standard tags say stays."""
    original = np.zeros((12, 16, 3), np.uint8)
    original[:, :8] = (60, 40, 30)  # dark hair, before the change
    preview = _jpeg(original)
    block = camera_exif(order, maker_note=nikon_maker_note(preview))
    before = _read_exif(block).get_ifd(ExifTags.IFD.Exif)
    assert _maker_note_preview(before[0x927C]) == preview  # what a reader of maker notes finds there
    out = exif_for_output(block, 16, 12)
    after = _read_exif(out)
    assert 0x927C not in after.get_ifd(ExifTags.IFD.Exif)
    assert after.get_ifd(ExifTags.IFD.Exif)[0xA001] == 0xFFFF and after.get_ifd(ExifTags.IFD.Interop)[0x0001] == "R03"
    assert exif_colour_space(out) == "Adobe RGB (1998)"
    assert preview not in out and b"Nikon" not in out and b"\xff\xd8" not in out
    assert len(out) == len(camera_exif(order)) + 12  # the note's entry's room, cleared, and no byte of the note


def test_every_tag_kept_reads_the_same_after_the_unreferenced_bytes_are_cleared():
    """IFD0, Exif, GPS and Interoperability tags with values held outside their entries
    (text, rationals, a user comment), as Pillow writes them, read back the same."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "NIKON CORPORATION", "NIKON D850", "2025:06:01 12:00:00"
    exif[0x011A], exif[0x011B], exif[0x0128] = 300.0, 300.0, 2
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[0x829A], sub[0x9003], sub[0x9286] = 1 / 250, "2025:06:01 11:59:58", b"ASCII\0\0\0a portrait"
    sub[0x927C] = nikon_maker_note(_jpeg(np.zeros((8, 8, 3), np.uint8)))
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.6), "E", (2.0, 17.0, 40.2)
    block = exif.tobytes()[6:]
    before, after = _read_exif(block), _read_exif(exif_for_output(block, 8, 8))
    assert dict(after) == dict(before) and len(before) == 8  # six tags and two sub-IFD pointers
    assert after.get_ifd(ExifTags.IFD.GPSInfo) == before.get_ifd(ExifTags.IFD.GPSInfo) == gps
    kept = dict(before.get_ifd(ExifTags.IFD.Exif))
    del kept[0x927C]
    assert after.get_ifd(ExifTags.IFD.Exif) == kept and len(kept) == 3


def test_exif_that_cannot_be_followed_is_left_out_with_a_warning():
    good = _tiff_exif()
    assert exif_for_output(None, 10, 10) is None
    for bad in (b"XX" + good[2:], good[:30], good[:4] + struct.pack(">I", 10_000) + good[8:]):  # no byte order,
        with pytest.warns(RuntimeWarning, match=r"a\.jpg: its EXIF block is damaged and is not copied"):  # cut, lost
            assert exif_for_output(bad, 10, 10, name="a.jpg") is None


# Pillow's reader warns of the two-valued orientation it is given on purpose here
@pytest.mark.filterwarnings("ignore:Metadata Warning, tag 274 had too many entries")
def test_odd_but_readable_exif_is_still_copied_and_turned_upright():
    """What readers tolerate is copied: a block whose Exif sub-IFD points outside it (Make
    and GPS would be lost with it; the pointer that leads nowhere is taken out), and an
    orientation written as two SHORTs (readers take the first: both are set, or the output
    would be turned twice)."""
    exif = bytearray(_tiff_exif())
    pointer_at = 8 + 2 + 12 * 2 + 8  # IFD0's third entry, the Exif IFD pointer: its value field
    struct.pack_into(">I", exif, pointer_at, 60_000)
    orientation_at = 8 + 2 + 12 * 1  # IFD0's second entry
    struct.pack_into(">HHIHH", exif, orientation_at, 0x0112, 3, 2, 6, 6)
    out = _read_exif(exif_for_output(bytes(exif), 300, 400))
    assert out[0x010F] == "Canon" and out[0x0112] == 1 and 0x8769 not in out
    assert struct.unpack_from(">HH", exif_for_output(bytes(exif), 300, 400), orientation_at + 8) == (1, 1)


def test_other_pictures_of_the_photo_that_ifd0_points_to_are_left_out():
    """IFD0's SubIFDs lead to other pictures of the photo (a DNG's previews, say)."""
    preview = _jpeg(np.zeros((8, 8, 3), np.uint8))
    make = b"Canon\0"
    sub_at = 8 + 2 + 12 * 2 + 4
    make_at = sub_at + 2 + 12 * 2 + 4
    ifd0 = struct.pack(">HHHII", 2, 0x010F, 2, len(make), make_at) + struct.pack(">HHII", 0x014A, 4, 1, sub_at) + bytes(4)
    sub = struct.pack(">HHHII", 2, 0x0201, 4, 1, make_at + len(make)) + struct.pack(">HHII", 0x0202, 4, 1, len(preview))
    block = b"MM\0*" + struct.pack(">I", 8) + ifd0 + sub + bytes(4) + make + preview
    assert _read_exif(block)[0x014A] == sub_at  # as Pillow reads it
    out = exif_for_output(block, 8, 8)
    assert _read_exif(out)[0x010F] == "Canon" and 0x014A not in _read_exif(out)
    assert preview not in out and b"\xff\xd8" not in out


@pytest.mark.parametrize("tag", [0x02BC, 0x83BB, 0x8649])  # XMP, IPTC-NAA, Photoshop's resources
def test_copies_of_other_metadata_blocks_in_ifd0_are_left_out(tag):
    """An XMP packet (or an IPTC record, or Photoshop's resources) kept as an IFD0 tag would
    travel unedited, with the preview it can hold, beside the edited copy the output gets."""
    preview = _jpeg(np.zeros((8, 8, 3), np.uint8))
    block = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><xmp:Thumbnails>' + preview + b"</xmp:Thumbnails></x:xmpmeta>")
    make = b"Canon\0"
    make_at = 8 + 2 + 12 * 2 + 4
    ifd0 = (struct.pack(">HHHII", 2, 0x010F, 2, len(make), make_at)
            + struct.pack(">HHII", tag, 7, len(block), make_at + len(make)) + bytes(4))
    exif = b"MM\0*" + struct.pack(">I", 8) + ifd0 + make + block
    assert tag in _read_exif(exif)  # as Pillow reads it
    out = exif_for_output(exif, 8, 8)
    assert _read_exif(out)[0x010F] == "Canon" and tag not in _read_exif(out)
    assert b"xmpmeta" not in out and b"\xff\xd8" not in out


@pytest.mark.parametrize("order", ["<", ">"])
def test_the_colour_space_exif_names_is_read_as_photo_editors_read_it(order):
    """A camera set to Adobe RGB embeds no profile: "Uncalibrated" and DCF's "R03" say it."""
    block = camera_exif(order)
    seen = _read_exif(block)  # Pillow, an independent reader, reads the same tags
    assert seen.get_ifd(ExifTags.IFD.Exif)[0xA001] == 0xFFFF
    assert seen.get_ifd(ExifTags.IFD.Interop)[0x0001] == "R03"
    assert exif_colour_space(block) == "Adobe RGB (1998)"
    assert exif_colour_space(camera_exif(order, color_space=2, index=None)) == "Adobe RGB (1998)"  # not Exif's, but written
    assert exif_colour_space(camera_exif(order, color_space=1, index=b"R98")) == "sRGB"
    for unsaid in (camera_exif(order, index=b"R98"), camera_exif(order, index=None),
                   camera_exif(order, color_space=None), _tiff_exif(order), None, b"", block[:30], b"XX" + block[2:]):
        assert exif_colour_space(unsaid) is None


def test_a_camera_adobe_rgb_photo_without_a_profile_gets_one_made_for_it(tmp_path):
    adobe = matrix_shaper_profile("Adobe RGB (1998)")
    Image.new("RGB", (8, 8)).save(tmp_path / "IMG_0001.jpg", exif=b"Exif\0\0" + camera_exif())
    meta = read_metadata(tmp_path / "IMG_0001.jpg")
    assert meta.icc_profile is None and meta.colour_profile == adobe  # the file's own, and the one its pixels are in
    assert not ColourProfile(meta.colour_profile).is_srgb
    p3 = matrix_shaper_profile("Display P3")
    assert Metadata(p3, camera_exif()).colour_profile == p3  # an embedded profile says more than EXIF
    assert Metadata(None, camera_exif(index=b"R98")).colour_profile is None
    description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(adobe)))
    assert description.strip() == "Adobe RGB (1998)"


def test_metadata_is_read_from_jpeg_png_and_webp(tmp_path):
    icc = matrix_shaper_profile("Display P3")
    exif = _tiff_exif()
    for suffix in (".jpg", ".png", ".webp"):
        path = tmp_path / f"a{suffix}"
        Image.new("RGB", (8, 8)).save(path, icc_profile=icc, exif=b"Exif\0\0" + exif)
        assert read_metadata(path) == Metadata(icc, exif), suffix
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert read_metadata(tmp_path / "plain.png") == Metadata()
    (tmp_path / "text.jpg").write_text("not an image")
    assert read_metadata(tmp_path / "text.jpg") == Metadata()
    assert read_metadata(tmp_path / "missing.jpg") == Metadata()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_xmp_is_read_where_each_format_holds_it(tmp_path):
    """Where XMP's specification (part 3) puts the packet: a JPEG's APP1 segment after its
    signature (not the Extended XMP segments after it), a PNG's iTXt chunk
    "XML:com.adobe.xmp" (compressed or not, before or after the pixel data), a WebP's XMP
    chunk, a TIFF's tag 700. The JPEG and PNG files are put together here byte by byte."""
    import zlib

    jpeg = _jpeg(np.zeros((8, 8, 3), np.uint8))
    main = b"http://ns.adobe.com/xap/1.0/\0" + XMP_PACKET
    extended = b"http://ns.adobe.com/xmp/extension/\0" + b"0" * 32 + struct.pack(">II", 10, 0) + b"<rdf:extra"
    segments = b"".join(b"\xff\xe1" + struct.pack(">H", 2 + len(body)) + body for body in (main, extended))
    (tmp_path / "a.jpg").write_bytes(jpeg[:2] + segments + jpeg[2:])
    png = _png(np.zeros((8, 8, 3), np.uint8))
    idat = png.index(b"IDAT") - 4
    plain = b"XML:com.adobe.xmp\0\0\0\0\0" + XMP_PACKET
    packed = b"XML:com.adobe.xmp\0\1\0\0\0" + zlib.compress(XMP_PACKET)
    for name, data, where in (("early.png", plain, 33), ("packed.png", packed, 33), ("late.png", plain, -12),
                              ("late-packed.png", packed, -12)):
        at = where if where > 0 else len(png) + where  # after IHDR, or before IEND
        (tmp_path / name).write_bytes(png[:at] + _png_chunk(b"iTXt", data) + png[at:])
        assert (at <= idat) == (where > 0)  # before the pixel data, or after it
    Image.new("RGB", (8, 8)).save(tmp_path / "a.webp", xmp=XMP_PACKET)
    Image.new("RGB", (8, 8)).save(tmp_path / "a.tif", tiffinfo={700: XMP_PACKET})
    for name in ("a.jpg", "early.png", "packed.png", "late.png", "late-packed.png", "a.webp", "a.tif"):
        assert read_metadata(tmp_path / name).xmp == XMP_PACKET, name
    assert read_metadata(tmp_path / "late.png") == read_photo(tmp_path / "late.png")[1]
    other = b"Comment\0\0\0\0\0" + XMP_PACKET  # another iTXt keyword; and a bomb, not unpacked
    bomb = b"XML:com.adobe.xmp\0\1\0\0\0" + zlib.compress(bytes(1 << 25))
    (tmp_path / "other.png").write_bytes(png[:-12] + _png_chunk(b"iTXt", other) + _png_chunk(b"iTXt", bomb)
                                         + png[-12:])
    assert read_metadata(tmp_path / "other.png") == Metadata()


def _png(rgb: np.ndarray) -> bytes:
    import cv2

    return cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes()


def _photo_exif(order: str = "<") -> bytes:
    """EXIF as Pillow writes it, with what a TIFF's IFD0 holds of it (camera, date, an
    orientation, 300 dpi), an Exif IFD and a GPS IFD."""
    exif = Image.Exif()
    exif.endian = order  # the byte order Pillow writes in
    exif[0x010F], exif[0x0110], exif[0x0132] = "Canon", "Canon EOS R5", "2025:06:01 12:00:00"
    exif[0x0112], exif[0x011A], exif[0x011B], exif[0x0128] = 6, 300.0, 300.0, 2
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[0x829A], sub[0x9003], sub[0xA002], sub[0xA003] = 1 / 250, "2025:06:01 11:59:58", 40, 24
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.6)
    return exif.tobytes()[6:]


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_tiffs_exif_is_gathered_from_among_its_tags(tmp_path, order):
    """A TIFF's EXIF lies among the tags that lay out its pixels, at offsets counted from
    the file's start: it is gathered into a block of its own, whose tags read as Pillow
    reads them from the file. The tags of the file's layout stay behind."""
    rgb = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    p3 = matrix_shaper_profile("Display P3")
    (tmp_path / "a.tif").write_bytes(tiff_photo(rgb, _photo_exif(order), icc_profile=p3))
    meta = read_metadata(tmp_path / "a.tif")
    assert meta.icc_profile == p3 and meta.exif[:2] == (b"II" if order == "<" else b"MM")
    got = _read_exif(meta.exif)
    with Image.open(tmp_path / "a.tif") as im:
        want = im.getexif()
        for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            assert got.get_ifd(ifd) == want.get_ifd(ifd) and got.get_ifd(ifd)
        assert 0x0111 in want and 0x8773 in want  # StripOffsets, the ICC profile: the file's, not EXIF
    assert {tag: got[tag] for tag in got if tag not in (0x8769, 0x8825)} == {
        tag: want[tag] for tag in (0x010F, 0x0110, 0x0132, 0x0112, 0x011A, 0x011B, 0x0128)}
    camera = tmp_path / "camera.tif"  # a camera set to Adobe RGB: says so in the Interoperability IFD
    camera.write_bytes(tiff_photo(rgb, camera_exif(order)))
    assert _read_exif(read_metadata(camera).exif).get_ifd(ExifTags.IFD.Interop)[0x0001] == "R03"
    assert read_metadata(camera).colour_profile == matrix_shaper_profile("Adobe RGB (1998)")
    for plain in ({}, {"big_tiff": True}):  # no tag of EXIF's
        Image.fromarray(rgb).save(tmp_path / "plain.tif", icc_profile=p3, **plain)
        assert read_metadata(tmp_path / "plain.tif") == Metadata(p3, None)


@pytest.mark.parametrize("order", ["<", ">"])
def test_a_bigtiffs_metadata_is_read_as_a_classic_tiffs(tmp_path, order):
    """A BigTIFF (version 43: 8-byte offsets and counts, 20-byte entries holding values of
    up to 8 bytes) holds its EXIF, profile and XMP among its tags as a classic TIFF does.
    Read from them, they are those of the same file written as a classic TIFF, byte for
    byte: the EXIF gathered into a classic TIFF structure, as EXIF is in every format, its
    RATIONALs (8 bytes, in their entries in the BigTIFF) and its LONG8s (which classic TIFF
    has not) as a classic TIFF holds them. Pillow reads no BigTIFF's EXIF, and opens no
    big-endian BigTIFF at all, profile and XMP included; libtiff reads the file (OpenCV's
    decoding: the same picture, turned by the same orientation)."""
    import cv2

    from conftest import as_bigtiff

    rgb = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    p3 = matrix_shaper_profile("Display P3")
    classic = tiff_photo(rgb, _photo_exif(order), icc_profile=p3, xmp=XMP_PACKET)
    (tmp_path / "classic.tif").write_bytes(classic)
    (tmp_path / "big.tif").write_bytes(as_bigtiff(classic))
    assert (tmp_path / "big.tif").read_bytes()[:4] == (b"II+\0" if order == "<" else b"MM\0+")
    want = read_metadata(tmp_path / "classic.tif")
    assert want.icc_profile == p3 and want.xmp == XMP_PACKET and _read_exif(want.exif).get_ifd(ExifTags.IFD.GPSInfo)
    assert read_metadata(tmp_path / "big.tif") == want
    assert read_photo(tmp_path / "big.tif")[1] == want
    decoded = [cv2.imdecode(np.fromfile(tmp_path / name, np.uint8), cv2.IMREAD_UNCHANGED)
               for name in ("classic.tif", "big.tif")]
    assert decoded[0].shape == (40, 24, 3) and np.array_equal(decoded[0], decoded[1])  # orientation 6: turned
    # PixelXDimension and PixelYDimension as LONG8s: LONGs; one that needs more than 4 bytes
    # has no classic form, and is left out
    big = bytearray(as_bigtiff(classic, long8=(0xA002, 0xA003)))
    (tmp_path / "long8.tif").write_bytes(big)
    exif = _read_exif(read_metadata(tmp_path / "long8.tif").exif).get_ifd(ExifTags.IFD.Exif)
    assert (exif[0xA002], exif[0xA003], exif[0x9003]) == (40, 24, "2025:06:01 11:59:58")
    at = big.index(struct.pack(order + "HHQ", 0xA003, 16, 1)) + 12
    big[at : at + 8] = struct.pack(order + "Q", 1 << 32)
    (tmp_path / "wide.tif").write_bytes(big)
    exif = _read_exif(read_metadata(tmp_path / "wide.tif").exif).get_ifd(ExifTags.IFD.Exif)
    assert 0xA003 not in exif and exif[0xA002] == 40 and exif[0x9003] == "2025:06:01 11:59:58"


@pytest.mark.parametrize("order", ["<", ">"])
def test_exif_goes_into_a_tiffs_own_tags_in_either_byte_order(order):
    """OpenCV writes little-endian TIFFs; a Nikon's EXIF is big-endian: its numbers are
    turned around, and Pillow reads from the file's tags what it reads from the block."""
    import cv2

    rgb = np.random.default_rng(5).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    tiff = cv2.imencode(".tif", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes()
    assert tiff[:2] == b"II"
    block = exif_for_output(_photo_exif(order), 40, 24)  # upright, as the pixels are
    out = tiff_with_metadata(tiff, exif=block, icc_profile=matrix_shaper_profile("Display P3"))
    want = _read_exif(block)
    with Image.open(io.BytesIO(out)) as im:
        got = im.getexif()
        assert {tag: got[tag] for tag in want if tag not in (0x8769, 0x8825)} == {
            tag: want[tag] for tag in (0x010F, 0x0110, 0x0132, 0x0112, 0x011A, 0x011B, 0x0128)}
        for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            assert got.get_ifd(ifd) == want.get_ifd(ifd) and got.get_ifd(ifd)
        assert im.info["icc_profile"] == matrix_shaper_profile("Display P3")
        np.testing.assert_array_equal(np.asarray(im), rgb)


def _exif_of(order: str, exif: list[tuple[int, int, bytes]], gps: list[tuple[int, int, bytes]]) -> bytes:
    """An EXIF block in byte order ``order``, laid out by TIFF's rules: IFD0 pointing to an
    Exif IFD of the entries ``exif`` and a GPS IFD of ``gps``, each ``(tag, type, value)``,
    its count the value's bytes over its type's size, a value of more than 4 bytes after
    the IFDs, on a word boundary."""
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8, 129: 1}
    exif_at = 8 + 2 + 12 * 2 + 4
    gps_at = exif_at + 2 + 12 * len(exif) + 4
    values_at = gps_at + 2 + 12 * len(gps) + 4
    values = b""

    def ifd(entries) -> bytes:
        nonlocal values
        out = struct.pack(order + "H", len(entries))
        for tag, kind, value in sorted(entries):
            if len(value) > 4:
                values += bytes(len(values) % 2)
                field = struct.pack(order + "I", values_at + len(values))
                values += value
            else:
                field = value.ljust(4, b"\0")
            out += struct.pack(order + "HHI", tag, kind, len(value) // sizes[kind]) + field
        return out + bytes(4)

    head = (b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 8)
    ifds = ifd([(0x8769, 4, struct.pack(order + "I", exif_at)), (0x8825, 4, struct.pack(order + "I", gps_at))])
    ifds += ifd(exif) + ifd(gps)
    return head + ifds + values


def _undefined_numbers(order: str) -> tuple[list, list]:
    """The Exif and GPS IFD entries of UNDEFINED type whose bytes hold numbers, written in
    byte order ``order`` as the Exif standard (CIPA DC-008) lays them out, and some that
    hold none, as ``(tag, type, value)``."""
    utf16 = "utf-16-le" if order == "<" else "utf-16-be"
    exif = [
        (0x9000, 7, b"0232"),  # ExifVersion: four ASCII digits
        (0x9101, 7, b"\1\2\3\0"),  # ComponentsConfiguration: a byte each
        (0x9286, 7, b"UNICODE\0" + "Zo\u00eb, \u6771\u4eac".encode(utf16)),  # UserComment: UTF-16 after its code
        (0xA302, 7, struct.pack(order + "HH", 2, 2) + bytes([0, 1, 1, 2])),  # CFAPattern: SHORT columns, rows
        # OECF: SHORT columns and rows, the columns' names, an SRATIONAL per cell
        (0x8828, 7, struct.pack(order + "HH", 2, 1) + b"R\0G\0" + struct.pack(order + "4i", -1, 3, 70000, 9)),
        # SpatialFrequencyResponse: the same, RATIONALs
        (0xA20C, 7, struct.pack(order + "HH", 2, 1) + b"H\0V\0" + struct.pack(order + "4I", 1, 2, 300, 4)),
        # DeviceSettingDescription: SHORT columns and rows, then UCS-2 strings, each ended by a NUL
        (0xA40B, 7, struct.pack(order + "HH", 1, 2) + "Fine\0Vivid\0".encode(utf16)),
        # SourceExposureTimesOfCompositeImage: 7 RATIONALs, the SHORT numbers of sequences and
        # of images in them, a RATIONAL per image
        (0xA462, 7, struct.pack(order + "14I", *range(1, 15)) + struct.pack(order + "HH", 1, 2)
         + struct.pack(order + "4I", 1, 100, 1, 200)),
    ]
    gps = [(0x001B, 7, b"UNICODE\0" + "GPS".encode(utf16)),  # GPSProcessingMethod: as UserComment
           (0x001C, 7, b"ASCII\0\0\0Paris")]  # GPSAreaInformation: ASCII, no numbers
    return exif, gps


@pytest.mark.parametrize("order", [">", "<"])
def test_undefined_values_that_hold_numbers_are_turned_with_the_byte_order(order):
    """UNDEFINED values are bytes, copied as they are into a TIFF of the other byte order;
    but some hold numbers in the EXIF's byte order: a UNICODE UserComment's UTF-16 (and the
    GPS IFD's texts'), CFAPattern's, OECF's, SpatialFrequencyResponse's and
    DeviceSettingDescription's counts, the latter's UCS-2 strings, the two former's
    rationals, SourceExposureTimesOfCompositeImage's rationals and counts. They read, from
    the file, as the same values written in its byte order; the others are unchanged."""
    import cv2

    rgb = np.random.default_rng(6).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    if order == ">":  # a Nikon's EXIF into the little-endian TIFF OpenCV writes
        tiff, target = cv2.imencode(".tif", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes(), "<"
    else:  # and the other way: into a big-endian TIFF
        tiff, target = tiff_photo(rgb, _exif_of(">", [], [])), ">"
    out = tiff_with_metadata(tiff, exif=_exif_of(order, *_undefined_numbers(order)))
    assert out[:2] == (b"II" if target == "<" else b"MM")
    exif, gps = _undefined_numbers(target)
    with Image.open(io.BytesIO(out)) as im:
        got = im.getexif()
        assert {tag: got.get_ifd(ExifTags.IFD.Exif).get(tag) for tag, _, _ in exif} == {
            tag: value for tag, _, value in exif}
        assert {tag: got.get_ifd(ExifTags.IFD.GPSInfo).get(tag) for tag, _, _ in gps} == {
            tag: value for tag, _, value in gps}


def _exif_entry(block: bytes, ifd_tag: int, tag: int) -> tuple[int, int, bytes]:
    """``(type, count, value)`` of entry ``tag`` in the sub-IFD that IFD0's ``ifd_tag``
    points to, in the TIFF structure ``block`` (an EXIF block, or a classic TIFF file),
    read by TIFF's layout rules alone (Pillow skips field types it does not know)."""
    order = "<" if block[:2] == b"II" else ">"
    sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8, 129: 1}

    def entries(at: int) -> dict[int, tuple[int, int, bytes]]:
        found = {}
        for k in range(struct.unpack_from(order + "H", block, at)[0]):
            t, kind, count = struct.unpack_from(order + "HHI", block, at + 2 + 12 * k)
            size = sizes.get(kind, 0) * count
            field = at + 2 + 12 * k + 8
            start = struct.unpack_from(order + "I", block, field)[0] if size > 4 else field
            found[t] = (kind, count, bytes(block[start : start + min(size, 4) if size <= 4 else start + size]))
        return found

    ifd0 = entries(struct.unpack_from(order + "I", block, 4)[0])
    sub = struct.unpack_from(order + "I", ifd0[ifd_tag][2])[0]
    return entries(sub)[tag]


@pytest.mark.parametrize("order", [">", "<"])
def test_exif_3_utf8_values_are_copied_whole(order):
    """Exif 3.0 gives text a UTF-8 type (129) beside ASCII: CameraOwnerName as written by
    a camera of that standard. Its value, longer than an entry holds, is copied byte for
    byte into the EXIF of a JPEG's output and into a TIFF of either byte order; before,
    an unknown type's value was zeroed in the one and pointed at other bytes in the other."""
    import cv2

    owner = "Zo\u00eb M\u00fcller, \u6771\u4eac\0".encode("utf-8")
    exif = _exif_of(order, [(0xA430, 129, owner)], [])
    assert _exif_entry(exif, 0x8769, 0xA430) == (129, len(owner), owner)
    assert _exif_entry(exif_for_output(exif, 40, 24), 0x8769, 0xA430) == (129, len(owner), owner)
    rgb = np.random.default_rng(7).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    little = cv2.imencode(".tif", np.ascontiguousarray(rgb[:, :, ::-1]))[1].tobytes()
    for tiff in (little, tiff_photo(rgb, _exif_of(">", [], []))):  # into II and into MM
        out = tiff_with_metadata(tiff, exif=exif)
        assert _exif_entry(out, 0x8769, 0xA430) == (129, len(owner), owner)


def test_png_exif_after_the_pixel_data_is_found(tmp_path):
    """ImageMagick writes a PNG's eXIf chunk after IDAT, where Pillow does not look
    without decoding the picture: the orientation was ignored (the picture came out
    sideways) and the EXIF dropped."""
    from hairfx.imagefiles import read_rgb

    stored = np.zeros((20, 30, 3), np.uint8)
    stored[:, :10] = 200  # a bright band down the stored picture's left side
    exif = _tiff_exif(orientation=6, width=30, height=20)
    (tmp_path / "late.png").write_bytes(png_with_late_exif(stored, exif))
    assert read_metadata(tmp_path / "late.png").exif == exif
    upright = read_rgb(tmp_path / "late.png")
    assert upright.shape == (30, 20, 3) and upright[:10].min() == 200  # turned 90 degrees clockwise


def test_metadata_of_a_named_pipe_is_not_waited_for(tmp_path):
    import os

    os.mkfifo(tmp_path / "pipe.jpg")
    assert read_metadata(tmp_path / "pipe.jpg") == Metadata()  # opening it would block for ever


def _app13(resources: bytes) -> bytes:
    return b"\xff\xed" + struct.pack(">H", 2 + 14 + len(resources)) + b"Photoshop 3.0\0" + resources


def test_iptc_keeps_its_records_but_photoshops_thumbnails_and_copies(tmp_path):
    """Photoshop keeps a JPEG thumbnail of the photo among its image resources (0x040C), and
    copies of its EXIF (0x0422) and XMP (0x0424), unchanged by hairfx's edits: they go,
    bytes and all. The IPTC record (0x0404, as Pillow's IPTC reader reads it) and the other
    resources, a named one of odd size among them, stay as they were."""
    from PIL import IptcImagePlugin

    preview = _jpeg(np.full((8, 8, 3), 60, np.uint8))
    record = iptc_record(keywords="portrait", caption="Anna, before the copper", copyright="(c) Studio")
    kept = [photoshop_resource(0x03ED, struct.pack(">IHHIHH", 300 << 16, 1, 1, 300 << 16, 1, 1)),
            photoshop_resource(0x0404, record), photoshop_resource(0x0BB7, b"odd", name=b"Path 1")]
    dropped = [photoshop_resource(0x040C, bytes(28) + preview), photoshop_resource(0x0409, bytes(28) + preview),
               photoshop_resource(0x0422, b"MM\0*" + bytes(10)), photoshop_resource(0x0424, XMP_PACKET)]
    resources = kept[0] + dropped[0] + kept[1] + dropped[1] + dropped[2] + kept[2] + dropped[3]
    jpeg = _jpeg(np.zeros((8, 8, 3), np.uint8))
    half = len(resources) // 2  # two APP13 segments, one stream of resources
    (tmp_path / "a.jpg").write_bytes(jpeg[:2] + _app13(resources[:half]) + _app13(resources[half:]) + jpeg[2:])
    meta = read_metadata(tmp_path / "a.jpg")
    assert meta.iptc == resources
    out = iptc_for_output(meta.iptc)
    assert out == b"".join(kept) and preview not in out and XMP_PACKET not in out
    (tmp_path / "b.jpg").write_bytes(jpeg[:2] + _app13(out) + jpeg[2:])
    with Image.open(tmp_path / "b.jpg") as im:
        assert set(im.info["photoshop"]) == {0x03ED, 0x0404, 0x0BB7}  # Pillow's reading of the resources
        iptc = IptcImagePlugin.getiptcinfo(im)
    assert (iptc[2, 25], iptc[2, 120], iptc[2, 116]) == (b"portrait", b"Anna, before the copper", b"(c) Studio")
    assert iptc_for_output(dropped[0]) is None and iptc_for_output(None) is None  # nothing left: nothing written
    assert iptc_for_output(kept[1] + bytes(6)) == kept[1]  # zeros after the last resource: padding


@pytest.mark.parametrize("damage", ["signature", "cut"])
def test_iptc_that_cannot_be_followed_is_left_out_with_a_warning(damage):
    good = photoshop_resource(0x0404, iptc_record(keywords="portrait")) + photoshop_resource(0x03ED, bytes(16))
    bad = b"8BIN" + good[4:] if damage == "signature" else good[:-4]
    with pytest.warns(RuntimeWarning, match=r"a\.jpg: its IPTC \(Photoshop\) block is damaged and is not copied"):
        assert iptc_for_output(bad, name="a.jpg") is None


def test_xmp_of_a_tiff_tag_typed_ascii_is_read_as_its_bytes(tmp_path):
    """Some writers type a TIFF's XMP tag (700) ASCII, not BYTE; Pillow then gives its text
    decoded as Latin-1, whatever the packet's UTF-8 says. The packet is the tag's bytes as
    held: a caption "Zoë" read as UTF-8 text and written back became "ZoÃ«"."""
    from PIL import TiffImagePlugin

    packet = XMP_PACKET.replace(b'xmp:Rating="4"', 'xmp:Label="Zoë à Paris"'.encode())
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[700] = packet
    tags.tagtype[700] = 2  # ASCII, its bytes as given
    Image.new("RGB", (8, 8)).save(tmp_path / "a.tif", tiffinfo=tags)
    # what Pillow makes of it: text (a 1-tuple of text in Pillow 11.1)
    assert isinstance(Image.open(tmp_path / "a.tif").info["xmp"], (str, tuple))
    assert read_metadata(tmp_path / "a.tif").xmp == packet
