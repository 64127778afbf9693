"""Names and shapes of the mask-model presets, and the runtimes, importable without OpenCV
or PyTorch.

Argument parsers (``hairfx``, the webcam example, the training commands) take their
choices from here, so ``--help`` stays instant and the names are written once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "HairNetConfig", "PRESETS", "MODEL_NAMES", "BACKENDS", "MASK_BACKENDS", "ENSEMBLE_PRESET", "ENSEMBLE_PARTNER",
    "check_model_name", "resolve_ensemble", "add_ensemble_argument", "ensemble_from_args",
]


@dataclass(frozen=True)
class HairNetConfig:
    """Hyper-parameters of one preset.

    ``widths[0]`` is the stem width at 1/4 resolution; each further width adds one
    stride-2 level. ``depths`` gives the number of encoder bottlenecks per level.
    """

    input_size: int
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    squeeze: int = 16
    min_mid: int = 8
    head_channels: int = 4
    dense_growth: int = 4
    dense_layers: int = 1
    dilated_levels: int = 1

    @property
    def stride(self) -> int:
        """Total downsampling: the stride-4 stem, then one stride-2 stage per further width."""
        return 4 * 2 ** (len(self.widths) - 1)


#: Table-1-style presets: the same family at 256x256 ("small") and 512x512 ("full").
#: The full preset adds one level so its lowest level sees the same fraction of the
#: frame. The small preset's lowest level, an 8x8 grid, is 256 channels wide, squeezed
#: 16x to 16 in its bottlenecks: the context that tells a hat or a dark wall from hair
#: is decided there, and at 8x8 the width costs 0.1-0.2 ms. Its 1/8 and 1/16 levels are
#: 48 and 128 wide, and its 1/16 and 1/32 levels three and four bottlenecks deep: grown
#: from 32/64 wide and two/three deep (:func:`~hairfx.model.transfer_weights` keeps what
#: the smaller network computed) and trained on a GPU, they raised the validation IoU by 0.006 for
#: about 0.5 ms (model card). The full preset's deepest level was widened the same way
#: and trained as long on the CPU, but gained too little to pay for its 0.5 ms; a full
#: preset widened and deepened like the small one gained 0.0015 on the GPU, not shipped.
PRESETS: dict[str, HairNetConfig] = {
    "small": HairNetConfig(input_size=256, widths=(16, 48, 128, 256), depths=(1, 2, 3, 4)),
    "full": HairNetConfig(
        input_size=512, widths=(16, 32, 64, 128, 128), depths=(1, 2, 2, 3, 2), dilated_levels=2
    ),
}


#: Presets, fastest first. "small" runs the network at 256x256, "full" at 512x512.
MODEL_NAMES = tuple(PRESETS)

#: Inference runtimes. "onnxruntime" runs the shipped ONNX export with ONNX Runtime,
#: "opencv" runs it with OpenCV's DNN module, "torch" runs the PyTorch weights (PyTorch is
#: the torch extra, not a requirement); "auto" picks per preset the one that measured
#: fastest end to end on a 2-core CPU (see the model card's speed table).
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


def add_zoom_argument(parser) -> None:
    """``--no-zoom`` for a command that masks photos with the model; read back as ``args.zoom``
    (see :meth:`hairfx.segmenter.Segmenter.predict`)."""
    parser.add_argument(
        "--no-zoom", dest="zoom", action="store_false",
        help="the model sees the whole frame, once; by default a head small in the frame is seen again on the "
             "square around its hair, at the scale the model learnt (a video: from frame to frame), and a frame "
             "where no hair is found is searched in squares of half its side (a video: one a frame)",
    )


def ensemble_from_args(args) -> bool:
    """:func:`resolve_ensemble` of ``args.model`` and ``args.ensemble``, refusing
    ``--ensemble`` with another model in the command's own terms (before any work)."""
    if args.ensemble and args.model != ENSEMBLE_PRESET:
        from .errors import InputError

        raise InputError(f"--ensemble needs --model {ENSEMBLE_PRESET} (the ensemble adds the {ENSEMBLE_PARTNER} "
                         f"network to the {ENSEMBLE_PRESET} one), got --model {args.model}")
    return resolve_ensemble(args.model, args.ensemble)
