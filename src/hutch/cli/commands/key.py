"""`hutch key export|import|change-passphrase`: manage a repository's key."""

import sys

from ...crypto.key import Key, keyfile_text, parse_keyfile_text
from ...errors import KeyInvalid, UsageError
from ...repo.repository import load_envelope, read_config, save_envelope
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import logger
from ..passphrase import PassphraseSource

HELP = "Export, import, or change the passphrase of the repository's key."


def register(sub, common):
    p = add_command(sub, common, "key", HELP)
    keysub = p.add_subparsers(dest="key_command", metavar="KEY_COMMAND", required=True)
    e = add_command(
        keysub, common, "export", "Write the key (still passphrase-protected) to PATH or stdout."
    )
    add_location(e, "none")
    e.add_argument("path", metavar="PATH", nargs="?", help="file to write (default: stdout)")
    e.set_defaults(func=run_export)
    i = add_command(keysub, common, "import", "Restore a key exported with 'hutch key export'.")
    add_location(i, "none")
    i.add_argument("path", metavar="PATH", help="exported key file, or - for stdin")
    i.set_defaults(func=run_import)
    c = add_command(
        keysub,
        common,
        "change-passphrase",
        "Protect the key with a new passphrase (HUTCH_NEW_PASSPHRASE or a prompt).",
    )
    add_location(c, "none")
    c.set_defaults(func=run_change)


def run_export(args) -> int:
    location, _ = resolve(args)
    ctx = Context(args)
    with ctx.store(location) as store:
        config = read_config(store)
        if config.mode == "none":
            raise UsageError("this repository has no key (encryption none)")
        text = keyfile_text(
            config.repo_id, load_envelope(store, config, ctx.dirs.keys, ctx.key_file)
        )
    if args.path and args.path != "-":
        try:
            with open(args.path, "w") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"cannot write the key to {args.path}: {e.strerror}") from None
    else:
        sys.stdout.write(text)
    return 0


def run_import(args) -> int:
    location, _ = resolve(args)
    ctx = Context(args)
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
        where = save_envelope(repo.store, repo.key, repo.key.seal(new), ctx.dirs.keys, ctx.key_file)
    logger.info(f"passphrase changed; key saved to {where}")
    return 0
