"""Datasets and augmentations for training the hair-mask network.

A pair folder holds ``images/NAME.jpg`` and ``masks/NAME.png`` (255 = hair). Images are
decoded once, resized so their longest side is ``cache_side`` and kept in a NumPy
``.npz`` cache (plain arrays, read without unpickling; see :func:`load_pairs`), so the
training loop never decodes a JPEG.

Every training sample is made in one pass of cheap OpenCV operations (see
:func:`make_sample`): a letterbox-style affine (scale, rotation, flip, translation,
crop), an occasional thin-plate-spline warp, an occasional hat-like occluder over the
hair (a window of another photo; made-up knit, felt or woven fabric where ``FABRIC_P``
is set, and it is off) or hair-like texture in the background just above it, hair
recolouring (blond, red, grey, any dyed hue) inside the labelled hair, global colour
jitter, and a previous-mask prior drawn from the paper's three cases: empty, a small
affine warp of the truth, or a large or wrong warp the network must learn to discard. When
``SURROUND_P`` is set (it is off), everything around the hair first takes on the
hair's own colour in that share of the samples (:func:`hair_coloured_surround`).
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .._files import replacing
from ..errors import InputError
from ..imagefiles import imread_any

__all__ = [
    "Pair",
    "list_pairs",
    "load_pairs",
    "split_train_val",
    "make_sample",
    "tps_warp_maps",
    "recolor_hair",
    "occlude_hair",
    "fabric",
    "hair_free_scene",
    "distract_above_hair",
    "hair_coloured_surround",
]


OCCLUDE_P = 0.2  # share of training samples whose hair gets a hat-like occluder (occlude_hair)
DISTRACT_P = 0.2  # share that gets background texture pasted just above the hair (distract_above_hair)
HAIR_FREE_P = 0.08  # share replaced by a scene with no hair at all (hair_free_scene)
# share whose surroundings take on the hair's own colour (hair_coloured_surround). Off: the
# eleventh stage's trial at 0.15 did not help light hair on validation (see the model card)
SURROUND_P = 0.0
# share of the hat-like occluders filled with made-up fabric (fabric) rather than a window of a
# photo. Off: the twelfth stage's trial at 0.6 did not help the validation photos with hats
FABRIC_P = 0.0


@dataclass
class Pair:
    name: str
    image: np.ndarray  # H x W x 3 uint8 RGB
    mask: np.ndarray  # H x W uint8, 255 = hair


def list_pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    """``(name, image_path, mask_path)`` for every image of ``folder`` that has a mask."""
    folder = Path(folder)
    out = []
    for img in sorted((folder / "images").glob("*.jpg")):
        mask = folder / "masks" / (img.stem + ".png")
        if mask.exists():
            out.append((f"{folder.parent.name}/{folder.name}/{img.stem}", img, mask))
    return out


def _read_pair(name: str, img_path: Path, mask_path: Path, side: int | None) -> Pair:
    img = imread_any(img_path, cv2.IMREAD_COLOR)
    mask = imread_any(mask_path, cv2.IMREAD_GRAYSCALE)
    if img is None or mask is None:
        raise InputError(f"cannot read {img_path if img is None else mask_path}")
    if mask.shape != img.shape[:2]:
        mask = cv2.resize(mask, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if side is not None:
        scale = side / max(img.shape[:2])
        if scale < 1.0:
            size = (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    return Pair(name, img, mask)


def _fingerprint(entries: list[tuple[str, Path, Path]], side: int | None) -> str:
    """A digest of what a cache of ``entries`` depends on: names, resolved paths, sizes and
    modification times of every file, and the decode side."""
    h = hashlib.sha256(repr(side).encode())
    for name, img, mask in entries:
        for path in (img, mask):
            st = path.stat()
            h.update(f"{name}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def load_pairs(folders: list[Path], *, side: int | None = None, cache: Path | None = None) -> list[Pair]:
    """Decode every pair of ``folders`` (optionally resized to longest side ``side``).

    With ``cache`` (an ``.npz`` file), the decoded pairs are kept there together with a
    fingerprint of the files they came from; a cache made from other folders, or before
    a file was added, removed or changed, is rebuilt rather than used. The cache holds
    plain arrays and is read with ``allow_pickle=False``: a planted file can at worst
    fail to match, never run code.
    """
    entries = [entry for folder in folders for entry in list_pairs(folder)]
    key = _fingerprint(entries, side) if cache is not None else None
    if cache is not None and cache.exists():
        pairs = _read_cache(cache, key)
        if pairs is not None:
            return pairs
    pairs = [_read_pair(*entry, side) for entry in entries]
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with replacing(cache) as tmp, open(tmp, "wb") as f:  # a file object: savez adds no suffix
            np.savez(
                f,
                key=np.array(key),
                names=np.array([p.name for p in pairs], dtype=str),
                shapes=np.array([p.mask.shape for p in pairs], dtype=np.int64).reshape(-1, 2),
                images=np.concatenate([p.image.ravel() for p in pairs]) if pairs else np.zeros(0, np.uint8),
                masks=np.concatenate([p.mask.ravel() for p in pairs]) if pairs else np.zeros(0, np.uint8),
            )
    return pairs


def _read_cache(cache: Path, key: str) -> list[Pair] | None:
    """The pairs stored in ``cache`` if it holds fingerprint ``key``, else None."""
    try:
        z = np.load(cache, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):  # a lone .npy array
            return None
        with z:
            if str(z["key"]) != key:  # read first, alone: a stale cache costs no image reads
                return None
            names, shapes, images, masks = z["names"], z["shapes"], z["images"], z["masks"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # not an npz, truncated, other layout
        return None
    if not (shapes.dtype.kind == "i" and shapes.ndim == 2 and len(shapes) == len(names)
            and images.dtype == np.uint8 and masks.dtype == np.uint8):
        return None
    pairs, at = [], 0
    for name, (h, w) in zip(names, shapes):
        n = int(h) * int(w)
        pairs.append(Pair(str(name), images[3 * at : 3 * (at + n)].reshape(h, w, 3), masks[at : at + n].reshape(h, w)))
        at += n
    return pairs if at == len(masks) and 3 * at == len(images) else None


def split_train_val(pairs: list[Pair], fraction: float = 0.1) -> tuple[list[Pair], list[Pair]]:
    """Deterministic hold-out by a hash of the name (stable across runs and machines)."""
    train, val = [], []
    for p in pairs:
        h = int(hashlib.sha1(p.name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (val if h < fraction else train).append(p)
    return train, val


# ----------------------------------------------------------------------------- warps


def _affine(h: int, w: int, canvas: int, scale: float, angle: float, flip: bool, shift: tuple[float, float]):
    """2x3 matrix taking image pixels to a ``canvas``-square letterbox, then jittered."""
    base = canvas / max(h, w) * scale
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, base)
    if flip:
        m[0, :] *= -1  # mirrored about x = 0; the re-centring below puts it back in place
    # move the image centre to the canvas centre plus the shift
    cx, cy = m @ np.array([w / 2.0, h / 2.0, 1.0])
    m[0, 2] += canvas / 2.0 + shift[0] * canvas - cx
    m[1, 2] += canvas / 2.0 + shift[1] * canvas - cy
    return m


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        k = r2 * np.log(r2)
    return np.nan_to_num(k)


def tps_warp_maps(size: int, rng: np.random.Generator, *, strength: float = 0.05, grid: int = 3, coarse: int = 24):
    """``map_x, map_y`` for :func:`cv2.remap`: a random thin-plate-spline warp of a square.

    Control points on a ``grid x grid`` lattice move by up to ``strength * size``; the
    spline is solved exactly, evaluated on a coarse lattice and upsampled (it is smooth).
    """
    t = np.linspace(0.0, 1.0, grid)
    src = np.stack(np.meshgrid(t, t), -1).reshape(-1, 2)
    dst = src + rng.uniform(-strength, strength, src.shape)
    n = len(src)
    # Solve for the map dst -> src (backward mapping, as remap wants).
    k = _tps_kernel(((dst[:, None, :] - dst[None, :, :]) ** 2).sum(-1))
    p = np.hstack([np.ones((n, 1)), dst])
    a = np.zeros((n + 3, n + 3))
    a[:n, :n], a[:n, n:], a[n:, :n] = k, p, p.T
    b = np.zeros((n + 3, 2))
    b[:n] = src
    coef = np.linalg.solve(a + 1e-8 * np.eye(n + 3), b)
    g = np.linspace(0.0, 1.0, coarse)
    q = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    kq = _tps_kernel(((q[:, None, :] - dst[None, :, :]) ** 2).sum(-1))
    out = kq @ coef[:n] + np.hstack([np.ones((len(q), 1)), q]) @ coef[n:]
    out = (out * (size - 1)).reshape(coarse, coarse, 2)
    # Bilinear upsampling with the corners aligned (the lattice spans the first to the
    # last pixel centre), as two small matrix products: exact for affine warps.
    up = _align_corners_matrix(size, coarse)
    mx = (up @ out[..., 0] @ up.T).astype(np.float32)
    my = (up @ out[..., 1] @ up.T).astype(np.float32)
    return mx, my


def _align_corners_matrix(size: int, coarse: int) -> np.ndarray:
    pos = np.linspace(0.0, coarse - 1.0, size)
    lo = np.minimum(np.floor(pos).astype(int), coarse - 2)
    frac = pos - lo
    m = np.zeros((size, coarse))
    m[np.arange(size), lo] = 1.0 - frac
    m[np.arange(size), lo + 1] = frac
    return m


# ----------------------------------------------------------------------------- colour


HAIR_KINDS = ("blond", "red", "grey", "dyed", "dark")


def recolor_hair(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """Recolour the hair of float32 RGB ``img`` (in [0, 1]) to blond, red, grey or a dyed hue.

    ``mask`` is the float hair mask in [0, 1]; the edit is blended through a softened
    copy so it fades out at the boundary like real hair does. ``kind`` (one of
    ``HAIR_KINDS``) is drawn at random unless given.
    """
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)  # H in degrees, S and V in [0, 1]
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    kind = kind or rng.choice(HAIR_KINDS)
    if kind == "blond":
        hue = np.full_like(hue, rng.uniform(30, 50))
        sat = sat * rng.uniform(0.3, 0.7) + rng.uniform(0.15, 0.35)
        val = val * rng.uniform(1.4, 2.4) + rng.uniform(0.15, 0.35)
    elif kind == "red":
        hue = np.full_like(hue, rng.uniform(0, 25))
        sat = sat * rng.uniform(0.6, 1.0) + rng.uniform(0.3, 0.6)
        val = val * rng.uniform(1.1, 1.8) + rng.uniform(0.05, 0.2)
    elif kind == "grey":
        sat = sat * rng.uniform(0.0, 0.2)
        val = val * rng.uniform(1.2, 2.2) + rng.uniform(0.15, 0.4)
    elif kind == "dyed":
        hue = np.full_like(hue, rng.uniform(0, 360))
        sat = sat * rng.uniform(0.5, 1.0) + rng.uniform(0.3, 0.7)
        val = val * rng.uniform(1.1, 2.0) + rng.uniform(0.05, 0.3)
    else:  # dark / black
        val = val * rng.uniform(0.3, 0.7)
    rec = cv2.cvtColor(np.dstack([hue, np.clip(sat, 0, 1), np.clip(val, 0, 1)]).astype(np.float32), cv2.COLOR_HSV2RGB)
    soft = cv2.GaussianBlur(mask, (0, 0), 1.2)[..., None]
    return img * (1.0 - soft) + rec * soft


def _jitter(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.3:  # global hue rotation (white balance, tinted light)
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-15, 15)) % 360
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    gray = img.mean(axis=2, keepdims=True)
    if rng.random() < 0.05:
        img = np.repeat(gray, 3, axis=2)
    else:
        img = gray + (img - gray) * rng.uniform(0.6, 1.4)
    img = img * rng.uniform(0.65, 1.35) + rng.uniform(-0.12, 0.12)
    img = img * rng.uniform(0.92, 1.08, size=3).astype(np.float32)  # per-channel gain
    if rng.random() < 0.15:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.2:
        img = img + rng.normal(0, rng.uniform(0.01, 0.04), img.shape).astype(np.float32)
    return np.clip(img, 0.0, 1.0)


def hair_coloured_surround(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give the surroundings of the hair in uint8 RGB ``img`` the hair's own colour.

    Half the time the hair is first made blond. Everything outside uint8 ``mask`` (the
    background, the face, clothing) is then moved most of the way to the hair's mean
    colour, its own light and shade kept at half to full contrast; the label does not
    change. Blonde hair against sand or a pale wall, dark hair against a dark room: only
    texture and shape tell the hair apart, where the rest of the training photos let
    colour contrast do it. Inputs without hair come back unchanged.
    """
    if _hair_box(mask) is None:
        return img
    f = img.astype(np.float32) * np.float32(1 / 255)
    m = mask.astype(np.float32) * np.float32(1 / 255)
    if rng.random() < 0.5:
        f = recolor_hair(f, m, rng, "blond")
    soft = cv2.GaussianBlur(m, (0, 0), 1.2)[..., None]
    rest = 1.0 - soft
    if float(rest.sum()) < 64:
        return img
    hair_mean = (f * soft).sum((0, 1)) / soft.sum()
    rest_mean = (f * rest).sum((0, 1)) / rest.sum()
    target = rest_mean + rng.uniform(0.6, 1.0) * (hair_mean - rest_mean)
    surround = target + (f - rest_mean) * rng.uniform(0.5, 1.0)
    out = f * soft + surround * rest
    return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- occluders


def _hairless_window(
    source: Pair, rng: np.random.Generator, aspect: float, tries: int = 10, max_hair: float = 0.02
) -> np.ndarray | None:
    """A window of ``source``'s image (width / height ``aspect``) whose label holds less
    than ``max_hair`` hair."""
    h, w = source.mask.shape
    best, best_frac = None, 1.0
    for _ in range(tries):
        ww = int(min(w, h * aspect) * rng.uniform(0.25, 0.6))
        wh = max(4, int(ww / aspect))
        ww = max(4, ww)
        if ww > w or wh > h:
            continue
        x, y = int(rng.integers(0, w - ww + 1)), int(rng.integers(0, h - wh + 1))
        if abs(x + ww / 2 - w / 2) < w / 4 and h / 5 < y + wh / 2 < 0.7 * h:
            continue  # the middle of a portrait is its face: take clothing or background
        frac = float(np.count_nonzero(source.mask[y : y + wh, x : x + ww] > 127)) / (ww * wh)
        if frac < best_frac:
            best, best_frac = source.image[y : y + wh, x : x + ww], frac
    return best if best_frac < max_hair else None


def _hair_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """First and last row and column of the hair in uint8 ``mask``; None for under 64 pixels."""
    ys, xs = np.nonzero(mask > 127)
    if len(ys) < 64:
        return None
    return ys.min(), ys.max(), xs.min(), xs.max()


#: Colours of hats and their fabric: hair's own (dark brown, black, blond, grey, auburn)
#: besides any colour, so that colour alone cannot tell a hat from hair.
_HAIRLIKE_RGB = ((45, 30, 20), (18, 18, 20), (200, 170, 120), (150, 150, 150), (120, 50, 30))
FABRIC_KINDS = ("knit", "twill", "felt", "bands", "plain")


def fabric(h: int, w: int, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    """An ``h x w`` uint8 RGB patch of made-up hat fabric: ribbed knit, twill, felt, coloured
    bands or plain cloth, in hair's own colours half the time, lit from above like a dome,
    sometimes with a logo. Knit and felt have fine texture of their own, like hair's."""
    kind = kind or FABRIC_KINDS[int(rng.integers(len(FABRIC_KINDS)))]
    if rng.random() < 0.5:
        base = np.array(_HAIRLIKE_RGB[int(rng.integers(len(_HAIRLIKE_RGB)))], np.float32) / 255
        base = np.clip(base * rng.uniform(0.8, 1.2, 3), 0, 1)
    else:
        hsv = np.array([[[rng.uniform(0, 360), rng.uniform(0, 1), rng.uniform(0.1, 1)]]], np.float32)
        base = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(3, 10)
    if kind == "knit":  # vertical ribs of V-shaped stitches
        ribs = 0.5 + 0.5 * np.sin(2 * np.pi * xx / period)
        column = np.floor(xx / period) % 2
        vee = np.abs((yy / (0.8 * period) + 0.5 * column + 0.3 * np.abs(np.sin(np.pi * xx / period))) % 1 - 0.5) * 2
        tex = 0.6 * ribs + 0.4 * vee
    elif kind == "twill":  # fine diagonal weave (denim, caps)
        tex = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + yy * rng.uniform(0.5, 2)) / period)
    elif kind == "felt":
        tex = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), rng.uniform(0.7, 2.5))
        tex = (tex - tex.mean()) / (tex.std() + 1e-6) * 0.2 + 0.5
    elif kind == "bands":  # horizontal bands of a second colour (a cap's panel, a beanie's stripes)
        tex = ((yy / (period * rng.uniform(2, 6))) % 1 < 0.5).astype(np.float32)
    else:
        tex = np.full((h, w), 0.5, np.float32)
    lum = 1 + (tex - 0.5) * rng.uniform(0.2, 0.8)
    xn, yn = (xx + 0.5) / w * 2 - 1, (yy + 0.5) / h * 2 - 1
    lum *= 1 - rng.uniform(0.1, 0.5) * np.clip(xn**2 + (yn + 0.4) ** 2 * 0.5, 0, 1.5)  # dome lit from above
    out = base[None, None, :] * lum[..., None]
    if kind == "bands":
        second = np.clip(1 - base + rng.uniform(-0.2, 0.2, 3), 0, 1)
        out = np.where(tex[..., None] > 0.5, second[None, None, :] * lum[..., None], out)
    out = np.clip(out * 255 + rng.normal(0, 4, out.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.4 and min(h, w) >= 16:  # a logo on the front
        text = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(2, 6))))
        scale = max(0.3, w / 160 * rng.uniform(0.5, 1.2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        org = (int(w * rng.uniform(0.15, 0.45)), int(h * rng.uniform(0.4, 0.8)))
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, max(1, round(scale * 2)), cv2.LINE_AA)
    return out


def occlude_hair(
    img: np.ndarray, mask: np.ndarray, source: Pair, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Cover the top of the hair of uint8 ``img`` / ``mask`` with a hat-like shape.

    The shape (a crown, sometimes with a brim) is filled with a hair-free window of
    ``source`` (clothing, background) or, with ``FABRIC_P``, with made-up hat
    :func:`fabric`, and labelled not-hair, so the network learns that a cap, beanie or
    hat sitting where hair usually is, is not hair. Inputs without hair come back
    unchanged.
    """
    box = _hair_box(mask)
    if box is None:
        return img, mask
    y0, y1, x0, x1 = box
    hh, hw = y1 - y0 + 1, x1 - x0 + 1
    cx = x0 + hw * rng.uniform(0.3, 0.7)
    cy = y0 + hh * rng.uniform(0.0, 0.3)
    ax, ay = hw * rng.uniform(0.3, 0.6), hh * rng.uniform(0.15, 0.4)
    angle = rng.uniform(-15, 15)
    shape = np.zeros(mask.shape, np.uint8)
    cv2.ellipse(shape, (round(cx), round(cy)), (max(2, round(ax)), max(2, round(ay))), angle, 0, 360, 255, -1)
    if rng.random() < 0.5:  # a brim below the crown
        brim = (max(2, round(ax * rng.uniform(1.1, 1.5))), max(1, round(ay * rng.uniform(0.12, 0.3))))
        cv2.ellipse(shape, (round(cx), round(cy + 0.7 * ay)), brim, angle, 0, 360, 255, -1)
    # the texture reaches 3 px past the shape, as far as its blurred edge does
    bx, by, bw, bh = cv2.boundingRect(cv2.dilate(shape, np.ones((7, 7), np.uint8)))
    if FABRIC_P > 0 and rng.random() < FABRIC_P:
        window = fabric(bh, bw, rng)
    else:
        window = _hairless_window(source, rng, bw / bh)
        if window is None:
            return img, mask
    patch = np.zeros_like(img)
    patch[by : by + bh, bx : bx + bw] = cv2.resize(window, (bw, bh), interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(shape.astype(np.float32) / 255, (0, 0), 0.8)
    out = img.astype(np.float32) * (1 - alpha[..., None]) + patch.astype(np.float32) * alpha[..., None]
    new_mask = mask.astype(np.float32) * (1 - alpha)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), np.clip(new_mask + 0.5, 0, 255).astype(np.uint8)


def distract_above_hair(
    img: np.ndarray, mask: np.ndarray, source: Pair, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Paste non-hair texture into the background just above the hair of uint8 ``img``.

    A hair-free window of ``source`` (a wall, a ceiling, clothing), half the time shifted
    to the hair's own mean colour, fills a soft-edged patch that touches the top of the
    hair. Only background pixels change (composited through the hair mask), so ``mask``
    comes back as it is: the network learns that a hair-coloured surface next to the
    head, such as a ceiling panel or a brown wall, is not hair. Inputs without hair,
    or without hair-free room above it, come back unchanged.
    """
    box = _hair_box(mask)
    if box is None:
        return img, mask
    y0, y1, x0, x1 = box
    hh, hw = y1 - y0 + 1, x1 - x0 + 1
    pw = max(8, round(hw * rng.uniform(0.5, 1.4)))
    ph = max(8, round(hh * rng.uniform(0.3, 0.8)))
    cx = (x0 + x1) / 2 + hw * rng.uniform(-0.3, 0.3)
    bottom = y0 + hh * rng.uniform(0.02, 0.2)  # the patch reaches a little past the hair's top
    px, py = round(cx - pw / 2), round(bottom - ph)
    h, w = mask.shape
    cx0, cy0, cx1, cy1 = max(px, 0), max(py, 0), min(px + pw, w), min(py + ph, h)
    if cx1 - cx0 < 8 or cy1 - cy0 < 8:
        return img, mask
    window = _hairless_window(source, rng, pw / ph)
    if window is None:
        return img, mask
    patch = cv2.resize(window, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32)
    if rng.random() < 0.5:  # a surface of the hair's own colour: only texture and context tell
        hair = img[mask > 127].astype(np.float32)
        patch = (patch - patch.reshape(-1, 3).mean(0)) * rng.uniform(0.5, 1.0) + hair.mean(0)
    # an ellipse or a rectangle, inset so its blurred edge stays inside the patch
    shape = np.zeros((ph, pw), np.float32)
    if rng.random() < 0.5:
        cv2.ellipse(shape, (pw // 2, ph // 2), (pw // 2 - 3, ph // 2 - 3), 0, 0, 360, 1.0, -1)
    else:
        shape[3:-3, 3:-3] = 1.0
    shape = cv2.GaussianBlur(shape, (0, 0), 1.0)
    # composited in the part of the patch inside the frame, through the hair mask
    box = (slice(cy0, cy1), slice(cx0, cx1))
    inside = (slice(cy0 - py, cy1 - py), slice(cx0 - px, cx1 - px))
    alpha = (shape[inside] * (1 - mask[box].astype(np.float32) / 255))[..., None]
    out = img.copy()
    out[box] = np.clip(img[box].astype(np.float32) * (1 - alpha) + patch[inside] * alpha + 0.5, 0, 255).astype(np.uint8)
    return out, mask


def hair_free_scene(source: Pair, rng: np.random.Generator, size: int) -> np.ndarray:
    """A ``size x size`` uint8 RGB scene without hair, to be labelled all not-hair.

    Half the time a hair-free window of ``source``'s photo (a wall, clothing, skin beside
    the face) fills the frame; otherwise a made-up surface: a flat or graded colour, or
    soft blobs, sometimes of the colour of ``source``'s hair, with sensor-like noise. The
    training photos all show hair, so without these the network learns that every frame
    holds some, and a camera pointed at a wall gets its grey taken for hair.
    """
    # labelled all not-hair, so no more than a few stray label pixels of hair in it
    window = _hairless_window(source, rng, 1.0, max_hair=0.002) if rng.random() < 0.5 else None
    if window is not None:
        return cv2.resize(window, (size, size), interpolation=cv2.INTER_CUBIC)
    hair = source.image[source.mask > 127]
    if len(hair) and rng.random() < 0.4:  # a surface of hair's own colour
        base = hair.reshape(-1, 3).astype(np.float32).mean(0) + rng.normal(0, 15, 3)
    else:
        base = rng.uniform(0, 255, 3)
    if rng.random() < 0.5:  # flat or a linear grade
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
        g = rng.normal(0, 40, (2, 3)).astype(np.float32)
        img = base + xx[..., None] * g[0] + yy[..., None] * g[1]
    else:  # soft blobs around the base colour
        k = int(rng.integers(2, 12))
        shade = rng.normal(0, rng.uniform(10, 50), (k, k, 1))  # mostly light and shade,
        small = base + shade + rng.normal(0, rng.uniform(0, 15), (k, k, 3))  # a little hue
        img = cv2.resize(small.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    img = img + rng.normal(0, rng.uniform(0, 8), (size, size, 3))
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- prior


def _warp_mask(mask: np.ndarray, rng: np.random.Generator, *, rot: float, scale: float, shift: float) -> np.ndarray:
    s = mask.shape[0]
    m = cv2.getRotationMatrix2D(
        (s / 2 + rng.uniform(-0.2, 0.2) * s, s / 2 + rng.uniform(-0.2, 0.2) * s),
        rng.uniform(-rot, rot),
        float(np.exp(rng.uniform(-scale, scale))),
    )
    m[:, 2] += rng.uniform(-shift, shift, 2) * s
    return cv2.warpAffine(mask, m, (s, s), flags=cv2.INTER_LINEAR, borderValue=0)


def make_prior(mask: np.ndarray, rng: np.random.Generator, other: np.ndarray | None = None) -> np.ndarray:
    """A previous-frame mask for the float ground truth ``mask`` (the paper's three cases)."""
    u = rng.random()
    if u < 0.35:  # empty: first frame, or someone just entered the view
        return np.zeros_like(mask)
    if u < 0.8:  # small warp: the previous frame of a moving head
        prior = _warp_mask(mask, rng, rot=6.0, scale=0.06, shift=0.04)
        r = int(rng.integers(0, 4))
        if r:
            kernel = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
            prior = cv2.dilate(prior, kernel) if rng.random() < 0.5 else cv2.erode(prior, kernel)
    elif other is not None and rng.random() < 0.5:  # wrong: someone else's hair
        prior = _warp_mask(other, rng, rot=20.0, scale=0.3, shift=0.2)
    else:  # large warp: a scene cut or a fast move the net must discard
        prior = _warp_mask(mask, rng, rot=45.0, scale=0.5, shift=0.35)
    sigma = rng.uniform(0.5, 3.0)
    prior = cv2.GaussianBlur(prior, (0, 0), sigma)
    return np.clip(prior * rng.uniform(0.75, 1.0), 0.0, 1.0)


# ----------------------------------------------------------------------------- sample


def make_sample(
    pair: Pair,
    rng: np.random.Generator,
    *,
    canvas: int,
    crop: int | None = None,
    other: Pair | None = None,
    augment: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One training input ``4 x crop x crop`` float32 and target ``crop x crop`` float32.

    The image is letterboxed into a ``canvas`` square as at inference (zero padding),
    with random scale, rotation, flip and shift when ``augment``; ``crop`` (default
    ``canvas``) takes a random window of that canvas to make training cheaper while
    keeping the object scale of the preset.
    """
    crop = crop or canvas
    h, w = pair.mask.shape
    if augment:
        m = _affine(
            h, w, canvas,
            scale=float(np.exp(rng.uniform(np.log(0.7), np.log(1.35)))),
            angle=rng.uniform(-15, 15) if rng.random() < 0.5 else 0.0,
            flip=rng.random() < 0.5,
            shift=(rng.uniform(-0.12, 0.12), rng.uniform(-0.12, 0.12)),
        )
    else:
        m = _affine(h, w, canvas, 1.0, 0.0, False, (0.0, 0.0))
    if crop < canvas:
        ox, oy = (rng.integers(0, canvas - crop + 1, 2) if augment else ((canvas - crop) // 2,) * 2)
        m[0, 2] -= ox
        m[1, 2] -= oy
    image = pair.image
    if augment and SURROUND_P > 0 and rng.random() < SURROUND_P:  # before the warp: the padding stays black
        image = hair_coloured_surround(image, pair.mask, rng)
    img = cv2.warpAffine(image, m, (crop, crop), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(pair.mask, m, (crop, crop), flags=cv2.INTER_LINEAR, borderValue=0)
    hair_free = augment and other is not None and rng.random() < HAIR_FREE_P
    if hair_free:
        img, mask = hair_free_scene(other, rng, crop), np.zeros_like(mask)
    elif augment:
        if rng.random() < 0.3:
            mx, my = tps_warp_maps(crop, rng)
            img = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderValue=0)
            mask = cv2.remap(mask, mx, my, cv2.INTER_LINEAR, borderValue=0)
        if other is not None and rng.random() < OCCLUDE_P:
            img, mask = occlude_hair(img, mask, other, rng)
        elif other is not None and rng.random() < DISTRACT_P / (1 - OCCLUDE_P):
            img, mask = distract_above_hair(img, mask, other, rng)
    img = img.astype(np.float32) * np.float32(1 / 255)
    mask = mask.astype(np.float32) * np.float32(1 / 255)
    if augment:
        if rng.random() < 0.35:
            img = recolor_hair(img, mask, rng)
        img = _jitter(img, rng)
        other_mask = None
        if other is not None:
            other_mask = cv2.resize(other.mask, (crop, crop), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        if hair_free and other_mask is not None and rng.random() < 0.5:
            prior = make_prior(other_mask, rng)  # someone who just left the view
        else:
            prior = make_prior(mask, rng, other_mask)
    else:
        prior = np.zeros_like(mask)
    x = np.concatenate([img.transpose(2, 0, 1), prior[None]], axis=0)
    return np.ascontiguousarray(x, dtype=np.float32), mask
