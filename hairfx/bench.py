"""``hairfx bench``: milliseconds per frame for recolouring, GL and CPU renderers, against
colour-science's ``LUT3D.apply`` on the same frame as the baseline.

The frame is a real portrait cropped to 16:9 and resized to 1280x720 and 1920x1080, with
its hand-annotated hair mask (the fraction of the frame it covers is printed). By default
the portrait is CelebAMask-HQ test image 28479 from ``../shared/data`` when that folder is
present (hair covers about 23% of the frame), else the project's dark reference image,
``reference_images/dark.png``: the source checkout's, else the one in the current working
directory (the reference images are not installed). ``--image`` and ``--mask`` choose another.
"""

from __future__ import annotations

import contextlib
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from ._datadir import find_data, reference_dirs, roots as data_roots

__all__ = ["run_bench", "load_portrait"]

SIZES = ((1280, 720), (1920, 1080))
_DEFAULT_DATA = "celeb1k/test/images/28479.jpg"


def _default_portrait() -> tuple[Path, Path]:
    img = find_data(_DEFAULT_DATA)
    if img is not None:
        return img, img.parent.parent / "masks" / (img.stem + ".png")
    looked = reference_dirs()
    for ref in looked:
        if (ref / "dark.png").is_file() and (ref / "dark_mask.png").is_file():
            return ref / "dark.png", ref / "dark_mask.png"
    from .errors import InputError

    roots = " and ".join(str(r / _DEFAULT_DATA) for r in data_roots())
    raise InputError(
        f"no benchmark portrait found: looked for {roots}, and for dark.png with dark_mask.png in "
        f"{looked[0]} and {looked[1]}; pass --image FILE --mask FILE (or run from the source checkout)"
    )


def load_portrait(image: Path, mask: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The portrait and its mask cropped to ``size``'s aspect ratio and resized to it."""
    return _fit_portrait(*_read_portrait(image, mask), size)


def _read_portrait(image: Path, mask: Path) -> tuple[np.ndarray, np.ndarray]:
    """The portrait (RGB) and its mask (uint8) at the portrait's size; a bad file, or a
    mask of another aspect ratio, raises :class:`~hairfx.errors.InputError`."""
    from .frames import mask_for_frame
    from .imagefiles import read_mask, read_rgb

    rgb = read_rgb(image)
    # the mask at the portrait's size (or its aspect ratio, resized), so a crop takes the
    # same region of both
    return rgb, np.round(mask_for_frame(rgb, read_mask(mask), name="--mask") * 255).astype(np.uint8)


def _fit_portrait(rgb: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` and its mask ``m`` cropped to ``size``'s aspect ratio and resized to it."""
    import cv2

    w, h = size
    ih, iw = rgb.shape[:2]
    if iw / ih > w / h:  # too wide: crop the sides
        cw = int(round(ih * w / h))
        x0, y0, ch = (iw - cw) // 2, 0, ih
    else:  # too tall: keep the top part, where the hair is
        ch = int(round(iw * h / w))
        x0, y0, cw = 0, (ih - ch) // 3, iw
    crop = lambda a: a[y0 : y0 + ch, x0 : x0 + cw]  # noqa: E731
    frame = cv2.resize(crop(rgb), size, interpolation=cv2.INTER_LINEAR)
    soft = cv2.resize(crop(m), size, interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    return frame, soft


_BASELINE_RUNS = 3  # timed after a first, untimed-for-the-ratio call; a second or so each


def _baseline_ms(fn) -> tuple[float, float]:
    """``(first, median)``: the first call of ``fn`` and the median of the next
    :data:`_BASELINE_RUNS`, in ms. The first call at a new frame size is 3-4x slower
    (the page faults of its large temporaries); the renderers are timed warm, and so is
    the baseline their ratios divide."""
    times = []
    for _ in range(1 + _BASELINE_RUNS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return times[0], statistics.median(times[1:])


def _time(fn, repeat: int) -> tuple[float, float]:
    fn()
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), float(np.percentile(times, 90))  # interpolated: never below the median


def run_bench(*, color: str = "copper", repeat: int = 30, baseline: bool = True, image=None, mask=None, out=print) -> dict:
    """Run the benchmark, print a table with ``out`` and return the figures."""
    from .colors import get_color
    from .errors import InputError, RendererUnavailable
    from .render_cpu import CpuRenderer

    if int(repeat) < 1:
        raise InputError(f"repeat must be at least 1, got {repeat}")
    col = get_color(color)
    image, mask = (Path(image), Path(mask)) if image else _default_portrait()
    portrait = _read_portrait(image, mask)  # read once; a bad file is refused before anything is printed
    with contextlib.ExitStack() as stack:  # the renderers are closed whatever happens
        renderers = {"cpu": stack.enter_context(CpuRenderer())}
        try:
            from .render_gl import GLRenderer

            gl = renderers["gl"] = stack.enter_context(GLRenderer())
            gl_info = f"{gl.gl_renderer}, OpenGL {gl.gl_version}"  # the GPU, and the driver's version
        except RendererUnavailable as exc:  # its advice to use the CPU renderer: the table has it anyway
            gl_info = f"unavailable ({exc.reason}): timed on the cpu renderer only"
        return _run(renderers, gl_info, col, image, portrait, int(repeat), baseline, out)


def _run(renderers: dict, gl_info: str, col, image: Path, portrait: tuple, repeat: int, baseline: bool, out) -> dict:
    from ._colour import colour_science

    colour = colour_science()  # without its warning that the optional matplotlib is missing

    out(f"machine: {platform.machine()}, {_cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}")
    out(f"GL: {gl_info}")
    out(f"portrait: {image}  colour: {col.name}  LUT {col.size}^3  repeats: {repeat} (median / p90 ms)")
    results: dict = {}
    firsts: list[str] = []
    header = f"{'size':>10} {'hair':>6} {'renderer':>22} {'median ms':>10} {'p90 ms':>8} {'vs baseline':>12}"
    out(header)
    out("-" * len(header))
    for size in SIZES:
        frame, m = _fit_portrait(*portrait, size)
        coverage = float((m > 0.5).mean())
        base_ms = first_ms = None
        if baseline:
            lut = colour.LUT3D(col.blended(0.5), domain=np.array(col.domain))
            rgb = frame.astype(np.float32) / 255.0
            first_ms, base_ms = _baseline_ms(lambda: lut.apply(rgb))
        row = {"coverage": coverage, "baseline_ms": base_ms, "baseline_first_ms": first_ms}
        for name, r in renderers.items():
            # the drawing alone, as recolor() calls it once it has checked the frame and mask
            med, p90 = _time(lambda: r._render_frame(frame, m, col), repeat)
            row[name] = (med, p90)
            ratio = f"{base_ms / med:10.0f}x" if base_ms else ""
            out(f"{size[0]}x{size[1]:<5} {coverage:6.1%} {name:>22} {med:10.2f} {p90:8.2f} {ratio:>12}")
        if base_ms is not None:
            out(f"{size[0]}x{size[1]:<5} {coverage:6.1%} {'colour LUT3D.apply':>22} {base_ms:10.1f} {'':>8} {'1x':>12}")
            firsts.append(f"{size[0]}x{size[1]} {first_ms:.0f} ms")
        results[size] = row
    if firsts:
        out(f"colour LUT3D.apply: median of {_BASELINE_RUNS} calls after a first one, which took "
            f"{', '.join(firsts)} (not used in the ratios)")
    return results


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
