"""A backup's start: the chunk index loads while the archive list is read
(through a server their round trips overlap), and a failure to load it is
still the backup's error."""

import io

import pytest

from hutch.archive.create import ArchiveCreator, CreateOptions
from hutch.archive.report import Reporter
from hutch.errors import HutchError
from hutch.repo.archives import ArchiveList
from hutch.store.faults import FaultRule, FaultStore

from ..conftest import OverlapProbe, make_item, open_repository


def _back_up(repository, name: str) -> None:
    creator = ArchiveCreator(repository, CreateOptions(), Reporter())
    item = make_item(b"file", 0o100644)
    creator.run(name, lambda: creator.add_stream_item(item, io.BytesIO(b"content")))


def test_the_index_and_the_archive_list_are_listed_at_once(repo):
    repository = open_repository(repo)
    try:
        probe = repository.store = OverlapProbe(repository.store)
        _back_up(repository, "a")
    finally:
        repository.close()
    assert probe.most >= 3  # archives, index segments and packs at once


def test_an_index_that_cannot_be_listed_stops_the_backup_with_that_error(repo):
    repository = open_repository(repo)
    try:
        _back_up(repository, "first")
    finally:
        repository.close()
    repository = open_repository(repo)  # its index is not loaded yet
    try:
        repository.store = FaultStore(repository.store, [FaultRule("list", "packs", times=0)])
        with pytest.raises(HutchError, match="injected fault: list packs"):
            _back_up(repository, "second")
    finally:
        repository.close()
    repository = open_repository(repo)
    try:
        assert [e.name for e in ArchiveList(repository).list()] == ["first"]
    finally:
        repository.close()
