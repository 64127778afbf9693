"""hairfx.colors: the colour folder format, the registry, user LUT folders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import hairfx
from conftest import read_only_folder
from hairfx.colors import Color, get_color, load_color, save_color
from hairfx.errors import InputError, LutFormatError, UnknownColorError


def test_save_load_round_trip(tmp_path, copperish):
    folder = save_color(copperish, tmp_path / "copperish")
    meta = json.loads((folder / "color.json").read_text())
    assert meta["light"] == {"lut": "light.cube", "intensity": 0.6}
    back = load_color(folder)
    assert (back.name, back.swatch, back.size) == ("copperish", "#b4532a", 17)
    np.testing.assert_allclose(back.light.table, copperish.light.table, atol=5e-7)
    np.testing.assert_allclose(back.dark.table, copperish.dark.table, atol=5e-7)


def test_a_failed_save_leaves_the_colour_that_was_there_whole(tmp_path, copperish, monkeypatch):
    """A full disk while the second LUT is written: the folder keeps the old colour's three
    files, not a new light LUT beside an old dark one."""
    import importlib

    colors_module = importlib.import_module("hairfx.colors")  # the module: hairfx.colors is also a function
    folder = save_color(get_color("violet"), tmp_path / "mine")
    before = {f.name: f.read_bytes() for f in folder.iterdir()}
    real = colors_module._write_cube
    calls = []

    def full_disk(lut, path, decimals):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(lut, path, decimals)

    monkeypatch.setattr(colors_module, "_write_cube", full_disk)
    # the error names the colour's folder, not the temporary file being written
    with pytest.raises(InputError, match=r"cannot save colour 'copperish' to .*mine: No space left on device$"):
        save_color(copperish, folder)
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == before
    assert load_color(folder).swatch == get_color("violet").swatch


def test_save_color_names_the_colour_after_its_folder(tmp_path):
    # the bundled copper saved under another name loads under that name, LUTs unchanged
    copper = get_color("copper")
    back = load_color(save_color(copper, tmp_path / "mycopper"))
    assert (back.name, back.swatch, back.display_name) == ("mycopper", copper.swatch, copper.display_name)
    np.testing.assert_allclose(back.light.table, copper.light.table, atol=5e-7)
    # a synthesised hex colour (named '#7a2e8c') saves under any valid folder name
    plum = load_color(save_color(get_color("#7a2e8c"), tmp_path / "deep-plum_2"))
    assert (plum.name, plum.swatch) == ("deep-plum_2", "#7a2e8c")


@pytest.mark.parametrize("folder", ["#7a2e8c", "MyCopper", "-copper", "cop per"])
def test_save_color_refuses_a_folder_name_that_is_not_a_colour_name_before_writing(tmp_path, copperish, folder):
    with pytest.raises(InputError, match=f"cannot save colour 'copperish' to .*: folder name '{re.escape(folder)}' "
                                         "is not a colour name: expected lower-case letters, digits"):
        save_color(copperish, tmp_path / "out" / folder)
    assert not (tmp_path / "out").exists()


def test_save_color_under_a_file_names_the_file(tmp_path, copperish):
    # NotADirectoryError / FileExistsError came out raw
    (tmp_path / "f").write_text("x")
    for folder in (tmp_path / "f", tmp_path / "f" / "mine", tmp_path / "f" / "deep" / "mine"):
        with pytest.raises(InputError, match=rf"cannot save colour 'copperish' to {folder}: {tmp_path}/f is a file, "
                                             "not a folder$"):
            save_color(copperish, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_save_color_os_errors_name_the_folder(tmp_path, copperish):
    # A name too long for the file system fails as root too (where a read-only folder does not).
    folder = tmp_path / ("a" * 300)
    with pytest.raises(InputError, match=r"cannot save colour 'copperish' to .*/a{300}: File name too long$"):
        save_color(copperish, folder)
    assert list(tmp_path.iterdir()) == []


def test_save_color_into_a_read_only_folder(tmp_path, copperish):
    ro = read_only_folder(tmp_path)
    try:
        for folder in (ro / "mine", ro / "deep" / "mine"):
            # refused before anything is written, naming the folder that takes no new files
            with pytest.raises(InputError, match=rf"cannot save colour 'copperish' to {folder}: {ro} is not writable$"):
                save_color(copperish, folder)
    finally:
        ro.chmod(0o700)
    assert list(ro.iterdir()) == []


def test_load_color_gives_the_real_reason_for_a_bad_name(tmp_path, copperish):
    # a folder renamed by hand to a name no colour may have: the rule, not a mismatch that is none
    folder = save_color(copperish, tmp_path / "plum")
    meta = json.loads((folder / "color.json").read_text())
    meta["name"] = "#7a2e8c"
    (folder / "color.json").write_text(json.dumps(meta))
    folder = folder.rename(tmp_path / "#7a2e8c")
    with pytest.raises(LutFormatError, match="folder name '#7a2e8c' is not a colour name: .*; rename the folder") as err:
        load_color(folder)
    assert "must equal" not in str(err.value)
    # a valid folder whose color.json names another colour: the mismatch, without the rule
    folder = save_color(copperish, tmp_path / "mycopper")
    meta["name"] = "copper"
    (folder / "color.json").write_text(json.dumps(meta))
    with pytest.raises(LutFormatError, match="name 'copper' must equal the folder name 'mycopper'$"):
        load_color(folder)


def test_blend_is_linear_between_dark_and_light(copperish):
    np.testing.assert_array_equal(copperish.blended(0.0), copperish.dark.table)
    np.testing.assert_array_equal(copperish.blended(1.0), copperish.light.table)
    mid = 0.5 * (copperish.dark.table + copperish.light.table)
    np.testing.assert_allclose(copperish.blended(0.5), mid, atol=1e-7)
    assert copperish.weight(0.2) == 0.0 and copperish.weight(0.6) == 1.0 and copperish.weight(0.4) == pytest.approx(0.5)


@pytest.mark.parametrize("w, why", [(1.5, r"in \[0, 1\]"), (-0.1, r"in \[0, 1\]"),
                                     (float("nan"), "finite"), ("0.5", "must be a number")])
def test_a_blend_weight_outside_the_two_luts_is_refused(copperish, w, why):
    """Past 1 the table ran beyond the light LUT, NaN filled it with NaN, and a string gave
    NumPy's own error: each is named as the blend weight's problem."""
    with pytest.raises(InputError, match=f"blend weight w.*{why}"):
        copperish.blended(w)
    np.testing.assert_array_equal(copperish.blended(np.float64(1.0)), copperish.light.table)  # NumPy numbers too


def test_user_lut_folder(tmp_path, copperish, monkeypatch):
    save_color(copperish, tmp_path / "copperish")
    monkeypatch.setenv("HAIRFX_LUT_PATH", str(tmp_path))
    assert "copperish" in hairfx.colors()
    assert get_color("Copperish").path == tmp_path / "copperish"


def test_a_folder_with_capitals_is_skipped_with_a_warning_and_named_when_asked_for(tmp_path, copperish, monkeypatch):
    """A folder named with capitals cannot load (names are lower case): it is not listed, it
    does not hide the bundled colour of the same name, and asking for it gives the naming rule."""
    save_color(copperish, tmp_path / "mycopper").rename(tmp_path / "MyCopper")  # renamed by hand
    save_color(copperish, tmp_path / "copper").rename(tmp_path / "Copper")
    monkeypatch.setenv("HAIRFX_LUT_PATH", str(tmp_path))
    with pytest.warns(UserWarning) as warned:
        names = hairfx.colors()
    assert sorted(re.sub(r".*colour folder .*/(\w+) skipped: folder name '(\w+)' is not a colour name.*", r"\1 \2",
                         str(w.message)) for w in warned) == ["Copper Copper", "MyCopper MyCopper"]
    assert "mycopper" not in names and "copper" in names
    assert get_color("copper").path.parent != tmp_path  # the bundled one, not the misnamed folder
    for name in ("MyCopper", "mycopper"):
        with pytest.raises(LutFormatError, match="folder name 'MyCopper' is not a colour name: expected lower-case"):
            get_color(name)
    (tmp_path / "MyCopper").rename(tmp_path / "renamed")  # mended: the old name is simply unknown now
    with pytest.raises(UnknownColorError, match="unknown colour 'mycopper'"):
        get_color("mycopper")


def test_a_colour_folder_can_be_named_by_its_path(tmp_path, copperish, monkeypatch):
    from hairfx.errors import MissingFileError

    save_color(copperish, tmp_path / "copperish")  # not on any search path
    assert "copperish" not in hairfx.colors()
    color = get_color(f"{tmp_path}/copperish")
    assert color.path.resolve() == (tmp_path / "copperish").resolve() and color.swatch == "#b4532a"
    assert get_color(f"{tmp_path}/copperish") is color  # cached like a named colour
    assert get_color(tmp_path / "copperish") is color  # a pathlib.Path is a path too
    monkeypatch.chdir(tmp_path)
    assert get_color(Path("copperish")) is color  # even without a '/' in it
    with pytest.raises(MissingFileError, match="colour folder not found: .*typo"):
        get_color(f"{tmp_path}/typo")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LutFormatError, match=r"not a colour folder \(no color.json\)"):
        get_color(f"{tmp_path}/empty")
    from hairfx.video import parse_color_schedule

    assert parse_color_schedule(f"{tmp_path}/copperish").color_at(0.0) is color
    schedule = parse_color_schedule(f"violet:0-1,{tmp_path}/copperish:1-")  # a path in a segment too
    assert schedule.color_at(0.5).name == "violet" and schedule.color_at(1.5) is color
    schedule = parse_color_schedule(f"{tmp_path}/copperish:2-")  # and alone, with its time range
    assert schedule.color_at(1.0) is None and schedule.color_at(2.5) is color


def test_colour_folder_mistakes_raise_the_library_errors(tmp_path, copperish):
    from hairfx.errors import MissingFileError

    with pytest.raises(MissingFileError, match="colour folder not found: .*absent"):
        load_color(tmp_path / "absent")
    (tmp_path / "file.txt").write_text("not a folder")
    with pytest.raises(LutFormatError, match="file.txt: not a colour folder"):
        load_color(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LutFormatError, match=r"empty: not a colour folder \(no color.json\)"):
        load_color(tmp_path / "empty")
    with pytest.raises(InputError, match="save_color needs a Color .* got str"):
        save_color("copper", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_colour_that_overrides_another_of_its_name_says_so(tmp_path, copperish, monkeypatch):
    """A user colour named like a bundled one replaces it, as meant, but that was nowhere
    to be seen: get_color("copper") was another colour with nothing to say so. Its Color
    now names the folders it hides (lowest in the search first), and its repr shows them."""
    import importlib

    colors_mod = importlib.import_module("hairfx.colors")  # hairfx.colors is also a function
    monkeypatch.setattr(colors_mod, "_extra_dirs", [])
    bundled = get_color("copper")
    assert bundled.overrides == () and get_color("auburn").overrides == ()
    save_color(copperish, tmp_path / "env" / "copper")
    save_color(copperish, tmp_path / "added" / "copper")
    monkeypatch.setenv("HAIRFX_LUT_PATH", str(tmp_path / "env"))
    mine = get_color("copper")
    assert mine.path == tmp_path / "env" / "copper" and mine.overrides == (bundled.path,)
    assert get_color("Copper") is mine  # the same object, call after call (renderers cache by it)
    text = repr(mine)
    assert f"overrides=({bundled.path!r},)" in text and repr(mine.path) in text and "table" not in text
    hairfx.add_lut_dir(tmp_path / "added")
    top = get_color("copper")
    assert top.path == (tmp_path / "added" / "copper").resolve()
    assert top.overrides == (bundled.path, tmp_path / "env" / "copper")
    assert get_color(str(tmp_path / "env" / "copper")).overrides == ()  # named by its path: nothing overridden
    assert get_color("auburn").overrides == ()


def test_a_folder_searched_twice_overrides_nothing(tmp_path, copperish, monkeypatch):
    """The same folder on the path twice (HAIRFX_LUT_PATH naming the bundled palette, say)
    is not one colour hiding another."""
    bundled = get_color("copper").path.parent
    save_color(copperish, tmp_path / "copperish")
    monkeypatch.setenv("HAIRFX_LUT_PATH", f"{bundled}:{tmp_path}:{tmp_path}")
    assert get_color("copper").overrides == () and get_color("copperish").overrides == ()


def test_add_lut_dir(tmp_path, copperish, monkeypatch):
    import importlib

    colors_mod = importlib.import_module("hairfx.colors")  # hairfx.colors is also a function
    monkeypatch.setattr(colors_mod, "_extra_dirs", [])
    save_color(copperish, tmp_path / "copperish")
    hairfx.add_lut_dir(tmp_path)
    assert get_color("copperish").swatch == "#b4532a"
    with pytest.raises(InputError, match="does not exist"):
        hairfx.add_lut_dir(tmp_path / "missing")


def test_a_colour_folder_given_as_a_folder_of_colours_is_named_as_such(tmp_path, copperish, monkeypatch):
    """HAIRFX_LUT_PATH or add_lut_dir naming the colour folder itself, not the folder that holds
    it: its colour was unknown, with nothing to say why, and add_lut_dir took it silently."""
    import importlib

    colors_mod = importlib.import_module("hairfx.colors")
    monkeypatch.setattr(colors_mod, "_extra_dirs", [])
    save_color(copperish, tmp_path / "mine" / "copperish")
    monkeypatch.setenv("HAIRFX_LUT_PATH", str(tmp_path / "mine" / "copperish"))
    with pytest.raises(UnknownColorError, match=re.escape(
            f"{tmp_path / 'mine' / 'copperish'} (a colour folder itself: put the folder that holds it, "
            f"{tmp_path / 'mine'}, on the path)")):
        get_color("copperish")
    json_file = tmp_path / "mine" / "copperish" / "color.json"
    monkeypatch.setenv("HAIRFX_LUT_PATH", str(json_file))  # there, but no folder: not "missing"
    with pytest.raises(UnknownColorError, match=re.escape(f"{json_file} (not a folder)")):
        get_color("copperish")
    monkeypatch.delenv("HAIRFX_LUT_PATH")
    with pytest.raises(InputError, match=re.escape(
            f"{tmp_path / 'mine' / 'copperish'} is a colour folder, not a folder of colour folders: add the "
            f"folder that holds it ({tmp_path / 'mine'})")):
        hairfx.add_lut_dir(tmp_path / "mine" / "copperish")
    assert colors_mod.lut_dirs() == [colors_mod._bundled_dir()]
    hairfx.add_lut_dir(tmp_path / "mine")
    assert get_color("copperish").path == tmp_path / "mine" / "copperish"


def test_a_colour_folder_in_the_working_folder_asked_for_by_name_is_named_by_its_path(tmp_path, copperish,
                                                                                      monkeypatch):
    """Its name is not looked up there (a recipe's sources may be such a folder), but an artist
    inside their folder of colours got only "unknown colour" for the folder in front of them."""
    save_color(copperish, tmp_path / "copperish")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownColorError, match=re.escape(
            "; copperish in the working folder is a colour folder: name it by its path, ./copperish")):
        get_color(" copperish")
    assert get_color("./copperish").path == tmp_path / "copperish"
    with pytest.raises(UnknownColorError) as err:  # a folder that is no colour gets no such hint
        get_color("nothing")
    assert "working folder" not in str(err.value)


def test_a_folder_here_that_is_no_colour_says_what_it_holds(tmp_path, copperish, monkeypatch):
    """`hairfx-lut preview mine` in the folder holding a recipe's sources ./mine said only
    "unknown colour 'mine'", as did a folder of colour folders given for one colour, by its
    name or by its path: the message says the folder holds no color.json, and what it does."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "recipe.toml").write_text('name = "mine"\n')
    save_color(copperish, tmp_path / "my-luts" / "copperish")
    save_color(copperish, tmp_path / "my-luts" / "other")
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownColorError) as err:
        get_color("mine")
    assert str(err.value).endswith(
        "; ./mine exists but holds no color.json: it looks like a recipe's folder; bake it first "
        "(hairfx-lut bake ./mine -o DIR) and name the colour folder that makes by its path")
    with pytest.raises(UnknownColorError) as err:
        get_color("my-luts")
    assert str(err.value).endswith(
        "; ./my-luts exists but holds no color.json: it is a folder of colour folders (copperish, other), not one "
        f"colour; name one by its path (./my-luts/copperish) or put {tmp_path / 'my-luts'} on HAIRFX_LUT_PATH to "
        "name them by their names")
    with pytest.raises(LutFormatError, match=re.escape(
            "my-luts: not a colour folder (no color.json); it is a folder of colour folders (copperish, other)")):
        get_color("./my-luts")
    with pytest.raises(LutFormatError, match=re.escape("mine: not a colour folder (no color.json); it looks like a "
                                                       "recipe's folder; bake it first (hairfx-lut bake ")):
        get_color("./mine")
    with pytest.raises(UnknownColorError) as err:  # a folder of neither kind is said to be no colour, no more
        get_color("empty")
    assert str(err.value).endswith("; ./empty exists but holds no color.json")


def test_a_relative_lut_dir_stays_the_folder_it_named(tmp_path, copperish, monkeypatch):
    import importlib

    colors_mod = importlib.import_module("hairfx.colors")
    monkeypatch.setattr(colors_mod, "_extra_dirs", [])
    save_color(copperish, tmp_path / "mine" / "copperish")
    monkeypatch.chdir(tmp_path)
    hairfx.add_lut_dir("mine")
    monkeypatch.chdir(tmp_path / "mine")  # the colours went missing once the working folder moved
    assert "copperish" in hairfx.colors() and get_color("copperish").swatch == "#b4532a"
    assert colors_mod.lut_dirs()[-1] == tmp_path / "mine"


def test_an_editors_lock_link_or_a_folder_named_color_json_gives_no_traceback(tmp_path, copperish, monkeypatch):
    # Emacs keeps a dangling link .#color.json while color.json is edited: get_color and
    # `hairfx colors -v` died on it with FileNotFoundError
    save_color(copperish, tmp_path / "copperish")
    (tmp_path / "copperish" / ".#color.json").symlink_to("user@host.1234:1700000000")
    monkeypatch.setenv("HAIRFX_LUT_PATH", str(tmp_path))
    assert get_color("copperish").swatch == "#b4532a"
    assert get_color(str(tmp_path / "copperish")).swatch == "#b4532a"
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "color.json").mkdir()
    with pytest.raises(LutFormatError, match=r"odd/color.json: cannot be read \(Is a directory\)"):
        load_color(tmp_path / "odd")


def test_a_lut_path_starting_with_a_tilde_is_the_home_folders(tmp_path, copperish, monkeypatch):
    """HAIRFX_LUT_PATH="~/my-luts" (quoted, so the shell leaves the '~') was searched as a
    folder named '~', where add_lut_dir("~/my-luts") and --color ~/my-luts/x take the home's."""
    save_color(copperish, tmp_path / "my-luts" / "copperish")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HAIRFX_LUT_PATH", "~/my-luts")
    assert get_color("copperish").path == tmp_path / "my-luts" / "copperish"
    assert "copperish" in hairfx.colors()


def test_unknown_colour_lists_valid_names(tmp_path, copperish, monkeypatch):
    save_color(copperish, tmp_path / "copperish")
    monkeypatch.setenv("HAIRFX_LUT_PATH", f"{tmp_path}:{tmp_path / 'typo'}")
    with pytest.raises(UnknownColorError, match=r"unknown colour 'chartreuse'; valid colours: .*copperish") as err:
        get_color("chartreuse")
    assert isinstance(err.value, KeyError)
    assert "(searched: " in str(err.value) and f"{tmp_path}, {tmp_path / 'typo'} (missing))" in str(err.value)


def test_unknown_colour_says_hex_colours_are_valid_too_and_suggests_the_likely_one():
    """The list of names once read as the only valid colours: a hex colour typed without
    its '#' was told the palette's names alone, and a misspelt name was left to be found
    in the list."""
    with pytest.raises(UnknownColorError, match=r"valid colours: .*copper.*, or a '#RRGGBB' hex colour") as err:
        get_color("7A2E8C")
    assert str(err.value).endswith("did you mean '#7a2e8c'?")
    with pytest.raises(UnknownColorError) as err:
        get_color("Coper")
    assert str(err.value).endswith("did you mean 'copper'?")
    with pytest.raises(UnknownColorError) as err:
        get_color("chartreuse")
    assert "did you mean" not in str(err.value)


def test_an_unknown_colour_name_too_long_for_a_file_name_is_an_unknown_colour():
    """The check for a colour folder of that name in the working folder once raised the
    file system's OSError (file name too long) from inside get_color for a long name, in
    place of the unknown colour's message."""
    for name in ("a" * 300, "\u00e9" * 200):  # 300 bytes, 400 in UTF-8: over the 255 of a file name
        with pytest.raises(UnknownColorError, match="unknown colour"):
            get_color(name)


def test_bundled_palette_has_starter_colours():
    names = hairfx.colors()
    for name in ("copper", "platinum", "blue"):
        assert name in names
        c = get_color(name)
        assert c.dark_intensity < c.light_intensity and c.size >= 17


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.pop("swatch"), "missing 'swatch'"),
        (lambda m: m.update(swatch="orange"), "swatch must be '#RRGGBB'"),
        (lambda m: m["light"].update(intensity="high"), "'intensity' must be float"),
        (lambda m: m["light"].update(intensity=0.1), "dark intensity < light intensity"),
        (lambda m: m["dark"].update(lut="nope.cube"), "the dark LUT 'nope.cube' does not exist"),
        (lambda m: m.update(name="copper"), "name 'copper' must equal the folder name 'copperish'"),
        (lambda m: m.update(format=9), "unsupported format 9"),
        (lambda m: m.update(format=True), "'format' must be the number 1, not true$"),  # JSON true is not 1
        (lambda m: m.update(format=1.0), "'format' must be the number 1, not 1.0$"),
        # "unsupported format '1' (this hairfx reads 1)" said nothing of what was wrong
        (lambda m: m.update(format="1"), "'format' must be the number 1, not the string \"1\"$"),
        # "the light LUT 'copperish' does not exist" named the folder, not the LUT
        (lambda m: m["light"].update(lut=""), "the light LUT's path is empty; give its file name, such as \"light.cube\"$"),
        (lambda m: m["light"].update(lut="."), "the light LUT '.' is a folder in .*copperish, not a .cube file$"),
        (lambda m: m.update(display_name=["Copper"]), "'display_name' must be str"),
    ],
)
def test_malformed_colour_folder(tmp_path, copperish, edit, message):
    folder = save_color(copperish, tmp_path / "copperish")
    meta = json.loads((folder / "color.json").read_text())
    edit(meta)
    (folder / "color.json").write_text(json.dumps(meta))
    with pytest.raises(LutFormatError, match=message):
        load_color(folder)


def test_color_json_in_another_encoding_is_named(tmp_path, copperish):
    folder = save_color(copperish, tmp_path / "copperish")
    meta = folder / "color.json"
    meta.write_bytes(meta.read_bytes().replace(b'"display_name": "', b'"display_name": "Caf\xe9 '))
    with pytest.raises(LutFormatError, match=r"color.json: not UTF-8 text \(byte \d+\)"):
        load_color(folder)


def test_json_that_is_not_an_object(tmp_path, copperish):
    folder = save_color(copperish, tmp_path / "copperish")
    (folder / "color.json").write_text("[]")
    with pytest.raises(LutFormatError, match="expected a JSON object, got list"):
        load_color(folder)


def test_invalid_json_names_line(tmp_path, copperish):
    folder = save_color(copperish, tmp_path / "copperish")
    (folder / "color.json").write_text('{\n"name": "c",\n oops\n}')
    with pytest.raises(LutFormatError, match=r"color.json, line 3: invalid JSON"):
        load_color(folder)


def test_mismatched_lut_sizes(copperish):
    with pytest.raises(InputError, match="light LUT is 17\\^3 but dark LUT is 9\\^3"):
        Color("x", "X", "#000000", copperish.light, hairfx.LUT3D.identity(9), 0.6, 0.2)


def test_a_colour_folder_of_mismatched_sizes_is_refused_before_its_tables_are_parsed(tmp_path, copperish, monkeypatch):
    import importlib

    from hairfx.lut import stated_size, write_cube

    folder = save_color(copperish, tmp_path / "copperish")
    write_cube(hairfx.LUT3D.identity(9), folder / "dark.cube")  # the light one is 17^3
    assert (stated_size(folder / "light.cube"), stated_size(folder / "dark.cube")) == (17, 9)
    colors_mod = importlib.import_module("hairfx.colors")
    monkeypatch.setattr(colors_mod, "read_cube", lambda p: pytest.fail(f"{p} parsed"))  # a 200^3 table took 8 s
    with pytest.raises(LutFormatError, match=r"color.json: the light LUT light.cube is 17\^3 but the dark LUT dark.cube "
                                             r"is 9\^3; a colour's two LUTs must have the same size \(resample one"):
        load_color(folder)
    # a size line with a comment, after a BOM: told before parsing too, with the way out
    (folder / "dark.cube").write_bytes(b"\xef\xbb\xbfLUT_3D_SIZE 9  # nine\n" + b"0 0 0\n" * 729)
    with pytest.raises(LutFormatError, match=r"is 17\^3 but the dark LUT dark.cube is 9\^3; .*hairfx-lut resample"):
        load_color(folder)
    (folder / "dark.cube").write_text("0 0 0\n")  # no size line: not told here, read_cube says what is wrong
    assert stated_size(folder / "dark.cube") is None and stated_size(tmp_path / "absent.cube") is None
    monkeypatch.undo()
    with pytest.raises(LutFormatError, match="no LUT_3D_SIZE line"):
        load_color(folder)


def test_a_size_out_of_range_in_a_colour_folder_is_told_as_such_not_as_a_mismatch(tmp_path, copperish):
    folder = save_color(copperish, tmp_path / "copperish")
    text = (folder / "light.cube").read_text()
    (folder / "light.cube").write_text(text.replace("LUT_3D_SIZE 17", "LUT_3D_SIZE 300"))
    with pytest.raises(LutFormatError, match=r"light.cube.*LUT_3D_SIZE 300.*outside the supported range 2..256"):
        load_color(folder)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"light": "light.cube"}, "light must be a LUT3D .*got str"),
        ({"dark": np.zeros((2, 2, 2, 3))}, "dark must be a LUT3D .*got ndarray"),
        ({"light_intensity": "0.6"}, "light_intensity must be a number, got '0.6'"),
        ({"dark_intensity": True}, "dark_intensity must be a number, got True"),
        ({"dark_intensity": float("nan")}, "need 0 <= dark intensity < light intensity"),
        ({"swatch": None}, "swatch must be '#RRGGBB', got None"),
        ({"display_name": 3}, "display_name must be a string, got int"),
    ],
)
def test_a_colour_built_from_wrong_types_is_an_input_error(copperish, change, message):
    fields = dict(name="x", display_name="X", swatch="#112233", light=copperish.light, dark=copperish.dark,
                  light_intensity=0.6, dark_intensity=0.2)
    with pytest.raises(InputError, match=message):
        Color(**{**fields, **change})
    assert Color(**{**fields, "light_intensity": np.float32(0.6)}).light_intensity == pytest.approx(0.6)


def test_bundled_palette_location_matches_the_install():
    """Installed (CI installs without -e): the palette ships inside the package as
    hairfx/luts; run from a source checkout: the top-level luts/ folder."""
    import importlib
    from pathlib import Path

    from conftest import REPO

    colors_mod = importlib.import_module("hairfx.colors")
    package = Path(hairfx.__file__).resolve().parent
    expected = REPO / "luts" if package == REPO / "hairfx" else package / "luts"
    assert colors_mod._bundled_dir().resolve() == expected.resolve()
    assert (expected / "copper" / "color.json").is_file()


def test_colours_named_by_path_are_kept_for_the_last_64_only(tmp_path, copperish):
    """A service naming a new colour folder per request grew by about 1 MB a folder for ever."""
    import importlib

    colors_mod = importlib.import_module("hairfx.colors")  # hairfx.colors is also the function
    for i in range(70):
        save_color(copperish, tmp_path / f"c{i}")
    got = [get_color(str(tmp_path / f"c{i}")) for i in range(70)]
    assert len(colors_mod._cache) <= colors_mod._CACHE_SIZE
    assert get_color(str(tmp_path / "c69")) is got[69]  # the recent ones are still the same objects
    assert get_color(str(tmp_path / "c0")) is not got[0]  # the oldest was let go, and loads again


@pytest.mark.parametrize("bad", [None, 5, ""])
def test_add_lut_dir_refuses_what_is_not_a_path(bad):
    with pytest.raises(InputError, match="add_lut_dir needs the path of a folder"):
        hairfx.add_lut_dir(bad)
