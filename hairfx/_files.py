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
    _remove_orphans(path)
    # not mkstemp: its file is private (0600), and the renamed result would keep that mode
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_orphans(path: Path) -> None:
    """Remove temporary copies of ``path`` left by processes that were killed (SIGKILL, out
    of memory) while writing it; they would otherwise stay, each as large as the file."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # its writer is gone
            tmp.unlink(missing_ok=True)
        except OSError:  # alive, someone else's: leave it
            pass
