"""Benchmark hair-mask inference end to end: RGB frame in, mask at frame size out.

    hairfx bench-mask --size 640x480 --frames 200

Times :meth:`Segmenter.predict` (letterbox, network, crop, resize, zeroing) and the
network alone, after a warm-up, and prints median and 90th-percentile milliseconds.
This is a benchmark, not a test: figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from . import cli_args

__all__ = ["bench_model", "run", "main"]


def bench_model(name: str, size: tuple[int, int], frames: int) -> dict:
    import torch

    from ..segmenter import Segmenter

    seg = Segmenter(name)
    w, h = size
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    frame = np.ascontiguousarray(np.clip(frame.astype(np.int16) // 4 + 96, 0, 255).astype(np.uint8))
    prior = None
    for _ in range(20):
        prior = seg.predict(frame, prior=prior)
    e2e = []
    for _ in range(frames):
        t = time.perf_counter()
        seg.predict(frame)
        e2e.append(time.perf_counter() - t)
    s = seg.input_size
    x = torch.rand(1, s, s, 4).permute(0, 3, 1, 2)
    net = []
    with torch.inference_mode():
        for _ in range(10):
            seg._net(x)
        for _ in range(frames):
            t = time.perf_counter()
            seg._net(x)
            net.append(time.perf_counter() - t)
    ms = lambda v, q: 1000 * float(np.percentile(v, q))  # noqa: E731
    return {"model": name, "input": s, "e2e_median": ms(e2e, 50), "e2e_p90": ms(e2e, 90),
            "net_median": ms(net, 50), "net_p90": ms(net, 90)}


def run(args: argparse.Namespace) -> int:
    import torch

    from ..errors import InputError

    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise InputError(f"--size must look like 640x480, got {args.size!r}") from None
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; frame {w}x{h}, {args.frames} frames")
    print("| model | net input | end to end median ms | p90 | network only median ms | p90 |")
    print("|---|---|---|---|---|---|")
    for name in args.model or ["small", "full"]:
        r = bench_model(name, (w, h), args.frames)
        print(f"| {name} | {r['input']}x{r['input']} | {r['e2e_median']:.2f} | {r['e2e_p90']:.2f} | "
              f"{r['net_median']:.2f} | {r['net_p90']:.2f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(cli_args.bench(argparse.ArgumentParser(prog="hairfx bench-mask")).parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
