"""What every command needs: the user's directories, and opening a
repository in the mode the command declares (with its lock)."""

import contextlib
import os
from dataclasses import dataclass

from ..remote.open import RemoteOptions, open_store
from ..repo.lock import Lock
from ..repo.repository import Repository, read_config
from .output import relay_remote_line
from .passphrase import PassphraseSource


def _xdg(var: str, fallback: str) -> str:
    return os.environ.get(var) or os.path.join(os.path.expanduser("~"), fallback)


@dataclass
class Dirs:
    cache: str
    config: str

    @classmethod
    def from_environment(cls) -> "Dirs":
        cache = os.environ.get("HUTCH_CACHE_DIR") or os.path.join(
            _xdg("XDG_CACHE_HOME", ".cache"), "hutch"
        )
        config = os.environ.get("HUTCH_CONFIG_DIR") or os.path.join(
            _xdg("XDG_CONFIG_HOME", ".config"), "hutch"
        )
        return cls(cache, config)

    @property
    def keys(self) -> str:
        return os.environ.get("HUTCH_KEYS_DIR") or os.path.join(self.config, "keys")

    @property
    def security(self) -> str:
        return os.path.join(self.config, "security")


class Context:
    def __init__(self, args):
        self.args = args
        self.dirs = Dirs.from_environment()
        self.key_file = os.environ.get("HUTCH_KEY_FILE") or None

    def store(self, location: str):
        level = self.args.log_level
        remote = RemoteOptions(
            rsh=self.args.rsh,
            remote_path=self.args.remote_path,
            socket_path=self.args.socket or None,
            serve_options=(f"--{level}",) if level in ("info", "debug") else (),
            on_remote_line=lambda line: relay_remote_line("Remote", line),
        )
        return open_store(location, remote)

    @contextlib.contextmanager
    def keyless(self, location: str, lock: str = "exclusive"):
        """The repository's store, without its key (no passphrase is asked
        for or read): for what the server's operator does with what the
        repository publishes. Refuses a location that holds no repository."""
        store = self.store(location)
        try:
            read_config(store)
            with Lock(store, lock == "exclusive", self.args.lock_wait):
                yield store
        finally:
            store.close()

    @contextlib.contextmanager
    def repository(
        self, location: str, lock: str | None = "shared", passphrase: PassphraseSource | None = None
    ):
        """Open the repository; lock: "shared", "exclusive" or None;
        `passphrase`: where the passphrase comes from, for a command that
        needs it again (it asks once)."""
        store = self.store(location)
        try:
            repo = Repository.open(
                store,
                passphrase or PassphraseSource(offered=getattr(store, "offered_passphrase", None)),
                self.dirs.keys,
                cache_dir=self.dirs.cache,
                security_dir=self.dirs.security,
                key_file=self.key_file,
                envelope=getattr(store, "offered_key", None),
            )
            if lock is None:
                yield repo
            else:
                exclusive = lock == "exclusive"
                with Lock(store, exclusive, self.args.lock_wait, repo.cipher) as held:
                    repo.lock = held
                    yield repo
        finally:
            store.close()
