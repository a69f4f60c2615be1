"""Restoring an archive into a folder (or its file contents to a stream).

Items are read twice, by two iterators over the item stream: one runs ahead
to feed the chunk reader (which fetches and decrypts in threads), the other
writes files in order. So memory stays bounded whatever the archive's size.
"""

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..crypto.objects import ObjectKind
from ..errors import HutchError
from ..repo.archives import ArchiveEntry
from ..repo.reader import ChunkReader, Passed
from ..repo.repository import Repository
from .flags import describe, write_flags
from .item import MetadataRestorer
from .itemstream import iter_items
from .patterns import PatternMatcher
from .repeats import REPEATS_FROM, RepeatPlanner, RestoredCopies
from .report import Reporter

# Runs of zeros of at least this size (aligned in the chunk) become holes.
_HOLE_BLOCK = 64 * 1024
_ZEROS = bytes(_HOLE_BLOCK)


@dataclass
class ExtractOptions:
    numeric_ids: bool = False
    sparse: bool = False
    strip_components: int = 0
    dry_run: bool = False
    stdout: BinaryIO | None = None  # write file contents there instead


def selected_items(
    reader: ChunkReader,
    entry: ArchiveEntry,
    matcher: PatternMatcher,
    strip: int,
    on_unsafe: Callable[[bytes], None] | None = None,
) -> Iterator[dict]:
    """Items chosen by the patterns, with `fs_path` set (components stripped).
    Items whose path could lead out of the target are left out (and passed
    to `on_unsafe`)."""
    for item in iter_items(reader, entry):
        path = item["path"]
        if not matcher.empty and not matcher.match(path):
            continue
        parts = path.split(b"/")
        if not path or path.startswith(b"/") or b".." in parts:
            if on_unsafe is not None:
                on_unsafe(path)
            continue
        if strip:
            if len(parts) <= strip:
                continue
            parts = parts[strip:]
        item["fs_path"] = b"/".join(parts)
        yield item


def data_items(items: Iterator[dict]) -> Iterator[dict]:
    """The items whose chunks are read: regular files, the first of each
    hardlink group."""
    seen: set[bytes] = set()
    for item in items:
        if not stat.S_ISREG(item["mode"]):
            continue
        hlid = item.get("hlid")
        if hlid is not None:
            if hlid in seen:
                continue
            seen.add(hlid)
        yield item


class Extractor:
    def __init__(self, repo: Repository, options: ExtractOptions, reporter: Reporter):
        self.repo = repo
        self.options = options
        self.reporter = reporter
        self.restorer = MetadataRestorer(options.numeric_ids, reporter)
        self.reader = ChunkReader(repo)
        self._safe_dirs: set[bytes] = {b""}
        self._hardlinks: dict[bytes, bytes] = {}
        self._dirs: list[tuple[bytes, dict]] = []
        self._flags: dict[bytes, int] = {}  # set last of all (immutable, append-only)
        writes = options.stdout is None and not options.dry_run
        self._copies = RestoredCopies(repo.key.chunk_id) if writes else None

    def run(self, entry: ArchiveEntry, matcher: PatternMatcher) -> None:
        strip = self.options.strip_components

        def chunk_ids():
            plan = RepeatPlanner().plan if self._copies is not None else None
            for item in data_items(selected_items(self.reader, entry, matcher, strip)):
                for chunk_id, size in item.get("chunks", []):
                    yield plan(bytes(chunk_id), size) if plan else (bytes(chunk_id), size)

        def unsafe(path: bytes) -> None:
            self.reporter.error(
                f"{os.fsdecode(path)}: not restored: the path would lead out of the target folder"
            )

        self._chunks = self.reader.iter_get_sized(ObjectKind.CHUNK, chunk_ids())
        try:
            for item in selected_items(self.reader, entry, matcher, strip, unsafe):
                self._extract_item(item)
            for fs_path, item in reversed(self._dirs):
                if fs_path in self._safe_dirs:  # else replaced by a later item
                    self._apply_metadata(fs_path, item)
            self._apply_flags()
        finally:
            self.reader.close()
        for pattern in matcher.unmatched_includes():
            self.reporter.warning(f"include pattern never matched: {pattern}")

    def _extract_item(self, item: dict) -> None:
        fs_path = item["fs_path"]
        mode = item["mode"]
        self.reporter.file_status("", item["path"])
        hlid = item.get("hlid")
        is_data = stat.S_ISREG(mode) and (hlid is None or hlid not in self._hardlinks)
        # The chunk stream holds the content of every data item in order: each
        # must take exactly its own chunks, also when restoring it fails.
        content = _Content(self._chunks, len(item.get("chunks", []))) if is_data else None
        if is_data and hlid is not None:
            self._hardlinks[hlid] = fs_path
        try:
            if self.options.stdout is not None or self.options.dry_run:
                if content is not None:
                    self._write_content(item, None, content)
                return
            self._flags.pop(fs_path, None)  # a later item replaces an earlier one
            self._restore_item(item, fs_path, content)
            if item.get("flags"):
                self._flags[fs_path] = item["flags"]
        except OSError as e:
            self.reporter.warning(f"{os.fsdecode(fs_path)}: cannot restore: {e.strerror}")
        finally:
            if content is not None:
                content.drain()

    def _restore_item(self, item: dict, fs_path: bytes, content: "_Content | None") -> None:
        mode = item["mode"]
        self._prepare_parent(fs_path)
        if stat.S_ISDIR(mode):
            self._make_dir(fs_path)
            self._dirs.append((fs_path, item))
            return
        if stat.S_ISREG(mode) and content is not None:
            self._write_file(fs_path, item, content)
            return
        self._clear(fs_path)
        if stat.S_ISREG(mode):
            os.link(self._hardlinks[item["hlid"]], fs_path)
        elif stat.S_ISLNK(mode):
            os.symlink(item["target"], fs_path)
            self._apply_metadata(fs_path, item)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(fs_path)
            self._apply_metadata(fs_path, item)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(fs_path, mode, item.get("rdev", 0))
            self._apply_metadata(fs_path, item)

    def _prepare_parent(self, fs_path: bytes) -> None:
        """Make the parent folders; refuse to follow a symlink out of the target."""
        parent = os.path.dirname(fs_path)
        if parent in self._safe_dirs:
            return
        self._prepare_parent(parent)
        try:
            st = os.lstat(parent)
        except FileNotFoundError:
            os.mkdir(parent, 0o700)
            st = os.lstat(parent)
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(errno.ENOTDIR, f"{os.fsdecode(parent)} is not a folder")
        self._safe_dirs.add(parent)

    def _make_dir(self, fs_path: bytes) -> None:
        try:
            os.mkdir(fs_path, 0o700)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(fs_path).st_mode):
                os.unlink(fs_path)
                os.mkdir(fs_path, 0o700)
        self._safe_dirs.add(fs_path)

    def _clear(self, fs_path: bytes) -> None:
        try:
            st = os.lstat(fs_path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            os.rmdir(fs_path)
            # No longer a folder we made: nothing may be written through this
            # name as if it were one (a symlink could take its place).
            below = fs_path + b"/"
            self._safe_dirs = {
                d for d in self._safe_dirs if d != fs_path and not d.startswith(below)
            }
        else:
            os.unlink(fs_path)

    def _write_file(self, fs_path: bytes, item: dict, content: "_Content") -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        try:
            fd = os.open(fs_path, flags, 0o600)
        except FileExistsError:
            # Most targets are empty: look for what is in the way only when something is.
            self._clear(fs_path)
            fd = os.open(fs_path, flags, 0o600)
        try:
            if self._write_content(item, fd, content):
                os.ftruncate(fd, item.get("size", 0))
            self.restorer.restore(fs_path, item, fd=fd)
        finally:
            os.close(fd)

    def _write_content(self, item: dict, fd: int | None, content: "_Content") -> bool:
        """Consume the item's chunks; write them to fd, stdout, or nowhere.
        True if holes were left (sparse, or lost data) that may end the file."""
        damaged = 0
        sparse = self.options.sparse and fd is not None
        copies = self._copies if fd is not None else None
        offset = 0
        for (cid, size), data in zip(item.get("chunks", []), content, strict=True):
            if type(data) is Passed:
                data = self._repeated(data)
            if isinstance(data, HutchError):
                damaged += 1
                data = None
            elif copies is not None and len(data) >= REPEATS_FROM:
                copies.remember(bytes(cid), item["fs_path"], offset)
            if fd is None:
                if data is not None and self.options.stdout is not None:
                    self.options.stdout.write(data)
            elif data is None:
                os.lseek(fd, size, os.SEEK_CUR)  # zeros where data is lost
            elif sparse:
                _write_sparse(fd, data)
            else:
                _write_all(fd, data)
            offset += size if data is None else len(data)
        if damaged:
            self.reporter.error(
                f"{os.fsdecode(item['path'])}: damaged: {damaged} chunk(s) could not be read "
                "or failed authentication; the rest of the file was restored"
            )
        elif "chunks_healthy" in item:
            self.reporter.error(
                f"{os.fsdecode(item['path'])}: damaged: 'hutch check --repair' put zeros in "
                "place of data that was lost; the rest of the file was restored"
            )
        return sparse or damaged > 0

    def _repeated(self, passed: Passed) -> bytes | HutchError:
        """A chunk restored before: read back if it is still there, else fetched."""
        assert self._copies is not None  # only planned when files are written
        data = self._copies.read(passed)
        if data is not None:
            return data
        try:
            return self.reader.get(ObjectKind.CHUNK, passed.cid)
        except HutchError as e:
            return e

    def _apply_flags(self) -> None:
        """File flags, after everything else: an immutable file or folder
        takes no more changes, not even a hardlink to it."""
        for fs_path, flags in self._flags.items():
            if os.path.dirname(fs_path) not in self._safe_dirs:
                continue  # its folder was replaced by a later item
            try:
                write_flags(fs_path, flags)
            except OSError as e:
                self.reporter.warning(
                    f"{os.fsdecode(fs_path)}: cannot restore file flags {describe(flags)}: "
                    f"{e.strerror}"
                )

    def _apply_metadata(self, fs_path: bytes, item: dict) -> None:
        try:
            self.restorer.restore(fs_path, item)
        except OSError as e:
            self.reporter.warning(f"{os.fsdecode(fs_path)}: cannot restore metadata: {e.strerror}")


class _Content:
    """The chunks of one file, taken from the shared chunk stream."""

    def __init__(self, chunks: Iterator, count: int):
        self._chunks = chunks
        self.left = count

    def __iter__(self):
        while self.left:
            self.left -= 1
            yield next(self._chunks)

    def drain(self) -> None:
        """Skip what was not taken, so the next file starts at its own chunks."""
        for _ in self:
            pass


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _write_sparse(fd: int, data: bytes) -> None:
    view = memoryview(data)
    for i in range(0, len(view), _HOLE_BLOCK):
        block = view[i : i + _HOLE_BLOCK]
        if len(block) == _HOLE_BLOCK and block == _ZEROS:
            os.lseek(fd, _HOLE_BLOCK, os.SEEK_CUR)
        else:
            _write_all(fd, block)
