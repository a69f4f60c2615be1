"""Running one timed step: wall-clock seconds, CPU time and peak RSS of a command.

Peak RSS comes from wait4's rusage: the largest resident set of the process and of the
descendants it waited for (e.g. the ssh client a remote backup starts). The server side
of an ssh run lives under sshd and is not counted.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Generous, but keeps a hung tool (e.g. one waiting on a prompt) from stalling the run.
STEP_TIMEOUT = 3600
STDERR_TAIL = 12


@dataclass
class StepResult:
    ok: bool
    seconds: float
    rss_kib: int = 0
    user: float = 0.0
    system: float = 0.0
    returncode: int | None = None
    error: list[str] = field(default_factory=list)
    stdout: bytes = b""


def run(cmd: list[str], cwd: Path, env: dict[str, str], keep_stdout: bool = False) -> StepResult:
    """Run one command to its end; never raises for the command's failures."""
    # Flush earlier writes (corpus, previous tool) so they are not billed to this step.
    os.sync()
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out if keep_stdout else subprocess.DEVNULL,
                stderr=err,
            )
        except OSError as exc:
            return StepResult(False, time.perf_counter() - start, error=[str(exc)])
        status, usage = _wait(proc, start)
        seconds = time.perf_counter() - start
        if status is None:
            return StepResult(False, seconds, error=[f"timeout {STEP_TIMEOUT}s"])
        code = os.waitstatus_to_exitcode(status)
        result = StepResult(
            code == 0, seconds, usage.ru_maxrss, usage.ru_utime, usage.ru_stime, code
        )
        if keep_stdout:
            out.seek(0)
            result.stdout = out.read()
        if code != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").splitlines() or ["(no stderr)"]
            result.error = lines[-STDERR_TAIL:]
        return result


def _wait(proc: subprocess.Popen, start: float):
    """(wait status, rusage) of proc, or (None, None) after killing it on timeout."""
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, usage
        if time.perf_counter() - start > STEP_TIMEOUT:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            return None, None
        time.sleep(0.005)
