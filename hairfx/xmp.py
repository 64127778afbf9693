"""XMP packets: the RDF/XML metadata (Adobe's Extensible Metadata Platform, ISO 16684-1)
that photo editors write into JPEG, PNG, WebP and TIFF files: ratings, labels, keywords,
titles, captions, rights, and their own edit settings (Lightroom's and Camera Raw's).

:func:`xmp_for_output` gives the packet to write with a recoloured photo: the input's,
edited where it stands, so that every byte it does not change is kept as written
(namespace prefixes, layout, padding). What it changes, in the properties of the packet's
top-level ``rdf:Description`` elements, those of the photo:

* the orientation (``tiff:Orientation``) says 1: the pixels were turned upright when
  read, and the tag again would turn them twice (Pillow, through which hairfx reads it,
  takes the orientation from the XMP where the EXIF has none: a PNG's, and after 11.1 any
  format's);
* the size (``tiff:ImageWidth`` and ``ImageLength``, ``exif:PixelXDimension`` and
  ``PixelYDimension``) is the output's;
* the ``tiff:`` properties of the input file's layout (compression, bits and samples per
  pixel, ...) are left out: the output is laid out by its own encoder.

And wherever they are found, what holds or points to pictures the output does not carry
(:data:`DROPPED`): previews of the photo before the change (``xmp:Thumbnails``, base64
JPEGs), the pointer to Extended XMP (the JPEG segments that hold it are not read: a
phone's hold the photo itself, Google's ``GImage:Data``), and a phone's description of
what it appended after the picture: a motion photo's video, a depth map, an HDR gain map.

A packet that is not well-formed XML, or declares a document type (XMP has none, and its
entities could expand without end), is left out with a warning.
"""

from __future__ import annotations

import re
import warnings
from xml.parsers import expat

__all__ = ["xmp_for_output", "xmp_orientation", "DROPPED"]

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_TIFF = "http://ns.adobe.com/tiff/1.0/"
_EXIF = "http://ns.adobe.com/exif/1.0/"
_GCAMERA = "http://ns.google.com/photos/1.0/camera/"

#: Properties left out wherever found, as ``(namespace, name)``; a name of None stands
#: for every property of the namespace.
DROPPED = frozenset({
    ("http://ns.adobe.com/xap/1.0/", "Thumbnails"),  # xmp:Thumbnails (xap: in older files): base64 JPEG previews
    ("http://ns.adobe.com/xap/1.0/g/img/", "image"),  # xmpGImg:image, the preview's data, wherever it stands
    ("http://ns.adobe.com/xmp/note/", "HasExtendedXMP"),  # xmpNote: the Extended XMP in a JPEG's segments
    ("http://ns.google.com/photos/1.0/image/", None),  # GImage: the photo before the effect (its data there)
    ("http://ns.google.com/photos/1.0/depthmap/", None),  # GDepth: a depth map
    ("http://ns.google.com/photos/1.0/container/", None),  # Container: what is appended (video, gain map)
    ("http://ns.adobe.com/hdr-gain-map/1.0/", None),  # hdrgm: an HDR gain map, appended
    *((_GCAMERA, name) for name in ("MotionPhoto", "MotionPhotoVersion", "MotionPhotoPresentationTimestampUs",
                                    "MicroVideo", "MicroVideoVersion", "MicroVideoOffset",
                                    "MicroVideoPresentationTimestampUs")),  # a motion photo's video, appended
})

#: The ``tiff:`` properties of a file's layout, which describe the input's, not the output's.
_LAYOUT = frozenset((_TIFF, name) for name in ("Compression", "BitsPerSample", "PhotometricInterpretation",
                                               "SamplesPerPixel", "PlanarConfiguration", "YCbCrSubSampling",
                                               "YCbCrPositioning"))

#: A start tag, its attributes (group 1) and whether it closes itself (group 2); expat
#: has checked it is well-formed. And one attribute: its name and its quoted value.
_START_TAG = re.compile(rb"<[^\s/>]+((?:\s+[^\s=]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>")
_ATTRIBUTE = re.compile(rb"\s+([^\s=]+)\s*=\s*(\"[^\"]*\"|'[^']*')")


def xmp_for_output(xmp: bytes | None, width: int, height: int, *, name: str = "the input") -> bytes | None:
    """The XMP packet ``xmp`` (from :func:`~hairfx.metadata.read_metadata`) to write with an
    upright ``width x height`` picture made from its photo, as the module's description
    says; trailing NUL bytes (some TIFF writers pad with them) are dropped. None for no
    packet, and, with a warning naming ``name``, for one that cannot be read."""
    if not xmp:
        return None
    packet = bytes(xmp).rstrip(b"\0")
    try:
        edits = _edits(packet, {(_TIFF, "Orientation"): 1, (_TIFF, "ImageWidth"): width,
                                (_TIFF, "ImageLength"): height, (_EXIF, "PixelXDimension"): width,
                                (_EXIF, "PixelYDimension"): height})
    except (expat.ExpatError, ValueError) as exc:
        warnings.warn(f"hairfx: {name}: its XMP metadata cannot be read ({exc}) and is not copied", RuntimeWarning,
                      stacklevel=2)
        return None
    # put together in one pass: a copy of the packet per edit grows with the square of its size
    pieces, at = [], 0
    for start, stop, text in sorted(edits):
        pieces += (packet[at:start], text)
        at = stop
    return b"".join(pieces) + packet[at:]


def xmp_orientation(xmp: bytes | None) -> int | None:
    """The orientation, 1 to 8 as EXIF numbers them, that the packet ``xmp`` states for its
    photo (``tiff:Orientation``, as an attribute or an element); None where it states none
    or another value, or cannot be read. Photo software reads it where the EXIF has no
    orientation of its own (the Metadata Working Group's rule, and Pillow's)."""
    if not xmp:
        return None
    key = f"{_TIFF} Orientation"
    found: list[str] = []
    text: list[str] | None = None
    parser = expat.ParserCreate("UTF-8", " ")

    def start(name: str, attributes: dict) -> None:
        nonlocal text
        if key in attributes:
            found.append(attributes[key])
        text = [] if name == key else None

    def data(chunk: str) -> None:
        if text is not None:
            text.append(chunk)

    def end(name: str) -> None:
        nonlocal text
        if name == key and text is not None:
            found.append("".join(text))
        text = None

    def refuse(*args) -> None:
        raise ValueError("it declares a document type")

    parser.StartElementHandler, parser.CharacterDataHandler, parser.EndElementHandler = start, data, end
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = refuse
    try:
        parser.Parse(bytes(xmp).rstrip(b"\0"), True)
    except (expat.ExpatError, ValueError):
        return None
    value = found[0].strip() if found else ""
    return int(value) if value in ("1", "2", "3", "4", "5", "6", "7", "8") else None


class _Element:
    """An element open while the packet is read."""

    def __init__(self, key, start: int, tag: re.Match, *, top: bool, dropped: bool, value) -> None:
        self.key = key  # (namespace, name)
        self.start, self.tag = start, tag
        self.top = top  # a top-level rdf:Description: its properties are the photo's
        self.dropped = dropped
        self.value = value  # the text to set, for a property whose text is set
        self.children = False


def _edits(packet: bytes, values: dict) -> list[tuple[int, int, bytes]]:
    """The edits :func:`xmp_for_output` makes to ``packet``, as ``(start, stop, new
    bytes)``; ``values`` are the properties whose values are set. Raises
    ``expat.ExpatError`` or ``ValueError`` for a packet that cannot be read."""
    parser = expat.ParserCreate("UTF-8", " ")  # names come as "namespace name prefix"
    parser.namespace_prefixes = True
    parser.ordered_attributes = True
    edits, stack = [], []

    def key(name: str) -> tuple:
        parts = name.split(" ")
        return (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])

    def dropped(found: tuple, parent: _Element | None) -> bool:
        return (found in DROPPED or (found[0], None) in DROPPED
                or (parent is not None and parent.top and found in _LAYOUT))

    def start(name: str, attributes: list) -> None:
        at = parser.CurrentByteIndex
        tag = _START_TAG.match(packet, at)
        if tag is None:  # pragma: no cover - expat has read a start tag there
            raise ValueError(f"no start tag at byte {at}")
        found, parent = key(name), stack[-1] if stack else None
        if parent is not None:
            parent.children = True
        inside = parent is not None and parent.dropped
        element = _Element(found, at, tag, top=found == (_RDF, "Description") and parent is not None
                           and parent.key == (_RDF, "RDF"), dropped=inside or dropped(found, parent),
                           value=values.get(found) if parent is not None and parent.top else None)
        stack.append(element)
        if element.dropped:
            return
        # attributes as written ("prefix:name") to their (namespace, name)
        names = {(f"{parts[2]}:{parts[1]}" if len(parts) > 2 else parts[-1]): key(attribute)
                 for attribute in attributes[::2] for parts in [attribute.split(" ")]}
        for written in _ATTRIBUTE.finditer(packet, tag.start(1), tag.end(1)):
            found = names.get(written.group(1).decode("utf-8"))
            if found is None:  # a namespace declaration
                continue
            if dropped(found, element if element.top else None):
                edits.append((written.start(), written.end(), b""))
            elif element.top and found in values:
                edits.append((written.start(2) + 1, written.end(2) - 1, str(values[found]).encode()))

    def end(name: str) -> None:
        element = stack.pop()
        at = parser.CurrentByteIndex
        stop = element.tag.end() if element.tag.group(2) else packet.index(b">", at) + 1
        if element.dropped and not (stack and stack[-1].dropped):
            begin = element.start
            while begin > 0 and packet[begin - 1] in b" \t\r\n":  # its line goes with it
                begin -= 1
            edits.append((begin, stop, b""))
        elif element.value is not None and not element.children and not element.tag.group(2):
            edits.append((element.tag.end(), at, str(element.value).encode()))

    def refuse(*args) -> None:
        raise ValueError("it declares a document type")

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = refuse
    parser.Parse(packet, True)
    return edits
