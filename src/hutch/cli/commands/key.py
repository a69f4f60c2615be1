"""`hutch key export|import|change-passphrase|change-location`: manage a
repository's key."""

import html
import io
import sys

from ...crypto.key import Key, kdf_inputs, keyfile_text, parse_keyfile_text
from ...crypto.paperkey import join_paper, paper_lines, parse_paper_line
from ...errors import KeyInvalid, UsageError
from ...repo.keylocation import change_key_location
from ...repo.repository import load_envelope, read_config, save_envelope
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import logger
from ..passphrase import PassphraseSource

HELP = """Export, import, or change the passphrase or the place of the
repository's key.

An exported key is still protected by the passphrase: keep it, and the
passphrase, apart from the repository. --paper writes lines to type back
in with 'hutch key import --paper' (each line carries check digits);
--qr-html writes an HTML page to print, with the key as a QR code and as
those lines."""


def register(sub, common) -> None:
    p = add_command(sub, common, "key", HELP)
    keysub = p.add_subparsers(dest="key_command", metavar="KEY_COMMAND", required=True)
    e = add_command(
        keysub, common, "export", "Write the key (still passphrase-protected) to PATH or stdout."
    )
    add_location(e, "none")
    e.add_argument("path", metavar="PATH", nargs="?", help="file to write (default: stdout)")
    form = e.add_mutually_exclusive_group()
    form.add_argument("--paper", action="store_true", help="as lines to type back in")
    form.add_argument("--qr-html", action="store_true", help="as an HTML page to print")
    e.set_defaults(func=run_export)
    i = add_command(
        keysub,
        common,
        "import",
        "Restore a key exported with 'hutch key export'.\n\n"
        "--paper reads the lines of 'key export --paper' from PATH, stdin, or, on a\n"
        "terminal, asks for them one by one and names a line with a typing mistake.",
    )
    add_location(i, "none")
    i.add_argument("path", metavar="PATH", nargs="?", help="exported key file, or - for stdin")
    i.add_argument("--paper", action="store_true", help="read the lines of a paper export")
    i.set_defaults(func=run_import)
    c = add_command(
        keysub,
        common,
        "change-passphrase",
        "Protect the key with a new passphrase (HUTCH_NEW_PASSPHRASE or a prompt).",
    )
    add_location(c, "none")
    c.set_defaults(func=run_change)
    m = add_command(
        keysub,
        common,
        "change-location",
        "Move the key into the repository (repokey) or into a key file on this machine\n"
        "(keyfile). The mode changes with it (repokey <-> keyfile, and the same for\n"
        "the chacha20-poly1305 modes); the data is not touched. Other machines that\n"
        "used the repository refuse the changed mode until their record of it is\n"
        "removed (the message names the file): on those machines, that is the check\n"
        "against a server that claims a weaker mode.",
    )
    add_location(m, "none")
    m.add_argument("key_location", metavar="LOCATION", choices=["repokey", "keyfile"])
    m.add_argument("--keep", action="store_true", help="leave the key in its old place as well")
    m.set_defaults(func=run_change_location)


def _export_text(args) -> tuple[bytes, bytes]:
    location, _ = resolve(args)
    ctx = Context(args)
    with ctx.store(location) as store:
        config = read_config(store)
        if config.mode == "none":
            raise UsageError("this repository has no key (encryption none)")
        return config.repo_id, load_envelope(store, config, ctx.dirs.keys, ctx.key_file)


def run_export(args) -> int:
    repo_id, envelope = _export_text(args)
    if args.paper:
        text = "\n".join(paper_lines(repo_id, envelope)) + "\n"
    elif args.qr_html:
        text = key_html(repo_id, envelope)
    else:
        text = keyfile_text(repo_id, envelope)
    if args.path and args.path != "-":
        try:
            with open(args.path, "w") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"cannot write the key to {args.path}: {e.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0


def key_html(repo_id: bytes, envelope: bytes) -> str:
    """A page to print: the key file's text as a QR code, and the paper lines."""
    import segno  # only here: every command would carry its weight

    qr = segno.make(keyfile_text(repo_id, envelope), error="m")
    svg = io.BytesIO()
    qr.save(svg, kind="svg", scale=4, xmldecl=False, svgns=True)
    lines = html.escape("\n".join(paper_lines(repo_id, envelope)))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>hutch key {repo_id.hex()[:8]}</title></head>
<body>
<h1>hutch key of repository {repo_id.hex()}</h1>
<p>Protected by the repository's passphrase. To restore it, scan the code into a
file and run <code>hutch key import REPO FILE</code>, or type the lines into
<code>hutch key import --paper REPO</code>.</p>
{svg.getvalue().decode()}
<pre>{lines}</pre>
</body></html>
"""


def _read_paper(path: str | None) -> tuple[bytes, bytes]:
    interactive = path is None and sys.stdin.isatty()
    source = sys.stdin if path in (None, "-") else open(path)
    pieces: list[bytes] = []
    total = None
    with source:
        while total is None or len(pieces) < total:
            number = len(pieces) + 1
            if interactive:
                sys.stderr.write(f"line {number:02d}" + (f"/{total:02d}" if total else "") + ": ")
                sys.stderr.flush()
            line = source.readline()
            if not line:
                raise KeyInvalid(f"the key ends before line {number} of {total or '?'}")
            if not line.strip() or line.startswith("hutch key"):
                continue
            if interactive and "/" not in line.split(":")[0]:
                line = f"{number}/{total or number}: {line}"
            try:
                data, total = parse_paper_line(line, number)
            except KeyInvalid as e:
                if not interactive:
                    raise
                sys.stderr.write(f"{e}; type line {number} again\n")
                continue
            pieces.append(data)
    return join_paper(pieces)


def run_import(args) -> int:
    location, _ = resolve(args)
    ctx = Context(args)
    if args.paper:
        repo_id, envelope = _read_paper(args.path)
    else:
        if args.path is None:
            raise UsageError("name the exported key file, or - for stdin")
        try:
            if args.path == "-":
                text = sys.stdin.read()
            else:
                with open(args.path, errors="replace") as f:
                    text = f.read()
        except OSError as e:
            raise UsageError(f"cannot read {args.path}: {e.strerror}") from None
        repo_id, envelope = parse_keyfile_text(text)
    with ctx.store(location) as store:
        config = read_config(store)
        if repo_id != config.repo_id:
            raise KeyInvalid("this key belongs to another repository")
        # Prove the key opens with a passphrase before storing it.
        key = Key.unseal(envelope, PassphraseSource()(), repo_id)
        where = save_envelope(store, key, envelope, ctx.dirs.keys, ctx.key_file)
    logger.info(f"key imported to {where}")
    return 0


def run_change(args) -> int:
    location, _ = resolve(args)
    ctx = Context(args)
    with ctx.repository(location, lock="exclusive") as repo:
        new = PassphraseSource("HUTCH_NEW_PASSPHRASE", confirm=True, what="new passphrase")()
        if repo.key.mode == "none":
            raise UsageError("this repository has no key (encryption none)")
        envelope = repo.key.seal(new)
        where = save_envelope(repo.store, repo.key, envelope, ctx.dirs.keys, ctx.key_file)
        ctx.remember_key_salt(location, kdf_inputs(envelope))
    logger.info(f"passphrase changed; key saved to {where}")
    return 0


def run_change_location(args) -> int:
    location, _ = resolve(args)
    ctx = Context(args)
    passphrase = PassphraseSource()
    with ctx.repository(location, lock="exclusive", passphrase=passphrase) as repo:
        where = change_key_location(
            repo.store,
            repo.key,
            passphrase(),
            args.key_location,
            ctx.dirs.keys,
            ctx.key_file,
            ctx.dirs.security,
            keep=args.keep,
        )
    logger.info(f"key moved to {where}; the repository's mode is now {repo.key.mode}")
    return 0
