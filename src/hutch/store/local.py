"""A store in a local folder: one file per object, written atomically.

Every operation works relative to a descriptor of the repository folder,
opened once (`pin`): a folder swapped for a symlink later (by someone with
write access next to it) cannot redirect a server's writes outside the
path it checked.
"""

import builtins
import errno
import os
import shutil
import stat
import threading
import time

from ..errors import ObjectExists, ObjectNotFound, RepositoryExists, StoreError, StoreReadOnly
from .base import NAMESPACES, Leftover, ObjectInfo, Store, split_name

MARKER = "hutch-store"
# What writing to read-only media, or without write permission, fails with.
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
TEMP_PREFIX = ".tmp-"  # a put writes here first; only a killed put leaves one behind
_MARKER_TEXT = b"This is a hutch repository. Do not change files in here by hand.\n"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _fsync_dir(path: str, dir_fd: int | None = None) -> None:
    fd = os.open(path, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class LocalStore(Store):
    """Objects are files `ROOT/namespace/key`; packs fan out by two hex digits."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._fd: int | None = None
        self._fd_lock = threading.Lock()

    @property
    def location(self) -> str:
        return self.root

    def pin(self) -> str:
        """Open the folder now and return the real path of what was opened."""
        fd = self._root_fd()
        return os.readlink(f"/proc/self/fd/{fd}")

    def _root_fd(self) -> int:
        if self._fd is None:
            with self._fd_lock:
                if self._fd is None:
                    self._fd = os.open(self.root, _DIR_FLAGS)
        return self._fd

    def _rel(self, name: str) -> str:
        namespace, key = split_name(name)
        if namespace == "packs":
            return f"{namespace}/{key[:2]}/{key}"
        return f"{namespace}/{key}"

    def exists(self) -> bool:
        try:
            st = os.stat(MARKER, dir_fd=self._root_fd())
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode)

    def create(self) -> None:
        if self.exists():
            raise RepositoryExists(f"a repository already exists at {self.root}")
        if os.path.exists(self.root):
            if not os.path.isdir(self.root):
                raise RepositoryExists(f"{self.root} exists and is not a folder")
            if os.listdir(self.root):
                raise RepositoryExists(
                    f"{self.root} is not empty; choose an empty or new folder for the repository"
                )
        try:
            os.makedirs(self.root, exist_ok=True)
            fd = self._root_fd()
            for ns in NAMESPACES:
                os.mkdir(ns, dir_fd=fd)
            marker = os.open(MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666, dir_fd=fd)
            try:
                _write_all(marker, _MARKER_TEXT)
                os.fsync(marker)
            finally:
                os.close(marker)
            os.fsync(fd)
        except OSError as e:
            raise StoreError(f"cannot create repository at {self.root}: {e.strerror}") from e

    def destroy(self) -> None:
        fd = self._root_fd()
        for entry in os.listdir(fd):
            if stat.S_ISDIR(os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mode):
                shutil.rmtree(entry, dir_fd=fd)
            else:
                os.unlink(entry, dir_fd=fd)
        self.close()
        os.rmdir(self.root)

    def put(self, name: str, data: bytes | bytearray, overwrite: bool = False) -> None:
        rel = self._rel(name)
        folder = os.path.dirname(rel)
        try:
            fd = self._root_fd()
            if not overwrite and _exists_at(rel, fd):
                raise ObjectExists(f"object {name} exists")
            _make_folders(folder, fd)
            tmp = f"{folder}/{TEMP_PREFIX}{os.urandom(8).hex()}"
            out = os.open(
                tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=fd,
            )
            try:
                try:
                    _write_all(out, data)
                    os.fsync(out)
                finally:
                    os.close(out)
                if overwrite:
                    os.replace(tmp, rel, src_dir_fd=fd, dst_dir_fd=fd)
                else:
                    # link() fails if the name exists: no writer can replace another's object.
                    os.link(tmp, rel, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
                    os.unlink(tmp, dir_fd=fd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=fd)
                except FileNotFoundError:
                    pass
                raise
            _fsync_dir(folder, fd)
        except FileExistsError as e:
            raise ObjectExists(f"object {name} exists") from e
        except OSError as e:
            cls = StoreReadOnly if e.errno in _READ_ONLY else StoreError
            raise cls(f"cannot write {name} in {self.root}: {e.strerror}") from e

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        rel = self._rel(name)
        try:
            fd = os.open(rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._root_fd())
        except FileNotFoundError as e:
            raise ObjectNotFound(f"object {name} not found") from e
        except OSError as e:
            raise StoreError(f"cannot read {name} in {self.root}: {e.strerror}") from e
        try:
            size = os.fstat(fd).st_size
            # Never allocate more than is there, whatever length was asked for.
            want = max(0, size - offset) if length is None else max(0, min(length, size - offset))
            parts = []
            while want:
                part = os.pread(fd, min(want, 1 << 26), offset)
                if not part:
                    break
                parts.append(part)
                offset += len(part)
                want -= len(part)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        except OSError as e:
            raise StoreError(f"cannot read {name} in {self.root}: {e.strerror}") from e
        finally:
            os.close(fd)

    def delete(self, name: str) -> None:
        rel = self._rel(name)
        try:
            fd = self._root_fd()
            os.unlink(rel, dir_fd=fd)
            _fsync_dir(os.path.dirname(rel), fd)
        except FileNotFoundError as e:
            raise ObjectNotFound(f"object {name} not found") from e
        except OSError as e:
            raise StoreError(f"cannot delete {name} in {self.root}: {e.strerror}") from e

    def info(self, name: str) -> ObjectInfo:
        try:
            st = os.stat(self._rel(name), dir_fd=self._root_fd(), follow_symlinks=False)
        except FileNotFoundError as e:
            raise ObjectNotFound(f"object {name} not found") from e
        except OSError as e:
            raise StoreError(f"cannot read {name} in {self.root}: {e.strerror}") from e
        return ObjectInfo(name, st.st_size)

    def list(self, namespace: str) -> list[ObjectInfo]:
        if namespace not in NAMESPACES:
            raise StoreError(f"unknown namespace {namespace!r}")
        try:
            root = self._root_fd()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise StoreError(f"cannot list {namespace} in {self.root}: {e.strerror}") from e
        folders = [namespace]
        if namespace == "packs":
            folders = [f"packs/{e.name}" for e in _scandir(namespace, root) if e.is_dir()]
        result = []
        for folder in folders:
            for entry in _scandir(folder, root):
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
                result.append(ObjectInfo(f"{namespace}/{entry.name}", size))
        return result

    def _folders(self, root: int) -> builtins.list[str]:
        """Every folder a put writes into, relative to the root."""
        folders = []
        for ns in NAMESPACES:
            folders.append(ns)
            if ns == "packs":
                folders += [
                    f"packs/{e.name}" for e in _scandir(ns, root) if e.is_dir(follow_symlinks=False)
                ]
        return folders

    def leftovers(self, remove_older_than: float | None = None) -> builtins.list[Leftover]:
        try:
            root = self._root_fd()
        except OSError as e:
            raise StoreError(f"cannot look into {self.root}: {e.strerror}") from e
        found = []
        now = time.time()
        for folder in self._folders(root):
            for entry in _scandir(folder, root):
                if not entry.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # its put finished
                name = f"{folder}/{entry.name}"
                age = max(now - st.st_mtime, 0.0)
                removed = False
                if remove_older_than is not None and age >= remove_older_than:
                    try:
                        os.unlink(name, dir_fd=root)
                    except FileNotFoundError:
                        continue
                    except OSError as e:
                        raise StoreError(
                            f"cannot remove {name} in {self.root}: {e.strerror}"
                        ) from e
                    removed = True
                found.append(Leftover(name, st.st_size, age, removed))
        return found

    def close(self) -> None:
        with self._fd_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _exists_at(rel: str, dir_fd: int) -> bool:
    try:
        os.stat(rel, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _make_folders(folder: str, dir_fd: int) -> None:
    """Make `folder` (a namespace, or packs/XX) below the root if missing."""
    try:
        os.mkdir(folder, dir_fd=dir_fd)
    except FileExistsError:
        pass
    except FileNotFoundError:
        # The namespace folder is missing too (a namespace newer than the repository).
        os.mkdir(folder.split("/", 1)[0], dir_fd=dir_fd)
        os.mkdir(folder, dir_fd=dir_fd)


def _scandir(folder: str, root: int) -> list[os.DirEntry]:
    try:
        fd = os.open(folder, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=root)
    except FileNotFoundError:
        return []
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.ELOOP):
            return []
        raise StoreError(f"cannot list {folder}: {e.strerror}") from e
    try:
        with os.scandir(fd) as it:
            entries = list(it)
        # DirEntry of a descriptor scan stat relative to it: stat now, while it is open.
        for entry in entries:
            entry.is_dir(follow_symlinks=False)
            try:
                entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                pass
        return entries
    finally:
        os.close(fd)
