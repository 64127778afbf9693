"""Palette quality report: how well each colour lands on hair from very light to very dark.

For every colour and for subjects chosen from a dataset split (its ground-truth hair masks)
to span the hair-intensity range evenly, three ways of recolouring are measured:

* **pair**: the colour as hairfx applies it, light and dark LUTs blended by each subject's
  hair intensity (paper, section 6);
* **flat**: a flat tint of the swatch weighted by luminance, MediaPipe RecolorCalculator's
  ``mix = mask * luma601; out = in * (1 - mix) + swatch * mix``;
* **single**: one LUT for every subject, the colour's pair blended half way (w = 0.5),
  i.e. a single LUT without light/dark interpolation.

Figures (over hair pixels, mask >= 0.5, mean colours weighted by the mask, CIELAB D65):

* **hue spread**: range (max - min, on the circle) of the recoloured hair's mean CIELAB
  hue angle across subjects; target <= 8 degrees (not assessed for near-grey swatches,
  C*ab < 12, whose hue is undefined);
* **dE00**: median across subjects of CIEDE2000 between the recoloured mean hair colour
  and the swatch; target <= 10;
* **texture**: median across subjects of the Pearson correlation of the hair's
  high-frequency lightness (L* minus its Gaussian blur, sigma 2 px) before and after;
  target >= 0.8.

    python -m tools.palette_report --data ../shared/data/celeb1k/test --markdown luts/PALETTE_REPORT.md
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # pragma: no cover - run by its path: python tools/palette_report.py
    import _by_path  # beside it, in the folder Python put first on sys.path

    _by_path.run_as_module(__file__)  # as python -m tools.palette_report

import datetime
import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

from hairfx.errors import InputError
from hairfx._text import counted
from hairfx.cli import ArgumentParser
from hairfx.training.cli_args import _positive  # no torch

__all__ = ["pick_subjects", "measure", "main", "HUE_TARGET", "DE_TARGET", "TEXTURE_TARGET"]

HUE_TARGET = 8.0
DE_TARGET = 10.0
TEXTURE_TARGET = 0.8
#: Swatches with less CIELAB chroma than this have no meaningful hue.
ACHROMATIC_CHROMA = 12.0
MASK_MIN = 0.5


def _lab(rgb_u8: np.ndarray) -> np.ndarray:
    from hairfx._colour import colour_science

    colour = colour_science()
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb_u8.astype(np.float64) / 255.0))


#: The split the subjects come from when none is given, under a data root of :mod:`hairfx._datadir`.
DEFAULT_SPLIT = ("celeb1k", "test")
DEFAULT_SPLIT_HELP = "celeb1k/test of ../shared/data, from the working folder or beside the checkout"


def default_split(*, required: bool) -> Path | None:
    """The default subjects' split, found as ``hairfx evaluate`` finds its data: under
    ``../shared/data`` from the working folder, then beside the checkout. None when neither
    holds it, or, if ``required``, an error naming both places."""
    from hairfx._datadir import find_data, roots

    found = find_data(*DEFAULT_SPLIT)
    if found is None and required:
        looked = " and ".join(str(r.joinpath(*DEFAULT_SPLIT)) for r in roots())
        raise InputError(f"no dataset split given and none found: looked in {looked}; pass --data DIR "
                         "(a folder with images/ and masks/)")
    return found


def pick_subjects(data: str | Path, count: int, *, max_side: int = 512) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``count`` subjects of a dataset split (``images/*.jpg`` + ``masks/*.png``) whose hair
    intensities are evenly spaced in rank from the lightest to the darkest hair."""
    import cv2

    from hairfx.imagefiles import imread_any
    from hairfx.intensity import hair_intensity

    from ._common import read_mask, read_rgb

    data = Path(data)
    images = sorted((data / "images").glob("*.jpg")) + sorted((data / "images").glob("*.png"))
    if not images:
        raise InputError(f"no images in {data / 'images'} (expected a split with images/ and masks/)")
    if count < 2:
        raise InputError(f"need at least 2 subjects, got {count}")
    scored = []
    for path in images:
        mask_path = data / "masks" / (path.stem + ".png")
        if not mask_path.exists():
            continue
        mask = read_mask(mask_path)
        if (mask >= MASK_MIN).sum() < 500:  # too little hair to judge a colour on
            continue
        # Intensity from a cheap, half-size read; subjects are loaded in full below.
        small = imread_any(path, cv2.IMREAD_REDUCED_COLOR_2)[:, :, ::-1]
        m_small = cv2.resize(mask, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
        np.clip(m_small, 0.0, 1.0, out=m_small)  # an area average of ones can come out a float step above 1
        i = hair_intensity(np.ascontiguousarray(small), m_small)
        if i is not None:
            scored.append((i, path, mask_path))
    if len(scored) < count:
        raise InputError(f"{data}: only {counted(len(scored), 'image')} with enough hair, asked for {count}")
    scored.sort(key=lambda t: -t[0])
    picks = [scored[round(k * (len(scored) - 1) / (count - 1))] for k in range(count)]
    out = []
    for _, path, mask_path in picks:
        rgb = read_rgb(path)
        mask = read_mask(mask_path)
        if mask.shape != rgb.shape[:2]:
            mask = cv2.resize(mask, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        scale = max_side / max(rgb.shape[:2])
        if scale < 1:
            size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
        out.append((path.stem, rgb, np.clip(mask, 0, 1).astype(np.float32)))
    return out


def flat_tint(frame: np.ndarray, swatch_rgb, mask: np.ndarray) -> np.ndarray:
    """MediaPipe RecolorCalculator with adjust_with_luminance: a luminance-weighted flat tint."""
    f = frame.astype(np.float32)
    luma = f @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0
    mix = (mask * luma)[..., None]
    out = f * (1 - mix) + np.asarray(swatch_rgb, np.float32) * mix
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _hf(lightness: np.ndarray) -> np.ndarray:
    import cv2

    return lightness - cv2.GaussianBlur(lightness, (0, 0), 2.0)


def measure(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, float]:
    """(mask-weighted mean CIELAB of the hair after, texture correlation before/after)."""
    import cv2

    sel = mask >= MASK_MIN
    lab_after = _lab(after)
    w = mask[sel].astype(np.float64)
    mean = (lab_after[sel] * w[:, None]).sum(0) / w.sum()
    inner = cv2.erode(sel.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if inner.sum() < 50:
        inner = sel
    hb = _hf(_lab(before)[..., 0].astype(np.float32))[inner]
    ha = _hf(lab_after[..., 0].astype(np.float32))[inner]
    corr = float(np.corrcoef(hb, ha)[0, 1]) if hb.std() > 0 and ha.std() > 0 else 0.0
    return mean, corr


def _hue_spread(labs: list[np.ndarray]) -> float:
    h = np.array([math.atan2(l[2], l[1]) for l in labs])
    mean = math.atan2(np.sin(h).mean(), np.cos(h).mean())
    d = np.degrees((h - mean + np.pi) % (2 * np.pi) - np.pi)
    return float(d.max() - d.min())


def evaluate(color, subjects) -> dict:
    """The three figures for the three methods (see the module docstring)."""
    from hairfx._colour import colour_science

    colour = colour_science()

    from hairfx.lut import LUT3D

    from ._common import apply_color, apply_table

    swatch_lab = _lab(np.array(color.swatch_rgb(), np.uint8))
    single = LUT3D(color.blended(0.5), domain_min=color.domain[0], domain_max=color.domain[1])
    results = {}
    for method in ("pair", "flat", "single"):
        labs, corrs = [], []
        for _, rgb, mask in subjects:
            if method == "pair":
                out = apply_color(rgb, color, mask)
            elif method == "flat":
                out = flat_tint(rgb, color.swatch_rgb(), mask)
            else:
                out = apply_table(rgb, single, mask)
            mean, corr = measure(rgb, out, mask)
            labs.append(mean)
            corrs.append(corr)
        de = [float(colour.delta_E(l, swatch_lab, method="CIE 2000")) for l in labs]
        results[method] = {"hue": _hue_spread(labs), "de": float(np.median(de)), "texture": float(np.median(corrs))}
    results["achromatic"] = math.hypot(swatch_lab[1], swatch_lab[2]) < ACHROMATIC_CHROMA
    return results


def _mark(ok: bool) -> str:
    return "" if ok else " ✗"


def report(colors: list[str], subjects, data) -> str:
    from hairfx.colors import get_color
    from hairfx.intensity import hair_intensity

    intens = [hair_intensity(rgb, m) for _, rgb, m in subjects]
    lines = [
        f"Subjects: {len(subjects)} from `{data}` (ground-truth masks), hair intensity "
        f"{max(intens):.3f} (lightest) to {min(intens):.3f} (darkest): "
        + ", ".join(f"{n} {i:.2f}" for (n, _, _), i in zip(subjects, intens)),
        "",
        f"Targets: hue spread <= {HUE_TARGET:g} deg, median CIEDE2000 <= {DE_TARGET:g}, texture >= {TEXTURE_TARGET:g}. "
        "pair = hairfx (light/dark LUTs interpolated by hair intensity), flat = luminance-weighted flat tint "
        "(MediaPipe RecolorCalculator), single = one LUT (the pair at w = 0.5) for every subject. "
        "✗ marks a figure that misses its target; hue spread is not assessed (n/a) for near-grey swatches.",
        "",
        "| colour | swatch | hue spread pair | flat | single | dE00 pair | flat | single | texture pair | flat | single |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    met = 0
    for name in colors:
        color = get_color(name)
        r = evaluate(color, subjects)
        hue = lambda m: ("n/a (%.1f)" % r[m]["hue"]) if r["achromatic"] else f"{r[m]['hue']:.1f}{_mark(r[m]['hue'] <= HUE_TARGET)}"
        de = lambda m: f"{r[m]['de']:.1f}{_mark(r[m]['de'] <= DE_TARGET)}"
        tex = lambda m: f"{r[m]['texture']:.2f}{_mark(r[m]['texture'] >= TEXTURE_TARGET)}"
        ok = (r["achromatic"] or r["pair"]["hue"] <= HUE_TARGET) and r["pair"]["de"] <= DE_TARGET \
            and r["pair"]["texture"] >= TEXTURE_TARGET
        met += ok
        lines.append(f"| {name} | `{color.swatch}` | {hue('pair')} | {hue('flat')} | {hue('single')} | "
                     f"{de('pair')} | {de('flat')} | {de('single')} | {tex('pair')} | {tex('flat')} | {tex('single')} |")
        print(lines[-1], file=sys.stderr, flush=True)
    lines += ["", f"hairfx pairs meeting all three targets: {met} of {len(colors)}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="hairfx-lut report", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--data", help=f"dataset split with images/ and masks/ (default: {DEFAULT_SPLIT_HELP})")
    parser.add_argument("--subjects", type=_positive, default=12,
                        help="subjects spanning the intensity range (default 12)")
    parser.add_argument("--markdown", help="also write the report to this markdown file (folders created as needed)")
    parser.add_argument("--color", dest="colors", action="append", help="only this colour (repeatable)")
    args = parser.parse_args(argv)
    from hairfx.colors import colors

    if args.markdown:  # refused before the minutes of measuring, not after
        from hairfx._files import check_output_file

        check_output_file(Path(args.markdown), "PALETTE_REPORT.md")
    if args.data is None:
        args.data = os.path.relpath(default_split(required=True))  # as the report shows it: ../shared/data/...
    names = args.colors or colors()
    subjects = pick_subjects(args.data, args.subjects)
    table = report(names, subjects, args.data)
    print(table)
    if args.markdown:
        stamp = datetime.date.today().isoformat()
        cpu = platform.processor() or platform.machine()
        head = (
            "# Palette quality report\n\n"
            f"Generated {stamp} on {platform.system()} {platform.machine()} ({cpu}), Python "
            f"{platform.python_version()}, with\n\n"
            f"    python -m tools.palette_report --data {args.data} --subjects {args.subjects}"
            f"{''.join(f' --color {c}' for c in args.colors or [])} --markdown {args.markdown}\n\n"
            "(also `hairfx-lut report`). Method and definitions: the docstring of `tools/palette_report.py`.\n\n"
        )
        from hairfx._files import replacing

        from ._common import output_file

        with output_file(args.markdown) as md, replacing(md) as tmp:
            tmp.write_text(head + table, encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
