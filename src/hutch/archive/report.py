"""How the core tells the outside what it does, without printing: a Reporter
receives file statuses, warnings, errors and progress. `cli/` picks the
implementation (text, JSON, or this null one)."""


class Reporter:
    """Null reporter; counts warnings and errors so the exit code can be set."""

    def __init__(self):
        self.warnings = 0
        self.errors = 0

    def file_status(self, status: str, path: bytes) -> None:
        """One file processed; status is a letter as in `create --list`."""

    def warning(self, message: str) -> None:
        """Something was skipped or changed under us: finished, exit code 1."""
        self.warnings += 1

    def error(self, message: str) -> None:
        """Something could not be done (a damaged file): exit code 2."""
        self.errors += 1

    def info(self, message: str) -> None:
        """A note for the user that changes nothing about the outcome."""

    def progress(self, **counters) -> None:
        """Counters of long work (bytes, files, current path); called often."""

    def step(self, current: int, total: int, what: str) -> None:
        """Progress through work of known size: `current` of `total` done."""

    def finish_progress(self) -> None:
        """Long work is over: clear any progress line."""
