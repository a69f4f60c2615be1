"""A server that speaks the wire protocol but answers with values of the
wrong types, for the client's tests: installed as the server's hutch
(--remote-path), it plays the answer named by its first argument."""

import sys

from hutch.remote import protocol


def main(mode: str) -> None:
    read = protocol.StreamReader(protocol.fd_readinto(0))
    write = protocol.FdWriter(1)
    protocol.read_frame(read)  # the hello
    if mode == "hello-error":
        write(protocol.encode({"error": {"type": [1], "msg": "refused"}}))
        return
    write(protocol.encode({"version": 1, "server": "malformed"}))
    while (request := protocol.read_frame(read)) is not None:
        if mode == "request-id":
            write(protocol.encode({"i": [request["i"]], "r": None}))
        else:
            write(protocol.encode({"i": request["i"], "e": {"type": {"a": 1}, "msg": "odd"}}))


if __name__ == "__main__":
    main(sys.argv[1])
