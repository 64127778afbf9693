"""3D LUTs: the :class:`LUT3D` table, ``.cube`` read and write, and trilinear sampling.

The ``.cube`` format is the Adobe / Resolve one: optional ``TITLE``, ``LUT_3D_SIZE N``,
optional ``DOMAIN_MIN`` / ``DOMAIN_MAX``, then ``N**3`` lines of ``R G B`` output values
with **red varying fastest**, then green, then blue. In memory a table is indexed
``table[r, g, b, channel]`` (the colour-science convention); the one place where the file
order is reshaped is :func:`_table_from_rows` / :func:`_rows_from_table`.
"""

from __future__ import annotations

import codecs
import io
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._files import as_path, check_new_file, check_readable_file, replacing
from ._options import number
from .errors import InputError, LutFormatError, MissingFileError

__all__ = [
    "LUT3D",
    "read_cube",
    "write_cube",
    "sample_trilinear",
    "sample_tetrahedral",
    "grid_coords",
    "MIN_SIZE",
    "MAX_SIZE",
]

#: Smallest and largest LUT_3D_SIZE accepted. 256**3 entries is already 200 MB of float32.
MIN_SIZE = 2
MAX_SIZE = 256
# At most this many characters per table row on average: three numbers written with all
# their digits (numpy's savetxt writes "%.18e", 25 characters a number) and a short comment.
_MAX_ROW_CHARS = 128
# Anything far beyond what MAX_SIZE needs is refused before reading it.
_MAX_FILE_BYTES = MAX_SIZE**3 * _MAX_ROW_CHARS + 65536


#: ``(domain_min, domain_max)`` of a LUT over ``[0, 1]``, the domain of every LUT hairfx writes.
UNIT_DOMAIN = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


@dataclass(frozen=True, eq=False)
class LUT3D:
    """A 3D colour lookup table.

    Attributes:
        table: ``float32`` array of shape ``(N, N, N, 3)`` indexed ``[r, g, b]``; entry
            ``table[i, j, k]`` is the output for input ``domain_min + (i, j, k) / (N - 1) *
            (domain_max - domain_min)``.
        title: free text stored in the file's ``TITLE``.
        domain_min, domain_max: per-channel input domain (``(0, 0, 0)`` and ``(1, 1, 1)``
            for all LUTs hairfx writes).

    >>> LUT3D.identity(2).table[1, 0, 0].tolist()
    [1.0, 0.0, 0.0]
    """

    table: np.ndarray
    title: str = ""
    domain_min: tuple[float, float, float] = UNIT_DOMAIN[0]
    domain_max: tuple[float, float, float] = UNIT_DOMAIN[1]

    def __post_init__(self) -> None:
        t = np.asarray(self.table)
        if t.ndim != 4 or t.shape[3] != 3 or not (t.shape[0] == t.shape[1] == t.shape[2]):
            raise InputError(f"LUT table must have shape (N, N, N, 3), got {t.shape}")
        if not MIN_SIZE <= t.shape[0] <= MAX_SIZE:
            raise InputError(f"LUT size must be in {MIN_SIZE}..{MAX_SIZE}, got {t.shape[0]}")
        # a copy of its own: the table is frozen, and the caller's array must stay theirs
        try:
            t = np.array(t, dtype=np.float32, order="C", copy=True)
        except (TypeError, ValueError):
            raise InputError(f"LUT table must hold numbers, got an array of {t.dtype}") from None
        if not isinstance(self.title, str):
            raise InputError(f"LUT title must be a string, got {type(self.title).__name__}")
        if not np.isfinite(t).all():
            raise InputError("LUT table contains NaN or infinite values")
        t.setflags(write=False)
        object.__setattr__(self, "table", t)
        try:
            dmin = tuple(float(v) for v in self.domain_min)
            dmax = tuple(float(v) for v in self.domain_max)
        except (TypeError, ValueError):
            raise InputError(
                f"LUT domain must be three numbers per end, got {self.domain_min!r} .. {self.domain_max!r}"
            ) from None
        if len(dmin) != 3 or len(dmax) != 3 or not np.isfinite(dmin + dmax).all():
            raise InputError(f"LUT domain must be three finite numbers per end, got {dmin} .. {dmax}")
        if any(hi <= lo for lo, hi in zip(dmin, dmax)):
            raise InputError(f"LUT domain must have DOMAIN_MIN < DOMAIN_MAX per channel, got {dmin} .. {dmax}")
        object.__setattr__(self, "domain_min", dmin)
        object.__setattr__(self, "domain_max", dmax)

    def __reduce__(self):
        # pickled and copied through the constructor, so the copy's table is read-only too
        return type(self), (self.table, self.title, self.domain_min, self.domain_max)

    @property
    def size(self) -> int:
        """The number of grid points per axis (``LUT_3D_SIZE``)."""
        return int(self.table.shape[0])

    @property
    def has_unit_domain(self) -> bool:
        return (self.domain_min, self.domain_max) == UNIT_DOMAIN

    @classmethod
    def identity(cls, size: int = 33, *, title: str = "identity") -> "LUT3D":
        """The identity LUT of ``size`` points per axis."""
        size = number(size, "LUT size", lo=MIN_SIZE, hi=MAX_SIZE, integer=True)
        return cls(_identity_grid(size), title=title)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """Apply the LUT (trilinear) to RGB values; returns float32 of the same shape.

        ``rgb`` is a float array (any float dtype) of shape ``(..., 3)`` holding
        display-referred values in ``[0, 1]``, an 8-bit frame divided by 255, whatever the
        LUT's domain (see :meth:`grid_coords`); values outside ``[0, 1]`` are clamped.
        Raises :class:`~hairfx.errors.InputError` for integer or boolean arrays (0..255
        or 0..1? divide a uint8 frame by 255 first), a last axis other than 3, and NaN or
        infinite values.

        >>> LUT3D.identity(3).apply(np.array([[0.25, 0.5, 1.0]])).tolist()
        [[0.25, 0.5, 1.0]]
        """
        return sample_trilinear(self.table, self.grid_coords(_check_rgb(rgb)))

    def grid_coords(self, rgb: np.ndarray) -> np.ndarray:
        """Where float RGB values fall on this LUT's table, each channel scaled to ``[0, 1]``
        across the LUT's domain and clamped (inputs outside the domain take the value at its
        edge, as the ``.cube`` spec says); ``rgb`` itself for the unit domain. Sampling the
        table there (:func:`sample_trilinear`) is the LUT applied exactly, as
        colour-science and ffmpeg apply it."""
        return grid_coords(rgb, self.domain_min, self.domain_max)

    def to_unit_domain(self, size: int | None = None) -> "LUT3D":
        """This LUT resampled (trilinear) onto the domain ``[0, 1]`` with ``size`` points per
        axis (its own size by default); itself when nothing would change.

        An approximation where the domain is not ``[0, 1]``: the new grid points fall
        between the old ones, so the corners of the original are smoothed. :meth:`apply`
        and the renderers sample the original table instead, which is exact.
        """
        size = self.size if size is None else number(size, "LUT size", lo=MIN_SIZE, hi=MAX_SIZE, integer=True)
        if self.has_unit_domain and size == self.size:
            return self
        grid = LUT3D.identity(size).table
        return LUT3D(sample_trilinear(self.table, self.grid_coords(grid)), title=self.title)


def _identity_grid(size: int, reds: slice = slice(None)) -> np.ndarray:
    """The identity LUT's table of ``size`` points per axis on ``[0, 1]``, float32
    ``(N, N, N, 3)`` indexed ``[r, g, b]``, or the slab of it at the red indices ``reds``
    (:func:`hairfx.effects.bake_lut` evaluates the grid a slab at a time).

    >>> _identity_grid(3, slice(2, 3))[0, 1, 0].tolist()
    [1.0, 0.5, 0.0]
    """
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    return np.stack(np.meshgrid(axis[reds], axis, axis, indexing="ij"), axis=-1)


def grid_coords(rgb: np.ndarray, domain_min, domain_max) -> np.ndarray:
    """``clamp((rgb - domain_min) / (domain_max - domain_min), 0, 1)`` per channel, as
    float32; ``rgb`` unchanged for the domain ``[0, 1]``. See :meth:`LUT3D.grid_coords`."""
    if (tuple(domain_min), tuple(domain_max)) == UNIT_DOMAIN:
        return rgb
    lo = np.asarray(domain_min, np.float64)
    scale = 1.0 / (np.asarray(domain_max, np.float64) - lo)
    return np.clip((np.asarray(rgb, np.float64) - lo) * scale, 0.0, 1.0).astype(np.float32)


def _check_rgb(rgb) -> np.ndarray:
    """``rgb`` as an array if it is float RGB of shape ``(..., 3)`` with finite values;
    else :class:`~hairfx.errors.InputError` naming what it is."""
    arr = np.asarray(rgb)
    if not np.issubdtype(arr.dtype, np.floating):
        hint = "; divide 8-bit values by 255" if np.issubdtype(arr.dtype, np.integer) else ""
        raise InputError(f"LUT input must be float RGB of shape (..., 3) in [0, 1], got {arr.dtype}{hint}")
    if arr.ndim == 0 or arr.shape[-1] != 3:
        raise InputError(f"LUT input must be float RGB of shape (..., 3) in [0, 1], got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"LUT input must be finite numbers, got NaN or infinite values in an array of shape {arr.shape}")
    return arr


def _table_from_rows(rows: np.ndarray, size: int) -> np.ndarray:
    # File order is red fastest, then green, then blue: reshaping the (N**3, 3) rows to
    # (N, N, N, 3) gives [b, g, r]; transpose to the in-memory [r, g, b].
    return np.ascontiguousarray(rows.reshape(size, size, size, 3).transpose(2, 1, 0, 3))


def _rows_from_table(table: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(table.transpose(2, 1, 0, 3)).reshape(-1, 3)


def read_cube(path: str | os.PathLike) -> LUT3D:
    """Read a ``.cube`` 3D LUT (Adobe / Resolve layout).

    Raises :class:`~hairfx.errors.LutFormatError` naming the file and line for anything
    malformed: unknown keywords, a missing or out-of-range ``LUT_3D_SIZE`` (checked before
    any table memory is allocated), 1D LUTs, wrong number of values on a line, non-numeric
    or non-finite values, a wrong number of table rows, or a byte that is not UTF-8 outside
    the ``TITLE`` and comments (which are read as Windows-1252 where they are not UTF-8,
    as Windows tools write them). A file larger than any valid
    LUT could be, or far larger than its ``LUT_3D_SIZE`` needs, is refused unparsed.
    :class:`~hairfx.errors.MissingFileError` when there is no such file.
    """
    path = as_path(path, "LUT file")
    check_readable_file(path, "LUT file", "a .cube LUT file")
    try:
        f = open(path, "rb")
    except FileNotFoundError:  # removed since the check
        raise MissingFileError(f"LUT file not found: {path}") from None
    with f:
        nbytes = os.fstat(f.fileno()).st_size
        if nbytes > _MAX_FILE_BYTES:
            raise LutFormatError(
                f"{path}: file is {nbytes} bytes, larger than any {MAX_SIZE}^3 LUT; refusing to read it"
            )
        return _read_cube(f, path, nbytes)


def stated_size(path: str | os.PathLike) -> int | None:
    """The ``LUT_3D_SIZE`` a ``.cube`` file states in its header, read from its first 64 KiB
    without parsing the table; None when it cannot be told (no such line there, a file that
    cannot be read): :func:`read_cube` then says what is wrong."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return None
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    # each line read as _read_cube reads it (a comment after '#', a size as int() takes it),
    # so that every size line it accepts is told here too; bytes that are not UTF-8 are
    # its to refuse
    for data in head.splitlines():
        line = data.decode("utf-8", "replace").split("#", 1)[0].strip()
        if not line:
            continue
        key = line.split(None, 1)[0]
        if line[0].isdigit() or line[0] in "+-." or _is_number(key):  # the table began: no size line
            return None
        if key == "LUT_3D_SIZE":
            try:
                return int(line[len(key) :].strip())
            except ValueError:
                return None
    return None


def _line_text(data: bytes, offset: int, lineno: int, path: Path, *, header: bool = True) -> str:
    """Line ``lineno`` of the file (``data``, read from byte ``offset``) as text.

    A .cube file is UTF-8, but Windows tools write its ``TITLE`` and comments in the
    system's code page (Windows-1252: ``TITLE "Café Crème"``), and ffmpeg's ``lut3d``
    reads such files. Those parts hold no table data, so a byte there that is not UTF-8
    is read as Windows-1252: the whole line of a ``TITLE`` (where ``header``; in the
    table it would be refused anyway), the comment of any other line. Anywhere else (a
    keyword, a number, a binary file given by mistake) it is refused, naming the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc
    stripped = data.strip()
    if header and stripped.startswith(b"TITLE") and (len(stripped) == 5 or stripped[5:6].isspace()):
        return _windows_1252(data)
    mark = data.find(b"#", 0, bad.start)  # '#' is ASCII, never part of a multi-byte character
    if mark >= 0:
        try:
            return data[:mark].decode("utf-8") + _windows_1252(data[mark:])
        except UnicodeDecodeError:  # a byte before the comment is not UTF-8 either
            pass
    raise LutFormatError(
        f"{path}: line {lineno} is not UTF-8 text ({bad.reason} at byte {offset + bad.start}): not a text .cube "
        "file, or one saved in another encoding; save it as UTF-8"
    )


def _windows_1252(data: bytes) -> str:
    """``data`` as Windows-1252 text; its five undefined bytes (0x81, 0x8D, 0x8F, 0x90,
    0x9D) as Latin-1, as Windows itself maps them, so that every byte reads."""
    parts = []
    while True:
        try:
            parts.append(data.decode("cp1252"))
            return "".join(parts)
        except UnicodeDecodeError as exc:
            parts.append(data[: exc.start].decode("cp1252") + data[exc.start : exc.end].decode("latin-1"))
            data = data[exc.end :]


def _table_text(data: bytes, offset: int, first_lineno: int, path: Path) -> str:
    """The table (``data``, read from byte ``offset``, starting on line ``first_lineno``) as
    text: decoded in one go when it is all UTF-8, as it nearly always is; else line by line
    (:func:`_line_text`), which reads comments written in Windows-1252 and names the first
    line that holds a byte that is not UTF-8 outside a comment."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = max(data.rfind(b"\n", 0, exc.start), data.rfind(b"\r", 0, exc.start)) + 1
        end = len(data)
        for ending in (b"\n", b"\r"):
            found = data.find(ending, exc.start)
            end = min(end, found) if found >= 0 else end
        # a bad byte outside a comment is named at once, without reading the table line by line
        lineno = first_lineno + data.count(b"\n", 0, start) + data.count(b"\r", 0, start) - data.count(b"\r\n", 0, start)
        _line_text(data[start:end], offset + start, lineno, path, header=False)
    texts, lineno = [], first_lineno
    for line in data.splitlines(keepends=True):
        texts.append(_line_text(line, offset, lineno, path, header=False))
        offset, lineno = offset + len(line), lineno + 1
    return "".join(texts)


def _lines(f, path: Path):
    """``(offset, line)`` for each line of the binary file ``f`` (endings ``\\n``, ``\\r\\n``
    or ``\\r`` kept), read a block at a time so that the rest of the file stays unread once
    the caller stops."""
    offset, buf = 0, b""
    while True:
        block = f.read(_BLOCK_BYTES)
        lines = (buf + block).splitlines(keepends=True)
        # the last line may go on in the next block (or be a '\r' whose '\n' is there)
        buf = lines.pop() if block and lines else b""
        for ln in lines:
            yield offset, ln
            offset += len(ln)
        if not block:
            return
        if len(buf) > _MAX_LINE_BYTES:
            raise LutFormatError(f"{path}: the line at byte {offset} is over {_MAX_LINE_BYTES} bytes; not a .cube file")


def _read_cube(f, path: Path, nbytes: int) -> LUT3D:
    def fail(lineno: int, msg: str) -> LutFormatError:
        return LutFormatError(f"{path}, line {lineno}: {msg}")

    title = ""
    size = None
    dmin, dmax = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    lineno = 0
    seen: dict[str, int] = {}  # keyword -> the line it was on
    body_start = None  # byte offset of the first table row; the table is read in one go below
    for offset, data in _lines(f, path):
        if offset == 0 and data.startswith(codecs.BOM_UTF8):
            data, offset = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
        raw = _line_text(data, offset, lineno + 1, path)
        stripped = raw.strip()
        # before comment stripping: a title may hold '#'; 'TITLEFOO 3' is no title but an
        # unknown keyword, refused below (a keyword ends at whitespace, as colour-science reads it)
        if stripped.startswith("TITLE") and (len(stripped) == 5 or stripped[5].isspace()):
            lineno += 1
            title = stripped[5:].strip().strip('"')
            continue
        line = raw.split("#", 1)[0].strip()
        if line and (line[0].isdigit() or line[0] in "+-." or _is_number(line.split(None, 1)[0])):
            body_start = offset  # the first table row (one that starts 'nan' or 'inf' too, named below)
            break
        lineno += 1
        if not line:
            continue
        key = line.split(None, 1)[0]
        rest = line[len(key):].strip()
        if key in seen:  # two sizes or domains: which one the author meant is a guess
            raise fail(lineno, f"{key} given twice (first on line {seen[key]})")
        # the domain in both forms is given twice too, however it is split between them
        other = ("LUT_3D_INPUT_RANGE",) if key in ("DOMAIN_MIN", "DOMAIN_MAX") else \
            ("DOMAIN_MIN", "DOMAIN_MAX") if key == "LUT_3D_INPUT_RANGE" else ()
        first = next((k for k in other if k in seen), None)
        if first is not None:
            raise fail(lineno, f"the domain given twice: {key} here, {first} on line {seen[first]}; give it "
                               "once, as DOMAIN_MIN and DOMAIN_MAX or as LUT_3D_INPUT_RANGE")
        seen[key] = lineno
        if key == "LUT_3D_SIZE":
            try:
                size = int(rest)
            except ValueError:
                raise fail(lineno, f"LUT_3D_SIZE must be an integer, got {_quoted(rest)}") from None
            if not MIN_SIZE <= size <= MAX_SIZE:
                raise fail(lineno, f"LUT_3D_SIZE {size} is outside the supported range {MIN_SIZE}..{MAX_SIZE}")
        elif key == "LUT_1D_SIZE":
            raise fail(
                lineno, "1D LUTs and 1D shapers (LUT_1D_SIZE) are not supported; hairfx needs a plain 3D LUT (LUT_3D_SIZE)"
            )
        elif key in ("DOMAIN_MIN", "DOMAIN_MAX"):
            try:
                vals = tuple(float(v) for v in rest.split())
            except ValueError:
                raise fail(lineno, f"{key} needs three numbers, got {_quoted(rest)}") from None
            if len(vals) != 3 or not all(np.isfinite(vals)):
                raise fail(lineno, f"{key} needs three finite numbers, got {_quoted(rest)}")
            if key == "DOMAIN_MIN":
                dmin = vals
            else:
                dmax = vals
        elif key == "LUT_1D_INPUT_RANGE":
            pass  # the range of a 1D shaper table; with no LUT_1D_SIZE there is none to apply
        elif key == "LUT_3D_INPUT_RANGE":
            try:
                lo, hi = (float(v) for v in rest.split())
            except ValueError:
                raise fail(lineno, f"LUT_3D_INPUT_RANGE needs two numbers, got {_quoted(rest)}") from None
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise fail(lineno, f"LUT_3D_INPUT_RANGE needs two finite numbers, got {_quoted(rest)}")
            dmin, dmax = (lo,) * 3, (hi,) * 3
        else:
            raise fail(lineno, f"unknown keyword {_quoted(key)}")
    if size is None:
        raise LutFormatError(f"{path}: no LUT_3D_SIZE line before the table; not a 3D .cube LUT")
    if any(hi <= lo for lo, hi in zip(dmin, dmax)):
        raise LutFormatError(f"{path}: DOMAIN_MIN {dmin} must be below DOMAIN_MAX {dmax} on every channel")
    expected = size**3
    if body_start is None:
        raise LutFormatError(f"{path}: LUT_3D_SIZE is {size} but the file has no table rows (expected {expected})")
    if nbytes - body_start > expected * _MAX_ROW_CHARS + 65536:
        raise LutFormatError(
            f"{path}: the table is {nbytes - body_start} bytes, far more than LUT_3D_SIZE {size} needs; "
            "refusing to parse it"
        )
    # The table is parsed as it is read: a 256^3 table is half a gigabyte of text or more (1.3 GB
    # as numpy's savetxt writes it), and held whole, decoded and copied into a StringIO (four
    # bytes a character) it took five times that in memory (6.6 GB).
    f.seek(body_start)
    stream = io.TextIOWrapper(f, encoding="utf-8", newline=None)  # strict: a byte that is not UTF-8 raises
    try:
        rows, reason = _parse_rows(stream)
    finally:
        stream.detach()  # f stays open, for the slow way below
    if not _whole_table(rows, expected):
        # Bytes that are not UTF-8 (a comment in Windows-1252), or a table that is wrong: the
        # whole text, once more, to read such a comment or to name the line at fault
        f.seek(body_start)
        body = _table_text(f.read(), body_start, lineno + 1, path)
        rows, reason = _parse_rows(io.StringIO(body, newline=None))
        if not _whole_table(rows, expected):
            _explain_rows(body, lineno + 1, expected, size, fail, path, reason)  # raises, naming the line
    table = _table_from_rows(rows.astype(np.float32), size)
    del rows  # the float64 rows: twice the table
    return LUT3D(table, title=title, domain_min=dmin, domain_max=dmax)


def _whole_table(rows: np.ndarray | None, expected: int) -> bool:
    """Whether ``rows`` (from :func:`_parse_rows`) are the ``expected`` rows of a table that
    float32 holds: no NaN, no infinity, none beyond the float32 maximum (it would become
    infinity in the table). Without a temporary array as large as the rows."""
    if rows is None or rows.shape != (expected, 3):
        return False
    return bool(rows.min() >= -_F32_MAX and rows.max() <= _F32_MAX)  # False for NaN too


# The header is read this many bytes at a time; no line of a .cube file is near as long.
_BLOCK_BYTES = 65536
_MAX_LINE_BYTES = 65536
# Table values are stored as float32: a larger magnitude would overflow to infinity.
_F32_MAX = float(np.finfo(np.float32).max)


#: At most this many characters of a file's text are quoted in an error message.
_QUOTE_CHARS = 60


def _quoted(text: str) -> str:
    """``text`` from a file, quoted (``repr``) for an error message and cut to about
    :data:`_QUOTE_CHARS` characters: a line of a damaged file can be as long as the file (a
    tail of NUL bytes that a crash left, a binary file that happens to be UTF-8), and the
    message naming it is one line on a terminal."""
    shown = repr(text)
    if len(shown) <= _QUOTE_CHARS:
        return shown
    cut = text[:_QUOTE_CHARS]
    while len(repr(cut)) > _QUOTE_CHARS:  # an escaped byte takes up to four characters
        cut = cut[:-1]
    return f"{cut!r}... ({len(text)} characters)"


def _is_number(word: str) -> bool:
    """Whether ``word`` reads as a number (``nan`` and ``inf`` included), that is, starts a
    table row rather than naming a keyword."""
    try:
        float(word)
    except ValueError:
        return False
    return True


def _parse_rows(text) -> tuple[np.ndarray | None, str]:
    """``(rows, "")`` with the table rows read from the text stream ``text`` as an ``(M, 3)``
    float64 array, or ``(None, reason)`` when a row is malformed or a byte is not UTF-8
    (numpy's C parser: no per-row Python objects, so a 256^3 table stays affordable). ``#``
    starts a comment, as in the header. The stream is opened with ``newline=None``: ``\r\n``
    and a lone ``\r`` end a row too, as in the header."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty-looking input warns; the caller checks
            rows = np.loadtxt(text, dtype=np.float64, ndmin=2, comments="#")
    except ValueError as exc:  # UnicodeDecodeError too
        return None, str(exc)
    if rows.ndim != 2 or rows.shape[1] != 3:
        return None, f"rows of {rows.shape[1]} values, not 3"
    return rows, ""


def _explain_rows(body: str, first_lineno: int, expected: int, size: int, fail, path: Path, reason: str) -> None:
    """Find and raise the error in a table that did not parse: slow, only for the message."""
    rows = []
    for n, ln in enumerate(body.splitlines(), start=first_lineno):
        ln = ln.split("#", 1)[0]
        if ln.strip():
            rows.append((n, ln))
    for n, ln in rows[:expected]:
        parts = ln.split()
        if len(parts) != 3:
            raise fail(n, f"expected 3 values (R G B), got {len(parts)}: {_quoted(ln.strip())}")
        try:
            vals = [float(v) for v in parts]
        except ValueError:
            raise fail(n, f"not a number in {_quoted(ln.strip())}") from None
        for word, v in zip(parts, vals):
            if not np.isfinite(v):
                raise fail(n, f"{_quoted(word)} is not a finite number, in {_quoted(ln.strip())}")
            if abs(v) > _F32_MAX:
                raise fail(n, f"{_quoted(word)} is out of range in {_quoted(ln.strip())}: LUT values are float32, "
                              f"at most {_F32_MAX:.4g} in magnitude")
    if len(rows) > expected and not _is_number(rows[expected][1].split()[0]):
        n, ln = rows[expected]  # a keyword after the table, not one row too many
        raise fail(n, f"{_quoted(ln.split()[0])} after the table: keywords come before the {expected} table rows")
    if len(rows) != expected:
        where = rows[expected][0] if len(rows) > expected else (rows[-1][0] if rows else first_lineno)
        raise fail(where, f"LUT_3D_SIZE {size} needs {expected} table rows, the file has {len(rows)}")
    # Python's float() accepts what numpy's parser does not (digit separators, non-ASCII
    # digits): name what numpy said, whose row numbers count table rows, not file lines.
    raise LutFormatError(f"{path}: the table starting at line {first_lineno} does not parse: {reason}")


def write_cube(lut: LUT3D, path: str | os.PathLike, *, decimals: int = 6) -> Path:
    """Write ``lut`` as a ``.cube`` file that colour-science, ffmpeg's ``lut3d`` and
    Resolve read. Returns the path written. (ffmpeg 5.1 ignores ``DOMAIN_MIN``: it applies
    the file rightly only where the domain starts at 0, as ``[0, 1]`` does.)

    The file is written under a temporary name and renamed into place, so a failure leaves
    the file that was there. The title is written on one line between double quotes, as
    the format has it: a double quote in it becomes ``'`` and a line break or other control
    character a space (a title taken from a file name may hold any of them), so the file
    always reads back. A path under a file, a missing folder, or an OS error while writing
    (no permission, a full disk) raises :class:`~hairfx.errors.InputError` naming the path.
    """
    if not isinstance(lut, LUT3D):
        raise InputError(f"write_cube needs a LUT3D, got {type(lut).__name__}")
    path = as_path(path, "output LUT file")
    decimals = _decimals(decimals)
    try:  # the checks too: a name too long for the file system fails its stat()
        check_new_file(path, "give a file name ending in .cube")
        with replacing(path) as tmp:
            _write_cube(lut, tmp, decimals)
    except OSError as exc:  # no permission, a full disk, a file system that takes no files
        raise InputError(f"could not write {path}: {exc.strerror or exc}") from None
    return path


#: The decimals :func:`write_cube` writes per value: 3 (a thousandth, a quarter of an 8-bit
#: level) to 12.
MIN_DECIMALS, MAX_DECIMALS = 3, 12


def _decimals(value) -> int:
    """The ``decimals`` of a ``.cube`` file's values, checked (:data:`MIN_DECIMALS` ..
    :data:`MAX_DECIMALS`)."""
    return number(value, "decimals", lo=MIN_DECIMALS, hi=MAX_DECIMALS, integer=True)


def _cube_title(title: str) -> str:
    """``title`` as it can stand between the double quotes of a one-line ``TITLE``."""
    title = str(title).replace('"', "'")
    # Cc: control characters ('\n', '\r', ...), Zl/Zp: Unicode line and paragraph
    # separators that a reader splitting lines with str.splitlines() breaks on, Cs: lone
    # surrogates (an undecodable file name), which UTF-8 cannot encode.
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") else c for c in title)


def _write_cube(lut: LUT3D, path: Path, decimals: int) -> None:
    """Write ``lut`` to ``path`` as it is (no checks, no temporary file): OSErrors propagate."""
    header = []
    if lut.title:
        header.append(f'TITLE "{_cube_title(lut.title)}"')
    header.append(f"LUT_3D_SIZE {lut.size}")
    if not lut.has_unit_domain:
        header.append("DOMAIN_MIN " + " ".join(f"{v:.{decimals}f}" for v in lut.domain_min))
        header.append("DOMAIN_MAX " + " ".join(f"{v:.{decimals}f}" for v in lut.domain_max))
    line = " ".join([f"%.{decimals}f"] * 3)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(header) + "\n")
        # one blue value at a time (the file's slowest axis: its N^2 rows, red fastest, are
        # table[:, :, b] transposed): a 256^3 table is 16.7 million lines, gigabytes as one
        # string, and 400 MB as one float64 copy of the rows
        for b in range(lut.size):
            rows = _rows_from_table(lut.table[:, :, b : b + 1]).astype(np.float64)
            f.write("\n".join(line % tuple(row) for row in rows.tolist()) + "\n")


def _cell(table: np.ndarray, rgb: np.ndarray):
    n = table.shape[0]
    x = np.clip(np.asarray(rgb, dtype=np.float32), 0.0, 1.0) * np.float32(n - 1)
    i0 = np.minimum(np.floor(x).astype(np.intp), n - 2)
    f = x - i0.astype(np.float32)
    return i0, f


def sample_trilinear(table: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Sample a ``(N, N, N, 3)`` table indexed ``[r, g, b]`` at float RGB in ``[0, 1]``
    (shape ``(..., 3)``, clamped) with trilinear interpolation. Returns float32 ``(..., 3)``.

    This is the reference the renderers are tested against; it is written for clarity,
    not speed.
    """
    table = np.asarray(table, dtype=np.float32)
    i0, f = _cell(table, rgb)
    r0, g0, b0 = i0[..., 0], i0[..., 1], i0[..., 2]
    fr, fg, fb = f[..., 0:1], f[..., 1:2], f[..., 2:3]
    out = 0.0
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dg, wg in ((0, 1 - fg), (1, fg)):
            for db, wb in ((0, 1 - fb), (1, fb)):
                out = out + wr * wg * wb * table[r0 + dr, g0 + dg, b0 + db]
    return np.asarray(out, dtype=np.float32)


def sample_tetrahedral(table: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Like :func:`sample_trilinear` but with tetrahedral interpolation (4 corners per
    sample, exact on the grey axis, the interpolation Resolve and ffmpeg's ``tetrahedral``
    mode use)."""
    table = np.asarray(table, dtype=np.float32)
    i0, f = _cell(table, rgb)
    r0, g0, b0 = i0[..., 0], i0[..., 1], i0[..., 2]
    fr, fg, fb = f[..., 0:1], f[..., 1:2], f[..., 2:3]

    def c(dr, dg, db):
        return table[r0 + dr, g0 + dg, b0 + db]

    c000, c111 = c(0, 0, 0), c(1, 1, 1)
    out = np.empty(np.broadcast_shapes(fr.shape[:-1] + (3,), c000.shape), np.float32)
    # The six tetrahedra of the unit cube, chosen by the order of the fractions.
    cases = [
        ((fr > fg) & (fg > fb), lambda: (1 - fr) * c000 + (fr - fg) * c(1, 0, 0) + (fg - fb) * c(1, 1, 0) + fb * c111),
        ((fr > fg) & (fg <= fb) & (fr > fb), lambda: (1 - fr) * c000 + (fr - fb) * c(1, 0, 0) + (fb - fg) * c(1, 0, 1) + fg * c111),
        ((fr > fg) & (fr <= fb), lambda: (1 - fb) * c000 + (fb - fr) * c(0, 0, 1) + (fr - fg) * c(1, 0, 1) + fg * c111),
        ((fr <= fg) & (fb > fg), lambda: (1 - fb) * c000 + (fb - fg) * c(0, 0, 1) + (fg - fr) * c(0, 1, 1) + fr * c111),
        ((fr <= fg) & (fb <= fg) & (fb > fr), lambda: (1 - fg) * c000 + (fg - fb) * c(0, 1, 0) + (fb - fr) * c(0, 1, 1) + fr * c111),
        ((fr <= fg) & (fb <= fr), lambda: (1 - fg) * c000 + (fg - fr) * c(0, 1, 0) + (fr - fb) * c(1, 1, 0) + fb * c111),
    ]
    for cond, value in cases:
        np.copyto(out, value(), where=cond)
    return out
