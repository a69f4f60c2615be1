"""Which cipher ssh should prefer for a repository connection.

OpenSSH prefers chacha20-poly1305, which is fast without AES instructions. On a
CPU that has them, AES-GCM moves the same bytes for less than half the CPU time,
and a backup or restore through ssh is mostly bytes: on two cores, ssh and sshd
took 40% of all CPU time of a restore with chacha20. Both are equally sound (and
everything hutch sends is encrypted and authenticated already), so hutch puts
AES-GCM first, but only when ssh's cipher list is its built-in default: a list
that a user, a system policy or HUTCH_RSH chose is left alone, and the order is
the only thing that changes, never the set of ciphers ssh may use."""

import subprocess

GCM_SUFFIX = "-gcm@openssh.com"
PROBE_TIMEOUT = 5


def cipher_options(ssh: list[str], destination: str) -> list[str]:
    """Options to add to `ssh` (the program and its options) for a login
    to `destination`: empty when nothing should change."""
    if not cpu_has_aes():
        return []
    effective = _ciphers([*ssh, "-G", "--", destination])
    default = _ciphers([ssh[0], "-F", "/dev/null", "-G", "--", destination])
    if effective is None or effective != default:
        return []
    gcm = [c for c in default if c.endswith(GCM_SUFFIX)]
    if not gcm or default[0] in gcm:
        return []
    return ["-o", "Ciphers=" + ",".join(gcm + [c for c in default if c not in gcm])]


def _ciphers(argv: list[str]) -> list[str] | None:
    """The cipher list `ssh -G` evaluates to; None when it cannot tell (not
    OpenSSH, an option it does not know, a configuration error)."""
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",  # a config's bytes need not be UTF-8
            timeout=PROBE_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "ciphers":
            return value.split(",")
    return None


def cpu_has_aes(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """AES instructions: the `aes` flag (x86) or feature (arm64) on Linux;
    anywhere else, not known, so no."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return "aes" in value.split()
    except OSError:
        pass
    return False
