"""End to end: export-tar read by GNU tar and bsdtar, import-tar of tars
written by hutch, GNU tar and bsdtar, and what bad input does."""

import io
import json
import os
import stat
import subprocess
import tarfile

import pytest

from ..conftest import snapshot

SUFFIX_MAGIC = {
    ".tar": None,
    ".tar.gz": b"\x1f\x8b",
    ".tgz": b"\x1f\x8b",
    ".tar.bz2": b"BZh",
    ".tar.xz": b"\xfd7zXZ\x00",
    ".tar.zst": b"\x28\xb5\x2f\xfd",
}


@pytest.fixture
def archive(hutch, repo, tree):
    """The repository holding archive `a` of `tree`."""
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    return repo


def _extract_with_hutch(hutch, repo, name, dest):
    dest.mkdir()
    hutch("extract", f"{repo}::{name}", cwd=dest, check=0)
    return dest


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        return [m.name for m in tar]


def _no_traceback(result):
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err


# -- export-tar ---------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["tar", "-xpf", "{tar}", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner"],
        ["bsdtar", "-xpf", "{tar}", "--numeric-owner"],
    ],
    ids=["gnu-tar", "bsdtar"],
)
def test_tar_tools_restore_the_exported_tree(hutch, archive, tree, tmp_path, command):
    out_tar = tmp_path / "out.tar"
    hutch("export-tar", f"{archive}::a", out_tar, check=0)
    dest = tmp_path / "dest"
    dest.mkdir()
    argv = [part.format(tar=out_tar) for part in command]
    subprocess.run(argv, cwd=dest, check=True, capture_output=True)
    # Everything tar keeps: content, mode, owner, mtime (ns), symlinks,
    # hardlinks, devices, xattrs and ACLs (listed as system.posix_acl_*).
    assert snapshot(dest) == snapshot(tree)
    assert os.getxattr(dest / "dir/sub", "system.posix_acl_default")


@pytest.mark.parametrize("suffix", sorted(SUFFIX_MAGIC))
def test_suffix_chooses_compression(hutch, archive, tmp_path, suffix):
    plain = tmp_path / "plain.tar"
    hutch("export-tar", f"{archive}::a", plain, check=0)
    path = tmp_path / f"out{suffix}"
    hutch("export-tar", f"{archive}::a", path, check=0)
    data = path.read_bytes()
    magic = SUFFIX_MAGIC[suffix]
    if magic is None:
        assert data[257:262] == b"ustar"
    else:
        assert data.startswith(magic)
    listing = subprocess.run(["bsdtar", "-tf", path], capture_output=True, check=True).stdout
    expected = subprocess.run(["bsdtar", "-tf", plain], capture_output=True, check=True).stdout
    assert listing == expected and b"dir/file.txt" in listing


def test_tar_filter_and_stdout(hutch, archive):
    result = hutch("export-tar", "--tar-filter=gzip -9", f"{archive}::a", "-", check=0)
    assert result.stdout_bytes.startswith(b"\x1f\x8b")
    names = _names(result.stdout_bytes)
    assert "dir/sub/random.bin" in names and "hardlink.txt" in names


def test_failing_tar_filter_is_an_error(hutch, archive, tmp_path):
    path = tmp_path / "out.tar"
    result = hutch("export-tar", "--tar-filter=exit 3", f"{archive}::a", path, check=2)
    assert "tar filter" in result.err
    assert not path.exists(), "a half-written export was left behind"


def test_paths_patterns_strip_components_and_list(hutch, archive, tmp_path):
    path = tmp_path / "part.tar"
    result = hutch(
        "export-tar",
        "--list",
        "--strip-components=1",
        "--exclude=*.sh",
        f"{archive}::a",
        path,
        "dir",
        check=0,
    )
    names = _names(path.read_bytes())
    assert sorted(names) == ["file.txt", "sub", "sub/random.bin"]
    assert "dir/file.txt" in result.err and "dir/script.sh" not in result.err


def test_hardlink_keeps_data_when_first_member_is_stripped(hutch, archive, tmp_path):
    # dir/file.txt holds the data in the archive; here hardlink.txt is exported alone.
    path = tmp_path / "one.tar"
    hutch("export-tar", f"{archive}::a", path, "hardlink.txt", check=0)
    with tarfile.open(path) as tar:
        member = tar.getmember("hardlink.txt")
        assert member.isreg()
        assert tar.extractfile(member).read() == b"hello world\n" * 1000


def test_gnu_format(hutch, archive, tree, tmp_path):
    path = tmp_path / "gnu.tar"
    hutch("export-tar", "--tar-format=gnu", f"{archive}::a", path, check=0)
    assert b"PaxHeaders" not in path.read_bytes()
    dest = tmp_path / "dest"
    dest.mkdir()
    subprocess.run(["tar", "-xpf", path], cwd=dest, check=True, capture_output=True)
    odd = b"odd \xff\xfe name\nwith newline"
    assert (dest / os.fsdecode(odd)).read_bytes() == b"odd"
    assert os.stat(dest / "dir/file.txt").st_mtime_ns == 1_500_000_000 * 10**9


def test_damaged_chunk_is_reported_and_zeroed(hutch, repo, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    big = os.urandom(4 * 1024 * 1024)
    (src / "big.bin").write_bytes(big)
    (src / "small.txt").write_bytes(b"small")
    hutch("create", f"{repo}::a", ".", cwd=src, check=0)
    packs = [os.path.join(d, f) for d, _, fs in os.walk(repo / "packs") for f in fs]
    pack = max(packs, key=os.path.getsize)
    with open(pack, "r+b") as f:
        f.seek(1024 * 1024)
        byte = f.read(1)
        f.seek(1024 * 1024)
        f.write(bytes([byte[0] ^ 0xFF]))
    path = tmp_path / "out.tar"
    result = hutch("export-tar", f"{repo}::a", path, check=2)
    assert "big.bin" in result.err and "damaged" in result.err
    with tarfile.open(path) as tar:  # still a well-formed tar
        exported = tar.extractfile("big.bin").read()
        assert tar.extractfile("small.txt").read() == b"small"
    assert len(exported) == len(big) and exported != big
    first = next(i for i in range(len(big)) if exported[i] != big[i])
    last = next(i for i in reversed(range(len(big))) if exported[i] != big[i])
    assert exported[first : last + 1] == bytes(last + 1 - first), "lost data is not zeros"


def test_export_errors_are_one_line(hutch, archive, tmp_path):
    missing = hutch("export-tar", f"{archive}::nope", tmp_path / "x.tar", check=2)
    _no_traceback(missing)
    assert not (tmp_path / "x.tar").exists()
    unwritable = hutch("export-tar", f"{archive}::a", tmp_path / "no/such/dir.tar", check=2)
    _no_traceback(unwritable)
    assert "cannot write" in unwritable.err


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device needs root")
def test_failed_export_leaves_a_device_alone(hutch, archive, tmp_path):
    device = tmp_path / "full"
    os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 7))  # like /dev/full
    _no_traceback(hutch("export-tar", f"{archive}::a", device, check=2))
    assert stat.S_ISCHR(os.lstat(device).st_mode), "a failed export removed a device"


# -- import-tar ---------------------------------------------------------


@pytest.mark.parametrize("suffix", [".tar", ".tar.xz", ".tar.zst"])
def test_import_of_export_gives_the_same_tree(hutch, archive, tree, tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    hutch("export-tar", f"{archive}::a", path, check=0)
    hutch("import-tar", f"{archive}::b", path, check=0)
    dest = _extract_with_hutch(hutch, archive, "b", tmp_path / "dest")
    assert snapshot(dest) == snapshot(tree)


def test_import_from_stdin_keeps_hardlinks(hutch, archive, tree, tmp_path):
    data = hutch("export-tar", f"{archive}::a", "-", check=0).stdout_bytes
    # Compressed, so detection has to work on a stream that cannot seek.
    gz = subprocess.run(["gzip"], input=data, capture_output=True, check=True).stdout
    hutch("import-tar", f"{archive}::b", "-", input=gz, check=0)
    dest = _extract_with_hutch(hutch, archive, "b", tmp_path / "dest")
    assert snapshot(dest) == snapshot(tree)
    assert os.stat(dest / "hardlink.txt").st_ino == os.stat(dest / "dir/file.txt").st_ino


def test_import_with_tar_filter(hutch, archive, tree, tmp_path):
    path = tmp_path / "out.tar.bz2"
    hutch("export-tar", f"{archive}::a", path, check=0)
    hutch("import-tar", "--tar-filter=bzip2 -d", f"{archive}::b", path, check=0)
    dest = _extract_with_hutch(hutch, archive, "b", tmp_path / "dest")
    assert snapshot(dest) == snapshot(tree)


@pytest.mark.parametrize(
    "command",
    [
        ["tar", "--format=posix", "--xattrs", "--xattrs-include=*", "--acls", "-cf"],
        ["bsdtar", "--format=pax", "-cf"],
    ],
    ids=["gnu-tar", "bsdtar"],
)
def test_import_of_tars_written_by_tar_tools(hutch, repo, tree, tmp_path, command):
    path = tmp_path / "tool.tar"
    subprocess.run([*command, path, "."], cwd=tree, check=True, capture_output=True)
    hutch("import-tar", f"{repo}::t", path, check=0)
    dest = _extract_with_hutch(hutch, repo, "t", tmp_path / "dest")
    assert snapshot(dest) == snapshot(tree)


def _tar_of(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_import_normalises_and_refuses_dotdot(hutch, repo, tmp_path):
    path = tmp_path / "evil.tar"
    path.write_bytes(
        _tar_of(
            [("/abs/file", b"1"), ("./rel/./file", b"2"), ("../evil", b"3"), ("a/../../x", b"4")]
        )
    )
    result = hutch("import-tar", f"{repo}::e", path, check=1)
    assert "../evil" in result.err and "a/../../x" in result.err
    dest = _extract_with_hutch(hutch, repo, "e", tmp_path / "dest")
    assert sorted(snapshot(dest)) == [b"abs", b"abs/file", b"rel", b"rel/file"]
    assert (dest / "abs/file").read_bytes() == b"1"


def test_import_options_json_comment_timestamp(hutch, repo, tmp_path):
    path = tmp_path / "small.tar"
    path.write_bytes(_tar_of([("f", b"x" * 1000), ("g", b"y")]))
    result = hutch(
        "import-tar",
        "--json",
        "--comment=from tar",
        "--timestamp=2020-01-02T03:04:05+00:00",
        "-C",
        "zstd,3",
        f"{repo}::j",
        path,
        check=0,
    )
    info = json.loads(result.out)["archive"]
    assert info["name"] == "j" and info["comment"] == "from tar"
    assert info["start"].startswith("2020-01-02T03:04:05")
    assert info["stats"]["nfiles"] == 2 and info["stats"]["original_size"] == 1001
    listed = hutch("import-tar", "--list", f"{repo}::k", path, check=0)
    assert "A f" in listed.err


def test_import_errors_are_one_line(hutch, archive, tmp_path):
    _no_traceback(hutch("import-tar", f"{archive}::x", tmp_path / "missing.tar", check=2))
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(os.urandom(20000))
    _no_traceback(hutch("import-tar", f"{archive}::x", garbage, check=2))
    _no_traceback(hutch("import-tar", f"{archive}::x", "-", input=os.urandom(3000), check=2))
    good = _tar_of([("f", os.urandom(100000)), ("g", b"g")])
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(good[:50000])
    _no_traceback(hutch("import-tar", f"{archive}::x", truncated, check=2))
    _no_traceback(hutch("import-tar", f"{archive}::x", "-", input=good[:50000], check=2))
    broken_gz = subprocess.run(["gzip"], input=good, capture_output=True, check=True).stdout
    for cut in (broken_gz[:-30], broken_gz[: len(broken_gz) // 2]):
        _no_traceback(hutch("import-tar", f"{archive}::x", "-", input=cut, check=2))
    exists = hutch("import-tar", f"{archive}::a", "-", input=good, check=2)
    assert "already exists" in exists.err
    assert "x" not in hutch("list", archive, check=0).out.split()


def test_import_refuses_garbage_after_the_first_member(hutch, repo, tmp_path):
    good = _tar_of([("f", b"f" * 600), ("g", b"g")])
    damaged = good[:1536] + b"\x01" * 512 + good[2048:]  # the second header
    result = hutch("import-tar", f"{repo}::d", "-", input=damaged, check=2)
    assert "damaged" in result.err
    assert "d" not in hutch("list", repo, check=0).out.split()
