"""Names of the mask-model presets and runtimes, importable without OpenCV or PyTorch.

Argument parsers (``hairfx``, the webcam example, the training commands) take their
choices from here, so ``--help`` stays instant and the names are written once.
"""

from __future__ import annotations

__all__ = ["MODEL_NAMES", "BACKENDS", "MASK_BACKENDS", "ENSEMBLE_PRESET", "ENSEMBLE_PARTNER", "check_model_name"]

#: Presets, fastest first. "small" runs the network at 256x256, "full" at 512x512.
MODEL_NAMES = ("small", "full")

#: Inference runtimes. "onnxruntime" runs the shipped ONNX export with ONNX Runtime,
#: "opencv" runs it with OpenCV's DNN module, "torch" runs the PyTorch weights; "auto"
#: picks per preset the one that measured fastest end to end on a 2-core CPU (see the
#: model card's speed table).
BACKENDS = ("auto", "onnxruntime", "opencv", "torch")

#: The concrete runtimes (every backend but "auto").
MASK_BACKENDS = BACKENDS[1:]

#: The preset whose masks may average its own network with :data:`ENSEMBLE_PARTNER`'s on
#: the mirrored frame (``Segmenter(name, ensemble=True)``).
ENSEMBLE_PRESET = "full"
ENSEMBLE_PARTNER = "small"


def check_model_name(name) -> str:
    """``name`` if it is one of :data:`MODEL_NAMES`, else an ``InputError`` listing them."""
    if name not in MODEL_NAMES:
        from .errors import InputError

        raise InputError(f"unknown model {name!r}; valid models are: {', '.join(MODEL_NAMES)}")
    return name
