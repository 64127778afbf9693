"""Hair intensity and the light/dark blend weight (section 6 of the paper).

Definition, used everywhere in hairfx (engine, renderers, authoring tool):

* **luma** ``Y' = 0.2126 R' + 0.7152 G' + 0.0722 B'`` (Rec. 709 coefficients) applied to the
  **sRGB-encoded** (gamma, not linear) channel values scaled to ``[0, 1]``;
* **hair intensity** ``I = sum(m * Y') / sum(m)`` over the frame, where ``m`` is the soft
  hair mask at the frame's size (a scaled copy resized to it bilinearly, as everywhere in
  hairfx: :func:`~hairfx.frames.mask_for_frame`). It lies in ``[0, 1]``.
* A frame has **no hair** when ``sum(m)`` is below :data:`MIN_HAIR_WEIGHT` (less than one
  fully-covered pixel); its intensity is ``None`` and the frame is left unchanged.

:func:`hair_intensity` takes the mask as given; the renderers measure with it at 8 bits
(:func:`~hairfx.frames.mask_levels`), which for a mask in steps of 1/255 is the same.

The blend weight is ``w = clamp((I - I_dark) / (I_light - I_dark), 0, 1)`` and the blended
LUT ``(1 - w) * dark + w * light``.
"""

from __future__ import annotations

import numpy as np

from ._options import number
from .errors import InputError
from .frames import GivenFrame, mask_bbox, mask_for_frame

__all__ = ["LUMA_WEIGHTS", "MIN_HAIR_WEIGHT", "luma", "hair_intensity", "blend_weight"]

#: Rec. 709 luma coefficients for R', G', B'.
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)
#: Total mask weight (in pixels) below which a frame is considered to have no hair.
MIN_HAIR_WEIGHT = 1.0


def luma(frame: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of uint8 RGB values (``... x 3``: a frame or a list of pixels),
    float32 in ``[0, 1]``.

    >>> [round(float(v), 4) for v in luma(np.array([[255, 255, 255], [255, 0, 0]], np.uint8))]
    [1.0, 0.2126]
    """
    w = np.asarray(LUMA_WEIGHTS, np.float32) / np.float32(255.0)
    return frame.astype(np.float32) @ w


def hair_intensity(frame: np.ndarray, mask: np.ndarray) -> float | None:
    """Mean luma of ``frame`` under the soft ``mask``, or ``None`` when the mask covers no
    hair.

    ``frame`` is ``H x W x 3`` ``uint8`` RGB (or an RGB PIL image: one with a colour profile
    is measured in sRGB, as :func:`hairfx.recolor` measures it), ``mask`` ``H x W`` float in
    ``[0, 1]`` (or what :func:`~hairfx.frames.as_mask` accepts) at the frame's size, or a
    scaled copy of such a mask, resized bilinearly as :func:`hairfx.recolor` and the
    renderers resize it (:func:`~hairfx.frames.mask_for_frame`); anything else, a mask of
    another aspect ratio among it, raises :class:`~hairfx.errors.InputError`.

    >>> f = np.full((2, 2, 3), 255, np.uint8); round(hair_intensity(f, np.ones((2, 2), np.float32)), 6)
    1.0
    """
    import cv2  # here, not at the top: ``import hairfx`` stays free of OpenCV

    # valid uint8 frames and frame-sized float32 masks are taken as they are, uncopied
    frame = GivenFrame(frame).work
    mask = mask_for_frame(frame, mask)
    box = mask_bbox(mask)
    if box is None:
        return None
    # Only the bounding box of the mask contributes; skip the rest of the frame.
    y0, y1, x0, x1 = box
    m = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.float32)
    total = cv2.sumElems(m)[0]  # sums accumulate in float64
    if total < MIN_HAIR_WEIGHT:
        return None
    # sum(m * Y') = sum over channels of weight * sum(m * channel): three fused
    # multiply-and-sum passes in OpenCV, about 3x faster than a float luma image.
    planes = cv2.split(frame[y0:y1, x0:x1])
    weighted = sum(w * cv2.sumElems(cv2.multiply(m, c, dtype=cv2.CV_32F))[0] for w, c in zip(LUMA_WEIGHTS, planes))
    return float(np.clip(weighted / 255.0 / total, 0.0, 1.0))


def blend_weight(intensity: float, dark_intensity: float, light_intensity: float) -> float:
    """``w = clamp((I - I_dark) / (I_light - I_dark), 0, 1)``: 0 selects the dark LUT, 1 the light one."""
    intensity = number(intensity, "hair intensity")
    dark_intensity = number(dark_intensity, "dark intensity")
    light_intensity = number(light_intensity, "light intensity")
    if light_intensity <= dark_intensity:
        raise InputError(f"light intensity {light_intensity} must exceed dark intensity {dark_intensity}")
    w = (intensity - dark_intensity) / (light_intensity - dark_intensity)
    return float(min(1.0, max(0.0, w)))
