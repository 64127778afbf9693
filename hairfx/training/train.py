"""Train the hair-mask network on a wall-clock budget, with checkpoints (CPU or CUDA GPU).

    python -m hairfx.training.train --model small --minutes 80 --data ../shared/data --out runs/small
    python -m hairfx.training.train --model small --out runs/small --resume     # continue
    python -m hairfx.training.train --model small --export runs/small/best.pt  # ship it

(``hairfx train`` takes the same options.) Data: figaro1k/train and celeb1k/train for
training; a fixed 10 % of figaro1k/train plus celeb1k/val are held out for validation.
The learning rate follows a warm-up then a cosine over the *time* budget, so a run
ends on time whatever the machine's speed. ``last.pt`` is written every few minutes
(model, optimiser, elapsed time, the run's settings), and on Ctrl-C or SIGTERM, and
``best.pt`` whenever the validation IoU improves. A run folder that holds a run is
only ever continued (``--resume``), never started over, and is held by one run at a
time (a lock on ``.lock`` in it); a resumed run keeps its
budget, learning rate, batch and crop unless they are given again (``--minutes`` is
the run's whole budget, not extra time).

Decoded training images are cached as ``.npz`` files in ``--cache`` (default
``$XDG_CACHE_HOME/hairfx``, else ``~/.cache/hairfx``), shared by every run.

``--device auto`` (the default) trains on a CUDA GPU when PyTorch sees one, else on the
CPU. On a GPU the augmented samples are made by ``--workers`` processes (default: one per
spare CPU core) so the GPU is not left waiting, and batches are larger; on the
CPU they are made in the training process, which keeps a 2-core machine's cores for the
network. ``best.pt`` and ``final.pt`` hold CPU tensors and ``--resume`` maps ``last.pt``
to the CPU before moving it, so every checkpoint loads on any machine.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import inspect
import io
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np

from .._optional import require

# The train extra (pip install "hairfx[train]"): without it `hairfx train` says what to install.
torch = require("torch", "training the hair-mask network or exporting its weights", "train")
threadpoolctl = require("threadpoolctl", "training the hair-mask network", "train")

import torch.nn.functional as F  # after the check above, which names the extra

from .._files import check_folder, folder_obstacle, missing_folder_text, replacing
from .._options import thread_count
from ..cli import ArgumentParser
from ..errors import STOP_SIGNALS, DeviceUnavailable, InputError, Interrupted, MissingFileError, WeightsError, signal_handlers
from ..model import PRESETS, HairNet, build_model, transfer_weights
from . import cli_args
from .cli_args import DEVICES
from .data import Pair, load_pairs, make_sample, split_train_val

__all__ = [
    "train", "export_weights", "hair_loss", "validate", "pair_ious", "hard_weights", "mirror_teacher",
    "ensemble_teacher", "build_parser", "main",
]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: Side of each preset's training crops, taken from its full inference canvas (256 or
#: 512), so objects have the scale they have at inference while a step costs less.
TRAIN_CROP = {"small": 224, "full": 320}
CACHE_SIDE = {"small": 320, "full": 576}
MAX_STEP_S = 20.0
LOG_SECONDS = 30.0  # a progress line at most this often (and after the first step)
#: Default batch size per preset and device type: small steps on a CPU, larger ones on a GPU.
DEFAULT_BATCH = {("small", "cpu"): 16, ("full", "cpu"): 8, ("small", "cuda"): 64, ("full", "cuda"): 32}
DEFAULT_MINUTES = 90.0
DEFAULT_LR = 4e-3
#: Names of the checkpoints a run writes into its folder.
RUN_FILES = ("last.pt", "best.pt", "final.pt")


def default_cache_dir() -> Path:
    """Where decoded training data is cached: ``$XDG_CACHE_HOME/hairfx`` or ``~/.cache/hairfx``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "hairfx"


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"``: CUDA when PyTorch sees a GPU, else the CPU. ``"cuda"`` without a GPU raises."""
    if name not in DEVICES:
        raise InputError(f"unknown device {name!r}; valid devices are: {', '.join(DEVICES)}")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"--device cuda was asked for, but PyTorch {torch.__version__} sees no CUDA GPU"
                + (" (a CPU-only build)" if torch.version.cuda is None else "")
            )
        return torch.device("cuda")
    return torch.device("cpu")


def default_workers(device: torch.device) -> int:
    """Sample-making processes: none on the CPU (the cores train), one per spare core on a GPU.

    The samples, not the GPU, set a GPU run's pace: on an H100 each worker made about 15
    full-preset (512 px) samples a second, and ten of them 154-160, a fraction of what the GPU
    trains on (model card, fifteenth stage)."""
    import os

    return 0 if device.type == "cpu" else max(1, (os.cpu_count() or 2) - 1)


def hair_loss(logits: torch.Tensor, target: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
    """Boundary-weighted BCE + soft Jaccard (IoU) loss, plus a coarse-head BCE if given.

    ``logits`` and ``target`` are ``N x 1 x H x W``; pixels within 3 px of the labelled
    boundary weigh 5x in the BCE, so edges are not drowned out by easy interiors.
    """
    with torch.no_grad():
        dil = F.max_pool2d(target, 7, stride=1, padding=3)
        ero = -F.max_pool2d(-target, 7, stride=1, padding=3)
        weight = 1.0 + 4.0 * (dil - ero)
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="sum") / weight.sum()
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(1, 2, 3))
    union = (prob + target - prob * target).sum(dim=(1, 2, 3))
    jaccard = 1.0 - ((inter + 1.0) / (union + 1.0)).mean()
    loss = bce + jaccard
    if aux is not None:
        small = F.adaptive_avg_pool2d(target, aux.shape[-2:])
        loss = loss + 0.4 * F.binary_cross_entropy_with_logits(aux, small)
    return loss


def mirror_teacher(teacher: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The frozen ``teacher``'s hair probability for ``x``, averaged with that of ``x``
    mirrored left to right (mirrored back): the two passes' errors are partly independent,
    so their mean scores higher than either (see the model card's test-time augmentation)."""
    with torch.no_grad():
        both = torch.sigmoid(teacher(torch.cat([x, x.flip(-1)])))
        n = x.shape[0]
        return 0.5 * (both[:n] + both[n:].flip(-1))


def ensemble_teacher(teachers: list[tuple[HairNet, float]], x: torch.Tensor) -> torch.Tensor:
    """The mean of :func:`mirror_teacher` over ``teachers``, pairs of a frozen network and
    the ratio of its input size to the student's. A teacher of another preset sees the
    batch resized by that ratio (to a multiple of its stride), so heads keep the scale it
    was trained at, and its probability is resized back to the batch's size."""
    h, w = x.shape[-2:]
    total = None
    for net, ratio in teachers:
        if ratio == 1.0:
            prob = mirror_teacher(net, x)
        else:
            stride = net.config.stride
            size = [max(stride, round(v * ratio / stride) * stride) for v in (h, w)]
            with torch.no_grad():
                scaled = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=ratio < 1.0)
                scaled = scaled.contiguous(memory_format=torch.channels_last)
                prob = F.interpolate(mirror_teacher(net, scaled), size=(h, w), mode="bilinear", align_corners=False)
        total = prob if total is None else total + prob
    return total / len(teachers)


def _fitting_preset(state: dict, label: str) -> tuple[str, HairNet]:
    """The preset whose every tensor ``state`` fills, and its network loaded from it, frozen."""
    for name in PRESETS:
        net = build_model(name)
        try:
            net.load_state_dict(state)
        except RuntimeError:
            continue
        return name, net.eval().requires_grad_(False)
    raise WeightsError(f"{label} fits none of the presets ({', '.join(PRESETS)})")


def _batch(pairs: list[Pair], rng: np.random.Generator, n: int, canvas: int, crop: int, p: np.ndarray | None = None):
    xs, ys = [], []
    for _ in range(n):
        i, j = rng.integers(0, len(pairs), 2)
        if p is not None:  # hard-example emphasis: the photo by its weight, the "other" one uniformly
            i = rng.choice(len(pairs), p=p)
        x, y = make_sample(pairs[i], rng, canvas=canvas, crop=crop, other=pairs[j])
        xs.append(x)
        ys.append(y)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))[:, None]


class _Batches(torch.utils.data.IterableDataset):
    """Endless augmented batches; each worker process draws from its own random stream.

    Worker batches travel as ``uint8`` (a quarter of the shared memory of float32; frames
    reach the network as 8-bit values at inference too) and are scaled back on arrival.
    """

    def __init__(self, pairs: list[Pair], seed: int, n: int, canvas: int, crop: int, as_uint8: bool,
                 p: np.ndarray | None = None):
        self.pairs, self.seed, self.n, self.canvas, self.crop = pairs, seed, n, canvas, crop
        self.as_uint8, self.p = as_uint8, p

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info else 0])
        while True:
            x, y = _batch(self.pairs, rng, self.n, self.canvas, self.crop, self.p)
            if self.as_uint8:
                x, y = (t.mul(255.0).round_().to(torch.uint8) for t in (x, y))
            yield x, y


def _single_threaded_worker(_worker_id: int) -> None:
    """Run a sample worker's BLAS on one thread: the workers already take a core each.

    NumPy's BLAS otherwise starts a thread per core in every worker, for the matrix
    products of the thin-plate-spline warp. On a 16-core GPU machine, eight workers then
    took 103-140 ms per full-preset sample instead of 39-55 ms, and each worker made 3-6x
    fewer samples in training (model card). OpenCV is set to one thread before the fork,
    torch by PyTorch."""
    threadpoolctl.threadpool_limits(1)


@contextlib.contextmanager
def _batches(pairs: list[Pair], seed: int, n: int, canvas: int, crop: int, workers: int, pin: bool,
             p: np.ndarray | None = None):
    """Iterator of float32 ``(x, y)`` CPU batches, made here (``workers=0``) or by worker
    processes, which are shut down on leaving the ``with`` block. ``p``: each pair's chance
    of being drawn (default uniform)."""
    if workers <= 0:
        yield iter(_Batches(pairs, seed, n, canvas, crop, as_uint8=False, p=p))
        return
    import cv2

    # One process per core already: the workers (forked from here) inherit a single-threaded
    # OpenCV. Set before the fork: changing OpenCV's thread pool inside a forked child hangs.
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    loader = torch.utils.data.DataLoader(
        _Batches(pairs, seed, n, canvas, crop, as_uint8=True, p=p),
        batch_size=None, num_workers=workers, pin_memory=pin, prefetch_factor=2,
        worker_init_fn=_single_threaded_worker,
    )
    it = iter(loader)
    try:
        yield ((x.float().div_(255.0), y.float().div_(255.0)) for x, y in it)
    finally:
        getattr(it, "_shutdown_workers", lambda: None)()  # stop the workers now, even on an error
        cv2.setNumThreads(cv_threads)


def _save(obj, path: Path) -> None:
    """``torch.save`` through a temporary file and a rename: a run killed while writing
    leaves the previous checkpoint whole, never a truncated one."""
    with replacing(path) as tmp:
        torch.save(obj, tmp)


def _cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def validate(model: HairNet, pairs: list[Pair], canvas: int) -> float:
    """Mean per-image IoU (threshold 0.5, empty prior) on letterboxed ``pairs``."""
    return float(np.mean(pair_ious(model, pairs, canvas)))


@torch.inference_mode()
def pair_ious(model: HairNet, pairs: list[Pair], canvas: int) -> np.ndarray:
    """Each pair's IoU (threshold 0.5, empty prior), the pair letterboxed, not augmented."""
    model.eval()
    device = next(model.parameters()).device
    rng = np.random.default_rng(0)
    ious = []
    for p in pairs:
        x, y = make_sample(p, rng, canvas=canvas, augment=False)
        pred = model(torch.from_numpy(x)[None].to(device))[0, 0].cpu().numpy() > 0
        gt = y > 0.5
        union = np.logical_or(pred, gt).sum()
        ious.append(1.0 if union == 0 else np.logical_and(pred, gt).sum() / union)
    model.train()
    return np.asarray(ious, dtype=np.float64)


def hard_weights(ious: np.ndarray, emphasis: float) -> np.ndarray:
    """Chances of drawing each training pair: ``1 + emphasis * (1 - IoU)``, normalised.

    With ``emphasis`` 4 a photo the network gets half wrong (IoU 0.5) is drawn 3x as
    often as one it gets right; every photo keeps at least its uniform weight of 1, so a
    few mislabelled photos cannot take over the run.
    """
    w = 1.0 + emphasis * (1.0 - np.clip(np.asarray(ious, dtype=np.float64), 0.0, 1.0))
    return w / w.sum()


def _lr(frac: float, peak: float, warm: float = 0.03) -> float:
    if frac < warm:
        return peak * frac / warm
    return peak * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (frac - warm) / (1 - warm)))))


def _fixed_at_start(given: float | None, stored: dict, key: str, flag: str) -> float | None:
    """A resumed run's own value of a setting fixed when it started (``stored[key]``);
    ``given`` (the option ``flag``) may only repeat it."""
    own = stored.get(key)
    if given is not None and given != (own or 0.0):
        raise InputError(
            f"{flag} {given:g} differs from this run's {own or 0:g}; it is fixed "
            f"when a run starts (start a new run folder to change it)"
        )
    return own


def _check_writable_folder(folder: Path, what: str) -> None:
    """Refuse ``folder`` unless it is, or can be made as, a folder this process writes into."""
    obstacle = folder_obstacle(folder, writable=True)
    if obstacle is not None:
        d, kind = obstacle
        reason = {"unwritable": f"cannot write into {d} (permission denied)",
                  "missing": missing_folder_text(d)}.get(kind, f"{d} is a file, not a folder")
        raise InputError(f"{what} {folder}: {reason}")


def _read_checkpoint(path: Path, missing: str, label: str):
    """``torch.load(path)`` to the CPU with ``weights_only=True``: :class:`MissingFileError`
    with ``missing`` when there is no such file, :class:`WeightsError` naming ``label``
    when it cannot be read."""
    if not path.is_file():
        raise MissingFileError(missing)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling raises many types; name the file
        raise WeightsError(f"{label} is not a readable checkpoint: {str(exc).splitlines()[0]}") from None


def _load_state(path: Path, what: str) -> dict:
    """The state dict in checkpoint ``path`` (a run's checkpoint or a plain state dict)."""
    ck = _read_checkpoint(path, f"{what} {path}: checkpoint not found", f"{what} {path}")
    state = ck.get("model", ck) if isinstance(ck, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{what} {path} holds a {type(ck).__name__}, not a checkpoint or a state dict")
    return state


def _load_run(last: Path, model_name: str) -> dict:
    """The checkpoint ``last`` of a run of ``model_name`` to resume, checked."""
    ck = _read_checkpoint(
        last, f"nothing to resume: {last} not found (leave out --resume to start a run there)", str(last)
    )
    if isinstance(ck, dict) and ck.get("preset", model_name) != model_name:
        raise InputError(f"{last} is a run of the {ck['preset']!r} preset, not {model_name!r}; give --model {ck['preset']}")
    if not isinstance(ck, dict) or not {"model", "opt", "step"} <= ck.keys():
        raise WeightsError(f"{last} is not a run's last.pt (it has no optimiser state or step count); "
                           f"start a run from it with --init instead")
    return ck


@contextlib.contextmanager
def _stop_signals():
    """Ctrl-C (SIGINT), SIGTERM (``kill``, a job scheduler's stop) and SIGHUP (a closed
    terminal) ask training to stop:
    they set ``stop["signal"]``, which the loop reads between steps, so the checkpoint it
    then saves never holds half an optimiser step. A second Ctrl-C stops at once. Only the
    main thread can set handlers; elsewhere the signals keep their usual effect."""
    stop = {"signal": None}
    child = {}  # SIGCHLD's handler before the first stop, to put back

    def ask(signum, frame):
        if stop["signal"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop["signal"] = signum
        if hasattr(signal, "SIGCHLD") and not child:
            # A signal sent to the whole process group also ends the sample workers; the
            # data loader's SIGCHLD handler would raise mid-step. The loop stops anyway.
            child[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, signal.SIG_DFL)

    with signal_handlers(ask, (signal.SIGINT, *STOP_SIGNALS)):
        try:
            yield stop
        finally:
            for s, handler in child.items():
                signal.signal(s, handler)


def _refuse_held_run(out: Path) -> None:
    """An :class:`InputError` when folder ``out`` holds a run's checkpoints."""
    held = [n for n in RUN_FILES if (out / n).exists()]
    if held:
        raise InputError(f"{out} already holds a run ({', '.join(held)}); continue it with --resume, or give another --out")


@contextlib.contextmanager
def _claim(out: Path, resume: bool):
    """Hold run folder ``out`` for this process: an exclusive lock on ``out/.lock`` for the
    whole run, so two ``hairfx train`` started at once into one folder cannot both write
    it; a new run also checks again, under the lock, that the folder holds no run."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock, the checks above stand
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"another hairfx train is running in {out}; wait for it to end, "
                                 f"or give another --out") from None
        if not resume:
            _refuse_held_run(out)
        yield
    finally:
        os.close(fd)  # releases the lock


def train(
    *,
    model_name: str,
    data: Path,
    out: Path,
    minutes: float | None = None,
    batch: int | None = None,
    lr: float | None = None,
    threads: int = 2,
    resume: bool = False,
    max_wall_minutes: float | None = None,
    init: Path | None = None,
    device: str = "auto",
    workers: int | None = None,
    ckpt_minutes: float = 3.0,
    val_minutes: float = 6.0,
    max_pairs: int | None = None,
    seed: int = 0,
    crop: int | None = None,
    hard: float | None = None,
    distill: float | None = None,
    teachers: list[Path] | None = None,
    cache_dir: Path | None = None,
    log=print,
) -> dict:
    """Train preset ``model_name`` for ``minutes`` of wall time; returns a summary dict.

    Settings left None take their defaults (:data:`DEFAULT_MINUTES`, :data:`DEFAULT_LR`,
    :data:`DEFAULT_BATCH` for the device, :data:`TRAIN_CROP`; a crop must be a multiple of
    the network's stride and at most its input size), or with ``resume`` the values the
    run was started with. ``workers=None`` takes :func:`default_workers`. ``cache_dir``
    (default :func:`default_cache_dir`) keeps the decoded images between runs. Every
    argument, the run folder, ``init`` and the checkpoint to resume are checked before any
    data is read; nothing is written into ``out`` until they pass.

    ``hard`` (hard-example emphasis, needs ``init``): before the first step the starting
    weights score every training photo, and a photo is then drawn with a chance growing
    with its error (:func:`hard_weights`); the scores are kept in the run, so a resumed
    run draws as the run began.

    ``distill`` (self-distillation, needs ``init``): the starting weights, frozen, are the
    teacher; each step adds ``distill`` times the cross-entropy between the network's logits
    and the teacher's probability averaged over the batch and its mirror image
    (:func:`mirror_teacher`), which is more accurate than one pass. The teacher is kept in
    the run folder (``teacher.pt``), so a resumed run learns from the same one.
    ``teachers`` (checkpoints of either preset) join the starting weights as teachers: the
    target is the mean of their mirror-averaged probabilities (:func:`ensemble_teacher`).
    They are kept in ``teacher.pt`` too, and fixed when the run starts.
    """
    out = Path(out)
    last = out / "last.pt"
    cli_args.check_combination(resume=resume, init=init, hard=hard, distill=distill, teachers=teachers)
    if out.exists() and not out.is_dir():
        raise InputError(f"run folder {out} is a file; give --out a folder")
    ck = None
    if resume:
        ck = _load_run(last, model_name)
        stored = ck.get("settings", {})
        given = dict(minutes=minutes, max_wall_minutes=max_wall_minutes, lr=lr, batch=batch, crop=crop)
        for k, v in given.items():
            if v is not None and k in stored and stored[k] is not None and v != stored[k]:
                log(f"note: --{k.replace('_', '-')} {v:g} replaces this run's {stored[k]:g}")
        minutes, max_wall_minutes, lr, batch, crop = (
            v if v is not None else stored.get(k) for k, v in given.items()
        )
        hard = _fixed_at_start(hard, stored, "hard", "--hard-emphasis")
        distill = _fixed_at_start(distill, stored, "distill", "--distill")
    else:
        _refuse_held_run(out)
    minutes = DEFAULT_MINUTES if minutes is None else minutes
    lr = DEFAULT_LR if lr is None else lr
    if not 0 < minutes < math.inf:
        raise InputError(f"the training budget must be a positive number of minutes, got {minutes}")
    if not 0 < lr < math.inf:
        raise InputError(f"the learning rate must be a positive number, got {lr}")
    if batch is not None and batch < 1:
        raise InputError(f"batch size must be at least 1, got {batch}")
    threads = thread_count(threads)
    hard = hard or None
    if hard is not None and not 0 < hard < math.inf:
        raise InputError(f"the hard-example emphasis must be a positive number, got {hard}")
    distill = distill or None
    if distill is not None and not 0 < distill < math.inf:
        raise InputError(f"the distillation weight must be a positive number, got {distill}")
    teachers = [Path(t) for t in teachers or ()]
    dev = pick_device(device)
    workers = default_workers(dev) if workers is None else int(workers)
    batch = batch or DEFAULT_BATCH[(model_name, dev.type)]
    canvas, stride = PRESETS[model_name].input_size, PRESETS[model_name].stride
    crop = TRAIN_CROP[model_name] if crop is None else int(crop)
    if not (stride <= crop <= canvas and crop % stride == 0):
        raise InputError(
            f"training crop {crop} does not fit the {model_name} preset: it must be a multiple of "
            f"{stride} between {stride} and {canvas}"
        )
    if batch == 1 and crop == stride:  # BatchNorm needs two values per channel at the lowest level
        raise InputError(f"a batch of 1 needs a crop of at least {2 * stride} for the {model_name} preset, got {crop}")
    settings = dict(minutes=minutes, max_wall_minutes=max_wall_minutes, lr=lr, batch=batch, crop=crop, hard=hard,
                    distill=distill, teachers=[str(t) for t in teachers])
    if ck is not None:  # the record of a resumed run's teachers is that of its start
        settings["teachers"] = ck.get("settings", {}).get("teachers", [])
    budget = minutes * 60.0
    wall_budget = (max_wall_minutes or 1.25 * minutes) * 60.0
    spent = ck is not None and max(ck.get("elapsed", 0.0) / budget, ck.get("wall", 0.0) / wall_budget) >= 1.0
    if spent and (out / "final.pt").exists():  # finished; without final.pt it was stopped in its last validation
        raise InputError(
            f"the run in {out} has used its whole budget ({ck.get('elapsed', 0.0) / 60:.1f} of {minutes:g} min, "
            f"{ck.get('wall', 0.0) / 60:.1f} of {wall_budget / 60:g} min of wall time); give a larger "
            f"--minutes (and --max-wall-minutes) to go on"
        )

    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir)
    if not max_pairs:
        _check_writable_folder(cache_dir, "the cache folder (--cache)")

    # channels_last: about 1.4x faster convolutions on the CPU, forward and backward
    model = build_model(model_name).to(memory_format=torch.channels_last)
    if init is not None and ck is None:
        n = transfer_weights(_load_state(Path(init), "--init"), model)
        if n == 0:
            raise WeightsError(f"--init {init}: none of its tensors fits the {model_name!r} network")
        init_note = f"initialised {n} of {len(model.state_dict())} tensors from {init}"
    else:
        init_note = None
    teacher_nets: list[tuple[str, HairNet]] = []  # with --distill: (preset, frozen network), the starting weights first
    if distill is not None and ck is None:  # a fresh run's: its starting weights and each --teacher
        teacher_nets = [_fitting_preset(model.state_dict(), "--init")] + [
            _fitting_preset(_load_state(t, "--teacher"), f"--teacher {t}") for t in teachers]
    elif distill is not None:  # a resumed run's: the copies kept in its folder
        kept_path = out / "teacher.pt"
        what = f"the run's teacher {kept_path}"
        kept = _read_checkpoint(kept_path, f"{what}: checkpoint not found", what)
        if not isinstance(kept, dict) or not isinstance(kept.get("model"), dict):
            raise WeightsError(f"{what} holds no teacher's weights")
        teacher_nets = [_fitting_preset(k["model"], what) for k in [kept, *kept.get("extra", [])]]

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size: let cuDNN pick its fastest kernels
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    t0 = time.time()
    train_dirs = [data / "figaro1k" / "train", data / "celeb1k" / "train"]
    for d in train_dirs + [data / "celeb1k" / "val"]:
        if not (d / "images").is_dir():
            raise InputError(f"training data folder {d} not found (give --data)")
    side = CACHE_SIDE[model_name]
    cache = None if max_pairs else cache_dir / f"train_{side}.npz"
    pairs = load_pairs(train_dirs, side=side, cache=cache)
    vcache = None if max_pairs else cache_dir / f"val_{side}.npz"
    celeb_val = load_pairs([data / "celeb1k" / "val"], side=side, cache=vcache)
    train_pairs, figaro_val = [], []
    for p in pairs:
        (figaro_val if p.name.startswith("figaro1k") else train_pairs).append(p)
    figaro_train, figaro_val = split_train_val(figaro_val)
    train_pairs += figaro_train
    val_pairs = figaro_val + celeb_val
    if max_pairs:
        train_pairs, val_pairs = train_pairs[:max_pairs], val_pairs[: max(1, max_pairs // 2)]
    if not train_pairs or not val_pairs:
        which = "training" if not train_pairs else "validation"
        raise InputError(
            f"no {which} pairs (images/NAME.jpg with masks/NAME.png) in {data}: training reads figaro1k/train "
            f"and celeb1k/train, and validates on celeb1k/val and a tenth of figaro1k/train"
        )
    with _claim(out, resume):
        log(f"data: {len(train_pairs)} train, {len(val_pairs)} val pairs (loaded in {time.time() - t0:.0f}s)")
        where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {threads} threads"
        log(f"device: {where}; batch {batch} of {crop}x{crop} crops; {workers or 'no'} sample worker{'s' if workers != 1 else ''}")
        if init_note:
            log(init_note)
        teachers_at = []  # (network on the device, its input size over the student's)
        if teacher_nets:
            if ck is None:
                _save({"model": _cpu_state(teacher_nets[0][1]), "preset": model_name,
                       "extra": [{"model": _cpu_state(t), "preset": name} for name, t in teacher_nets[1:]]},
                      out / "teacher.pt")
            teachers_at = [(t.to(dev, memory_format=torch.channels_last), t.config.input_size / canvas)
                           for _, t in teacher_nets]
            also = "".join(f" and {name} teacher {i}'s" for i, (name, _) in enumerate(teacher_nets[1:], 1))
            log(f"self-distillation {distill:g}: towards the starting weights' masks{also}, "
                f"each averaged with the mirror image's")
        model = model.to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        # "elapsed" is active training time: a step's duration counts at most MAX_STEP_S, so a
        # process paused with SIGSTOP (say, while someone benchmarks) does not lose its
        # schedule; "wall" is real time, bounded separately by max_wall_minutes.
        state = {"step": 0, "elapsed": 0.0, "wall": 0.0, "best_iou": -1.0, "history": [], "pair_iou": []}
        if ck is not None:
            # via the CPU: load_state_dict moves the optimiser's moments to the model's device
            # and keeps AdamW's step counters on the CPU, where it reads them every step
            try:
                model.load_state_dict(ck["model"])
                opt.load_state_dict(ck["opt"])
            except (RuntimeError, ValueError, KeyError) as exc:
                raise WeightsError(f"{last} does not fit the {model_name!r} network: {str(exc).splitlines()[0]}") from None
            state.update({k: ck[k] for k in ("step", "elapsed", "wall", "best_iou", "history", "pair_iou") if k in ck})
            log(f"resumed from {last} at step {state['step']}, {state['elapsed'] / 60:.1f} of {minutes:g} min")
            del ck
        draw = None
        if hard is not None:
            if len(state["pair_iou"]) != len(train_pairs):
                t1 = time.time()
                state["pair_iou"] = [round(float(v), 5) for v in pair_ious(model, train_pairs, canvas)]
                log(f"scored {len(train_pairs)} training photos with the starting weights in {time.time() - t1:.0f}s")
            ious = np.asarray(state["pair_iou"])
            draw = hard_weights(ious, hard)
            log(f"hard-example emphasis {hard:g}: training IoU {ious.mean():.3f}, {int((ious < 0.6).sum())} photos "
                f"below 0.6; each photo drawn {draw.min() * len(draw):.2f}x to {draw.max() * len(draw):.2f}x as often as uniformly")
        tick = time.time()
        last_ckpt = last_val = last_log = time.time()
        model.train()
        recent: collections.deque = collections.deque(maxlen=50)  # the last steps' losses, for the log
        first_loss = None
        seen = steps_here = 0

        def save_last():
            _save({"model": _cpu_state(model), "opt": opt.state_dict(), "preset": model_name,
                   "settings": settings, **state}, last)

        def save_scored(name: str, iou: float):  # best.pt, final.pt: the weights and their validation IoU
            _save({"model": _cpu_state(model), "preset": model_name, "val_iou": iou}, out / name)

        with _stop_signals() as stop, _batches(
            train_pairs, seed + state["step"], batch, canvas, crop, workers, dev.type == "cuda", draw
        ) as batches:
            try:
                while stop["signal"] is None:
                    now = time.time()
                    state["elapsed"] += min(now - tick, MAX_STEP_S)
                    state["wall"] += now - tick
                    tick = now
                    frac = max(state["elapsed"] / budget, state["wall"] / wall_budget)
                    if frac >= 1.0:
                        break
                    for g in opt.param_groups:
                        g["lr"] = _lr(frac, lr)
                    x, y = next(batches)
                    x = x.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)
                    y = y.to(dev, non_blocking=True)
                    logits = model(x)
                    loss = hair_loss(logits, y, model.aux_logits)
                    if teachers_at:
                        target = ensemble_teacher(teachers_at, x)
                        loss = loss + distill * F.binary_cross_entropy_with_logits(logits, target)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    state["step"] += 1
                    steps_here += 1
                    seen += batch
                    recent.append(loss.detach())  # no GPU sync per step; read when logging
                    if first_loss is None:
                        first_loss = loss.item()
                    now = time.time()
                    if now - last_log > LOG_SECONDS or steps_here == 1:
                        log(
                            f"step {state['step']:6d}  {state['elapsed'] / 60:6.1f}/{minutes:g} min  "
                            f"loss {torch.stack(list(recent)).mean().item():.4f}  lr {opt.param_groups[0]['lr']:.2e}  "
                            f"{seen / (now - last_log):.1f} img/s",
                        )
                        last_log, seen = now, 0
                    if now - last_val > val_minutes * 60:
                        iou = validate(model, val_pairs, canvas)
                        state["history"].append([state["step"], round(state["elapsed"]), round(iou, 4)])
                        tag = ""
                        if iou > state["best_iou"]:
                            save_scored("best.pt", iou)
                            state["best_iou"] = iou  # only once best.pt holds it
                            tag = " (best)"
                        log(f"val IoU {iou:.4f}{tag}")
                        last_val = time.time()
                    if now - last_ckpt > ckpt_minutes * 60:
                        save_last()
                        last_ckpt = time.time()
            except Exception as exc:  # noqa: BLE001 - re-raised unless a stop was asked for
                if stop["signal"] is None:
                    if isinstance(exc, BrokenPipeError):  # the log's reader left (less quit, tee died)
                        save_last()  # keep every step
                    raise
                # The sample workers ended with the process group, and the data loader says so
                # (RuntimeError, EOFError, ConnectionResetError...) while fetching a batch, before
                # any step on it; the stop was asked for, so save as for any stop.
            if stop["signal"] is not None:  # keep every step taken so far
                save_last()
                name = signal.Signals(stop["signal"]).name
                log(f"interrupted ({name}): saved {last} at step {state['step']}; continue with --resume")
                raise Interrupted(stop["signal"])
        save_last()  # first: a stop during the final validation (minutes on a CPU) loses no step
        iou = validate(model, val_pairs, canvas)
        state["history"].append([state["step"], round(state["elapsed"]), round(iou, 4)])
        save_scored("final.pt", iou)
        if iou > state["best_iou"]:
            save_scored("best.pt", iou)
            state["best_iou"] = iou
        save_last()
        log(f"done: {state['step']} steps, final val IoU {iou:.4f}, best {state['best_iou']:.4f}")
        return {"steps": state["step"], "final_iou": iou, "best_iou": state["best_iou"], "first_loss": first_loss, "last_loss": torch.stack(list(recent)[-5:]).mean().item() if recent else None}


def export_weights(
    checkpoint: Path, model_name: str, weights_dir: Path = WEIGHTS_DIR, *, onnx: bool = True, force: bool = False
) -> dict:
    """Write ``weights_dir/<model>.pt`` (a plain state dict), its ONNX export, and their
    SHA-256 into weights.json.

    ``checkpoint`` is a run's ``best.pt`` / ``final.pt`` / ``last.pt`` or a plain state dict
    (such as a shipped ``.pt``). Every file is written beside its target first and renamed
    into place only when all of them are ready, weights.json last, so a failed or
    interrupted export leaves the previous weights and their checksums as they were.
    Exporting the very weights the folder's ``.pt`` already holds (to remake the ONNX
    file, say) keeps that file, its checksum and its recorded validation IoU.

    The ONNX export needs the ``onnx`` package; without it the export is refused, unless
    ``onnx=False``, which ships the PyTorch weights alone and removes the preset's old
    ``.onnx`` (it would disagree with them; the segmenter then runs on PyTorch). A
    checkpoint whose recorded validation IoU is lower than that of the weights it would
    replace, or that records none (a run's ``last.pt``, a plain state dict) where they have
    one, is refused unless ``force``. A ``weights.json`` that cannot be read is refused
    (:class:`WeightsError`) before anything is written.
    """
    checkpoint = Path(checkpoint)
    ck = _read_checkpoint(checkpoint, f"checkpoint not found: {checkpoint}", str(checkpoint))
    if not isinstance(ck, dict):
        raise WeightsError(f"{checkpoint} holds a {type(ck).__name__}, not a checkpoint or state dict")
    if "model" not in ck:  # a plain state dict, as shipped
        ck = {"model": ck}
    if ck.get("preset", model_name) != model_name:
        raise InputError(f"{checkpoint} holds the {ck['preset']!r} preset, not {model_name!r}; give --model {ck['preset']}")
    model = build_model(model_name)
    try:
        model.load_state_dict(ck["model"])  # proves the state dict matches the architecture
    except RuntimeError as exc:
        raise WeightsError(f"{checkpoint} does not fit the {model_name!r} network: {str(exc).splitlines()[0]}") from None
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    weights_dir = Path(weights_dir)
    # the package's own folder is read-only where hairfx was installed by another user or
    # into a read-only image: refused now, in one line, not by a traceback from the writes
    check_folder(weights_dir, f"cannot export into {weights_dir}", writable=True, hint="; give --weights-dir DIR")
    path, onnx_path, index_path = (weights_dir / n for n in (f"{model_name}.pt", f"{model_name}.onnx", "weights.json"))
    if onnx:
        _check_onnx(model_name, onnx_path)
    index = _read_index(index_path)
    old = _recorded_iou(index, model_name, index_path)
    try:
        held = path.read_bytes()  # the file there now, read once: compared, and kept if the same
    except OSError:  # missing or unreadable: not the same weights
        held = None
    same = held is not None and _holds_state(held, state)
    new = ck.get("val_iou", old if same else None)
    if new is not None and not _is_score(new):
        raise WeightsError(f"{checkpoint} records a validation IoU of {new!r}, not a number")
    if not force and old is not None and new is None:
        # last.pt, or a plain state dict: nothing says it is as good as what it would replace
        raise InputError(
            f"{checkpoint} records no validation IoU (a run's best.pt and final.pt do; last.pt does not), and the "
            f"{model_name} weights in {weights_dir} scored {old:.4f}; export best.pt, or give --force to replace "
            f"them anyway"
        )
    if not force and old is not None and round(float(new), 4) < old:
        raise InputError(
            f"{checkpoint} scored validation IoU {float(new):.4f}, lower than the {old:.4f} of the {model_name} "
            f"weights in {weights_dir}; give --force to replace them anyway"
        )
    weights_dir.mkdir(parents=True, exist_ok=True)
    # Each file is written to a temporary copy of its own (``replacing``); the copies are
    # renamed into place as the contexts close, in the reverse order they were entered:
    # the weights, then the ONNX file (or the old one removed), weights.json last.
    with contextlib.ExitStack() as stack:
        index_tmp = stack.enter_context(replacing(index_path))
        if onnx:
            onnx_tmp = stack.enter_context(replacing(onnx_path))
        else:  # never leave an ONNX file that disagrees with the .pt
            stack.enter_context(_removed_on_success(onnx_path))
        if same:  # the same tensors: the file and its checksum stay
            data = held
        else:
            pt_tmp = stack.enter_context(replacing(path))
            torch.save(state, pt_tmp)
            data = pt_tmp.read_bytes()
        entry = index[model_name] = {
            "file": path.name,
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "parameters": sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k),
            "input_size": PRESETS[model_name].input_size,
            "val_iou": None if new is None else round(float(new), 4),
        }
        if onnx:
            export_onnx(model, onnx_tmp)
            onnx_data = onnx_tmp.read_bytes()
            entry["onnx_sha256"], entry["onnx_bytes"] = hashlib.sha256(onnx_data).hexdigest(), len(onnx_data)
        index_tmp.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return entry


def _read_index(index_path: Path) -> dict:
    """The weights folder's ``weights.json`` (empty when there is none yet); a file that is
    not a JSON object raises :class:`WeightsError` naming it, before anything is written."""
    if not index_path.exists():
        return {}
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WeightsError(f"{index_path} cannot be read as JSON ({str(exc).splitlines()[0]}); "
                           "fix or remove it, or export into another --weights-dir") from None
    if not isinstance(index, dict) or not all(isinstance(v, dict) for v in index.values()):
        raise WeightsError(f"{index_path} is not a weights index (an object of one entry per preset); "
                           "fix or remove it, or export into another --weights-dir")
    return index


def _recorded_iou(index: dict, model_name: str, index_path: Path) -> float | None:
    """The validation IoU ``weights.json`` records for ``model_name``, or None."""
    value = index.get(model_name, {}).get("val_iou")
    if value is None:
        return None
    if not _is_score(value):
        raise WeightsError(f"{index_path}: the {model_name} entry's val_iou is {value!r}, not a number")
    return float(value)


def _is_score(value) -> bool:
    """Whether a recorded validation IoU is a finite number (not a bool, a string, NaN)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _holds_state(data: bytes, state: dict) -> bool:
    """Whether the weights file's bytes ``data`` hold exactly the tensors of ``state``."""
    try:
        held = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - unreadable: not the same weights
        return False
    return (
        isinstance(held, dict) and held.keys() == state.keys()
        and all(isinstance(held[k], torch.Tensor) and held[k].dtype == v.dtype and held[k].shape == v.shape
                and torch.equal(held[k], v) for k, v in state.items())
    )


@contextlib.contextmanager
def _removed_on_success(path: Path):
    """Remove ``path`` when the block ends normally; leave it when the block raises."""
    yield
    path.unlink(missing_ok=True)


def _check_onnx(model_name: str, onnx_path: Path) -> None:
    """Refuse an export that could not write ``onnx_path`` (the onnx package is missing)."""
    try:
        import onnx  # noqa: F401 - needed by torch.onnx.export
    except ImportError:
        raise InputError(
            f"exporting {model_name} needs the onnx package to write {onnx_path.name} for the ONNX "
            f"Runtime and OpenCV backends: `pip install onnx`, or give --no-onnx to ship the PyTorch weights alone"
        ) from None


def export_onnx(model: HairNet, path: Path) -> None:
    """Export ``model`` (BatchNorm folded, eval mode) to ONNX for ONNX Runtime and OpenCV's DNN module."""
    import copy

    import onnx  # noqa: F401 - fail early with ImportError when the package is missing

    from ..model import fuse_batchnorm

    net = fuse_batchnorm(copy.deepcopy(model).eval().to(memory_format=torch.contiguous_format))
    side = net.config.input_size
    x = torch.zeros(1, 4, side, side)
    # Height and width are free: the segmenter runs the network on a canvas cut to the
    # frame's shape (multiples of the stride), not always the square it was traced on.
    free = {2: "height", 3: "width"}
    # The TorchScript exporter: the only one before PyTorch 2.5, which added `dynamo=` to choose
    # it (the default from 2.9 is the other); hairfx takes PyTorch 2.3 on.
    choose = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(net, (x,), str(path), **choose, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": free, "logits": free})


def build_parser() -> argparse.ArgumentParser:
    summary = (__doc__ or "").partition("\n")[0]  # no docstrings under python -OO
    return cli_args.train(ArgumentParser(prog="hairfx train", description=summary))


def run(args: argparse.Namespace) -> int:
    cli_args.check_train(args)
    if args.export is not None:
        info = export_weights(args.export, args.model, args.weights_dir or WEIGHTS_DIR,
                              onnx=not args.no_onnx, force=args.force)
        print(f"exported {args.model}: {info}")
        return 0
    out = args.out or Path("runs") / args.model
    train(model_name=args.model, data=args.data, out=out, minutes=args.minutes, batch=args.batch,
          lr=args.lr, threads=args.threads, resume=args.resume, max_wall_minutes=args.max_wall_minutes, init=args.init,
          device=args.device, workers=args.workers, crop=args.crop, hard=args.hard_emphasis, distill=args.distill,
          teachers=args.teacher, cache_dir=args.cache,
          log=lambda s: print(s, flush=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
