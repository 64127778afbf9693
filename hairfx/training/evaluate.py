"""Evaluate the shipped hair-mask models: IoU, boundary F and temporal stability.

    hairfx evaluate --data ../shared/data            # both presets, prints tables

* **IoU**: per image at threshold 0.5, the mask predicted at the image's own size
  with an empty prior, averaged over figaro1k/test and celeb1k/test. With ``--tta`` the
  same is also scored for the four-pass ``predict(tta=True)`` (mirrored, mask fed back).
  ``predict`` zooms into a head small in the frame, as it does by default; ``--no-zoom``
  scores one pass (the zoom runs on few of these photos, whose heads fill the frame).
* **Boundary F** (DAVIS protocol, Perazzi et al. 2016): boundary pixels of prediction
  and label are matched within ``ceil(0.008 * image diagonal)`` pixels; F is the
  harmonic mean of the boundary precision and recall, averaged per image.
* **By hair lightness**: the same IoU over the images whose labelled hair is dark,
  medium or light (:data:`LIGHTNESS`, by its mean luma).
* **Worst photos**: the :data:`WORST` lowest-IoU photos of each split, with the share of
  the photo that the label and the prediction call hair (more predicted than labelled:
  something else taken for hair, such as a hat or a jacket; less: hair missed), and the
  share of the split's lost IoU (the sum of ``1 - IoU``) that they carry. A few photos
  carry much of what a mean loses; this table says which to look at.
* **Small heads**: the same photos shrunk to half, to 0.35 and to a quarter of their sides,
  centred on a black frame of their own size (the label likewise), scored with one pass and
  with the zoom and its search (:func:`small_heads`): how much of the IoU a head small in the
  frame keeps.
* **No hair in view**: the share of the frame called hair in frames without any: a
  hair-free crop of each test photo (its label's least-hair square) and six plain scenes
  (walls, a dark room, a sky); see :func:`hair_free`.
* **Flicker**: on each clip of ``videos/``, the mean absolute change of the soft mask
  between consecutive frames (0-1 scale, lower is steadier), without the prior (every
  frame independent), with the raw prior fed back, and with :class:`SegmenterSession`
  (prior plus scene-cut / wrong-prior resets). Mean mask coverage is listed beside it
  so an empty mask cannot pass for a steady one. With ``--check-every N`` a fourth mode,
  the session re-checking its prior every N frames (``session(check_every=N)``), is
  scored too. Every mode zooms into a head small in the frame as ``predict`` and the
  session do by default; ``--no-zoom`` sees the whole frame in each, once a frame.

Everything goes through the public :class:`~hairfx.segmenter.Segmenter`, so the
numbers include letterboxing and resizing, exactly what a caller gets.

Scoring both presets on the full data takes about half an hour, so everything the run
will need is checked before any scoring (:func:`check_inputs`): the data folder, every
image and label it will score (decoded once: about a second and a half for the full
test splits), every clip (opened and its first frame decoded), the weights of every
model, and the ``--json`` destination (its missing folders are created once all is
well; the file is written at the end through a temporary file, never half-written).
Every problem found is reported at once, in one message, rather than one at a time
after the scores before it were computed and lost.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from .._files import folder_obstacle, missing_folder_text, replacing
from ..cli import ArgumentParser
from ..errors import InputError, MissingFileError, WeightsError
from ..imagefiles import imread_any
from ..video import VideoReader
from . import cli_args
from .data import _read_pair as read_pair, list_pairs

__all__ = [
    "iou", "boundary_f", "seg2bmap", "evaluate_split", "small_heads", "hair_free", "flicker", "check_inputs", "run",
    "main",
]

SPLITS = ("figaro1k/test", "celeb1k/test")
BOUND_TH = 0.008  # DAVIS: boundary tolerance as a fraction of the image diagonal
#: Hair lightness classes by the labelled hair's intensity (hairfx.intensity; the bundled
#: dark and light reference photos measure 0.17 and 0.55): (name, from, below).
LIGHTNESS = (("dark", 0.0, 0.25), ("medium", 0.25, 0.40), ("light", 0.40, math.inf))
#: How many of each split's lowest-IoU photos the "worst photos" table lists.
WORST = 5
#: The "small heads" table's scales: each test photo shrunk to this share of its sides.
SMALL_HEAD_SCALES = (0.5, 0.35, 0.25)


def _lightness(intensity: float | None) -> str | None:
    for name, lo, hi in LIGHTNESS:
        if intensity is not None and lo <= intensity < hi:
            return name
    return None


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two boolean masks (1.0 when both are empty)."""
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """Boundary map of a boolean mask, as DAVIS's ``seg2bmap`` at the mask's own size.

    A pixel is on the boundary when it differs from its right, bottom or bottom-right
    neighbour (the last row and column compare against background).
    """
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def boundary_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = BOUND_TH) -> float:
    """DAVIS boundary F-measure of boolean masks ``pred`` and ``gt``: a boundary pixel of
    one counts as matched when a boundary pixel of the other lies within ``r`` pixels
    (Euclidean), ``r = ceil(bound_th * diagonal)``, as DAVIS's ``disk(r)`` dilation."""
    r = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*gt.shape))
    fg, gb = seg2bmap(pred), seg2bmap(gt)
    disk = _disk(r)
    fg_dil = cv2.dilate(fg.astype(np.uint8), disk) > 0
    gt_dil = cv2.dilate(gb.astype(np.uint8), disk) > 0
    n_fg, n_gt = np.count_nonzero(fg), np.count_nonzero(gb)
    if n_fg == 0 and n_gt == 0:
        return 1.0
    if n_fg == 0 or n_gt == 0:
        return 0.0
    precision = np.count_nonzero(fg & gt_dil) / n_fg
    recall = np.count_nonzero(gb & fg_dil) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _disk(r: int) -> np.ndarray:
    """The offsets ``x**2 + y**2 <= r**2`` as a uint8 kernel (DAVIS's skimage ``disk(r)``;
    OpenCV's ``MORPH_ELLIPSE`` of the same size holds more of them: 121 against 113 at 6)."""
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def _read_pair(img_path: Path, mask_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A test photo (RGB) and its label (bool, hair), the label at the photo's size, read
    as training reads its pairs (:func:`~hairfx.training.data.load_pairs`), not resized."""
    pair = read_pair("", img_path, mask_path, None)
    return pair.image, pair.mask > 127


def evaluate_split(seg, folder: Path, limit: int | None = None, *, tta: bool = False, zoom: bool = True) -> dict:
    """Mean IoU and boundary F of ``seg`` (empty prior; four-pass ``tta`` if asked; ``zoom``
    as :meth:`~hairfx.segmenter.Segmenter.predict` takes it) on one pair folder.

    ``per_image`` maps each image's name to its IoU, boundary F, the share of the image
    that the label and the prediction call hair and the labelled hair's intensity, for
    looking into failures; ``by_lightness`` gives the count and mean IoU of the images in
    each :data:`LIGHTNESS` class (light hair against a light background is a known weakness).
    """
    from ..intensity import hair_intensity

    pairs = list_pairs(folder)[:limit]
    if not pairs:
        raise InputError(f"no image/mask pairs in {folder} (give --data the folder that holds {'/'.join(SPLITS)})")
    ious, bfs, per_image = [], [], {}
    classes: dict[str, list[float]] = {name: [] for name, _, _ in LIGHTNESS}
    for name, img_path, mask_path in pairs:
        rgb, gt = _read_pair(img_path, mask_path)
        pred = seg.predict(rgb, tta=tta, zoom=zoom) > 0.5
        ious.append(iou(pred, gt))
        bfs.append(boundary_f(pred, gt))
        intensity = hair_intensity(rgb, gt.astype(np.float32))
        kind = _lightness(intensity)
        if kind is not None:
            classes[kind].append(ious[-1])
        per_image[name.rsplit("/", 1)[-1]] = {
            "iou": round(ious[-1], 4),
            "boundary_f": round(bfs[-1], 4),
            "label_hair": round(float(gt.mean()), 4),
            "predicted_hair": round(float(pred.mean()), 4),
            "hair_intensity": None if intensity is None else round(intensity, 4),
        }
    by_lightness = {k: {"n": len(v), "iou": float(np.mean(v)) if v else None} for k, v in classes.items()}
    return {"n": len(pairs), "iou": float(np.mean(ious)), "boundary_f": float(np.mean(bfs)),
            "by_lightness": by_lightness, "per_image": per_image}


def _shrunk(rgb: np.ndarray, gt: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` and its label ``gt`` shrunk to ``scale`` of their sides, centred on a black
    frame (label: no hair) of their own size."""
    h, w = gt.shape
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    top, left = (h - sh) // 2, (w - sw) // 2
    img, label = np.zeros_like(rgb), np.zeros_like(gt)
    img[top : top + sh, left : left + sw] = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.resize(gt.astype(np.uint8) * 255, (sw, sh), interpolation=cv2.INTER_AREA)
    label[top : top + sh, left : left + sw] = small > 127
    return img, label


def small_heads(seg, folder: Path, limit: int | None = None, scales: tuple[float, ...] = SMALL_HEAD_SCALES) -> dict:
    """Mean IoU of ``seg`` on ``folder``'s photos shrunk to each of ``scales`` (:func:`_shrunk`),
    with one pass (``predict(zoom=False)``) and with the zoom: ``{scale: {"one_pass": iou,
    "zoom": iou}}``. A head small in the frame is found less well by a network that learnt
    heads filling it; the zoom runs it again at that scale."""
    scores = {s: {"one_pass": [], "zoom": []} for s in scales}
    for _, img_path, mask_path in list_pairs(folder)[:limit]:
        rgb, gt = _read_pair(img_path, mask_path)
        for s in scales:
            img, label = _shrunk(rgb, gt, s)
            scores[s]["one_pass"].append(iou(seg.predict(img, zoom=False) > 0.5, label))
            scores[s]["zoom"].append(iou(seg.predict(img) > 0.5, label))
    return {s: {k: float(np.mean(v)) if v else 0.0 for k, v in r.items()} for s, r in scores.items()}


#: Plain frames with no one in view: walls of several colours (one of hair's own browns),
#: a dark room and a sky, each with a little sensor noise. 480x640 RGB.
FLAT_SCENES = {
    "grey wall": (128, 128, 128), "dark grey": (60, 60, 60), "white wall": (230, 228, 222),
    "brown wall": (96, 64, 42), "dark room": (28, 24, 22), "sky": (120, 170, 230),
}


def _hair_free_window(gt: np.ndarray, side: float = 0.4) -> tuple[int, int, int] | None:
    """``(y, x, size)`` of the square, ``side`` of the image's shorter side, on a 5 x 5
    grid of places, whose label holds the least hair; None when every one holds 0.5 % or more."""
    h, w = gt.shape
    n = int(min(h, w) * side)
    best = None
    for y in np.linspace(0, h - n, 5).astype(int):
        for x in np.linspace(0, w - n, 5).astype(int):
            frac = float(np.count_nonzero(gt[y : y + n, x : x + n])) / (n * n)
            if best is None or frac < best[0]:
                best = (frac, int(y), int(x))
    return (best[1], best[2], n) if best is not None and best[0] < 0.005 else None


def hair_free(seg, folders: list[Path], limit: int | None = None, *, zoom: bool = True) -> dict:
    """How much hair ``seg`` finds where there is none (empty prior, decision at 0.5;
    ``zoom`` as :meth:`~hairfx.segmenter.Segmenter.predict` takes it).

    ``crops``: from each test photo, the square (two fifths of its shorter side) whose
    label holds the least hair, under 0.5 %: a wall, clothing, a face's cheek, seen as a
    whole frame. ``flat``: the plain frames of :data:`FLAT_SCENES`. For each, the mean
    share of the frame called hair, and how many frames have more than 1 % of it.
    """
    shares = []
    for folder in folders:
        for _, img_path, mask_path in list_pairs(folder)[:limit]:
            rgb, gt = _read_pair(img_path, mask_path)
            win = _hair_free_window(gt)
            if win is not None:
                y, x, n = win
                crop = np.ascontiguousarray(rgb[y : y + n, x : x + n])
                shares.append(float(np.mean(seg.predict(crop, zoom=zoom) > 0.5)))
    rng = np.random.default_rng(0)
    flat = {}
    for name, rgb in FLAT_SCENES.items():
        frame = np.clip(np.array(rgb, np.float32) + rng.normal(0, 3, (480, 640, 3)), 0, 255).astype(np.uint8)
        flat[name] = float(np.mean(seg.predict(frame, zoom=zoom) > 0.5))

    def summary(v: list[float]) -> dict:
        return {"n": len(v), "hair_share": float(np.mean(v)) if v else 0.0, "over_1pct": int(sum(x > 0.01 for x in v))}

    return {"crops": summary(shares), "flat": {**summary(list(flat.values())), "per_scene": flat}}


def _frames(clip: Path, max_frames: int) -> Iterator[np.ndarray]:
    with VideoReader(clip) as reader:
        yield from itertools.islice(reader, max_frames)


def _change_and_coverage(masks: Iterable[np.ndarray]) -> tuple[float, float, int]:
    """``(mean |m(t) - m(t-1)|, mean coverage, frames)`` of a stream of masks, keeping only
    the previous mask: a long clip at full resolution costs two masks of memory, not all."""
    change = coverage = 0.0
    n, prev = 0, None
    for m in masks:
        coverage += float(m.mean())
        if prev is not None:
            change += float(np.abs(m - prev).mean())
        prev, n = m, n + 1
    return (change / (n - 1) if n > 1 else 0.0), (coverage / n if n else 0.0), n


def flicker(seg, clip: Path, max_frames: int, check_every: int = 0, *, zoom: bool = True) -> dict:
    """Mean absolute frame-to-frame mask change on ``clip`` in three modes (four with
    ``check_every`` > 0: the session re-checking its prior every that many frames).
    ``zoom`` is :meth:`~hairfx.segmenter.Segmenter.predict`'s and the sessions' (False: every
    mode sees the whole frame, once a frame). Each mode decodes the clip afresh, so memory
    does not grow with ``max_frames``."""

    def fed():
        prev = None
        for f in _frames(clip, max_frames):
            prev = seg.predict(f, prior=prev, zoom=zoom)
            yield prev

    no_prior, coverage_no_prior, n = _change_and_coverage(seg.predict(f, zoom=zoom) for f in _frames(clip, max_frames))
    if n == 0:
        raise InputError(f"{clip}: no frames could be decoded")
    prior = _change_and_coverage(fed())[0]
    with seg.session(zoom=zoom) as sess:
        session, coverage_session, _ = _change_and_coverage(sess.process(f) for f in _frames(clip, max_frames))
        resets = sess.resets
    checked = {}
    if check_every > 0:
        with seg.session(check_every=check_every, zoom=zoom) as sess:
            change = _change_and_coverage(sess.process(f) for f in _frames(clip, max_frames))[0]
            checked = {"checked": change, "resets_checked": sess.resets}
    return {
        "frames": n,
        "no_prior": no_prior,
        "prior": prior,
        "session": session,
        "resets": resets,
        "coverage_no_prior": coverage_no_prior,
        "coverage_session": coverage_session,
        **checked,
    }


def _json_problem(path: Path) -> str | None:
    """What stops the results being written to ``path`` (None: nothing). ``path`` may exist
    (it is replaced) but not be a folder; its missing folders will be created, so the
    nearest existing one must be a folder that takes new files."""
    if path.is_dir():
        return f"--json {path} is a folder; give a file name for the results, e.g. {path / 'eval.json'}"
    obstacle = folder_obstacle(path.parent, writable=True)
    if obstacle is None:
        return None
    folder, kind = obstacle
    if kind == "unwritable":
        return f"--json {path}: cannot write into {folder} (permission denied)"
    if kind == "missing":
        return f"--json {path}: {missing_folder_text(folder)}"
    return f"--json {path}: {folder} is a file, not a folder"


def _check_pairs(folder: Path, limit: int | None) -> list[str]:
    """Problems with the pairs of ``folder`` that :func:`evaluate_split` would score."""
    every = list_pairs(folder)
    pairs = every[:limit]
    if not pairs:
        return [f"no image/mask pairs in {folder} (images/NAME.jpg with masks/NAME.png)"]
    problems = []
    # nothing left out unsaid: every picture in images/ is a scored .jpg with its label
    paired = {img_path for _name, img_path, _mask in every}
    for path in sorted((folder / "images").iterdir()):
        if path.name.startswith(".") or path in paired:
            continue
        if path.suffix != ".jpg":
            problems.append(f"{path}: only .jpg photos are scored (the datasets' layout); convert it or move it out")
        else:
            problems.append(f"{path} has no label {folder / 'masks' / (path.stem + '.png')}")
    for _name, img_path, mask_path in pairs:  # decoded as evaluate_split decodes them
        img, mask = imread_any(img_path, cv2.IMREAD_COLOR), imread_any(mask_path, cv2.IMREAD_GRAYSCALE)
        for path, decoded in ((img_path, img), (mask_path, mask)):
            if decoded is None:
                problems.append(f"cannot read {path}")
        if img is not None and mask is not None and mask.shape != img.shape[:2]:
            # training stretches such a label over its photo; a score needs the true one
            problems.append(f"{mask_path} is {mask.shape[1]}x{mask.shape[0]} but {img_path} is "
                            f"{img.shape[1]}x{img.shape[0]}")
    return problems


def _check_clip(clip: Path) -> str | None:
    """What is wrong with ``clip`` for :func:`flicker`, or None: it must open and give a frame."""
    try:
        with VideoReader(clip) as reader:
            if reader.read() is None:
                return f"{clip}: no frames could be decoded"
    except InputError as exc:
        return str(exc)
    return None


def check_inputs(
    data: Path, *, limit: int | None = None, json_path: Path | None = None, problems: Iterable[str] = ()
) -> list[Path]:
    """Check everything :func:`run` needs from ``data`` and ``json_path`` before any scoring,
    and return the clips of ``data/videos`` to score.

    Raises :class:`~hairfx.errors.MissingFileError` when ``data`` is not there, and
    :class:`~hairfx.errors.InputError` naming every other problem at once: a split of
    :data:`SPLITS` without pairs or with a file that cannot be decoded (only the first
    ``limit`` pairs are looked at, those that will be scored), no clips or a clip that does
    not open or decode, a ``json_path`` that cannot be written, and the ``problems``
    already found by the caller (the models' weights). Only when all is well are the
    missing folders of ``json_path`` created.
    """
    data = Path(data)
    holds = f"the folder that holds {', '.join(SPLITS)} and videos/"
    if not data.exists():
        raise MissingFileError(f"data folder {data} does not exist; give --data {holds}")
    if not data.is_dir():
        raise InputError(f"--data {data} is a file, not a folder; give --data {holds}")
    problems = list(problems)
    for split in SPLITS:
        problems += _check_pairs(data / split, limit)
    clips = sorted((data / "videos").glob("*.mp4"))
    if not clips:  # temporal stability is half of what this command reports
        problems.append(f"no .mp4 clips in {data / 'videos'}: temporal stability cannot be measured")
    problems += [p for p in map(_check_clip, clips) if p is not None]
    if json_path is not None and (problem := _json_problem(Path(json_path))) is not None:
        problems.append(problem)
    if problems:
        shown = problems[:10] + ([f"and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise InputError("nothing was scored: " + "; ".join(shown))
    if json_path is not None:  # created now that nothing else stands in the way, not after the scoring
        try:
            Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--json {json_path}: cannot create {Path(json_path).parent}: {exc.strerror or exc}") from None
    return clips


def run(args: argparse.Namespace) -> int:
    from ..segmenter import Segmenter

    # args.threads goes to each Segmenter: its runtime's threads (PyTorch's too, where the
    # weights need it), so the shipped ONNX weights are scored without PyTorch
    models = cli_args.models_to_measure(args)
    # every model's weights are loaded (and their SHA-256 checked) first; a problem with them
    # is reported with the data's, before any folder is made or anything is scored
    segs, problems = {}, []
    for name, ensemble, label in models:
        label = label if args.zoom else f"{label}, no zoom"
        try:
            segs[label] = Segmenter(
                name, threads=args.threads, weights_dir=args.weights_dir, ensemble=ensemble)
        except WeightsError as exc:
            problems.append(str(exc))
    clips = check_inputs(args.data, limit=args.limit, json_path=args.json, problems=problems)
    results: dict = {}
    for name, seg in segs.items():  # whichever runtime runs it
        t0 = time.time()
        res = {split: evaluate_split(seg, args.data / split, args.limit, zoom=args.zoom) for split in SPLITS}
        if args.tta:
            res["tta"] = {split: evaluate_split(seg, args.data / split, args.limit, tta=True, zoom=args.zoom)
                          for split in SPLITS}
        res["small_heads"] = {split: small_heads(seg, args.data / split, args.limit) for split in SPLITS}
        res["hair_free"] = hair_free(seg, [args.data / split for split in SPLITS], args.limit, zoom=args.zoom)
        res["videos"] = {c.stem: flicker(seg, c, args.max_frames, args.check_every, zoom=args.zoom)
                         for c in clips}
        res["seconds"] = round(time.time() - t0, 1)
        results[name] = res
    _print_tables(results, args.check_every)
    if args.json is not None:
        with replacing(args.json) as tmp:  # never a half-written file, even if interrupted
            tmp.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _single_frame_rows(results: dict) -> Iterator[tuple[str, dict]]:
    """(row label, split scores) per model, and per model with tta where it was scored."""
    for name, res in results.items():
        yield name, res
        if "tta" in res:
            yield f"{name}, tta (4 passes)", res["tta"]


def _print_tables(results: dict, check_every: int = 0) -> None:
    print("\nSingle frame, empty prior (IoU at 0.5 per image; DAVIS boundary F)\n")
    print("| model | figaro1k/test IoU | figaro1k/test BF | celeb1k/test IoU | celeb1k/test BF |")
    print("|---|---|---|---|---|")
    for label, r in _single_frame_rows(results):
        f, c = r[SPLITS[0]], r[SPLITS[1]]
        print(f"| {label} | {f['iou']:.3f} | {f['boundary_f']:.3f} | {c['iou']:.3f} | {c['boundary_f']:.3f} |")
    bounds = " <= ".join(f"{name}" + (f" < {hi:.2f}" if hi < math.inf else "") for name, _, hi in LIGHTNESS)
    print(f"\nBy hair lightness (the labelled hair's intensity: {bounds}); IoU (images)\n")
    cols = [f"{split.split('/')[0]} {name}" for split in SPLITS for name, _, _ in LIGHTNESS]
    print(f"| model | {' | '.join(cols)} |")
    print("|---" * (len(cols) + 1) + "|")
    for label, r in _single_frame_rows(results):
        cells = [r[split]["by_lightness"][k] for split in SPLITS for k, _, _ in LIGHTNESS]
        print(f"| {label} | " + " | ".join("-" if c["iou"] is None else f"{c['iou']:.3f} ({c['n']})" for c in cells) + " |")
    _print_worst(results)
    print("\nSmall heads: the test photos shrunk to a share of their sides on a black frame; IoU with one "
          "pass -> with the zoom\n")
    print("| model | " + " | ".join(f"{split} at {s:g}" for split in SPLITS for s in SMALL_HEAD_SCALES) + " |")
    print("|---" * (len(SPLITS) * len(SMALL_HEAD_SCALES) + 1) + "|")
    for name, res in results.items():
        cells = [res["small_heads"][split][s] for split in SPLITS for s in SMALL_HEAD_SCALES]
        print(f"| {name} | " + " | ".join(f"{c['one_pass']:.3f} -> {c['zoom']:.3f}" for c in cells) + " |")
    print("\nNo hair in view: share of the frame called hair (lower is better); frames with over 1 %\n")
    print("| model | hair-free crops of the test photos | frames over 1 % | plain walls, dark room, sky | frames over 1 % |")
    print("|---|---|---|---|---|")
    for name, res in results.items():
        c, f = res["hair_free"]["crops"], res["hair_free"]["flat"]
        print(f"| {name} | {c['hair_share']:.3f} | {c['over_1pct']}/{c['n']} | {f['hair_share']:.3f} | {f['over_1pct']}/{f['n']} |")
    print("\nFlicker: mean |mask(t) - mask(t-1)| (lower is steadier); coverage = mean mask value\n")
    print("| model | clip | frames | no prior | raw prior | session | session resets | coverage (no prior / session) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, res in results.items():
        for clip, v in res["videos"].items():
            print(
                f"| {name} | {clip} | {v['frames']} | {v['no_prior']:.4f} | {v['prior']:.4f} | {v['session']:.4f} | "
                f"{v['resets']} | {v['coverage_no_prior']:.3f} / {v['coverage_session']:.3f} |"
            )
        vids = res["videos"].values()
        if vids:
            steadier = sum(v["session"] < v["no_prior"] for v in vids)
            print(
                f"| {name} | **mean** | | {np.mean([v['no_prior'] for v in vids]):.4f} | "
                f"{np.mean([v['prior'] for v in vids]):.4f} | {np.mean([v['session'] for v in vids]):.4f} | "
                f"steadier with session on {steadier}/{len(vids)} clips | |"
            )
    if check_every <= 0:
        return
    print(f"\nSession re-checking its prior every {check_every} frames (session(check_every={check_every}))\n")
    print("| model | clip | session | resets | session, re-checked | resets |")
    print("|---|---|---|---|---|---|")
    for name, res in results.items():
        vids = res["videos"]
        for clip, v in vids.items():
            print(f"| {name} | {clip} | {v['session']:.4f} | {v['resets']} | {v['checked']:.4f} | {v['resets_checked']} |")
        if vids:
            print(
                f"| {name} | **mean** | {np.mean([v['session'] for v in vids.values()]):.4f} | "
                f"{sum(v['resets'] for v in vids.values())} | {np.mean([v['checked'] for v in vids.values()]):.4f} | "
                f"{sum(v['resets_checked'] for v in vids.values())} |"
            )


def _print_worst(results: dict, k: int = WORST) -> None:
    """Each model's ``k`` lowest-IoU photos per split, and the share of the split's lost IoU
    that they carry."""
    print(f"\nWorst photos: the {k} lowest IoU of each split (hair as a share of the photo)\n")
    print("| model | split | photo | IoU | labelled hair | predicted hair |")
    print("|---|---|---|---|---|---|")
    for label, r in _single_frame_rows(results):
        for split in SPLITS:
            per = r[split]["per_image"]
            worst = sorted(per.items(), key=lambda item: (item[1]["iou"], item[0]))[:k]
            for name, v in worst:
                print(f"| {label} | {split} | {name} | {v['iou']:.3f} | {v['label_hair']:.1%} | {v['predicted_hair']:.1%} |")
            lost = sum(1 - v["iou"] for v in per.values())
            carried = sum(1 - v["iou"] for _, v in worst) / lost if lost > 0 else 0.0
            print(f"| {label} | {split} | **these {len(worst)} of {len(per)}** | | {carried:.0%} of the lost IoU | |")


def main(argv: list[str] | None = None) -> int:
    return run(cli_args.evaluate(ArgumentParser(prog="hairfx evaluate")).parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
