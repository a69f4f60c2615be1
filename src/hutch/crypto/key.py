"""Repository keys: what they hold, how ids are computed, how a passphrase
protects them (Argon2id), and the text form of key files."""

import base64
import binascii
import os
from dataclasses import dataclass, field

import blake3
import msgpack
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..errors import KeyInvalid, PassphraseWrong, UsageError
from .early import EarlyDerivation, KdfInputs, affordable, derive, kdf_params
from .objects import SUITE_AES_OCB, SUITE_AUTHENTICATED, SUITE_CHACHA, SUITE_NONE, ObjectCipher

# mode -> (suite, where the key lives)
MODES = {
    "repokey": (SUITE_AES_OCB, "repo"),
    "keyfile": (SUITE_AES_OCB, "file"),
    "repokey-chacha20-poly1305": (SUITE_CHACHA, "repo"),
    "keyfile-chacha20-poly1305": (SUITE_CHACHA, "file"),
    "authenticated": (SUITE_AUTHENTICATED, "repo"),
    "none": (SUITE_NONE, None),
}

KEYFILE_HEADER = "HUTCH_KEY"
_ENVELOPE_AD = b"hutch key envelope v1"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"unknown encryption mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


@dataclass
class Key:
    """Key material of one repository. Everything derived from it lives here."""

    mode: str
    repo_id: bytes
    enc_key: bytes = b""
    id_key: bytes = b""
    chunker_seed: int = 0
    # Ids are hashed by copies of one hasher, keyed here (plain BLAKE3 in mode
    # none): a copy costs half of keying a new one, for every chunk.
    _id_base: "blake3.blake3" = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._id_base = blake3.blake3(key=self.id_key) if self.id_key else blake3.blake3()

    @classmethod
    def generate(cls, mode: str, repo_id: bytes) -> "Key":
        if mode == "none":
            return cls(mode, repo_id)
        return cls(
            mode,
            repo_id,
            enc_key=os.urandom(32),
            id_key=os.urandom(32),
            chunker_seed=int.from_bytes(os.urandom(8), "big") or 1,
        )

    @property
    def suite(self) -> int:
        return MODES[self.mode][0]

    @property
    def storage(self) -> str | None:
        return MODES[self.mode][1]

    def chunk_id(self, data) -> bytes:
        hasher = self._id_base.copy()
        hasher.update(data)
        return hasher.digest()

    def opaque_id(self, purpose: bytes, value: bytes) -> bytes:
        """An id the server may see for something whose name it must not see."""
        return self.chunk_id(purpose + b"\0" + value)

    def cipher(self) -> ObjectCipher:
        """A cipher with a fresh session: use one per writer session."""
        return ObjectCipher(self.suite, self.enc_key, self.enc_key)

    # -- protection by a passphrase ------------------------------------

    def _payload(self) -> bytes:
        return msgpack.packb(
            {
                "mode": self.mode,
                "repo_id": self.repo_id,
                "enc_key": self.enc_key,
                "id_key": self.id_key,
                "chunker_seed": self.chunker_seed,
            }
        )

    def seal(self, passphrase: str) -> bytes:
        """The key, encrypted under a key derived from `passphrase`."""
        params = kdf_params()
        salt = os.urandom(32)
        kek = derive(passphrase, salt, params)
        nonce = os.urandom(12)
        data = ChaCha20Poly1305(kek).encrypt(nonce, self._payload(), _ENVELOPE_AD + self.repo_id)
        return msgpack.packb(
            {"v": 1, "kdf": "argon2id", "salt": salt, **params, "nonce": nonce, "data": data}
        )

    @classmethod
    def unseal(
        cls,
        envelope: bytes,
        passphrase: str,
        repo_id: bytes,
        early: EarlyDerivation | None = None,
    ) -> "Key":
        """early: a derivation started ahead, used if its inputs match."""
        (salt, params), nonce, data = _parse_envelope(envelope)
        kek = early.kek_for(passphrase, salt, params) if early is not None else None
        if kek is None:
            kek = derive(passphrase, salt, params)
        try:
            payload = ChaCha20Poly1305(kek).decrypt(nonce, data, _ENVELOPE_AD + repo_id)
        except InvalidTag:
            raise PassphraseWrong(
                "passphrase is wrong (or the key is damaged, or belongs to another repository)"
            ) from None
        p = msgpack.unpackb(payload)
        return cls(p["mode"], p["repo_id"], p["enc_key"], p["id_key"], p["chunker_seed"])


def kdf_inputs(envelope: bytes) -> KdfInputs:
    """The salt and cost a sealed key is derived with (not secret)."""
    return _parse_envelope(envelope)[0]


def start_derivation(passphrase: str, kdf: KdfInputs) -> EarlyDerivation | None:
    """A derivation in a thread; None for a cost above a new key's (see affordable)."""
    if not affordable(kdf[1]):
        return None
    return EarlyDerivation(derive, passphrase, kdf)


def _parse_envelope(envelope: bytes) -> tuple[KdfInputs, bytes, bytes]:
    try:
        env = msgpack.unpackb(envelope)
        if not isinstance(env, dict) or env.get("v") != 1 or env.get("kdf") != "argon2id":
            raise ValueError("unknown key format")
        params = {k: int(env[k]) for k in ("iterations", "lanes", "memory_cost")}
        salt, nonce, data = bytes(env["salt"]), bytes(env["nonce"]), bytes(env["data"])
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as e:
        raise KeyInvalid(f"the key is damaged or not a hutch key ({e})") from None
    return (salt, params), nonce, data


def keyfile_text(repo_id: bytes, envelope: bytes) -> str:
    """The text form of a key, as in key files and `key export`."""
    b64 = base64.b64encode(envelope).decode()
    lines = [b64[i : i + 76] for i in range(0, len(b64), 76)]
    return f"{KEYFILE_HEADER} {repo_id.hex()}\n" + "\n".join(lines) + "\n"


def parse_keyfile_text(text: str) -> tuple[bytes, bytes]:
    """(repo_id, envelope) from the text form; KeyInvalid if it is not one."""
    lines = text.strip().splitlines()
    try:
        tag, repo_hex = lines[0].split()
        if tag != KEYFILE_HEADER:
            raise ValueError
        return bytes.fromhex(repo_hex), base64.b64decode("".join(lines[1:]), validate=True)
    except (ValueError, IndexError, binascii.Error):
        raise KeyInvalid("this is not a hutch key file") from None
