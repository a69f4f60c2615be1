"""The walk's helper process (archive/prescan.py): a backup with it stores
the items and chunks a backup without it stores, first or again, and a
helper that dies, hangs or answers nonsense costs nothing but its help."""

import os
import stat
import time

import pytest

from hutch.archive import prescan
from hutch.archive.create import ArchiveCreator, CreateOptions
from hutch.archive.itemstream import iter_items
from hutch.archive.patterns import PatternMatcher
from hutch.archive.prescan import PrescanHelper
from hutch.archive.report import Reporter
from hutch.repo.reader import ChunkReader

from ..conftest import faketime, open_repository, run_hutch, snapshot

FILES = 150  # per folder: more than PRESCAN_FROM, several batches


def _make_tree(root) -> None:
    """Folders of small files with subfolders among them, a symlink, a
    hardlinked pair, a file with an xattr, an empty file."""
    for folder in ("a", "a/m", "b"):
        os.makedirs(root / folder)
        for i in range(FILES):
            (root / folder / f"f{i:03d}").write_bytes(b"%s %d\n" % (folder.encode(), i) * (i % 7))
    os.makedirs(root / "a" / "f070-folder")
    (root / "a" / "f070-folder" / "inner").write_bytes(b"inner")
    os.symlink("f001", root / "a" / "f100-link")
    os.link(root / "b" / "f005", root / "b" / "f005-hardlink")
    os.setxattr(root / "b" / "f010", "user.note", b"kept")


def _change_tree(root) -> None:
    (root / "a" / "f003").write_bytes(b"changed")
    (root / "b" / "f140").write_bytes(b"changed too, and longer than before")
    (root / "a" / "m" / "f000").unlink()
    (root / "b" / "f149-new").write_bytes(b"new")
    os.setxattr(root / "a" / "f120", "user.note", b"added")


class Backup:
    """One backup of `data` through the Python API; counts the files the
    helper recognised and what the helper had open meanwhile."""

    def __init__(self, repo, name: str, threads: int, helpers=(), **options):
        self.recognised = 0
        self.read = 0  # of those recognised: files the helper read
        self.helper_fds: list[int] = []
        repository = open_repository(repo)
        try:
            options = CreateOptions(threads=threads, **options)
            creator = ArchiveCreator(repository, options, Reporter())
            # Files made a moment ago count as settled for the files cache.
            creator.start_ns = time.time_ns() + 10_000_000_000
            take = creator.add_recognised

            def counted(paths, statuses, *rest):
                self.recognised += len(paths)
                self.read += len(statuses) - statuses.count("U")
                self.helper_fds = _open_fds(helpers[-1].pid)
                take(paths, statuses, *rest)

            creator.add_recognised = counted  # type: ignore[method-assign]
            self.entry = creator.backup_paths(name, [b"data"], PatternMatcher())
            self.items = list(iter_items(ChunkReader(repository), self.entry))
        finally:
            repository.close()


def _comparable(items: list[dict]) -> list[dict]:
    """Items with each hardlink group's id (random, new in every backup)
    replaced by its first path."""
    first: dict[bytes, bytes] = {}
    for item in items:
        if "hlid" in item:
            item["hlid"] = first.setdefault(item["hlid"], item["path"])
    return items


def _open_fds(pid: int) -> list[int]:
    return sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture
def helpers(monkeypatch) -> list[PrescanHelper]:
    """The helpers the backups of a test start, as they start."""
    started: list[PrescanHelper] = []
    real_init = PrescanHelper.__init__

    def noting(self, recognise):
        real_init(self, recognise)
        started.append(self)

    monkeypatch.setattr(PrescanHelper, "__init__", noting)
    return started


@pytest.fixture
def changed(repo, tmp_path, monkeypatch, helpers):
    """A tree backed up (no helper), then changed."""
    monkeypatch.chdir(tmp_path)
    _make_tree(tmp_path / "data")
    Backup(repo, "first", threads=1)
    _change_tree(tmp_path / "data")
    # Listing a changed folder sets its atime: list them once more before
    # the backups compared, then change contents only.
    Backup(repo, "settled", threads=1)
    for path in ("a/f004", "a/m/f005", "b/f141"):
        (tmp_path / "data" / path).write_bytes(b"changed after the folders settled")
    return helpers


def test_with_the_helper_the_items_are_the_same(repo, tmp_path, changed):
    with_helper = Backup(repo, "with", threads=2, helpers=changed)
    without = Backup(repo, "without", threads=1)
    assert with_helper.recognised > FILES  # the helper took its share
    assert without.recognised == 0
    assert _comparable(with_helper.items) == _comparable(without.items)
    assert with_helper.entry.refs == without.entry.refs
    assert with_helper.entry.stats["nfiles"] == without.entry.stats["nfiles"]
    assert with_helper.entry.stats["original_size"] == without.entry.stats["original_size"]
    paths = {i["path"] for i in with_helper.items}
    assert b"data/a/m/f000" not in paths and b"data/b/f149-new" in paths
    assert next(i for i in with_helper.items if i["path"] == b"data/a/f120")["xattrs"] == {
        b"user.note": b"added"
    }
    expected = snapshot(tmp_path / "data")
    os.makedirs(tmp_path / "restore")
    os.chdir(tmp_path / "restore")
    run_hutch("extract", f"{repo}::with", check=0)
    assert snapshot(tmp_path / "restore" / "data") == expected


def test_the_helper_holds_nothing_of_the_parent_and_is_gone_after(repo, changed):
    backup = Backup(repo, "with", threads=2, helpers=changed)
    (helper,) = changed
    # stdin, stdout, stderr and its two pipes: not the repository's lock,
    # packs or an ssh's pipes, which must see their end when the backup ends.
    assert len(backup.helper_fds) == 5
    with pytest.raises(ProcessLookupError):
        os.kill(helper.pid, 0)


@pytest.mark.parametrize(
    "failure",
    [
        lambda names: os._exit(3),  # dies at the first batch
        lambda names: [None] * (len(names) - 1),  # one answer short
        lambda names: [["U" * len(names), b"", 0, [], [0], [], []]],  # entries short
        lambda names: [["A", b"", 0, [], [], [], []]] + [None] * (len(names) - 1),
        lambda names: [["", b"", 0, [], [], [], []]] + [None] * len(names),  # an empty run
        lambda names: [[len(names), b"", 0, [], [], [], []]],  # no status letters
        lambda names: [["X" * len(names), b"", 0, [], [], [b""] * len(names), []]],
        lambda names: "nonsense",
        lambda names: time.sleep(3600),  # stuck: the walk waits ANSWER_TIMEOUT for it
    ],
)
def test_a_failing_helper_leaves_the_walk_to_do_it_all(repo, changed, monkeypatch, failure):
    monkeypatch.setattr(prescan, "_answer", lambda recognise, fs, prefix, names: failure(names))
    monkeypatch.setattr(prescan, "ANSWER_TIMEOUT", 0.5)
    broken = Backup(repo, "broken", threads=2, helpers=changed)
    without = Backup(repo, "without", threads=1)
    assert broken.recognised == 0
    assert _comparable(broken.items) == _comparable(without.items)
    assert changed and all(h.broken for h in changed)


@pytest.mark.parametrize("served", [False, True], ids=["local", "served"])
def test_the_command_with_the_helper(repo, tmp_path, monkeypatch, request, served):
    """The real command, two threads, folders of 150 files; the clock moved
    on so that the files count as settled and the second backup finds them
    in the files cache. Through a server the helper must not keep the
    connection's pipes open."""
    url = str(repo)
    if served:
        request.getfixturevalue("pipe_serve")
        url = f"ssh://host{repo}"
    monkeypatch.chdir(tmp_path)
    _make_tree(tmp_path / "data")
    later = faketime("+1m")
    run_hutch("create", "--threads", "2", f"{url}::a", "data", prefix=later, check=0)
    _change_tree(tmp_path / "data")
    r = run_hutch("create", "--threads", "2", "--list", f"{url}::b", "data", prefix=later, check=0)
    listed = dict(line.split(" ", 1)[::-1] for line in r.err.splitlines() if line[1:2] == " ")
    assert listed["data/a/f003"] == "M" and listed["data/b/f149-new"] == "A"
    assert listed["data/b/f000"] == "U" and listed["data/a/m/f149"] == "U"
    expected = snapshot(tmp_path / "data")
    os.makedirs(tmp_path / "restore")
    os.chdir(tmp_path / "restore")
    run_hutch("extract", f"{url}::b", check=0)
    assert snapshot(tmp_path / "restore" / "data") == expected


@pytest.mark.parametrize(
    "content, reads", [(prescan.PRESCAN_CONTENT, range(FILES, 3 * FILES)), (40, range(1, FILES))]
)
def test_a_first_backup_with_the_helper(repo, tmp_path, monkeypatch, helpers, content, reads):
    """The helper reads and seals new small files (as much as a batch may
    hold, `content`): the archive holds what a backup without it holds,
    each chunk is stored once and opens, and the files cache has them."""
    monkeypatch.setattr(prescan, "PRESCAN_CONTENT", content)
    monkeypatch.chdir(tmp_path)
    _make_tree(tmp_path / "data")
    (tmp_path / "data" / "a" / "f050").write_bytes(os.urandom(200 * 1024))  # the walk's
    for i in range(100, 140):  # the same content over and over: stored once
        (tmp_path / "data" / "b" / f"f{i:03d}").write_bytes(b"the same in forty files")
    other = tmp_path / "other"
    run_hutch("repo-create", "-e", "repokey", other, check=0)

    first = Backup(repo, "first", threads=2, helpers=helpers)
    alone = Backup(other, "first", threads=1)
    assert first.read in reads
    assert alone.recognised == 0
    for name in ("nfiles", "original_size", "compressed_size", "deduplicated_size"):
        assert first.entry.stats[name] == alone.entry.stats[name], name
    without = Backup(repo, "without", threads=1, files_cache="disabled")
    for item in first.items + without.items:
        if not stat.S_ISREG(item["mode"]):
            del item["atime"]  # listing a folder or reading a link sets it
    assert _comparable(first.items) == _comparable(without.items)
    assert first.entry.refs == without.entry.refs
    assert without.entry.stats["deduplicated_size"] == 0  # the helper stored them all

    again = Backup(repo, "again", threads=2, helpers=helpers)
    assert again.recognised > FILES and again.read == 0  # all in the files cache
    run_hutch("check", "--verify-data", repo, check=0)
    expected = snapshot(tmp_path / "data")
    os.makedirs(tmp_path / "restore")
    os.chdir(tmp_path / "restore")
    run_hutch("extract", f"{repo}::first", check=0)
    assert snapshot(tmp_path / "restore" / "data") == expected
