"""Ctrl-C while a hairfx command loads: one line and status 130, not a traceback.

Loading hairfx takes a few tenths of a second (numpy, OpenCV, ONNX Runtime), and a Ctrl-C in
that time raised ``KeyboardInterrupt`` from inside whichever module was loading, where a
command stopped at any later moment says one line and exits with status 130. Nothing needs
cleaning up before a command starts, so until the command sets its own handling
(:func:`hairfx.errors.run_main`) Ctrl-C ends the process at once with that line and status.

The package's ``__init__`` calls :func:`set_up_command_start` before any other import, and
this module imports nothing but the standard library. It acts only in the processes that
are a hairfx command: the ``hairfx`` and ``hairfx-lut`` console scripts and ``python -m
hairfx``. A program that imports hairfx keeps its own Ctrl-C handling.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["interrupt_quietly", "set_up_command_start"]

#: The console scripts (pyproject.toml's ``[project.scripts]``).
COMMANDS = ("hairfx", "hairfx-lut")


def interrupt_quietly(name: str) -> None:
    """Make Ctrl-C (SIGINT) end the process with ``"NAME: interrupted"`` on standard error
    and status 130, without raising: for the time before a command starts, and after it has
    ended (:func:`hairfx.errors.run_main` puts this handler back when it returns)."""
    line = os.fsencode(name) + b": interrupted\n"

    def interrupted(signum, frame):
        try:
            os.write(2, line)
        except OSError:  # no standard error: the status still says it
            pass
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, interrupted)


def _python_m_target() -> str | None:
    """The module ``python -m NAME`` runs, while Python imports its packages to find it
    (``sys.argv[0]`` is then ``"-m"``); None at any other time. ``sys.orig_argv`` holds
    ``-m NAME`` or ``-mNAME`` (with flags before the ``m``: ``-Bm``) just before the arguments."""
    argv, orig = sys.argv, getattr(sys, "orig_argv", [])
    if argv[:1] != ["-m"] or len(orig) < len(argv) + 1:
        return None
    token = orig[len(orig) - len(argv)]
    return token.partition("m")[2] if token.startswith("-") else token


def _console_script() -> str | None:
    """The console script this process runs (``hairfx`` or ``hairfx-lut``), from the name it
    was started by: pip's launcher is the script itself (``.../bin/hairfx``) or, on Windows,
    ``hairfx.exe`` or ``hairfx-script.py``; None for any other program."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    for suffix in (".exe", "-script.py", "-script.pyw"):
        name = name.removesuffix(suffix)
    return name if name in COMMANDS else None


def set_up_command_start() -> None:
    """Where this process is a hairfx command (:data:`COMMANDS`, or ``python -m hairfx``),
    Ctrl-C until the command starts is :func:`interrupt_quietly`'s; elsewhere nothing changes.
    Nor in a worker the command starts with multiprocessing's "spawn" method (PyTorch's
    DataLoader workers on macOS and Windows): it is given the command's ``sys.argv`` before it
    imports hairfx, and Ctrl-C there is the command's to report, as Python's default leaves it."""
    if "--multiprocessing-fork" in getattr(sys, "orig_argv", ()):  # spawn's worker (multiprocessing.spawn)
        return
    if _python_m_target() in ("hairfx", "hairfx.__main__"):
        interrupt_quietly("hairfx")
    else:
        name = _console_script()
        if name is not None:
            interrupt_quietly(name)
