"""The versions view of a repository mount (`mount -o versions`): the
archives merged into one tree, where each regular file is a folder of its
versions: `docs/report.txt/report.00001.txt`, `report.00002.txt`, ...
numbered in the order the versions first appear, oldest archive first. A
version is a distinct content (chunk list): a file that did not change
between archives has one version. Folders, links and other items show
as the newest archive that holds them has them.
"""

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator

from ..repo.archives import ArchiveEntry


def versioned_name(name: bytes, number: int) -> bytes:
    """`report.txt`, 3 -> `report.00003.txt`: the extension stays last, so
    that programs still know the file's type."""
    stem, ext = os.path.splitext(name)
    if not stem:  # a dot file such as .bashrc
        stem, ext = name, b""
    return stem + b".%05d" % number + ext


def versioned_items(archives: Iterable[tuple[ArchiveEntry, Iterable[dict]]]) -> Iterator[dict]:
    """Items of the merged tree, from (archive, its items) pairs in the
    order the archives were made."""
    seen: dict[bytes, dict[bytes, int]] = {}  # path -> content digest -> version
    for _entry, items in archives:
        groups: dict[bytes, list] = {}  # hardlink group -> chunks, within one archive
        for item in items:
            if not stat.S_ISREG(item["mode"]):
                yield item
                continue
            hlid = item.pop("hlid", None)
            if hlid is not None:
                if item.get("chunks"):
                    groups.setdefault(hlid, item["chunks"])
                elif hlid in groups:
                    item["chunks"] = groups[hlid]
            digest = hashlib.sha256(b"".join(bytes(c) for c, _ in item.get("chunks") or ()))
            versions = seen.setdefault(item["path"], {})
            key = digest.digest()
            if key in versions:
                continue
            versions[key] = len(versions) + 1
            path = item["path"]
            item["path"] = path + b"/" + versioned_name(os.path.basename(path), versions[key])
            yield item
