"""The paper form of a key (`key export --paper`, `key import --paper`):
lines a person can type back in, each with its own check digits, so that
a typing mistake is found on the line where it was made.

    hutch key 7d08a05a 18 lines
    01/18: 7d08 a05a efed 08b9 33c2 50a9 405d 37c9 - 3f1a
    ...

A line holds 16 bytes in groups of four hex digits; the check is the
start of a BLAKE3 hash of the line's number and bytes. The bytes are the
repository id (32) and the passphrase-protected key (as in a key file):
on paper the key is as safe as the passphrase, as it is in a file.
"""

import re

import blake3

from ..errors import KeyInvalid

BYTES_PER_LINE = 16
ID_BYTES = 32
_LINE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*:\s*([0-9a-fA-F\s]+?)\s*-\s*([0-9a-fA-F]{4})\s*$")


def _check(number: int, data: bytes) -> str:
    return blake3.blake3(b"%d:" % number + data).hexdigest()[:4]


def paper_lines(repo_id: bytes, envelope: bytes) -> list[str]:
    data = repo_id + envelope
    pieces = [data[i : i + BYTES_PER_LINE] for i in range(0, len(data), BYTES_PER_LINE)]
    total = len(pieces)
    lines = [f"hutch key {repo_id.hex()[:8]} {total} lines"]
    for number, piece in enumerate(pieces, 1):
        digits = piece.hex()
        groups = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
        lines.append(f"{number:02d}/{total:02d}: {groups} - {_check(number, piece)}")
    return lines


def parse_paper_line(text: str, number: int) -> tuple[bytes, int]:
    """(the line's bytes, how many lines there are); KeyInvalid naming
    what is wrong with the line that was to be line `number`."""
    m = _LINE.match(text)
    if not m:
        raise KeyInvalid(f"line {number} is not of the form 'NN/TT: hhhh hhhh ... - cccc'")
    got, total = int(m.group(1)), int(m.group(2))
    if got != number:
        raise KeyInvalid(f"this is line {got}, but line {number} is next")
    digits = re.sub(r"\s", "", m.group(3))
    if len(digits) % 2 or len(digits) > 2 * BYTES_PER_LINE:
        raise KeyInvalid(f"line {number} has a wrong number of digits")
    data = bytes.fromhex(digits)
    if _check(number, data) != m.group(4).lower():
        raise KeyInvalid(f"line {number} has a typing mistake (its check digits do not match)")
    return data, total


def join_paper(pieces: list[bytes]) -> tuple[bytes, bytes]:
    """(repo_id, envelope) from the bytes of every line in order."""
    data = b"".join(pieces)
    if len(data) <= ID_BYTES:
        raise KeyInvalid("the key on paper is too short")
    return data[:ID_BYTES], data[ID_BYTES:]
