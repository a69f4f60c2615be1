"""Argon2id, the derivation of the key that protects a repository's key, and
deriving it ahead of the moment the sealed key is read.

Argon2id takes 0.13-0.2 s and 64 MiB in every command that opens an
encrypted repository. Its salt sits in the sealed key, inside the
repository, so the derivation used to wait until the repository was
reached. The salt and cost of a repository's key are not secret (they are
stored beside the ciphertext), so a command may remember them per location
(repo/kdfhints.py) and derive from them before it needs the key: in a
thread while it logs in to a remote server, or before it loads the rest of
hutch for a local repository (cli/keyahead.py), if it has the passphrase
without asking (HUTCH_PASSPHRASE, HUTCH_PASSCOMMAND or HUTCH_PASSPHRASE_FD).

The result is used only for exactly the passphrase, salt and cost the
sealed key names, and the sealed key still has to open with it: nothing is
trusted that was not before. A changed key or passphrase just derives again.

This module is loaded before the rest of hutch and imports little: the
binding to the Argon2 reference code weighs 0.4 MiB, cryptography 7.5.
"""

import os
import threading
from collections.abc import Callable

from _argon2_cffi_bindings import ffi, lib

from .. import workers
from ..errors import KeyInvalid

KdfInputs = tuple[bytes, dict[str, int]]  # (salt, {"iterations", "lanes", "memory_cost"})

_ARGON2_VERSION = 0x13


def kdf_params() -> dict[str, int]:
    """The cost of a new key; a test-only variable weakens it so the suite stays fast."""
    if os.environ.get("HUTCH_TESTONLY_WEAKEN_KDF") == "1":
        return {"iterations": 1, "lanes": 1, "memory_cost": 8}
    return {"iterations": 3, "lanes": 4, "memory_cost": 64 * 1024}


def affordable(params: dict[str, int]) -> bool:
    """Whether a cost read from a file in the cache is at most a new key's:
    a hint must not be able to make hutch spend more than it would anyway."""
    return all(params.get(name, 0) <= limit for name, limit in kdf_params().items())


def derive(passphrase: str, salt: bytes, params: dict[str, int]) -> bytes:
    """The 32-byte key-encryption key. The lanes run on up to as many threads
    as hutch may use (the threads do not change the result)."""
    iterations, lanes, memory_cost = params["iterations"], params["lanes"], params["memory_cost"]
    if not (1 <= iterations <= 64 and 1 <= lanes <= 64):
        raise KeyInvalid("the key's KDF parameters are out of range")
    if not (8 * lanes <= memory_cost <= 4 * 1024 * 1024):
        raise KeyInvalid("the key's KDF parameters are out of range")
    secret = passphrase.encode()
    out = ffi.new("uint8_t[]", 32)
    pwd = ffi.new("uint8_t[]", secret)
    salt_buffer = ffi.new("uint8_t[]", salt)
    context = ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": 32,
            "pwd": pwd,
            "pwdlen": len(secret),
            "salt": salt_buffer,
            "saltlen": len(salt),
            "secret": ffi.NULL,
            "secretlen": 0,
            "ad": ffi.NULL,
            "adlen": 0,
            "t_cost": iterations,
            "m_cost": memory_cost,
            "lanes": lanes,
            "threads": min(lanes, workers.count()),
            "version": _ARGON2_VERSION,
            "allocate_cbk": ffi.NULL,
            "free_cbk": ffi.NULL,
            "flags": lib.ARGON2_DEFAULT_FLAGS,
        },
    )
    rc = lib.argon2_ctx(context, lib.Argon2_id)
    if rc != lib.ARGON2_OK:
        message = ffi.string(lib.argon2_error_message(rc)).decode()
        raise KeyInvalid(f"cannot derive the key from the passphrase: {message}")
    return bytes(out)


class EarlyDerivation:
    """One derivation of a key ahead of its use: now (`background=False`), or
    in a daemon thread (Argon2id releases the GIL), so a command that fails
    meanwhile does not wait for it at exit."""

    def __init__(
        self,
        derive: Callable[[str, bytes, dict], bytes],
        passphrase: str,
        kdf: KdfInputs,
        background: bool = True,
    ):
        self.passphrase = passphrase
        self._inputs = (passphrase, kdf[0], dict(kdf[1]))
        self._kek: bytes | None = None
        self._done = threading.Event()
        if background:
            threading.Thread(
                target=self._run, args=(derive,), daemon=True, name="early-kdf"
            ).start()
        else:
            self._run(derive)

    def _run(self, derive: Callable[[str, bytes, dict], bytes]) -> None:
        try:
            self._kek = derive(*self._inputs)
        except Exception:
            self._kek = None  # the command derives again and reports what is wrong
        finally:
            self._done.set()

    def derives(self, kdf: KdfInputs) -> bool:
        """Whether this is the derivation for `kdf`'s salt and cost."""
        return (kdf[0], dict(kdf[1])) == self._inputs[1:]

    def kek_for(self, passphrase: str, salt: bytes, params: dict) -> bytes | None:
        """The derived key if it was derived from exactly these inputs. Waits
        for the derivation either way: two at once would need twice the
        memory (64 MiB each by default)."""
        self._done.wait()
        return self._kek if (passphrase, salt, params) == self._inputs else None
