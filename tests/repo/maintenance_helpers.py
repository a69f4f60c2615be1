"""Helpers for the maintenance tests (compact, check) that work on
repositories in-process: make one, add archives of given files, read every
archive back."""

import io
import os
import stat

from hutch.archive.create import ArchiveCreator, CreateOptions
from hutch.archive.itemstream import iter_items
from hutch.archive.report import Reporter
from hutch.cli.dirs import Dirs
from hutch.compress import parse_spec
from hutch.crypto.objects import ObjectKind
from hutch.errors import IntegrityError
from hutch.repo.archives import ArchiveList
from hutch.repo.reader import ChunkReader
from hutch.repo.repository import Repository
from hutch.store.local import LocalStore

from ..conftest import PASSPHRASE, make_item


def open_repo(path, store=None, cache: bool = False) -> Repository:
    """The repository at `path` (through `store` if given); without the
    chunk index cache unless asked, so every open reads the store."""
    dirs = Dirs.from_environment()
    return Repository.open(
        store or LocalStore(os.fspath(path)),
        lambda: PASSPHRASE,
        dirs.keys,
        cache_dir=dirs.cache if cache else None,
        security_dir=dirs.security,
    )


def new_repo_path(path, mode: str = "repokey") -> str:
    """Create a repository at `path`; return the path."""
    dirs = Dirs.from_environment()
    repo = Repository.create(
        LocalStore(os.fspath(path)),
        mode,
        lambda: PASSPHRASE,
        dirs.keys,
        security_dir=dirs.security,
    )
    repo.close()
    return os.fspath(path)


def add_archive(path, name: str, files: dict[bytes, bytes], time: str | None = None) -> None:
    """An archive of regular files (path -> content), compression none."""
    repo = open_repo(path)
    options = CreateOptions(compression=parse_spec("none"), timestamp=time)
    creator = ArchiveCreator(repo, options, Reporter())

    def produce():
        for file_path, content in files.items():
            item = make_item(file_path, stat.S_IFREG | 0o644)
            creator.add_stream_item(item, io.BytesIO(content))

    try:
        creator.run(name, produce)
    finally:
        repo.close()


def read_archives(path, deleted: bool = False) -> dict[str, dict[bytes, bytes | None] | None]:
    """Every archive (or every soft-deleted one) -> its files; a file whose
    content cannot be read whole maps to None, so does an archive whose
    file list cannot be read."""
    repo = open_repo(path)
    reader = ChunkReader(repo)
    result = {}
    try:
        archives = ArchiveList(repo)
        entries = archives.list_deleted() if deleted else archives.list()
        for entry in entries:
            try:
                result[entry.name] = _read_files(reader, entry)
            except IntegrityError:
                result[entry.name] = None
    finally:
        reader.close()
        repo.close()
    return result


def _read_files(reader, entry) -> dict[bytes, bytes | None]:
    files = {}
    for item in iter_items(reader, entry):
        chunk_ids = [bytes(c) for c, _ in item.get("chunks", [])]
        parts = list(reader.iter_get(ObjectKind.CHUNK, chunk_ids))
        ok = not any(isinstance(p, Exception) for p in parts)
        files[item["path"]] = b"".join(parts) if ok else None
    return files


def pack_files(path) -> dict[str, int]:
    """Pack name -> size."""
    result = {}
    for folder, _, names in os.walk(os.path.join(path, "packs")):
        for name in names:
            if not name.startswith("."):
                result[name] = os.path.getsize(os.path.join(folder, name))
    return result


def data(seed: int, size: int = 200 * 1024) -> bytes:
    return os.urandom(size - 8) + seed.to_bytes(8, "big")
