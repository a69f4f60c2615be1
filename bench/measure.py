"""Running one timed step: wall-clock seconds, CPU time and peak RSS of a command.

Peak RSS and CPU times come from GNU time (`/usr/bin/time`), which forks the command
itself: the largest resident set of the process and of the descendants it waited for
(e.g. the ssh client a remote backup starts). Not from our own wait4: a child forked
from this Python process inherits its memory high-water mark (the kernel carries it
over exec), so every figure would be at least the benchmark's own size. The server
side of an ssh run lives under sshd and is not counted.
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
TIME = "/usr/bin/time"


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
    with (
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as out,
        tempfile.NamedTemporaryFile("r") as usage_file,
    ):
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                [TIME, "-f", "%M %U %S", "-o", usage_file.name, *cmd],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out if keep_stdout else subprocess.DEVNULL,
                stderr=err,
            )
        except OSError as exc:
            return StepResult(False, time.perf_counter() - start, error=[str(exc)])
        status = _wait(proc, start)
        seconds = time.perf_counter() - start
        if status is None:
            return StepResult(False, seconds, error=[f"timeout {STEP_TIMEOUT}s"])
        code = os.waitstatus_to_exitcode(status)
        rss, user, system = _usage(usage_file.read())
        result = StepResult(code == 0, seconds, rss, user, system, code)
        if keep_stdout:
            out.seek(0)
            result.stdout = out.read()
        if code != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").splitlines() or ["(no stderr)"]
            result.error = lines[-STDERR_TAIL:]
        return result


def _wait(proc: subprocess.Popen, start: float) -> int | None:
    """The wait status of proc, or None after killing it on timeout."""
    while True:
        pid, status = os.waitpid(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status
        if time.perf_counter() - start > STEP_TIMEOUT:
            proc.kill()
            os.waitpid(proc.pid, 0)
            proc.returncode = -9
            return None
        time.sleep(0.005)


def _usage(text: str) -> tuple[int, float, float]:
    """(peak RSS KiB, user s, system s) from GNU time's last line ("Command exited
    with non-zero status N" may come first)."""
    try:
        rss, user, system = text.strip().splitlines()[-1].split()
        return int(rss), float(user), float(system)
    except (IndexError, ValueError):
        return 0, 0.0, 0.0
