"""What the user sees on stderr: log messages at the chosen level (text or
JSON lines), file lists, a progress line; and the reporter that the core
calls to report them.

With --log-json every one of them is one JSON object per line on stderr,
as borg writes them: {"type": "log_message", ...}, "file_status",
"progress_message" (progress without a known end) and "progress_percent"
(current of total); a progress display ends with "finished": true.

Text that comes from outside never reaches a terminal raw (see
terminal.py): every text log line passes through `printable`, and so does
every field a command prints. --json and --json-lines keep the exact text.
"""

import json
import logging
import os
import sys
import time

from ..archive.report import Reporter
from ..terminal import printable

logger = logging.getLogger("hutch")


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # A relayed line was made printable once already (relay_remote_line).
        return (
            record.getMessage()
            if getattr(record, "relayed", False)
            else printable(record.getMessage())
        )


def relay_remote_line(prefix: str, line: str, level: int = logging.WARNING) -> None:
    """Show a line a remote hutch wrote, attributed to it. A hutch escapes
    its own output already: control characters are escaped again here,
    backslashes left alone (they are the remote's escapes)."""
    finish_progress_line()
    text = f"{prefix}: {printable(line, backslash=False)}"
    logger.log(level, text, extra={"relayed": True})


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "type": "log_message",
                "time": record.created,
                "levelname": record.levelname,
                "name": record.name,
                "message": record.getMessage(),
            }
        )


_log_json = False


def setup_logging(level: str, log_json: bool) -> None:
    global _log_json
    _log_json = log_json
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if log_json else _TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


class Notices:
    """Warnings that come from beside a command's own work (the local cache
    failed): logged as they come, and they make the exit code a warning."""

    def __init__(self):
        self.count = 0

    def warning(self, message: str) -> None:
        self.count += 1
        logger.warning(message)


notices = Notices()


def emit_json(doc: dict) -> None:
    """One JSON object as a line on stderr (--log-json)."""
    sys.stderr.write(json.dumps({**doc, "time": time.time()}) + "\n")
    sys.stderr.flush()


class TextReporter(Reporter):
    """Reports to the log; file lines only with --list; progress with -p."""

    def __init__(self, list_files: bool = False, progress: bool = False, json_lines=None):
        super().__init__()
        self.list_files = list_files
        self.show_progress = progress
        self.json_lines = json_lines
        self._last_progress = 0.0

    def file_status(self, status: str, path: bytes) -> None:
        if not self.list_files:
            return
        name = os.fsdecode(path)
        if self.json_lines is not None:
            self.json_lines.write(
                json.dumps({"type": "file_status", "status": status, "path": name}) + "\n"
            )
            return
        if _log_json:
            emit_json({"type": "file_status", "status": status, "path": name})
            return
        self._clear_progress()
        logger.warning(f"{status} {name}" if status else name)

    def warning(self, message: str) -> None:
        super().warning(message)
        self._clear_progress()
        logger.warning(message)

    def error(self, message: str) -> None:
        super().error(message)
        self._clear_progress()
        logger.error(message)

    def info(self, message: str) -> None:
        if logger.isEnabledFor(logging.INFO):
            self._clear_progress()
        logger.info(message)

    def progress(self, **counters) -> None:
        if not self.show_progress:
            return
        now = time.monotonic()
        if now - self._last_progress < 0.2:
            return
        self._last_progress = now
        size = counters.get("original_size", 0)
        if _log_json:
            path = os.fsdecode(counters.get("path", b""))
            emit_progress(
                {
                    "type": "progress_message",
                    "msgid": "progress",
                    "finished": False,
                    "message": f"{format_size(size)} O {counters.get('nfiles', 0)} N {path}",
                    "original_size": size,
                    "nfiles": counters.get("nfiles", 0),
                    "path": path,
                }
            )
            return
        path = printable(counters.get("path", b""))
        show_progress_line(f"{format_size(size)} O {counters.get('nfiles', 0)} N {path}")

    def step(self, current: int, total: int, what: str) -> None:
        if self.show_progress:
            show_percent(current, total, what)

    def _clear_progress(self) -> None:
        finish_progress_line()

    def finish_progress(self) -> None:
        finish_progress_line()


_PROGRESS_WIDTH = 78
_progress_shown = False


def emit_progress(doc: dict) -> None:
    """A progress update as JSON; the display ends with finish_progress_line."""
    global _progress_shown
    _progress_shown = True
    emit_json(doc)


def show_percent(current: int, total: int, what: str) -> None:
    """Progress through work of known size (--progress)."""
    share = current / total if total else 1.0
    if _log_json:
        emit_progress(
            {
                "type": "progress_percent",
                "msgid": what,
                "finished": False,
                "message": f"{what}: {share:.0%}",
                "current": current,
                "total": total,
            }
        )
        return
    show_progress_line(f"{what}: {current}/{total} ({share:.0%})")


def show_step(text: str) -> None:
    """Progress as a message: which step long work is at (--progress)."""
    if _log_json:
        emit_progress(
            {"type": "progress_message", "msgid": "step", "finished": False, "message": text}
        )
        return
    show_progress_line(printable(text))


def show_progress_line(line: str) -> None:
    """Show `line` (printable already) as the one progress line on stderr,
    in place of the previous one."""
    global _progress_shown
    if _log_json:
        emit_progress({"type": "progress_message", "finished": False, "message": line})
        return
    width = _PROGRESS_WIDTH
    if len(line) > width:
        line = line[: width // 2 - 2] + "..." + line[-(width // 2 - 1) :]
    sys.stderr.write("\r" + line.ljust(width) + "\r")
    sys.stderr.flush()
    _progress_shown = True


def finish_progress_line() -> None:
    """Clear the progress line, if one is shown."""
    global _progress_shown
    if _progress_shown and _log_json:
        emit_json({"type": "progress_message", "finished": True})
        _progress_shown = False
    elif _progress_shown:
        sys.stderr.write("\r" + " " * _PROGRESS_WIDTH + "\r")
        _progress_shown = False


def format_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n} B"


def repository_json(repo) -> dict:
    """The part every --json document starts with, as borg writes it."""
    return {
        "repository": {"id": repo.id.hex(), "location": repo.store.location},
        "encryption": {"mode": repo.key.mode},
    }
