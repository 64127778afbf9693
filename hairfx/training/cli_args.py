"""Command-line options of ``hairfx train``, ``evaluate`` and ``bench-mask``.

Kept apart from the commands themselves so that building the parser imports no torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..presets import (
    ENSEMBLE_PRESET, MASK_BACKENDS, MODEL_NAMES, add_ensemble_argument, add_zoom_argument, resolve_ensemble,
)

__all__ = ["train", "evaluate", "bench", "models_to_measure"]

#: Where ``hairfx train`` can run (``train.pick_device`` resolves "auto").
DEVICES = ("auto", "cpu", "cuda")


def _whole_number(minimum: int):
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = minimum - 1
        if n < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return n

    return parse


_non_negative = _whole_number(0)
_positive = _whole_number(1)


def _threads(text: str) -> int:
    """An argparse type: a thread count, 1 to :data:`~hairfx._options.MAX_THREADS`."""
    from .._options import MAX_THREADS

    n = _positive(text)
    if n > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_THREADS} threads (four per core), got {text!r}")
    return n


def models_to_measure(args: argparse.Namespace) -> list[tuple[str, bool, str]]:
    """``(preset, as the ensemble, label)`` for each preset ``evaluate`` or ``bench-mask``
    measures (``--model``, default all). The full preset is its ensemble unless
    ``--no-ensemble``, labelled "full, one network"; ``--ensemble`` without the full
    preset among them is refused."""
    from ..errors import InputError

    models = args.model or MODEL_NAMES
    if args.ensemble and ENSEMBLE_PRESET not in models:
        raise InputError(f"--ensemble applies to the {ENSEMBLE_PRESET} preset; add --model {ENSEMBLE_PRESET}")
    out = []
    for name in dict.fromkeys(models):
        ensemble = resolve_ensemble(name, args.ensemble if name == ENSEMBLE_PRESET else None)
        alone = name == ENSEMBLE_PRESET and not ensemble
        out.append((name, ensemble, f"{name}, one network" if alone else name))
    return out


def check_combination(*, resume: bool, init, hard, distill, teachers) -> None:
    """Refuse options of a training run that do not go together: the checks of
    :func:`~hairfx.training.train.train` that need neither PyTorch nor a file, made before
    either is looked at (by :func:`check_train` before PyTorch is imported)."""
    from ..errors import InputError

    if resume and teachers:
        raise InputError("--teacher is fixed when a run starts; a resumed run learns from the "
                         "teachers kept in its teacher.pt (start a new run folder to change them)")
    if resume and init is not None:
        raise InputError(f"--init {init} starts a run from other weights; a resumed run goes on from its own "
                         "last.pt: leave out --init")
    if hard and init is None and not resume:
        raise InputError("--hard-emphasis needs --init: the photos are scored with the starting weights")
    if distill and init is None and not resume:
        raise InputError("--distill needs --init: the starting weights are the teacher")
    if teachers and not distill:
        raise InputError("--teacher needs --distill W: the teachers' masks are a distillation target")


def check_train(args: argparse.Namespace) -> None:
    """Refuse the ``hairfx train`` options that do not go together. ``hairfx train`` checks
    them before it imports PyTorch: an option given wrongly is told first, the missing
    PyTorch (a ``pip install`` away) after it is set right."""
    from ..errors import InputError

    export_only = [f"--{k.replace('_', '-')}" for k in ("weights_dir", "no_onnx", "force") if getattr(args, k)]
    if export_only and args.export is None:
        raise InputError(f"{' and '.join(export_only)} only go{'es' if len(export_only) == 1 else ''} with --export CKPT")
    if args.export is None:
        check_combination(resume=args.resume, init=args.init, hard=args.hard_emphasis, distill=args.distill,
                          teachers=args.teacher)


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not 0.0 < x < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return x


def train(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--model", choices=MODEL_NAMES, default="small", help="preset to train (default small)")
    p.add_argument("--data", type=Path, default=Path("../shared/data"), help="data root (default ../shared/data)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/<model>)")
    p.add_argument("--minutes", type=_positive_float, default=None,
                   help="the run's whole training-time budget, not extra time on --resume "
                        "(default 90; a resumed run keeps its own)")
    p.add_argument("--max-wall-minutes", type=_positive_float, default=None,
                   help="hard wall-clock limit, pauses included (default 1.25 x --minutes)")
    p.add_argument("--batch", type=_positive, default=None,
                   help="batch size (default 16 small, 8 full on the CPU; 64 and 32 on a GPU)")
    p.add_argument("--crop", type=_positive, default=None,
                   help="side of the square training crops (default 224 small, 320 full; at most the input size)")
    p.add_argument("--device", choices=DEVICES, default="auto",
                   help="where to train (default auto: a CUDA GPU when there is one, else the CPU)")
    p.add_argument("--workers", type=_non_negative, default=None,
                   help="processes making augmented samples (default 0 on the CPU, one per spare core on a GPU)")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="peak learning rate (default 4e-3; a resumed run keeps its own, as it does its batch and crop)")
    p.add_argument("--threads", type=_threads, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--hard-emphasis", type=_positive_float, metavar="K", default=None,
                   help="draw photos the starting weights get wrong more often: each with weight "
                        "1 + K x (1 - its IoU) (needs --init; default off, every photo alike)")
    p.add_argument("--distill", type=_positive_float, metavar="W", default=None,
                   help="self-distillation: add W x the cross-entropy towards the starting weights' masks, "
                        "averaged with the mirror image's (needs --init; default off)")
    p.add_argument("--teacher", type=Path, metavar="CKPT", action="append", default=None,
                   help="with --distill: one more teacher, of either preset (repeatable); the target is "
                        "the mean of every teacher's mirror-averaged masks")
    p.add_argument("--init", type=Path, metavar="CKPT", default=None,
                   help="start from CKPT's weights where shapes fit (e.g. full from small)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt (a folder that holds a run is never started over)")
    p.add_argument("--cache", type=Path, metavar="DIR", default=None,
                   help="folder for the decoded-image cache (default $XDG_CACHE_HOME/hairfx or ~/.cache/hairfx)")
    p.add_argument(
        "--export", type=Path, metavar="CKPT", default=None,
        help="do not train: write CKPT's weights into the package and record their SHA-256",
    )
    p.add_argument("--weights-dir", type=Path, metavar="DIR", default=None,
                   help="with --export: the weights folder to write (default the package's hairfx/weights)")
    p.add_argument("--no-onnx", action="store_true",
                   help="with --export: ship the PyTorch weights without the ONNX file (the onnx package is "
                        "otherwise required); the preset's old .onnx is removed")
    p.add_argument("--force", action="store_true",
                   help="with --export: replace weights that scored a higher validation IoU, or with a checkpoint that records none")
    return p


def evaluate(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--data", type=Path, default=Path("../shared/data"), help="data root (default ../shared/data)")
    p.add_argument("--model", choices=MODEL_NAMES, action="append", default=None,
                   help="preset(s) to evaluate (repeatable; default both)")
    p.add_argument("--max-frames", type=_positive, default=150, help="frames per video clip (default 150)")
    p.add_argument("--limit", type=_positive, default=None, help="images per split (default all)")
    p.add_argument("--tta", action="store_true", help="also score the four-pass test-time augmentation (predict(tta=True))")
    add_ensemble_argument(p)
    add_zoom_argument(p)
    p.add_argument("--check-every", type=_non_negative, default=0, metavar="N",
                   help="also score the video session re-checking its prior every N frames (default 0: not scored)")
    p.add_argument("--threads", type=_threads, default=2, help="threads of the model's runtime (default 2)")
    p.add_argument("--json", type=Path, default=None,
                   help="also write the results as JSON to this file (missing folders are created; "
                        "checked with the data before any scoring)")
    p.add_argument("--weights-dir", type=Path, metavar="DIR", default=None,
                   help="score the weights in DIR (as written by `hairfx train --export CKPT --weights-dir DIR`) "
                        "instead of the package's")
    return p


def bench(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--model", choices=MODEL_NAMES, action="append", default=None,
                   help="preset(s) to time (repeatable; default both)")
    p.add_argument("--backend", choices=MASK_BACKENDS, action="append", default=None,
                   help="runtime(s) to time (repeatable; default all three, torch only where PyTorch is installed)")
    p.add_argument("--size", default="640x480", help="frame size WxH (default 640x480)")
    add_ensemble_argument(p)
    p.add_argument("--frames", type=_positive, default=200, help="timed frames (default 200)")
    p.add_argument("--threads", type=_threads, default=2, help="threads of the model's runtime (default 2)")
    return p
