"""XMP packets (hairfx.xmp): the output's packet read by ElementTree, an independent
reader, and compared with the input's edited there."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from hairfx.xmp import xmp_for_output

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XMP = "{http://ns.adobe.com/xap/1.0/}"
TIFF = "{http://ns.adobe.com/tiff/1.0/}"
EXIF = "{http://ns.adobe.com/exif/1.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"
GCAMERA = "{http://ns.google.com/photos/1.0/camera/}"
CONTAINER = "{http://ns.google.com/photos/1.0/container/}"

#: A base64 JPEG preview's start, as Lightroom writes xmpGImg:image ("/9j/" is FF D8 FF).
PREVIEW = "/9j/4AAQSkZJRgABAgEASABIAAD/7QAsUGhvdG9zaG9wIDMuMAA4QklNA+0AAAAAABAASAAAAAEAAQBIAAAAAQAB"


def _packet(description: str, properties: str, *, quote: str = '"') -> bytes:
    """An XMP packet as Adobe's toolkit lays it out: the xpacket wrapper, x:xmpmeta,
    rdf:RDF, one rdf:Description with ``description``'s attributes and ``properties``'
    elements, then padding."""
    q = quote
    return f"""<?xpacket begin={q}\ufeff{q} id={q}W5M0MpCehiHzreSzNTczkc9d{q}?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 9.1">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpGImg="http://ns.adobe.com/xap/1.0/g/img/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:xmpNote="http://ns.adobe.com/xmp/note/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
    xmlns:Container="http://ns.google.com/photos/1.0/container/"
    xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
    xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/"{description}>{properties}
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
{" " * 200}
<?xpacket end="w"?>""".encode()


def _description(packet: bytes) -> ET.Element:
    root = ET.fromstring(packet)
    (description,) = root.iter(f"{RDF}Description")
    return description


def _value(description: ET.Element, name: str):
    """A simple property of ``description``, written as an attribute or an element."""
    if name in description.attrib:
        return description.attrib[name]
    found = description.find(name)
    return None if found is None else found.text


def test_the_photos_metadata_is_kept_and_its_orientation_and_size_follow_the_output():
    """Rating, label, keywords, title, edit settings kept; the orientation says upright and
    the size is the output's, whether written as attributes or as elements (both forms are
    XMP's); every byte outside these values as the input had it."""
    packet = _packet(
        """
   xmp:Rating="4"
   xmp:Label="was tiff:Orientation='6'"
   tiff:Orientation="6"
   exif:PixelXDimension="4000"
   crs:Exposure2012="+0.35\"""",
        """
   <tiff:ImageWidth>4000</tiff:ImageWidth>
   <tiff:ImageLength>3000</tiff:ImageLength>
   <exif:PixelYDimension>3000</exif:PixelYDimension>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Portrait &amp; hair</rdf:li></rdf:Alt></dc:title>
   <dc:subject><rdf:Bag><rdf:li>portrait</rdf:li><rdf:li>hair</rdf:li></rdf:Bag></dc:subject>""")
    out = xmp_for_output(packet, 3000, 4000)  # turned upright: the sides swap
    got = _description(out)
    assert _value(got, f"{TIFF}Orientation") == "1"
    assert (_value(got, f"{TIFF}ImageWidth"), _value(got, f"{TIFF}ImageLength")) == ("3000", "4000")
    assert (_value(got, f"{EXIF}PixelXDimension"), _value(got, f"{EXIF}PixelYDimension")) == ("3000", "4000")
    assert _value(got, f"{XMP}Rating") == "4" and _value(got, f"{XMP}Label") == "was tiff:Orientation='6'"
    assert got.find(f"{DC}title/{RDF}Alt/{RDF}li").text == "Portrait & hair"
    assert [li.text for li in got.iter(f"{RDF}li")][1:] == ["portrait", "hair"]
    # the same bytes, but for the five values
    edited = (packet.replace(b'tiff:Orientation="6"', b'tiff:Orientation="1"')
              .replace(b'PixelXDimension="4000"', b'PixelXDimension="3000"')
              .replace(b">4000</tiff:ImageWidth>", b">3000</tiff:ImageWidth>")
              .replace(b">3000</tiff:ImageLength>", b">4000</tiff:ImageLength>")
              .replace(b">3000</exif:PixelYDimension>", b">4000</exif:PixelYDimension>"))
    assert out == edited


def test_previews_and_what_lies_outside_the_output_are_left_out():
    """The photo before the change must not travel inside the recoloured one: xmp:Thumbnails
    (its base64 JPEG) goes, and so do the pointer to Extended XMP, which is not copied, and
    what a phone says it appended after the picture (a motion photo's video, the container
    of a gain map), which the output does not carry. Other camera properties stay."""
    packet = _packet(
        """
   xmp:Rating="5"
   xmpNote:HasExtendedXMP="5F1E2D3C4B5A69788796A5B4C3D2E1F0"
   GCamera:MotionPhoto="1"
   GCamera:MicroVideoOffset="2345678"
   GCamera:SpecialTypeID="PORTRAIT"
   hdrgm:Version="1.0\"""",
        f"""
   <xmp:Thumbnails>
    <rdf:Alt>
     <rdf:li rdf:parseType="Resource">
      <xmpGImg:format>JPEG</xmpGImg:format>
      <xmpGImg:image>{PREVIEW}</xmpGImg:image>
     </rdf:li>
     <rdf:li xmpGImg:format="JPEG" xmpGImg:image="{PREVIEW}"/>
    </rdf:Alt>
   </xmp:Thumbnails>
   <Container:Directory>
    <rdf:Seq>
     <rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Length="2345678"/></rdf:li>
    </rdf:Seq>
   </Container:Directory>
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li stEvt:action="saved" xmpGImg:image="{PREVIEW}" tiff:Orientation="6"/>
    </rdf:Seq>
   </xmpMM:History>""")
    out = xmp_for_output(packet, 8, 8)
    got = _description(out)
    assert PREVIEW.encode() not in out and b"Thumbnails" not in out and b"Directory" not in out
    assert not [key for key in got.attrib if "HasExtendedXMP" in key or "MotionPhoto" in key or "MicroVideo" in key
                or "hdr-gain-map" in key]
    assert got.attrib[f"{GCAMERA}SpecialTypeID"] == "PORTRAIT" and got.attrib[f"{XMP}Rating"] == "5"
    (event,) = got.iter(f"{RDF}li")
    assert event.attrib == {"{http://ns.adobe.com/xap/1.0/sType/ResourceEvent#}action": "saved",
                            f"{TIFF}Orientation": "6"}  # another state of the document: its orientation kept
    assert b'\n   <xmpMM:History>' in out and b"\n\n" not in out.split(b"</rdf:Description>")[0]  # lines and all


def test_the_input_files_layout_is_left_out():
    """tiff:Compression, BitsPerSample and the like describe how the input laid out its
    pixels (a 16-bit LZW TIFF, say); the output's encoder lays out its own."""
    packet = _packet(' tiff:Compression="5" tiff:Make="Canon"', """
   <tiff:BitsPerSample><rdf:Seq><rdf:li>16</rdf:li><rdf:li>16</rdf:li><rdf:li>16</rdf:li></rdf:Seq></tiff:BitsPerSample>
   <tiff:PhotometricInterpretation>2</tiff:PhotometricInterpretation>""", quote="'")
    got = _description(xmp_for_output(packet, 8, 8))
    assert [key for key in got.attrib if key.startswith(TIFF)] == [f"{TIFF}Make"]
    assert not [child for child in got if child.tag.startswith(TIFF)]


@pytest.mark.parametrize("bad, reason", [
    (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>", r"unbound prefix"),
    (b"<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?><x:xmpmeta xmlns:x='adobe:ns:meta/'>", r"no element found"),
    (b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><x>&b;</x>', r"declares a document type"),
    (_packet(' xmp:Label="caf\xe9"', "").replace("café".encode(), b"caf\xe9"), r"not well-formed"),  # Latin-1
])
def test_xmp_that_cannot_be_read_is_left_out_with_one_warning_naming_the_photo(bad, reason):
    with pytest.warns(RuntimeWarning, match=rf"IMG_1\.jpg: its XMP metadata cannot be read \(.*{reason}.*\) and is "
                                            r"not copied") as said:
        assert xmp_for_output(bad, 8, 8, name="IMG_1.jpg") is None
    assert len(said) == 1


def test_nothing_to_copy_and_the_padding_of_tiff_writers():
    assert xmp_for_output(None, 8, 8) is None and xmp_for_output(b"", 8, 8) is None
    packet = _packet(' tiff:Orientation="1"', "")
    assert xmp_for_output(packet + b"\0\0", 8, 8) == packet  # some TIFF writers end it with NULs


def test_a_packet_with_many_properties_left_out_is_edited_in_one_pass():
    """Each edit was made on a new copy of the whole packet: 100,000 previews left out of a
    5 MB packet (a PNG's may hold 16 MB, a TIFF's or WebP's more) took 13 s, a time that
    grows with the square of the size. Put together once, it takes half a second."""
    import time

    previews = "".join(f"\n   <xmpGImg:image>{PREVIEW[:8]}{k}</xmpGImg:image>" for k in range(100_000))
    packet = _packet("", previews + "\n   <dc:format>image/jpeg</dc:format>")
    started = time.perf_counter()
    out = xmp_for_output(packet, 8, 6)
    assert time.perf_counter() - started < 5  # 13 s before, 0.5 s here
    assert b"xmpGImg:image" not in out and _value(_description(out), f"{DC}format") == "image/jpeg"


@pytest.mark.parametrize("packet, want", [
    (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
     b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="8"/></rdf:RDF></x:xmpmeta>', 8),
    (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
     b'<rdf:Description xmlns:t="http://ns.adobe.com/tiff/1.0/"><t:Orientation> 3 </t:Orientation>'
     b'</rdf:Description></rdf:RDF></x:xmpmeta>\0\0', 3),  # any prefix; padded with NULs as some TIFFs are
    (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
     b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="9"/></rdf:RDF></x:xmpmeta>', None),
    (b'<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:o="urn:other" o:Orientation="6"/>', None),  # not tiff:'s
    (b'<x:xmpmeta xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"', None),  # not well-formed
    (b'<!DOCTYPE x [<!ENTITY e "6">]><x xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="&e;"/>', None),
    (None, None),
])  # fmt: skip
def test_the_orientation_an_xmp_packet_states(packet, want):
    from hairfx.xmp import xmp_orientation

    assert xmp_orientation(packet) == want
