"""The local cache folder of one repository (`$HUTCH_CACHE_DIR/<repo id>`):
the merged chunk index, the files caches, the position of a partial check.

Everything in it only saves time, so nothing here is ever fatal: a file
that cannot be read counts as missing (the caller rebuilds it), and a file
that cannot be written (full disk, read-only or immutable folder, a folder
where a file should be) is reported once through `warn`, after which this
run writes no more cache files. Files are written whole or not at all.
"""

import io
import os
from collections.abc import Callable

import blake3

# typing weighs 1 MiB, and this module is read before the key derivation
# that bounds a command's memory (cli/keyahead.py): its names are for mypy.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, BinaryIO

SCRATCH_BUFFER = 256 * 1024


class CacheDir:
    def __init__(self, folder: str | None, warn: Callable[[str], None] | None = None):
        """folder None: no cache at all (reads find nothing, writes do nothing)."""
        self.folder = folder
        self._warn = warn
        self.failed = False  # a write failed: no more writes in this run

    def path(self, name: str) -> str | None:
        return os.path.join(self.folder, name) if self.folder else None

    def read(self, name: str) -> bytes | None:
        """The file's bytes; None if it is missing or cannot be read."""
        if not self.folder:
            return None
        try:
            with open(os.path.join(self.folder, name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def open(self, name: str) -> io.BufferedReader | None:
        """The file, open for reading (large files are read piece by piece);
        None if it is missing or cannot be read."""
        if not self.folder:
            return None
        try:
            return open(os.path.join(self.folder, name), "rb")
        except OSError:
            return None

    def write(self, name: str, data: bytes) -> bool:
        """Replace the file atomically; False (reported once) if that fails."""
        return self.write_with(name, lambda f: f.write(data))

    def write_with(self, name: str, produce: "Callable[[BinaryIO], object]") -> bool:
        """Replace the file atomically with what `produce(file)` writes;
        False (reported once) if that fails."""
        if not self.folder or self.failed:
            return False
        path = os.path.join(self.folder, name)
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            os.makedirs(self.folder, exist_ok=True)
            try:
                with open(tmp, "wb") as f:
                    produce(f)
                os.replace(tmp, path)
            except BaseException:
                _remove_quietly(tmp)
                raise
        except OSError as e:
            self.failed_at(path, e)
            return False
        return True

    def scratch(self) -> "IO[bytes] | None":
        """An unnamed file in the folder, for what a run sets aside to keep it
        out of memory: gone when closed or when the process dies. None
        (reported once) where there is no folder or it cannot be written."""
        if not self.folder or self.failed:
            return None
        try:
            os.makedirs(self.folder, exist_ok=True)
            # Imported here, where it is used: the key-salt hints read this
            # module before the rest of hutch loads (cli/keyahead.py).
            import tempfile

            # A quarter MiB is 45 writes for 200,000 files' records; 1 MiB
            # buffers (two files) sat at a backup's peak for nothing.
            return tempfile.TemporaryFile(dir=self.folder, buffering=SCRATCH_BUFFER)
        except OSError as e:
            self.failed_at(self.folder, e)
            return None

    def remove(self, name: str) -> None:
        if not self.folder or self.failed:
            return
        path = os.path.join(self.folder, name)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            pass  # nothing there to remove
        except OSError as e:
            self.failed_at(path, e)

    def newest(self, prefix: str) -> str | None:
        """The name of the most recently written file whose name starts with
        `prefix` (temporary files aside), or None."""
        if not self.folder:
            return None
        try:
            names = [n for n in os.listdir(self.folder) if n.startswith(prefix)]
        except OSError:
            return None
        newest, newest_time = None, None
        for name in names:
            if ".tmp" in name:
                continue
            try:
                mtime = os.stat(os.path.join(self.folder, name)).st_mtime
            except OSError:
                continue
            if newest_time is None or mtime > newest_time:
                newest, newest_time = name, mtime
        return newest

    def failed_at(self, path: str, error: OSError) -> None:
        """Stop writing cache files in this run, and say why (once)."""
        self.failed = True
        if self._warn is not None:
            self._warn(
                f"cannot write the cache file {path}: {error.strerror}; going on without "
                "the cache (only slower: nothing is lost)"
            )


class HashingWriter:
    """Buffered writes to a cache file, with the BLAKE3 of all of them at the
    end (`finish`): what a reader checks before trusting the file."""

    def __init__(self, f):
        self._f = f
        self._digest = blake3.blake3()
        self._buffer = bytearray()

    def write(self, data) -> None:
        if len(data) >= 1 << 20:
            self._flush()
            self._digest.update(data)
            self._f.write(data)
            return
        self._buffer += data
        if len(self._buffer) >= 1 << 20:
            self._flush()

    def _flush(self) -> None:
        self._digest.update(self._buffer)
        self._f.write(self._buffer)
        self._buffer = bytearray()

    def finish(self) -> None:
        self._flush()
        self._f.write(self._digest.digest())


def read_checked(f: io.BufferedReader, head: bytes, sizes: list[int]) -> list[bytearray] | None:
    """The parts of a file that HashingWriter wrote, after `head` (already
    read from `f`): a buffer of each of `sizes` bytes, read straight into
    it; None unless the file is exactly the head, those parts and the BLAKE3
    of all of them. The sizes come from the head, so they are checked
    against the file's before anything is allocated."""
    if min(sizes, default=0) < 0 or len(head) + sum(sizes) + 32 != os.fstat(f.fileno()).st_size:
        return None
    parts = [bytearray(size) for size in sizes]
    if any(f.readinto(part) != len(part) for part in parts):
        return None
    digest = blake3.blake3(head)
    for part in parts:
        digest.update(part)
    return parts if digest.digest() == f.read() else None


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
