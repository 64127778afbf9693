"""Names of the mask-model presets and runtimes, importable without OpenCV or PyTorch.

Argument parsers (``hairfx``, the webcam example, the training commands) take their
choices from here, so ``--help`` stays instant and the names are written once.
"""

from __future__ import annotations

__all__ = [
    "MODEL_NAMES", "BACKENDS", "MASK_BACKENDS", "ENSEMBLE_PRESET", "ENSEMBLE_PARTNER", "check_model_name",
    "resolve_ensemble", "add_ensemble_argument", "ensemble_from_args",
]

#: Presets, fastest first. "small" runs the network at 256x256, "full" at 512x512.
MODEL_NAMES = ("small", "full")

#: Inference runtimes. "onnxruntime" runs the shipped ONNX export with ONNX Runtime,
#: "opencv" runs it with OpenCV's DNN module, "torch" runs the PyTorch weights; "auto"
#: picks per preset the one that measured fastest end to end on a 2-core CPU (see the
#: model card's speed table).
BACKENDS = ("auto", "onnxruntime", "opencv", "torch")

#: The concrete runtimes (every backend but "auto").
MASK_BACKENDS = BACKENDS[1:]

#: The preset whose masks average its own network with :data:`ENSEMBLE_PARTNER`'s on the
#: mirrored frame: by default, or ``ensemble=False`` for its network alone.
ENSEMBLE_PRESET = "full"
ENSEMBLE_PARTNER = "small"


def check_model_name(name) -> str:
    """``name`` if it is one of :data:`MODEL_NAMES`, else an ``InputError`` listing them."""
    if name not in MODEL_NAMES:
        from .errors import InputError

        raise InputError(f"unknown model {name!r}; valid models are: {', '.join(MODEL_NAMES)}")
    return name


def resolve_ensemble(name: str, ensemble) -> bool:
    """Whether preset ``name`` runs as the ensemble: ``ensemble`` as given (True or False),
    or, for None, the preset's default (the ensemble for :data:`ENSEMBLE_PRESET`, a
    single network for the others). ``ensemble=True`` for another preset is refused."""
    from ._options import flag

    if ensemble is None:
        return name == ENSEMBLE_PRESET
    if flag(ensemble, "ensemble") and name != ENSEMBLE_PRESET:
        from .errors import InputError

        raise InputError(f"ensemble=True is for the {ENSEMBLE_PRESET!r} preset only, not {name!r}")
    return bool(ensemble)


def add_ensemble_argument(parser) -> None:
    """``--ensemble / --no-ensemble`` for a command with ``--model``; read it back with
    :func:`ensemble_from_args`."""
    import argparse

    parser.add_argument(
        "--ensemble", action=argparse.BooleanOptionalAction, default=None,
        help=f"with --model {ENSEMBLE_PRESET}: average its network with the {ENSEMBLE_PARTNER} one on the mirrored "
             f"image (the default); --no-ensemble runs the {ENSEMBLE_PRESET} network alone, in about two "
             f"thirds of the time",
    )


def ensemble_from_args(args) -> bool:
    """:func:`resolve_ensemble` of ``args.model`` and ``args.ensemble``, refusing
    ``--ensemble`` with another model in the command's own terms (before any work)."""
    if args.ensemble and args.model != ENSEMBLE_PRESET:
        from .errors import InputError

        raise InputError(f"--ensemble needs --model {ENSEMBLE_PRESET} (the ensemble adds the {ENSEMBLE_PARTNER} "
                         f"network to the {ENSEMBLE_PRESET} one), got --model {args.model}")
    return resolve_ensemble(args.model, args.ensemble)
