"""Shared helpers of the authoring tools: image files, reference images, applying a colour."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hairfx import recolor
from hairfx._datadir import reference_dirs
from hairfx._files import check_not_input, check_output_file, output_file  # output_file re-exported for the tools
from hairfx.errors import InputError
from hairfx.frames import as_mask, mask_for_frame
from hairfx.imagefiles import read_mask, read_photo, write_rgb  # read_mask, write_rgb re-exported for the tools

__all__ = [
    "read_rgb", "write_rgb", "read_mask", "references_dir", "reference", "reference_photos", "REFERENCE_NAMES",
    "apply_color", "mask_or_model", "mask_for_photo",
    "output_file",
    "check_cube_output",
]


def check_cube_output(path: str | os.PathLike, *, inputs=()) -> Path:
    """Refuse, before any work, a LUT output that is no ``.cube`` file (a LUT written under
    a photo's name is found by no tool), a folder, under a file or not writable, or the
    same file as one of ``inputs`` (an artist's edited photo or graded Hald). Returns the path."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file name ending in .cube")
    check_output_file(path, "grade.cube")  # a parent that is a file or takes no new files
    if path.suffix.lower() != ".cube":
        raise InputError(f"cannot write {path}: a LUT is written as a .cube file; give a file name ending in .cube")
    check_not_input(path, inputs)
    return path


def read_rgb(path: str | os.PathLike, *, sixteen_bits: bool = False) -> np.ndarray:
    """The photo at ``path`` as ``hairfx recolor`` and ``hairfx mask`` work on it: upright,
    ``H x W x 3`` uint8 RGB (:func:`hairfx.imagefiles.read_rgb`, ``sixteen_bits`` as
    there), converted into sRGB by its colour profile (a phone's Display P3, a camera's
    Adobe RGB), in which the LUTs are applied. An intensity measured, a LUT fitted or a
    preview drawn on the values as held would not be the engine's for that photo."""
    from hairfx.metadata import ColourProfile

    rgb, meta = read_photo(path, sixteen_bits=sixteen_bits)
    return ColourProfile(meta.colour_profile, name=str(path)).to_srgb(rgb)


def mask_for_photo(mask_path, rgb: np.ndarray) -> np.ndarray:
    """The mask file ``mask_path`` for the photo ``rgb``: at the photo's size, or a scaled copy
    of such a mask resized to it, as ``hairfx recolor --mask`` takes it."""
    return mask_for_frame(rgb, read_mask(mask_path), name=f"mask {mask_path}")


def mask_or_model(rgb: np.ndarray, mask_path) -> np.ndarray:
    """The mask from ``mask_path`` (:func:`mask_for_photo`), or the hair-mask model's
    prediction when it is None."""
    if mask_path is not None:
        return mask_for_photo(mask_path, rgb)
    from hairfx.recolor import hair_alpha
    from hairfx.segmenter import get_segmenter

    # exactly the mask recolor(frame, color) uses when it is given none
    return as_mask(hair_alpha(get_segmenter("small").predict(rgb)), name="predicted mask")


def references_dir(path: str | os.PathLike | None = None) -> Path:
    """The reference images folder (``intensities.json``, ``NAME.png``, ``NAME_mask.png``):
    ``path`` when given, else the source checkout's ``reference_images/``, else
    ``reference_images/`` in the current working directory."""
    if path is not None:
        d = Path(path)
        if not (d / "intensities.json").is_file():
            raise InputError(f"reference images not found in {d}: expected a folder holding intensities.json, "
                             "like the repository's reference_images/")
        return d
    looked = reference_dirs()
    for d in looked:
        if (d / "intensities.json").is_file():
            return d
    raise InputError(f"reference images not found: looked in {looked[0]} and {looked[1]}; pass --references DIR "
                     "(the repository's reference_images/) or run from the checkout")


#: The reference photos, light to dark hair: the two the palette's LUTs are tuned on, and
#: ``medium`` between them, a subject for previews.
REFERENCE_NAMES = ("light", "medium", "dark")


def reference_photos(path: str | os.PathLike | None = None) -> list[tuple[str, Path, Path]]:
    """``(name, photo, mask)`` of every reference photo there is, light to dark hair: each
    of :data:`REFERENCE_NAMES` whose ``NAME.png`` lies in the folder, with ``NAME_mask.png``
    (255 = hair) beside it. The folder is ``path`` when given (a folder of one's own photos:
    any of the three, and no ``intensities.json``, as the hair intensity is measured on the
    photo), else :func:`references_dir`'s. A folder with none of them, and a photo without
    its mask, raise :class:`InputError` naming what was expected."""
    if path is None:
        d = references_dir()
    else:
        d = Path(path)
        if not d.is_dir():
            raise InputError(f"reference images folder {d} " + ("is not a folder" if d.exists() else "does not exist"))
    found = []
    for name in REFERENCE_NAMES:
        photo, mask = d / f"{name}.png", d / f"{name}_mask.png"
        if not photo.is_file():
            continue
        if not mask.is_file():
            raise InputError(f"reference photo {photo} has no mask: expected {mask} (255 = hair) beside it")
        found.append((name, photo, mask))
    if not found:
        raise InputError(f"no reference photos in {d}: expected any of light.png, medium.png and dark.png, each with "
                         "NAME_mask.png (255 = hair) beside it")
    return found


def reference(name: str, path=None) -> tuple[np.ndarray, np.ndarray, float]:
    """``(rgb, mask, intensity)`` of the shipped reference ``name`` (light, medium, dark)."""
    d = references_dir(path)
    intensities = json.loads((d / "intensities.json").read_text(encoding="utf-8"))
    if name not in intensities:
        raise InputError(f"unknown reference {name!r}; available: {', '.join(intensities)}")
    rgb = read_rgb(d / f"{name}.png")
    return rgb, mask_for_photo(d / f"{name}_mask.png", rgb), float(intensities[name])


def apply_color(frame: np.ndarray, color, mask: np.ndarray, *, strength: float = 1.0) -> np.ndarray:
    """Recolour ``frame`` with ``color`` under ``mask`` exactly as the engine does, with its
    CPU renderer: the light/dark LUTs blended by the frame's hair intensity, applied as
    ``frame + strength * mask * (LUT(frame) - frame)``."""
    return recolor(frame, color, mask=mask, strength=strength, renderer="cpu")


def apply_table(frame: np.ndarray, lut, mask: np.ndarray, *, strength: float = 1.0) -> np.ndarray:
    """``frame + strength * mask * (LUT(frame) - frame)`` with one fixed ``LUT3D`` (trilinear)."""
    f = frame.astype(np.float32) / 255.0
    out = f + np.float32(strength) * mask[..., None] * (lut.apply(f) - f)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
