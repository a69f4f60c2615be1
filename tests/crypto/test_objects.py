"""Sealing and opening repository objects: authentication binds kind, id
and every byte; nonces never repeat."""

import os
import signal
import threading

import pytest

from hutch.crypto.objects import (
    SUITE_AES_OCB,
    SUITE_AUTHENTICATED,
    SUITE_CHACHA,
    SUITE_NONE,
    ObjectCipher,
    ObjectKind,
)
from hutch.errors import IntegrityError

KEY = bytes(range(32))
AUTHENTICATING = [SUITE_AUTHENTICATED, SUITE_AES_OCB, SUITE_CHACHA]
ENCRYPTING = [SUITE_AES_OCB, SUITE_CHACHA]


def _cipher(suite):
    return ObjectCipher(suite, KEY, KEY)


@pytest.mark.parametrize("suite", [SUITE_NONE] + AUTHENTICATING)
def test_round_trip(suite):
    for plain in (b"", b"x", os.urandom(100_000)):
        blob = _cipher(suite).seal(ObjectKind.CHUNK, b"id", plain)
        # Any cipher of the same key opens it (another session, another process).
        assert _cipher(suite).open(ObjectKind.CHUNK, b"id", blob) == plain


@pytest.mark.parametrize("suite", ENCRYPTING)
def test_ciphertext_hides_the_plaintext(suite):
    plain = b"marker text " * 100
    blob = _cipher(suite).seal(ObjectKind.CHUNK, b"id", plain)
    assert b"marker" not in blob


@pytest.mark.parametrize("suite", AUTHENTICATING)
def test_every_tampering_is_detected(suite):
    cipher = _cipher(suite)
    plain = os.urandom(300)
    blob = cipher.seal(ObjectKind.CHUNK, b"chunk id", plain)
    for kind in (ObjectKind.ITEMS, ObjectKind.ARCHIVE, ObjectKind.INDEX, ObjectKind.PACK_HEADER):
        with pytest.raises(IntegrityError):
            cipher.open(kind, b"chunk id", blob)
    with pytest.raises(IntegrityError):
        cipher.open(ObjectKind.CHUNK, b"chunk iD", blob)
    for i in range(len(blob)):
        damaged = blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1 :]
        with pytest.raises(IntegrityError):
            cipher.open(ObjectKind.CHUNK, b"chunk id", damaged)
    for cut in (0, 1, 3, 20, len(blob) - 1):
        with pytest.raises(IntegrityError):
            cipher.open(ObjectKind.CHUNK, b"chunk id", blob[:cut])
    with pytest.raises(IntegrityError):
        cipher.open(ObjectKind.CHUNK, b"chunk id", blob + b"\x00")
    with pytest.raises(IntegrityError):
        ObjectCipher(suite, bytes(32), bytes(32)).open(ObjectKind.CHUNK, b"chunk id", blob)


@pytest.mark.parametrize("suite", ENCRYPTING)
def test_large_objects_sealed_in_place_are_as_tight(suite):
    """Objects of 64 KiB and more are encrypted into their final buffer;
    the layout and the checks are those of small ones."""
    cipher = _cipher(suite)
    plain = os.urandom(3 * 1024 * 1024 + 7)
    blob = cipher.seal(ObjectKind.CHUNK, b"big", plain)
    assert len(blob) == 3 + 16 + 8 + len(plain) + 16
    assert plain[:4096] not in blob
    assert _cipher(suite).open(ObjectKind.CHUNK, b"big", blob) == plain
    for i in (0, 2, 3, 20, 27, len(blob) // 2, len(blob) - 1):
        damaged = bytearray(blob)
        damaged[i] ^= 0x80
        with pytest.raises(IntegrityError):
            cipher.open(ObjectKind.CHUNK, b"big", damaged)
    with pytest.raises(IntegrityError):
        cipher.open(ObjectKind.CHUNK, b"bIg", blob)


def test_suite_mismatch_is_refused():
    blob = _cipher(SUITE_NONE).seal(ObjectKind.CHUNK, b"id", b"plain")
    for suite in AUTHENTICATING:
        with pytest.raises(IntegrityError):
            _cipher(suite).open(ObjectKind.CHUNK, b"id", blob)
    blob = _cipher(SUITE_CHACHA).seal(ObjectKind.CHUNK, b"id", b"plain")
    with pytest.raises(IntegrityError):
        _cipher(SUITE_AES_OCB).open(ObjectKind.CHUNK, b"id", blob)


def _nonce(blob: bytes) -> bytes:
    return blob[3:27]  # session id and counter


@pytest.mark.parametrize("suite", ENCRYPTING)
def test_nonces_never_repeat_across_ciphers_and_threads(suite):
    """Two writers of one key (two processes, each its cipher) and many
    threads per writer never use one nonce twice."""
    ciphers = [_cipher(suite), _cipher(suite)]
    nonces = []
    lock = threading.Lock()

    def seal_many(cipher):
        mine = [_nonce(cipher.seal(ObjectKind.CHUNK, b"id", b"same")) for _ in range(500)]
        with lock:
            nonces.extend(mine)

    threads = [threading.Thread(target=seal_many, args=(c,)) for c in ciphers for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(nonces) == 4000
    assert len(set(nonces)) == len(nonces)
    assert len({n[:16] for n in nonces}) == 2  # one session id per cipher
    # Same plaintext, same id: the ciphertexts differ all the same.
    blobs = {ciphers[0].seal(ObjectKind.CHUNK, b"id", b"same") for _ in range(10)}
    assert len(blobs) == 10


@pytest.mark.parametrize("suite", ENCRYPTING)
def test_a_forked_process_seals_under_a_session_of_its_own(suite):
    """The walk's helper is forked from the backup and seals chunks: its
    nonces must not repeat the parent's, even with the parent's counter
    and lock caught mid-use, and what it seals opens in the parent."""
    cipher = _cipher(suite)
    cipher.seal(ObjectKind.CHUNK, b"id", b"before")
    read, write = os.pipe()
    with cipher._counter_lock:  # as if a thread of the parent were sealing
        pid = os.fork()
        if pid == 0:
            try:
                signal.alarm(5)  # a child stuck on the parent's lock dies
                os.write(write, cipher.seal(ObjectKind.CHUNK, b"id", b"from the child"))
            finally:
                os._exit(0)
    os.close(write)
    sealed = os.read(read, 1024)
    os.close(read)
    os.waitpid(pid, 0)
    mine = cipher.seal(ObjectKind.CHUNK, b"id", b"from the parent")
    assert _nonce(sealed)[:16] != _nonce(mine)[:16]
    assert _nonce(sealed)[16:] == bytes(8)  # its own session counts from 0
    assert cipher.open(ObjectKind.CHUNK, b"id", sealed) == b"from the child"
