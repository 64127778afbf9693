"""Writing files so that a failure or an interruption never leaves one half-written."""

from __future__ import annotations

import argparse
import os
import re
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import InputError, MissingFileError


def as_path(value, what: str) -> Path:
    """``value``, a path given as ``str``, ``bytes`` or ``os.PathLike``, as a :class:`Path`;
    anything else (a number, an open file, None) raises :class:`~hairfx.errors.InputError`
    naming ``what``, where ``Path()`` would raise a bare ``TypeError``.

    >>> as_path(3, "video")
    Traceback (most recent call last):
    hairfx.errors.InputError: video must be a path (str or os.PathLike), got int 3
    """
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    if isinstance(value, bytes):
        return Path(os.fsdecode(value))
    raise InputError(f"{what} must be a path (str or os.PathLike), got {type(value).__name__} {value!r}")


def check_readable_file(path: Path, what: str, kind: str, *, shown: str | None = None) -> None:
    """Raise :class:`~hairfx.errors.InputError` ``"WHAT P is a folder, not KIND"`` when
    ``path`` is a folder (likewise a pipe, socket or device) and
    :class:`~hairfx.errors.MissingFileError` ``"WHAT not found: P"`` when nothing is there;
    ``P`` is ``shown`` when given, else the path."""
    shown = str(path) if shown is None else shown
    if path.is_dir():
        raise InputError(f"{what} {shown} is a folder, not {kind}", reason=f"it is a folder, not {kind}")
    if path.exists() and not path.is_file():
        raise InputError(f"{what} {shown} is a pipe, socket or device, not {kind}",
                         reason=f"it is a pipe, socket or device, not {kind}")
    if not path.is_file():
        raise MissingFileError(f"{what} not found: {shown}", reason="not found")


def path_argument(text: str) -> str:
    """argparse ``type`` for a file or folder argument: refuses an empty one (``--mask "$MASK"``
    with the variable unset), which would otherwise read as "none given" or as ".".

    >>> path_argument("")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: an empty path (is a shell variable unset?)
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (is a shell variable unset?)")
    return text


def write_target(path: Path) -> Path:
    """The file that writing ``path`` replaces: ``path`` itself, or, where ``path`` is a
    symbolic link, the file it points at (through a chain of links), so the link stays a
    link and its target gets the new content, as ``cp``, a shell's ``>``, Pillow's ``save``
    and OpenCV's ``imwrite`` do. A link to a file not made yet gives that file (made as
    ``open`` makes it: the link may come before what it points at); a link into a folder
    that does not exist, or a loop of links, raises :class:`~hairfx.errors.InputError`
    naming both, where writing would fail with "No such file or directory" or "Too many
    levels of symbolic links"."""
    if not path.is_symlink():
        return path
    loop = InputError(f"cannot write {path}: it is a symbolic link in a loop of links")
    try:
        target = Path(os.path.realpath(path, strict=True))
    except FileNotFoundError:  # a link to a file not made yet: the file it names
        target = path.resolve()
    except (OSError, RuntimeError):  # ELOOP
        raise loop from None
    if target.is_symlink():  # Python 3.13's resolve() gives a loop back as it is, without raising
        raise loop
    if not target.parent.is_dir():
        raise InputError(f"cannot write {path}: it is a symbolic link to {target}, whose folder does not exist")
    return target


class Replacement:
    """A temporary file :attr:`tmp` to write, beside :attr:`target`, the file that writing
    ``path`` replaces (:func:`write_target`: where ``path`` is a symbolic link, the file it
    points at, so that the rename stays on one file system); :meth:`commit` renames it onto
    the target, :meth:`discard` removes it. Its name is unique
    (``.NAME.PID.RANDOM.tmp``, and ``suffix`` after it: ``.tmp.mp4`` for writers that
    choose the format by the extension), so two processes writing the same file do not
    write into each other's half-finished copy (the last rename wins, whole), and a copy
    whose process was killed is found and removed by the next write (:func:`_remove_orphans`).
    A file that is replaced keeps its permission bits (one made read-only stays so, a shared
    one stays group-writable); a new one gets the mode ``open`` gives under the umask. Where
    the target's name is so long that this name would pass the longest its folder takes,
    the temporary one holds only the start of it (:func:`_tmp_name`)."""

    def __init__(self, path: Path, *, suffix: str = ""):
        self.target = write_target(path)
        _remove_orphans(self.target)
        # not mkstemp: its file is private (0600), and the renamed result would keep that mode
        tail = f".{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}"
        self.tmp = self.target.with_name(_tmp_name(self.target.name, tail, _name_max(self.target.parent)))

    def commit(self) -> None:
        try:
            mode = stat.S_IMODE(os.stat(self.target).st_mode)
        except FileNotFoundError:  # a new file
            mode = None
        if mode is not None:
            os.chmod(self.tmp, mode)  # the rename puts the new file, with its own mode, in the old one's place
        self.tmp.replace(self.target)

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path (:class:`Replacement`) to write to; renamed onto ``path`` (or onto the
    file it points at, where ``path`` is a symbolic link) when the block ends normally and
    removed when it raises, so ``path`` is never left half-written."""
    replacement = Replacement(path)
    try:
        yield replacement.tmp
        replacement.commit()
    finally:
        replacement.discard()


def check_folder(folder: Path, doing: str, *, writable: bool = False, hint: str = "") -> None:
    """Raise :class:`~hairfx.errors.InputError` ``"{doing}: F is a file, not a folder"``
    when ``folder`` is, or lies under, a file ``F`` (where ``mkdir`` would only say
    "File exists"); with ``writable``, also ``"{doing}: F is not writable{hint}"`` when
    ``F``, the nearest existing folder, takes no new files; and one naming ``F`` when a
    ``..`` in ``folder`` follows ``F``, a folder that does not exist
    (:func:`folder_obstacle`)."""
    obstacle = folder_obstacle(folder, writable=writable)
    if obstacle is not None:
        where, why = obstacle
        if why == "missing":
            raise InputError(f"{doing}: {missing_folder_text(where)}")
        raise InputError(f"{doing}: {where} is a file, not a folder" if why == "file" else
                         f"{doing}: {where} is not writable{hint}")


@contextmanager
def output_file(path: str | os.PathLike) -> Iterator[Path]:
    """``path``, with its missing parent folders created for the block that writes it, and
    removed again (if still empty) when the block raises, so a failed command leaves nothing.
    A parent that is a file is refused first, naming it, and so is a symbolic link that
    cannot be written through (:func:`write_target`)."""
    path = Path(path)
    check_parent(path)
    write_target(path)
    missing = [d for d in path.parents if not d.exists()]  # the nearest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only file system, no permission
        raise InputError(f"cannot write {path}: cannot make folder {path.parent}: {exc.strerror or exc}") from None
    try:
        yield path
    except BaseException:
        for d in missing:
            try:
                d.rmdir()
            except OSError:  # not empty: something else wrote there meanwhile
                break
        raise


@contextmanager
def made_folders(folder: Path) -> Iterator[Path]:
    """``folder``, made with its missing parents for the block, and those it made removed
    again (the nearest first, each only while empty) when the block raises: a command that
    fails leaves no folder it made, and never removes one that was there."""
    folder = Path(folder)
    missing = [d for d in (folder, *folder.parents) if not d.exists()]  # the nearest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
    except BaseException:
        for d in missing:
            try:
                d.rmdir()
            except OSError:  # not empty (something else wrote there meanwhile), or never made
                break
        raise


def check_parent(path: Path) -> None:
    """Refuse a ``path`` whose folder is, or lies under, a file (where ``mkdir`` would
    only say "File exists"), naming that file."""
    check_folder(path.parent, f"cannot write {path}")


def check_new_file(path: Path, hint: str) -> None:
    """Refuse, before any work, a file that must go into an existing folder: a folder at
    ``path`` (the message ends with ``hint``, how to name a file), a folder that is, or
    lies under, a file, a folder that does not exist, and a symbolic link that cannot be
    written through (:func:`write_target`)."""
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; {hint}")
    check_parent(path)
    if not path.parent.is_dir():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    write_target(path)


def check_output_file(path: Path, example: str) -> None:
    """Refuse, before any work, a file output that could not be written: a folder at
    ``path`` (the hint gives ``example``, a file name), a parent folder that is, or lies
    under, a file or takes no new files, or a symbolic link that cannot be written through
    (:func:`write_target`; the folder of the file it points at is the one checked)."""
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a folder; give a file name such as {example}")
    check_folder(write_target(path).parent, f"cannot write {path}", writable=True)  # a link's: where its target is


def check_not_input(path: Path, inputs) -> None:
    """Refuse an output ``path`` that is the same file (hard links too) as one of ``inputs``
    (None entries are skipped): writing it would destroy what the command reads."""
    for given in inputs:
        if given is not None and path.exists() and Path(given).exists() and os.path.samefile(path, given):
            raise InputError(f"cannot write {path}: it is the input {given}; give another output name")


#: The longest file name (bytes) taken where the file system does not say: ext4's, XFS's,
#: Btrfs's and APFS's.
NAME_MAX = 255


def _name_max(folder: Path) -> int:
    """The longest file name, in bytes, that ``folder`` takes: :data:`NAME_MAX` where it
    cannot be asked (a folder not made yet, a system without ``pathconf``)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return NAME_MAX


def _tmp_name(name: str, tail: str, limit: int) -> str:
    """``.NAME`` and ``tail`` (``.PID.RANDOM.tmp`` and any extension), with as much of
    ``name`` as keeps the whole within ``limit`` bytes: a name that a folder takes
    (a 250-byte one of 255) made the temporary file's name too long for it, and the write
    failed with "File name too long".

    >>> _tmp_name("clip.mp4", ".42.0badc0de.tmp", 255), _tmp_name("clip.mp4", ".42.0badc0de.tmp", 24)
    ('.clip.mp4.42.0badc0de.tmp', '.clip.mp.42.0badc0de.tmp')
    """
    stem = name
    while stem and len(os.fsencode(f".{stem}{tail}")) > limit:
        stem = stem[:-1]
    return f".{stem}{tail}"


def _remove_orphans(path: Path) -> None:
    """Remove temporary copies of ``path`` (:class:`Replacement`'s ``.NAME.PID.RANDOM.tmp``,
    with an extension after it for a video: the output's, or its link's) left by processes
    that were killed (SIGKILL, out of memory) while writing it; they would otherwise stay,
    each as large as the file. A copy whose name holds only the start of ``path``'s (one
    as long as the folder takes: :func:`_tmp_name`) is one of them too."""
    # any extension after .tmp: a video written through a link takes the link's (out.mp4
    # pointing at real.mov writes .real.mov.PID.RANDOM.tmp.mp4), by which ffmpeg chooses the container
    name = re.compile(r"\.(.+)\.(\d{1,9})\.[0-9a-f]{8}\.tmp(?:\.\w+)?", re.DOTALL)
    try:
        entries = [e.name for e in os.scandir(path.parent)]  # not glob: a name may hold [ or *
    except OSError:  # a folder not there yet, or not readable: the write itself will say
        return
    # a shortened name ends within a character (4 bytes) of the limit
    longest = _name_max(path.parent) - 4
    for entry in entries:
        m = name.fullmatch(entry)
        if m is None or int(m.group(2)) == os.getpid():
            continue
        if m.group(1) != path.name and not (path.name.startswith(m.group(1)) and len(os.fsencode(entry)) > longest):
            continue
        try:
            os.kill(int(m.group(2)), 0)
        except ProcessLookupError:  # its writer is gone
            (path.parent / entry).unlink(missing_ok=True)
        except OSError:  # alive, someone else's: leave it
            pass


def folder_obstacle(folder: Path, *, writable: bool = False) -> tuple[Path, str] | None:
    """What stops ``folder`` being used, or made with its missing parents, as a folder:
    ``(path, "file")`` when it or a parent is something other than a folder,
    ``(path, "unwritable")`` when ``writable`` and the nearest existing folder takes no new
    entries, ``(path, "missing")`` when a ``..`` in it follows ``path``, a folder that does
    not exist (:func:`missing_folder_text`); None when nothing does. Callers word the
    message for their option."""
    for d in (folder, *folder.parents):
        if d.is_dir():
            if writable and not os.access(d, os.W_OK | os.X_OK):
                return d, "unwritable"
            break
        if d.exists():
            return d, "file"
    # `new/../photo.png`: making `new` would let the `..` lead back out of it, to a file that
    # the checks of the path as given (not there) never saw, such as the input itself
    parts = folder.parts
    for i in range(1, len(parts)):
        if parts[i] == ".." and not Path(*parts[:i]).is_dir():
            return Path(*parts[:i]), "missing"
    return None


def missing_folder_text(folder: Path) -> str:
    """Why a path with ``..`` after ``folder``, which does not exist, is refused
    (:func:`folder_obstacle`'s ``"missing"``): as ``cp`` and a shell's ``>`` refuse it.

    >>> missing_folder_text(Path("new"))
    "folder new does not exist, so the '..' after it cannot be followed; give the path without them"
    """
    return f"folder {folder} does not exist, so the '..' after it cannot be followed; give the path without them"


def opencv_name(path: str | os.PathLike) -> str | None:
    """``path`` as the text OpenCV's Python functions take, or None when its name is not
    valid UTF-8 (as names copied from old archives or other systems may be: Python holds
    their bytes as surrogates). OpenCV crashes the whole process on such a name rather
    than raise, so it must never be given one."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return text


@contextmanager
def opencv_readable(path: Path) -> Iterator[str]:
    """A name under which OpenCV can open the existing file ``path``: its own, or, when that
    is not valid UTF-8 (:func:`opencv_name`), a link with a plain name in a private
    temporary folder, removed on exit (an open file stays open without it)."""
    text = opencv_name(path)
    if text is not None:
        yield text
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hairfx-") as folder:
        link = Path(folder) / ("input" + (path.suffix if opencv_name(path.suffix) is not None else ""))
        link.symlink_to(Path(path).resolve())
        yield str(link)
