"""End to end: file flags set with chattr (immutable, append-only, no-dump,
no-atime, ...) survive a backup and a restore, checked with lsattr; an
immutable file and folder are restored whole (content, times, hardlinks)
before they become immutable; --exclude-nodump leaves out what +d marks."""

import os
import subprocess

import pytest

from ..conftest import UNPRIVILEGED, assert_clean_error, snapshot

FLAGS = {"immutable": "i", "append": "a", "nodump": "d", "noatime": "A", "sync": "S"}


def _chattr(*args) -> None:
    subprocess.run(["chattr", *args], check=True, capture_output=True)


def _lsattr(path) -> set[str]:
    """The flags of `path` that hutch keeps, as lsattr shows them."""
    out = subprocess.run(["lsattr", "-d", path], check=True, capture_output=True, text=True)
    return set(out.stdout.split()[0]) & set("acdiAS D")


def _unfreeze(*roots) -> None:
    for root in roots:
        if os.path.exists(root):
            subprocess.run(["chattr", "-R", "-i", "-a", root], capture_output=True)


@pytest.fixture
def flagged(tmp_path):
    """A tree with every kept flag, on a file system that has flags."""
    root = tmp_path / "flagged"
    root.mkdir()
    probe = root / "probe"
    probe.write_text("x")
    if subprocess.run(["chattr", "+i", probe], capture_output=True).returncode != 0:
        pytest.skip("no chattr +i here (needs root and a file system with flags, e.g. ext4)")
    _chattr("-i", probe)
    probe.unlink()
    for name in FLAGS:
        (root / name).write_bytes(f"{name}\n".encode() * 100)
        os.utime(root / name, ns=(1_500_000_000_000_000_000, 1_600_000_000_000_000_000))
    (root / "sealed").mkdir()
    (root / "sealed" / "inside").write_text("in an immutable folder")
    os.link(root / "immutable", root / "immutable-link")
    (root / "skipped").mkdir()
    (root / "skipped" / "below").write_text("in a no-dump folder")
    for name, letter in FLAGS.items():
        _chattr(f"+{letter}", root / name)
    _chattr("+d", root / "skipped")
    _chattr("+iA", root / "sealed")
    yield root
    _unfreeze(tmp_path)


def test_flags_survive_backup_and_restore(hutch, repo, flagged, tmp_path):
    expected = snapshot(flagged)
    hutch("create", f"{repo}::a", ".", cwd=flagged, check=0)
    out = tmp_path / "out"
    out.mkdir()
    try:
        hutch("extract", f"{repo}::a", cwd=out, check=0)
        for name, letter in FLAGS.items():
            assert _lsattr(out / name) == {letter}, name
        assert _lsattr(out / "immutable-link") == {"i"}
        assert _lsattr(out / "sealed") == {"i", "A"}
        assert _lsattr(out / "skipped") == {"d"}
        assert _lsattr(out / "sealed" / "inside") == set()
        # Content, times and the hardlink went in before the flags.
        assert snapshot(out) == expected
    finally:
        _unfreeze(out)


def test_exclude_nodump(hutch, repo, flagged):
    r = hutch("create", "--list", "--exclude-nodump", f"{repo}::a", ".", cwd=flagged, check=0)
    assert "x nodump" in r.err and "x skipped" in r.err
    names = hutch("list", "--short", f"{repo}::a", check=0).out.split()
    assert "nodump" not in names and "skipped" not in names and "skipped/below" not in names
    assert "immutable" in names and "sealed/inside" in names


def test_flags_that_cannot_be_restored_are_named(hutch, repo, flagged, tmp_path):
    """Without root's powers immutable and append-only cannot be set: the
    restore finishes, names each such file and exits with 1."""
    hutch("create", f"{repo}::a", "immutable", "append", "nodump", cwd=flagged, check=0)
    out = tmp_path / "out-user"
    out.mkdir()
    r = hutch("extract", f"{repo}::a", cwd=out, prefix=UNPRIVILEGED, check=1)
    assert_clean_error(r, "immutable: cannot restore file flags +i", "append: cannot restore")
    assert (out / "immutable").read_bytes() == (flagged / "immutable").read_bytes()
    assert _lsattr(out / "nodump") == {"d"}  # the owner may set that one
