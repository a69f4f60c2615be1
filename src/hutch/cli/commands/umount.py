"""`hutch umount`: unmount what `hutch mount` mounted."""

import shutil
import subprocess

from ...errors import HutchError
from ..args import add_command

HELP = """Unmount a file system that 'hutch mount' mounted at MOUNTPOINT."""


def register(sub, common):
    p = add_command(sub, common, "umount", HELP)
    p.add_argument("mountpoint", metavar="MOUNTPOINT")
    p.set_defaults(func=run)


def run(args) -> int:
    for tool in ("fusermount3", "fusermount"):
        path = shutil.which(tool)
        if path:
            command = [path, "-u", args.mountpoint]
            break
    else:
        command = ["umount", args.mountpoint]
    try:
        proc = subprocess.run(command, capture_output=True, text=True)
    except OSError as e:
        raise HutchError(f"cannot run {command[0]}: {e.strerror}") from None
    if proc.returncode:
        message = proc.stderr.strip() or f"{command[0]} exited with {proc.returncode}"
        raise HutchError(f"cannot unmount {args.mountpoint}: {message}")
    return 0
