"""export-tar: write an archive as a tar stream that GNU tar and bsdtar read.

File contents are streamed chunk by chunk through the same read-ahead
ChunkReader that extract uses, so memory stays bounded whatever the file
sizes. PAX records carry what the ustar header cannot: exact nanosecond
times, long or non-UTF-8 names (with `hdrcharset=BINARY` as POSIX.1-2008
says: bsdtar honours it; GNU tar warns that it ignores the keyword, yet
restores the same bytes), xattrs (`SCHILY.xattr.NAME`) and POSIX ACLs
(`SCHILY.acl.access` / `SCHILY.acl.default` in the text form both tars read).

What tar import shares lives here too: the PAX time and ACL codecs, and the
error for tar files that cannot be read or written.
"""

import bz2
import contextlib
import gzip
import lzma
import os
import stat
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Literal, Protocol

import zstandard

from ..crypto.objects import ObjectKind
from ..errors import HutchError, TarFileError, UsageError
from ..repo.archives import ArchiveEntry
from ..repo.reader import ChunkReader
from ..repo.repository import Repository
from .extract import data_items, selected_items
from .item import group_id, user_id
from .patterns import PatternMatcher
from .report import Reporter

ENCODING = "utf-8"
# Names are bytes; surrogateescape carries bytes that are not UTF-8 through
# tarfile's str API unchanged (and makes it write hdrcharset=BINARY).
ERRORS = "surrogateescape"
FORMATS: dict[str, Literal[1, 2]] = {"PAX": tarfile.PAX_FORMAT, "GNU": tarfile.GNU_FORMAT}
RECORD_SIZE = 20 * tarfile.BLOCKSIZE  # what GNU tar pads the last record to
_ZERO_BLOCK = bytes(64 * 1024)

# Suffix -> compression, checked in this order.
COMPRESSION_SUFFIXES = (
    ((".tar.gz", ".tgz"), "gzip"),
    ((".tar.bz2", ".tbz", ".tbz2"), "bzip2"),
    ((".tar.xz", ".txz"), "xz"),
    ((".tar.zst", ".tzst"), "zstd"),
)


@dataclass
class TarExportOptions:
    tar_format: str = "PAX"
    strip_components: int = 0


# -- PAX times -----------------------------------------------------------


def format_pax_time(ns: int) -> str:
    """Nanoseconds as the exact decimal seconds PAX records hold."""
    sign = "-" if ns < 0 else ""
    seconds, fraction = divmod(abs(ns), 10**9)
    return f"{sign}{seconds}.{fraction:09d}" if fraction else f"{sign}{seconds}"


def parse_pax_time(text: str) -> int:
    """Decimal seconds to nanoseconds, exactly (a float would lose the
    nanoseconds of present-day times). Raises ValueError."""
    text = text.strip()
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("+-").partition(".")
    if not (whole or fraction) or not (whole + fraction).isdigit() or not text.isascii():
        raise ValueError(f"invalid PAX time {text!r}")
    ns = int(whole or "0") * 10**9 + int((fraction + "000000000")[:9])
    return -ns if negative else ns


# -- POSIX ACLs: the kernel's xattr form <-> the text form of tar -------

_ACL_VERSION = 2
_ACL_ENTRY = struct.Struct("<HHI")
_ACL_UNDEFINED_ID = 0xFFFFFFFF
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = (
    0x01,
    0x02,
    0x04,
    0x08,
    0x10,
    0x20,
)
_ACL_TAG_NAMES = {
    _ACL_USER_OBJ: "user",
    _ACL_USER: "user",
    _ACL_GROUP_OBJ: "group",
    _ACL_GROUP: "group",
    _ACL_MASK: "mask",
    _ACL_OTHER: "other",
}
_ACL_TEXT_TAGS = {
    "user": (_ACL_USER_OBJ, _ACL_USER),
    "u": (_ACL_USER_OBJ, _ACL_USER),
    "group": (_ACL_GROUP_OBJ, _ACL_GROUP),
    "g": (_ACL_GROUP_OBJ, _ACL_GROUP),
    "mask": (_ACL_MASK, _ACL_MASK),
    "m": (_ACL_MASK, _ACL_MASK),
    "other": (_ACL_OTHER, _ACL_OTHER),
    "o": (_ACL_OTHER, _ACL_OTHER),
}


def acl_to_text(blob: bytes) -> str:
    """`user::rw-,user:1000:r--,...`: numeric qualifiers, because the ids
    are what the archive recorded (names may differ where it is restored).
    Raises ValueError for a malformed ACL."""
    if len(blob) < 4 or (len(blob) - 4) % _ACL_ENTRY.size:
        raise ValueError("malformed ACL")
    if struct.unpack_from("<I", blob)[0] != _ACL_VERSION:
        raise ValueError("unknown ACL version")
    entries = []
    for tag, perm, qid in _ACL_ENTRY.iter_unpack(blob[4:]):
        if tag not in _ACL_TAG_NAMES:
            raise ValueError(f"unknown ACL tag {tag:#x}")
        qualifier = str(qid) if tag in (_ACL_USER, _ACL_GROUP) else ""
        perms = "".join(c if perm & bit else "-" for c, bit in (("r", 4), ("w", 2), ("x", 1)))
        entries.append(f"{_ACL_TAG_NAMES[tag]}:{qualifier}:{perms}")
    return ",".join(entries)


def acl_from_text(text: str) -> bytes:
    """The kernel's xattr form of an ACL written by GNU tar, bsdtar or star
    (entries split by commas or newlines, `#` comments, an optional fourth
    field with the numeric id). Raises ValueError."""
    entries = []
    for raw in text.replace("\n", ",").split(","):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        fields = entry.split(":")
        if len(fields) not in (3, 4) or fields[0] not in _ACL_TEXT_TAGS:
            raise ValueError(f"invalid ACL entry {entry!r}")
        obj_tag, named_tag = _ACL_TEXT_TAGS[fields[0]]
        qualifier = fields[1]
        if not qualifier:
            tag, qid = obj_tag, _ACL_UNDEFINED_ID
        else:
            tag, qid = named_tag, _acl_id(named_tag, qualifier, fields[3:])
        entries.append((tag, qid, _acl_perm(fields[2])))
    if not entries:
        raise ValueError("empty ACL")
    # The kernel wants entries ordered by tag, named ones by id.
    entries.sort()
    body = b"".join(_ACL_ENTRY.pack(tag, perm, qid) for tag, qid, perm in entries)
    return struct.pack("<I", _ACL_VERSION) + body


def _acl_id(tag: int, qualifier: str, extra: list[str]) -> int:
    if extra and extra[0].isdigit():
        return int(extra[0])
    if qualifier.isdigit():
        return int(qualifier)
    lookup = user_id if tag == _ACL_USER else group_id
    qid = lookup(qualifier, -1)
    if qid < 0:
        raise ValueError(f"unknown {'user' if tag == _ACL_USER else 'group'} {qualifier!r}")
    return qid


def _acl_perm(text: str) -> int:
    perm = 0
    for c in text:
        if c in "rwx":
            perm |= {"r": 4, "w": 2, "x": 1}[c]
        elif c != "-":
            raise ValueError(f"invalid ACL permissions {text!r}")
    return perm


# -- items -> tar headers -----------------------------------------------


def _text(name: bytes) -> str:
    return name.decode(ENCODING, ERRORS)


def tar_info(item: dict, name: bytes, link_to: bytes | None = None) -> tarfile.TarInfo:
    """The tar header of `item` stored as `name`; `link_to` makes it a
    hardlink to that earlier member. Raises ValueError for items tar cannot
    hold (sockets) or metadata it cannot encode."""
    info = tarfile.TarInfo(_text(name))
    mode = item["mode"]
    info.mode = stat.S_IMODE(mode)
    info.uid, info.gid = item.get("uid", 0), item.get("gid", 0)
    info.uname, info.gname = item.get("user") or "", item.get("group") or ""
    # Floor, so the ustar field never claims a later second than the truth.
    info.mtime = item["mtime"] // 10**9
    if link_to is not None:
        info.type, info.linkname = tarfile.LNKTYPE, _text(link_to)
    elif stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, _size(item)
    elif stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, _text(item["target"])
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        rdev = item.get("rdev", 0)
        info.devmajor, info.devminor = _major(rdev), _minor(rdev)
    else:
        raise ValueError("tar cannot hold this file type")
    info.pax_headers = pax_records(item)
    return info


def _major(rdev: int) -> int:
    return ((rdev >> 32) & 0xFFFFF000) | ((rdev >> 8) & 0xFFF)


def _minor(rdev: int) -> int:
    return ((rdev >> 12) & 0xFFFFFF00) | (rdev & 0xFF)


def _size(item: dict) -> int:
    if "size" in item:
        return item["size"]
    return sum(size for _, size in item.get("chunks", []))


def pax_records(item: dict) -> dict[str, str]:
    """PAX records for what the ustar header cannot hold. Raises ValueError
    for an xattr name that is not UTF-8 (PAX keywords must be)."""
    records = {"mtime": format_pax_time(item["mtime"])}
    for key in ("atime", "ctime"):
        if key in item:
            records[key] = format_pax_time(item[key])
    for name, value in (item.get("xattrs") or {}).items():
        try:
            keyword = "SCHILY.xattr." + bytes(name).decode(ENCODING)
        except UnicodeDecodeError:
            raise ValueError(f"xattr name {name!r} is not UTF-8") from None
        records[keyword] = bytes(value).decode(ENCODING, ERRORS)
    if not stat.S_ISLNK(item["mode"]):
        for key in ("acl_access", "acl_default"):
            if key in item:
                records["SCHILY.acl." + key[4:]] = acl_to_text(item[key])
    return records


# -- where the tar stream goes ------------------------------------------


def compression_for(path: str) -> str | None:
    lower = path.lower()
    for suffixes, name in COMPRESSION_SUFFIXES:
        if lower.endswith(suffixes):
            return name
    return None


def _compressor(name: str | None, raw):
    """A writer compressing into `raw`; closing it finishes the stream but
    leaves `raw` open."""
    if name == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
    if name == "bzip2":
        return bz2.BZ2File(raw, "wb")
    if name == "xz":
        return lzma.LZMAFile(raw, "wb")
    if name == "zstd":
        return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
    return contextlib.nullcontext(raw)


@contextlib.contextmanager
def _filtered_output(command: str, raw) -> Iterator:
    """Pipe what is written through the shell `command` into `raw`."""
    raw.flush()
    try:
        proc = subprocess.Popen(command, shell=True, stdin=subprocess.PIPE, stdout=raw)
    except OSError as e:
        raise TarFileError(f"cannot run tar filter {command!r}: {e.strerror}") from None
    stdin = proc.stdin
    assert stdin is not None  # a pipe
    try:
        yield _PipeWriter(proc, stdin, command)
    finally:
        with contextlib.suppress(OSError):
            stdin.close()
        rc = proc.wait()
    if rc != 0:
        raise TarFileError(f"tar filter {command!r} failed with exit code {rc}")


class _PipeWriter:
    """Writes to a filter's stdin; a filter that quits early is an error of
    the filter, not a reader that went away."""

    def __init__(self, proc: subprocess.Popen, stdin: IO[bytes], command: str):
        self.proc = proc
        self.stdin = stdin
        self.command = command

    def write(self, data) -> int:
        try:
            return self.stdin.write(data)
        except BrokenPipeError:
            rc = self.proc.wait()
            raise TarFileError(
                f"tar filter {self.command!r} stopped reading (exit code {rc})"
            ) from None


@contextlib.contextmanager
def open_output(path: str, tar_filter: str | None, stdout) -> Iterator:
    """A binary writer for the tar stream: into file `path` ('-': `stdout`),
    through the `tar_filter` shell command if given, else compressed as the
    file name's suffix says. A file left half written by a failure is
    removed, so that it cannot pass for a complete export."""
    if path == "-":
        with _writing(path), _encoder(stdout, path, tar_filter) as out:
            yield out
        stdout.flush()
        return
    try:
        raw = open(path, "wb")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
    # Never remove what is not a plain file (FILE may be /dev/tape or a fifo).
    regular = stat.S_ISREG(os.fstat(raw.fileno()).st_mode)
    try:
        with _writing(path), raw, _encoder(raw, path, tar_filter) as out:
            yield out
    except BaseException:
        if regular:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise


def _encoder(raw, path: str, tar_filter: str | None):
    if tar_filter:
        return _filtered_output(tar_filter, raw)
    return _compressor(compression_for(path), raw)


@contextlib.contextmanager
def _writing(path: str) -> Iterator[None]:
    """A write error (a full disk, ...) while finishing the stream is the
    user's to fix, not an internal error."""
    try:
        yield
    except BrokenPipeError:
        raise  # the reader went away (`| head`): main() ends quietly
    except OSError as e:
        where = "stdout" if path == "-" else path
        raise TarFileError(f"cannot write {where}: {e.strerror}") from None


# -- the exporter -------------------------------------------------------


class Sink(Protocol):
    """Where a tar stream goes: a file, an encoder, a filter's stdin."""

    def write(self, data: bytes | memoryview, /) -> object: ...


class TarExporter:
    def __init__(self, repo: Repository, options: TarExportOptions, reporter: Reporter):
        if options.tar_format not in FORMATS:
            raise UsageError(f"unknown tar format {options.tar_format!r}; use PAX or GNU")
        self.repo = repo
        self.options = options
        self.format = FORMATS[options.tar_format]
        self.reporter = reporter
        self._hardlinks: dict[bytes, bytes] = {}  # hlid -> name of its member with data
        self._out: Sink  # set by each `run`
        self._written = 0
        self._nfiles = 0

    def run(self, entry: ArchiveEntry, matcher: PatternMatcher, out: Sink) -> None:
        """Write the items of `entry` that `matcher` selects to `out`."""
        reader = ChunkReader(self.repo)
        strip = self.options.strip_components

        def chunk_ids():
            for item in data_items(selected_items(reader, entry, matcher, strip)):
                for chunk_id, size in item.get("chunks", []):
                    yield bytes(chunk_id), size

        self._out = out
        self._chunks = reader.iter_get_sized(ObjectKind.CHUNK, chunk_ids())
        try:
            for item in selected_items(reader, entry, matcher, strip):
                self._export_item(item)
            # End of archive: two zero blocks, then pad the last record.
            end = self._written + 2 * tarfile.BLOCKSIZE
            self._write(bytes(2 * tarfile.BLOCKSIZE + (-end) % RECORD_SIZE))
        finally:
            reader.close()
            self.reporter.finish_progress()
        for pattern in matcher.unmatched_includes():
            self.reporter.warning(f"include pattern never matched: {pattern}")

    def _export_item(self, item: dict) -> None:
        name = item["fs_path"]
        hlid = item.get("hlid")
        is_regular = stat.S_ISREG(item["mode"])
        link_to = self._hardlinks.get(hlid) if is_regular and hlid is not None else None
        has_data = is_regular and link_to is None  # as data_items decided
        try:
            header = tar_info(item, name, link_to).tobuf(self.format, ENCODING, ERRORS)
        except (ValueError, UnicodeError) as e:
            self.reporter.warning(f"{_text(item['path'])}: not exported: {e}")
            if has_data:
                for _ in item.get("chunks", []):
                    next(self._chunks)  # keep the chunk stream in step
            return
        self.reporter.file_status("", item["path"])
        self._write(header)
        if has_data:
            if hlid is not None:
                self._hardlinks[hlid] = name
            self._write_content(item, _size(item))
        self._nfiles += 1
        self.reporter.progress(original_size=self._written, nfiles=self._nfiles, path=item["path"])

    def _write_content(self, item: dict, size: int) -> None:
        """Exactly `size` bytes and the padding to a block, chunk by chunk;
        zeros where a chunk is damaged, so the tar stays readable."""
        written = damaged = 0
        for _, chunk_size in item.get("chunks", []):
            data = next(self._chunks)
            if isinstance(data, HutchError):
                damaged += 1
                data = bytes(chunk_size)
            part = memoryview(data)[: size - written]
            self._write(part)
            written += len(part)
        if damaged:
            self.reporter.error(
                f"{_text(item['path'])}: damaged: {damaged} chunk(s) could not be read or "
                "failed authentication; exported with zeros in their place"
            )
        elif written < size:
            self.reporter.error(
                f"{_text(item['path'])}: its chunks hold {written} of {size} bytes; "
                "exported with zeros at the end"
            )
        while written < size:
            zeros = memoryview(_ZERO_BLOCK)[: size - written]
            self._write(zeros)
            written += len(zeros)
        self._write(bytes(-size % tarfile.BLOCKSIZE))

    def _write(self, data: bytes | memoryview) -> None:
        try:
            self._out.write(data)
        except BrokenPipeError:
            raise  # the reader went away (`| head`): main() ends quietly
        except OSError as e:
            raise TarFileError(f"cannot write the tar: {e.strerror}") from None
        self._written += len(data)
