"""Moving a repository's key between the repository (repokey modes) and a
key file on this machine (keyfile modes): `key change-location`.

The key material stays the same (no data is re-encrypted); its mode,
which the sealed key and the repository config both state, changes with
its place. The order keeps the repository usable at every moment:
1. the key is sealed anew under the new mode and stored in its new place;
2. the config is rewritten with the new mode (the switch);
3. the key is removed from its old place (unless kept).
This machine's record of the repository's mode is updated; another
machine that used the repository refuses it until its record is removed
(security.py: a mode that changed may be a server's downgrade).
"""

import os

from ..crypto.key import Key
from ..errors import ObjectNotFound, UsageError
from ..store.base import Store
from . import config as config_mod
from .config import RepoConfig
from .repository import REPOKEY_NAME, find_keyfile, save_envelope
from .security import remember_mode

_PARTNERS = {
    "repokey": "keyfile",
    "keyfile": "repokey",
    "repokey-chacha20-poly1305": "keyfile-chacha20-poly1305",
    "keyfile-chacha20-poly1305": "repokey-chacha20-poly1305",
}


def new_mode(mode: str, location: str) -> str:
    """The mode that keeps the key at `location` ("repokey" or "keyfile")."""
    if mode not in _PARTNERS:
        raise UsageError(f"the key of a repository in mode {mode!r} has no other place to go")
    if mode.startswith(location):
        raise UsageError(f"the key is in mode {mode!r} already")
    return _PARTNERS[mode]


def change_key_location(
    store: Store,
    key: Key,
    passphrase: str,
    location: str,
    keys_dir: str,
    key_file: str | None,
    security_dir: str | None,
    keep: bool = False,
) -> str:
    """Move the key (see the module docstring); returns its new place."""
    mode = new_mode(key.mode, location)
    old_file = find_keyfile(keys_dir, key.repo_id) if key.storage == "file" else None
    if key.storage == "file" and key_file:
        old_file = key_file
    moved = Key(mode, key.repo_id, key.enc_key, key.id_key, key.chunker_seed)
    where = save_envelope(store, moved, moved.seal(passphrase), keys_dir, key_file)
    config = RepoConfig(key.repo_id, mode)
    store.put(config_mod.NAME, config.to_bytes(), overwrite=True)
    remember_mode(security_dir, config)
    key.mode = mode
    if keep:
        return where
    if location == "keyfile":
        try:
            store.delete(REPOKEY_NAME)
        except ObjectNotFound:
            pass
    elif old_file and os.path.exists(old_file):
        os.unlink(old_file)
    return where
