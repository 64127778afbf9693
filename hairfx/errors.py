"""The exceptions hairfx raises.

Every error hairfx raises on purpose derives from :class:`HairfxError`, so a
caller can catch them all at once. Errors about a caller's input also derive
from the matching built-in (``ValueError``, ``KeyError``, ``FileNotFoundError``)
so code that already catches those keeps working.
"""

from __future__ import annotations

__all__ = [
    "HairfxError",
    "InputError",
    "MissingFileError",
    "LutFormatError",
    "UnknownColorError",
    "RendererUnavailable",
    "WeightsError",
    "CameraError",
    "DeviceUnavailable",
]


class HairfxError(Exception):
    """Base class of every error hairfx raises on purpose."""


class InputError(HairfxError, ValueError):
    """A frame, mask or option given by the caller is not what was expected."""


class MissingFileError(InputError, FileNotFoundError):
    """A file hairfx was asked to read does not exist."""


class LutFormatError(HairfxError, ValueError):
    """A LUT file or colour folder is malformed; the message names the file and line."""


class UnknownColorError(HairfxError, KeyError):
    """A colour name that is not in the registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class RendererUnavailable(HairfxError, RuntimeError):
    """The requested renderer cannot start (for example no OpenGL/EGL context)."""


class WeightsError(HairfxError, RuntimeError):
    """Model weights are missing, corrupt or fail their recorded SHA-256."""


class CameraError(HairfxError, RuntimeError):
    """A camera or video source could not be opened or stopped delivering frames."""


class DeviceUnavailable(HairfxError, RuntimeError):
    """The device asked for (a CUDA GPU for training) is not there."""
