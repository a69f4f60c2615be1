"""Text made safe for a terminal.

Text that comes from outside -- file and archive names, comments, host and
user names, what a remote side says -- never reaches a terminal raw: a
name made by any user on a backed-up machine could otherwise move the
cursor, retitle the window or write the clipboard of whoever reads the
output. `printable` escapes it in the style of `ls -b`: control and other
unprintable characters and undecodable bytes as \\xNN, \\uNNNN, and a
backslash as \\\\, so that the shown text says exactly which bytes there are.
"""

import os

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str, backslash: bool) -> str:
    if char == "\\":
        return "\\\\" if backslash else char
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text, backslash: bool = True) -> str:
    """`text` (str, or bytes as a file name) with nothing a terminal would
    act on: see the module docstring. backslash=False leaves backslashes
    alone (text that was escaped once already, as a remote hutch's)."""
    if isinstance(text, bytes | bytearray):
        text = os.fsdecode(bytes(text))
    elif not isinstance(text, str):
        text = str(text)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c != "\\" else _escape(c, backslash) for c in text)
