"""Contact sheet of a colour: the original and recoloured hair of several subjects,
ordered from light to dark hair, with each subject's hair intensity printed."""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # pragma: no cover - run by its path: python tools/preview.py
    import _by_path  # beside it, in the folder Python put first on sys.path

    _by_path.part_of_lut_tool(__file__, "preview")  # a module of these commands, not a command

import numpy as np

from ._common import apply_color

__all__ = ["contact_sheet", "TILE"]

#: Tile height in pixels.
TILE = 200


def _fit_tile(img: np.ndarray, height: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def _label(img: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = img.copy()
    cv2.rectangle(out, (0, out.shape[0] - 18), (out.shape[1], out.shape[0]), (0, 0, 0), -1)
    cv2.putText(out, text, (4, out.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def contact_sheet(color, subjects: list[tuple[str, np.ndarray, np.ndarray]], *, tile: int = TILE) -> np.ndarray:
    """Two rows (original, recoloured) of ``subjects`` = ``[(label, rgb, mask), ...]``,
    sorted by hair intensity, and a header with the colour's name, swatch and its
    light/dark reference intensities. Returns H x W x 3 uint8 RGB."""
    import cv2

    from hairfx.colors import get_color
    from hairfx.intensity import hair_intensity

    color = get_color(color)
    rows = []
    for label, rgb, mask in subjects:
        intensity = hair_intensity(rgb, mask)
        rows.append((intensity if intensity is not None else -1.0, label, rgb, mask))
    rows.sort(key=lambda r: -r[0])
    top, bottom = [], []
    for intensity, label, rgb, mask in rows:
        w = color.weight(intensity) if intensity >= 0 else 0.0
        out = apply_color(rgb, color, mask)
        top.append(_label(_fit_tile(rgb, tile), f"{label} I={intensity:.3f}"))
        bottom.append(_label(_fit_tile(out, tile), f"w={w:.2f}"))
    strip = lambda tiles: np.concatenate(
        [np.pad(t, ((0, 0), (0, 4), (0, 0)), constant_values=255) for t in tiles], axis=1)
    body = np.concatenate([strip(top), np.full((4, strip(top).shape[1], 3), 255, np.uint8), strip(bottom)], axis=0)
    header = np.full((36, body.shape[1], 3), 255, np.uint8)
    cv2.rectangle(header, (4, 4), (60, 31), color.swatch_rgb(), -1)
    text = (f"{color.display_name} ({color.name}) swatch {color.swatch}   "
            f"light ref I={color.light_intensity:.3f}  dark ref I={color.dark_intensity:.3f}")
    cv2.putText(header, text, (68, 23), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header, body], axis=0)
