"""The ``with`` protocol shared by every object that holds a resource (a GL context, a
camera, a video pipe, a model session): ``__exit__`` calls the class's ``close()``; their
refusal to be pickled; and the guard of the objects whose frames are one stream (the video
sessions)."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from .errors import InputError


class Closeable:
    """Mixin: ``with obj: ...`` closes ``obj`` on the way out, exception or not.

    Such an object holds something of its own process (a GL context, an open file, a child
    process, a video stream's state) that another process cannot be given, so pickling it
    (sending it to a ``multiprocessing`` worker, say) or copying it raises a ``TypeError``
    that names the class and says what to do instead (:attr:`_not_pickled`), rather than
    Python's own naming whichever object inside it failed first. A class whose objects can
    be made again elsewhere defines ``__reduce__`` to do so."""

    #: Why an object of the class cannot be pickled and what to do instead, after
    #: "cannot pickle a NAME: ".
    _not_pickled = "it holds resources of the process that made it; make one in each process"

    def close(self) -> None:  # pragma: no cover - every user defines it
        raise NotImplementedError

    def __reduce__(self):
        raise TypeError(f"cannot pickle a {type(self).__name__}: {self._not_pickled}")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StreamGuard:
    """One frame at a time for an object whose frames are one stream (a video session),
    whichever thread gives them: a frame given while another thread's is in hand raises
    :class:`~hairfx.errors.InputError` (the two streams' previous masks would cross), and
    so does one given once closing has begun. :meth:`between_frames` (a reset) and
    :meth:`closing` wait for the frame in hand. Re-entrant: a close from the frame's own
    thread (a signal handler's, say) does not wait for itself."""

    def __init__(self, owner: str, closed_message: str) -> None:
        self._lock = threading.RLock()
        self._owner = owner
        self._closed_message = closed_message
        self.closed = False

    @contextmanager
    def frame(self):
        """Held for one frame."""
        if not self._lock.acquire(blocking=False):
            if self.closed:  # held by closing(), not by a frame
                raise InputError(self._closed_message)
            raise InputError(
                f"this {self._owner} is processing a frame in another thread; its frames are one "
                "sequence: give them one at a time, or make a session per stream"
            )
        try:
            if self.closed:
                raise InputError(self._closed_message)
            yield
        finally:
            self._lock.release()

    @contextmanager
    def between_frames(self):
        """Held after the frame in hand, not in its middle."""
        with self._lock:
            yield

    @contextmanager
    def closing(self):
        """Frames given from now on are refused as to a closed object; held after the
        frame in hand, for the release of what the object holds."""
        self.closed = True
        with self._lock:
            yield
