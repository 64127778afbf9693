"""Image files at the edge: read as RGB / masks, write from RGB (OpenCV underneath).

Shared by the ``hairfx`` and ``hairfx-lut`` commands so that both accept and refuse the same
files with the same messages. Library functions take arrays; only these touch files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import InputError
from .frames import as_frame, as_mask

__all__ = ["read_rgb", "read_mask", "write_rgb"]


def _imread(path: Path, kind: str):
    import cv2

    if not path.is_file():
        raise InputError(f"{kind} not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"{path}: not an image OpenCV can read")
    return img


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An 8-bit image file as an ``H x W x 3`` uint8 RGB array. A grayscale file is
    expanded to three equal channels; alpha and 16-bit files are refused."""
    path = Path(path)
    img = _imread(path, "image")
    if img.dtype != np.uint8:
        raise InputError(f"{path}: expected an 8-bit image, got {img.dtype}")
    if img.ndim == 2:
        img = np.dstack([img, img, img])
    elif img.shape[2] == 4:
        raise InputError(f"{path}: has an alpha channel; flatten it to RGB first")
    return as_frame(np.ascontiguousarray(img[:, :, ::-1]), name=str(path))


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A mask file (255 = hair; 8 or 16 bits) as ``H x W`` float32 in ``[0, 1]``. A file
    with colour channels is refused unless its channels are equal (a grey image saved as
    RGB). With ``shape`` (``(H, W)``) the mask must have that size."""
    path = Path(path)
    m = _imread(path, "mask")
    if m.ndim == 3:
        if m.shape[2] not in (3, 4) or not (np.array_equal(m[:, :, 0], m[:, :, 1]) and np.array_equal(m[:, :, 1], m[:, :, 2])):
            raise InputError(f"mask {path} has {m.shape[2]} differing channels; expected a single-channel (grayscale) image")
        m = m[:, :, 0]
    if m.dtype == np.uint16:
        m = m.astype(np.float32) / np.float32(65535.0)
    mask = as_mask(m, name=str(path))
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}")
    return mask


def write_rgb(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write an ``H x W x 3`` uint8 RGB array; the format follows the file extension.
    Missing parent folders are created."""
    import cv2

    path = Path(path)
    arr = as_frame(rgb, name="image to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        ok = cv2.imwrite(str(path), np.ascontiguousarray(arr[:, :, ::-1]))
    except cv2.error as exc:
        raise InputError(f"could not write {path}: {exc}") from None
    if not ok:
        raise InputError(f"could not write image {path} (unknown extension?)")
    return path
