"""A real OpenSSH server on 127.0.0.1 for tests: own port, config, host key
and authorized_keys; stopped by the test session."""

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import time

SSHD = "/usr/sbin/sshd"
VENV_BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """keys_file: the AuthorizedKeysFile setting (default: one file of the
    test's, for root). private_run: give sshd a fresh /run/hutch, so two
    "machines" on one host don't share it. bin_dir: where logged-in users
    find `hutch`."""

    def __init__(
        self,
        folder,
        keys_file: str | None = None,
        private_run: bool = False,
        bin_dir: str = VENV_BIN,
    ):
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.port = free_port()
        self.host_key = os.path.join(self.folder, "host_key")
        self.client_key = os.path.join(self.folder, "client_key")
        self.authorized_keys = os.path.join(self.folder, "authorized_keys")
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        with open(self.client_key + ".pub") as f:
            self.public_key = f.read().strip()
        self.allow_plain()
        config = os.path.join(self.folder, "sshd_config")
        with open(config, "w") as f:
            f.write(
                f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
                f"AuthorizedKeysFile {keys_file or self.authorized_keys}\n"
                f"PidFile {self.folder}/sshd.pid\nStrictModes no\nUsePAM no\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                "PermitRootLogin prohibit-password\nAllowAgentForwarding yes\n"
                "AllowStreamLocalForwarding yes\nAllowTcpForwarding yes\n"
                "ClientAliveInterval 5\nClientAliveCountMax 2\nSubsystem sftp internal-sftp\n"
                f"SetEnv PATH={bin_dir}:/usr/local/bin:/usr/bin:/bin\n"
            )
        os.makedirs("/run/sshd", exist_ok=True)
        # Its own mount namespace: the shell of a root login reads an empty
        # ~/.bashrc (bash reads it for commands sshd runs; here it runs
        # `pyenv init`, 0.2 s per login, which a backup server's account does
        # not), and with private_run a fresh /run/hutch, so that two
        # "machines" on one host don't share it.
        rc = shlex.quote(os.path.join(pwd.getpwnam("root").pw_dir, ".bashrc"))
        setup = f"{{ [ ! -f {rc} ] || mount --bind /dev/null {rc}; }}"
        if private_run:
            setup += " && mkdir -p /run/hutch && mount -t tmpfs -o mode=1777 tmpfs /run/hutch"
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
        argv += [setup + ' && exec "$@"', "sshd", SSHD, "-D", "-e", "-f", config]
        self.proc = subprocess.Popen(argv, stderr=open(os.path.join(self.folder, "log"), "w"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("sshd did not start")

    def authorize(self, options: str = "") -> None:
        """Replace authorized_keys with one line for the client key."""
        with open(self.authorized_keys, "w") as f:
            f.write(f"{options} {self.public_key}\n" if options else f"{self.public_key}\n")

    def allow_plain(self) -> None:
        self.authorize("")

    @property
    def rsh(self) -> str:
        """A HUTCH_RSH value that logs in with the test key."""
        return (
            f"ssh -F /dev/null -i {shlex.quote(self.client_key)} -o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
        )

    def url(self, path, user: str = "root") -> str:
        path = str(path)
        return f"ssh://{user}@127.0.0.1:{self.port}{path if path.startswith('/') else '/' + path}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def have_sshd() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh") is not None
