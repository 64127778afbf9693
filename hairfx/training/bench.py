"""Benchmark hair-mask inference end to end: RGB frame in, mask at frame size out.

    hairfx bench-mask --size 640x480 --frames 200

Times :meth:`Segmenter.predict` (validation, letterbox, network, crop, resize to the
frame, zeroing) and the network step alone (canvas fill, forward, sigmoid; for the full
preset's ensemble both networks' passes and their average) after a warm-up, for each
runtime, and prints median and 90th-percentile milliseconds.
This is a benchmark, not a test: figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import cv2
import numpy as np

from .._text import counted
from ..cli import ArgumentParser
from ..presets import MASK_BACKENDS
from . import cli_args

__all__ = ["bench_model", "run", "main"]


def bench_model(
    name: str, backend: str, size: tuple[int, int], frames: int, threads: int, ensemble: bool | None = None
) -> dict:
    """Median and p90 milliseconds of ``predict`` and of the network step alone. ``predict``
    runs one pass of the whole frame with the previous mask fed back, as a video session does
    while the head fills much of the frame (``zoom=False``: a photo's second look at a small
    head, and a session's view of one, run the square around it, whose canvas can be larger
    than the frame's: 256x256 against 256x192 for small at 640x480)."""
    from ..segmenter import Segmenter, _resize

    seg = Segmenter(name, backend=backend, threads=threads, ensemble=ensemble)
    w, h = size
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    frame = cv2.GaussianBlur(frame, (0, 0), 3)  # photo-like smoothness, not white noise
    prior = None
    for _ in range(20):  # warm-up, with the prior fed back as in video
        prior = seg.predict(frame, prior=prior, zoom=False)
    e2e, net = [], []
    for _ in range(frames):
        t = time.perf_counter()
        seg.predict(frame, prior=prior, zoom=False)
        e2e.append(time.perf_counter() - t)
    layout = seg._layout(h, w)
    ch, cw, nh, nw, _, _ = layout
    small = _resize(frame, nw, nh)
    for _ in range(frames):
        t = time.perf_counter()
        seg._network(small, layout, None)  # the full preset's ensemble: the small network's pass too
        net.append(time.perf_counter() - t)
    ms = lambda v, q: 1000 * float(np.percentile(v, q))  # noqa: E731
    return {"model": name, "backend": backend, "input": f"{cw}x{ch}", "e2e_median": ms(e2e, 50),
            "e2e_p90": ms(e2e, 90), "net_median": ms(net, 50), "net_p90": ms(net, 90)}


def run(args: argparse.Namespace) -> int:
    from .._optional import require
    from ..errors import InputError

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 640x480, got {args.size!r}") from None
    from ..frames import MAX_SIDE
    from ..segmenter import MIN_SIDE

    if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
        raise InputError(f"--size {args.size}: each side must be between {MIN_SIDE} and {MAX_SIDE} px")
    models = cli_args.models_to_measure(args)  # before the header: a refused --ensemble prints nothing
    torch_version = _version("torch")
    if torch_version is None and "torch" in (args.backend or ()):  # asked for: said before the header
        require("torch", "the torch backend (--backend torch)", "torch")
    # by default every runtime installed: PyTorch is an extra (hairfx[torch])
    backends = args.backend or [b for b in MASK_BACKENDS if b != "torch" or torch_version is not None]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}; torch {torch_version or 'not installed'}, OpenCV {cv2.__version__}, "
          f"onnxruntime {_version('onnxruntime') or 'not installed'}; "
          f"{args.threads} threads; frame {w}x{h} RGB -> mask at frame size; {counted(args.frames, 'frame')}")
    if torch_version is None and not args.backend:
        print('torch backend not timed: PyTorch is not installed (pip install "hairfx[torch]")')
    print("| model | backend | net input | end to end median ms | p90 | network step median ms | p90 |")
    print("|---|---|---|---|---|---|---|")
    for name, ensemble, label in models:
        for backend in backends:
            r = bench_model(name, backend, (w, h), args.frames, args.threads, ensemble)
            print(f"| {label} | {backend} | {r['input']} | {r['e2e_median']:.2f} | {r['e2e_p90']:.2f} | "
                  f"{r['net_median']:.2f} | {r['net_p90']:.2f} |", flush=True)
    return 0


def _version(module: str) -> str | None:
    """The version of the runtime ``module`` (``"torch"``), None where it is not installed."""
    import importlib

    try:
        return importlib.import_module(module).__version__
    except ImportError:
        return None


def main(argv: list[str] | None = None) -> int:
    return run(cli_args.bench(ArgumentParser(prog="hairfx bench-mask")).parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
