"""The ``hairfx`` console script: a thin layer over the public API.

Heavy imports (torch, moderngl, colour-science) happen inside the commands so that
``hairfx --help`` stays instant. Files are read and written with OpenCV, so BGR is
converted to RGB here, at the edge, and nowhere else.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from ._files import path_argument
from ._text import counted, frame_rate
from .errors import HairfxError, run_main
from .imagefiles import IMAGE_SUFFIXES
from .presets import MODEL_NAMES, add_ensemble_argument, add_zoom_argument, ensemble_from_args
from .recolor import DEFAULT_SMOOTHING, RENDERERS  # loaded with the package anyway
from .render_cpu import INTERPOLATIONS
from .training.cli_args import _positive  # the options module alone: no torch

__all__ = ["main", "ArgumentParser"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser for hairfx's command lines, where a value that starts with a minus
    and a digit is an option's value, as ``-5`` and ``-0.5`` already are in argparse:
    ``--size -5x10`` and ``--smoothing -1e-3`` then get the option's own message ("size must
    be at least 4x4"), not "expected one argument" as if the value were an unknown option.
    No option of hairfx's is a minus and a digit, so nothing else reads differently. Its
    subcommands' parsers are of this class too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # What argparse takes for a negative number, and so for a value rather than an
        # option, where the parser has no option that looks like one: by default only
        # whole numbers and plain decimals (^-\d+$|^-\d*\.\d+$), not -5x10, -1e-3 or -2.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    #: Options that take a colour, which may be a '#RRGGBB': typed unquoted, the shell drops
    #: it and all after it as a comment, and argparse says only "expected one argument".
    COLOUR_OPTIONS = frozenset({"color", "colors", "target", "ombre"})

    def error(self, message: str):
        m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
        action = self._option_string_actions.get(m.group(1)) if m else None
        if action is not None and action.dest in self.COLOUR_OPTIONS:
            message += " (quote a hex colour, '#RRGGBB': the shell takes an unquoted # for the start of a comment)"
        super().error(message)


def _number_in(name: str, lo: float, hi: float, *, below_hi: bool = False):
    """An argparse type: a number in ``[lo, hi]`` (``[lo, hi)`` with ``below_hi``), refused
    as the command line is parsed. The library checks the same range, but its error, later,
    named neither the option nor the command's usage, as argparse's own errors do."""
    span = f"[{lo:g}, {hi:g}{')' if below_hi else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (lo <= value < hi if below_hi else lo <= value <= hi):  # False for NaN too
            raise argparse.ArgumentTypeError(f"{name} must be a number in {span}, got {text!r}")
        return value

    return parse


#: The types of --strength and --smoothing, as RecolorSession checks them.
strength_argument = _number_in("strength", 0, 1)
smoothing_argument = _number_in("smoothing", 0, 1, below_hi=True)


def _build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="hairfx", description="Hair segmentation and LUT hair recolouring: photos, videos, masks, benchmarks."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Each _add_* function registers one subcommand and sets args.run to its handler.
    for add in _COMMANDS:
        add(sub)
    return parser


_COMMANDS: list = []


def command(add):
    """Register a function that adds one subcommand to the parser."""
    _COMMANDS.append(add)
    return add


def quiet_opencv() -> None:
    """For a command's ``main``: FFmpeg's lines inside OpenCV ("[mov,mp4 @ 0x..] moov atom
    not found") and OpenCV's own warnings ("PNG input buffer is incomplete") would come
    before the one-line error that already says the same. Settings the user made in
    ``OPENCV_FFMPEG_LOGLEVEL`` or ``OPENCV_LOG_LEVEL`` are kept."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read once, at OpenCV's first video
    if "OPENCV_LOG_LEVEL" not in os.environ:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def print_names_as_given() -> None:
    """For a command's ``main``: file names whose bytes are not UTF-8 (Python holds them as
    surrogates) are printed as those bytes, as ``ls`` prints them, where the locale's strict
    encoding would raise in the middle of a message (stdout) or print ``\udce9`` (stderr)."""
    for stream, defaults in ((sys.stdout, ("strict",)), (sys.stderr, ("strict", "backslashreplace"))):
        if getattr(stream, "errors", None) in defaults and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    print_names_as_given()

    def run() -> int:
        quiet_opencv()  # after the parsing: `hairfx --help` loads no OpenCV
        return args.run(args)

    # Mesa's "libEGL warning: egl: failed to create dri2 screen" where OpenGL cannot start:
    # hairfx's own line says so, and what to do
    os.environ.setdefault("EGL_LOG_LEVEL", "fatal")
    # `recolor` and `video` pick the renderer with --renderer: their messages name it
    option = "--renderer" if hasattr(args, "renderer") else None
    # OSError: what no check foresaw, such as a name longer than the file system takes (255
    # bytes: 85 characters of Chinese or Japanese) failing the first stat() of a check
    return run_main(f"hairfx {args.command}", run, errors=(HairfxError, OSError),
                    renderer_option=option)  # 130 for Ctrl-C, 143 for SIGTERM


@command
def _add_recolor(sub) -> None:
    p = sub.add_parser("recolor", help="recolour the hair in an image")
    p.add_argument("input", metavar="IN", type=path_argument,
                   help="input image: 8-bit RGB or grey, any format OpenCV reads")
    p.add_argument(
        "--color", "-c", required=True, help="colour name (see `hairfx colors`), '#RRGGBB' or a colour folder's path"
    )
    p.add_argument("-o", "--output", required=True, type=path_argument, help="output image path")
    p.add_argument("--mask", type=path_argument,
                   help="hair mask image (grayscale, 255 = hair); default: the hair-mask model")
    p.add_argument("--strength", type=strength_argument, default=1.0, help="0..1 (default 1)")
    p.add_argument("--renderer", choices=RENDERERS, default="auto")
    p.add_argument("--interpolation", choices=INTERPOLATIONS, default="trilinear")
    p.add_argument("--model", choices=MODEL_NAMES, default="small", help="mask model when --mask is not given")
    p.add_argument("--tta", action="store_true",
                   help="better model mask from four passes (mirrored, mask fed back), four times slower")
    add_ensemble_argument(p)
    add_zoom_argument(p)
    p.add_argument("--no-exif", action="store_true",
                   help="leave out the input's EXIF, XMP and IPTC (camera, date, GPS position, keywords, "
                        "ratings, caption), which are otherwise copied")

    def run(args) -> int:
        from pathlib import Path

        from . import recolor
        from .errors import InputError
        from .frames import mask_for_frame
        from .imagefiles import METADATA_FORMATS, check_output_image, read_mask, read_photo, write_rgb
        from .intensity import hair_intensity
        from .metadata import ColourProfile, exif_for_output, iptc_for_output
        from .recolor import _predict_mask
        from .segmenter import MIN_SIDE
        from .xmp import xmp_for_output

        ensemble = ensemble_from_args(args)
        check_output_image(args.output, inputs=(args.input, args.mask))  # before the model runs
        frame, meta = read_photo(args.input)
        # a Display P3 or Adobe RGB photo is recoloured in sRGB, as the LUTs were made
        profile = ColourProfile(meta.colour_profile, name=str(args.input))
        work = profile.to_srgb(frame)
        if args.mask is not None:
            mask = read_mask(args.mask)
            try:
                mask = mask_for_frame(frame, mask)
            except InputError as exc:  # it speaks of "mask" and "frame": say which files
                raise InputError(f"--mask {args.mask} for {args.input}: {exc}") from None
        else:
            if min(frame.shape[:2]) < MIN_SIDE:
                raise InputError(f"{args.input} is {frame.shape[1]}x{frame.shape[0]}, smaller than the {MIN_SIDE} px "
                                 "per side the hair-mask model needs; give a --mask")
            # the mask recolor() would predict, made here to tell a photo without hair (below)
            mask = _predict_mask(work, args.model, tta=args.tta, ensemble=ensemble, zoom=args.zoom)
        out = recolor(
            work,
            args.color,
            mask=mask,
            strength=args.strength,
            renderer=args.renderer,
            interpolation=args.interpolation,
            model=args.model,
            tta=args.tta,
            ensemble=ensemble,
            zoom=args.zoom,
        )
        h, w = out.shape[:2]
        exif = None if args.no_exif else exif_for_output(meta.exif, w, h, name=str(args.input))
        xmp = None if args.no_exif else xmp_for_output(meta.xmp, w, h, name=str(args.input))
        iptc = None if args.no_exif else iptc_for_output(meta.iptc, name=str(args.input))
        if Path(args.output).suffix.lower() in METADATA_FORMATS:
            # back in the photo's own profile: the pixels the work left alone are the photo's own
            write_rgb(args.output, profile.from_srgb(frame, work, out), icc_profile=profile.output_profile, exif=exif,
                      xmp=xmp, iptc=iptc)
        else:  # a format that holds no profile is shown as sRGB: the work's sRGB picture is the one to write
            write_rgb(args.output, out, icc_profile=profile.output_profile if profile.is_srgb else None, exif=exif,
                      xmp=xmp, iptc=iptc)
        # a copy of the photo, written without a word, looked like a colour that did nothing
        unchanged = "" if hair_intensity(work, mask) is not None else \
            f" (unchanged: {'the mask' if args.mask is not None else 'the hair-mask model'} found no hair in it)"
        print(f"wrote {args.output}{unchanged}")
        return 0

    p.set_defaults(run=run)


@command
def _add_colors(sub) -> None:
    p = sub.add_parser(
        "colors", help="list the available colours",
        description="List the colours, one name a line. A colour of yours named like another (a bundled one) "
                    "overrides it: noted on standard error, or with -v on its line.",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="also show swatch, LUT size, intensities, folder")

    def run(args) -> int:
        from .colors import _describe_overrides, _overridden, colors, get_color
        from .errors import HairfxError

        names = colors()
        if not names:
            print("no colours found; add a folder with HAIRFX_LUT_PATH", file=sys.stderr)
            return 2
        broken = 0
        if not args.verbose:
            print("\n".join(names))
            # after the names, apart from them: a script reading the names gets names only
            for name, (folder, hidden) in _overridden().items():
                print(f"hairfx colors: {name} is {folder}, which overrides {_describe_overrides(hidden)}",
                      file=sys.stderr)
            return 0
        for name in names:
            try:
                c = get_color(name)
            except HairfxError as exc:  # one broken user colour must not hide the others
                broken += 1
                print(f"{name:16} cannot be loaded: {exc}", file=sys.stderr)
                continue
            over = f"  overrides {_describe_overrides(c.overrides)}" if c.overrides else ""
            print(
                f"{name:16} {c.display_name:18} {c.swatch}  {c.size}^3  "
                f"dark I={c.dark_intensity:.3f}  light I={c.light_intensity:.3f}  {c.path}{over}"
            )
        return 2 if broken else 0

    p.set_defaults(run=run)


@command
def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="time recolouring (GL and CPU) against colour-science's LUT3D.apply")
    p.add_argument("--color", default="copper")
    p.add_argument("--repeat", type=_positive, default=30, help="timed frames per size and renderer")
    p.add_argument("--no-baseline", action="store_true", help="skip the slow colour-science baseline")
    p.add_argument("--image", type=path_argument, help="portrait to use (default: see `hairfx.bench`)")
    p.add_argument("--mask", type=path_argument, help="its hair mask (required with --image)")

    def run(args) -> int:
        from .bench import run_bench
        from .errors import InputError

        if (args.image is None) != (args.mask is None):
            raise InputError("--image and --mask go together")
        run_bench(color=args.color, repeat=max(1, args.repeat), baseline=not args.no_baseline, image=args.image, mask=args.mask)
        return 0

    p.set_defaults(run=run)


@command
def _add_video(sub) -> None:
    p = sub.add_parser(
        "video",
        help="recolour the hair in a video file (keeps frame count, rate and audio)",
        description=(
            "Recolour every frame of a video. Colours may change over time "
            "(--color copper:0-5,violet:5-, seconds; the new colour cross-fades in over --fade "
            "seconds starting at the switch) or run roots to tips (--ombre copper,platinum)."
        ),
    )
    p.add_argument("input", metavar="IN", type=path_argument, help="input video file")
    p.add_argument("-o", "--output", required=True, type=path_argument,
                   help="output video file (.mp4, .m4v, .mov, .mkv or .avi; H.264 with ffmpeg); missing folders are made")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--color", "-c", help="colour name, or a schedule NAME:START-END,... in seconds (END empty = to the end)")
    group.add_argument("--ombre", metavar="ROOTS,TIPS", help="two colours, roots to tips, e.g. copper,platinum")
    p.add_argument("--fade", type=float, default=None, help="cross-fade at colour switches, seconds (default 0.25; 0 = hard switch)")
    p.add_argument("--strength", type=strength_argument, default=1.0, help="0..1 (default 1)")
    p.add_argument("--renderer", choices=RENDERERS, default="auto")
    p.add_argument("--model", choices=MODEL_NAMES, default="small", help="hair-mask model")
    add_ensemble_argument(p)
    add_zoom_argument(p)
    p.add_argument("--smoothing", type=smoothing_argument, default=DEFAULT_SMOOTHING,
                   help=f"weight of the past in the intensity EMA, 0..<1 (default {DEFAULT_SMOOTHING:g}; 0 is off)")
    p.add_argument("--frames", type=_positive, metavar="N",
                   help="only the first N frames (the audio is cut with them)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the audio track")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    def run(args) -> int:
        from ._files import output_file
        from .errors import InputError
        from .video import FADE_SECONDS, recolor_video

        ensemble = ensemble_from_args(args)
        if args.ombre and args.fade is not None:
            raise InputError("--fade cross-fades the switches of a --color schedule; an --ombre has none")
        # missing folders of -o are made, as `recolor` and `mask` make theirs, and removed
        # again if the command fails
        with output_file(args.output) as output:
            info = recolor_video(
                args.input,
                output,
                color=args.color,
                ombre=args.ombre,
                strength=args.strength,
                renderer=args.renderer,
                model=args.model,
                ensemble=ensemble,
                zoom=args.zoom,
                smoothing=args.smoothing,
                fade=FADE_SECONDS if args.fade is None else args.fade,
                max_frames=args.frames,
                progress=not args.quiet,
                keep_audio=not args.no_audio,
            )
        audio = "with audio" if info.has_audio else "no audio"
        print(f"wrote {args.output}: {counted(info.frames, 'frame')}, {info.width}x{info.height} "
              f"at {frame_rate(info.fps)} fps, {audio}")
        return 0

    p.set_defaults(run=run)


# ----------------------------------------------------------------------------- hair masks

@command
def _add_mask(sub) -> None:
    p = sub.add_parser(
        "mask",
        help="write a hair mask PNG (255 = hair) for each input image",
        description=(
            "Write a hair mask PNG (255 = hair) for each input image, named after it: IMG_1.jpg gives "
            "IMG_1.png. Images that share a name (IMG_1.jpg and IMG_1.png, or IMG_1.jpg in two folders) "
            "get their extension in it, IMG_1_jpg.png and IMG_1_png.png (then _2, _3... where that is not "
            "enough), and a line says so. A folder gives the images directly in it, by extension (any "
            "case): not its subfolders, nor hidden files such as macOS's ._IMG_1.jpg. A file that cannot "
            "be read as an 8-bit RGB or grey image (damaged, with alpha, 16 bits, too small, no permission) "
            "is skipped with a line on stderr and the rest are still done; the exit status is then 2. So is a "
            "mask of an earlier run among the inputs. A file of a mask's name in OUTDIR is replaced only if it "
            "is such a mask (its PNG Software text is 'hairfx mask'), never a photo."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=path_argument,
                   help="image files, or folders of images (" + " ".join(sorted(IMAGE_SUFFIXES)) + "; a HEIC "
                        "photo is reported, not read)")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", type=path_argument,
                   help="folder for the masks (created)")
    p.add_argument("--model", choices=MODEL_NAMES, default="small", help="small (256x256, default) or full (512x512)")
    p.add_argument("--tta", action="store_true",
                   help="four passes (mirrored, mask fed back): better masks, four times slower")
    add_ensemble_argument(p)
    add_zoom_argument(p)
    p.add_argument("--probability", action="store_true",
                   help="write the network's hair probability instead of the recolouring weight that "
                        "`hairfx recolor` applies (the default, so an edited mask can go back with --mask); "
                        "both cross 128 at the same pixels")
    p.set_defaults(run=_run_mask)


#: Skipped files named in the closing summary line of `hairfx mask`; stderr has one line for each.
_SKIPS_LISTED = 5


def _check_out_folder(out, given: str) -> None:
    """Refuse an ``-o`` that is, or lies under, something other than a folder, before any work."""
    from ._files import folder_obstacle, missing_folder_text
    from .errors import InputError

    # a regular file (or a device, a socket...) where a folder must go, or a folder that takes no files
    obstacle = folder_obstacle(out, writable=True)
    if obstacle is not None:
        folder, kind = obstacle
        if kind == "missing":  # `-o new/..`: the masks would land beside the photos, unchecked
            raise InputError(f"-o {given}: {missing_folder_text(folder)}")
        if kind == "unwritable":
            where = "" if folder == out else f" (under {folder}, which takes no new folders)"
            raise InputError(f"-o {given} is not writable{where}; give a folder you can write the masks to")
        what = "" if folder == out else f" lies under {folder}, which"
        raise InputError(f"-o {given}{what} is a file, not a folder; give a folder for the masks (created if missing)")


#: The PNG ``Software`` text of every mask `hairfx mask` writes: how a mask of an earlier
#: run is told from a black-and-white photo, which is a grey 8-bit image too.
MASK_SOFTWARE = "hairfx mask"


def _png_with_software(png: bytes, software: str) -> bytes:
    """``png`` with a ``tEXt`` chunk ``Software`` = ``software`` right after its header chunk."""
    from .imagefiles import png_with_chunk

    return png_with_chunk(png, b"tEXt", b"Software\0" + software.encode("latin-1"))


def _is_mask_file(path) -> bool:
    """Whether ``path`` is a mask `hairfx mask` wrote (a PNG that says so, :data:`MASK_SOFTWARE`).
    Only a regular file is opened: opening a named pipe would wait for a writer for ever."""
    from PIL import Image

    if not path.is_file():
        return False
    try:
        with Image.open(path) as im:
            return im.format == "PNG" and im.mode == "L" and im.info.get("Software") == MASK_SOFTWARE
    except Exception:  # noqa: BLE001 - not an image PIL reads: not a mask either
        return False


def _run_mask(args) -> int:
    import os
    from collections import Counter
    from pathlib import Path

    import cv2
    import numpy as np

    from ._files import write_target
    from .errors import InputError, MissingFileError
    from .imagefiles import read_photo, write_whole
    from .metadata import ColourProfile
    from .recolor import hair_alpha
    from .segmenter import get_segmenter

    ensemble = ensemble_from_args(args)
    out = Path(args.out)
    _check_out_folder(out, args.out)
    files, seen, skipped = [], set(), []
    for item in args.inputs:
        path = Path(item)
        if path.is_dir():
            if out.exists() and path.resolve() == out.resolve():
                raise InputError(f"-o {args.out} is the input folder {item}: masks would be written among the photos; "
                                 "choose another output folder")
            # Not its subfolders (an -o inside it would be read on the next run) nor hidden
            # files (the ._IMG_1.jpg macOS writes beside IMG_1.jpg on other disks is no image).
            found = sorted(f for f in path.iterdir()
                           if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".") and not f.is_dir())
        elif path.is_file():
            found = [path]
        elif not path.exists():  # as `hairfx recolor` says it; a link to nothing says where it points
            link = f" (a link to {os.readlink(path)}, which is missing)" if path.is_symlink() else ""
            raise MissingFileError(f"image not found: {item}{link}")
        else:
            raise InputError(f"input {item} is neither a file nor a folder")
        for f in found:  # an image given twice (a folder and a file in it) is done once
            if os.path.abspath(f) in seen:
                continue
            seen.add(os.path.abspath(f))
            if _is_mask_file(f):  # a folder of photos that also holds their masks from an earlier run
                skipped.append(f)
                print(f"hairfx mask: skipped {f}: a hair mask hairfx wrote, not a photo", file=sys.stderr)
            else:
                files.append(f)
    if not files:
        masks = f" (only masks hairfx wrote: {len(skipped)})" if skipped else ""
        raise InputError(f"no images found in {', '.join(args.inputs)}{masks}")
    # Named before any work, so an input is never overwritten. An image whose stem no other
    # input has gets stem.png. The others get their extension in the name, then a number,
    # avoiding every input's stem: a numbered a_1.png would otherwise pass for the mask of
    # a_1.jpg. Compared without case: on macOS and FAT disks A.png and a.png are one file.
    stems = Counter(f.stem.casefold() for f in files)
    used = set(stems)
    targets, renamed = [], set()
    for f in files:
        stem = f.stem
        if stems[stem.casefold()] > 1:
            base = stem = f"{f.stem}_{f.suffix[1:]}" if f.suffix else f.stem
            k = 2
            while stem.casefold() in used:
                stem, k = f"{base}_{k}", k + 1
            used.add(stem.casefold())
            renamed.add(f)
        targets.append(out / f"{stem}.png")
    inputs = {f.resolve() for f in files}
    for t in targets:
        write_target(t)  # a symbolic link there is written through: refused now if it cannot be
        if t.resolve() in inputs:
            raise InputError(f"the mask {t} would overwrite an input image; choose another output folder")
        if t.exists() and not _is_mask_file(t):  # a mask of an earlier run may be replaced, a photo not
            raise InputError(f"the mask {t} would replace a file there that is not a mask hairfx wrote; "
                             "move it or choose another output folder")
    seg = get_segmenter(args.model, ensemble=ensemble)  # loaded once for the whole batch
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. no permission; what a file in the way is was refused above
        raise InputError(f"cannot create the output folder -o {args.out}: {exc.strerror or exc}") from None
    written = 0
    for f, target in zip(files, targets):
        # A file that is not a frame hairfx takes (damaged, RGBA, 16-bit, too small, gone since
        # it was listed) is skipped, whether it was named or found in a folder: one bad photo
        # must not stop a batch half-way. A mask that cannot be written still stops it: the
        # next ones would fail the same way.
        try:
            frame, meta = read_photo(f)
            # in sRGB, as `hairfx recolor` predicts it, so that its --mask gives the same photo
            mask = seg.predict(ColourProfile(meta.colour_profile, name=str(f)).to_srgb(frame), tta=args.tta, zoom=args.zoom)
        except (InputError, OSError) as exc:  # OSError: no permission to read it, a disk error
            if isinstance(exc, MissingFileError):  # "not found", of a file listed a moment ago: say why
                if f.exists():
                    reason = "not a regular file"  # a pipe or a device named like an image
                else:
                    reason = f"a link to {os.readlink(f)}, which is missing" if f.is_symlink() else "gone since it was listed"
            elif isinstance(exc, InputError):  # the line names f already: the reason alone, without it
                reason = exc.reason
            else:
                reason = f"cannot read it: {exc.strerror or exc}"
            skipped.append(f)
            print(f"hairfx mask: skipped {f}: {reason}", file=sys.stderr)
            continue
        if not args.probability:  # what `hairfx recolor` applies: `--mask` of it gives the same photo
            mask = hair_alpha(mask)
        m8 = np.round(mask * 255).astype(np.uint8)
        if m8.max() == 1:  # nothing above 1.5/255: no hair. A 0/1 uint8 file reads as a label map.
            m8.fill(0)
        try:
            png = _png_with_software(cv2.imencode(".png", m8)[1].tobytes(), MASK_SOFTWARE)
            write_whole(target, png)  # a failed write leaves the old file whole
        except InputError as exc:
            raise InputError(f"{exc} (wrote {counted(written, 'mask')} before it)") from None
        written += 1
        if f in renamed:
            print(f"{f}: mask {target.name} (another input has the same name)")
    if not skipped:
        print(f"wrote {counted(written, 'mask')} to {out}")
        return 0
    listed = ", ".join(str(f) for f in skipped[:_SKIPS_LISTED])
    more = f" and {len(skipped) - _SKIPS_LISTED} more" if len(skipped) > _SKIPS_LISTED else ""
    print(f"wrote {counted(written, 'mask')} to {out}; skipped {len(skipped)}: {listed}{more}")
    return 2


@command
def _add_train(sub) -> None:
    from .training import cli_args

    p = sub.add_parser("train", help="train the hair-mask network (or --export a checkpoint into the package)")
    cli_args.train(p)
    p.set_defaults(run=_run_train)


def _run_train(args) -> int:
    from .training.cli_args import check_train

    check_train(args)  # before the import, which may say that PyTorch is missing
    from .training.train import run

    return run(args)


@command
def _add_evaluate(sub) -> None:
    from .training import cli_args

    p = sub.add_parser("evaluate", help="IoU, boundary F and flicker of the shipped hair-mask models")
    cli_args.evaluate(p)
    p.set_defaults(run=_run_evaluate)


def _run_evaluate(args) -> int:
    from .training.evaluate import run

    return run(args)


@command
def _add_bench_mask(sub) -> None:
    from .training import cli_args

    p = sub.add_parser("bench-mask", help="time hair-mask inference, frame in to mask out")
    cli_args.bench(p)
    p.set_defaults(run=_run_bench_mask)


def _run_bench_mask(args) -> int:
    from .training.bench import run

    return run(args)
