"""`hutch repo-info`: what a repository is and how much it holds."""

import json
from concurrent.futures import ThreadPoolExecutor

from ...errors import IntegrityError, StoreError
from ...repo.keyless import pack_ids
from ...repo.repository import read_config
from ...store.base import NAMESPACES
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import format_size

HELP = """Show the repository's id, location, encryption, and how much it holds.

Needs no key: everything shown is what the repository keeps in clear."""


def register(sub, common):
    p = add_command(sub, common, "repo-info", HELP)
    add_location(p, "none")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    location, _ = resolve(args)
    with Context(args).keyless(location, lock="shared") as store:
        config = read_config(store)
        packs = store.list("packs")
        with ThreadPoolExecutor(max_workers=8) as pool:
            lists = pool.map(lambda p: _ids(store, p), packs)
            chunks = len(set().union(*lists))
        info = {
            "repository": {"id": config.repo_id.hex(), "location": store.location},
            "encryption": {"mode": config.mode},
            "archives": len(store.list("archives")),
            "packs": len(packs),
            "chunks": chunks,
            "size": sum(p.size for p in packs),
        }
        quota = getattr(store, "quota", None)  # what a server enforces for us
        if quota is not None:
            used = sum(i.size for ns in NAMESPACES for i in store.list(ns))
            info["storage_quota"] = {"limit": quota, "used": used}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"Repository ID: {info['repository']['id']}")
    print(f"Location: {info['repository']['location']}")
    print(f"Encrypted: {'No' if config.mode in ('none', 'authenticated') else 'Yes'}")
    print(f"Encryption mode: {config.mode}")
    print(f"Archives: {info['archives']}")
    print(f"Unique chunks: {info['chunks']} in {info['packs']} packs")
    print(f"Size on disk (packs): {format_size(info['size'])}")
    if quota is not None:
        print(f"Storage quota: {format_size(used)} used of {format_size(quota)}")
    return 0


def _ids(store, info) -> set[bytes]:
    """The chunk ids a pack lists in clear; none where it cannot be read
    (check names such packs)."""
    try:
        return set(pack_ids(store, info.name.split("/", 1)[1], info.size))
    except (IntegrityError, StoreError):
        return set()
