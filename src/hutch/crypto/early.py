"""Deriving the key-encryption key while the repository is still being reached.

Argon2id takes about 0.17 s of one core in every command that opens an
encrypted repository. Over ssh the login alone takes longer than that, and
the key derivation waited for it because its salt sits in the sealed key,
inside the repository. The salt and cost of a repository's key are not
secret (they are stored beside the ciphertext), so a command may remember
them per location; the next command derives from them in a thread while it
connects, if it has the passphrase without asking (HUTCH_PASSPHRASE,
HUTCH_PASSCOMMAND or HUTCH_PASSPHRASE_FD).

The result is used only for exactly the passphrase, salt and cost the
sealed key names, and the sealed key still has to open with it: nothing is
trusted that was not before. A changed key or passphrase just derives again.
"""

import threading
from collections.abc import Callable

KdfInputs = tuple[bytes, dict[str, int]]  # (salt, {"iterations", "lanes", "memory_cost"})


class EarlyDerivation:
    """One derivation started in a daemon thread (Argon2id releases the GIL),
    so a command that fails meanwhile does not wait for it at exit."""

    def __init__(
        self, derive: Callable[[str, bytes, dict], bytes], passphrase: str, kdf: KdfInputs
    ):
        self._inputs = (passphrase, kdf[0], dict(kdf[1]))
        self._kek: bytes | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(derive,), daemon=True, name="early-kdf"
        )
        self._thread.start()

    def _run(self, derive: Callable[[str, bytes, dict], bytes]) -> None:
        try:
            self._kek = derive(*self._inputs)
        except Exception:
            self._kek = None  # the command derives again and reports what is wrong
        finally:
            self._done.set()

    def kek_for(self, passphrase: str, salt: bytes, params: dict) -> bytes | None:
        """The derived key if it was derived from exactly these inputs. Waits
        for the derivation either way: two at once would need twice the
        memory (64 MiB each by default)."""
        self._done.wait()
        return self._kek if (passphrase, salt, params) == self._inputs else None
