"""End to end: hutch without root's powers. Root reads every file and may
chown, so these tests run hutch with every capability dropped (as root) or
as they are (as another user): unreadable files are reported and skipped,
a restore does what it can and says what it could not."""

import os
import stat

import pytest

from ..conftest import UNPRIVILEGED, assert_clean_error, snapshot


def test_unreadable_file_is_reported_and_skipped(hutch, repo, tmp_path):
    root = tmp_path / "tree"
    (root / "locked-dir").mkdir(parents=True)
    (root / "locked-dir" / "inside").write_bytes(b"hidden")
    (root / "a-before").write_bytes(b"before" * 1000)
    (root / "secret").write_bytes(b"secret data")
    os.link(root / "secret", root / "secret-link")
    (root / "z-after").write_bytes(os.urandom(100_000))
    os.chmod(root / "secret", 0)
    os.chmod(root / "locked-dir", 0)
    try:
        r = hutch("create", "--list", f"{repo}::a", ".", cwd=root, prefix=UNPRIVILEGED, check=1)
    finally:
        os.chmod(root / "locked-dir", 0o755)
    assert_clean_error(r, "secret", "locked-dir", "permission denied")
    paths = set(hutch("list", "--short", f"{repo}::a", check=0).out.split())
    assert {"a-before", "z-after", "locked-dir"} <= paths
    # Neither link of the unreadable file is stored (as a file of zeros, say).
    assert not {"secret", "secret-link", "locked-dir/inside"} & paths
    out = tmp_path / "out"
    out.mkdir()
    hutch("extract", f"{repo}::a", cwd=out, check=0)
    assert (out / "a-before").read_bytes() == b"before" * 1000
    assert (out / "z-after").read_bytes() == (root / "z-after").read_bytes()


def test_restore_without_root_does_what_it_can(hutch, repo, tmp_path, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    out = tmp_path / "out"
    out.mkdir()
    r = hutch("extract", f"{repo}::a", cwd=out, prefix=UNPRIVILEGED)
    assert_clean_error(r)
    expected = snapshot(tree)
    restored = snapshot(out)
    if os.geteuid() == 0:
        assert r.rc == 1, r.err
        assert "owner" in r.err  # the file owned by nobody
        for device in (b"chardev", b"blockdev"):  # mknod needs root
            assert os.fsdecode(device) in r.err
            assert device not in restored
            del expected[device]
    else:
        assert r.rc in (0, 1), r.err
    for entry in list(expected.values()) + list(restored.values()):
        entry.pop("uid")
        entry.pop("gid")
    # Modes lose set-id bits where the kernel refuses them to an ordinary user.
    for entry in list(expected.values()) + list(restored.values()):
        entry["mode"] &= ~(stat.S_ISUID | stat.S_ISGID)
    assert restored == expected


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file of another owner")
def test_restore_without_root_keeps_going_after_refused_files(hutch, repo, tmp_path):
    """Files refused by the target (an existing file we may not replace)
    leave every other file with its own content."""
    root = tmp_path / "tree"
    root.mkdir()
    names = [f"f{i}" for i in range(6)]
    for name in names:
        (root / name).write_bytes(name.encode() * 50_000)
    hutch("create", f"{repo}::a", ".", cwd=root, check=0)
    out = tmp_path / "out"
    (out / "f2").mkdir(parents=True)  # a folder in the way, with content
    (out / "f2" / "keep").write_bytes(b"keep")
    os.chown(out, 65534, 65534)  # the target belongs to someone else: no new files
    os.chmod(out, 0o755)
    r = hutch("extract", f"{repo}::a", cwd=out, prefix=UNPRIVILEGED, check=1)
    assert_clean_error(r, "f0", "permission denied")
    os.chown(out, 0, 0)
    os.chmod(out, 0o755)
    r = hutch("extract", f"{repo}::a", cwd=out, prefix=UNPRIVILEGED, check=1)
    assert_clean_error(r, "f2")
    for name in names:
        if name != "f2":
            assert (out / name).read_bytes() == name.encode() * 50_000, name
    assert (out / "f2" / "keep").read_bytes() == b"keep"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file of another owner")
def test_readable_files_of_other_users_are_backed_up(hutch, repo, tmp_path):
    """Reading without updating atimes needs ownership; without it, read anyway."""
    root = tmp_path / "tree"
    root.mkdir()
    (root / "theirs").write_bytes(b"readable by all")
    os.chown(root / "theirs", 65534, 65534)
    hutch("create", f"{repo}::a", ".", cwd=root, prefix=UNPRIVILEGED, check=0)
    r = hutch("extract", "--stdout", f"{repo}::a", "theirs", check=0)
    assert r.stdout_bytes == b"readable by all"
