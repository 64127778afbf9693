"""The ``with`` protocol shared by every object that holds a resource (a GL context, a
camera, a video pipe, a model session): ``__exit__`` calls the class's ``close()``."""

from __future__ import annotations


class Closeable:
    """Mixin: ``with obj: ...`` closes ``obj`` on the way out, exception or not."""

    def close(self) -> None:  # pragma: no cover - every user defines it
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
