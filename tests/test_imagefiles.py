"""hairfx.imagefiles: what the commands accept and refuse as image and mask files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hairfx.errors import InputError
from hairfx.imagefiles import read_mask, read_rgb, write_rgb


def test_rgb_round_trip_and_grey_expansion(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red, so a BGR/RGB mix-up shows
    np.testing.assert_array_equal(read_rgb(write_rgb(tmp_path / "a" / "x.png", rgb)), rgb)
    cv2.imwrite(str(tmp_path / "g.png"), np.full((3, 3), 77, np.uint8))
    np.testing.assert_array_equal(read_rgb(tmp_path / "g.png"), np.full((3, 3, 3), 77, np.uint8))


def test_rgb_refusals(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((3, 3, 4), np.uint8))
    with pytest.raises(InputError, match="alpha channel"):
        read_rgb(tmp_path / "a.png")
    cv2.imwrite(str(tmp_path / "d.png"), np.zeros((3, 3, 3), np.uint16))
    with pytest.raises(InputError, match="expected an 8-bit image, got uint16"):
        read_rgb(tmp_path / "d.png")
    (tmp_path / "t.png").write_text("not a picture")
    with pytest.raises(InputError, match="not an image OpenCV can read"):
        read_rgb(tmp_path / "t.png")
    with pytest.raises(InputError, match="image not found"):
        read_rgb(tmp_path / "missing.png")
    with pytest.raises(InputError, match=r"could not write .*x\.nope"):
        write_rgb(tmp_path / "x.nope", np.zeros((2, 2, 3), np.uint8))


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
