"""Fixtures for the repository-layer tests."""

import itertools

import pytest

from hutch.cli.dirs import Dirs
from hutch.repo.repository import Repository
from hutch.store.local import LocalStore

from ..conftest import PASSPHRASE


@pytest.fixture
def make_repo(tmp_path):
    """make_repo(mode="repokey", cache=True): a new repository in a folder
    of its own, open; closed at the end of the test."""
    opened = []
    numbers = itertools.count()

    def make(mode: str = "repokey", cache: bool = True) -> Repository:
        dirs = Dirs.from_environment()
        repo = Repository.create(
            LocalStore(str(tmp_path / f"repo-{next(numbers)}")),
            mode,
            lambda: PASSPHRASE,
            dirs.keys,
            cache_dir=dirs.cache if cache else None,
            security_dir=dirs.security,
        )
        opened.append(repo)
        return repo

    yield make
    for repo in opened:
        repo.close()
