"""The key salts remembered per location, for deriving while connecting."""

import os

from hutch.repo import kdfhints
from hutch.repo.cache import CacheDir

KDF = (b"s" * 32, {"iterations": 3, "lanes": 4, "memory_cost": 65536})


def test_a_hint_is_remembered_per_location(tmp_path):
    hints = CacheDir(str(tmp_path / "hints"))
    assert kdfhints.remembered(hints, "ssh://host/repo") is None
    kdfhints.remember(hints, "ssh://host/repo", KDF)
    assert kdfhints.remembered(hints, "ssh://host/repo") == KDF
    assert kdfhints.remembered(hints, "ssh://host/other") is None


def test_the_same_hint_is_not_written_again(tmp_path):
    hints = CacheDir(str(tmp_path / "hints"))
    kdfhints.remember(hints, "/repo", KDF)
    (name,) = os.listdir(hints.folder)
    before = os.stat(os.path.join(hints.folder, name))
    kdfhints.remember(hints, "/repo", KDF)
    assert os.stat(os.path.join(hints.folder, name)).st_ino == before.st_ino
    changed = (b"t" * 32, KDF[1])
    kdfhints.remember(hints, "/repo", changed)
    assert kdfhints.remembered(hints, "/repo") == changed


def test_a_damaged_hint_is_ignored(tmp_path):
    hints = CacheDir(str(tmp_path / "hints"))
    kdfhints.remember(hints, "/repo", KDF)
    (name,) = os.listdir(hints.folder)
    for junk in (b"", b"\xc1", b"\x93\x01\x02\x03", b"\x81\xa4salt\x01"):
        (tmp_path / "hints" / name).write_bytes(junk)
        assert kdfhints.remembered(hints, "/repo") is None
