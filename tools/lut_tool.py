"""hairfx-lut: author the light/dark LUT pairs hairfx recolours hair with.

The workflow of the paper (section 6): pick a light-hair and a dark-hair reference photo,
measure their hair intensity (``intensity``), grade each (in a photo editor through a
Hald image, ``hald-export`` / ``hald-import``; on the photo itself, ``fit``; or with a
recipe of effects, ``bake``), and ship the pair with its intensities as a colour folder.
``new`` synthesises a pair for any hex colour, ``resample`` brings a ``.cube`` to another
size, ``preview`` draws a contact sheet and ``report`` measures the whole palette.

From two reference photos to a shipped colour::

    hairfx-lut intensity light.png --mask light_mask.png        # -> 0.546235
    hairfx-lut intensity dark.png --mask dark_mask.png          # -> 0.165912
    hairfx-lut hald-export --level 8 -o identity.png
    # grade identity.png in your editor with the look tuned on each photo and save the
    # two results as light_hald.png and dark_hald.png (not over the photos)
    hairfx-lut hald-import light_hald.png -o mine/light_grade.cube --size 33
    hairfx-lut hald-import dark_hald.png -o mine/dark_grade.cube --size 33
    #   (or: hairfx-lut fit --before light.png --after light_edited.png --mask light_mask.png -o ...)
    # mine/recipe.toml: name, swatch, [light] intensity + a "lut" effect with file = "light_grade.cube",
    #                   [dark] likewise (format: hairfx-lut bake --help)
    hairfx-lut bake mine/recipe.toml -o my-luts/mine             # or -o my-luts, as for new: it makes my-luts/mine
    hairfx-lut preview my-luts/mine -o sheet.png                 # outside the checkout: --references DIR
    export HAIRFX_LUT_PATH=$PWD/my-luts                           # hairfx recolor ... --color mine
"""

from __future__ import annotations

if __name__ == "__main__" and not __package__:  # pragma: no cover - run by its path: python tools/lut_tool.py
    import _by_path  # beside it, in the folder Python put first on sys.path

    _by_path.run_as_module(__file__)  # as python -m tools.lut_tool

import argparse
import os
import sys
from pathlib import Path

from hairfx._files import path_argument
from hairfx.cli import ArgumentParser, print_names_as_given, quiet_opencv
from hairfx.errors import HairfxError, InputError, run_main
from hairfx.lut import MAX_DECIMALS, MAX_SIZE, MIN_DECIMALS, MIN_SIZE
from hairfx.training.cli_args import _non_negative, _positive  # no torch

__all__ = ["main", "build_parser"]


def _ranged_int(lo: int, hi: int):
    """An argparse type: an integer in ``lo..hi``, checked before any work starts."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer in {lo}..{hi}, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be in {lo}..{hi}, got {value}")
        return value

    return parse


# LUT_3D_SIZE, decimals per .cube value, the fit's grid
_lut_size, _decimals, _fit_grid = _ranged_int(MIN_SIZE, MAX_SIZE), _ranged_int(MIN_DECIMALS, MAX_DECIMALS), _ranged_int(4, 65)


def _smoothness(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _cmd_intensity(args) -> int:
    from hairfx.intensity import hair_intensity

    from ._common import mask_or_model, read_rgb

    rgb = read_rgb(args.image)
    mask = mask_or_model(rgb, args.mask)
    value = hair_intensity(rgb, mask)
    if value is None:
        raise InputError(f"{args.mask or 'the predicted mask'} covers no hair in {args.image}")
    print(f"{value:.6f}")
    return 0


def _cmd_hald_export(args) -> int:
    from .hald import identity_hald, write_hald

    if Path(args.output).is_file() and not args.force:  # most likely the Hald an editor graded
        raise InputError(f"{args.output} already exists (an edited Hald?); "
                         "pass --force to replace it with the identity")
    path = write_hald(args.output, identity_hald(args.level), depth=args.depth)
    n = args.level**2
    print(f"wrote {path}: identity Hald level {args.level} ({args.level**3}x{args.level**3} px, a {n}^3 LUT), "
          f"{args.depth}-bit")
    return 0


def _cmd_hald_import(args) -> int:
    from hairfx.lut import write_cube

    from ._common import check_cube_output, output_file
    from .hald import grid_trend, is_tile_lookup, read_hald

    check_cube_output(args.output, inputs=(args.image,))
    lut = read_hald(args.image)
    trend = grid_trend(lut)
    if trend < 0.5 and not args.force:
        raise InputError(
            f"{args.image} does not look like an edited Hald image: its colours rise along the grid only "
            f"{trend:.0%} more often than they fall, where any grade keeps them rising (a photo saved in its "
            f"place, or a Hald cropped or resized?); pass --force to import it anyway"
        )
    if is_tile_lookup(lut) and not args.force:
        raise InputError(
            f"{args.image} is laid out as an 8x8-tile lookup image (GPUImage and mobile apps: blue picks a "
            f"64x64 tile), not as a Hald CLUT, and would import as a wrong LUT; grade the identity Hald from "
            f"`hairfx-lut hald-export` instead (--force imports it as a Hald anyway)"
        )
    size = lut.size if args.size is None else args.size
    lut = lut.to_unit_domain(size)  # a Hald's LUT is on [0, 1]: resampled only when asked
    with output_file(args.output) as out:
        write_cube(lut, out, decimals=args.decimals)
    print(f"wrote {args.output}: {size}^3 LUT from {args.image}")
    return 0


def _cmd_resample(args) -> int:
    from hairfx.lut import read_cube, write_cube

    from ._common import check_cube_output, output_file

    check_cube_output(args.output, inputs=(args.lut,))
    lut = read_cube(args.lut)
    was = f"{lut.size}^3" + ("" if lut.has_unit_domain else f", domain {lut.domain_min} .. {lut.domain_max}")
    with output_file(args.output) as out:
        write_cube(lut.to_unit_domain(args.size), out, decimals=args.decimals)
    print(f"wrote {args.output}: {args.size}^3 LUT over [0, 1] from {args.lut} ({was})")
    return 0


def _cmd_fit(args) -> int:
    from hairfx.lut import write_cube

    from ._common import check_cube_output, mask_or_model, output_file, read_rgb
    from .fit import fit_lut, fit_report

    # before the fit, which may run the mask model; never over the photos or the mask
    check_cube_output(args.output, inputs=(args.before, args.after, args.mask))
    # editors often export 16 bits a channel; the fit is to 8-bit frames
    before, after = read_rgb(args.before, sixteen_bits=True), read_rgb(args.after, sixteen_bits=True)
    if before.shape != after.shape:
        raise InputError(
            f"--before {args.before} is {before.shape[1]}x{before.shape[0]} but --after {args.after} is "
            f"{after.shape[1]}x{after.shape[0]}; edit the photo without resizing or cropping it"
        )
    mask = mask_or_model(before, args.mask)
    lut = fit_lut(before, after, mask, size=args.size, grid=args.grid, smoothness=args.smoothness)
    with output_file(args.output) as out:
        write_cube(lut, out, decimals=args.decimals)
    rep = fit_report(lut, before, after, mask)
    print(f"wrote {args.output}: {args.size}^3 LUT fitted on {rep['pixels']} hair pixels")
    print(f"fit error on the hair: RMS {rep['rms_8bit']:.2f}/255, CIEDE2000 mean {rep['de2000_mean']:.2f}, "
          f"95th percentile {rep['de2000_p95']:.2f}")
    return 0


def _cmd_bake(args) -> int:
    from .recipe import bake_recipe, is_baked_copy, load_recipe, output_folder, recipe_file

    from hairfx.colors import _bundled_dir

    recipe = recipe_file(args.recipe)
    out = output_folder(args.output, load_recipe(recipe)["name"])
    held = out / "recipe.toml"
    if held.is_file() and recipe.exists() and not os.path.samefile(held, recipe) and not is_baked_copy(held) \
            and not args.force:
        # a recipe someone edits there (baked in place, or made by `new`), not the copy a
        # bake from elsewhere left: baking another over it would replace it and its grades
        raise InputError(f"{out} holds its own recipe ({held}), not a copy baked from elsewhere; baking "
                         f"{recipe} there would replace it; pass --force, or bake into another folder")
    if (out / "color.json").exists() and not args.force:
        # Baking again over a colour baked from a recipe is the artist's loop (edit, bake,
        # preview). Refused: a colour made otherwise (no recipe.toml: a fit, a hand-made
        # pair), and a shipped palette colour from any recipe but its own.
        own = (out / "recipe.toml").exists() and recipe.exists() and os.path.samefile(out / "recipe.toml", recipe)
        palette = _bundled_dir()
        shipped = palette is not None and out.resolve().parent == palette.resolve()
        if not (out / "recipe.toml").exists() or (shipped and not own):
            why = "a shipped palette colour" if shipped else "a colour not baked from a recipe (no recipe.toml)"
            raise InputError(f"{out} already holds {why}; pass --force to replace it, or bake into another folder")
    out = bake_recipe(recipe, out)
    print(f"baked {args.recipe} -> {out}")
    return 0


def _cmd_new(args) -> int:
    from hairfx.colors import _NAME, _NAME_RULE
    from hairfx.effects import parse_hex
    from hairfx.synth import DARK_INTENSITY, LIGHT_INTENSITY, SIZE, synth_effects

    from hairfx._files import replacing
    from hairfx.colors import save_color

    from ._common import output_file
    from .recipe import DECIMALS, color_from_recipe, load_recipe, output_folder, recipe_text

    swatch = parse_hex(args.target, what="--target")
    if args.display_name is not None and not args.display_name.strip():
        raise InputError(f"--display-name must not be blank, got {args.display_name!r}")
    try:  # bytes that were not text in the terminal's encoding reach Python as lone surrogates
        (args.display_name or "").encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"--display-name {args.display_name!r} holds bytes that are not UTF-8 text (typed in a "
                         "terminal set to another encoding?); retype it in UTF-8") from None
    if not _NAME.match(args.name):
        raise InputError(f"colour name must be {_NAME_RULE}, got {args.name!r}")
    out = output_folder(args.output, args.name)
    for held in ("recipe.toml", "color.json"):
        if (out / held).exists() and not args.force:
            raise InputError(f"{out} already holds a colour ({held}); pass --force to replace it")
    effects = synth_effects(swatch)
    text = recipe_text(args.name, args.display_name or args.name.replace("_", " ").replace("-", " ").title(), swatch,
                       (LIGHT_INTENSITY, effects), (DARK_INTENSITY, effects), size=SIZE,
                       description=f"Synthesised by `hairfx-lut new {args.name} --target '{swatch}'`.")
    # recipe.toml takes its name only once the LUTs are baked: a failure or Ctrl-C leaves no
    # half-made colour (and, with --force, the colour that was there whole); a parent that
    # is a file is refused first, naming it
    with output_file(out / "recipe.toml") as target, replacing(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
        save_color(color_from_recipe(load_recipe(tmp)), out, decimals=DECIMALS)
    print(f"wrote {out}: light and dark LUTs bringing hair to {swatch} (recipe.toml beside them)")
    return 0


def _cmd_preview(args) -> int:
    from hairfx.colors import get_color

    from hairfx.imagefiles import check_output_image

    from ._common import mask_for_photo, read_rgb, reference_photos, write_rgb
    from .preview import contact_sheet

    refs = reference_photos(args.references)
    photos = [p for _, photo, mask in refs for p in (photo, mask)]
    check_output_image(args.output, inputs=(*photos, *(args.extra or [])))  # the sheet never replaces a photo
    # as everywhere: a name is a registered colour, a path (with a '/') a colour folder; a
    # folder of the same name in the current directory (a recipe's sources) is not taken
    color = get_color(args.color)
    subjects = []
    for name, photo, mask in refs:
        rgb = read_rgb(photo)
        subjects.append((f"ref {name}", rgb, mask_for_photo(mask, rgb)))
    for image in args.extra or []:
        rgb = read_rgb(image)
        beside = Path(image).with_name(Path(image).stem + "_mask.png")
        in_masks = Path(image).parent.parent / "masks" / (Path(image).stem + ".png")  # images/ and masks/
        mask_path = next((p for p in (beside, in_masks) if p.is_file()), None)
        if mask_path is None:
            raise InputError(f"no mask for {image}: looked for {beside} and {in_masks}")
        subjects.append((Path(image).stem, rgb, mask_for_photo(mask_path, rgb)))
    data = args.data
    if data == "auto":  # the shared dataset, when there is one
        from .palette_report import default_split

        data = default_split(required=False)
    if data and data != "none":
        from .palette_report import pick_subjects

        for label, rgb, mask in pick_subjects(data, args.subjects):
            subjects.append((label, rgb, mask))
    write_rgb(args.output, contact_sheet(color, subjects))
    print(f"wrote {args.output}")
    return 0


def _cmd_report(args) -> int:
    from .palette_report import main as report_main

    argv = (["--data", str(args.data)] if args.data else []) + ["--subjects", str(args.subjects)]
    if args.markdown:
        argv += ["--markdown", str(args.markdown)]
    for c in args.colors or []:
        argv += ["--color", c]
    return report_main(argv)


#: -o of bake and new: they take the same two forms (tools.recipe.output_folder).
_OUTPUT_FOLDER_HELP = ("where the colour goes: its colour folder, named after the colour (luts/NAME), or the "
                       "folder of colour folders to make NAME/ in (luts)")


def build_parser() -> argparse.ArgumentParser:
    from .palette_report import DEFAULT_SPLIT_HELP

    parser = ArgumentParser(prog="hairfx-lut", description=(__doc__ or "").replace("``", ""),
                                     epilog="Run 'hairfx-lut COMMAND --help' for each command.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("intensity", help="hair intensity of a reference photo, as the engine computes it",
                       description="Print the hair intensity (mask-weighted mean Rec. 709 luma of the sRGB values) "
                                   "of IMAGE, exactly as the engine computes it per frame.")
    p.add_argument("image", type=path_argument, help="the photo")
    p.add_argument("--mask", type=path_argument,
                   help="hair mask image (255 = hair); default: the hair-mask model's prediction")
    p.set_defaults(run=_cmd_intensity)

    p = sub.add_parser("hald-export", help="write an identity Hald CLUT image to grade in any editor",
                       description="Write an identity Hald CLUT (ffmpeg haldclut convention). Grade it in your photo "
                                   "editor with the adjustments you tuned on a reference photo, save it losslessly "
                                   "at the same size, and turn it into a .cube with hald-import.")
    p.add_argument("--level", type=int, default=8, help="Hald level L: an L^3 x L^3 image, an (L^2)^3 LUT (default 8)")
    p.add_argument("--depth", type=int, choices=(8, 16), default=16, help="bits per channel (default 16)")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output .png or .tif")
    p.add_argument("--force", action="store_true",
                   help="replace an existing file (an edited Hald is refused without it)")
    p.set_defaults(run=_cmd_hald_export)

    p = sub.add_parser("hald-import", help="turn an edited Hald CLUT image into a .cube LUT",
                       description="Read an edited Hald CLUT image (8- or 16-bit PNG/TIFF) and write it as a .cube. "
                                   "An image whose colours do not rise along the grid, as any grade's do (a photo "
                                   "saved in place of the graded Hald), is refused unless --force.")
    p.add_argument("image", type=path_argument, help="the edited Hald image")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output .cube (folders created as needed)")
    p.add_argument("--size", type=_lut_size, help="resample to this LUT_3D_SIZE, 2..256 (default: the Hald's own, L^2)")
    p.add_argument("--decimals", type=_decimals, default=6, help=f"decimals per value in the .cube, {MIN_DECIMALS}..{MAX_DECIMALS} (default 6)")
    p.add_argument("--force", action="store_true", help="import an image that does not look like a graded Hald")
    p.set_defaults(run=_cmd_hald_import)

    p = sub.add_parser("resample", help="resample a .cube LUT to another size, over the domain [0, 1]",
                       description="Write LUT resampled (trilinear) to --size points per axis over the domain "
                                   "[0, 1]: to pair it with a LUT of another size in a colour folder (a colour's two "
                                   "LUTs must have one size and one domain). Exact when the domain is [0, 1] and "
                                   "size - 1 is a multiple of the LUT's own (17 -> 33); otherwise the grid points "
                                   "move and the LUT is smoothed a little.")
    p.add_argument("lut", type=path_argument, help="the .cube to resample")
    p.add_argument("--size", type=_lut_size, required=True, help="LUT_3D_SIZE written, 2..256")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output .cube (folders created as needed)")
    p.add_argument("--decimals", type=_decimals, default=6, help=f"decimals per value in the .cube, {MIN_DECIMALS}..{MAX_DECIMALS} (default 6)")
    p.set_defaults(run=_cmd_resample)

    p = sub.add_parser("fit", help="fit a smooth LUT from a reference photo and its edited version",
                       description="Fit a smooth 3D LUT that maps the hair pixels of --before to those of --after "
                                   "(the same photo graded in any editor), regularised so colours absent from the "
                                   "hair get a smooth extension of the edit, and print the fit error.")
    p.add_argument("--before", required=True, type=path_argument, help="the reference photo")
    p.add_argument("--after", required=True, type=path_argument,
                   help="the same photo, edited (same size; 8 or 16 bits a channel)")
    p.add_argument("--mask", type=path_argument,
                   help="hair mask image (255 = hair); default: the hair-mask model's prediction")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output .cube (folders created as needed)")
    p.add_argument("--size", type=_lut_size, default=33, help="LUT_3D_SIZE written, 2..256 (default 33)")
    p.add_argument("--grid", type=_fit_grid, default=17, help="grid the fit is solved on, 4..65 (default 17)")
    p.add_argument("--smoothness", type=_smoothness, default=0.05, help="weight of the smoothness term (default 0.05)")
    p.add_argument("--decimals", type=_decimals, default=6, help=f"decimals per value in the .cube, {MIN_DECIMALS}..{MAX_DECIMALS} (default 6)")
    p.set_defaults(run=_cmd_fit)

    p = sub.add_parser("bake", help="bake a recipe of effects into a colour folder",
                       description="Bake RECIPE (TOML: effects for the light and the dark LUT) into a colour folder "
                                   "(light.cube, dark.cube, color.json, and a marked copy of the recipe when it "
                                   "lies elsewhere). Deterministic. Effects: "
                                   "colorize, hue_shift, saturation, lightness_curve, contrast, tint, lut (a .cube from "
                                   "hald-import or fit).",
                       epilog=_recipe_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe", type=path_argument, help="recipe.toml (or a folder holding one)")
    p.add_argument("-o", "--output", required=True, type=path_argument, metavar="DIR", help=_OUTPUT_FOLDER_HELP)
    p.add_argument("--force", action="store_true",
                   help="replace a shipped colour, one not baked from a recipe, or a folder's own recipe, "
                        "that is in the way (a copy that bake left there is replaced without it)")
    p.set_defaults(run=_cmd_bake)

    p = sub.add_parser("new", help="synthesise a colour for any hex target",
                       description="Synthesise a light/dark LUT pair that brings light and dark hair to --target "
                                   "in CIELAB, keeping the hair's texture, and write it with its recipe.")
    p.add_argument("name", help="colour name (folder name)")
    p.add_argument("--target", required=True, help="target colour '#RRGGBB'")
    p.add_argument("--display-name", help="human-readable name (default: from NAME)")
    p.add_argument("-o", "--output", default="luts", type=path_argument, metavar="DIR",
                   help=_OUTPUT_FOLDER_HELP + " (default luts)")
    p.add_argument("--force", action="store_true", help="replace an existing colour of that name")
    p.set_defaults(run=_cmd_new)

    p = sub.add_parser("preview", help="contact sheet of a colour on light to dark hair",
                       description="Draw a contact sheet of a colour on the light and dark references and on "
                                   "subjects from light to dark hair, with their hair intensities.")
    p.add_argument("color", help="a colour folder (luts/NAME) or a colour name or '#RRGGBB'")
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output image (.png)")
    p.add_argument("--references", type=path_argument, metavar="DIR",
                   help="folder of reference photos: any of light.png, medium.png and dark.png, each with "
                        "NAME_mask.png (255 = hair) beside it (default: the source checkout's reference_images/, "
                        "else ./reference_images)")
    p.add_argument("--data", default="auto",
                   help="also show subjects from this dataset split (images/ + masks/), light to dark hair; "
                        f"default: {DEFAULT_SPLIT_HELP}, when it exists; 'none' for the reference images only")
    p.add_argument("--subjects", type=_non_negative, default=5,
                   help="how many dataset subjects, light to dark (default 5)")
    p.add_argument("--extra", nargs="*", help="more photos, each with NAME_mask.png beside it or ../masks/NAME.png")
    p.set_defaults(run=_cmd_preview)

    p = sub.add_parser("report", help="palette quality report (hue spread, CIEDE2000, texture)",
                       description="Measure every colour over subjects from very light to very dark hair against a "
                                   "flat luminance-weighted tint and a single LUT; print a markdown table.")
    p.add_argument("--data", help=f"dataset split with images/ and masks/ (default: {DEFAULT_SPLIT_HELP})")
    p.add_argument("--subjects", type=_positive, default=12, help="subjects spanning the intensity range (default 12)")
    p.add_argument("--markdown", help="also write the report to this markdown file (folders created as needed)")
    p.add_argument("--color", dest="colors", action="append", help="only this colour (repeatable)")
    p.set_defaults(run=_cmd_report)
    return parser


def _recipe_help() -> str:
    """The recipe format, from the docstring of :mod:`tools.recipe` (one place to keep it)."""
    from hairfx.effects import effects_reference

    from . import recipe

    text = (recipe.__doc__ or "").replace("``", "").replace(":mod:", "")
    return f"{text.rstrip()}\n\nEffects and their parameters (checked when the recipe is read):\n{effects_reference()}\n"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    print_names_as_given()

    def run() -> int:
        quiet_opencv()
        return args.run(args)

    # OSError: a folder given for a file, no permission, a full disk
    return run_main(f"hairfx-lut {args.command}", run, errors=(HairfxError, OSError))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
