"""The ``hairfx`` console script: a thin layer over the public API.

Heavy imports (torch, moderngl, colour-science) happen inside the commands so that
``hairfx --help`` stays instant. Files are read and written with OpenCV, so BGR is
converted to RGB here, at the edge, and nowhere else.
"""

from __future__ import annotations

import argparse
import sys

from .errors import HairfxError

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hairfx", description=__doc__.splitlines()[0])
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


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except HairfxError as exc:
        print(f"hairfx {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hairfx {args.command}: interrupted", file=sys.stderr)
        return 130


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
    p.add_argument("input", metavar="IN", help="input video file")
    p.add_argument("-o", "--output", required=True, help="output video file (.mp4)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--color", "-c", help="colour name, or a schedule NAME:START-END,... in seconds (END empty = to the end)")
    group.add_argument("--ombre", metavar="ROOTS,TIPS", help="two colours, roots to tips, e.g. copper,platinum")
    p.add_argument("--fade", type=float, default=None, help="cross-fade at colour switches, seconds (default 0.25; 0 = hard switch)")
    p.add_argument("--strength", type=float, default=1.0, help="0..1 (default 1)")
    p.add_argument("--renderer", choices=("auto", "gl", "cpu"), default="auto")
    p.add_argument("--model", choices=("small", "full"), default="small", help="hair-mask model")
    p.add_argument("--smoothing", type=float, default=0.85, help="weight of the past in the intensity EMA, 0..<1")
    p.add_argument("--frames", type=int, help="only the first N frames (the audio is then dropped)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the audio track")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    def run(args) -> int:
        from .video import FADE_SECONDS, recolor_video

        info = recolor_video(
            args.input,
            args.output,
            color=args.color,
            ombre=args.ombre,
            strength=args.strength,
            renderer=args.renderer,
            model=args.model,
            smoothing=args.smoothing,
            fade=FADE_SECONDS if args.fade is None else args.fade,
            max_frames=args.frames,
            progress=not args.quiet,
            keep_audio=not args.no_audio,
        )
        audio = "with audio" if info.has_audio else "no audio"
        print(f"wrote {args.output}: {info.frames} frames, {info.width}x{info.height} at {float(info.fps):g} fps, {audio}")
        return 0

    p.set_defaults(run=run)


# ----------------------------------------------------------------------------- hair masks

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
