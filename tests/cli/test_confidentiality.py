"""End to end: nothing of what is backed up appears in clear in an
encrypted repository, nor are names kept in clear in the local caches."""

import os

import pytest

MARKER = "Zebra7Quokka"


def _all_files(*roots):
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                yield os.path.join(folder, name)


def _leaks(roots, needles: list[bytes]) -> list[str]:
    found = []
    for path in _all_files(*roots):
        with open(path, "rb") as f:
            data = f.read()
        for needle in needles:
            if needle in data or needle in os.fsencode(path):
                found.append(f"{needle!r} in {path}")
    return found


@pytest.mark.parametrize("mode", ["repokey", "keyfile-chacha20-poly1305"])
def test_marker_never_in_clear(hutch, tmp_path, mode):
    repo = tmp_path / "repo"
    hutch("init", "-e", mode, repo, check=0)
    tree = tmp_path / f"tree-{MARKER}"
    (tree / f"dir-{MARKER}").mkdir(parents=True)
    text = (f"line with {MARKER} in it\n" * 2000).encode()
    (tree / f"dir-{MARKER}" / f"file-{MARKER}.txt").write_bytes(text)
    (tree / "small").write_bytes(MARKER.encode())
    # Incompressible data around the marker, so it is not only found compressed away.
    (tree / "mixed").write_bytes(os.urandom(5000) + MARKER.encode() + os.urandom(5000))
    os.symlink(f"target-{MARKER}", tree / f"link-{MARKER}")
    os.setxattr(tree / "small", f"user.{MARKER}", MARKER.encode())
    for compression in ("lz4", "none"):
        hutch(
            "create",
            "-C",
            compression,
            "--comment",
            f"comment {MARKER}",
            f"{repo}::archive-{MARKER}-{compression}",
            tree,
            check=0,
        )
    hutch("create", "--stdin-name", f"stdin-{MARKER}", f"{repo}::s-{MARKER}", "-", input=text)
    hutch("rename", f"{repo}::s-{MARKER}", f"renamed-{MARKER}", check=0)
    hutch("delete", f"{repo}::renamed-{MARKER}", check=0)
    listing = hutch("list", "--short", f"{repo}::archive-{MARKER}-none", check=0).out
    assert f"dir-{MARKER}/file-{MARKER}.txt" in listing  # the marker is really in there
    needles = [MARKER.encode(), MARKER.encode("utf-16-le"), MARKER.lower().encode()]
    assert _leaks([repo], needles) == []
    cache = os.environ["HUTCH_CACHE_DIR"]
    assert any(n.startswith("files-") for _, _, ns in os.walk(cache) for n in ns)
    assert any(n == "chunks" for _, _, ns in os.walk(cache) for n in ns)
    # The caches may hold ids, never names or contents.
    assert _leaks([cache, os.environ["HUTCH_CONFIG_DIR"]], needles) == []
