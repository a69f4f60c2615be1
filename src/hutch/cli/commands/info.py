"""`hutch info`: details and statistics of one archive (or of all)."""

import json

from ...archive.check import repair_note
from ...repo.archives import ArchiveList
from ..args import add_command, add_location, report_damaged_archives, report_repaired, resolve
from ..context import Context
from ..output import format_size, logger, printable, repository_json

HELP = "Show details and statistics of REPO::ARCHIVE, or of every archive in REPO."


def register(sub, common):
    p = add_command(sub, common, "info", HELP)
    add_location(p, "optional")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    location, name = resolve(args)
    with Context(args).repository(location, lock="shared", reads_only=True) as repo:
        archives = ArchiveList(repo, logger.warning)
        entries = [archives.get(name)] if name else archives.list()
        if args.json:
            doc = {
                **repository_json(repo),
                "archives": [
                    {
                        "name": e.name,
                        "id": e.id.hex(),
                        "start": e.time,
                        "end": e.end,
                        "hostname": e.hostname,
                        "username": e.username,
                        "comment": e.comment,
                        "command_line": e.command_line,
                        "chunker_params": e.chunker_params,
                        "stats": e.stats,
                        **({"repaired": e.repaired} if e.repaired else {}),
                    }
                    for e in entries
                ],
            }
            print(json.dumps(doc, indent=2))
            return max(report_damaged_archives(archives), report_repaired(entries))
        for i, e in enumerate(entries):
            if i:
                print()
            s = e.stats
            print(f"Archive name: {printable(e.name)}")
            print(f"Archive fingerprint: {e.id.hex()}")
            print(f"Comment: {printable(e.comment)}")
            print(f"Hostname: {printable(e.hostname)}")
            print(f"Username: {printable(e.username)}")
            print(f"Time (start): {e.time}")
            print(f"Time (end): {e.end}")
            print(f"Command line: {printable(' '.join(e.command_line))}")
            print(f"Chunker params: {e.chunker_params}")
            note = repair_note(e)
            when_made = " (when it was made; see Damage below)" if note else ""
            print(f"Number of files: {s.get('nfiles', 0)}{when_made}")
            print(f"Original size: {format_size(s.get('original_size', 0))}")
            print(f"Compressed size (new data): {format_size(s.get('compressed_size', 0))}")
            print(f"Deduplicated size: {format_size(s.get('deduplicated_size', 0))}")
            if note:
                print(f"Damage: {note}")
        return max(report_damaged_archives(archives), report_repaired(entries))
