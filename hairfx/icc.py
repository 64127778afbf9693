"""ICC profiles made from a colour space's definition, for the photos that name their
colour space without embedding a profile.

A camera set to Adobe RGB writes JPEGs that hold no profile: their EXIF says so instead
(DCF's option file, see :func:`hairfx.metadata.exif_colour_space`). To convert such a
photo as one with the profile embedded, the profile is made here from colour-science's
definition of the space: its primaries and white point adapted to the profile connection
space's D50 (Bradford), and its transfer function as a 1024-entry curve. Pillow makes
only sRGB and Lab profiles, and shipped profiles are not the project's to copy.
"""

from __future__ import annotations

import functools
import struct

import numpy as np

__all__ = ["matrix_shaper_profile"]

#: The ICC profile connection space's white (D50), as ICC profiles write it.
D50 = (0.9642, 1.0, 0.8249)


@functools.cache
def matrix_shaper_profile(colourspace: str) -> bytes:
    """An ICC v2 matrix/TRC display profile of one of colour-science's RGB colour spaces
    ("Adobe RGB (1998)", "Display P3", "sRGB", ...): the kind cameras, phones and editors
    embed. Raises ``KeyError`` for a name colour-science does not know."""
    return icc_profile(b"mntrRGB XYZ ", colourspace, _rgb_tags(colourspace))


def icc_xyz(v) -> bytes:
    """An ICC ``XYZ `` tag body holding one XYZ value (s15Fixed16 numbers)."""
    return b"XYZ " + bytes(4) + b"".join(struct.pack(">i", round(float(c) * 65536)) for c in v)


def _rgb_tags(name: str) -> list:
    from ._colour import colour_science

    colour = colour_science()
    cs = colour.RGB_COLOURSPACES[name]
    d50 = colour.xy_to_XYZ(colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"])
    adapt = colour.adaptation.matrix_chromatic_adaptation_VonKries(colour.xy_to_XYZ(cs.whitepoint), d50, "Bradford")
    m = adapt @ cs.matrix_RGB_to_XYZ  # columns: the primaries' XYZ under D50, as ICC wants them
    curve = np.clip(cs.cctf_decoding(np.linspace(0.0, 1.0, 1024)), 0.0, 1.0)
    curv = b"curv" + bytes(4) + struct.pack(">I", 1024) + np.round(curve * 65535).astype(">u2").tobytes()
    return [(b"wtpt", icc_xyz(D50)), (b"rXYZ", icc_xyz(m[:, 0])), (b"gXYZ", icc_xyz(m[:, 1])),
            (b"bXYZ", icc_xyz(m[:, 2])), (b"rTRC", curv), (b"gTRC", curv), (b"bTRC", curv)]


def icc_profile(classes: bytes, name: str, tags: list) -> bytes:
    """An ICC v2.1 profile: ``classes`` is the header's class, colour space and connection
    space (12 bytes), ``tags`` (signature, body) pairs; a description and copyright are added."""
    text = name.encode("ascii") + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    tags = [(b"desc", desc), (b"cprt", b"text" + bytes(4) + b"none\0"), *tags]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    header = (struct.pack(">I", 128 + len(body)) + b"none" + bytes([2, 0x10, 0, 0]) + classes + bytes(12) + b"acsp"
              + b"none" + bytes(4 + 4 + 4 + 8 + 4) + icc_xyz(D50)[8:] + b"none" + bytes(44))
    if len(header) != 128:  # pragma: no cover - fixed by the layout above
        raise AssertionError("ICC header is not 128 bytes")
    return header + body
