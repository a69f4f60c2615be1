"""What every command needs: the user's directories, and opening a
repository in the mode the command declares (with its lock)."""

import contextlib
import os

from ..crypto.early import KdfInputs
from ..crypto.key import start_derivation
from ..errors import StoreReadOnly, UsageError
from ..remote.open import RemoteOptions, open_store
from ..remote.urls import parse_location
from ..repo import kdfhints
from ..repo.cache import CacheDir
from ..repo.lock import Lock
from ..repo.repository import Repository, read_config
from . import keyahead
from .dirs import Dirs
from .output import logger, notices, relay_remote_line
from .passphrase import PassphraseSource
from .passphrase import from_environment as passphrase_from_environment


class Context:
    def __init__(self, args):
        self.args = args
        self.dirs = Dirs.from_environment()
        self.key_file = os.environ.get("HUTCH_KEY_FILE") or None

    @property
    def _command(self) -> str:
        return getattr(self.args, "command", None) or "this command"

    def store(self, location: str):
        level = self.args.log_level
        remote = RemoteOptions(
            rsh=self.args.rsh,
            remote_path=self.args.remote_path,
            socket_path=self.args.socket or None,
            serve_options=(f"--{level}",) if level in ("info", "debug") else (),
            on_remote_line=lambda line: relay_remote_line("Remote", line),
            on_retry=logger.warning,
        )
        return open_store(location, remote)

    def _check_bypass(self, lock: str | None, reads_only: bool) -> None:
        if getattr(self.args, "bypass_lock", False) and lock is not None and not reads_only:
            raise UsageError(
                f"--bypass-lock is for commands that only read; 'hutch {self._command}' "
                "changes the repository and needs its lock"
            )

    @contextlib.contextmanager
    def _held(self, store, lock: str | None, reads_only: bool, cipher=None):
        """The lock the command declares, held while it runs (see repository)."""
        held = None
        if lock is not None and not getattr(self.args, "bypass_lock", False):
            held = self._lock(store, lock == "exclusive", cipher, reads_only)
        try:
            yield held
        finally:
            if held is not None:
                held.release()

    @contextlib.contextmanager
    def keyless(self, location: str, lock: str = "exclusive", reads_only: bool = False):
        """The repository's store, without its key (no passphrase is asked
        for or read): for what the server's operator does with what the
        repository publishes. Refuses a location that holds no repository."""
        self._check_bypass(lock, reads_only)
        store = self.store(location)
        try:
            read_config(store)
            with self._held(store, lock, reads_only):
                yield store
        finally:
            store.close()

    @contextlib.contextmanager
    def repository(
        self,
        location: str,
        lock: str | None = "shared",
        reads_only: bool = False,
        passphrase: PassphraseSource | None = None,
    ):
        """Open the repository; lock: "shared", "exclusive" or None;
        `passphrase`: where the passphrase comes from, for a command that
        needs it again (it asks once).

        A command that only reads (`reads_only`) runs without a lock with
        --bypass-lock, and where the repository cannot be written at all
        (read-only media), with a notice; any other command refuses both."""
        self._check_bypass(lock, reads_only)
        hints, where = self.key_salt_hints(location)
        early = known = None
        kdf = kdfhints.remembered(hints, where) if where else None
        ahead = keyahead.derived() if passphrase is None else None
        if ahead is not None:
            known = ahead.passphrase  # read once: a command or fd gives it once
            early = ahead if kdf is None or ahead.derives(kdf) else start_derivation(known, kdf)
        elif kdf is not None and passphrase is None:
            # A passphrase given without a prompt (variable, command or fd) is
            # read now, and the key derived while the store is reached; the
            # result is used only if the key still matches.
            known = passphrase_from_environment()
            if known is not None:
                early = start_derivation(known, kdf)
        store = self.store(location)
        try:
            offered = getattr(store, "offered_passphrase", None)
            repo = Repository.open(
                store,
                passphrase or PassphraseSource(offered=known if offered is None else offered),
                self.dirs.keys,
                cache_dir=self.dirs.cache,
                security_dir=self.dirs.security,
                key_file=self.key_file,
                envelope=getattr(store, "offered_key", None),
                warn=notices.warning,
                early=early,
            )
            self.remember_key_salt(location, repo.key_kdf)
            with self._held(store, lock, reads_only, repo.cipher) as held:
                repo.lock = held
                yield repo
        finally:
            store.close()

    def key_salt_hints(self, location: str) -> tuple[CacheDir, str | None]:
        """Where the salt of `location`'s key is remembered, and under which
        name (None: not for this location). Quiet when it cannot be written:
        only the overlap is lost, and the repository's cache warns anyway."""
        return CacheDir(os.path.join(self.dirs.cache, kdfhints.FOLDER)), _hint_location(location)

    def remember_key_salt(self, location: str, kdf: KdfInputs | None) -> None:
        """For the next command at `location` (see key_salt_hints)."""
        hints, where = self.key_salt_hints(location)
        if where and kdf is not None:
            kdfhints.remember(hints, where, kdf)

    def _lock(self, store, exclusive: bool, cipher, reads_only: bool) -> Lock | None:
        """The lock, taken; None where reading goes on without one."""
        try:
            return Lock(store, exclusive, self.args.lock_wait, cipher).acquire()
        except StoreReadOnly as e:
            if not reads_only:
                raise StoreReadOnly(
                    f"{e}: the repository cannot be written, and 'hutch {self._command}' "
                    "changes it (list, extract, check and other reading commands work there)"
                ) from None
            logger.warning(
                f"the repository at {store.location} cannot be written ({e}); "
                "reading it without a lock"
            )
            return None


def _hint_location(location: str) -> str | None:
    """`location` as the key-salt hints know it (a local path made absolute);
    None where one name stands for many repositories (a pulling server)."""
    try:
        loc = parse_location(location)
    except UsageError:
        return None  # reported when the store is opened
    if loc.scheme == "stdio":
        return None
    return os.path.abspath(loc.path) if loc.scheme == "file" else location
