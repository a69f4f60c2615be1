"""A repository: a store, its config and key, the chunk index, and the
sessions that write and read chunks."""

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ..crypto.early import EarlyDerivation, KdfInputs
from ..crypto.key import Key, check_mode, kdf_inputs, keyfile_text, parse_keyfile_text
from ..errors import (
    IntegrityError,
    KeyInvalid,
    ObjectNotFound,
    RepositoryExists,
    RepositoryNotFound,
)
from ..store.base import Store
from . import config as config_mod
from .cache import CacheDir
from .config import RepoConfig
from .index import ChunkIndex, load_index, write_cache
from .security import check_and_remember

REPOKEY_NAME = "keys/repokey"


class Repository:
    """warn: where problems with the local cache are reported (the cache is
    never fatal, and the core never prints)."""

    def __init__(
        self,
        store: Store,
        config: RepoConfig,
        key: Key,
        cache_dir: str | None,
        warn: Callable[[str], None] | None = None,
    ):
        self.store = store
        self.config = config
        self.key = key
        self.cipher = key.cipher()
        self.cache_dir = os.path.join(cache_dir, config.repo_id.hex()) if cache_dir else None
        self.cache = CacheDir(self.cache_dir, warn)
        self._index: ChunkIndex | None = None
        self._index_lock = threading.Lock()
        # The lock this process holds on the repository, if any (set by the caller).
        self.lock = None
        # The salt and cost its key was unsealed with (crypto/early.py).
        self.key_kdf: KdfInputs | None = None

    @property
    def id(self) -> bytes:
        return self.config.repo_id

    # -- creating and opening --------------------------------------------

    @classmethod
    def create(
        cls,
        store: Store,
        mode: str,
        passphrase: Callable[[], str],
        keys_dir: str,
        cache_dir: str | None = None,
        security_dir: str | None = None,
        key_file: str | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> "Repository":
        check_mode(mode)
        if store.exists():
            raise RepositoryExists(f"a repository already exists at {store.location}")
        repo_id = os.urandom(32)
        key = Key.generate(mode, repo_id)
        envelope = key.seal(passphrase()) if key.storage else b""  # no key to keep
        path = None
        if key.storage == "file":
            path = key_file or os.path.join(keys_dir, _keyfile_name(store.location))
            if os.path.exists(path):
                raise RepositoryExists(f"key file {path} exists; move it away or choose another")
            # First the key file: where it cannot be written, no repository is made.
            _write_private(path, keyfile_text(repo_id, envelope))
        try:
            store.create()
        except BaseException:
            if path is not None:
                os.unlink(path)
            raise
        config = RepoConfig(repo_id, mode)
        if key.storage == "repo":
            store.put(REPOKEY_NAME, envelope)
        # The config is written last: until it exists, this is no repository.
        store.put(config_mod.NAME, config.to_bytes())
        check_and_remember(security_dir, config)
        repo = cls(store, config, key, cache_dir, warn)
        repo.key_kdf = kdf_inputs(envelope) if envelope else None
        return repo

    @classmethod
    def open(
        cls,
        store: Store,
        passphrase: Callable[[], str],
        keys_dir: str,
        cache_dir: str | None = None,
        security_dir: str | None = None,
        key_file: str | None = None,
        envelope: bytes | None = None,
        warn: Callable[[str], None] | None = None,
        early: EarlyDerivation | None = None,
    ) -> "Repository":
        """envelope: the sealed key, when it comes from elsewhere (a pulling
        server hands over a keyfile key); it must still open with the
        passphrase and belong to this repository. early: a key derivation
        started ahead (used only if it matches the key)."""
        with ThreadPoolExecutor(max_workers=2) as pool:
            # The key is read while the config is (most repositories keep it
            # inside): through a server, one round trip instead of two. For
            # the other modes the guess finds nothing and is dropped.
            repokey = pool.submit(store.get, REPOKEY_NAME) if envelope is None else None
            config = read_config(store, pool)
            check_and_remember(security_dir, config)
            check_mode(config.mode)
            if config.mode != "none" and envelope is None:
                envelope = load_envelope(store, config, keys_dir, key_file, repokey)
        if config.mode == "none":
            return cls(store, config, Key("none", config.repo_id), cache_dir, warn)
        assert envelope is not None
        key = Key.unseal(envelope, passphrase(), config.repo_id, early)
        if key.mode != config.mode or key.repo_id != config.repo_id:
            raise KeyInvalid("the key does not match the repository's config")
        repo = cls(store, config, key, cache_dir, warn)
        repo.key_kdf = kdf_inputs(envelope)
        return repo

    # -- the chunk index --------------------------------------------------

    @property
    def index(self) -> ChunkIndex:
        """The chunk index, loaded on first use (by one thread only)."""
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    self._index = load_index(self.store, self.cipher, self.cache)
        return self._index

    def remember_index(self) -> None:
        """Save the chunk index in the cache as it is now, with the segments
        a writer added: the next command then reads none of them again (the
        200,000 chunks of a first backup took 1.6 s to read back)."""
        if self._index is not None:
            with self._index_lock:
                write_cache(self.cache, self._index)

    def replace_index(self, index: ChunkIndex) -> None:
        """Use `index` from now on (check --repair has rebuilt it)."""
        with self._index_lock:
            self._index = index

    def read_object(self, kind: int, obj_id: bytes) -> bytes:
        """Fetch and open one object from its pack (no decompression)."""
        try:
            pack, offset, length = self.index.lookup(obj_id)
        except KeyError:
            raise IntegrityError(f"chunk {obj_id.hex()[:16]} is missing from the index") from None
        try:
            blob = self.store.get(f"packs/{pack}", offset, length)
        except ObjectNotFound:
            raise IntegrityError(f"pack {pack[:16]} is missing") from None
        return self.cipher.open(kind, obj_id, blob)

    def close(self) -> None:
        self.store.close()


def read_config(store: Store, pool: ThreadPoolExecutor | None = None) -> RepoConfig:
    """The repository's config; with a `pool`, its marker is looked for
    while the config is read (through a server, one round trip for both)."""
    marked = pool.submit(store.exists) if pool is not None else None
    try:
        data = store.get(config_mod.NAME)
    except ObjectNotFound:
        data = None
    if data is None:
        raise RepositoryNotFound(
            f"no repository at {store.location}; create one with 'hutch repo-create'"
        )
    if not (marked.result() if marked is not None else store.exists()):
        # The marker says "this is a repository": without it, the folder may
        # be anything that happens to look like one.
        raise RepositoryNotFound(
            f"no repository at {store.location}: it has no hutch-store marker file; if it is "
            "a copy of a repository, copy that file as well"
        )
    return RepoConfig.from_bytes(data)


def _keyfile_name(location: str) -> str:
    safe = "".join(c if c.isalnum() else "_" for c in location.strip("/"))
    return safe[-100:] or "repo"


def _write_private(path: str, text: str) -> None:
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError as e:
        raise KeyInvalid(f"cannot write the key file {path}: {e.strerror}") from None


def find_keyfile(keys_dir: str, repo_id: bytes) -> str | None:
    try:
        names = sorted(os.listdir(keys_dir))
    except OSError:
        return None  # missing, or no folder: no key file there
    for name in names:
        path = os.path.join(keys_dir, name)
        try:
            with open(path) as f:
                if parse_keyfile_text(f.read())[0] == repo_id:
                    return path
        except (OSError, UnicodeDecodeError, KeyInvalid):
            continue
    return None


def load_envelope(
    store: Store,
    config: RepoConfig,
    keys_dir: str,
    key_file: str | None,
    fetching: "Future[bytes | bytearray] | None" = None,
) -> bytes:
    """The sealed key: from the repository (`fetching`: its read, already
    under way) or from a key file."""
    if Key(config.mode, config.repo_id).storage == "repo":
        try:
            return bytes(fetching.result() if fetching is not None else store.get(REPOKEY_NAME))
        except ObjectNotFound:
            raise KeyInvalid(
                "the repository's key is missing; restore it with 'hutch key import'"
            ) from None
    path = key_file or find_keyfile(keys_dir, config.repo_id)
    if not path:
        raise KeyInvalid(
            f"no key file for this repository in {keys_dir}; "
            "import it with 'hutch key import' or set HUTCH_KEY_FILE"
        )
    try:
        with open(path, errors="replace") as f:
            repo_id, envelope = parse_keyfile_text(f.read())
    except OSError as e:
        raise KeyInvalid(f"cannot read key file {path}: {e.strerror}") from None
    if repo_id != config.repo_id:
        raise KeyInvalid(f"key file {path} belongs to another repository")
    return envelope


def save_envelope(
    store: Store, key: Key, envelope: bytes, keys_dir: str, key_file: str | None
) -> str:
    """Store a (re-)sealed key where its mode keeps it; return where."""
    if key.storage == "repo":
        store.put(REPOKEY_NAME, envelope, overwrite=True)
        return f"{store.location} (repokey)"
    path = key_file or find_keyfile(keys_dir, key.repo_id)
    if path is None:
        path = os.path.join(keys_dir, _keyfile_name(store.location))
    tmp = path + ".tmp"
    try:
        if os.path.exists(tmp):
            os.unlink(tmp)
        _write_private(tmp, keyfile_text(key.repo_id, envelope))
        os.replace(tmp, path)
    except OSError as e:
        raise KeyInvalid(f"cannot write the key file {path}: {e.strerror}") from None
    return path
