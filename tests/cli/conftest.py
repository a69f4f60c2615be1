"""Helpers shared by the command-line tests."""

import threading

import hutch.crypto.key as key_module


def record_derivations(monkeypatch) -> list[str]:
    """The names of the threads that derive a key in the command from now on, in order."""
    derived_in: list[str] = []
    real = key_module.derive
    monkeypatch.setattr(
        key_module,
        "derive",
        lambda *a: derived_in.append(threading.current_thread().name) or real(*a),
    )
    return derived_in
