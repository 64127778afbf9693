"""The exceptions hairfx raises.

Every error hairfx raises on purpose derives from :class:`HairfxError`, so a
caller can catch them all at once. Errors about a caller's input also derive
from the matching built-in (``ValueError``, ``KeyError``, ``FileNotFoundError``)
so code that already catches those keeps working.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import threading
import warnings

__all__ = [
    "HairfxError",
    "InputError",
    "MissingFileError",
    "LutFormatError",
    "UnknownColorError",
    "RendererUnavailable",
    "WeightsError",
    "CameraError",
    "DeviceUnavailable",
    "MissingDependency",
    "Interrupted",
    "OutputError",
    "stop_signals_interrupt",
    "run_command",
    "run_main",
]


class HairfxError(Exception):
    """Base class of every error hairfx raises on purpose.

    :attr:`reason` is what went wrong without what the message puts around it, for a caller
    that words the rest itself: ``"not an image OpenCV can read"`` for the message
    ``"photo.jpg: not an image OpenCV can read"`` (``hairfx mask`` names the file it skips),
    the cause without the advice to use the CPU renderer (``hairfx bench`` times it anyway).
    """

    def __init__(self, *args, reason: str | None = None):
        super().__init__(*args)
        self._reason = reason

    @property
    def reason(self) -> str:
        """The ``reason=`` the error was raised with, else its whole message."""
        reason = getattr(self, "_reason", None)
        return str(self) if reason is None else reason


class InputError(HairfxError, ValueError):
    """A frame, mask or option given by the caller is not what was expected."""


class MissingFileError(InputError, FileNotFoundError):
    """A file hairfx was asked to read does not exist."""


class LutFormatError(HairfxError, ValueError):
    """A LUT file or colour folder is malformed; the message names the file and line."""


class UnknownColorError(HairfxError, KeyError):
    """A colour name that is not in the registry; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class RendererUnavailable(HairfxError, RuntimeError):
    """The requested renderer cannot start (for example no OpenGL/EGL context)."""


class WeightsError(HairfxError, RuntimeError):
    """Model weights are missing, corrupt or fail their recorded SHA-256."""


class CameraError(HairfxError, RuntimeError):
    """A camera or video source could not be opened or stopped delivering frames."""


class DeviceUnavailable(HairfxError, RuntimeError):
    """The device asked for (a CUDA GPU for training) is not there."""


class MissingDependency(HairfxError, ImportError):
    """A package of one of hairfx's extras is not installed (PyTorch, for the torch backend
    and for training); the message says what needed it and what to install."""


class Interrupted(KeyboardInterrupt):
    """A stop asked for by a signal (SIGINT, SIGTERM, SIGHUP); ``signum`` says which.

    A ``KeyboardInterrupt``, so the same clean-up runs as for Ctrl-C (a video being written
    is discarded, a training run saves its checkpoint); the command-line tools then exit
    with ``128 + signum``, as a shell reports a process killed by that signal.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    def __reduce__(self):  # made again from the number (args hold the name): pickled to another process
        return type(self), (self.signum,)


#: The signals that ask a command to stop besides Ctrl-C's SIGINT: ``kill`` and a job
#: scheduler's SIGTERM, a closed terminal's SIGHUP (where the platform has it).
STOP_SIGNALS = (signal.SIGTERM, *([signal.SIGHUP] if hasattr(signal, "SIGHUP") else []))


@contextlib.contextmanager
def signal_handlers(handler, signums):
    """``handler`` for each signal of ``signums`` for the block, the previous handlers put
    back after it. Only the main thread can set handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def stop_signals_interrupt():
    """SIGTERM and SIGHUP (``kill``, a closed terminal, a job scheduler) raise
    :class:`Interrupted` as Ctrl-C raises ``KeyboardInterrupt``, so that the same clean-up
    runs: without it they end the process at once and leave a half-written file. A context
    manager (:func:`run_main` sets it, with Ctrl-C, for a command-line tool)."""

    def stop(signum, frame):
        raise Interrupted(signum)

    return signal_handlers(stop, STOP_SIGNALS)


#: How an error or warning that suggests the CPU renderer names it: the Python API's argument.
#: A command-line tool names its own option instead (:func:`run_main`'s ``renderer_option``).
USE_CPU = "renderer='cpu'"


def run_main(name: str, run, *, errors: tuple = (HairfxError,), stopped: str = "",
             renderer_option: str | None = None) -> int:
    """For a command-line tool's ``main``: the exit status of ``run()`` (:func:`run_command`),
    with what stopped it said in one line on standard error after ``name``
    (``"hairfx video"``):

    * an error of ``errors``: ``"NAME: error: ..."``, status 2 (any other is raised);
    * Ctrl-C, SIGTERM or SIGHUP: ``"NAME: interrupted"`` and ``stopped`` after it, status
      128 + the signal. During the run the first raises :class:`Interrupted`, so that its
      clean-up runs (a half-written file is removed, threads are joined); without it SIGTERM
      and SIGHUP end the process at once. A second one lets that clean-up finish: raised
      inside it, it had left a reading thread running into the interpreter's exit, which
      aborted the process ("terminate called without an active exception", status -6). A
      third ends the process at once, with the same line. An error that follows one of them
      is taken for it: a module that was loading when it came may have made it an error of
      its own (an extension's "ImportError: initialization failed", then "install
      onnxruntime").

    Warnings are printed as their message alone: hairfx's read as sentences ("hairfx: ..."),
    and the source line of the library that raised them tells a user nothing. Where the tool
    picks the renderer with an option (``renderer_option="--renderer"``), the errors and
    warnings that suggest :data:`USE_CPU` name that option instead (``--renderer cpu``)."""
    stops: list[int] = []  # the signals that came during the run

    def say(message) -> str:
        text = str(message)
        return text.replace(USE_CPU, f"{renderer_option} cpu") if renderer_option else text

    def stop(signum, frame):
        stops.append(signum)
        if len(stops) == 1:
            raise Interrupted(signum)
        if len(stops) > 2:  # asked a third time: the clean-up is taking too long for the user
            try:
                os.write(2, os.fsencode(f"{name}: interrupted{stopped}\n"))
            except OSError:
                pass
            os._exit(128 + stops[0])

    try:
        with signal_handlers(stop, (signal.SIGINT, *STOP_SIGNALS)), warnings.catch_warnings():
            warnings.showwarning = lambda message, *_args, **_kw: print(say(message), file=sys.stderr)
            return run_command(run)
    except KeyboardInterrupt as exc:
        signum = getattr(exc, "signum", signal.SIGINT)
    except Exception as exc:
        if not stops:
            if isinstance(exc, errors):
                print(f"{name}: error: {say(exc)}", file=sys.stderr)
                return 2
            raise
        signum = stops[0]
    print(f"{name}: interrupted{stopped}", file=sys.stderr)
    return 128 + signum


def run_command(run) -> int:
    """For a command's ``main``: the exit status of ``run()`` (0 for None), with standard
    output flushed before it returns, so that a program reading it that has stopped early
    (``hairfx colors -v | head -1``) is met here and not at exit. That is not an error: the
    status is then 141, as for a program ended by SIGPIPE (:func:`_reader_left`). Standard
    output that cannot be written (a full disk, ``> /dev/full``, an I/O error) raises
    :class:`OutputError`, which the command reports as its other errors, in one line."""
    stdout = guard = sys.stdout
    # sys.stdout is the whole process's: swapped only by the main thread, as signal handlers
    # are set, so that runs overlapping in other threads cannot leave the guard in place
    if threading.current_thread() is threading.main_thread():
        guard = sys.stdout = _GuardedStdout(stdout)
    try:
        code = int(run() or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _reader_left()
    except _StdoutFailed as exc:
        _drop_stdout(stdout)
        raise OutputError(f"cannot write standard output: {exc.__cause__.strerror or exc.__cause__}") from None
    finally:
        if sys.stdout is guard:
            sys.stdout = stdout


class OutputError(HairfxError, OSError):
    """Standard output could not be written (a full disk, an I/O error)."""


class _StdoutFailed(Exception):
    """A write to standard output failed for another reason than its reader leaving."""


class _GuardedStdout:
    """Standard output for a command's run: a write or flush that fails raises
    :class:`_StdoutFailed` (but a broken pipe stays :class:`BrokenPipeError`), so that
    :func:`run_command` tells that failure from an ``OSError`` of anything else."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def _call(self, name: str, *args):
        try:
            return getattr(self._stream, name)(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutFailed() from exc

    def write(self, text):
        return self._call("write", text)

    def writelines(self, lines):
        return self._call("writelines", lines)

    def flush(self):
        return self._call("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _drop_stdout(stream) -> None:
    """After standard output failed: what is left in its buffer is sent to ``os.devnull``,
    so that Python's flush at exit does not fail a second time with a traceback."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stand-in without a descriptor: nothing flushes it at exit
        pass


def _reader_left() -> int:
    """After a :class:`BrokenPipeError`: 141 when standard output is a pipe or socket (its
    reader has gone), with what is left in the output buffer sent to ``os.devnull`` so that
    Python's flush at exit does not fail a second time; the error is raised again when it
    came from anything else. Call it from the ``except`` clause."""
    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
        piped = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
    except (OSError, ValueError, AttributeError):  # no stdout, a closed one, or a stand-in without a descriptor
        piped = False
    if not piped:
        raise
    _drop_stdout(sys.stdout)
    return 128 + signal.SIGPIPE
