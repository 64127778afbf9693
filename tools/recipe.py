"""Recipes: the effects of a colour's light and dark LUT, written as TOML, baked to a folder.

A recipe (``luts/<name>/recipe.toml``)::

    name = "copper"                 # folder name: lower case, digits, - and _ (not first)
    display_name = "Copper"
    swatch = "#b4532a"              # the colour the hair should read as
    size = 33                       # LUT_3D_SIZE (optional, 33)

    [light]
    reference = "light"             # optional: the photo it was tuned on (a note, not read)
    intensity = 0.546235            # hair intensity of the light reference image
    [[light.effects]]
    effect = "colorize"
    target = "#b4532a"

    [dark]
    intensity = 0.165912
    [[dark.effects]]
    effect = "colorize"
    target = "#b4532a"
    lightness = 0.9

Baking evaluates the effects (:mod:`hairfx.effects`) on the LUT grid: the same recipe
always gives byte-identical files. A grade made elsewhere (a Hald CLUT edited in a photo
editor, or a LUT fitted on an edited reference photo) enters as a ``lut`` effect::

    [[light.effects]]
    effect = "lut"
    file = "light_grade.cube"       # relative to the recipe, in its folder or below
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # pragma: no cover - run by its path: python tools/recipe.py
    import _by_path  # beside it, in the folder Python put first on sys.path

    _by_path.part_of_lut_tool(__file__, "bake", "new")  # a module of these commands, not a command

import contextlib
import json
import os
import shutil
from pathlib import Path

from hairfx._files import made_folders, replacing
from hairfx.colors import _NAME, _NAME_RULE, Color, check_color_folder, saving_color
from hairfx.effects import bake_lut, parse_hex, validate_effects
from hairfx.errors import InputError
from hairfx.lut import MAX_SIZE, MIN_SIZE

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["load_recipe", "bake_recipe", "recipe_text", "is_baked_copy", "output_folder", "DECIMALS"]

#: First line of the recipe that bake copies beside the LUTs it bakes elsewhere: it marks
#: the copy (replaced by the next bake) apart from a recipe that is someone's source.
COPY_MARK = "# hairfx-lut bake copied this recipe from "

#: Decimals written per .cube value (keeps a 33^3 file near 0.9 MB).
DECIMALS = 5
_OUTPUTS = {"light.cube", "dark.cube", "color.json", "recipe.toml"}
_KEYS = {"name", "display_name", "swatch", "size", "light", "dark", "description"}


def recipe_file(path: str | os.PathLike) -> Path:
    """The recipe ``path`` names: the file itself, or a colour folder's ``recipe.toml``."""
    path = Path(path)
    return path / "recipe.toml" if path.is_dir() else path


def load_recipe(path: str | os.PathLike) -> dict:
    """Read and check a recipe; :class:`InputError` names the file and what is wrong."""
    path = recipe_file(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM, as Notepad writes, is fine
    except FileNotFoundError:
        raise InputError(f"recipe not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save the recipe as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise InputError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(_KEYS))}")
    for key in ("name", "swatch", "light", "dark"):
        if key not in data:
            raise InputError(f"{path}: missing {key!r}")
    if not isinstance(data["name"], str) or not _NAME.match(data["name"]):
        raise InputError(f"{path}: name must be {_NAME_RULE}, got {data['name']!r}")
    display = data.get("display_name", data["name"])
    if not isinstance(display, str) or not display.strip():
        raise InputError(f"{path}: display_name must be a non-empty string, got {display!r}")
    data["swatch"] = parse_hex(data["swatch"], what=f"{path}: swatch")
    size = data.setdefault("size", 33)
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InputError(f"{path}: size must be an integer in {MIN_SIZE}..{MAX_SIZE}, got {size!r}")
    for side in ("light", "dark"):
        part = data[side]
        if not isinstance(part, dict):
            raise InputError(f"{path}: [{side}] must be a table")
        extra = set(part) - {"intensity", "effects", "reference"}
        if extra:
            raise InputError(f"{path}: [{side}] has unknown key(s) {', '.join(sorted(extra))}; valid: intensity, effects, reference")
        i = part.get("intensity")
        if isinstance(i, bool) or not isinstance(i, (int, float)) or not 0 < i < 1:
            raise InputError(f"{path}: [{side}] intensity must be a number in (0, 1), got {i!r}")
        part["effects"] = validate_effects(part.get("effects", []), where=f"{path}: {side}.effects")
        for entry in part["effects"]:
            # only a grade in the recipe's own folder lies where a baked file goes
            grade = (path.parent / entry["file"]) if entry["effect"] == "lut" else None
            if grade is not None and grade.name in _OUTPUTS \
                    and grade.resolve().parent == path.parent.resolve():
                raise InputError(f"{path}: [{side}] lut file {entry['file']!r} would be overwritten by the baked "
                                 f"{Path(entry['file']).name}; rename it, e.g. {side}_grade.cube")
            if grade is not None and not grade.is_file():  # a misspelt name: said with the recipe, before any work
                near = sorted(f.name for f in path.parent.glob("*.cube") if f.name not in _OUTPUTS)
                beside = f"; beside it: {', '.join(near)}" if near else ""
                raise InputError(f"{path}: [{side}] lut file {entry['file']!r} not found (looked for {grade}){beside}")
    data["base_dir"] = str(path.parent)
    if not data["dark"]["intensity"] < data["light"]["intensity"]:
        raise InputError(f"{path}: dark intensity {data['dark']['intensity']} must be below light {data['light']['intensity']}")
    return data


def color_from_recipe(recipe: dict) -> Color:
    name = recipe["name"]
    luts = {
        side: bake_lut(recipe[side]["effects"], size=recipe["size"], source_intensity=recipe[side]["intensity"],
                       title=f"hairfx {name} {side}", base_dir=recipe.get("base_dir"))
        for side in ("light", "dark")
    }
    return Color(
        name=name,
        display_name=recipe.get("display_name", name),
        swatch=recipe["swatch"],
        light=luts["light"],
        dark=luts["dark"],
        light_intensity=float(recipe["light"]["intensity"]),
        dark_intensity=float(recipe["dark"]["intensity"]),
    )


def bake_recipe(recipe_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Bake the recipe at ``recipe_path`` into the colour folder ``out_dir`` (light.cube,
    dark.cube, color.json; the recipe is copied beside them unless it is already there)."""
    recipe_path = recipe_file(recipe_path)
    recipe = load_recipe(recipe_path)
    out_dir = Path(out_dir)
    if out_dir.name != recipe["name"]:
        raise InputError(f"output folder {out_dir} must be named after the colour, {recipe['name']!r}")
    # Grades the recipe refers to by relative path travel with it, so they must lie in
    # its folder: a '../grade.cube' would be copied beside the colour folder, over
    # whatever is there. Checked before anything is written.
    grades = [
        entry["file"]
        for side in ("light", "dark")
        for entry in recipe[side]["effects"]
        if entry["effect"] == "lut" and not Path(entry["file"]).is_absolute()
    ]
    for rel in grades:
        if not (recipe_path.parent / rel).resolve().is_relative_to(recipe_path.parent.resolve()):
            raise InputError(
                f"{recipe_path}: grade file {rel!r} lies outside the recipe's folder, so it cannot travel "
                f"with the colour; put it beside recipe.toml (or in a folder below it) or give an absolute path"
            )
    # the folder is checked as save_color checks it, but before the bake, which takes
    # seconds at size 65 and minutes at 256: a wrong -o costs nothing
    check_color_folder(out_dir, recipe["name"])
    text = recipe_path.read_text(encoding="utf-8-sig")  # the recipe baked, not one edited during the bake
    color = color_from_recipe(recipe)
    target = out_dir / "recipe.toml"
    copy = not target.exists() or not os.path.samefile(target, recipe_path)
    # Every file is written under a temporary name, and renamed into place only once all
    # are written (saving_color's renames come last): a bake that fails part-way (a full
    # disk, Ctrl-C) leaves the colour that was there whole, the recipe copy marked as one
    # (the next bake replaces it), and no folder or file that it made.
    with saving_color(color, out_dir, decimals=DECIMALS):  # 5 keep a 33^3 table near 0.86 MB, well below 1 MB
        try:
            with contextlib.ExitStack() as stack:
                if copy:
                    tmp = stack.enter_context(replacing(target))
                    tmp.write_text(f"{COPY_MARK}{recipe_path.resolve()}; edit that one and bake again\n{text}",
                                   encoding="utf-8")
                    for rel in grades:
                        dest = out_dir / rel
                        stack.enter_context(made_folders(dest.parent))  # a grade in a subfolder
                        shutil.copyfile(recipe_path.parent / rel, stack.enter_context(replacing(dest)))
        except OSError as exc:  # a full disk: named by the folder, as a failure to write the LUTs is
            raise InputError(f"cannot save colour {recipe['name']!r} to {out_dir}: {exc.strerror or exc}") from None
    return out_dir


def output_folder(output: str | os.PathLike, name: str) -> Path:
    """The colour folder that ``-o output`` names for the colour ``name`` in ``bake`` and
    ``new``, which take it in either form: the colour folder itself, named after the
    colour (``luts/NAME``), or the folder of colour folders to make it in (``luts``, where
    ``luts/NAME`` is made). A folder named after the colour is its colour folder, unless it
    holds colour folders; any other is the folder of colour folders. Refused, naming both
    forms: a colour folder of another name (the colour would be made inside another
    colour), and a folder not made yet beside colour folders (a mistyped colour folder,
    whose colour would be made one level too deep for the folder to find it)."""
    out = Path(output)
    if out.name in ("", ".."):  # `-o .`: the folder's own name
        out = Path(os.path.abspath(out))
    forms = (f"give the colour's own folder, named after it ({out.parent / name}), or the folder of colour "
             f"folders to make it in ({out.parent})")
    if out.name == name and not _holds_colours(out):
        return out
    held = next((f for f in ("color.json", "recipe.toml") if (out / f).is_file()), None)
    if held is not None:
        raise InputError(f"-o {output}: {out} is the folder of another colour (it holds {held}), not a folder of "
                         f"colour folders; {forms}")
    if not out.exists() and _holds_colours(out.parent):
        raise InputError(f"-o {output}: {out} does not exist and lies among colour folders, but the colour is "
                         f"named {name!r}; {forms}")
    return out / name


def _holds_colours(folder: Path) -> bool:
    """Whether ``folder`` is a folder of colour folders: one of its folders holds a ``color.json``."""
    try:
        return folder.is_dir() and any((sub / "color.json").is_file() for sub in folder.iterdir())
    except OSError:  # unreadable: not known to hold any
        return False


def is_baked_copy(recipe_path: Path) -> bool:
    """Whether ``recipe_path`` is the copy that bake left beside LUTs baked from a recipe
    elsewhere (its first line is :data:`COPY_MARK`), not a recipe someone edits."""
    try:
        with open(recipe_path, encoding="utf-8-sig") as f:
            return f.readline().startswith(COPY_MARK)
    except (OSError, UnicodeDecodeError):
        return False


def recipe_text(name: str, display_name: str, swatch: str, light: tuple[float, list], dark: tuple[float, list],
                *, size: int = 33, description: str = "") -> str:
    """A recipe as TOML text (what ``new`` writes beside the LUTs)."""
    lines = []
    if description:
        lines += [f"# {line}" for line in description.splitlines()] + [""]
    lines += [f"name = {_toml_value(name)}", f"display_name = {_toml_value(display_name)}",
              f"swatch = {_toml_value(swatch)}", f"size = {size}"]
    for side, (intensity, effects) in (("light", light), ("dark", dark)):
        lines += ["", f"[{side}]", f"intensity = {intensity}"]
        for e in effects:
            lines += ["", f"[[{side}.effects]]"]
            for k, v in e.items():
                lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _toml_value(v) -> str:
    if isinstance(v, str):
        # a JSON string is a TOML basic string, quotes, backslashes and control characters
        # escaped, but for DEL, which TOML takes only escaped too
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)
