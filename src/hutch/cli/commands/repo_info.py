"""`hutch repo-info`: what a repository is and how much it holds."""

import json

from ...repo.archives import ArchiveList
from ...store.base import NAMESPACES
from ..args import add_command, add_location, resolve
from ..context import Context
from ..output import format_size, logger, repository_json

HELP = "Show the repository's id, location, encryption, and how much it holds."


def register(sub, common):
    p = add_command(sub, common, "repo-info", HELP)
    add_location(p, "none")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    location, _ = resolve(args)
    with Context(args).repository(location, lock="shared", reads_only=True) as repo:
        packs = repo.store.list("packs")
        archives = ArchiveList(repo, logger.warning).list()
        info = {
            **repository_json(repo),
            "archives": len(archives),
            "packs": len(packs),
            "chunks": len(repo.index),
            "size": sum(p.size for p in packs),
        }
        quota = getattr(repo.store, "quota", None)  # what a server enforces for us
        if quota is not None:
            used = sum(i.size for ns in NAMESPACES for i in repo.store.list(ns))
            info["storage_quota"] = {"limit": quota, "used": used}
        if args.json:
            print(json.dumps(info, indent=2))
            return 0
        print(f"Repository ID: {info['repository']['id']}")
        print(f"Location: {info['repository']['location']}")
        print(f"Encrypted: {'No' if repo.key.mode in ('none', 'authenticated') else 'Yes'}")
        print(f"Encryption mode: {repo.key.mode}")
        print(f"Archives: {info['archives']}")
        print(f"Unique chunks: {info['chunks']} in {info['packs']} packs")
        print(f"Size on disk (packs): {format_size(info['size'])}")
        if quota is not None:
            print(f"Storage quota: {format_size(used)} used of {format_size(quota)}")
    return 0
