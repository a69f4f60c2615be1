"""Opening a repository: the config, the marker and (where the repository
keeps it) the key are read at once; every key mode still opens."""

import os

import pytest

from hutch.cli.dirs import Dirs
from hutch.errors import RepositoryNotFound
from hutch.repo.repository import Repository
from hutch.store.local import MARKER

from ..conftest import PASSPHRASE, OverlapProbe


def _reopen(repo: Repository, store) -> Repository:
    dirs = Dirs.from_environment()
    return Repository.open(store, lambda: PASSPHRASE, dirs.keys, security_dir=dirs.security)


@pytest.mark.parametrize("mode", ["repokey", "keyfile", "none"])
def test_config_marker_and_key_are_read_at_once(make_repo, mode):
    repo = make_repo(mode)
    probe = OverlapProbe(repo.store)
    opened = _reopen(repo, probe)
    assert opened.config.repo_id == repo.config.repo_id
    assert opened.key.mode == mode
    assert probe.most == 3  # config, marker, and the key's guessed place


def test_a_folder_without_the_marker_is_still_no_repository(make_repo):
    repo = make_repo()
    os.unlink(os.path.join(repo.store.root, MARKER))
    with pytest.raises(RepositoryNotFound, match="marker"):
        _reopen(repo, OverlapProbe(repo.store))
