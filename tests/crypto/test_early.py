"""A key derivation started ahead (while a command connects) is used for
exactly its own inputs and never changes what unsealing accepts."""

import pytest
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

import hutch.crypto.key as key_module
from hutch.crypto.early import EarlyDerivation, derive
from hutch.crypto.key import Key, kdf_inputs, start_derivation
from hutch.errors import KeyInvalid, PassphraseWrong

REPO_ID = bytes(range(32))


@pytest.fixture(autouse=True)
def weak_kdf(monkeypatch):
    monkeypatch.setenv("HUTCH_TESTONLY_WEAKEN_KDF", "1")


@pytest.fixture
def envelope():
    return Key.generate("repokey", REPO_ID).seal("secret")


def _no_derivation(*args):
    raise AssertionError("derived again although the early derivation matched")


def test_the_early_key_serves_its_own_inputs_only(envelope):
    salt, params = kdf_inputs(envelope)
    early = start_derivation("secret", (salt, params))
    assert early.kek_for("secret", salt, params) == key_module.derive("secret", salt, params)
    assert early.kek_for("Secret", salt, params) is None
    assert early.kek_for("secret", bytes(32), params) is None
    assert early.kek_for("secret", salt, {**params, "iterations": params["iterations"] + 1}) is None


def test_a_failed_early_derivation_yields_nothing():
    def broken(*args):
        raise KeyInvalid("the key's KDF parameters are out of range")

    early = EarlyDerivation(broken, "secret", (b"salt", {"iterations": 1}))
    assert early.kek_for("secret", b"salt", {"iterations": 1}) is None


def test_unseal_takes_a_matching_early_key_instead_of_deriving(envelope, monkeypatch):
    early = start_derivation("secret", kdf_inputs(envelope))
    monkeypatch.setattr(key_module, "derive", _no_derivation)
    assert Key.unseal(envelope, "secret", REPO_ID, early).repo_id == REPO_ID


def test_unseal_derives_again_when_the_key_changed(envelope, monkeypatch):
    stale = start_derivation("secret", kdf_inputs(Key.generate("repokey", REPO_ID).seal("secret")))
    calls = []
    real = key_module.derive
    monkeypatch.setattr(key_module, "derive", lambda *a: calls.append(a) or real(*a))
    assert Key.unseal(envelope, "secret", REPO_ID, stale).repo_id == REPO_ID
    assert len(calls) == 1


@pytest.mark.parametrize("early_passphrase", ["wrong", "secret"])
def test_a_wrong_passphrase_stays_wrong(envelope, early_passphrase):
    early = start_derivation(early_passphrase, kdf_inputs(envelope))
    with pytest.raises(PassphraseWrong):
        Key.unseal(envelope, "wrong", REPO_ID, early)


def test_a_hint_cannot_ask_for_more_than_a_new_key_costs(envelope):
    salt, params = kdf_inputs(envelope)
    for name in params:
        assert start_derivation("secret", (salt, {**params, name: params[name] * 2})) is None


@pytest.mark.parametrize(
    "params",
    [
        {"iterations": 1, "lanes": 1, "memory_cost": 8},
        {"iterations": 3, "lanes": 4, "memory_cost": 1024},
        {"iterations": 2, "lanes": 3, "memory_cost": 96},
    ],
)
def test_the_derivation_is_standard_argon2id(params):
    """Keys sealed before hutch used argon2-cffi-bindings were derived with
    cryptography's Argon2id: both must give the same key."""
    salt = bytes(range(32))
    standard = Argon2id(salt=salt, length=32, **params).derive("pässphrase".encode())
    assert derive("pässphrase", salt, params) == standard
