"""The chunks of a backup in flight (read, not yet in a pack) stay within
the window, also while one file larger than the window is read."""

import io
import os

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
