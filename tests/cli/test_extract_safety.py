"""End to end: an archive whose paths try to escape the target folder
(written through the Python API, as a hostile or buggy client could) never
makes `hutch extract` write outside it, and the rest is restored intact."""

import os
import stat

from ..conftest import assert_clean_error, build_archive, make_item

REG = stat.S_IFREG | 0o644
DIR = stat.S_IFDIR | 0o777
LNK = stat.S_IFLNK | 0o777


def _everything_under(root) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def test_escaping_paths_are_refused_and_the_rest_restored(hutch, repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chmod(outside, 0o755)
    target = tmp_path / "target"
    target.mkdir()
    items = [
        (make_item(b"first.txt", REG), b"first"),
        (make_item(b"../evil-dotdot", REG), b"evil"),
        (make_item(b"a/../../evil-inner", REG), b"evil"),
        (make_item(os.fsencode(tmp_path / "evil-absolute"), REG), b"evil"),
        # A symlink, then a file "under" it.
        (make_item(b"link", LNK, target=os.fsencode(outside)), None),
        (make_item(b"link/evil-through-link", REG), b"evil" * 1000),
        # A folder replaced by a symlink, then a file under the folder's name.
        (make_item(b"d", DIR), None),
        (make_item(b"d", LNK, target=os.fsencode(outside)), None),
        (make_item(b"d/evil-through-replaced-dir", REG), b"evil"),
        # The same one level down, with the folder's metadata applied at the end.
        (make_item(b"x", DIR), None),
        (make_item(b"x/y", DIR), None),
        (make_item(b"x/y", LNK, target=os.fsencode(outside)), None),
        (make_item(b"x/y/evil-deeper", REG), b"evil"),
        (make_item(b"last.txt", REG), b"last" * 100),
    ]
    build_archive(repo, "hostile", items)
    r = hutch("extract", f"{repo}::hostile", cwd=target, check=2)
    assert_clean_error(r, "evil-dotdot", "evil-inner", "evil-absolute")
    assert os.listdir(outside) == []
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o755, "metadata went through a symlink"
    assert not [n for n in os.listdir(tmp_path) if n.startswith("evil")]
    assert not [p for p in _everything_under(target) if "evil" in p and "link" not in p]
    # What was safe is restored, each file with its own content.
    assert (target / "first.txt").read_bytes() == b"first"
    assert (target / "last.txt").read_bytes() == b"last" * 100
    assert os.readlink(target / "link") == str(outside)
    assert os.readlink(target / "d") == str(outside)


def test_symlink_in_the_target_folder_is_not_followed(hutch, repo, tmp_path):
    """A symlink already in the target, named like a folder of the archive."""
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "etc")
    build_archive(
        repo,
        "a",
        [
            (make_item(b"etc", DIR), None),
            (make_item(b"etc/passwd", REG), b"root::0:0::/:/bin/sh\n"),
        ],
    )
    hutch("extract", f"{repo}::a", cwd=target, check=0)
    assert os.listdir(outside) == []
    assert not os.path.islink(target / "etc")
    assert (target / "etc/passwd").read_bytes() == b"root::0:0::/:/bin/sh\n"
