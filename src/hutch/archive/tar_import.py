"""import-tar: make an archive from a tar stream (a file or stdin; plain,
gzip, bzip2, xz or zstd, detected from the first bytes; or decompressed by a
filter command).

Members become items as a backup of the same tree would make them. Their
content flows from tarfile's stream mode ('r|') straight into the create
pipeline, so nothing holds a whole file in memory, and the input need not
be seekable.

Hardlinks: a tar hardlink member names an earlier member, but hutch wants
every member of the group to carry the same hlid, the first one included,
and that one is stored before the link shows up. When the tar can be read
twice (a file), a first pass collects the names that links point to and
only those members get an hlid. A stream (stdin) is read once: there every
regular file gets an hlid and a small record (hlid, size) kept until the
end, which costs memory per file but loses no link.
"""

import bz2
import contextlib
import gzip
import io
import lzma
import os
import signal
import stat
import subprocess
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import IO

import zstandard

from ..errors import TarFileError, UsageError
from ..repo.archives import ArchiveEntry
from .create import ArchiveCreator
from .tar_export import ENCODING, ERRORS, acl_from_text, parse_pax_time

# What reading a damaged, truncated or wrongly compressed stream raises.
_READ_ERRORS = (
    tarfile.TarError,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    zstandard.ZstdError,
)
_TYPE_MODES = {
    tarfile.DIRTYPE: stat.S_IFDIR,
    tarfile.SYMTYPE: stat.S_IFLNK,
    tarfile.FIFOTYPE: stat.S_IFIFO,
    tarfile.CHRTYPE: stat.S_IFCHR,
    tarfile.BLKTYPE: stat.S_IFBLK,
}
# Status letters as `create --list` shows them.
_STATUS = {
    stat.S_IFDIR: "d",
    stat.S_IFLNK: "s",
    stat.S_IFIFO: "f",
    stat.S_IFCHR: "c",
    stat.S_IFBLK: "b",
}
_XATTR_PREFIX = "SCHILY.xattr."
_ACL_XATTRS = {b"system.posix_acl_access": "acl_access", b"system.posix_acl_default": "acl_default"}
_HEAD_SIZE = tarfile.BLOCKSIZE  # a whole header, see detect_compression
# A filter we stop reading from early dies of SIGPIPE; that is not its failure.
_SIGPIPE_EXITS = (0, -signal.SIGPIPE, 128 + signal.SIGPIPE)


# -- where the tar stream comes from ------------------------------------


def detect_compression(head: bytes) -> str | None:
    """The compression of a stream starting with `head` (its first 512
    bytes, or all of it), or None for a plain tar. A valid tar header wins,
    so that a tar whose first name starts like a magic number stays plain."""
    if _is_tar_header(head):
        return None
    if head.startswith(b"\x1f\x8b\x08"):
        return "gzip"
    if (
        head[:3] == b"BZh"
        and head[3:4] in b"123456789"
        and head[4:10]
        in (
            b"1AY&SY",
            b"\x17rE8P\x90",
        )
    ):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return None


def _is_tar_header(block: bytes) -> bool:
    if len(block) != tarfile.BLOCKSIZE:
        return False
    try:
        stored = int(block[148:156].strip(b" \x00") or b"-1", 8)
    except ValueError:
        return False
    # The checksum counts its own field as spaces; old tars summed signed bytes.
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = unsigned - 256 * sum(1 for b in block[:148] + block[156:] if b > 127)
    return stored in (unsigned, signed)


class _Replayed:
    """A reader that first returns the bytes already read to detect the
    compression (stdin cannot seek back)."""

    def __init__(self, head: bytes, raw):
        self._head = head
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._raw.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._raw.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data


def _decompressor(name: str | None, raw):
    if name == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name == "bzip2":
        return bz2.BZ2File(raw, "rb")
    if name == "xz":
        return lzma.LZMAFile(raw, "rb")
    if name == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(
            raw, read_across_frames=True, closefd=False
        )
    return raw


def _read_head(raw, size: int) -> bytes:
    head = b""
    while len(head) < size:
        data = raw.read(size - len(head))
        if not data:
            break
        head += data
    return head


@contextlib.contextmanager
def open_input(path: str, tar_filter: str | None, stdin) -> Iterator:
    """A reader of the plain tar stream in file `path` ('-': `stdin`),
    decompressed by the `tar_filter` shell command if given, else as its
    first bytes say."""
    with contextlib.ExitStack() as stack:
        if path == "-":
            raw = stdin
        else:
            try:
                raw = stack.enter_context(open(path, "rb"))
            except OSError as e:
                raise UsageError(f"cannot read {path}: {e.strerror}") from None
        if tar_filter:
            yield stack.enter_context(_filtered_input(tar_filter, raw))
            return
        try:
            head = _read_head(raw, _HEAD_SIZE)
        except OSError as e:
            raise TarFileError(f"cannot read {_source(path)}: {e.strerror}") from None
        compression = detect_compression(head)
        if compression is None and path != "-" and raw.seekable():
            raw.seek(0)
            yield raw  # iter_members can seek over contents instead of reading them
            return
        yield _decompressor(compression, _Replayed(head, raw))


@contextlib.contextmanager
def _filtered_input(command: str, raw) -> Iterator:
    try:
        proc = subprocess.Popen(command, shell=True, stdin=raw, stdout=subprocess.PIPE)
    except OSError as e:
        raise TarFileError(f"cannot run tar filter {command!r}: {e.strerror}") from None
    stdout = proc.stdout
    assert stdout is not None  # a pipe
    try:
        yield stdout  # read to its end by iter_members, so the filter can finish
    except TarFileError:
        # Unreadable output from a failing filter: the filter is the news.
        rc = _finish(proc, stdout)
        if rc not in _SIGPIPE_EXITS:
            raise TarFileError(f"tar filter {command!r} failed with exit code {rc}") from None
        raise
    except BaseException:
        _finish(proc, stdout)
        raise
    rc = _finish(proc, stdout)
    if rc != 0:
        raise TarFileError(f"tar filter {command!r} failed with exit code {rc}")


def _finish(proc: subprocess.Popen, stdout: IO[bytes]) -> int:
    with contextlib.suppress(OSError):
        stdout.close()
    return proc.wait()


def _source(path: str) -> str:
    return "stdin" if path == "-" else path


# -- reading members ----------------------------------------------------


class _TrackedInfo(tarfile.TarInfo):
    """Records on the TarFile why reading headers stopped: tarfile takes a
    damaged header after the first member for the end of the archive and
    would drop the rest without a word."""

    @classmethod
    def fromtarfile(cls, tar):
        try:
            return super().fromtarfile(tar)
        except tarfile.HeaderError as e:
            tar.hutch_stop = e
            raise


def _reading(source: str, call: Callable, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except _READ_ERRORS as e:
        raise TarFileError(f"{source}: not a tar archive, or damaged ({e})") from None


def iter_members(stream, source: str, warn: Callable[[str], None] | None = None):
    """(TarFile, member) for each member of the tar in `stream`, read once.
    TarFileError for input that is not a tar, is damaged or cut short."""
    tar = _reading(
        source,
        tarfile.open,
        fileobj=stream,
        mode="r:" if _is_plain_file(stream) else "r|",
        encoding=ENCODING,
        errors=ERRORS,
        tarinfo=_TrackedInfo,
    )
    while (member := _reading(source, tar.next)) is not None:
        tar.members.clear()  # tarfile keeps every header it read; we never look back
        yield tar, member
    stop = getattr(tar, "hutch_stop", None)
    # typeshed leaves out these two (undocumented) subclasses of tarfile.HeaderError.
    if isinstance(stop, tarfile.EmptyHeaderError):  # type: ignore[attr-defined]
        if warn is not None:
            warn(f"{source}: ends without an end-of-archive marker: it may be truncated")
    elif not isinstance(stop, tarfile.EOFHeaderError):  # type: ignore[attr-defined]
        raise TarFileError(f"{source}: damaged at byte {tar.offset} ({stop}); no archive was made")
    # Read past the end of the tar: damage in the rest of a compressed
    # stream is damage to the file, and a filter must be let finish.
    while _reading(source, stream.read, 1 << 16):
        pass


def _is_plain_file(stream) -> bool:
    # Not any seekable(): GzipFile claims it, by decompressing again from the
    # start on each backward seek, and tarfile steps back a byte per member.
    return isinstance(stream, io.BufferedReader) and stream.seekable()


def scan_link_targets(stream, source: str) -> set[bytes]:
    """The first pass: the paths that hardlink members point to."""
    targets = set()
    for _, member in iter_members(stream, source):
        if member.islnk() and (target := archive_path(member.linkname)):
            targets.add(target)
    return targets


class _MemberContent:
    """A member's content for the create pipeline: read errors become
    TarFileError, so they are not taken for failures of the pipeline."""

    def __init__(self, fileobj, source: str):
        self._fileobj = fileobj
        self._source = source

    def read(self, size: int = -1) -> bytes:
        return _reading(self._source, self._fileobj.read, size)


# -- members -> items ---------------------------------------------------


def archive_path(name: str) -> bytes | None:
    """A member name as an item path: relative, without empty or `.`
    components; None if it has a `..` component (it could point anywhere)."""
    parts = [p for p in name.encode(ENCODING, ERRORS).split(b"/") if p not in (b"", b".")]
    if b".." in parts:
        return None
    return b"/".join(parts)


def _pax_ns(pax: Mapping[str, str], key: str) -> int | None:
    try:
        return parse_pax_time(pax[key]) if key in pax else None
    except ValueError:
        return None


def member_item(member: tarfile.TarInfo, path: bytes, warn: Callable[[str], None]) -> dict:
    """The item for `member` at `path`, without content. ValueError for a
    member type hutch does not keep."""
    if member.isreg() or member.islnk():
        kind = stat.S_IFREG
    elif member.type in _TYPE_MODES:
        kind = _TYPE_MODES[member.type]
    else:
        raise ValueError(f"unsupported member type {member.type!r}")
    pax = member.pax_headers
    mtime = _pax_ns(pax, "mtime")
    item = {
        "path": path,
        "mode": kind | (member.mode & 0o7777),
        "uid": member.uid,
        "gid": member.gid,
        "user": member.uname or None,
        "group": member.gname or None,
        "mtime": mtime if mtime is not None else int(member.mtime) * 10**9,
    }
    for key in ("atime", "ctime"):
        if (ns := _pax_ns(pax, key)) is not None:
            item[key] = ns
    if member.issym():
        item["target"] = member.linkname.encode(ENCODING, ERRORS)
    elif member.ischr() or member.isblk():
        item["rdev"] = os.makedev(member.devmajor, member.devminor)
    _add_xattrs(item, pax, warn)
    return item


def _add_xattrs(item: dict, pax: Mapping[str, str], warn: Callable[[str], None]) -> None:
    xattrs = {}
    for key, value in pax.items():
        if key.startswith(_XATTR_PREFIX):
            name = key[len(_XATTR_PREFIX) :].encode(ENCODING, ERRORS)
            data = value.encode(ENCODING, ERRORS)
            if name in _ACL_XATTRS:
                item[_ACL_XATTRS[name]] = data
            else:
                xattrs[name] = data
        elif key in ("SCHILY.acl.access", "SCHILY.acl.default") and value:
            try:
                item["acl_" + key[len("SCHILY.acl.") :]] = acl_from_text(value)
            except ValueError as e:
                warn(f"{os.fsdecode(item['path'])}: ACL not imported: {e}")
    if xattrs:
        item["xattrs"] = xattrs


class TarImporter:
    """Feeds the members of a tar into an ArchiveCreator."""

    def __init__(self, creator: ArchiveCreator, link_targets: set[bytes] | None = None):
        """link_targets: the paths hardlinks point to (scan_link_targets);
        None when unknown, so every regular file may be one."""
        self.creator = creator
        self.reporter = creator.reporter
        self.link_targets = link_targets
        self._groups: dict[bytes, tuple[bytes, int]] = {}  # link target -> (hlid, size)

    def run(self, name: str, stream, source: str) -> ArchiveEntry:
        """Make archive `name` of the tar in `stream` (named `source` in
        messages); nothing is stored if the tar turns out damaged."""

        def produce():
            for tar, member in iter_members(stream, source, self.reporter.warning):
                self._add(tar, member, source)

        return self.creator.run(name, produce)

    def _add(self, tar: tarfile.TarFile, member: tarfile.TarInfo, source: str) -> None:
        path = archive_path(member.name)
        if path is None:
            self.reporter.warning(f"{member.name}: skipped: a path with '..' could point anywhere")
            return
        if not path:
            return  # the tar's top folder ("./"); a backup of "." has none either
        try:
            item = member_item(member, path, self.reporter.warning)
        except ValueError as e:
            self.reporter.warning(f"{member.name}: skipped: {e}")
            return
        if member.islnk():
            self._add_hardlink(item, member)
        elif member.isreg():
            if self.link_targets is None or path in self.link_targets:
                item["hlid"] = os.urandom(16)
                self._groups[path] = (item["hlid"], member.size)
            content = _reading(source, tar.extractfile, member)
            self.creator.add_stream_item(item, _MemberContent(content, source))
        else:
            self.creator.add_item(item, _STATUS[stat.S_IFMT(item["mode"])])

    def _add_hardlink(self, item: dict, member: tarfile.TarInfo) -> None:
        group = self._groups.get(archive_path(member.linkname) or b"")
        if group is None:
            self.reporter.warning(
                f"{member.name}: skipped: a hardlink to {member.linkname}, "
                "which is no earlier file in the tar"
            )
            return
        # The creator gives it the chunks of its group's first member.
        item["hlid"], item["size"] = group
        self._groups[item["path"]] = group  # links may name a link
        self.creator.stats.nfiles += 1  # as a backup counts a hardlink
        self.creator.add_item(item, "h")
