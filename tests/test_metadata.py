"""Colour profiles and EXIF (hairfx.metadata): conversions against colour-science, EXIF
read back by Pillow."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms

from conftest import camera_exif, grey_profile, png_with_late_exif
from hairfx._colour import colour_science
from hairfx.icc import matrix_shaper_profile
from hairfx.metadata import ColourProfile, Metadata, exif_colour_space, exif_for_output, read_metadata


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
    assert len(out) == len(exif)  # the same block, patched in place
    after = _read_exif(out)
    assert after[0x010F] == "Canon" and after[0x0112] == 1
    assert (after.get_ifd(ExifTags.IFD.Exif)[0xA002], after.get_ifd(ExifTags.IFD.Exif)[0xA003]) == (300, 400)
    assert not after.get_ifd(ExifTags.IFD.IFD1)  # no thumbnail of the photo before the change


def test_exif_that_cannot_be_followed_is_left_out_with_a_warning():
    good = _tiff_exif()
    assert exif_for_output(None, 10, 10) is None
    for bad in (b"XX" + good[2:], good[:30], good[:4] + struct.pack(">I", 10_000) + good[8:]):  # no byte order,
        with pytest.warns(RuntimeWarning, match=r"a\.jpg: its EXIF block is damaged and is not copied"):  # cut, lost
            assert exif_for_output(bad, 10, 10, name="a.jpg") is None


def test_odd_but_readable_exif_is_still_copied_and_turned_upright():
    """What readers tolerate is copied: an Exif sub-IFD pointing outside the block (Make
    and GPS would be lost with it), and an orientation written as two SHORTs (readers
    take the first: both are set, or the output would be turned twice)."""
    exif = bytearray(_tiff_exif())
    pointer_at = 8 + 2 + 12 * 2 + 8  # IFD0's third entry, the Exif IFD pointer: its value field
    struct.pack_into(">I", exif, pointer_at, 60_000)
    orientation_at = 8 + 2 + 12 * 1  # IFD0's second entry
    struct.pack_into(">HHIHH", exif, orientation_at, 0x0112, 3, 2, 6, 6)
    out = _read_exif(exif_for_output(bytes(exif), 300, 400))
    assert out[0x010F] == "Canon" and out[0x0112] == 1
    assert struct.unpack_from(">HH", exif_for_output(bytes(exif), 300, 400), orientation_at + 8) == (1, 1)


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
