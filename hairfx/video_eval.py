"""Flicker of masks and colour over real clips, with and without the temporal features.

    python -m hairfx.video_eval                      # clips in ../shared/data/videos
    python -m hairfx.video_eval --data DIR --frames 150 --color copper

For each clip (its first ``--frames`` frames, scaled so the longer side is ``--side``):

* **off**: every frame on its own: the model without a prior (``Segmenter.predict``) and
  the raw per-frame intensity (no smoothing);
* **on**: the video path: previous-mask feedback with scene-cut reset
  (``SegmenterSession``) and the intensity smoothed by ``--smoothing`` (the library's
  default, 0, leaves it unsmoothed, so by default only the mask feedback differs).

Printed, per clip and on average:

* **mask flicker**: mean absolute frame-to-frame change of the mask, in percent of the
  full 0-1 range, averaged over pixels and frames;
* **colour flicker**: mean frame-to-frame change of the recoloured hair's mean colour
  (mask-weighted mean RGB of the output, Euclidean distance in 8-bit levels).

Lower is steadier. A markdown table is printed too (``--markdown``) for the report.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

from . import _datadir
from ._text import counted
from .cli import ArgumentParser, smoothing_argument
from .errors import InputError
from .presets import MODEL_NAMES, add_ensemble_argument, ensemble_from_args
from .recolor import DEFAULT_SMOOTHING, RENDERERS
from .video import read_frames

__all__ = ["evaluate_clip", "main"]


def _hair_mean(frame: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    total = float(mask.sum())
    if total < 1.0:
        return None
    return (frame.reshape(-1, 3).astype(np.float64) * mask.reshape(-1, 1)).sum(axis=0) / total


def _flicker(masks: list[np.ndarray], outs: list[np.ndarray]) -> tuple[float, float]:
    mask_d = [float(np.abs(b - a).mean()) * 100.0 for a, b in zip(masks, masks[1:])]
    means = [_hair_mean(o, m) for o, m in zip(outs, masks)]
    col_d = [float(np.linalg.norm(b - a)) for a, b in zip(means, means[1:]) if a is not None and b is not None]
    return float(np.mean(mask_d)) if mask_d else 0.0, float(np.mean(col_d)) if col_d else 0.0


def evaluate_clip(frames: list[np.ndarray], segmenter, color, *, smoothing: float, renderer: str) -> dict:
    """``{"off": (mask, colour), "on": (mask, colour)}`` flicker for one clip's frames."""
    from .recolor import RecolorSession, hair_alpha  # the masks the renderer gets

    result = {}
    # off: no prior, no smoothing
    masks = [hair_alpha(segmenter.predict(f)) for f in frames]
    with RecolorSession(color, renderer=renderer, smoothing=0.0) as s:
        outs = [s.process(f, mask=m) for f, m in zip(frames, masks)]
    result["off"] = _flicker(masks, outs)
    # on: previous-mask feedback with scene-cut reset, smoothed intensity
    with segmenter.session() as seg, RecolorSession(color, renderer=renderer, smoothing=smoothing) as s:
        masks = []
        outs = []
        for f in frames:
            resets = seg.resets
            m = hair_alpha(seg.process(f))
            if seg.resets != resets:  # a new scene: start the smoothing afresh, as RecolorSession does
                s.intensity = None
            masks.append(m)
            outs.append(s.process(f, mask=m))
    result["on"] = _flicker(masks, outs)
    return result


def main(argv: list[str] | None = None) -> int:
    p = ArgumentParser(prog="python -m hairfx.video_eval", description=(__doc__ or "").partition("\n")[0])
    p.add_argument("--data", type=Path, default=None, help="data folder holding videos/ (default ../shared/data)")
    p.add_argument("--frames", type=int, default=150, help="frames per clip (default 150)")
    p.add_argument("--side", type=int, default=480, help="scale clips so the longer side is at most this (default 480)")
    p.add_argument("--color", default="copper")
    p.add_argument("--model", choices=MODEL_NAMES, default="small")
    add_ensemble_argument(p)
    p.add_argument("--weights-dir", type=Path, help="load the model from this folder instead of the package")
    p.add_argument("--smoothing", type=smoothing_argument, default=DEFAULT_SMOOTHING,
                   help=f"intensity EMA in the 'on' run (default {DEFAULT_SMOOTHING:g}; 0 is off)")
    p.add_argument("--renderer", choices=RENDERERS, default="cpu")
    p.add_argument("--markdown", action="store_true", help="also print a markdown table")
    args = p.parse_args(argv)
    ensemble = ensemble_from_args(args)
    videos = args.data / "videos" if args.data else _datadir.find_data("videos")
    clips = sorted(videos.glob("*.mp4")) if videos else []
    if not clips:
        raise InputError(f"no .mp4 clips in {videos or ' or '.join(str(r / 'videos') for r in _datadir.roots())}; pass --data")
    from .colors import get_color
    from .segmenter import Segmenter, get_segmenter

    if args.weights_dir:
        seg = Segmenter(args.model, weights_dir=args.weights_dir, ensemble=ensemble)
    else:
        seg = get_segmenter(args.model, ensemble=ensemble)
    color = get_color(args.color)
    rows = []
    print(f"{'clip':<36} {'mask off':>9} {'mask on':>9} {'colour off':>11} {'colour on':>10}")
    start = time.perf_counter()
    for clip in clips:
        frames = read_frames(clip, args.frames, args.side)
        r = evaluate_clip(frames, seg, color, smoothing=args.smoothing, renderer=args.renderer)
        rows.append((clip.stem, len(frames), r))
        print(f"{clip.stem:<36} {r['off'][0]:9.3f} {r['on'][0]:9.3f} {r['off'][1]:11.3f} {r['on'][1]:10.3f}", flush=True)
    mean = {k: tuple(float(np.mean([r[k][i] for _, _, r in rows])) for i in range(2)) for k in ("off", "on")}
    print(f"{'mean':<36} {mean['off'][0]:9.3f} {mean['on'][0]:9.3f} {mean['off'][1]:11.3f} {mean['on'][1]:10.3f}")
    print(f"({time.perf_counter() - start:.0f} s; mask flicker in % of full range, colour flicker in 8-bit levels)")
    if args.markdown:
        print()
        print(f"Machine: {platform.machine()}, {platform.processor() or platform.system()}; {time.strftime('%Y-%m-%d')}; "
              f"model {args.model}{' (ensemble)' if ensemble else ''}, colour {args.color}, "
              f"smoothing {args.smoothing}, up to {counted(args.frames, 'frame')} per clip at <= {args.side} px")
        print()
        print("| clip | frames | mask flicker off | mask flicker on | colour flicker off | colour flicker on |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, n, r in rows:
            print(f"| {name} | {n} | {r['off'][0]:.3f} | {r['on'][0]:.3f} | {r['off'][1]:.3f} | {r['on'][1]:.3f} |")
        print(f"| **mean** | | **{mean['off'][0]:.3f}** | **{mean['on'][0]:.3f}** | **{mean['off'][1]:.3f}** | **{mean['on'][1]:.3f}** |")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from .errors import HairfxError

    try:
        sys.exit(main())
    except HairfxError as exc:
        print(f"python -m hairfx.video_eval: error: {exc}", file=sys.stderr)
        sys.exit(2)
