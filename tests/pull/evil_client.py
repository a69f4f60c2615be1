"""A compromised client's `hutch` for pull-mode attack tests: installed as
the client's hutch (--remote-path), it speaks the protocol on stdin/stdout
itself and plays the attack named by EVIL (an environment variable the
test passes through the pipe "ssh"). It records what it received in
EVIL_LOG, if given."""

import os
import sys
import time

from hutch.remote import protocol
from hutch.store.schema import content_name

ESC = "\x1b"


def connect():
    read = protocol.StreamReader(protocol.fd_readinto(0))
    write = protocol.FdWriter(1)
    write(protocol.encode({"hello": "hutch", "versions": [1], "repo": ""}))
    answer = protocol.read_frame(read)
    if os.environ.get("EVIL_LOG"):
        with open(os.environ["EVIL_LOG"], "w") as f:
            f.write(repr(sorted(answer)))
    ids = iter(range(1, 10**9))

    def call(method, *args, payload=None):
        message = {"i": next(ids), "m": method, "a": list(args)}
        if payload is not None:
            message["b"] = payload
        write(protocol.encode(message))
        return protocol.read_frame(read)

    return call


def terminal() -> int:
    """Escape sequences and a fake success block; commits nothing."""
    sys.stderr.write(f"{ESC}]0;OWNED\a{ESC}]52;c;ZWNobyBvd25lZA==\a{ESC}[2J{ESC}[H")
    sys.stderr.write(f"{ESC}[1A{ESC}[2Kreal line hidden\n")
    sys.stderr.write("Archive name: fake\nDeduplicated size: 1.2 GB (added)\n")
    connect()
    return 0


def garbage() -> int:
    os.write(1, os.urandom(4096))
    return 0


def quit_at_hello() -> int:
    return 0


def silent() -> int:
    time.sleep(3600)
    return 0


def busy() -> int:
    """Keeps talking (so no idle timeout ends it), never finishes."""
    call = connect()
    while True:
        call("exists")
        time.sleep(0.5)


def fill() -> int:
    """Junk packs (correctly named) until the server refuses."""
    call = connect()
    for _ in range(1000):
        data = os.urandom(256 * 1024)
        answer = call("put", "packs/" + content_name(data), payload=data)
        if "e" in answer:
            sys.stderr.write(f"refused: {answer['e']['msg']}\n")
            return 2
    return 0


if __name__ == "__main__":
    attack = globals()[os.environ["EVIL"]]
    sys.exit(attack())
