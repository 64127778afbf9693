"""Validation and conversion of frames and masks at the public boundary.

The one convention: frames are ``H x W x 3`` ``uint8`` RGB numpy arrays, masks are
``H x W`` ``float32`` in ``[0, 1]`` (``bool``, ``uint8`` 0..255 and ``uint16`` 0..65535
masks are converted; an integer mask holding only 0 and 1 is refused). PIL images are
accepted and converted. Anything else raises :class:`~hairfx.errors.InputError` naming what was given.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

__all__ = [
    "as_frame",
    "GivenFrame",
    "as_mask",
    "mask_for_frame",
    "resize_mask",
    "mask_bbox",
    "mask_levels",
    "ramp_table",
    "apply_ramp",
    "MAX_SIDE",
    "MIN_ROUNDED_SIDE",
    "is_scaled_copy",
]

#: Largest frame side accepted (pixels). Bigger inputs are almost certainly a mistake
#: (a 16K frame is 800 MB of float work) and are refused before any allocation.
MAX_SIDE = 16384
#: Below this many pixels a side (mask or frame), only an exact aspect ratio is taken for a
#: resized copy: one pixel of rounding is too much there (2x1 or 6x6 would pass for 640x480).
MIN_ROUNDED_SIDE = 8


def _describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.shape} {x.dtype}"
    return type(x).__name__


def as_frame(frame, *, name: str = "frame") -> np.ndarray:
    """Return ``frame`` as a C-contiguous ``H x W x 3`` ``uint8`` RGB array.

    Accepts such an array or a PIL image in mode ``RGB`` (other PIL modes are
    refused, like grayscale or RGBA arrays, because silently dropping alpha or
    inventing colour would lose information the caller may care about).

    >>> as_frame(np.zeros((2, 3, 3), np.uint8)).shape
    (2, 3, 3)
    """
    try:  # PIL is a dependency, but keep the import local to the conversion
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(frame, Image.Image):
        if frame.mode != "RGB":
            raise InputError(
                f"{name} must be an RGB image, got a PIL image in mode {frame.mode!r}; "
                f"convert it first, e.g. image.convert('RGB')"
            )
        frame = np.asarray(frame)
    if not isinstance(frame, np.ndarray):
        raise InputError(f"{name} must be an HxWx3 uint8 RGB numpy array or PIL image, got {_describe(frame)}")
    if frame.ndim == 2:
        raise InputError(
            f"{name} must be HxWx3 uint8 RGB, got grayscale {_describe(frame)}; "
            f"stack it to 3 channels (np.dstack([g, g, g])) if that is what you mean"
        )
    if frame.ndim != 3 or frame.shape[2] != 3:
        hint = " (RGBA? drop or composite the alpha first)" if frame.ndim == 3 and frame.shape[2] == 4 else ""
        raise InputError(f"{name} must be HxWx3 uint8 RGB, got {_describe(frame)}{hint}")
    if frame.dtype != np.uint8:
        raise InputError(f"{name} must be HxWx3 uint8 RGB, got {_describe(frame)}; scale and cast to uint8 first")
    h, w = frame.shape[:2]
    if h == 0 or w == 0:
        raise InputError(f"{name} is empty: shape {frame.shape}")
    if h > MAX_SIDE or w > MAX_SIDE:
        why = f"{w}x{h}, larger than the {MAX_SIDE} px per side hairfx accepts"
        raise InputError(f"{name} is {why}", reason=f"it is {why}")
    return np.ascontiguousarray(frame)


class GivenFrame:
    """A frame as given (an array or a PIL image) and the sRGB array the work is done on
    (:attr:`work`): what :func:`~hairfx.recolor` and the hair-mask model take.

    A PIL image may carry a colour profile (``info["icc_profile"]``: a phone's Display P3,
    a camera's Adobe RGB). As ``hairfx recolor`` does with such a photo, its values are
    converted to sRGB, as the LUTs were made, and the output keeps the image's own values
    where the work left them and its profile
    (:class:`~hairfx.metadata.ColourProfile`)."""

    def __init__(self, frame) -> None:
        self.given = frame
        self.original = as_frame(frame)
        self.pil = _is_pil(frame)
        self.profile = None
        icc = frame.info.get("icc_profile") if self.pil else None
        if icc:
            from .metadata import ColourProfile

            self.profile = ColourProfile(icc, name="the frame's PIL image")
        self.work = self.original if self.profile is None else self.profile.to_srgb(self.original)

    def pixels(self, out: np.ndarray) -> np.ndarray:
        """``out`` (the work's result, in sRGB) as an array in the frame's own colour space:
        for an image with a colour profile, its own values where the work left them and the
        changed pixels converted back (:meth:`~hairfx.metadata.ColourProfile.from_srgb`);
        else ``out`` itself."""
        if self.profile is None:
            return out
        return self.profile.from_srgb(self.original, self.work, out)

    def output(self, out: np.ndarray):
        """``out`` (the work's result) of the same kind as the frame given."""
        if not self.pil:
            return out
        from PIL import Image

        image = Image.fromarray(self.pixels(out), "RGB")
        if self.profile is not None and self.profile.output_profile:
            image.info["icc_profile"] = self.profile.output_profile
        return image


def _is_pil(frame) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(frame, Image.Image)


#: PIL modes of 16-bit images: how Pillow opens a 16-bit greyscale PNG or TIFF ("I;16"),
#: and the same levels in either byte order.
PIL_16_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def as_mask(mask, *, name: str = "mask") -> np.ndarray:
    """Return ``mask`` as a C-contiguous ``H x W`` ``float32`` array in ``[0, 1]``.

    Accepts float arrays in ``[0, 1]`` (any float dtype), ``uint8`` arrays (0..255,
    scaled to 0..1), ``uint16`` arrays (0..65535, scaled to 0..1 as ``hairfx recolor``
    reads a 16-bit mask file), ``bool`` arrays, an ``H x W x 1`` array, or a PIL image in
    mode ``L`` or ``1``, ``I;16`` (16 bits, either byte order), ``I`` (32-bit integers,
    as older Pillow opens a 16-bit PNG: taken as 16-bit levels, 0..65535) or ``F``
    (float32, taken as a float array). NaNs and values outside ``[0, 1]`` are refused,
    and so is a ``uint8`` or ``uint16`` mask whose largest value is 1: that is a 0/1
    label map (``(labels == k).astype(np.uint8)``) that would scale to an invisible
    1/255 (or 1/65535), so pass it as bool or multiply it by 255 (or 65535).

    >>> float(as_mask(np.array([[0, 255]], np.uint8)).max())
    1.0
    >>> as_mask(np.array([[0, 13107, 65535]], np.uint16)).tolist()
    [[0.0, 0.20000000298023224, 1.0]]
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(mask, Image.Image):
        mode = mask.mode
        if mode not in ("L", "1", "F", "I", *PIL_16_BIT_MODES):
            raise InputError(
                f"{name} must be a single-channel image (mode 'L', '1', 'I;16', 'I' (0..65535) or 'F' ([0, 1])), "
                f"got PIL mode {mode!r}"
            )
        mask = np.asarray(mask.convert("L") if mode == "1" else mask)
        if mode == "I":
            lo, hi = (int(mask.min()), int(mask.max())) if mask.size else (0, 0)
            if lo < 0 or hi > 65535:
                raise InputError(f"{name} is a PIL image in mode 'I', taken as 16-bit levels 0..65535 (as Pillow "
                                 f"may open a 16-bit PNG), got range [{lo}, {hi}]")
            mask = mask.astype(np.uint16)
    if not isinstance(mask, np.ndarray):
        raise InputError(f"{name} must be an HxW float32 array in [0, 1], got {_describe(mask)}")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if mask.ndim != 2:
        raise InputError(f"{name} must be HxW (single channel), got {_describe(mask)}")
    if mask.shape[0] == 0 or mask.shape[1] == 0:
        raise InputError(f"{name} is empty: shape {mask.shape}")
    if mask.shape[0] > MAX_SIDE or mask.shape[1] > MAX_SIDE:
        raise InputError(f"{name} is {mask.shape[1]}x{mask.shape[0]}, larger than {MAX_SIDE} px per side")
    if mask.dtype == np.bool_:
        return mask.astype(np.float32, order="C")
    if mask.dtype.kind == "u" and mask.dtype.itemsize in (1, 2):  # uint8, uint16 (either byte order)
        bits = 8 * mask.dtype.itemsize
        top = (1 << bits) - 1
        if mask.max() == 1:
            raise InputError(
                f"{name} is uint{bits} with values 0..1; uint{bits} masks are 0..{top} - "
                f"pass a bool or float32 mask, or multiply by {top}"
            )
        levels = mask.astype(np.float32, order="C")
        # uint8 times the float32 1/255 the renderers' 8-bit levels are read with; uint16 divided
        return levels * np.float32(1.0 / 255.0) if bits == 8 else levels / np.float32(top)
    if not np.issubdtype(mask.dtype, np.floating):
        raise InputError(f"{name} must be float in [0, 1], uint8, uint16 or bool, got {_describe(mask)}")
    mask = np.ascontiguousarray(mask, dtype=np.float32)
    lo, hi = float(mask.min()), float(mask.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError(f"{name} contains NaN or infinite values")
    if lo < 0.0 or hi > 1.0:
        raise InputError(f"{name} values must lie in [0, 1], got range [{lo:.9g}, {hi:.9g}]")
    return mask


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an ``H x W`` float32 mask to ``height x width`` (bilinear, pixel centres aligned)."""
    if mask.shape == (height, width):
        return mask
    import cv2

    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)


def mask_for_frame(frame: np.ndarray, mask, *, name: str = "mask") -> np.ndarray:
    """``mask`` validated (:func:`as_mask`) and at ``frame``'s size: a mask of another size
    that is a scaled copy of a frame-sized one (:func:`is_scaled_copy`) is resized
    bilinearly; any other size raises :class:`~hairfx.errors.InputError` rather than be
    stretched over the wrong pixels.

    >>> mask_for_frame(np.zeros((480, 640, 3), np.uint8), np.ones((240, 320), np.float32)).shape
    (480, 640)
    """
    m = as_mask(mask, name=name)
    fh, fw = frame.shape[:2]
    mh, mw = m.shape
    if (mh, mw) != (fh, fw):
        if not is_scaled_copy((mh, mw), (fh, fw)):
            raise InputError(
                f"{name} is {mw}x{mh} but the frame is {fw}x{fh}: their aspect ratios differ, "
                "so stretching it would misplace the hair; pass one of the frame's shape"
            )
        m = resize_mask(m, fh, fw)
    return m


def is_scaled_copy(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether an image of ``a`` = ``(H, W)`` pixels can be one of ``b`` pixels scaled up or
    down: the same aspect ratio, or, from :data:`MIN_ROUNDED_SIDE` pixels a side, one smaller
    than the other on both sides and within a pixel of it at some scale (the rounding of
    scaling to whole pixels: 1080x1920 at 1/32 is 33.75x60, so 33x60 and 34x60 are its
    copies; 1088x1920, a decoder's padded height, is not a copy of 1080x1920).

    >>> is_scaled_copy((33, 60), (1080, 1920)), is_scaled_copy((1088, 1920), (1080, 1920))
    (True, False)
    """
    (ah, aw), (bh, bw) = a, b
    if ah * bw == aw * bh:
        return True
    if min(ah, aw, bh, bw) < MIN_ROUNDED_SIDE:
        return False

    def within(x, y):  # x smaller on both sides, and some s with |x - s * y| <= 1 on both
        return x[0] < y[0] and x[1] < y[1] and \
            max((x[0] - 1) / y[0], (x[1] - 1) / y[1]) <= min((x[0] + 1) / y[0], (x[1] + 1) / y[1])

    return within(a, b) or within(b, a)


def mask_bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` bounding the pixels where ``mask > 0`` (end-exclusive), or
    ``None`` when the mask is all zero."""
    nz = mask > 0
    rows = np.flatnonzero(nz.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(nz[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def mask_levels(mask: np.ndarray) -> np.ndarray:
    """A float32 mask in ``[0, 1]`` as 8-bit levels, ``uint8`` ``round(m * 255)`` (a value
    halfway between two levels goes to the even one), of the same shape. Both renderers
    recolour with these levels over 255: a mask already in steps of 1/255 (the model's,
    an 8-bit file's) is unchanged, any other moves by at most half a step.

    >>> mask_levels(np.array([0.0, 0.001, 0.002, 0.5, 1.0], np.float32)).tolist()
    [0, 0, 1, 128, 255]
    """
    import cv2

    # one pass: m * 255 in float32, rounded to nearest (ties to even) and saturated; a 1-D
    # array as one row (OpenCV would take it as a column)
    return cv2.convertScaleAbs(mask.reshape(1, -1) if mask.ndim == 1 else mask, alpha=255.0).reshape(mask.shape)


def ramp_table(lo: float, hi: float) -> np.ndarray:
    """256-entry ``float32`` table of a smoothstep from ``lo`` to ``hi`` over ``i / 255``.

    Its values are 8-bit levels (``k / 255``, as :func:`as_mask` reads a uint8 mask), so a
    ramped mask saved as an 8-bit PNG reads back exactly. The smoothstep crosses 0.5 where
    its input does when the ramp is centred on 0.5.
    """
    if not 0.0 <= lo < hi <= 1.0:
        raise InputError(f"a ramp needs 0 <= lo < hi <= 1, got lo={lo}, hi={hi}")
    x = np.arange(256, dtype=np.float64) / 255.0
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    levels = np.round(t * t * (3.0 - 2.0 * t) * 255.0).astype(np.uint8)
    return levels.astype(np.float32) * np.float32(1.0 / 255.0)


def apply_ramp(probability: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table`` (from :func:`ramp_table`) applied to a float32 map in ``[0, 1]``, in steps of 1/255."""
    import cv2

    # cv2 rounds and saturates to 8 bits and applies the 256-entry table in one pass each
    return cv2.LUT(cv2.convertScaleAbs(probability, alpha=255.0), table)
