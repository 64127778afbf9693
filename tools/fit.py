"""Fit a smooth 3D LUT to a before/after pair of the same photo, from the hair pixels.

The artist grades the reference photo itself in any editor; the hair pixels give pairs
``(before colour, after colour)``. The LUT ``T`` on a coarse grid (17 points by default)
minimises::

    sum_p  m_p * |trilinear(T, before_p) - after_p|**2
    + smoothness * sum over the three axes |second difference of (T - identity)|**2
    + ridge      * |T - identity|**2

The second-difference term makes the edit extend smoothly (linearly) into colours the
hair does not contain; the small ridge keeps colours far from any hair close to
unchanged. The normal equations are solved by conjugate gradients, the three output
channels at once. The result is resampled to the output size.
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # pragma: no cover - run by its path: python tools/fit.py
    import _by_path  # beside it, in the folder Python put first on sys.path

    _by_path.part_of_lut_tool(__file__, "fit")  # a module of these commands, not a command

import numpy as np

from hairfx.errors import InputError
from hairfx.lut import LUT3D, sample_trilinear

__all__ = ["fit_lut", "fit_report", "SMOOTHNESS", "RIDGE", "GRID"]

#: Default weights, relative to the total hair weight (see the module docstring).
SMOOTHNESS = 0.05
RIDGE = 1e-6
GRID = 17
#: Hair pixels with a mask value at least this count as samples.
MASK_MIN = 0.5


def _samples(before, after, mask):
    if before.shape != after.shape:
        raise InputError(
            f"before and after must be the same photo at the same size, got "
            f"{before.shape[1]}x{before.shape[0]} and {after.shape[1]}x{after.shape[0]}"
        )
    if mask.shape != before.shape[:2]:
        raise InputError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the images are {before.shape[1]}x{before.shape[0]}")
    sel = mask >= MASK_MIN
    if not sel.any():
        raise InputError(f"the mask selects no hair (no value >= {MASK_MIN}); check the mask file")
    b = before[sel].astype(np.int64)
    a = after[sel].astype(np.float64) / 255.0
    w = mask[sel].astype(np.float64)
    # Merge identical input colours: mean output, summed weight.
    key = (b[:, 0] << 16) | (b[:, 1] << 8) | b[:, 2]
    uniq, inv = np.unique(key, return_inverse=True)
    wsum = np.bincount(inv, weights=w)
    out = np.stack([np.bincount(inv, weights=w * a[:, c]) for c in range(3)], -1) / wsum[:, None]
    rgb = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], -1).astype(np.float64) / 255.0
    return rgb, out, wsum


def _weights(rgb, n):
    x = np.clip(rgb, 0, 1) * (n - 1)
    i0 = np.minimum(np.floor(x).astype(np.int64), n - 2)
    f = x - i0
    idx, wts = [], []
    for dr in (0, 1):
        for dg in (0, 1):
            for db in (0, 1):
                idx.append(((i0[:, 0] + dr) * n + (i0[:, 1] + dg)) * n + (i0[:, 2] + db))
                wts.append((f[:, 0] if dr else 1 - f[:, 0]) * (f[:, 1] if dg else 1 - f[:, 1]) * (f[:, 2] if db else 1 - f[:, 2]))
    return np.stack(idx, 1), np.stack(wts, 1)


def _d2(t, axis):
    n = t.shape[axis]
    s = lambda a, b: tuple(slice(a, b) if ax == axis else slice(None) for ax in range(t.ndim))
    return t[s(0, n - 2)] - 2 * t[s(1, n - 1)] + t[s(2, n)]


def _d2t(d, axis, n):
    shape = list(d.shape)
    shape[axis] = n
    out = np.zeros(shape)
    s = lambda a, b: tuple(slice(a, b) if ax == axis else slice(None) for ax in range(d.ndim))
    out[s(0, n - 2)] += d
    out[s(1, n - 1)] -= 2 * d
    out[s(2, n)] += d
    return out


def _solve(rgb, target, w, n, smoothness, ridge, iterations, x0=None):
    """Preconditioned conjugate gradients for the edit ``T - identity`` on an n-point grid."""
    idx, wts = _weights(rgb, n)
    total = float(w.sum())
    lam, mu = smoothness * total / n**3 * 10, ridge * total / n**3
    ident = LUT3D.identity(n).table.astype(np.float64).reshape(-1, 3)

    def A(x):  # samples <- grid
        return np.einsum("pk,pkc->pc", wts, x[idx])

    def At(y):  # grid <- samples
        out = np.zeros((n**3, 3))
        for k in range(8):
            for c in range(3):
                out[:, c] += np.bincount(idx[:, k], weights=wts[:, k] * y[:, c], minlength=n**3)
        return out

    def smooth(x):
        t = x.reshape(n, n, n, 3)
        acc = np.zeros_like(t)
        for ax in range(3):
            acc += _d2t(_d2(t, ax), ax, n)
        return acc.reshape(-1, 3)

    def normal(x):
        return At(w[:, None] * A(x)) + lam * smooth(x) + mu * x

    # Jacobi preconditioner: the diagonal of the normal matrix.
    diag = np.zeros(n**3)
    for k in range(8):
        diag += np.bincount(idx[:, k], weights=w * wts[:, k] ** 2, minlength=n**3)
    d1 = np.full(n, 6.0)
    d1[[0, -1]], d1[[1, -2]] = 1.0, 5.0
    dsm = d1[:, None, None] + d1[None, :, None] + d1[None, None, :]
    diag = (diag + lam * dsm.reshape(-1) + mu)[:, None]

    # smooth(identity) == 0 on the grid, so solving for the edit needs no extra term.
    rhs = At(w[:, None] * (target - A(ident)))
    x = np.zeros_like(rhs) if x0 is None else x0.copy()
    r = rhs - normal(x)
    z = r / diag
    p = z.copy()
    rz = (r * z).sum(0)
    tol = 1e-14 * max(float((rhs * rhs).sum()), 1e-30)
    for _ in range(iterations):
        if float((r * r).sum()) <= tol:
            break
        ap = normal(p)
        alpha = rz / np.maximum((p * ap).sum(0), 1e-30)
        x += alpha * p
        r -= alpha * ap
        z = r / diag
        rz_new = (r * z).sum(0)
        p = z + (rz_new / np.maximum(rz, 1e-30)) * p
        rz = rz_new
    return x


def fit_lut(before: np.ndarray, after: np.ndarray, mask: np.ndarray, *, size: int = 33, grid: int = GRID,
            smoothness: float = SMOOTHNESS, ridge: float = RIDGE, iterations: int = 150) -> LUT3D:
    """Fit a LUT mapping ``before`` to ``after`` (H x W x 3 uint8 RGB, same size) on the
    pixels where ``mask`` (H x W float32) is at least 0.5. Returns a ``size``-point LUT.

    Solved coarse to fine (5, 9, ... points up to ``grid``), each level starting from the
    previous one's solution, so the edit reaches colours far from any hair pixel.
    """
    if not 4 <= grid <= 65:
        raise InputError(f"fit grid must be in 4..65, got {grid}")
    if not (smoothness >= 0 and np.isfinite(smoothness)):
        raise InputError(f"fit smoothness must be a number >= 0, got {smoothness}")
    rgb, target, w = _samples(before, after, mask)
    levels = [grid]
    while levels[-1] > 5:
        levels.append((levels[-1] + 1) // 2)
    x = None
    for n in reversed(levels):
        if x is not None:
            prev = round(len(x) ** (1 / 3))
            x = sample_trilinear(x.reshape(prev, prev, prev, 3).astype(np.float32),
                                 LUT3D.identity(n).table).reshape(-1, 3).astype(np.float64)
        x = _solve(rgb, target, w, n, smoothness, ridge, iterations, x)
    ident = LUT3D.identity(grid).table.astype(np.float64)
    table = np.clip(ident + x.reshape(grid, grid, grid, 3), 0.0, 1.0).astype(np.float32)
    coarse = LUT3D(table, title="fitted")
    if size == grid:
        return coarse
    return LUT3D(sample_trilinear(coarse.table, LUT3D.identity(size).table), title="fitted")


def fit_report(lut: LUT3D, before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> dict:
    """Fit error over the hair pixels: RMS in 8-bit units, and CIEDE2000 mean and 95th percentile."""
    from hairfx._colour import colour_science

    colour = colour_science()

    sel = mask >= MASK_MIN
    b = before[sel].astype(np.float32) / 255.0
    a = after[sel].astype(np.float64) / 255.0
    pred = sample_trilinear(lut.table, b).astype(np.float64)
    rms = float(np.sqrt(np.mean((pred - a) ** 2)) * 255.0)
    to_lab = lambda x: colour.XYZ_to_Lab(colour.sRGB_to_XYZ(x))
    de = colour.delta_E(to_lab(pred), to_lab(a), method="CIE 2000")
    return {"pixels": int(sel.sum()), "rms_8bit": rms, "de2000_mean": float(np.mean(de)),
            "de2000_p95": float(np.percentile(de, 95))}
