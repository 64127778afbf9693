"""hairfx: real-time hair segmentation and artist-authored LUT hair recolouring.

Conventions: frames are ``H x W x 3`` ``uint8`` RGB numpy arrays (RGB PIL images are
accepted too); masks are ``H x W`` ``float32`` in ``[0, 1]``.

>>> import hairfx
>>> out = hairfx.recolor(frame, "copper", mask=mask)              # doctest: +SKIP
"""

from ._start import set_up_command_start as _set_up_command_start

_set_up_command_start()  # in `hairfx`, `hairfx-lut` or `python -m hairfx`: Ctrl-C while it loads is one line

from .colors import Color, add_lut_dir, colors, get_color, load_color, lut_dirs, save_color
from .errors import (
    CameraError,
    DeviceUnavailable,
    HairfxError,
    InputError,
    LutFormatError,
    MissingDependency,
    MissingFileError,
    RendererUnavailable,
    UnknownColorError,
    WeightsError,
)
from .intensity import blend_weight, hair_intensity
from .lut import LUT3D, read_cube, write_cube
from .recolor import RecolorSession, make_renderer, recolor, release_renderers

__version__ = "0.1.0"

__all__ = [
    "recolor",
    "release_renderers",
    "RecolorSession",
    "make_renderer",
    "colors",
    "get_color",
    "add_lut_dir",
    "lut_dirs",
    "load_color",
    "save_color",
    "Color",
    "LUT3D",
    "read_cube",
    "write_cube",
    "hair_intensity",
    "blend_weight",
    "HairfxError",
    "InputError",
    "MissingFileError",
    "LutFormatError",
    "UnknownColorError",
    "RendererUnavailable",
    "WeightsError",
    "CameraError",
    "DeviceUnavailable",
    "MissingDependency",
]
