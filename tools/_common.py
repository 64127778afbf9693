"""Shared helpers of the authoring tools: image files, reference images, applying a colour."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hairfx.errors import InputError
from hairfx.frames import as_frame, as_mask

__all__ = [
    "read_rgb", "write_rgb", "read_mask", "references_dir", "reference", "apply_color", "mask_or_model",
]

#: Where the reference images live in a source checkout (they are not installed).
_REPO_REFERENCES = Path(__file__).resolve().parents[1] / "reference_images"


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as an H x W x 3 uint8 RGB array (8-bit; alpha is refused)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError(f"image not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InputError(f"{path}: not an image OpenCV can read")
    if img.dtype != np.uint8:
        raise InputError(f"{path}: expected an 8-bit image, got {img.dtype}")
    if img.ndim == 2:
        img = np.dstack([img, img, img])
    elif img.shape[2] == 4:
        raise InputError(f"{path}: has an alpha channel; flatten it to RGB first")
    return as_frame(np.ascontiguousarray(img[:, :, ::-1]), name=str(path))


def write_rgb(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise InputError(f"could not write image {path} (unknown extension?)")
    return path


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A single-channel mask image (255 = hair) as H x W float32 in [0, 1]; with ``shape``
    it must match that image size."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask not found: {path}")
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise InputError(f"{path}: not an image OpenCV can read")
    mask = as_mask(m, name=str(path))
    if shape is not None and mask.shape != tuple(shape):
        raise InputError(f"mask {path} is {mask.shape[1]}x{mask.shape[0]} but the image is {shape[1]}x{shape[0]}")
    return mask


def mask_or_model(rgb: np.ndarray, mask_path) -> np.ndarray:
    """The mask from ``mask_path``, or the hair-mask model's prediction when it is None."""
    if mask_path is not None:
        return read_mask(mask_path, rgb.shape[:2])
    from hairfx.segmenter import get_segmenter  # raises WeightsError while no weights exist

    return as_mask(get_segmenter("small").predict(rgb), name="predicted mask")


def references_dir(path: str | os.PathLike | None = None) -> Path:
    d = Path(path) if path is not None else _REPO_REFERENCES
    if not (d / "intensities.json").is_file():
        raise InputError(f"reference images not found in {d} (give --references DIR, the repository's reference_images/)")
    return d


def reference(name: str, path=None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(rgb, mask, intensity)`` of the shipped reference ``name`` (light, medium, dark)."""
    d = references_dir(path)
    intensities = json.loads((d / "intensities.json").read_text(encoding="utf-8"))
    if name not in intensities:
        raise InputError(f"unknown reference {name!r}; available: {', '.join(intensities)}")
    rgb = read_rgb(d / f"{name}.png")
    return rgb, read_mask(d / f"{name}_mask.png", rgb.shape[:2]), float(intensities[name])


def apply_color(frame: np.ndarray, color, mask: np.ndarray, *, strength: float = 1.0) -> np.ndarray:
    """Recolour ``frame`` with ``color`` under ``mask`` the way the engine does (its CPU
    renderer when available): the light/dark LUTs blended by the frame's hair intensity,
    applied as ``frame + strength * mask * (LUT(frame) - frame)``."""
    import hairfx

    recolor = getattr(hairfx, "recolor", None)
    if recolor is not None:
        return recolor(frame, color, mask=mask, strength=strength, renderer="cpu")
    from hairfx.colors import get_color
    from hairfx.intensity import hair_intensity

    color = get_color(color)
    intensity = hair_intensity(frame, mask)
    if intensity is None:
        return frame.copy()
    table = color.blended(color.weight(intensity))
    return apply_table(frame, table, mask, strength=strength)


def apply_table(frame: np.ndarray, table: np.ndarray, mask: np.ndarray, *, strength: float = 1.0) -> np.ndarray:
    """``frame + strength * mask * (LUT(frame) - frame)`` with one fixed table (trilinear)."""
    from hairfx.lut import sample_trilinear

    f = frame.astype(np.float32) / 255.0
    out = f + np.float32(strength) * mask[..., None] * (sample_trilinear(table, f) - f)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
