"""A store in a local folder: one file per object, written atomically."""

import errno
import os
import shutil
import tempfile
import time

from ..errors import ObjectExists, ObjectNotFound, RepositoryExists, StoreError, StoreReadOnly
from .base import NAMESPACES, Leftover, ObjectInfo, Store, split_name

MARKER = "hutch-store"
# What writing to read-only media, or without write permission, fails with.
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)
TEMP_PREFIX = ".tmp-"  # a put writes here first; only a killed put leaves one behind
_MARKER_TEXT = b"This is a hutch repository. Do not change files in here by hand.\n"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore(Store):
    """Objects are files `ROOT/namespace/key`; packs fan out by two hex digits."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    @property
    def location(self) -> str:
        return self.root

    def _path(self, name: str) -> str:
        namespace, key = split_name(name)
        if namespace == "packs":
            return os.path.join(self.root, namespace, key[:2], key)
        return os.path.join(self.root, namespace, key)

    def exists(self) -> bool:
        return os.path.isfile(os.path.join(self.root, MARKER))

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
            for ns in NAMESPACES:
                os.makedirs(os.path.join(self.root, ns), exist_ok=True)
            with open(os.path.join(self.root, MARKER), "wb") as f:
                f.write(_MARKER_TEXT)
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(self.root)
        except OSError as e:
            raise StoreError(f"cannot create repository at {self.root}: {e.strerror}") from e

    def destroy(self) -> None:
        shutil.rmtree(self.root)

    def put(self, name: str, data: bytes, overwrite: bool = False) -> None:
        path = self._path(name)
        folder = os.path.dirname(path)
        if not overwrite and os.path.exists(path):
            raise ObjectExists(f"object {name} exists")
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                if overwrite:
                    os.replace(tmp, path)
                else:
                    # link() fails if the name exists: no writer can replace another's object.
                    os.link(tmp, path)
                    os.unlink(tmp)
            except BaseException:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
                raise
            _fsync_dir(folder)
        except FileExistsError as e:
            raise ObjectExists(f"object {name} exists") from e
        except OSError as e:
            cls = StoreReadOnly if e.errno in _READ_ONLY else StoreError
            raise cls(f"cannot write {name} in {self.root}: {e.strerror}") from e

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        path = self._path(name)
        try:
            with open(path, "rb") as f:
                if offset:
                    f.seek(offset)
                return f.read() if length is None else f.read(length)
        except FileNotFoundError as e:
            raise ObjectNotFound(f"object {name} not found") from e
        except OSError as e:
            raise StoreError(f"cannot read {name} in {self.root}: {e.strerror}") from e

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            os.unlink(path)
        except FileNotFoundError as e:
            raise ObjectNotFound(f"object {name} not found") from e
        except OSError as e:
            raise StoreError(f"cannot delete {name} in {self.root}: {e.strerror}") from e
        _fsync_dir(os.path.dirname(path))

    def info(self, name: str) -> ObjectInfo:
        try:
            st = os.stat(self._path(name))
        except FileNotFoundError as e:
            raise ObjectNotFound(f"object {name} not found") from e
        return ObjectInfo(name, st.st_size)

    def list(self, namespace: str) -> list[ObjectInfo]:
        if namespace not in NAMESPACES:
            raise StoreError(f"unknown namespace {namespace!r}")
        top = os.path.join(self.root, namespace)
        folders = [top]
        if namespace == "packs":
            folders = [e.path for e in _scandir(top) if e.is_dir()]
        result = []
        for folder in folders:
            for entry in _scandir(folder):
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
                result.append(ObjectInfo(f"{namespace}/{entry.name}", size))
        return result

    def _folders(self) -> "list[str]":
        """Every folder a put writes into."""
        folders = []
        for ns in NAMESPACES:
            top = os.path.join(self.root, ns)
            folders.append(top)
            if ns == "packs":
                folders += [e.path for e in _scandir(top) if e.is_dir(follow_symlinks=False)]
        return folders

    def leftovers(self, remove_older_than: float | None = None) -> "list[Leftover]":
        found = []
        now = time.time()
        for folder in self._folders():
            for entry in _scandir(folder):
                if not entry.name.startswith(TEMP_PREFIX):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # its put finished
                name = os.path.relpath(entry.path, self.root)
                age = max(now - st.st_mtime, 0.0)
                removed = False
                if remove_older_than is not None and age >= remove_older_than:
                    try:
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        continue
                    except OSError as e:
                        raise StoreError(
                            f"cannot remove {name} in {self.root}: {e.strerror}"
                        ) from e
                    removed = True
                found.append(Leftover(name, st.st_size, age, removed))
        return found


def _scandir(path: str) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except FileNotFoundError:
        return []
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            return []
        raise StoreError(f"cannot list {path}: {e.strerror}") from e
