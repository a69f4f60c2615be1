"""How many worker threads hutch runs for hashing, compression, encryption
and reading ahead: `--threads N`, else HUTCH_THREADS, else one per core.

A cap keeps a backup from taking the whole machine from the services it
protects; 1 runs all chunk work in the calling thread."""

import os

from .errors import UsageError

_chosen: int | None = None


def parse(value: str) -> int:
    """A thread count as typed; UsageError unless a whole number >= 1."""
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise UsageError(f"invalid thread count {value!r}: give a whole number of at least 1")
    return n


def choose(n: int | None) -> None:
    """Use n threads (from --threads); None: HUTCH_THREADS or the cores."""
    global _chosen
    _chosen = n


def from_environment() -> int | None:
    """HUTCH_THREADS, checked; None if unset."""
    env = os.environ.get("HUTCH_THREADS")
    return parse(env) if env else None


def count() -> int:
    if _chosen is not None:
        return _chosen
    env = from_environment()
    if env is not None:
        return env
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def submit(executor, fn, *args):
    """fn(*args) on `executor` (a concurrent.futures.Executor), or here and
    now without one; either way a Future, whose `result()` raises its error
    as from a thread."""
    if executor is not None:
        return executor.submit(fn, *args)
    # Imported here: the key derivation counts threads before hutch loads
    # (cli/keyahead.py), and the thread-pool modules weigh 2.5 MiB.
    from concurrent.futures import Future

    done: Future = Future()
    try:
        done.set_result(fn(*args))
    except Exception as e:
        done.set_exception(e)
    return done
