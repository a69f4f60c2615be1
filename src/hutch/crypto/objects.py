"""Sealing and opening repository objects.

Object layout (all suites start with the same three bytes):

    version(1) | suite(1) | kind(1) | suite-specific part

- suite 0 (none):          | plaintext
- suite 1 (authenticated): | mac(32) | plaintext
- suite 2/3 (AES-256-OCB / ChaCha20-Poly1305):
                           | session_id(16) | counter(8) | ciphertext+tag(16)

The associated data of the AEAD (and the input of the MAC) binds the three
header bytes and the object's id, so an object cannot be passed off as
another or as another kind. Nonces never repeat: each writer session uses
its own subkey, derived from the encryption key and a random 128-bit
session id, with a counter as nonce.
"""

import itertools
import os
import threading
import weakref

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESOCB3, ChaCha20Poly1305

from ..errors import IntegrityError

VERSION = 1
SUITE_NONE, SUITE_AUTHENTICATED, SUITE_AES_OCB, SUITE_CHACHA = 0, 1, 2, 3
_AEADS = {SUITE_AES_OCB: AESOCB3, SUITE_CHACHA: ChaCha20Poly1305}
_AEAD_HEADER = 3 + 16 + 8
_AEAD_TAG = 16  # OCB's and Poly1305's alike
_SEAL_INTO_FROM = 64 * 1024


class ObjectKind:
    """What an object is; part of what its authentication covers."""

    CHUNK = 1  # a piece of file content
    ITEMS = 2  # a piece of an archive's item stream
    ARCHIVE = 3  # an archive entry (the commit point of a backup)
    INDEX = 4  # an index segment
    PACK_HEADER = 5  # the table of contents at the end of a pack
    LOCK = 6  # the host name in a lock record


class ObjectCipher:
    """Seals and opens objects with one key; thread-safe."""

    def __init__(self, suite: int, enc_key: bytes = b"", mac_key: bytes = b""):
        self.suite = suite
        self._enc_key = enc_key
        self._mac_key = mac_key
        self._aeads: dict[bytes, object] = {}
        self._new_session()
        _ciphers.add(self)

    def _new_session(self) -> None:
        self._session_id = os.urandom(16)
        self._counter = itertools.count()
        self._counter_lock = threading.Lock()
        if self.suite in _AEADS:
            self._sealer = self._aead_for(self._session_id)

    def _aead_for(self, session_id: bytes):
        aead = self._aeads.get(session_id)
        if aead is None:
            subkey = blake3.blake3(session_id, key=self._enc_key).digest()
            aead = _AEADS[self.suite](subkey)
            if len(self._aeads) > 1024:
                self._aeads.clear()
            self._aeads[session_id] = aead
        return aead

    def seal(self, kind: int, obj_id: bytes, plaintext: bytes) -> bytes | bytearray:
        header = bytes((VERSION, self.suite, kind))
        if self.suite == SUITE_NONE:
            return header + plaintext
        if self.suite == SUITE_AUTHENTICATED:
            mac = blake3.blake3(header + obj_id + plaintext, key=self._mac_key).digest()
            return header + mac + plaintext
        with self._counter_lock:
            counter = next(self._counter)
        nonce_part = self._session_id + counter.to_bytes(8, "big")
        nonce = counter.to_bytes(12, "big")
        additional = header + nonce_part + obj_id
        if len(plaintext) < _SEAL_INTO_FROM:
            return header + nonce_part + self._sealer.encrypt(nonce, plaintext, additional)
        # Large: the ciphertext goes straight behind its header, one pass
        # over fresh memory instead of two (a sealed 2 MiB chunk took a fifth
        # of the time; below 64 KiB, the buffer's set-up costs more).
        blob = bytearray(_AEAD_HEADER + len(plaintext) + _AEAD_TAG)
        blob[:_AEAD_HEADER] = header + nonce_part
        with memoryview(blob) as view:
            self._sealer.encrypt_into(nonce, plaintext, additional, view[_AEAD_HEADER:])
        return blob

    def open(self, kind: int, obj_id: bytes, blob: bytes | bytearray | memoryview) -> bytes:
        """Authenticate and decrypt; raise IntegrityError on any mismatch.
        `blob` may be any buffer: the ciphertext is not copied before decryption."""
        blob = memoryview(blob)
        if len(blob) < 3 or blob[0] != VERSION:
            raise IntegrityError(f"object {obj_id.hex()[:16]} is damaged (bad header)")
        header = bytes(blob[:3])
        if blob[1] != self.suite:
            raise IntegrityError(
                f"object {obj_id.hex()[:16]} was written with another encryption suite"
            )
        if blob[2] != kind:
            raise IntegrityError(f"object {obj_id.hex()[:16]} is not of the expected kind")
        if self.suite == SUITE_NONE:
            return bytes(blob[3:])
        if self.suite == SUITE_AUTHENTICATED:
            mac, plaintext = bytes(blob[3:35]), bytes(blob[35:])
            expected = blake3.blake3(header + obj_id + plaintext, key=self._mac_key).digest()
            if mac != expected:
                raise IntegrityError(f"object {obj_id.hex()[:16]} failed authentication")
            return plaintext
        if len(blob) < _AEAD_HEADER + _AEAD_TAG:
            raise IntegrityError(f"object {obj_id.hex()[:16]} is damaged (too short)")
        session_id, counter = bytes(blob[3:19]), bytes(blob[19:27])
        nonce = bytes(4) + counter
        try:
            return self._aead_for(session_id).decrypt(
                nonce, blob[_AEAD_HEADER:], header + session_id + counter + obj_id
            )
        except InvalidTag:
            raise IntegrityError(f"object {obj_id.hex()[:16]} failed authentication") from None


# A forked process that seals (the walk's helper, archive/prescan.py) would
# otherwise go on counting from the parent's counter under the parent's
# session: the same nonces with the same subkey. Each cipher starts a
# session of its own in the child, with a lock no parent thread can hold.
_ciphers: "weakref.WeakSet[ObjectCipher]" = weakref.WeakSet()


def _new_sessions_after_fork() -> None:
    for cipher in list(_ciphers):
        cipher._new_session()


os.register_at_fork(after_in_child=_new_sessions_after_fork)
