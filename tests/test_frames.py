"""hairfx.frames: what the public boundary accepts and refuses as a mask."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hairfx.errors import InputError
from hairfx.frames import as_mask, mask_levels


def labels() -> np.ndarray:
    """A tiny label map: class 2 in the top-left corner."""
    out = np.zeros((4, 5), np.int64)
    out[:2, :2] = 2
    return out


def test_an_overshoot_too_small_for_four_digits_is_shown():
    mask = np.zeros((4, 5), np.float32)
    mask[0, 0] = np.nextafter(np.float32(1), np.float32(2))  # 1.0000001: a resize's overshoot
    with pytest.raises(InputError, match=r"mask values must lie in \[0, 1\], got range \[0, 1.0000001"):
        as_mask(mask)


def test_uint8_zero_one_mask_is_refused():
    with pytest.raises(InputError, match=r"hair is uint8 with values 0\.\.1; uint8 masks are 0\.\.255.*multiply by 255"):
        as_mask((labels() == 2).astype(np.uint8), name="hair")
    with pytest.raises(InputError, match="values 0..1"):
        as_mask(Image.fromarray((labels() == 2).astype(np.uint8)))  # a PIL 'L' image holding 0/1


def test_the_suggested_fixes_are_accepted():
    want = (labels() == 2).astype(np.float32)
    np.testing.assert_array_equal(as_mask(labels() == 2), want)
    np.testing.assert_array_equal(as_mask((labels() == 2).astype(np.uint8) * 255), want)
    np.testing.assert_array_equal(as_mask(Image.fromarray(labels() == 2)), want)  # PIL mode '1'


def test_other_uint8_masks_are_scaled():
    np.testing.assert_array_equal(as_mask(np.zeros((2, 3), np.uint8)), np.zeros((2, 3), np.float32))
    m = np.array([[0, 2, 128, 255]], np.uint8)
    np.testing.assert_array_equal(as_mask(m), m.astype(np.float32) * np.float32(1.0 / 255.0))



def test_uint16_masks_are_read_as_a_16_bit_mask_file_is(tmp_path):
    """uint16 arrays and PIL's 16-bit images ('I;16', as Pillow opens a 16-bit PNG, and
    'I', as older Pillow opens it) were refused, though `hairfx recolor --mask` takes the
    16-bit file they come from: each is 0..65535, scaled as that file is read."""
    import cv2

    from hairfx.imagefiles import read_mask

    m16 = np.array([[0, 1, 2, 257, 32768], [40000, 65279, 65534, 65535, 12345]], np.uint16)
    cv2.imwrite(str(tmp_path / "m16.png"), m16)
    want = read_mask(tmp_path / "m16.png")
    assert want.dtype == np.float32 and want.max() == 1.0 and 0 < want[0, 1] < 1 / 65000
    np.testing.assert_array_equal(as_mask(m16), want)
    np.testing.assert_array_equal(as_mask(m16.astype(">u2")), want)  # big-endian, as 'I;16B' gives
    np.testing.assert_array_equal(as_mask(m16[:, :, None]), want)
    opened = Image.open(tmp_path / "m16.png")
    for image in (opened, Image.frombytes("I;16B", (5, 2), m16.astype(">u2").tobytes()),
                  Image.fromarray(m16.astype(np.int32), "I")):
        np.testing.assert_array_equal(as_mask(image), want, err_msg=image.mode)


def test_uint16_zero_one_mask_is_refused(tmp_path):
    """As a uint8 one: a 0/1 label map that would scale to an invisible 1/65535."""
    import cv2

    from hairfx.imagefiles import read_mask

    zero_one = (labels() == 2).astype(np.uint16)
    with pytest.raises(InputError, match=r"hair is uint16 with values 0\.\.1; uint16 masks are 0\.\.65535.*"
                                          r"multiply by 65535"):
        as_mask(zero_one, name="hair")
    for image in (Image.fromarray(zero_one), Image.fromarray(zero_one.astype(np.int32), "I")):
        with pytest.raises(InputError, match="values 0..1"):
            as_mask(image)
    cv2.imwrite(str(tmp_path / "labels16.png"), zero_one)  # the same file, to the CLI
    with pytest.raises(InputError, match=r"labels16.png is uint16 with values 0..1, as a label map is; a mask file "
                                          r"holds 0..65535 \(65535 = hair\): save it with hair at 65535$"):
        read_mask(tmp_path / "labels16.png")  # not "pass a bool or float32 mask", which a file cannot be
    cv2.imwrite(str(tmp_path / "labels8.png"), zero_one.astype(np.uint8))
    with pytest.raises(InputError, match=r"labels8.png is uint8 with values 0..1, .*save it with hair at 255$"):
        read_mask(tmp_path / "labels8.png")
    np.testing.assert_array_equal(as_mask(zero_one * 65535), (labels() == 2).astype(np.float32))


def test_a_32_bit_pil_mask_beyond_16_bits_is_refused():
    """Mode 'I' is 32-bit: taken as the 16-bit levels it holds when a 16-bit file is opened,
    anything beyond them is no mask."""
    for values in ([0, 65536], [-1, 65535]):
        image = Image.fromarray(np.array([values, values], np.int32), "I")
        with pytest.raises(InputError, match=r"mode 'I'.*0\.\.65535.*got range \[" + str(values[0])):
            as_mask(image)
    with pytest.raises(InputError, match=r"float in \[0, 1\], uint8, uint16 or bool, got \(2, 2\) int32"):
        as_mask(np.zeros((2, 2), np.int32))

def test_a_float_pil_mask_is_taken_as_a_float_array():
    """A PIL mode 'F' image, single-channel, was refused as not being mode 'L'."""
    soft = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(as_mask(Image.fromarray(soft, "F")), soft)
    with pytest.raises(InputError, match=r"outside \[0, 1\]|\[0, 1\]"):
        as_mask(Image.fromarray(soft * 255, "F"))
    with pytest.raises(InputError, match=r"mode 'L', '1', 'I;16', 'I' \(0\.\.65535\) or 'F' \(\[0, 1\]\)\), got PIL mode 'RGB'"):
        as_mask(Image.new("RGB", (4, 4)))


@pytest.mark.parametrize("mask", [np.eye(6, 8, dtype=bool), np.eye(6, 8, dtype=np.uint8) * 255,
                                  np.eye(6, 8, dtype=np.float64), np.eye(6, 8, dtype=np.float32)])
@pytest.mark.parametrize("layout", [np.asfortranarray, lambda a: a.T.copy().T, lambda a: a[:, ::-1]])
def test_masks_of_any_memory_layout_come_back_c_contiguous(mask, layout):
    got = as_mask(layout(mask))
    assert got.flags.c_contiguous and got.dtype == np.float32
    assert np.array_equal(got, layout(mask).astype(np.float32) / (255 if mask.dtype == np.uint8 else 1))


def test_mask_levels_round_to_the_nearest_of_256_levels():
    """The renderers take the mask at 8 bits: known values, a mask already in steps of
    1/255 (as as_mask reads a uint8 one) unchanged, any other within half a step."""
    m = np.array([0.0, 0.5 / 255 - 1e-6, 0.5 / 255 + 1e-6, 0.25, 0.5, 1.0], np.float32)
    assert mask_levels(m).tolist() == [0, 0, 1, 64, 128, 255]  # 63.75 -> 64; 127.5 -> even 128
    k = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(mask_levels(as_mask(k)), k)
    soft = np.random.default_rng(2).random((37, 53), dtype=np.float32)
    levels = mask_levels(soft)
    assert levels.dtype == np.uint8 and levels.shape == soft.shape
    np.testing.assert_array_equal(levels, np.rint(soft * np.float32(255.0)).astype(np.uint8))
    assert np.abs(levels / 255.0 - soft).max() <= 0.5 / 255 + 1e-7


def test_mask_levels_of_a_list_of_pixels_keep_its_shape():
    """A 1-D array, the mask values of a list of pixels, stays 1-D (OpenCV would take it
    as a column)."""
    soft = np.random.default_rng(3).random(10, dtype=np.float32)
    levels = mask_levels(soft)
    assert levels.shape == (10,)
    np.testing.assert_array_equal(levels, np.rint(soft * np.float32(255.0)).astype(np.uint8))
