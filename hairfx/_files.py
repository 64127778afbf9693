"""Writing files so that a failure or an interruption never leaves one half-written."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block
    ends normally and removed when it raises, so ``path`` is never left half-written.
    The temporary name is unique, so two processes writing the same file do not write
    into each other's half-finished copy (the last rename wins, whole)."""
    # not mkstemp: its file is private (0600), and the renamed result would keep that mode
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
