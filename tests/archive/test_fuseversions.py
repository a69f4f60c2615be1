"""The versions view of a mount, without FUSE: names and numbering."""

import stat

from hutch.archive.fuseversions import versioned_items, versioned_name


def test_versioned_names_keep_the_extension_last():
    assert versioned_name(b"report.txt", 3) == b"report.00003.txt"
    assert versioned_name(b"archive.tar.gz", 1) == b"archive.tar.00001.gz"
    assert versioned_name(b"Makefile", 12) == b"Makefile.00012"
    assert versioned_name(b".bashrc", 1) == b".bashrc.00001"


def _file(path: bytes, *chunks: bytes, **extra) -> dict:
    return {"path": path, "mode": stat.S_IFREG | 0o644, "chunks": [[c, 1] for c in chunks], **extra}


def test_a_version_is_a_distinct_content_and_hardlinks_keep_theirs():
    folder = {"path": b"d", "mode": stat.S_IFDIR | 0o755}
    link = {"path": b"d/h2", "mode": stat.S_IFREG | 0o644, "hlid": b"g"}  # no chunk list
    archives = [
        ("one", [folder, _file(b"d/f", b"A")]),
        ("two", [folder, _file(b"d/f", b"A"), _file(b"d/h1", b"H", hlid=b"g"), link]),
        ("three", [folder, _file(b"d/f", b"B")]),
        ("four", [folder, _file(b"d/f", b"A")]),  # back to an earlier content: no new version
    ]
    got = [(i["path"], i.get("chunks"), "hlid" in i) for i in versioned_items(archives)]
    assert [g for g in got if g[0] != b"d"] == [
        (b"d/f/f.00001", [[b"A", 1]], False),
        (b"d/h1/h1.00001", [[b"H", 1]], False),
        (b"d/h2/h2.00001", [[b"H", 1]], False),
        (b"d/f/f.00002", [[b"B", 1]], False),
    ]
