"""The server's input handling: garbage, truncation, oversized frames, bad
arguments and random bytes never crash it, hang it, or touch files outside
the repository."""

import io
import os
import struct

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hutch.remote import protocol
from hutch.remote.server import ServeOptions, Session
from hutch.store.local import LocalStore


def serve_in_process(data: bytes, options: ServeOptions) -> list[dict]:
    """Run a session over `data`; return the server's replies."""
    inp = io.BytesIO(data)
    out = io.BytesIO()
    Session(options, protocol.StreamReader(inp.readinto), out.write).run()
    out.seek(0)
    replies = []
    reader = protocol.StreamReader(out.readinto)
    while (msg := protocol.read_frame(reader)) is not None:
        replies.append(msg)
    return replies


def _hello(repo) -> bytes:
    return protocol.encode({"hello": "hutch", "versions": [1], "repo": str(repo)})


def _files_under(path) -> set[str]:
    return {os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs}


def test_requests_are_answered_in_order(tmp_path):
    repo = tmp_path / "repo"
    LocalStore(str(repo)).create()
    data = _hello(repo) + b"".join(
        protocol.encode({"i": i, "m": m, "a": a, **({"b": b"1"} if m == "put" else {})})
        for i, (m, a) in enumerate(
            [
                ("put", ["config/config"]),
                ("get", ["config/config"]),
                ("get", ["archives/" + "0" * 64]),
                ("list", ["config"]),
                ("frobnicate", []),
                ("get", ["../../etc/passwd"]),
            ]
        )
    )
    replies = serve_in_process(data, ServeOptions(restrict_to_paths=[str(tmp_path)]))
    assert replies[0]["version"] == 1
    assert [r["i"] for r in replies[1:]] == list(range(6))
    assert replies[2]["b"] == b"1"  # object data travels as the payload
    assert replies[3]["e"]["type"] == "ObjectNotFound"
    assert replies[4]["r"] == [["config/config", 1]]
    assert "unknown method" in replies[5]["e"]["msg"]
    assert replies[6]["e"]["type"] == "UsageError"


def test_reads_see_the_changes_before_them(tmp_path):
    # Changes are carried out in a thread of their own while the next
    # requests are read: a read must still wait for the change before it.
    repo = tmp_path / "repo"
    LocalStore(str(repo)).create()
    requests = []
    for n in range(30):
        value = str(n).encode() * 100_000
        requests.append({"i": 2 * n, "m": "put", "a": ["config/config", True], "b": value})
        requests.append({"i": 2 * n + 1, "m": "get", "a": ["config/config"]})
    data = _hello(repo) + b"".join(protocol.encode(r) for r in requests)
    replies = serve_in_process(data, ServeOptions())
    assert [r["i"] for r in replies[1:]] == list(range(60))
    assert [r.get("e") for r in replies[1::2]] == [None] * 30
    assert [r["b"] for r in replies[2::2]] == [str(n).encode() * 100_000 for n in range(30)]


def test_frames_arriving_in_small_pieces_are_read_whole():
    # A pipe hands over what has arrived: a few bytes at a time here.
    frames = protocol.encode({"i": 1, "m": "put", "b": bytes(range(256)) * 40}) + protocol.encode(
        {"i": 2, "m": "get"}
    )
    stream = io.BytesIO(frames)
    reader = protocol.StreamReader(lambda view: stream.readinto(view[:7]))
    first = protocol.read_frame(reader)
    assert first == {"i": 1, "m": "put", "b": bytes(range(256)) * 40}
    assert protocol.read_frame(reader) == {"i": 2, "m": "get"}
    assert protocol.read_frame(reader) is None


def test_a_frame_cut_short_is_a_protocol_error():
    frame = protocol.encode({"i": 1, "m": "put", "b": b"x" * 1000})
    stream = io.BytesIO(frame[:-10])
    with pytest.raises(protocol.ProtocolError, match="middle of a message"):
        protocol.read_frame(protocol.StreamReader(stream.readinto))


def test_version_mismatch_is_explained(tmp_path):
    data = protocol.encode({"hello": "hutch", "versions": [99], "repo": str(tmp_path)})
    (reply,) = serve_in_process(data, ServeOptions())
    assert "protocol versions differ" in reply["error"]["msg"]


def test_oversized_frame_closes_the_connection(tmp_path):
    repo = tmp_path / "repo"
    LocalStore(str(repo)).create()
    data = _hello(repo) + struct.pack(">II", protocol.MAX_FRAME + 1, 0) + b"x" * 100
    replies = serve_in_process(data, ServeOptions())
    assert len(replies) == 1  # the hello's answer, then the server hung up


def test_outside_a_repository_nothing_is_written(tmp_path):
    folder = tmp_path / "not-a-repo"
    folder.mkdir()
    data = _hello(folder) + protocol.encode({"i": 1, "m": "put", "a": ["config/config"], "b": b"1"})
    replies = serve_in_process(data, ServeOptions())
    assert replies[1]["e"]["type"] == "UsageError"
    assert os.listdir(folder) == []


_INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    garbage=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.fixed_dictionaries(
                {
                    "i": st.one_of(_INT64, st.text(max_size=3), st.none()),
                    "m": st.sampled_from(["put", "get", "delete", "info", "list", "create", "x"]),
                    "a": st.lists(
                        st.one_of(
                            st.text(max_size=20),
                            st.binary(max_size=20),
                            _INT64,
                            st.booleans(),
                            st.none(),
                        ),
                        max_size=4,
                    ),
                }
            ).map(lambda m: protocol.encode(m)),
            max_size=8,
        ).map(b"".join),
    ),
    cut=st.integers(min_value=0, max_value=400),
)
def test_fuzz_server_input(tmp_path, garbage, cut):
    repo = tmp_path / "fuzz" / "repo"
    if not repo.exists():
        LocalStore(str(repo)).create()
    before = _files_under(tmp_path) - _files_under(repo)
    data = (_hello(repo) + garbage)[: len(_hello(repo)) + cut]
    replies = serve_in_process(data, ServeOptions(restrict_to_paths=[str(repo)]))
    for reply in replies[1:]:
        assert set(reply) in ({"i", "r"}, {"i", "e"})
    assert _files_under(tmp_path) - _files_under(repo) == before


def test_random_bytes_instead_of_hello(tmp_path):
    for data in (b"", b"\x00", b"GET / HTTP/1.0\r\n\r\n", msgpack.packb([1, 2, 3])):
        assert serve_in_process(data, ServeOptions()) == []
