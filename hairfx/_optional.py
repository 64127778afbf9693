"""The packages of hairfx's extras, imported where they are needed.

PyTorch is an extra, not a requirement: recolouring and hair masks run the shipped ONNX
networks on ONNX Runtime (or OpenCV), and a bare ``torch`` requirement would pull the
CUDA build, several GB, onto every machine. The torch backend and ``hairfx.model`` need
the ``torch`` extra; ``hairfx train`` needs the ``train`` extra (PyTorch and threadpoolctl).
"""

from __future__ import annotations

import importlib

from .errors import MissingDependency

__all__ = ["require"]

#: The name a user knows each optional package by.
PACKAGES = {"torch": "PyTorch", "threadpoolctl": "threadpoolctl"}


def require(module: str, what: str, extra: str):
    """The module ``module`` (``"torch"``), imported; where it cannot be, a
    :class:`~hairfx.errors.MissingDependency` saying that ``what`` (``"the torch backend"``)
    needs it and that ``pip install "hairfx[EXTRA]"`` installs it.

    >>> require("math", "the example", "torch").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = PACKAGES.get(module, module)
        top = module.partition(".")[0]
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "").partition(".")[0] == top:
            state = "which is not installed"
        else:  # there, but broken (a library it loads is missing): say what failed
            state = f"which cannot be imported ({exc})"
        raise MissingDependency(f'{what} needs {package}, {state}: pip install "hairfx[{extra}]"') from None
