"""Keys: sealing under a passphrase, wrong passphrases, damaged keys, the
key file text form."""

import os

import blake3
import pytest

from hutch.crypto.key import MODES, Key, check_mode, keyfile_text, parse_keyfile_text
from hutch.errors import HutchError, KeyInvalid, PassphraseWrong, UsageError

REPO_ID = bytes(range(32))


@pytest.fixture(autouse=True)
def weak_kdf(monkeypatch):
    monkeypatch.setenv("HUTCH_TESTONLY_WEAKEN_KDF", "1")


@pytest.mark.parametrize("mode", [m for m in MODES if m != "none"])
def test_seal_unseal(mode):
    key = Key.generate(mode, REPO_ID)
    assert len(key.enc_key) == 32 and len(key.id_key) == 32 and key.chunker_seed
    envelope = key.seal("secret")
    assert key.enc_key not in envelope and key.id_key not in envelope
    assert Key.unseal(envelope, "secret", REPO_ID) == key


def test_wrong_passphrase_and_wrong_repository():
    envelope = Key.generate("repokey", REPO_ID).seal("secret")
    with pytest.raises(PassphraseWrong):
        Key.unseal(envelope, "Secret", REPO_ID)
    with pytest.raises(PassphraseWrong):
        Key.unseal(envelope, "", REPO_ID)
    with pytest.raises(PassphraseWrong):
        Key.unseal(envelope, "secret", bytes(32))


def test_every_damaged_byte_is_a_clean_error():
    envelope = Key.generate("repokey", REPO_ID).seal("secret")
    for i in range(len(envelope)):
        damaged = envelope[:i] + bytes([envelope[i] ^ 0x01]) + envelope[i + 1 :]
        try:
            key = Key.unseal(damaged, "secret", REPO_ID)
        except HutchError:
            continue
        # Only a byte the envelope does not depend on may change nothing.
        assert key == Key.unseal(envelope, "secret", REPO_ID)
    for garbage in (b"", b"\x00", os.urandom(100), envelope[: len(envelope) // 2]):
        with pytest.raises((KeyInvalid, PassphraseWrong)):
            Key.unseal(garbage, "secret", REPO_ID)


def test_ids_are_keyed():
    one, two = Key.generate("repokey", REPO_ID), Key.generate("repokey", REPO_ID)
    assert one.chunk_id(b"data") == one.chunk_id(b"data")
    assert one.chunk_id(b"data") != two.chunk_id(b"data")
    assert one.opaque_id(b"series", b"name") != two.opaque_id(b"series", b"name")
    assert one.opaque_id(b"series", b"name") != one.opaque_id(b"other", b"name")
    none = Key("none", REPO_ID)
    assert none.chunk_id(b"data") == Key("none", bytes(32)).chunk_id(b"data")


def test_ids_are_the_blake3_that_repositories_already_hold():
    # Chunk ids, series ids and the files cache's names are stored: however
    # they are computed, they must stay these hashes.
    key = Key.generate("repokey", REPO_ID)
    for _ in range(2):  # the second id comes from a hasher that made one already
        assert key.chunk_id(b"data") == blake3.blake3(b"data", key=key.id_key).digest()
    expected = blake3.blake3(b"series\0name", key=key.id_key).digest()
    assert key.opaque_id(b"series", b"name") == expected
    none = Key("none", REPO_ID)
    assert none.chunk_id(b"data") == blake3.blake3(b"data").digest()


def test_keyfile_text():
    envelope = os.urandom(200)
    text = keyfile_text(REPO_ID, envelope)
    assert text.startswith("HUTCH_KEY " + REPO_ID.hex())
    assert max(len(line) for line in text.splitlines()[1:]) <= 76
    assert parse_keyfile_text(text) == (REPO_ID, envelope)
    assert parse_keyfile_text("\n\n" + text + "\n\n") == (REPO_ID, envelope)
    for bad in ("", "HUTCH_KEY\nAAAA", "OTHER " + REPO_ID.hex() + "\nAAAA", text + "!!!"):
        with pytest.raises(KeyInvalid):
            parse_keyfile_text(bad)


def test_check_mode():
    assert check_mode("keyfile") == "keyfile"
    with pytest.raises(UsageError):
        check_mode("rot13")
