"""Rebuild reference_images/ from the upstream packages: crop, hair mask, intensity.

The hair masks are hand-placed polygons (one outline of the hair, minus the face and
ears), refined by OpenCV's GrabCut in a thin band around the outline and feathered by
about one pixel. The polygons were placed by eye on zoomed crops; this script is what
makes the shipped masks reproducible. See reference_images/README.md for where the
photos come from and their licences.

Usage, from the checkout (after fetching and unpacking the packages, see
reference_images/README.md)::

    python -m tools.reference_masks \\
        --kphotoalbum /tmp/kpa/usr/share/kphotoalbum/demo \\
        --mahotas /tmp/mh/mahotas/demos/data \\
        --skimage /tmp/sk/skimage/data \\
        -o reference_images --overlays /tmp/overlays
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # pragma: no cover - run by its path: python tools/reference_masks.py
    import _by_path  # beside it, in the folder Python put first on sys.path

    _by_path.run_as_module(__file__)  # as python -m tools.reference_masks, with the checkout's hairfx

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from hairfx._files import check_folder, check_readable_file
from hairfx.errors import HairfxError, InputError, MissingFileError
from hairfx.imagefiles import imread_any, imwrite_any
from hairfx.intensity import hair_intensity

__all__ = ["REFERENCES", "make_mask", "main"]

#: Pixels either side of the hand-placed outline that GrabCut may move the boundary in.
BAND = 5

#: name -> (source key, file, crop box x0, y0, x1, y1 or None, hair polygon, excluded polygons)
#: Polygon vertices are in the coordinates of the cropped image.
REFERENCES = {
    "light": (
        "kphotoalbum", "anne_helene.jpg", (40, 70, 360, 390),
        [(140, 37), (158, 38), (172, 45), (185, 58), (192, 78), (194, 100), (196, 125), (198, 150),
         (198, 175), (195, 195), (190, 210), (182, 220), (175, 212), (172, 192), (170, 172),
         (176, 160), (183, 145), (184, 120), (184, 95), (175, 88), (150, 88), (125, 88), (105, 90),
         (103, 110), (104, 135), (106, 152), (110, 165), (110, 180), (102, 188), (92, 185),
         (80, 172), (65, 165), (58, 155), (70, 145), (82, 130), (88, 110), (92, 90), (96, 70),
         (103, 55), (115, 45), (128, 39)],
        [],
    ),
    "medium": (
        "skimage", "astronaut.png", (96, 0, 352, 256),
        [(235 - 96, 16), (215 - 96, 20), (198 - 96, 28), (185 - 96, 38), (165 - 96, 45), (155 - 96, 55),
         (152 - 96, 70), (153 - 96, 90), (156 - 96, 105), (162 - 96, 115), (171 - 96, 122),
         (177 - 96, 105), (180 - 96, 90), (190 - 96, 81), (210 - 96, 79), (230 - 96, 80),
         (250 - 96, 82), (262 - 96, 86), (268 - 96, 96), (270 - 96, 110), (273 - 96, 128),
         (282 - 96, 125), (292 - 96, 115), (298 - 96, 100), (300 - 96, 80), (295 - 96, 60),
         (285 - 96, 42), (270 - 96, 28), (255 - 96, 18)],
        [],
    ),
    "dark": (
        "mahotas", "luispedro.jpg", None,
        [(40, 70), (55, 45), (85, 28), (120, 20), (160, 20), (195, 28), (222, 45), (248, 68),
         (264, 95), (274, 125), (279, 160), (278, 200), (274, 215), (262, 200), (245, 175),
         (228, 182), (222, 200), (215, 175), (205, 150), (198, 120), (193, 95),
         (185, 75), (165, 64), (135, 61), (100, 66), (75, 76), (57, 95), (49, 120), (46, 150),
         (43, 165), (35, 160), (33, 130), (35, 100)],
        [[(228, 175), (245, 168), (262, 175), (268, 200), (262, 240), (248, 255), (235, 245), (230, 215)]],
    ),
}


def make_mask(rgb: np.ndarray, polygon, holes=(), *, band: int = BAND) -> np.ndarray:
    """Hair mask (H x W float32 in [0, 1]) of ``rgb`` from a hand-placed outline.

    Inside the outline eroded by ``band`` is hair, outside it dilated by ``band`` is not;
    GrabCut decides the band between. The result is feathered with a 3x3 Gaussian.
    """
    h, w = rgb.shape[:2]
    poly = np.zeros((h, w), np.uint8)
    cv2.fillPoly(poly, [np.asarray(polygon, np.int32)], 1)
    for hole in holes:
        cv2.fillPoly(poly, [np.asarray(hole, np.int32)], 0)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    inner = cv2.erode(poly, kernel)
    outer = cv2.dilate(poly, kernel)
    gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    gc[outer > 0] = cv2.GC_PR_BGD
    gc[poly > 0] = cv2.GC_PR_FGD
    gc[inner > 0] = cv2.GC_FGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), gc, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    hard = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(hard, (3, 3), 0.8), 0.0, 1.0).astype(np.float32)


def read_source(path: Path) -> np.ndarray:
    """The BGR photo at ``path``; :class:`~hairfx.errors.MissingFileError` or
    :class:`~hairfx.errors.InputError` naming it when it is missing or not an image."""
    check_readable_file(path, "source photo", "an image file")
    bgr = imread_any(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"source photo {path} is not an image OpenCV can read")
    return bgr


def overlay(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the mask tinted green and its outline drawn, for checking by eye."""
    out = rgb.astype(np.float32)
    out = out * (1 - 0.45 * mask[..., None]) + np.array([0, 255, 0], np.float32) * 0.45 * mask[..., None]
    out = out.clip(0, 255).astype(np.uint8)
    contours, _ = cv2.findContours((mask > 0.5).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 0, 0), 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reference_masks", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--kphotoalbum", type=Path, required=True, help="kphotoalbum's demo/ folder")
    parser.add_argument("--mahotas", type=Path, required=True, help="mahotas' demos/data/ folder")
    parser.add_argument("--skimage", type=Path, required=True, help="scikit-image's data/ folder")
    parser.add_argument("-o", "--output", type=Path, default=Path("reference_images"))
    parser.add_argument("--overlays", type=Path, help="also write NAME_overlay.png here")
    args = parser.parse_args(argv)
    sources = {"kphotoalbum": args.kphotoalbum, "mahotas": args.mahotas, "skimage": args.skimage}
    try:
        # every photo is read, and the output folders checked, before anything is made: a
        # wrong package folder leaves no half-filled (or new, empty) output folder behind
        photos = {name: read_source(sources[key] / filename) for name, (key, filename, *_) in REFERENCES.items()}
        for folder in (args.output, args.overlays):
            if folder is not None:
                check_folder(folder, f"cannot write into {folder}")
    except MissingFileError as exc:
        print(f"reference_masks: error: {exc}; fetch and unpack the packages as reference_images/README.md "
              "says, and pass the folders that hold the photos", file=sys.stderr)
        return 2
    except HairfxError as exc:
        print(f"reference_masks: error: {exc}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    intensities = {}
    for name, (key, filename, box, polygon, holes) in REFERENCES.items():
        bgr = photos[name]
        if box is not None:
            x0, y0, x1, y1 = box
            bgr = bgr[y0:y1, x0:x1]
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        mask = make_mask(rgb, polygon, holes)
        mask8 = np.round(mask * 255).astype(np.uint8)
        imwrite_any(args.output / f"{name}.png", bgr, (cv2.IMWRITE_PNG_COMPRESSION, 9))
        imwrite_any(args.output / f"{name}_mask.png", mask8, (cv2.IMWRITE_PNG_COMPRESSION, 9))
        # The intensity is measured on what was written (the 8-bit mask), as the tool will.
        intensities[name] = round(hair_intensity(rgb, mask8.astype(np.float32) / 255.0), 6)
        if args.overlays is not None:
            args.overlays.mkdir(parents=True, exist_ok=True)
            imwrite_any(args.overlays / f"{name}_overlay.png", np.ascontiguousarray(overlay(rgb, mask)[:, :, ::-1]))
        print(f"{name}: {filename} {rgb.shape[1]}x{rgb.shape[0]}, hair intensity {intensities[name]:.4f}")
    (args.output / "intensities.json").write_text(json.dumps(intensities, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
