"""Benchmark hutch against borg 1.2 and restic on two deterministic corpora.

Corpora: `mixed` (source-like files plus about 1 GiB of random, log and repeated
data) and `small` (200,000 files of 200 B - 4 KiB, 1,000 per folder). Programs:
hutch and borg locally and over ssh to a private sshd on 127.0.0.1, restic locally.
Phases: first backup, unchanged re-backup, restore (checked byte for byte against the
source). Every phase records wall-clock time and peak RSS. Each repetition runs every
program on every corpus, in a rotating order (interleaved, so that a noisy neighbour
hurts all alike); the table shows medians and hutch's ratios. Raw rows and the table
go to bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import corpus
import measure
import report
import smallfiles
import tools

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
from tests.sshd import Sshd, have_sshd  # noqa: E402

WORK = BENCH_DIR / "work"
# Where restores go (--restore-dir): the work folder unless told otherwise.
RESTORE = WORK
RESULTS = BENCH_DIR / "results"
SMALL_FILES = 200_000


def prepare(name: str, args: argparse.Namespace) -> dict:
    """Generate (once) and fingerprint one corpus."""
    if name == "mixed":
        spec = corpus.default_spec(args.quick, None)
        root = corpus.ensure(WORK / "corpus", spec)
        desc = asdict(spec)
    else:
        count = args.small_files if not args.quick else 10_000
        root = smallfiles.ensure(WORK / "corpus", count)
        desc = smallfiles.spec(count)
    source = root / "data"
    files, nbytes = corpus.tree_stats(source)
    digests = corpus.tree_digests(source)
    print(f"corpus {name}: {files} files, {nbytes / corpus.MIB:.1f} MiB in {source}", flush=True)
    return {
        "name": name,
        "source": source,
        "spec": desc,
        "files": files,
        "bytes": nbytes,
        "digests": digests,
    }


def verify(ctx: dict, restored: Path) -> list[str]:
    """Differences between the restored tree and the source; empty if identical."""
    expected = ctx["digests"]
    if not restored.is_dir():
        return [f"restored tree not found at {restored}"]
    got = corpus.tree_digests(restored)
    if got == expected:
        return []
    missing = sorted(expected.keys() - got.keys())
    extra = sorted(got.keys() - expected.keys())
    changed = sorted(k for k in expected.keys() & got.keys() if expected[k] != got[k])
    problems = [f"{len(missing)} missing, {len(extra)} extra, {len(changed)} differing files"]
    for label, paths in (("missing", missing), ("extra", extra), ("differs", changed)):
        problems += [f"{label}: {p}" for p in paths[:5]]
    return problems


def step(rows: list, base: dict, tool: tools.Tool, phase: str, cmd: list[str], cwd: Path) -> bool:
    res = measure.run(cmd, cwd, tool.env)
    rows.append(
        {
            **base,
            "phase": phase,
            "ok": res.ok,
            "seconds": round(res.seconds, 3),
            "rss_kib": res.rss_kib,
            "user": round(res.user, 3),
            "system": round(res.system, 3),
            "returncode": res.returncode,
            "error": res.error,
        }
    )
    state = f"{res.seconds:8.2f} s {res.rss_kib / 1024:7.0f} MiB" if res.ok else "FAILED"
    print(f"   {base['corpus']:<6} {tool.name:<10} {phase:<8} {state}", flush=True)
    for line in res.error:
        print(f"!!   {line}")
    return res.ok


def warm(*roots: Path) -> None:
    """Read every file under `roots` once, untimed. This machine's kernel pages out
    memory not touched for a minute (DAMON's `pageout` scheme), so without this the
    corpus or a repository may be cached for one program and read from disk for the
    next: first backups of the small corpus took 25 to 60 s by that chance alone."""
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                try:
                    with open(os.path.join(folder, name), "rb", buffering=0) as f:
                        while f.read(1 << 20):
                            pass
                except OSError:
                    pass


def run_tool(rows: list, rep: int, ctx: dict, name: str, sshd) -> bool:
    """Init, two backups and a verified restore with a fresh repository; False if the
    restore is missing or differs from the source. Every step starts with what it
    reads in the page cache: the corpus, the repository and the tool's cache."""
    source = ctx["source"]
    tools.reset(WORK, name)
    tools.reset(RESTORE, name)
    tool = tools.make(name, WORK, source, sshd)
    base = {"rep": rep, "corpus": ctx["name"], "tool": name}
    own = (WORK / f"repo-{name}", WORK / f"home-{name}")
    ok = step(rows, base, tool, "init", tool.init, WORK)
    warm(source, *own)
    ok = ok and step(rows, base, tool, "backup1", tool.create("bench-1"), source.parent)
    warm(source, *own)
    ok = ok and step(rows, base, tool, "backup2", tool.create("bench-2"), source.parent)
    target = RESTORE / f"restore-{name}"
    target.mkdir(parents=True, exist_ok=True)
    warm(*own)
    ok = ok and step(rows, base, tool, "restore", tool.extract("bench-2"), target)
    if ok:
        problems = verify(ctx, tool.restored(target, source))
        rows[-1]["verified"] = not problems
        if problems:
            print("!!", f"{name}: RESTORED DATA DOES NOT MATCH THE SOURCE", *problems, sep="\n!! ")
            ok = False
    tools.reset(WORK, name)
    tools.reset(RESTORE, name)
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpora", default="mixed,small", help="comma-separated: mixed,small")
    p.add_argument(
        "--tools",
        default=",".join(tools.ALL),
        help="comma-separated subset of " + ",".join(tools.ALL),
    )
    p.add_argument("--reps", type=int, default=3, help="repetitions (medians are shown)")
    p.add_argument("--small-files", type=int, default=SMALL_FILES, metavar="N")
    p.add_argument("--quick", action="store_true", help="small corpora, for trying the harness")
    p.add_argument("--results", type=Path, default=RESULTS, help="folder for rows and table")
    p.add_argument(
        "--restore-dir",
        type=Path,
        default=WORK,
        help="restore below this folder (e.g. a tmpfs, where creating and deleting "
        "200,000 files does not take minutes)",
    )
    p.add_argument(
        "--table-from",
        type=Path,
        metavar="ROWS.json",
        help="print and write the table of the rows an earlier (perhaps interrupted) run "
        "wrote, instead of running",
    )
    args = p.parse_args(argv)
    args.corpora = [c for c in args.corpora.split(",") if c]
    args.tools = [t for t in args.tools.split(",") if t]
    if set(args.corpora) - {"mixed", "small"} or set(args.tools) - set(tools.ALL):
        p.error("unknown corpus or tool")
    return args


def main(argv: list[str] | None = None) -> int:
    global RESTORE
    args = parse_args(argv)
    if args.table_from:
        return table_from(args)
    RESTORE = args.restore_dir.resolve()
    WORK.mkdir(parents=True, exist_ok=True)
    contexts = [prepare(c, args) for c in args.corpora]
    sshd = None
    if any(t.endswith("-ssh") for t in args.tools):
        if not have_sshd():
            print("no sshd: leaving out the ssh runs")
            args.tools = [t for t in args.tools if not t.endswith("-ssh")]
        else:
            shutil.rmtree(WORK / "sshd", ignore_errors=True)  # keys of an earlier run
            sshd = Sshd(WORK / "sshd")
    rows: list[dict] = []
    failed = set()
    info = {c["name"]: {"files": c["files"], "bytes": c["bytes"]} for c in contexts}
    stamp = time.strftime("%Y-%m-%d-%H%M")
    try:
        for rep in range(args.reps):
            for ctx in contexts:
                shift = rep % len(args.tools)
                for name in args.tools[shift:] + args.tools[:shift]:
                    if not run_tool(rows, rep, ctx, name, sshd):
                        failed.add(name)
                    # Rows so far, so that an interrupted run still leaves its measurements.
                    report.write_rows(
                        args.results, stamp, {"kind": "bench", "corpora": info, "rows": rows}
                    )
    finally:
        if sshd:
            sshd.stop()
    med = report.medians(rows)
    names = [c["name"] for c in contexts]
    text = summary(med, names, contexts, args)
    print("\n" + text)
    doc = {
        "kind": "bench",
        "created": stamp,
        "host": host(),
        "args": vars_of(args),
        "corpora": [{k: c[k] for k in ("name", "spec", "files", "bytes")} for c in contexts],
        "versions": versions(args.tools, contexts[0]["source"]),
        "rows": rows,
    }
    raw, md = report.write(args.results, stamp, doc, text)
    print(f"\nrows: {raw}\ntable: {md}")
    if failed:
        print(f"\nFAILED or unverified: {', '.join(sorted(failed))}")
    return 1 if failed else 0


def table_from(args: argparse.Namespace) -> int:
    doc = json.loads(args.table_from.read_text())
    rows = doc["rows"]
    names = [c for c in ("mixed", "small") if any(r["corpus"] == c for r in rows)]
    args.reps = len({r["rep"] for r in rows})
    contexts = [{"name": c, "files": 0, "bytes": 0} for c in names]
    for c in contexts:
        c.update(doc.get("corpora", {}).get(c["name"], {}))
    text = summary(report.medians(rows), names, contexts, args)
    print(text)
    stamp = args.table_from.name.removesuffix("-bench-rows.json")
    md = args.results / f"{stamp}-bench.md"
    md.write_text(text + "\n")
    print(f"\ntable: {md}")
    return 0


def summary(med: dict, names: list[str], contexts: list[dict], args) -> str:
    head = [f"# hutch benchmark, {time.strftime('%Y-%m-%d %H:%M')}", ""]
    for c in contexts:
        head.append(f"- corpus {c['name']}: {c['files']} files, {c['bytes'] / corpus.MIB:.0f} MiB")
    head += [
        f"- medians of {args.reps} interleaved runs on {host()['cpus']} CPUs; "
        "cells: seconds (peak RSS MiB); ratios are hutch's over the other's "
        "(below 1: hutch faster or smaller); ssh RSS is the client's",
        "",
        "",
    ]
    mixed = "mixed" if "mixed" in names else None
    small = "small" if "small" in names else None
    targets = report.targets_text(report.targets(med, mixed, small))
    return "\n".join(head) + report.table(med, names) + "\n\n" + targets


def host() -> dict:
    return {"platform": platform.platform(), "cpus": os.cpu_count()}


def vars_of(args) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def versions(names: list[str], source: Path) -> dict:
    out = {}
    for name in names:
        tool = tools.make(name, WORK, source)
        if tool.exe:
            res = measure.run([tool.exe, *tool.version_args], WORK, tool.env, keep_stdout=True)
            out[name] = res.stdout.decode(errors="replace").strip().splitlines()[:1]
    return out


if __name__ == "__main__":
    sys.exit(main())
