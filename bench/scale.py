"""Scale run (`make bench-scale`): hutch alone on 1,000,000 small files, next to the
same phases on 200,000, to see that memory stays bounded and files/s holds up.

Phases: first backup, unchanged re-backup, `list` of the archive, restore (checked
byte for byte). Every phase records wall-clock time, peak RSS and files per second.
The 1M corpus takes about 4 GiB and a while to generate (once; cached in
bench/work/corpus/). Rows and the table go to bench/results/.
"""

from __future__ import annotations

import argparse
import sys
import time

import bench
import report
import smallfiles
import tools

PHASES = ("backup1", "backup2", "list", "restore")
RSS_BOUND_MIB = 250


def run_corpus(rows: list, count: int, reps: int) -> None:
    root = smallfiles.ensure(bench.WORK / "corpus", count)
    ctx = {"name": smallfiles.name(count), "source": root / "data", "files": count}
    print(f"corpus {ctx['name']}: hashing the source for the restore check", flush=True)
    ctx["digests"] = bench.corpus.tree_digests(ctx["source"])
    for rep in range(reps):
        tools.reset(bench.WORK, "hutch")
        tool = tools.make("hutch", bench.WORK, ctx["source"])
        base = {"rep": rep, "corpus": ctx["name"], "tool": "hutch"}
        source = ctx["source"]
        ok = bench.step(rows, base, tool, "init", tool.init, bench.WORK)
        ok = ok and bench.step(rows, base, tool, "backup1", tool.create("a"), source.parent)
        ok = ok and bench.step(rows, base, tool, "backup2", tool.create("b"), source.parent)
        ok = ok and bench.step(rows, base, tool, "list", tool.list("b"), bench.WORK)
        target = bench.WORK / "restore-hutch"
        target.mkdir(parents=True, exist_ok=True)
        ok = ok and bench.step(rows, base, tool, "restore", tool.extract("b"), target)
        if ok:
            problems = bench.verify(ctx, tool.restored(target, source))
            rows[-1]["verified"] = not problems
            if problems:
                print("!! RESTORED DATA DOES NOT MATCH THE SOURCE", *problems, sep="\n!! ")
        tools.reset(bench.WORK, "hutch")


def table(rows: list[dict], counts: list[int]) -> str:
    med = report.medians(rows)
    lines = [
        "| files | phase | seconds | files/s | peak RSS MiB |",
        "| --- | --- | --- | --- | --- |",
    ]
    rates = {}
    for count in counts:
        for phase in PHASES:
            found = med.get((smallfiles.name(count), "hutch", phase))
            if found is None:
                continue
            rate = count / found["seconds"]
            rates[count, phase] = rate
            lines.append(
                f"| {count} | {phase} | {found['seconds']:.2f} | {rate:.0f} "
                f"| {found['rss_mib']:.0f} |"
            )
    lines += ["", f"peak RSS bound: {RSS_BOUND_MIB} MiB"]
    if len(counts) == 2:
        small, big = counts
        for phase in PHASES:
            if (small, phase) in rates and (big, phase) in rates:
                share = rates[big, phase] / rates[small, phase]
                lines.append(f"- {phase}: files/s at {big} = {share:.2f} x files/s at {small}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=1_000_000, help="the large corpus")
    p.add_argument("--compare", type=int, default=200_000, help="the corpus to compare with")
    p.add_argument("--reps", type=int, default=1)
    args = p.parse_args(argv)
    bench.WORK.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    counts = [args.compare, args.files] if args.compare else [args.files]
    for count in counts:
        run_corpus(rows, count, args.reps)
    text = f"# hutch scale run, {time.strftime('%Y-%m-%d %H:%M')}\n\n" + table(rows, counts)
    print("\n" + text)
    stamp = time.strftime("%Y-%m-%d-%H%M")
    doc = {"kind": "scale", "created": stamp, "host": bench.host(), "rows": rows}
    raw, md = report.write(bench.RESULTS, stamp, doc, text)
    print(f"\nrows: {raw}\ntable: {md}")
    failed = [r for r in rows if not r["ok"] or r.get("verified") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
