"""A client whose clock disagrees with its server's: lock heartbeats are
stamped and judged on the server's clock, so a client running minutes
ahead neither takes a live lock for stale nor breaks it."""

import subprocess
import time

from ..conftest import HUTCH, PIPE_RSH, assert_clean_error, faketime

# PIPE_RSH, with the server's clock its own: libfaketime's variables
# stop at the "ssh" hop as they would at a real one.
UNFAKED_PIPE_RSH = f"env -u LD_PRELOAD -u FAKETIME {PIPE_RSH}"


def test_a_client_ahead_of_the_server_waits_for_a_live_lock(hutch, tmp_path, monkeypatch):
    repo_path = tmp_path / "repo"
    url = f"ssh://host{repo_path}"
    monkeypatch.setenv("HUTCH_RSH", UNFAKED_PIPE_RSH)
    monkeypatch.setenv("HUTCH_REMOTE_PATH", HUTCH)
    hutch("init", "-e", "repokey", url, check=0)
    holder = subprocess.Popen([HUTCH, "with-lock", url, "sleep", "10"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not (repo_path / "locks").is_dir() or not list((repo_path / "locks").iterdir()):
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        r = hutch("with-lock", "--lock-wait", "1", url, "true", prefix=faketime("+5m"), check=2)
        assert_clean_error(r, "Failed to create/acquire the lock")
    finally:
        assert holder.wait(timeout=60) == 0
