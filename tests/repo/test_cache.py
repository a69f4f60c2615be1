"""Cache files as HashingWriter writes them and read_checked reads them back.
The sizes of the parts belong in the head (which the digest covers): the
bytes alone do not say where one part ends."""

import pytest

from hutch.repo.cache import CacheDir, HashingWriter, read_checked

HEAD = b"head"
PARTS = [b"a" * 10, b"", b"b" * (3 << 20)]


def _write(folder: CacheDir) -> None:
    def produce(f):
        out = HashingWriter(f)
        for piece in (HEAD, *PARTS):
            out.write(piece)
        out.finish()

    assert folder.write_with("x", produce)


def _read(folder: CacheDir, sizes: list[int]):
    with folder.open("x") as f:
        return read_checked(f, f.read(len(HEAD)), sizes)


def test_parts_read_back(tmp_path):
    folder = CacheDir(str(tmp_path))
    _write(folder)
    assert _read(folder, [len(p) for p in PARTS]) == PARTS


@pytest.mark.parametrize(
    "damage",
    ["flipped byte", "extra byte", "cut short", "huge size", "negative size"],
)
def test_anything_but_the_exact_file_is_none(tmp_path, damage):
    folder = CacheDir(str(tmp_path))
    _write(folder)
    path = tmp_path / "x"
    data = bytearray(path.read_bytes())
    sizes = [len(p) for p in PARTS]
    if damage == "flipped byte":
        data[len(HEAD) + 5] ^= 1
    elif damage == "extra byte":
        data += b"\0"
    elif damage == "cut short":
        del data[-1]
    elif damage == "huge size":
        sizes = [1 << 60, 0, 0]  # refused before any allocation
    else:
        sizes = [-5, 5 + sizes[0], sizes[2]]
    path.write_bytes(data)
    assert _read(folder, sizes) is None
