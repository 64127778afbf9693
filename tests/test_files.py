"""hairfx._files: outputs written whole, through a temporary file renamed into place, and
through a symbolic link to the file it points at, for every writer (images, masks, videos,
.cube LUTs)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pytest

from hairfx._files import output_file, replacing
from hairfx.errors import InputError
from hairfx.imagefiles import read_rgb, write_rgb
from hairfx.lut import LUT3D, read_cube, write_cube
from hairfx.video import VideoWriter, probe


def _image(path: Path) -> None:
    write_rgb(path, np.full((8, 8, 3), 90, np.uint8))


def _video(path: Path) -> None:
    with VideoWriter(path, width=16, height=16, fps=10) as w:
        for i in range(3):
            w.write(np.full((16, 16, 3), 40 * i, np.uint8))


def _cube(path: Path) -> None:
    write_cube(LUT3D.identity(3), path)


def _mask(path: Path) -> None:
    """``hairfx mask`` of a photo named after ``path``, into ``path``'s folder."""
    from hairfx.cli import main

    photos = path.parent.parent / "photos"
    photos.mkdir(exist_ok=True)
    write_rgb(photos / f"{path.stem}.jpg", np.tile(np.arange(64, dtype=np.uint8)[:, None, None] * 4, (1, 64, 3)))
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        if main(["mask", str(photos / f"{path.stem}.jpg"), "-o", str(path.parent)]) != 0:
            raise InputError(said.getvalue())  # what the command says, for the test to match


def _mask_shape(path: Path) -> tuple:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape


#: name -> (file name, write it, what reading it back gives)
WRITERS = {
    "image": ("photo.png", _image, lambda p: int(read_rgb(p)[0, 0, 0])),
    "video": ("clip.mp4", _video, lambda p: probe(p).frames),
    "cube": ("grade.cube", _cube, lambda p: read_cube(p).size),
    "mask": ("portrait.png", _mask, _mask_shape),
}
WRITTEN = {"image": 90, "video": 3, "cube": 3, "mask": (64, 64)}


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    """``out``, where the links are, and ``store``, where the files they point at are."""
    out, store = tmp_path / "out", tmp_path / "store"
    out.mkdir()
    store.mkdir()
    return out, store


@pytest.mark.parametrize("kind", WRITERS)
def test_an_output_that_is_a_link_is_written_through_to_the_file_it_points_at(folders, kind):
    """The link was replaced by a regular file: the file it pointed at kept the old content."""
    out, store = folders
    name, write, read = WRITERS[kind]
    write(store / name)  # an earlier output (a mask is replaced only by a mask)
    before = (store / name).stat().st_ino
    link = out / name
    link.symlink_to(Path("..") / "store" / name)  # relative, as `ln -s` makes them
    write(link)
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "store" / name)
    assert (store / name).stat().st_ino != before and read(store / name) == WRITTEN[kind]
    assert _names(out) == [name] and _names(store) == [name]  # no temporary file left on either side


@pytest.mark.parametrize("kind", WRITERS)
def test_a_link_to_a_file_not_yet_made_makes_it(folders, kind):
    """As a shell's > and open() do: the link may be made before what it points at."""
    out, store = folders
    name, write, read = WRITERS[kind]
    link = out / name
    link.symlink_to(store / name)
    write(link)
    assert link.is_symlink() and read(store / name) == WRITTEN[kind]
    assert _names(store) == [name]


@pytest.mark.parametrize("kind", WRITERS)
def test_a_link_into_a_missing_folder_or_a_loop_of_links_is_refused_by_name(folders, kind):
    out, store = folders
    name, write, _ = WRITERS[kind]
    link = out / name
    link.symlink_to(store / "gone" / name)
    with pytest.raises(InputError, match=rf"{name}: it is a symbolic link to .*gone.*, whose folder does not exist"):
        write(link)
    assert _names(out) == [name] and _names(store) == []
    link.unlink()
    link.symlink_to(out / f"other{Path(name).suffix}")
    (out / f"other{Path(name).suffix}").symlink_to(link)
    with pytest.raises(InputError, match=rf"{name}: it is a symbolic link in a loop of links"):
        write(link)


def test_the_temporary_file_sits_beside_the_file_a_link_points_at(folders):
    """Beside the link it could lie on another file system, where the rename is a copy."""
    out, store = folders
    (out / "last.pt").symlink_to(store / "last.pt")
    with replacing(out / "last.pt") as tmp:
        assert tmp.parent == store
        tmp.write_bytes(b"new")
    assert (store / "last.pt").read_bytes() == b"new" and (out / "last.pt").is_symlink()
    (out / "clip.mp4").symlink_to(store / "clip.mp4")
    w = VideoWriter(out / "clip.mp4", width=16, height=16, fps=10)
    try:
        assert w._tmp.parent == store
    finally:
        w.abort()


def test_output_file_refuses_a_link_into_a_missing_folder_before_the_work(folders):
    out, store = folders
    (out / "clip.mp4").symlink_to(store / "gone" / "clip.mp4")
    with pytest.raises(InputError, match="whose folder does not exist"):
        with output_file(out / "clip.mp4"):
            pytest.fail("the block ran")


@pytest.mark.parametrize("kind", WRITERS)
def test_a_name_as_long_as_the_folder_takes_is_written(tmp_path, kind):
    """The temporary file's name is the output's with some 25 bytes around it: for a name of
    more than about 230 bytes it passed the 255 a folder takes, and a name the folder takes
    was refused with "File name too long"."""
    name, write, read = WRITERS[kind]
    out = tmp_path / "out"
    out.mkdir()
    long = "\u00e9" * ((os.pathconf(out, "PC_NAME_MAX") - 8) // 2) + Path(name).suffix  # two bytes each
    write(out / long)
    assert read(out / long) == WRITTEN[kind]
    assert _names(out) == [long]  # no temporary file left


def test_copies_of_a_long_name_left_by_killed_writers_are_removed(tmp_path):
    """Their names hold only the start of the output's: such copies, as large as the file,
    were never found again."""
    import subprocess
    import sys

    from hairfx._files import _tmp_name

    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    long = "a" * (limit - 4) + ".png"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / _tmp_name(long, f".{dead.stdout.strip()}.0badc0de.tmp", limit)  # its writer has exited
    live = tmp_path / _tmp_name(long, f".{os.getppid()}.0badc0de.tmp", limit)  # a live process's copy in progress
    other = tmp_path / ".aaaa.png.1.0badc0de.tmp"  # of a file whose short name is the start of this one's
    for p in (orphan, live, other):
        p.write_bytes(b"half")
    assert long not in orphan.name and long not in live.name  # shortened
    _image(tmp_path / long)
    assert not orphan.exists() and live.exists() and other.exists()
