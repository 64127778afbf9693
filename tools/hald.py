"""Hald CLUT images: an identity to grade in any photo editor, and back to a 3D LUT.

Convention (the one of ffmpeg's ``haldclut`` filter and of ImageMagick's ``hald:``): a
level-``L`` Hald image is ``L**3`` pixels square and holds a LUT of ``N = L**2`` points
per axis. Read in scanline order (left to right, top to bottom), pixel ``i`` is the
output for the grid point ``(r, g, b)`` with ``i = r + g*N + b*N*N``: **red varies
fastest**, exactly the row order of a ``.cube`` file. The one reshape between the two
is in :func:`table_from_hald` / :func:`hald_from_table`.
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # pragma: no cover - run by its path: python tools/hald.py
    import _by_path  # beside it, in the folder Python put first on sys.path

    _by_path.part_of_lut_tool(__file__, "hald-export", "hald-import")  # a module of these commands, not a command

import os
from pathlib import Path

import numpy as np

from hairfx._files import check_readable_file
from hairfx.errors import InputError, LutFormatError
from hairfx.imagefiles import imread_any
from hairfx.lut import LUT3D

__all__ = ["MIN_LEVEL", "MAX_LEVEL", "hald_from_table", "table_from_hald", "identity_hald", "read_hald", "write_hald"]

MIN_LEVEL = 2
MAX_LEVEL = 16  # 4096 x 4096 pixels, a 256-point LUT


def _check_level(level) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not MIN_LEVEL <= level <= MAX_LEVEL:
        raise InputError(f"Hald level must be an integer in {MIN_LEVEL}..{MAX_LEVEL}, got {level!r}")
    return int(level)


def hald_from_table(table: np.ndarray) -> np.ndarray:
    """An ``(N, N, N, 3)`` table indexed ``[r, g, b]`` (N a square, L**2) as the
    ``L**3 x L**3 x 3`` float Hald image."""
    n = table.shape[0]
    level = int(round(n ** 0.5))
    if level * level != n:
        raise InputError(f"a Hald image needs a LUT size that is a square (4, 9, 16, ...), got {n}")
    side = level**3
    # [r, g, b] -> [b, g, r] so that the flattened order has red fastest.
    return np.ascontiguousarray(table.transpose(2, 1, 0, 3)).reshape(side, side, 3)


def table_from_hald(image: np.ndarray, *, name: str = "Hald image") -> np.ndarray:
    """The ``(N, N, N, 3)`` table (indexed ``[r, g, b]``) held by a Hald image."""
    h, w = image.shape[:2]
    level = round(h ** (1 / 3))
    if h != w or level**3 != h or not MIN_LEVEL <= level <= MAX_LEVEL:
        sizes = ", ".join(f"{l**3}x{l**3}" for l in range(MIN_LEVEL, 9))
        raise LutFormatError(
            f"{name} is {w}x{h}, not a Hald CLUT: it must be square with a side of level**3 "
            f"pixels ({sizes}, ...); export a fresh identity with hald-export and edit it without resizing or cropping"
        )
    n = level * level
    return np.ascontiguousarray(image.reshape(n, n, n, 3).transpose(2, 1, 0, 3))


def identity_hald(level: int = 8) -> np.ndarray:
    """The identity Hald image of ``level`` as float values in [0, 1]."""
    level = _check_level(level)
    return hald_from_table(LUT3D.identity(level * level).table.astype(np.float64))


def write_hald(path: str | os.PathLike, image: np.ndarray, *, depth: int = 16) -> Path:
    """Write a float Hald image as an 8- or 16-bit PNG (or TIFF); missing folders are
    created (and removed again on a failure). The file appears whole or not at all."""
    import cv2

    from hairfx._files import check_output_file
    from hairfx.imagefiles import write_whole

    from ._common import output_file

    if depth not in (8, 16):
        raise InputError(f"depth must be 8 or 16, got {depth!r}")
    path = Path(path)
    if path.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise InputError(f"write the Hald image as .png or .tif (lossless), got {path.name!r}")
    check_output_file(path, "hald.png")
    top = 255 if depth == 8 else 65535
    data = np.round(np.clip(image, 0, 1) * top).astype(np.uint8 if depth == 8 else np.uint16)
    ok, encoded = cv2.imencode(path.suffix.lower(), np.ascontiguousarray(data[:, :, ::-1]))
    if not ok:  # pragma: no cover - PNG and TIFF encoders ship with OpenCV
        raise InputError(f"could not encode {path}")
    with output_file(path) as out:
        write_whole(out, encoded.tobytes())  # an OS error (a full disk) names the file, not a bare errno
    return path


def read_hald(path: str | os.PathLike) -> LUT3D:
    """The LUT held by an edited Hald image file (8- or 16-bit RGB; alpha is ignored)."""
    import cv2

    path = Path(path)
    check_readable_file(path, "Hald image", "an image file")
    if path.suffix.lower() in (".jpg", ".jpeg"):
        raise LutFormatError(f"{path}: JPEG is lossy and blurs the Hald grid; export the edited Hald as PNG or TIFF")
    img = imread_any(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise LutFormatError(f"{path}: not an image OpenCV can read")
    if img.ndim == 2:
        img = np.dstack([img, img, img])
    if img.shape[2] == 4:
        img = img[:, :, :3]
    top = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(img.dtype)
    if top is None:
        raise LutFormatError(f"{path}: expected an 8- or 16-bit image, got {img.dtype}")
    rgb = img[:, :, ::-1].astype(np.float32) / np.float32(top)
    return LUT3D(table_from_hald(rgb, name=str(path)), title=path.stem)


def grid_trend(lut: LUT3D) -> float:
    """How consistently each output channel rises (or falls) along the axis of the grid it
    follows most, from 0 (as often up as down) to 1 (always one way), averaged over the
    channels that vary. A grade of any strength is a smooth function of the colour: red
    follows red (or, after a hue turn or a channel swap, blue), and so on (about 1); a photo
    saved in place of the graded Hald has neighbouring pixels that go up and down at random
    (under 0.2). A channel the grade sets to one value (a channel mixer keeping red only)
    neither rises nor falls, which says nothing either way, so it is left out; a LUT
    with no channel that varies gives 1."""
    trends = []
    for c in range(3):
        best, varies = 0.0, False
        for axis in range(3):
            d = np.diff(lut.table[..., c], axis=axis)
            up, down = int(np.count_nonzero(d > 1e-6)), int(np.count_nonzero(d < -1e-6))
            best = max(best, abs(up - down) / max(1, up + down))
            varies = varies or up + down > 0
        if varies:
            trends.append(best)
    return float(np.mean(trends)) if trends else 1.0


def _roughness(table: np.ndarray) -> float:
    """Mean step between neighbouring entries along the three axes of a table."""
    return float(np.mean([np.abs(np.diff(table, axis=axis)).mean() for axis in range(3)]))


def is_tile_lookup(lut: LUT3D) -> bool:
    """Whether the 512 x 512 image read as this level-8 Hald is instead an 8 x 8-tile lookup
    image (the layout of GPUImage and many mobile apps: blue picks a 64 x 64 tile, red runs
    across it, green down it). Read in the wrong layout, either kind jumps from entry to
    entry; in its own it is smooth, so the layout with the smaller steps (by more than
    twice: the identity of either is about six times smoother in its own) is the image's."""
    if lut.size != 64:
        return False
    image = hald_from_table(lut.table)
    tiles = image.reshape(8, 64, 8, 64, 3).transpose(3, 1, 0, 2, 4).reshape(64, 64, 64, 3)  # [r, g, b]
    return _roughness(lut.table) > 2.0 * _roughness(tiles)
