"""The client against a server whose answers carry values of the wrong
type (an unhashable request id or error name): one clear error, never a
traceback, and never a client waiting forever for an answer."""

import os
import sys

import pytest

from ..conftest import PIPE_RSH, assert_clean_error

SERVER = os.path.join(os.path.dirname(__file__), "malformed_server.py")


@pytest.mark.parametrize(
    "mode, words",
    [
        ("hello-error", ["refused"]),
        ("request-id", ["connection closed", "never asked"]),
        ("error-type", ["odd"]),
    ],
)
def test_a_malformed_answer_is_one_clean_error(hutch, mode, words):
    env = {"HUTCH_RSH": PIPE_RSH, "HUTCH_REMOTE_PATH": f"{sys.executable} {SERVER} {mode}"}
    # The timeout only guards the suite: before the fix, the client hung here.
    result = hutch("repo-info", "ssh://host/repo", env=env, timeout=60)
    assert result.rc == 2, result.err
    assert_clean_error(result, *words)
