"""The chunks of a backup in flight (read, not yet in a pack) stay within
the window, also while one file larger than the window is read; a large
file's next block is read ahead in a thread of its own."""

import io
import os
import threading

from hutch import chunker
from hutch.archive import create
from hutch.archive.create import ArchiveCreator, CreateOptions
from hutch.archive.report import Reporter
from hutch.chunker import ChunkerParams

from ..conftest import make_item, open_repository, run_hutch

CHUNKS = ChunkerParams("fixed", max_size=64 * 1024)


class InFlightProbe(Reporter):
    """Called after every chunk read: notes the bytes the creator holds."""

    def __init__(self):
        super().__init__()
        self.creator: ArchiveCreator | None = None
        self.peak = 0

    def progress(self, **counters) -> None:
        assert self.creator is not None
        self.peak = max(self.peak, self.creator._in_flight)


def test_a_file_larger_than_the_window_is_stored_as_it_is_read(repo, tmp_path, monkeypatch):
    window = 1024 * 1024
    monkeypatch.setattr(create, "WINDOW_BYTES", window)
    content = os.urandom(16 * window)
    probe = InFlightProbe()
    repository = open_repository(repo)
    try:
        creator = ArchiveCreator(repository, CreateOptions(chunker_params=CHUNKS), probe)
        probe.creator = creator
        item = make_item(b"big", 0o100644)
        creator.run("a", lambda: creator.add_stream_item(item, io.BytesIO(content)))
    finally:
        repository.close()
    assert 0 < probe.peak <= window + CHUNKS.max_size
    os.chdir(tmp_path)
    run_hutch("extract", f"{repo}::a", check=0)
    assert (tmp_path / "big").read_bytes() == content


class _ThreadNotingFile(io.BytesIO):
    """Notes the thread of every read."""

    def __init__(self, data):
        super().__init__(data)
        self.readers: set[str] = set()

    def readinto(self, view):
        self.readers.add(threading.current_thread().name)
        return super().readinto(view)


def _backup_big_file(repo, content: bytes, threads: int) -> tuple[list, set[str]]:
    params = ChunkerParams("fastcdc", 1 << 12, 1 << 16, 1 << 14)
    stream = _ThreadNotingFile(content)
    repository = open_repository(repo)
    try:
        options = CreateOptions(chunker_params=params, threads=threads)
        creator = ArchiveCreator(repository, options, Reporter())
        item = make_item(b"big", 0o100644)
        creator.run(f"t{threads}", lambda: creator.add_stream_item(item, stream))
    finally:
        repository.close()
    return item["chunks"], stream.readers


def test_a_large_file_is_read_ahead_in_a_thread_unless_one_thread_is_asked(
    repo, tmp_path, monkeypatch
):
    monkeypatch.setattr(chunker, "READ_SIZE", 100_000)
    content = os.urandom(3 * 1024 * 1024)
    ahead, ahead_readers = _backup_big_file(repo, content, threads=2)
    alone, alone_readers = _backup_big_file(repo, content, threads=1)
    assert ahead == alone and len(ahead) > 100
    assert ahead_readers == {"MainThread", "read-ahead_0"}
    assert alone_readers == {"MainThread"}
    os.chdir(tmp_path)
    run_hutch("extract", f"{repo}::t2", check=0)
    assert (tmp_path / "big").read_bytes() == content
