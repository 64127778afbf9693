"""hairfx.lut: .cube read/write against colour-science's reader, sampling, bad files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import TOL_CUBE, TOL_LEVELS, graded, read_only_folder
from hairfx.errors import HairfxError, InputError, LutFormatError, MissingFileError
from hairfx.lut import LUT3D, MAX_SIZE, read_cube, sample_tetrahedral, sample_trilinear, write_cube

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # colour-science warns about optional matplotlib
    import colour

COLOUR_RESOURCES = Path(colour.__file__).parent / "io" / "luts" / "tests" / "resources"
COLOUR_CUBES = sorted(COLOUR_RESOURCES.glob("*_cube/*.cube"))


def test_identity_known_values():
    t = LUT3D.identity(3).table
    assert t.shape == (3, 3, 3, 3) and t.dtype == np.float32
    # table[r, g, b] is the output for input (r, g, b) / (N - 1)
    np.testing.assert_array_equal(t[2, 1, 0], [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(t[0, 0, 2], [0.0, 0.0, 1.0])


def test_write_read_round_trip(tmp_path):
    lut = graded(7, (0.9, 0.7, 1.1), 0.8)
    path = write_cube(LUT3D(lut.table, title="round trip"), tmp_path / "a.cube")
    back = read_cube(path)
    assert back.size == 7 and back.title == "round trip" and back.has_unit_domain
    np.testing.assert_allclose(back.table, lut.table, atol=TOL_CUBE)


def test_red_varies_fastest_in_file(tmp_path):
    path = write_cube(LUT3D.identity(2), tmp_path / "i.cube")
    rows = [ln for ln in path.read_text().splitlines() if ln[:1].isdigit()]
    # Adobe/Resolve order: red fastest, then green, then blue
    assert rows[:3] == ["0.000000 0.000000 0.000000", "1.000000 0.000000 0.000000", "0.000000 1.000000 0.000000"]


def test_colour_science_reads_what_we_write(tmp_path):
    lut = graded(9, (1.0, 0.5, 0.25), 1.2)
    path = write_cube(lut, tmp_path / "g.cube")
    theirs = colour.read_LUT(str(path))
    assert isinstance(theirs, colour.LUT3D)
    np.testing.assert_allclose(theirs.table, lut.table, atol=TOL_CUBE)


def test_domain_round_trip_and_colour_agrees(tmp_path):
    lut = LUT3D(graded(5, 1.0, 1.0).table, domain_min=(-0.1, 0.0, 0.0), domain_max=(1.5, 2.0, 3.0))
    path = write_cube(lut, tmp_path / "d.cube")
    back = read_cube(path)
    assert back.domain_min == pytest.approx((-0.1, 0.0, 0.0)) and back.domain_max == pytest.approx((1.5, 2.0, 3.0))
    theirs = colour.read_LUT(str(path))
    np.testing.assert_allclose(theirs.domain, [back.domain_min, back.domain_max], atol=1e-6)


@pytest.mark.parametrize("path", COLOUR_CUBES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_agrees_with_colour_science_resources(path):
    theirs = colour.read_LUT(str(path))
    if isinstance(theirs, colour.LUT3D):
        ours = read_cube(path)
        np.testing.assert_allclose(ours.table, theirs.table, atol=1e-6)
        np.testing.assert_allclose([ours.domain_min, ours.domain_max], theirs.domain, atol=1e-6)
    else:  # 1D LUTs and 1D shaper + 3D sequences are refused, naming the line
        with pytest.raises(LutFormatError, match=rf"{path.name}, line \d+: 1D LUTs"):
            read_cube(path)


def test_non_unit_domain_is_honoured(tmp_path):
    # Grid point i of a LUT over [0, 2] sits at input 2 * i / (N - 1); a table holding those
    # values is the identity there, so on [0, 1] frames it must leave values unchanged
    # (the table of a [0, 1] LUT would double them).
    ident = LUT3D.identity(9).table * 2.0
    lut = LUT3D(ident, domain_min=(0, 0, 0), domain_max=(2, 2, 2))
    x = np.array([[0.25, 0.5, 0.75]], np.float32)
    np.testing.assert_allclose(lut.apply(x), x, atol=1e-5)
    np.testing.assert_allclose(LUT3D(ident).apply(x), 2 * x, atol=1e-5)
    # colour-science applies the same LUT identically
    theirs = colour.LUT3D(ident, domain=np.array([[0, 0, 0], [2, 2, 2]]))
    np.testing.assert_allclose(lut.apply(x), theirs.apply(x), atol=1e-5)


def test_a_narrow_domain_is_applied_exactly_as_colour_science_applies_it():
    """A curved table over [0.1, 0.9] x [0.05, 0.95] x [0, 0.5]: its own grid points, points
    between them and inputs outside the domain (clamped to its edge), against colour-science.
    A table resampled onto [0, 1] would miss the grid points by several 8-bit levels."""
    rng = np.random.default_rng(5)
    lo, hi = (0.1, 0.05, 0.0), (0.9, 0.95, 0.5)
    table = (LUT3D.identity(5).table ** 3 + 0.1 * rng.random((5, 5, 5, 3))).astype(np.float32)
    lut = LUT3D(table, domain_min=lo, domain_max=hi)
    theirs = colour.LUT3D(table, domain=np.array([lo, hi]))
    x = np.concatenate([rng.random((2000, 3)), np.array(lo) + (np.array(hi) - np.array(lo)) * LUT3D.identity(5).table.reshape(-1, 3)])
    x = x.astype(np.float32)
    np.testing.assert_allclose(lut.apply(x), theirs.apply(x), atol=2e-6)
    # on its own grid points the LUT returns its table entries
    np.testing.assert_allclose(lut.apply(x[2000:]), table.reshape(-1, 3), atol=2e-6)


def test_to_unit_domain_resamples_at_a_size_asked_for():
    lut = LUT3D(LUT3D.identity(9).table * 2.0, domain_min=(0, 0, 0), domain_max=(2, 2, 2))
    unit = lut.to_unit_domain(17)
    assert unit.size == 17 and unit.has_unit_domain
    np.testing.assert_allclose(unit.table, LUT3D.identity(17).table, atol=1e-6)
    ident = LUT3D.identity(5)
    assert ident.to_unit_domain() is ident and ident.to_unit_domain(5) is ident
    with pytest.raises(InputError, match="LUT size"):
        lut.to_unit_domain(1)


def test_a_lut_keeps_a_copy_and_leaves_the_callers_array_writable():
    table = LUT3D.identity(3).table.copy()
    lut = LUT3D(table)
    assert table.flags.writeable and not np.shares_memory(table, lut.table)
    table[0, 0, 0] = 0.5  # the caller's array is theirs to change; the LUT is not touched
    assert lut.table[0, 0, 0].tolist() == [0.0, 0.0, 0.0] and not lut.table.flags.writeable


def test_a_lut_stays_read_only_when_pickled_or_copied():
    """A service sends its colours to worker processes pickled: the copy's table once came
    back writable, so an in-place change went unseen by the renderers, which keep a
    colour's texels and kernels by the colour they were made for."""
    import copy
    import pickle

    lut = LUT3D(LUT3D.identity(3).table, title="t", domain_min=(0, -0.5, 0), domain_max=(1, 1, 2))
    for again in (pickle.loads(pickle.dumps(lut)), copy.deepcopy(lut), copy.copy(lut)):
        assert not again.table.flags.writeable
        np.testing.assert_array_equal(again.table, lut.table)
        assert (again.title, again.domain_min, again.domain_max) == (lut.title, lut.domain_min, lut.domain_max)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"domain_min": "0 0 0"}, "LUT domain must be three numbers"),
        ({"domain_max": None}, "LUT domain must be three numbers"),
        ({"title": 5}, "LUT title must be a string"),
    ],
)
def test_wrong_argument_types_are_input_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        LUT3D(LUT3D.identity(2).table, **kwargs)
    with pytest.raises(InputError, match="must hold numbers"):
        LUT3D(np.full((2, 2, 2, 3), "x"))


def test_trilinear_and_tetrahedral_match_colour_science():
    rng = np.random.default_rng(1)
    table = rng.random((6, 6, 6, 3), dtype=np.float32)
    x = rng.random((500, 3), dtype=np.float32)
    lut = colour.LUT3D(table)
    np.testing.assert_allclose(sample_trilinear(table, x), lut.apply(x), atol=1e-5)
    tetra = lut.apply(x, interpolator=colour.algebra.table_interpolation_tetrahedral)
    np.testing.assert_allclose(sample_tetrahedral(table, x), tetra, atol=1e-5)


def test_sampling_is_exact_on_grid_points():
    table = graded(5, (0.3, 0.6, 0.9), 2.0).table
    idx = np.array([[0, 1, 4], [3, 3, 3]])
    x = idx / 4.0
    np.testing.assert_allclose(sample_trilinear(table, x), table[idx[:, 0], idx[:, 1], idx[:, 2]], atol=1e-6)


# -- bad files ----------------------------------------------------------------------------
def _cube(tmp_path, text, name="bad.cube"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bad_value_names_file_and_line(tmp_path):
    rows = ["0 0 0", "1 0 0", "0 1 0", "1 x 0", "0 0 1", "1 0 1", "0 1 1", "1 1 1"]
    p = _cube(tmp_path, "TITLE \"t\"\nLUT_3D_SIZE 2\n" + "\n".join(rows) + "\n")
    with pytest.raises(LutFormatError, match=r"bad\.cube, line 6: not a number"):
        read_cube(p)


def test_wrong_value_count_on_a_line(tmp_path):
    rows = ["0 0 0", "1 0 0", "0 1 0", "1 1", "0 0 1", "1 0 1", "0 1 1", "1 1 1 1"]
    p = _cube(tmp_path, "LUT_3D_SIZE 2\n" + "\n".join(rows) + "\n")
    with pytest.raises(LutFormatError, match=r"line 5: expected 3 values"):
        read_cube(p)


def test_wrong_row_count(tmp_path):
    p = _cube(tmp_path, "LUT_3D_SIZE 2\n" + "0 0 0\n" * 7)
    with pytest.raises(LutFormatError, match="needs 8 table rows, the file has 7"):
        read_cube(p)


@pytest.mark.parametrize("row", ["nan 0 0", "0 inf 0", "0 0 -Infinity"])
@pytest.mark.parametrize("where", ["first", "last"])
def test_non_finite_value(tmp_path, row, where):
    # a first row 'nan 0 0' was taken for an unknown keyword 'nan'
    rows = [row] + ["0 0 0"] * 7 if where == "first" else ["0 0 0"] * 7 + [row]
    p = _cube(tmp_path, "LUT_3D_SIZE 2\n" + "\n".join(rows) + "\n")
    word = next(w for w in row.split() if w != "0")
    line = 2 if where == "first" else 9
    with pytest.raises(LutFormatError, match=rf"bad\.cube, line {line}: '{word}' is not a finite number, in '{row}'"):
        read_cube(p)


@pytest.mark.parametrize("value", ["1e39", "-1e39", "1e308"])
def test_value_beyond_float32_names_the_line_without_a_warning(tmp_path, value):
    # finite as a Python float, infinite once stored in the float32 table
    p = _cube(tmp_path, "LUT_3D_SIZE 2\n" + "0 0 0\n" * 6 + f"{value} 1 1\n" + "1 1 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's 'overflow encountered in cast' leaked before
        with pytest.raises(LutFormatError, match=rf"bad\.cube, line 8: '{value}' is out of range in '{value} 1 1'"):
            read_cube(p)
    # the largest float32 itself is a value like any other
    p = _cube(tmp_path, "LUT_3D_SIZE 2\n" + "0 0 0\n" * 7 + "3.4e38 1 1\n")
    assert read_cube(p).table[1, 1, 1, 0] == np.float32(3.4e38)


@pytest.mark.parametrize("size", [1, 257, 100000])
def test_size_out_of_range_refused_before_reading_table(tmp_path, size):
    # Only the header: a real allocation of 100000**3 entries would fail loudly on its own.
    p = _cube(tmp_path, f"LUT_3D_SIZE {size}\n0 0 0\n")
    with pytest.raises(LutFormatError, match=rf"line 1: LUT_3D_SIZE {size} is outside the supported range 2\.\.{MAX_SIZE}"):
        read_cube(p)


def test_huge_file_refused_without_reading(tmp_path):
    p = tmp_path / "huge.cube"
    with open(p, "wb") as f:  # a sparse file: large on paper, nothing written
        f.truncate(MAX_SIZE**3 * 128 + 10**6)
    with pytest.raises(LutFormatError, match="larger than any"):
        read_cube(p)


@pytest.mark.parametrize(
    "text, message",
    [
        ("0 0 0\n", "no LUT_3D_SIZE"),
        ("LUT_3D_SIZE two\n", "line 1: LUT_3D_SIZE must be an integer"),
        ("LUT_3D_SIZE 2\n", "has no table rows"),
        ("LUT_3D_SIZE 2\nFOO 1\n", "line 2: unknown keyword 'FOO'"),
        ("LUT_3D_SIZE 2\nDOMAIN_MIN 0 0\n", "line 2: DOMAIN_MIN needs three"),
        ("LUT_3D_SIZE 2\nDOMAIN_MIN 1 1 1\nDOMAIN_MAX 0 0 0\n" + "0 0 0\n" * 8, "must be below DOMAIN_MAX"),
        ("LUT_1D_SIZE 4\n", "line 1: 1D LUTs"),
        ("LUT_3D_SIZE 17\n# regraded\nLUT_3D_SIZE 2\n" + "0 0 0\n" * 8, r"line 3: LUT_3D_SIZE given twice \(first on line 1\)"),
        ("LUT_3D_SIZE 2\n" + "0 0 0\n" * 8 + "DOMAIN_MIN 0 0 0\n", "line 10: 'DOMAIN_MIN' after the table: keywords come"),
        # the domain in both forms (the last one won), a keyword run into its value (read as a title)
        ("LUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\nLUT_3D_INPUT_RANGE 0 2\n" + "0 0 0\n" * 8,
         "line 4: the domain given twice: LUT_3D_INPUT_RANGE here, DOMAIN_MIN on line 2; give it once"),
        ("LUT_3D_INPUT_RANGE 0 2\nLUT_3D_SIZE 2\nDOMAIN_MAX 1 1 1\n" + "0 0 0\n" * 8,
         "line 3: the domain given twice: DOMAIN_MAX here, LUT_3D_INPUT_RANGE on line 1"),
        ("TITLEFOO 3\nLUT_3D_SIZE 2\n" + "0 0 0\n" * 8, "line 1: unknown keyword 'TITLEFOO'"),
        ('TITLE"x"\nLUT_3D_SIZE 2\n' + "0 0 0\n" * 8, "line 1: unknown keyword 'TITLE\"x\"'"),
    ],
)
def test_malformed_headers(tmp_path, text, message):
    with pytest.raises(LutFormatError, match=message):
        read_cube(_cube(tmp_path, text))


_ROWS_2 = "".join(f"{r} {g} {b}\r\n" for b in (0, 1) for g in (0, 1) for r in (0, 1))


@pytest.mark.parametrize("header", [
    b"LUT_3D_SIZE 2\n",
    b"LUT_3D_SIZE 2  # two\n",  # an inline comment
    b"\xef\xbb\xbfLUT_3D_SIZE 2\n",  # a UTF-8 BOM right before it
    b"\xef\xbb\xbf# made by hand\r\nTITLE \"a # b\"\r\n  LUT_3D_SIZE\t+2 # \xe9\r\n",
])
def test_stated_size_reads_every_size_line_read_cube_reads(tmp_path, header):
    # the early size read behind the pair-size check missed the comment and the BOM, so a
    # 17/33 pair was refused only after both tables were parsed (28 s at 256^3)
    from hairfx.lut import stated_size

    p = tmp_path / "s.cube"
    p.write_bytes(header + _ROWS_2.encode())
    assert stated_size(p) == read_cube(p).size == 2


def test_binary_file(tmp_path):
    p = tmp_path / "bin.cube"
    p.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(LutFormatError, match="bin.cube: line 1 is not UTF-8 text .*: not a text .cube file"):
        read_cube(p)


def test_a_title_and_comments_in_windows_1252_are_read(tmp_path):
    # as Windows tools write them, and ffmpeg's lut3d reads them; refused as "not a text
    # .cube file" before
    text = ('# Créé par Résolve\r\nTITLE "Café Crème – warm"\r\nLUT_3D_SIZE 2  # côté\r\n'
            + _ROWS_2.replace("1 1 1", "1 1 1 # blanc é") + "# fin – é\r\n")
    p = tmp_path / "cp1252.cube"
    p.write_bytes(text.encode("cp1252"))
    lut = read_cube(p)
    assert lut.title == "Café Crème – warm"
    np.testing.assert_array_equal(lut.table, LUT3D.identity(2).table)
    # the five bytes Windows-1252 leaves undefined read too (as Latin-1)
    p.write_bytes(b'TITLE "a\x81b\x96c"\nLUT_3D_SIZE 2\n' + _ROWS_2.encode())
    assert read_cube(p).title == "a\x81b\u2013c"


@pytest.mark.parametrize("text, line", [
    ("LUT_3D_SIZE 2\r\nDOMAIN_MIN 0 0 0 é\r\n" + _ROWS_2, 2),  # a keyword's values
    ("LUT_3D_SIZE 2\r\n" + _ROWS_2.replace("0 1 1", "0 1 1é"), 8),  # a table row
    ("LUT_3D_SIZE 2\r\n" + _ROWS_2.replace("0 0 0", "0 0 0é", 1), 2),  # the first one
    ("Ñ_3D_SIZE 2\r\n" + _ROWS_2, 1),
])
def test_bytes_that_are_not_utf8_outside_a_title_or_comment_name_the_line(tmp_path, text, line):
    p = tmp_path / "cp1252.cube"
    p.write_bytes(text.encode("cp1252"))
    with pytest.raises(LutFormatError, match=rf"cp1252\.cube: line {line} is not UTF-8 text \(.* at byte \d+\)"):
        read_cube(p)


def test_replacing_a_cube_keeps_its_permission_bits(tmp_path):
    # the renamed temporary file brought its own mode: a read-only grade became 0644
    import os

    for mode in (0o444, 0o640):
        out = tmp_path / f"{mode:o}.cube"
        out.write_text("x")
        out.chmod(mode)
        write_cube(LUT3D.identity(2), out)
        assert read_cube(out).size == 2 and out.stat().st_mode & 0o777 == mode
    umask = os.umask(0)
    os.umask(umask)
    write_cube(LUT3D.identity(2), tmp_path / "new.cube")  # a new file: as open() makes it
    assert (tmp_path / "new.cube").stat().st_mode & 0o777 == 0o666 & ~umask


def test_ffmpeg_applies_a_written_domain_that_starts_at_0_as_hairfx_does(tmp_path, ffmpeg):
    """Independent oracle for the README's word that ffmpeg's lut3d opens the files hairfx
    writes, for a domain starting at 0. ffmpeg 5.1 ignores DOMAIN_MIN: tables over
    [0.25, 1], [0.5, 1.5] and [-0.5, 1] came out 47, 127 and 128 levels off, hence the caveat."""
    import subprocess

    import cv2

    lut = LUT3D(np.clip(LUT3D.identity(17).table * 2.0 ** np.array([0.5, 1.0, 2.0]), 0, 1),
                domain_min=(0, 0, 0), domain_max=(2, 2, 2))
    write_cube(lut, tmp_path / "d.cube", decimals=7)
    x = np.arange(256, dtype=np.uint8)
    r, g = np.meshgrid(x, x)
    rgb = np.dstack([r, g, 255 - r // 2 - g // 2])
    cv2.imwrite(str(tmp_path / "in.png"), rgb[:, :, ::-1])
    subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(tmp_path / "in.png"), "-vf",
                    f"lut3d=file={tmp_path / 'd.cube'}:interp=trilinear", str(tmp_path / "out.png")], check=True)
    theirs = cv2.imread(str(tmp_path / "out.png"))[:, :, ::-1].astype(np.int16)
    ours = np.round(read_cube(tmp_path / "d.cube").apply(rgb / 255.0) * 255).astype(np.int16)
    assert np.abs(theirs - ours).max() <= TOL_LEVELS


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="nope.cube") as info:
        read_cube(tmp_path / "nope.cube")
    assert isinstance(info.value, (FileNotFoundError, InputError, HairfxError))


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "x.cube").mkdir()
    with pytest.raises(InputError, match=r"x\.cube is a folder"):
        read_cube(tmp_path / "x.cube")


def test_table_validation():
    with pytest.raises(InputError, match=r"shape \(N, N, N, 3\)"):
        LUT3D(np.zeros((4, 4, 3, 3), np.float32))
    with pytest.raises(InputError, match="NaN"):
        LUT3D(np.full((2, 2, 2, 3), np.nan, np.float32))
    with pytest.raises(InputError, match=r"size must be in \[2, 256\], got 1"):
        LUT3D.identity(1)
    table = LUT3D.identity(2).table
    for lo, hi in [((np.nan, 0, 0), (1, 1, 1)), ((0, 0, 0), (1, np.inf, 1)), ((-np.inf, 0, 0), (1, 1, 1))]:
        with pytest.raises(InputError, match="finite"):
            LUT3D(table, domain_min=lo, domain_max=hi)


@pytest.mark.parametrize(
    "title, read_back",
    [
        ('a"b\nLUT_3D_SIZE 9', "a'b LUT_3D_SIZE 9"),  # the second line was read as a second LUT_3D_SIZE
        ("one\rtwo\r\nthree", "one two  three"),
        ("grade\u2028LUT_1D_SIZE 4\x0bx\x85y", "grade LUT_1D_SIZE 4 x y"),  # lines to str.splitlines()
        ("ph\udcffoto", "ph oto"),  # an undecodable file name's lone surrogate; UTF-8 cannot write it
    ],
)
def test_a_title_that_would_break_the_file_is_written_on_one_line(tmp_path, title, read_back):
    # Sanitised, not refused: read_hald titles a LUT with the image's file name, which may
    # hold any of these, and a title is a label; the file must always read back.
    path = write_cube(LUT3D(LUT3D.identity(2).table, title=title), tmp_path / "t.cube")
    back = read_cube(path)
    assert back.title == read_back and back.size == 2
    assert colour.read_LUT(str(path)).size == 2


def test_title_may_contain_a_hash(tmp_path):
    back = read_cube(write_cube(LUT3D(LUT3D.identity(2).table, title="Copper #2 warm"), tmp_path / "t.cube"))
    assert back.title == "Copper #2 warm"


def test_table_far_larger_than_declared_is_refused_unparsed(tmp_path):
    p = tmp_path / "big.cube"
    p.write_text("LUT_3D_SIZE 2\n" + "0.5 0.5 0.5\n" * 20000)
    with pytest.raises(LutFormatError, match="far more than LUT_3D_SIZE 2 needs"):
        read_cube(p)


def test_a_table_written_with_every_digit_is_read(tmp_path):
    """numpy's savetxt writes 25 characters a number ("%.18e"), 75 or more a row: a valid file
    that colour-science and ffmpeg read, and so must hairfx, at the palette's size and up."""
    lut = graded(33, (0.9, 0.7, 1.1), 0.8)
    p = tmp_path / "long.cube"
    with open(p, "w") as f:
        f.write("LUT_3D_SIZE 33\n")
        np.savetxt(f, -lut.table.transpose(2, 1, 0, 3).reshape(-1, 3) + 0.0)  # "-" too: 26 characters
    assert p.stat().st_size > 33**3 * 75
    back = read_cube(p)
    np.testing.assert_allclose(back.table, -lut.table, atol=1e-7)
    np.testing.assert_allclose(colour.read_LUT(str(p)).table, back.table, atol=1e-7)


def test_huge_table_is_refused_before_it_is_read(tmp_path):
    import tracemalloc

    p = tmp_path / "sparse.cube"
    with open(p, "wb") as f:  # a valid-looking header, then 50 MB of holes: nothing on disk
        f.write(b"LUT_3D_SIZE 2\n0 0 0\n")
        f.truncate(50 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(LutFormatError, match="far more than LUT_3D_SIZE 2 needs"):
            read_cube(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # the header's blocks only, not the 50 MB


_ROWS = ["0 0 0", "1 0 0", "0 1 0", "1 1 0", "0 0 1", "1 0 1", "0 1 1", "0.9 0.8 0.7"]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_comments_in_the_table(tmp_path, eol):
    # Whole-line comments and blank lines between rows, as colour-science reads them.
    lines = ["LUT_3D_SIZE 2", "# red fastest", *_ROWS[:4], "", "# blue = 1", *_ROWS[4:]]
    plain = tmp_path / "plain.cube"
    plain.write_bytes(eol.join(lines).encode() + eol.encode())
    theirs = colour.read_LUT(str(plain))
    np.testing.assert_allclose(read_cube(plain).table, theirs.table, atol=1e-7)
    # A comment after a row's values, which colour-science does not read, is ignored too.
    lines[-1] += "  # near white"
    trailing = tmp_path / "trailing.cube"
    trailing.write_bytes(eol.join(lines).encode() + eol.encode())
    np.testing.assert_allclose(read_cube(trailing).table, theirs.table, atol=1e-7)


def test_table_numpy_cannot_parse_is_explained(tmp_path):
    # Python's float() reads '1_0' and numpy does not: the message is numpy's, not a made-up line.
    p = _cube(tmp_path, "LUT_3D_SIZE 2\n" + "\n".join(_ROWS[:3] + ["1_0 1 0"] + _ROWS[4:]) + "\n")
    with pytest.raises(LutFormatError, match=r"bad\.cube: the table starting at line 2 does not parse: .*'1_0'"):
        read_cube(p)


_TABLE = "\n".join(_ROWS).encode() + b"\n"


@pytest.mark.parametrize("body, said", [
    (_TABLE + b"\0" * 65536, r"line 10: '(\\x00)+'\.\.\. \(65536 characters\) after the table"),  # a crash's padding
    (_TABLE.replace(b"0.9 0.8 0.7", b"0.5 " * 2000), r"line 9: expected 3 values \(R G B\), got 2000: '(0\.5 )+"
                                                     r"0?\.?5?'\.\.\. \(7999 characters\)$"),
])
def test_a_long_line_is_quoted_cut_short(tmp_path, body, said):
    # NUL bytes are UTF-8: a .cube whose tail a crash filled with them was quoted whole, a
    # message of a quarter of a megabyte on one line
    p = tmp_path / "long.cube"
    p.write_bytes(b"LUT_3D_SIZE 2\n" + body)
    with pytest.raises(LutFormatError, match=said) as err:
        read_cube(p)
    assert len(str(err.value).replace(str(p), "")) < 200


def test_a_long_header_line_is_quoted_cut_short(tmp_path):
    p = _cube(tmp_path, "LUT_3D_SIZE 2\nDOMAIN_MIN " + "0 " * 30000 + "\n" + "\n".join(_ROWS) + "\n")
    with pytest.raises(LutFormatError, match=r"line 2: DOMAIN_MIN needs three finite numbers, got '(0 )+0?'\.\.\. ") as err:
        read_cube(p)
    assert len(str(err.value).replace(str(p), "")) < 150


@pytest.mark.parametrize("values", ["nan 1", "0 inf", "-inf 1", "0 nan"])
def test_non_finite_input_range(tmp_path, values):
    p = _cube(tmp_path, f"LUT_3D_INPUT_RANGE {values}\nLUT_3D_SIZE 2\n" + "\n".join(_ROWS) + "\n")
    with pytest.raises(LutFormatError, match=rf"line 1: LUT_3D_INPUT_RANGE needs two finite numbers, got '{values}'"):
        read_cube(p)


def test_write_into_missing_folder(tmp_path):
    with pytest.raises(InputError, match="folder .*nope does not exist"):
        write_cube(LUT3D.identity(2), tmp_path / "nope" / "x.cube")


def test_write_under_a_file_names_the_file(tmp_path):
    (tmp_path / "f").write_text("x")
    for path in (tmp_path / "f" / "x.cube", tmp_path / "f" / "sub" / "x.cube"):
        with pytest.raises(InputError, match=rf"cannot write {path}: {tmp_path}/f is a file, not a folder$"):
            write_cube(LUT3D.identity(2), path)


def test_os_errors_while_writing_name_the_path_not_a_temporary_file(tmp_path):
    # A name too long for the file system fails as root too (where a read-only folder does not).
    path = tmp_path / ("a" * 300 + ".cube")
    with pytest.raises(InputError, match=r"could not write .*/a{300}\.cube: File name too long$"):
        write_cube(LUT3D.identity(2), path)
    assert list(tmp_path.iterdir()) == []


def test_write_into_a_read_only_folder(tmp_path):
    ro = read_only_folder(tmp_path)
    try:
        with pytest.raises(InputError, match=rf"could not write {ro}/x\.cube: Permission denied$"):
            write_cube(LUT3D.identity(2), ro / "x.cube")
    finally:
        ro.chmod(0o700)
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize(
    "rgb, message",
    [
        (np.array([[128, 0, 0]], np.uint8), r"got uint8; divide 8-bit values by 255"),  # was clipped to [1, 0, 0]
        (np.array([[1, 0, 0]]), r"got int64"),
        (np.array([[True, False, True]]), r"got bool$"),
        (np.zeros((2, 4), np.float32), r"got shape \(2, 4\)"),  # the 4th channel was dropped
        (np.zeros((4, 4, 1), np.float32), r"got shape \(4, 4, 1\)"),
        (np.float32(0.5), r"got shape \(\)"),
    ],
)
def test_apply_refuses_what_is_not_float_rgb(rgb, message):
    with pytest.raises(InputError, match=r"LUT input must be float RGB of shape \(\.\.\., 3\) in \[0, 1\], " + message):
        LUT3D.identity(3).apply(rgb)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_apply_refuses_non_finite_values(bad):
    # NaN reached the table as a huge negative index: a raw IndexError
    with pytest.raises(InputError, match=r"LUT input must be finite numbers, got NaN or infinite values"):
        LUT3D.identity(3).apply(np.array([[0.5, bad, 0.0]], np.float32))


def test_apply_takes_any_float_dtype_and_keeps_the_shape():
    lut = graded(5, (0.9, 0.7, 1.1), 0.8)
    x = np.random.default_rng(2).random((4, 5, 3))
    ref = lut.apply(x.astype(np.float32))
    assert ref.shape == (4, 5, 3) and ref.dtype == np.float32
    for dtype in (np.float16, np.float64):
        np.testing.assert_allclose(lut.apply(x.astype(dtype)), ref, atol=2e-3 if dtype == np.float16 else 1e-6)
    # values outside [0, 1] are clamped to the edge of the table
    np.testing.assert_allclose(lut.apply(np.array([[-0.5, 1.5, 2.0]])), lut.apply(np.array([[0.0, 1.0, 1.0]])))


def test_large_lut_reads_back(tmp_path):
    lut = graded(65, (0.9, 0.8, 1.0), 1.1)
    back = read_cube(write_cube(lut, tmp_path / "big.cube"))
    np.testing.assert_allclose(back.table, lut.table, atol=TOL_CUBE)


def test_a_table_is_parsed_as_it_is_read_not_held_as_text(tmp_path):
    # A 256^3 table as numpy's savetxt writes it is 1.3 GB of text; read whole, decoded and
    # copied into a StringIO it took 6.6 GB. Read as it is parsed, what stays is the rows.
    import tracemalloc

    size = 33
    axis = np.linspace(0.0, 1.0, size)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")  # red varies fastest in the file
    path = tmp_path / "savetxt.cube"
    with open(path, "w") as f:
        f.write(f"LUT_3D_SIZE {size}\n")
        np.savetxt(f, np.stack([r.ravel(), g.ravel(), b.ravel()], axis=-1))  # "%.18e": 77 bytes a row
    tracemalloc.start()
    try:
        lut = read_cube(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(lut.table, LUT3D.identity(size).table)
    assert peak < path.stat().st_size  # 1.7 MB for this 2.7 MB file; 14.5 MB when read whole


def test_a_written_table_is_its_rows_in_file_order_without_a_float64_copy_of_it(tmp_path):
    """write_cube formats a blue value's rows at a time: a 256^3 table written at once took
    a float64 copy of its rows (400 MB) besides the table. The text is that of every row in
    file order (red fastest, then green, then blue), formatted one by one."""
    import tracemalloc

    table = np.random.default_rng(7).random((65, 65, 65, 3)).astype(np.float32)
    lut = LUT3D(table, title="rows")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        write_cube(lut, tmp_path / "r.cube", decimals=5)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < table.nbytes, f"{peak / 1e6:.1f} MB to write a {table.nbytes / 1e6:.1f} MB table"
    rows = [f"{table[r, g, b, 0]:.5f} {table[r, g, b, 1]:.5f} {table[r, g, b, 2]:.5f}"
            for b in range(65) for g in range(65) for r in range(65)]  # fmt: skip
    assert (tmp_path / "r.cube").read_text() == 'TITLE "rows"\nLUT_3D_SIZE 65\n' + "\n".join(rows) + "\n"
