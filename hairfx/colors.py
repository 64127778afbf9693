"""Colours: a light/dark LUT pair with its reference intensities, and the registry of them.

A colour lives in a folder ``<name>/`` holding ``color.json`` and two ``.cube`` files::

    {
      "format": 1,
      "name": "copper",                 # must equal the folder name, which is a colour name:
                                        # lower-case letters, digits, '-' and '_'
      "display_name": "Copper",
      "swatch": "#b4532a",              # target colour, sRGB hex
      "light": {"lut": "light.cube", "intensity": 0.546235},
      "dark":  {"lut": "dark.cube",  "intensity": 0.165912}
    }

``intensity`` is the hair intensity of the reference image the LUT was tuned on, as
:func:`hairfx.intensity.hair_intensity` computes it; ``light.intensity`` must exceed
``dark.intensity``. A ``recipe.toml`` beside them (see ``tools/``) is optional.

Colours are looked up by name in the bundled palette (the top-level ``luts/`` folder,
installed as ``hairfx.luts``), in the folders listed in the ``HAIRFX_LUT_PATH``
environment variable (``os.pathsep``-separated), and in folders added with
:func:`add_lut_dir`. Later folders override earlier ones for the same name, and say so: the
:class:`Color` found names the folders it hides (:attr:`Color.overrides`, in its repr too),
and ``hairfx colors`` notes it.
"""

from __future__ import annotations

import collections
import contextlib
import difflib
import json
import os
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
import importlib.util
from pathlib import Path

import numpy as np

from .errors import InputError, LutFormatError, MissingFileError, UnknownColorError
from .intensity import blend_weight
from ._options import number
from ._files import as_path, check_folder, made_folders, replacing
from .lut import LUT3D, MAX_SIZE, MIN_SIZE, _decimals, _write_cube, read_cube, stated_size

__all__ = ["Color", "colors", "get_color", "add_lut_dir", "lut_dirs", "load_color", "save_color", "FORMAT_VERSION"]

FORMAT_VERSION = 1
HEX_SWATCH = re.compile(r"^#[0-9a-fA-F]{6}$")  # "#rrggbb"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
#: What :data:`_NAME` takes, in words, for the messages that refuse a name.
_NAME_RULE = "lower-case letters, digits, '-' and '_', starting with a letter or digit, like 'copper' or 'deep-plum_2'"


@dataclass(frozen=True, eq=False)
class Color:
    """A recolouring target: two LUTs tuned on a light and a dark reference image.

    ``light`` and ``dark`` have the same size and the same domain. ``weight(I)`` gives the
    blend weight for a frame whose hair intensity is ``I``; ``blended(w)`` the table
    ``(1 - w) * dark + w * light``.

    ``path`` is the colour folder it was loaded from, if any. ``overrides`` names the colour
    folders of the same name that this one hides, lowest in the search order
    (:func:`lut_dirs`) first: a user's ``copper`` found by name before the bundled one has
    the bundled folder there. It is set by :func:`get_color` for a colour found by its
    name, and empty for any other (one named by its path, a hex colour, one made here).
    """

    name: str
    display_name: str
    swatch: str
    light: LUT3D = field(repr=False)  # two tables of thousands of values: the repr names the colour
    dark: LUT3D = field(repr=False)
    light_intensity: float
    dark_intensity: float
    path: Path | None = None
    overrides: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        for attr in ("name", "display_name"):
            if not isinstance(getattr(self, attr), str):
                raise InputError(f"colour {attr} must be a string, got {type(getattr(self, attr)).__name__}")
        if not isinstance(self.swatch, str) or not HEX_SWATCH.match(self.swatch):
            raise InputError(f"colour {self.name!r}: swatch must be '#RRGGBB', got {self.swatch!r}")
        for side in ("light", "dark"):
            if not isinstance(getattr(self, side), LUT3D):
                raise InputError(
                    f"colour {self.name!r}: {side} must be a LUT3D (from read_cube or LUT3D(table)), "
                    f"got {type(getattr(self, side)).__name__}"
                )
            value = getattr(self, f"{side}_intensity")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise InputError(f"colour {self.name!r}: {side}_intensity must be a number, got {value!r}")
            object.__setattr__(self, f"{side}_intensity", float(value))
        if not 0.0 <= self.dark_intensity < self.light_intensity <= 1.0:  # False for NaN too
            raise InputError(
                f"colour {self.name!r}: need 0 <= dark intensity < light intensity <= 1, "
                f"got dark {self.dark_intensity}, light {self.light_intensity}"
            )
        if not isinstance(self.overrides, tuple) or not all(isinstance(p, Path) for p in self.overrides):
            raise InputError(f"colour {self.name!r}: overrides must be a tuple of Paths, got {self.overrides!r}")
        light, dark = self.light, self.dark
        if light.size != dark.size:
            raise InputError(f"colour {self.name!r}: light LUT is {light.size}^3 but dark LUT is {dark.size}^3")
        if (light.domain_min, light.domain_max) != (dark.domain_min, dark.domain_max):
            raise InputError(
                f"colour {self.name!r}: the light LUT's domain {light.domain_min} .. {light.domain_max} differs "
                f"from the dark LUT's {dark.domain_min} .. {dark.domain_max}; the two are blended entry by entry, "
                "so they need one domain (`hairfx-lut resample` puts a LUT onto [0, 1])"
            )

    @property
    def size(self) -> int:
        return self.light.size

    @property
    def domain(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        """``(domain_min, domain_max)`` of both LUTs: the inputs their tables span."""
        return self.light.domain_min, self.light.domain_max

    def grid_coords(self, rgb: np.ndarray) -> np.ndarray:
        """Float RGB in ``[0, 1]`` as coordinates on the tables (see :meth:`LUT3D.grid_coords`)."""
        return self.light.grid_coords(rgb)

    def weight(self, intensity: float) -> float:
        """Blend weight ``w`` in ``[0, 1]`` for a hair intensity (0: dark LUT, 1: light LUT)."""
        return blend_weight(intensity, self.dark_intensity, self.light_intensity)

    def blended(self, w: float) -> np.ndarray:
        """The table ``(1 - w) * dark + w * light``, float32 ``(N, N, N, 3)`` indexed ``[r, g, b]``
        over the colour's :attr:`domain` (sample it at :meth:`grid_coords`). ``w`` is a
        number in ``[0, 1]``, as :meth:`weight` gives it: outside, the table would run past
        both LUTs the artist made (and NaN fill it with NaN)."""
        w = np.float32(number(w, "blend weight w", lo=0, hi=1))
        return (np.float32(1.0) - w) * self.dark.table + w * self.light.table

    def swatch_rgb(self) -> tuple[int, int, int]:
        return tuple(int(self.swatch[i : i + 2], 16) for i in (1, 3, 5))


def load_color(folder: str | os.PathLike) -> Color:
    """Load the colour stored in ``folder`` (see the module docstring for the format)."""
    folder = as_path(folder, "colour folder")
    meta_path = folder / "color.json"
    if not folder.exists():
        raise MissingFileError(f"colour folder not found: {folder}")
    if not folder.is_dir():
        raise LutFormatError(f"{folder}: not a colour folder (a colour is a folder holding color.json and its LUTs)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise LutFormatError(f"{folder}: not a colour folder (no color.json)"
                             f"{_not_a_colour(folder, str(folder), '; ')}") from None
    except OSError as exc:  # a folder named color.json, a file that cannot be read
        raise LutFormatError(f"{meta_path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise LutFormatError(f"{meta_path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise LutFormatError(f"{meta_path}, line {exc.lineno}: invalid JSON: {exc.msg}") from None

    def need(obj, key, kind, where="color.json"):
        if not isinstance(obj, dict) or key not in obj:
            raise LutFormatError(f"{meta_path}: missing {key!r} in {where}")
        value = obj[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            raise LutFormatError(f"{meta_path}: {key!r} must be {kind.__name__}, got {value!r}")
        return value

    if not isinstance(meta, dict):
        raise LutFormatError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    fmt = meta.get("format", FORMAT_VERSION)
    if isinstance(fmt, bool) or not isinstance(fmt, int):  # "1", 1.0 or true: a hand edit, not a newer format
        got = f"the string {json.dumps(fmt)}" if isinstance(fmt, str) else json.dumps(fmt)
        raise LutFormatError(f"{meta_path}: 'format' must be the number {FORMAT_VERSION}, not {got}")
    if fmt != FORMAT_VERSION:
        raise LutFormatError(f"{meta_path}: unsupported format {fmt} (this hairfx reads {FORMAT_VERSION})")
    name = need(meta, "name", str)
    # two checks, two reasons: the folder's name must be a colour name, and color.json must agree with it
    if not _NAME.match(folder.name):
        raise LutFormatError(f"{meta_path}: {_bad_name(folder.name)}; rename the folder")
    if name != folder.name:
        raise LutFormatError(f"{meta_path}: name {name!r} must equal the folder name {folder.name!r}")
    files = {}
    for side in ("light", "dark"):
        given = need(need(meta, side, dict), "lut", str, side)
        if not given.strip():  # the folder itself: "the light LUT 'copper' does not exist" named the folder
            raise LutFormatError(f"{meta_path}: the {side} LUT's path is empty; give its file name, such as "
                                 f"\"{side}.cube\"")
        lut_file = files[side] = folder / given
        if lut_file.is_dir():
            raise LutFormatError(f"{meta_path}: the {side} LUT {given!r} is a folder in {folder}, not a .cube file")
        if not lut_file.is_file():
            raise LutFormatError(f"{meta_path}: the {side} LUT {given!r} does not exist in {folder}")
    sizes = {side: stated_size(f) for side, f in files.items()}
    # told before a large table is parsed; a size out of range is read_cube's to report
    if all(s is not None and MIN_SIZE <= s <= MAX_SIZE for s in sizes.values()) and sizes["light"] != sizes["dark"]:
        raise LutFormatError(
            f"{meta_path}: the light LUT {files['light'].name} is {sizes['light']}^3 but the dark LUT "
            f"{files['dark'].name} is {sizes['dark']}^3; a colour's two LUTs must have the same size "
            f"(resample one with `hairfx-lut resample FILE.cube --size N -o OUT.cube`, or bake both from one recipe)"
        )
    parts = {side: (read_cube(files[side]), need(meta[side], "intensity", float, side)) for side in files}
    try:
        return Color(
            name=name,
            display_name=need(meta, "display_name", str) if "display_name" in meta else name,
            swatch=need(meta, "swatch", str),
            light=parts["light"][0],
            dark=parts["dark"][0],
            light_intensity=parts["light"][1],
            dark_intensity=parts["dark"][1],
            path=folder,
        )
    except InputError as exc:
        raise LutFormatError(f"{meta_path}: {exc}") from None


def _bad_name(name: str) -> str:
    return f"folder name {name!r} is not a colour name: expected {_NAME_RULE}"


def save_color(color: Color, folder: str | os.PathLike, *, decimals: int = 6) -> Path:
    """Write ``color`` to ``folder`` (created if needed) as ``color.json``, ``light.cube``
    and ``dark.cube`` (``decimals`` per value). Returns the folder.

    All three files are written under temporary names first and renamed into place only
    once every one is complete, so a failure (a full disk) leaves the colour that was
    there whole, never a light LUT of one colour beside the dark LUT of another, and no
    folder that the save made.

    The folder's name is the colour's name (the format requires them to be equal), so
    ``save_color(get_color("copper"), "my-luts/mycopper")`` saves a colour called
    ``mycopper``; a folder name that is not a colour name is refused before anything is
    written. So is a folder that is, or lies under, a file; an OS error while writing (no
    permission, a full disk) raises :class:`~hairfx.errors.InputError` naming the folder.
    """
    with saving_color(color, folder, decimals=decimals) as saved:
        pass
    return saved


@contextlib.contextmanager
def saving_color(color: Color, folder: str | os.PathLike, *, decimals: int = 6) -> Iterator[Path]:
    """:func:`save_color` as a block, for a caller that writes more files beside the
    colour's (a recipe and its grades): the colour's three files are written under
    temporary names before the block runs and renamed into place after it ends normally
    (write the others with :func:`hairfx._files.replacing` inside it, and every rename
    comes after every write). When the block raises, nothing is renamed, the temporary
    files are removed, and so are the folders made for the colour: the folder is as it
    was. Yields the folder, a :class:`~pathlib.Path`."""
    if not isinstance(color, Color):
        raise InputError(f"save_color needs a Color (from get_color or load_color), got {type(color).__name__}")
    folder = Path(folder)
    check_color_folder(folder, color.name)
    decimals = _decimals(decimals)
    meta = {
        "format": FORMAT_VERSION,
        "name": folder.name,
        "display_name": color.display_name,
        "swatch": color.swatch.lower(),
        "light": {"lut": "light.cube", "intensity": round(float(color.light_intensity), 6)},
        "dark": {"lut": "dark.cube", "intensity": round(float(color.dark_intensity), 6)},
    }
    in_block = False  # an OSError from the caller's block is the caller's to word
    try:
        with made_folders(folder), contextlib.ExitStack() as stack:  # the renames happen as the stack unwinds
            light, dark, meta_tmp = (stack.enter_context(replacing(folder / n)) for n in ("light.cube", "dark.cube", "color.json"))
            _write_cube(color.light, light, decimals)
            _write_cube(color.dark, dark, decimals)
            meta_tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            in_block = True
            yield folder
            in_block = False
    except OSError as exc:  # no permission, a full disk; the message names the folder, not a temporary file
        if in_block:
            raise
        raise InputError(f"cannot save colour {color.name!r} to {folder}: {exc.strerror or exc}") from None


def check_color_folder(folder: str | os.PathLike, name: str) -> Path:
    """Refuse a folder that :func:`save_color` could not save the colour ``name`` to: a
    folder name that is not a colour name, a folder that is, or lies under, a file, and one
    whose nearest existing folder takes no new files. :func:`save_color` checks it first;
    a tool that works long before saving (a bake at a large size) calls it before that
    work, so a wrong ``-o`` costs nothing. Returns the folder as a :class:`~pathlib.Path`."""
    folder = Path(folder)
    doing = f"cannot save colour {name!r} to {folder}"
    if not _NAME.match(folder.name):
        raise InputError(f"{doing}: {_bad_name(folder.name)}")
    try:  # a name too long for the file system fails its stat()
        check_folder(folder, doing, writable=True)
    except OSError as exc:
        raise InputError(f"{doing}: {exc.strerror or exc}") from None
    return folder


_extra_dirs: list[Path] = []
# Loaded colours by folder and the folders they override, most recently used last; at most
# _CACHE_SIZE of them (a service naming colour folders by path, one per upload, grew by
# about 1 MB each for ever).
_cache: "collections.OrderedDict[tuple[Path, tuple[Path, ...]], tuple[float, Color]]" = collections.OrderedDict()
_CACHE_SIZE = 64
_lock = threading.Lock()
_skipped: set[Path] = set()  # colour folders with invalid names, warned about once


def _bundled_dir() -> Path | None:
    """The bundled palette: ``hairfx.luts`` once installed, ``luts/`` in a source checkout."""
    try:
        spec = importlib.util.find_spec("hairfx.luts")
    except ModuleNotFoundError:
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    locations.append(Path(__file__).resolve().parents[1] / "luts")
    for loc in locations:
        if Path(loc).is_dir():
            return Path(loc)
    return None


def _stamp(folder: Path) -> float:
    """The latest change in ``folder``: a loaded colour is reused until it changes. An entry
    that cannot be looked at (a dangling link, such as the lock file ``.#color.json`` an editor
    keeps, or a file removed meanwhile) is passed over: it is no part of the colour."""
    stamps = [folder.stat().st_mtime]
    for f in folder.iterdir():
        try:
            stamps.append(f.stat().st_mtime)
        except OSError:
            continue
    return max(stamps)


def add_lut_dir(path: str | os.PathLike) -> None:
    """Add a folder of colour folders to search (it overrides earlier ones on a name clash).
    A relative path is taken from the working folder at the call, and stays that folder."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InputError(f"add_lut_dir needs the path of a folder of colour folders, got {path!r}")
    path = Path(path).expanduser()
    if not path.is_dir():
        raise InputError(f"LUT folder does not exist or is not a folder: {path}")
    path = path.resolve()
    if (path / "color.json").is_file():  # its colour would be found nowhere, and nothing said why
        raise InputError(f"{path} is a colour folder, not a folder of colour folders: add the folder that holds "
                         f"it ({path.parent}), or name the colour by its path")
    with _lock:
        if path not in _extra_dirs:
            _extra_dirs.append(path)


def lut_dirs() -> list[Path]:
    """The folders searched for colours, lowest priority first."""
    dirs = [d for d in [_bundled_dir()] if d is not None]
    env = os.environ.get("HAIRFX_LUT_PATH", "")
    # '~' expanded, as add_lut_dir and a colour's path expand it: a quoted
    # HAIRFX_LUT_PATH="~/my-luts" reaches here as the shell left it
    dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    dirs += list(_extra_dirs)
    return dirs


def _sources() -> dict[str, list[Path]]:
    """Every colour folder on the search path by name, lowest priority first: the last one
    is the colour of that name, the others the ones it overrides. A folder searched twice
    (a folder on the path twice) counts once, where it comes last."""
    found: dict[str, list[Path]] = {}
    seen: dict[Path, Path] = {}  # a folder's real path: the path it was found by
    for d in lut_dirs():
        if not d.is_dir():
            continue
        for sub in sorted(d.iterdir()):
            if not (sub / "color.json").is_file():
                continue
            if not _NAME.match(sub.name):  # it would be listed, then refuse to load
                if sub not in _skipped:
                    _skipped.add(sub)
                    warnings.warn(f"hairfx: colour folder {sub} skipped: {_bad_name(sub.name)}; rename it", stacklevel=3)
                continue
            folders = found.setdefault(sub.name, [])
            real = sub.resolve()
            if real in seen:
                folders.remove(seen[real])
            seen[real] = sub
            folders.append(sub)
    return found


def _found_and_hidden(folders: list[Path]) -> tuple[Path, tuple[Path, ...]]:
    """``(folder, hidden)`` of a name's folders on the search path (:func:`_sources`, lowest
    priority first): the folder :func:`get_color` loads, and those it hides (lowest first)."""
    return folders[-1], tuple(folders[:-1])


def _index() -> dict[str, Path]:
    """The colour folder of each name on the search path."""
    return {name: folders[-1] for name, folders in _sources().items()}


def _overridden() -> dict[str, tuple[Path, tuple[Path, ...]]]:
    """``{name: (folder, hidden)}`` for every colour name held by more than one folder on the
    search path: the folder :func:`get_color` loads, and those it hides (lowest first)."""
    return {name: _found_and_hidden(folders) for name, folders in _sources().items() if len(folders) > 1}


def _describe_overrides(hidden: "tuple[Path, ...]") -> str:
    """``"the bundled colour (/x/luts/copper)"``, ``"/y/copper"``, or both joined with
    ``" and "``: what a colour that hides ``hidden`` overrides, in words."""
    bundled = _bundled_dir()
    bundled = bundled.resolve() if bundled is not None else None
    words = [f"the bundled colour ({p})" if bundled is not None and p.resolve().parent == bundled else str(p)
             for p in hidden]
    return " and ".join(words)


def _searched_note(folder: Path) -> str:
    """The note an unknown colour's message puts after a folder it searched: why that folder
    gave no colours, where it is plain."""
    if not folder.is_dir():
        return " (not a folder)" if folder.exists() else " (missing)"
    if (folder / "color.json").is_file():  # HAIRFX_LUT_PATH naming the colour folder itself
        return f" (a colour folder itself: put the folder that holds it, {folder.absolute().parent}, on the path)"
    return ""


def _not_a_colour(folder: Path, shown: str, lead: str) -> str:
    """What ``folder``, a folder without color.json written ``shown`` in a message, holds in
    place of a colour, for the message that refuses it (after ``lead``): a recipe to bake
    first, or the colour folders to name one of; ``""`` when it is neither."""
    if _is_file(folder / "recipe.toml"):
        return (f"{lead}it looks like a recipe's folder; bake it first (hairfx-lut bake {shown} -o DIR) and name "
                "the colour folder that makes by its path")
    try:
        held = sorted(sub.name for sub in folder.iterdir() if _is_file(sub / "color.json"))
    except OSError:
        return ""
    if not held:
        return ""
    return (f"{lead}it is a folder of colour folders ({', '.join(held)}), not one colour; name one by its path "
            f"({shown}/{held[0]}) or put {folder.absolute()} on HAIRFX_LUT_PATH to name them by their names")


def _here_note(here: Path) -> str:
    """The note an unknown colour's message puts after the folders it searched when the
    working folder holds a folder ``here`` of that name without color.json: it is no colour,
    and what it holds instead (:func:`_not_a_colour`); ``""`` when there is no such folder."""
    try:
        if not here.name or not here.is_dir():
            return ""
    except OSError:  # a name longer than the file system takes
        return ""
    return f"; ./{here} exists but holds no color.json{_not_a_colour(here, f'./{here}', ': ')}"


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False where the name cannot be a file's at all (longer than the
    file system takes: a colour name is any text the caller typed)."""
    try:
        return path.is_file()
    except OSError:
        return False


def colors() -> list[str]:
    """Names of all colours available, sorted and in lower case (names are case-insensitive)."""
    return sorted(_index())


def _likely(key: str, names: list[str]) -> str:
    """``"; did you mean 'copper'?"`` for an unknown colour name: the hex colour it is
    without its ``#``, or the nearest of ``names``; ``""`` when nothing is near."""
    if HEX_SWATCH.match("#" + key):
        return f"; did you mean '#{key}'?"
    near = difflib.get_close_matches(key, names, n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def get_color(name: "str | Color") -> Color:
    """The :class:`Color` called ``name`` (a :class:`Color` is returned as is).

    A ``'#RRGGBB'`` string gives a pair synthesised for that colour
    (:func:`hairfx.synth.color_from_hex`); a string with a ``/`` in it (or ``"."`` or
    ``".."``), or any ``os.PathLike`` such as a :class:`pathlib.Path`, is the path of a
    colour folder (``"my-luts/mine"``), loaded as :func:`load_color` does. Colour folders
    are loaded once and cached (reloaded when ``color.json`` changes). A colour found by
    its name that hides others of that name (a user's ``copper`` before the bundled one)
    names their folders in :attr:`Color.overrides`.
    An unknown name raises :class:`~hairfx.errors.UnknownColorError` listing the valid ones.
    """
    if isinstance(name, Color):
        return name
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
        if not isinstance(name, str) or not ("/" in name or os.sep in name):
            name = os.path.join(".", name)  # a path, even when it is a bare folder name
    if not isinstance(name, str):
        raise InputError(
            f"color must be a colour name, a '#RRGGBB' string, a colour folder's path or a Color, "
            f"got {type(name).__name__}"
        )
    key = name.strip().lower()
    if key.startswith("#"):  # any '#RRGGBB': a pair synthesised for it (hairfx.synth)
        from .synth import color_from_hex

        return color_from_hex(key)
    hidden: tuple[Path, ...] = ()  # the folders of the same name a colour found by name hides
    if "/" in name or os.sep in name or name.strip() in (".", ".."):  # a colour folder given by its path
        folder = Path(name.strip()).expanduser()
        if not folder.exists():
            raise MissingFileError(f"colour folder not found: {folder}")
        folder = folder.resolve()
    else:
        folders = _sources().get(key)
        folder, hidden = _found_and_hidden(folders) if folders else (None, ())
        if folder is None:  # perhaps the folder the caller means, under a name it cannot have
            for sub in _skipped:
                if sub.name.lower() == key and (sub / "color.json").is_file():
                    raise LutFormatError(f"{sub / 'color.json'}: {_bad_name(sub.name)}; rename the folder")
    if folder is None:
        names = colors()
        valid = ", ".join(names) or "(none: no colour folders found)"
        searched = ", ".join(f"{d}{_searched_note(d)}" for d in lut_dirs())
        here = Path(name.strip())
        # a name is never a folder of the working folder (a recipe's sources may be one), but say so
        hint = f"; {here} in the working folder is a colour folder: name it by its path, ./{here}" if here.name and \
            _is_file(here / "color.json") else ""
        raise UnknownColorError(
            f"unknown colour {name!r}; valid colours: {valid}, or a '#RRGGBB' hex colour "
            f"(searched: {searched}){hint or _here_note(here) + _likely(key, names)}"
        )
    if not (folder / "color.json").is_file():
        return load_color(folder)  # raises, naming what the folder lacks
    stamp = _stamp(folder)
    key = folder, hidden  # one object per colour and what it hides: renderers keep a colour's tables by it
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            _cache.move_to_end(key)
            return hit[1]
    color = load_color(folder)
    if hidden:
        color = replace(color, overrides=hidden)
    with _lock:
        _cache[key] = (stamp, color)
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return color
