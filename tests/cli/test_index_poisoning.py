"""A client that may only add (no-delete) but holds the key writes index
segments and packs that lie about where chunks are: existing archives
still restore exactly, because reads check every chunk against its id and
look for another copy when the first one fails."""

import shutil

from hutch.compress import parse_spec
from hutch.crypto.objects import ObjectKind
from hutch.repo.index import write_segment
from hutch.repo.pack import PackBuilder

from ..conftest import open_repository, snapshot


def _forge(repo_path, victim: bytes) -> None:
    """A pack holding garbage sealed under the victim's id, and an index
    segment pointing there that sorts before every honest segment."""
    repo = open_repository(repo_path)
    cipher = repo.key.cipher()
    honest = min(i.name for i in repo.store.list("index"))
    builder = PackBuilder()
    builder.add(victim, cipher.seal(ObjectKind.CHUNK, victim, parse_spec("lz4").compress(b"evil")))
    entries = list(builder.entries)
    name, data = builder.finish(cipher)
    repo.store.put(f"packs/{name}", data)
    while True:
        forged = write_segment(repo.store, cipher, {name: entries})
        if forged < honest:
            return
        repo.store.delete(forged)


def test_lying_index_cannot_damage_existing_archives(hutch, repo, tmp_path, tree):
    hutch("create", f"{repo}::a", ".", cwd=tree, check=0)
    index = open_repository(repo).index
    victim = next(iter(index))
    _forge(repo, victim)
    shutil.rmtree(tmp_path / "cache")  # everyone rebuilds the index from the segments
    assert open_repository(repo).index.lookup(victim)[0] != index.lookup(victim)[0]
    out = tmp_path / "out"
    out.mkdir()
    r = hutch("extract", f"{repo}::a", cwd=out, check=0)
    assert "damaged" not in r.err
    assert snapshot(out) == snapshot(tree)
