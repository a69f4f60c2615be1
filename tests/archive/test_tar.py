"""Unit tests of tar export and import: PAX times, ACL text, headers from
items, items from members, compression detection, damaged input."""

import io
import os
import stat
import subprocess
import tarfile

import pytest

from hutch.archive.tar_export import (
    TarFileError,
    acl_from_text,
    acl_to_text,
    format_pax_time,
    open_output,
    parse_pax_time,
    tar_info,
)
from hutch.archive.tar_import import (
    archive_path,
    detect_compression,
    iter_members,
    member_item,
    open_input,
    scan_link_targets,
)

ODD = b"odd \xff\xfe name\nwith newline"


def _pax_bytes(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    return header + data + bytes(-len(data) % 512) + bytes(1024)


def _read_back(blob: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(blob), encoding="utf-8", errors="surrogateescape") as t:
        return t.getmembers()


def _item(mode: int, **extra) -> dict:
    item = {"path": b"p", "mode": mode, "uid": 1000, "gid": 100, "user": "u", "group": "g"}
    item["mtime"] = 1_500_000_000_987_654_321
    item.update(extra)
    return item


# -- PAX times ----------------------------------------------------------


@pytest.mark.parametrize(
    "ns, text",
    [
        (1_500_000_000_987_654_321, "1500000000.987654321"),
        (1_500_000_000_000_000_000, "1500000000"),
        (5, "0.000000005"),
        (-1_500_000_000, "-1.500000000"),
        (0, "0"),
    ],
)
def test_pax_time_is_exact_both_ways(ns, text):
    assert format_pax_time(ns) == text
    assert parse_pax_time(text) == ns


def test_pax_time_parses_what_other_tars_write():
    assert parse_pax_time("1500000000.5") == 1_500_000_000_500_000_000
    assert parse_pax_time("12.1234567891234") == 12_123_456_789  # beyond ns: cut
    assert parse_pax_time(".5") == 500_000_000


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "1e9", "-", "١٢"])
def test_pax_time_refuses_garbage(text):
    with pytest.raises(ValueError):
        parse_pax_time(text)


# -- ACLs ---------------------------------------------------------------


def test_acl_text_round_trip_of_a_real_acl(tmp_path):
    path = tmp_path / "f"
    path.touch()
    subprocess.run(["setfacl", "-m", "u:65534:r,g:65534:rw", path], check=True)
    blob = os.getxattr(path, "system.posix_acl_access")
    text = acl_to_text(blob)
    assert text == "user::rw-,user:65534:r--,group::r--,group:65534:rw-,mask::rw-,other::r--"
    assert acl_from_text(text) == blob


def test_acl_from_text_reads_star_names_and_any_order(tmp_path):
    path = tmp_path / "f"
    path.touch()
    subprocess.run(["setfacl", "-m", "u:65534:r", path], check=True)
    blob = os.getxattr(path, "system.posix_acl_access")
    # bsdtar writes a fourth field with the id; names resolve locally.
    star = "other::r--\nuser:somebody:r--:65534\n#comment\nuser::rw-,g::r--,m::r--"
    assert acl_from_text(star) == blob
    assert acl_from_text("user::rw-,user:nobody:r--,group::r--,mask::r--,other::r--") == blob


@pytest.mark.parametrize(
    "text", ["", "user::rwz", "bogus::rw-", "user:no-such-user-here:r--", "user:rw-"]
)
def test_acl_from_text_refuses_garbage(text):
    with pytest.raises(ValueError):
        acl_from_text(text)


def test_acl_to_text_refuses_garbage():
    with pytest.raises(ValueError):
        acl_to_text(b"\x02\x00\x00\x00\x01")
    with pytest.raises(ValueError):
        acl_to_text(b"\x01\x00\x00\x00")


# -- items -> headers ---------------------------------------------------


def test_regular_file_header_keeps_everything():
    item = _item(
        stat.S_IFREG | 0o4755,
        size=3,
        atime=7,
        xattrs={b"user.bin": b"\x00\xff value"},
        acl_access=acl_from_text("user::rw-,user:65534:r--,group::r--,mask::r--,other::r--"),
    )
    (member,) = _read_back(_pax_bytes(tar_info(item, ODD), b"abc"))
    assert member.isreg() and member.size == 3 and member.mode == 0o4755
    assert member.name.encode("utf-8", "surrogateescape") == ODD
    assert (member.uid, member.gid, member.uname, member.gname) == (1000, 100, "u", "g")
    pax = member.pax_headers
    assert pax["mtime"] == "1500000000.987654321" and pax["atime"] == "0.000000007"
    assert pax["SCHILY.xattr.user.bin"].encode("utf-8", "surrogateescape") == b"\x00\xff value"
    assert pax["SCHILY.acl.access"] == acl_to_text(item["acl_access"])


def test_other_types_become_their_tar_types():
    rdev = os.makedev(259, 300)  # beyond 8-bit minor numbers
    cases = [
        (_item(stat.S_IFDIR | 0o755), tarfile.DIRTYPE),
        (_item(stat.S_IFLNK | 0o777, target=b"../t\xff"), tarfile.SYMTYPE),
        (_item(stat.S_IFIFO | 0o600), tarfile.FIFOTYPE),
        (_item(stat.S_IFCHR | 0o600, rdev=rdev), tarfile.CHRTYPE),
        (_item(stat.S_IFBLK | 0o600, rdev=rdev), tarfile.BLKTYPE),
    ]
    for item, tar_type in cases:
        (member,) = _read_back(_pax_bytes(tar_info(item, b"n")))
        assert member.type == tar_type
        if tar_type == tarfile.SYMTYPE:
            assert member.linkname.encode("utf-8", "surrogateescape") == b"../t\xff"
        if tar_type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            assert (member.devmajor, member.devminor) == (259, 300)


def test_hardlink_header_points_to_the_first_member():
    info = tar_info(_item(stat.S_IFREG | 0o644, size=12), b"second", link_to=b"first")
    assert info.type == tarfile.LNKTYPE and info.linkname == "first" and info.size == 0


def test_tar_cannot_hold_a_socket_or_a_non_utf8_xattr_name():
    with pytest.raises(ValueError):
        tar_info(_item(stat.S_IFSOCK | 0o600), b"s")
    with pytest.raises(ValueError):
        tar_info(_item(stat.S_IFREG, size=0, xattrs={b"user.\xff": b"v"}), b"f")


# -- members -> items ---------------------------------------------------


@pytest.mark.parametrize(
    "name, path",
    [
        ("/abs/x", b"abs/x"),
        ("./a/./b/", b"a/b"),
        ("//a//b", b"a/b"),
        ("./", b""),
        ("../x", None),
        ("a/../../x", None),
        ("a/..", None),
        ("odd \udcff", b"odd \xff"),
    ],
)
def test_archive_path(name, path):
    assert archive_path(name) == path


def test_member_item_takes_pax_metadata():
    info = tarfile.TarInfo("x")
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o2750, 5, 6, "", "grp"
    info.mtime = 1
    info.pax_headers = {
        "mtime": "1500000000.987654321",
        "ctime": "3.5",
        "SCHILY.xattr.user.a": "\udcff\x00v",
        "SCHILY.xattr.system.posix_acl_default": "\x02\x00\x00\x00",
        "SCHILY.acl.access": "user::rw-,group::r--,other::r--",
    }
    warnings = []
    item = member_item(info, b"x", warnings.append)
    assert item["mode"] == stat.S_IFREG | 0o2750
    assert (item["uid"], item["gid"], item["user"], item["group"]) == (5, 6, None, "grp")
    assert item["mtime"] == 1_500_000_000_987_654_321 and item["ctime"] == 3_500_000_000
    assert "atime" not in item
    assert item["xattrs"] == {b"user.a": b"\xff\x00v"}
    assert item["acl_default"] == b"\x02\x00\x00\x00"
    assert acl_to_text(item["acl_access"]) == "user::rw-,group::r--,other::r--"
    assert not warnings


def test_member_item_types_and_bad_acl():
    dev = tarfile.TarInfo("d")
    dev.type, dev.devmajor, dev.devminor = tarfile.BLKTYPE, 8, 1
    link = tarfile.TarInfo("l")
    link.type, link.linkname = tarfile.SYMTYPE, "t\udcfe"
    link.pax_headers = {"SCHILY.acl.access": "garbage"}
    warnings = []
    assert member_item(dev, b"d", warnings.append)["rdev"] == os.makedev(8, 1)
    assert member_item(link, b"l", warnings.append)["target"] == b"t\xfe"
    assert len(warnings) == 1 and "ACL" in warnings[0]
    volume = tarfile.TarInfo("v")
    volume.type = b"V"  # a GNU volume label
    with pytest.raises(ValueError):
        member_item(volume, b"v", warnings.append)


# -- streams ------------------------------------------------------------


def _small_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("BZh91AY&SY", b"x" * 700), ("b", b"y")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("c")
        link.type, link.linkname = tarfile.LNKTYPE, "./b"
        tar.addfile(link)
    return buf.getvalue()


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"])
def test_what_open_output_compresses_open_input_reads(tmp_path, suffix):
    data = _small_tar()
    path = str(tmp_path / f"t{suffix}")
    with open_output(path, None, None) as out:
        out.write(data)
    with open(path, "rb") as f:
        head = f.read(512)
    assert (
        detect_compression(head)
        == {
            ".tar": None,
            ".tar.gz": "gzip",
            ".tar.bz2": "bzip2",
            ".tar.xz": "xz",
            ".tar.zst": "zstd",
        }[suffix]
    )
    with open_input(path, None, None) as stream:
        assert stream.read() == data
    with open(path, "rb") as f, open_input("-", None, f) as stream:
        assert scan_link_targets(stream, "stdin") == {b"b"}


def test_filters_both_ways(tmp_path):
    data = _small_tar()
    path = str(tmp_path / "t.tar")  # the filter, not the suffix, decides
    with open_output(path, "gzip -1", None) as out:
        out.write(data)
    assert open(path, "rb").read(2) == b"\x1f\x8b"
    with open_input(path, "gzip -d", None) as stream:
        assert [m.name for _, m in iter_members(stream, path)] == ["BZh91AY&SY", "b", "c"]
    with pytest.raises(TarFileError, match="exit code 1"):
        with open_input(path, "false", None) as stream:
            list(iter_members(stream, path))


def _members(blob: bytes, warn=None) -> list[str]:
    return [m.name for _, m in iter_members(io.BytesIO(blob), "t", warn)]


def test_iter_members_refuses_damage_that_tarfile_takes_for_the_end():
    blob = _small_tar()
    assert _members(blob) == ["BZh91AY&SY", "b", "c"]
    garbled = blob[:1536] + b"\x01" * 512 + blob[2048:]  # garbage where b's header is
    # What this guards against: tarfile alone stops there without a word.
    assert len(tarfile.open(fileobj=io.BytesIO(garbled)).getmembers()) == 1
    for damaged in (
        garbled,
        blob[:1536] + blob[1536:1700],  # cut inside b's header
        blob[:1000],  # cut inside the first file's data
    ):
        with pytest.raises(TarFileError):
            _members(damaged)


def test_iter_members_warns_about_a_missing_end_marker():
    blob = _small_tar()
    end = _read_back(blob)[-1].offset_data  # right after the last header
    warnings = []
    assert _members(blob[:end], warnings.append) == ["BZh91AY&SY", "b", "c"]
    assert len(warnings) == 1 and "truncated" in warnings[0]


@pytest.mark.parametrize("blob", [b"", os.urandom(4096), b"\x1f\x8b\x08garbage" * 100])
def test_iter_members_refuses_what_is_no_tar(blob):
    with pytest.raises(TarFileError):
        with open_input("-", None, io.BytesIO(blob)) as stream:
            list(iter_members(stream, "t"))
