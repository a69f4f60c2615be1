"""Where a passphrase comes from: HUTCH_PASSPHRASE, HUTCH_PASSCOMMAND,
HUTCH_PASSPHRASE_FD, or a prompt on the terminal."""

import os
import termios

from ..errors import UsageError


def _prompt(text: str) -> str:
    try:
        tty = open("/dev/tty", "r+")
    except OSError:
        raise UsageError(
            "a passphrase is needed and there is no terminal to ask on: "
            "set HUTCH_PASSPHRASE, HUTCH_PASSCOMMAND or HUTCH_PASSPHRASE_FD"
        ) from None
    with tty:
        fd = tty.fileno()
        old = termios.tcgetattr(fd)
        new = termios.tcgetattr(fd)
        new[3] &= ~termios.ECHO
        tty.write(text)
        tty.flush()
        try:
            termios.tcsetattr(fd, termios.TCSAFLUSH, new)
            answer = tty.readline()
        finally:
            termios.tcsetattr(fd, termios.TCSAFLUSH, old)
            tty.write("\n")
        return answer.rstrip("\n")


def from_environment(env_var: str = "HUTCH_PASSPHRASE") -> str | None:
    if env_var in os.environ:
        return os.environ[env_var]
    if env_var != "HUTCH_PASSPHRASE":
        return None
    command = os.environ.get("HUTCH_PASSCOMMAND")
    if command:
        # Imported here: this module is read before the rest of hutch loads
        # (cli/keyahead.py), and few set a command.
        import shlex
        import subprocess

        try:
            out = subprocess.run(
                shlex.split(command), capture_output=True, text=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise UsageError(f"HUTCH_PASSCOMMAND failed: {e}") from None
        return out.rstrip("\n")
    fd = os.environ.get("HUTCH_PASSPHRASE_FD")
    if fd:
        try:
            with os.fdopen(int(fd), "r") as f:
                return f.readline().rstrip("\n")
        except (OSError, ValueError) as e:
            raise UsageError(
                f"cannot read the passphrase from HUTCH_PASSPHRASE_FD={fd}: {e}"
            ) from None
    return None


class PassphraseSource:
    """Called by the repository when it needs a passphrase; asks once."""

    def __init__(
        self,
        env_var: str = "HUTCH_PASSPHRASE",
        confirm: bool = False,
        what: str = "",
        offered: str | None = None,
    ):
        self.env_var = env_var
        self.offered = offered  # handed over by a pulling server
        self.confirm = confirm
        self.what = what or "passphrase"
        self._value: str | None = None

    def __call__(self) -> str:
        if self._value is None:
            self._value = self._get()
        return self._value

    def _get(self) -> str:
        if self.offered is not None:
            return self.offered
        value = from_environment(self.env_var)
        if value is not None:
            return value
        first = _prompt(f"Enter {self.what}: ")
        if self.confirm:
            if _prompt(f"Enter the same {self.what} again: ") != first:
                raise UsageError("the passphrases did not match; nothing was changed")
            if not first:
                raise UsageError("an empty passphrase protects nothing; choose one")
        return first
