"""Benchmark hutch against borg and restic on the same deterministic corpus.

For each tool this times: repository init, a first backup, a second backup of the
unchanged tree (the files-cache path), and a full restore into an empty folder, which
is then checked byte for byte against the source. Results are printed as a table and
written to bench/work/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import corpus

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / "work"
PASSPHRASE = "hutch-bench-passphrase"
ALL_TOOLS = ("hutch", "borg", "restic")
STEPS = ("init", "backup1", "backup2", "restore")
STEP_LABELS = {
    "init": "init",
    "backup1": "backup 1",
    "backup2": "backup 2",
    "restore": "restore",
}
# Generous, but keeps a hung tool (e.g. one waiting on a prompt) from stalling the run.
STEP_TIMEOUT = 3600
STDERR_TAIL = 12
MIB = corpus.MIB


@dataclass
class Tool:
    """How to drive one backup program; commands are built from repo and archive name."""

    name: str
    exe: str | None
    env: dict[str, str]
    repo: Path
    init: list[str]
    create: Callable[[str], list[str]]
    extract: Callable[[str], list[str]]
    # Where, inside the restore target, the backed-up "data" folder ends up.
    restored: Callable[[Path, Path], Path]
    version_args: list[str] = field(default_factory=lambda: ["--version"])


@dataclass
class StepResult:
    ok: bool
    seconds: float
    returncode: int | None = None
    error: list[str] = field(default_factory=list)


# --- tool definitions --------------------------------------------------------------------


def tool_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment minus any settings of the three tools, plus extra."""
    prefixes = ("HUTCH_", "BORG_", "RESTIC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


def find_hutch() -> str | None:
    # Prefer the hutch installed next to the running interpreter (the project venv).
    local = Path(sys.executable).parent / "hutch"
    return str(local) if local.exists() else shutil.which("hutch")


def make_hutch(work: Path) -> Tool:
    found = find_hutch()
    exe, repo, home = found or "hutch", work / "repo-hutch", work / "home-hutch"
    env = {
        "HUTCH_PASSPHRASE": PASSPHRASE,
        "HUTCH_CACHE_DIR": str(home / "cache"),
        "HUTCH_CONFIG_DIR": str(home / "config"),
    }
    return Tool(
        name="hutch",
        exe=found,
        env=tool_env(env),
        repo=repo,
        init=[exe, "init", "-e", "repokey", str(repo)],
        create=lambda name: [exe, "create", f"{repo}::{name}", "data"],
        extract=lambda name: [exe, "extract", f"{repo}::{name}"],
        restored=lambda target, source: target / "data",
    )


def make_borg(work: Path) -> Tool:
    exe, repo = shutil.which("borg") or "borg", work / "repo-borg"
    env = {"BORG_PASSPHRASE": PASSPHRASE, "BORG_BASE_DIR": str(work / "home-borg")}
    return Tool(
        name="borg",
        exe=shutil.which("borg"),
        env=tool_env(env),
        repo=repo,
        init=[exe, "init", "-e", "repokey", str(repo)],
        create=lambda name: [exe, "create", "-C", "lz4", f"{repo}::{name}", "data"],
        extract=lambda name: [exe, "extract", f"{repo}::{name}"],
        restored=lambda target, source: target / "data",
    )


def restic_restored(target: Path, source: Path) -> Path:
    # restic keeps a relative backup path as given (0.14) but some versions restore the
    # absolute path below the target; accept whichever layout exists.
    relative, absolute = target / source.name, target / source.relative_to(source.anchor)
    return absolute if absolute.is_dir() and not relative.is_dir() else relative


def make_restic(work: Path) -> Tool:
    exe, repo = shutil.which("restic") or "restic", work / "repo-restic"
    env = {"RESTIC_PASSWORD": PASSPHRASE, "RESTIC_CACHE_DIR": str(work / "home-restic")}
    base = [exe, "-r", str(repo)]
    return Tool(
        name="restic",
        exe=shutil.which("restic"),
        env=tool_env(env),
        repo=repo,
        init=[*base, "init"],
        create=lambda name: [*base, "backup", "-q", "--tag", name, "data"],
        # restic has no archive names; the newest snapshot is the one just made.
        extract=lambda name: [*base, "restore", "-q", "latest", "--target", "."],
        restored=restic_restored,
        version_args=["version"],
    )


MAKERS = {"hutch": make_hutch, "borg": make_borg, "restic": make_restic}


# --- running and measuring ---------------------------------------------------------------


def run_step(tool: Tool, cmd: list[str], cwd: Path) -> StepResult:
    """Run one timed command; never raises for tool failures."""
    if tool.exe is None:
        return StepResult(False, 0.0, None, [f"{tool.name}: executable not found"])
    # Flush earlier writes (corpus, previous tool) so they are not billed to this step.
    os.sync()
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=tool.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STEP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return StepResult(False, time.perf_counter() - start, None, [f"timeout {STEP_TIMEOUT}s"])
    except OSError as exc:
        return StepResult(False, time.perf_counter() - start, None, [str(exc)])
    seconds = time.perf_counter() - start
    if proc.returncode == 0:
        return StepResult(True, seconds, 0)
    lines = proc.stderr.decode(errors="replace").splitlines() or ["(no stderr)"]
    return StepResult(False, seconds, proc.returncode, lines[-STDERR_TAIL:])


def tool_version(tool: Tool) -> str | None:
    if tool.exe is None:
        return None
    try:
        proc = subprocess.run(
            [tool.exe, *tool.version_args], capture_output=True, timeout=60, env=tool.env
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.decode(errors="replace").strip().splitlines()
    return out[0] if proc.returncode == 0 and out else None


def dir_bytes(path: Path) -> int:
    """Apparent size of all files under path (what the repository holds)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def report_failure(tool: str, step: str, res: StepResult) -> None:
    rc = "n/a" if res.returncode is None else res.returncode
    print(f"!! {tool}: {STEP_LABELS[step]} FAILED (return code {rc}); stderr tail:")
    for line in res.error:
        print(f"!!   {line}")


def reset_dirs(work: Path, name: str) -> None:
    for sub in (f"repo-{name}", f"home-{name}", f"restore-{name}"):
        shutil.rmtree(work / sub, ignore_errors=True)


# --- verification ------------------------------------------------------------------------


def compare_trees(expected: dict[str, str], restored_root: Path) -> list[str]:
    """Return human-readable differences; an empty list means the trees are identical."""
    if not restored_root.is_dir():
        return [f"restored tree not found at {restored_root}"]
    got = corpus.tree_digests(restored_root)
    if corpus.combined_digest(got) == corpus.combined_digest(expected):
        return []
    missing = sorted(expected.keys() - got.keys())
    extra = sorted(got.keys() - expected.keys())
    changed = sorted(k for k in expected.keys() & got.keys() if expected[k] != got[k])
    problems = [f"{len(missing)} missing, {len(extra)} extra, {len(changed)} differing files"]
    for label, paths in (("missing", missing), ("extra", extra), ("differs", changed)):
        problems += [f"{label}: {p}" for p in paths[:5]]
    return problems


def report_mismatch(tool: str, problems: list[str]) -> None:
    bar = "!" * 78
    print(f"{bar}\n!! {tool}: RESTORED DATA DOES NOT MATCH THE SOURCE")
    for line in problems:
        print(f"!!   {line}")
    print(bar)


# --- one tool's run ----------------------------------------------------------------------


def timed(result: dict, tool: Tool, step: str, cmd: list[str], cwd: Path, nbytes: int) -> bool:
    """Run and record one step; returns whether it succeeded."""
    res = run_step(tool, cmd, cwd)
    rate = nbytes / MIB / res.seconds if res.ok and step != "init" and res.seconds > 0 else None
    result["steps"][step] = {
        "ok": res.ok,
        "seconds": round(res.seconds, 3),
        "mib_per_s": None if rate is None else round(rate, 1),
        "returncode": res.returncode,
        "error": res.error,
    }
    status = f"{res.seconds:8.2f} s" if res.ok else "FAILED"
    print(f"   {tool.name:<7} {STEP_LABELS[step]:<9} {status}", flush=True)
    if not res.ok:
        report_failure(tool.name, step, res)
    return res.ok


def backups(result: dict, tool: Tool, source: Path, nbytes: int) -> str | None:
    """Run both backups; return the archive name to restore, or None if none exists."""
    if not timed(result, tool, "backup1", tool.create("bench-1"), source.parent, nbytes):
        return None
    result["repo_bytes"]["backup1"] = dir_bytes(tool.repo)
    if not timed(result, tool, "backup2", tool.create("bench-2"), source.parent, nbytes):
        return "bench-1"
    result["repo_bytes"]["backup2"] = dir_bytes(tool.repo)
    return "bench-2"


def restore_and_verify(result: dict, tool: Tool, archive: str, source: Path, ctx: dict) -> None:
    target = WORK / f"restore-{tool.name}"
    target.mkdir(parents=True)
    if not timed(result, tool, "restore", tool.extract(archive), target, ctx["bytes"]):
        return
    problems = compare_trees(ctx["digests"], tool.restored(target, source))
    result["restore_verified"] = not problems
    result["verify_problems"] = problems
    if problems:
        report_mismatch(tool.name, problems)
    else:
        print(f"   {tool.name:<7} restore verified: identical to source")


def bench_tool(tool: Tool, source: Path, ctx: dict) -> dict:
    result = {"version": tool_version(tool), "exe": tool.exe, "steps": {}, "repo_bytes": {}}
    result["restore_verified"] = None
    reset_dirs(WORK, tool.name)
    print(f"== {tool.name}: {result['version'] or 'version unknown'}", flush=True)
    if not timed(result, tool, "init", tool.init, WORK, ctx["bytes"]):
        return result
    archive = backups(result, tool, source, ctx["bytes"])
    if archive is not None:
        restore_and_verify(result, tool, archive, source, ctx)
    return result


# --- reporting ---------------------------------------------------------------------------


def ratio(results: dict, step: str, other: str) -> float | None:
    """Throughput ratio hutch/other (= other's seconds / hutch's seconds); >1: hutch faster."""
    a = results.get("hutch", {}).get("steps", {}).get(step, {})
    b = results.get(other, {}).get("steps", {}).get(step, {})
    if not (a.get("ok") and b.get("ok")) or not a["seconds"]:
        return None
    return b["seconds"] / a["seconds"]


def size_ratio(results: dict, key: str, other: str) -> float | None:
    """Repository size hutch/other; <1 means hutch's repository is smaller."""
    a = results.get("hutch", {}).get("repo_bytes", {}).get(key)
    b = results.get(other, {}).get("repo_bytes", {}).get(key)
    return a / b if a and b else None


def fmt(value: float | None, spec: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def step_cells(results: dict, tool: str, step: str) -> str:
    info = results[tool]["steps"].get(step)
    if info is None:
        return f"{'skip':>8}{'-':>8}"
    if not info["ok"]:
        return f"{'FAIL':>8}{'-':>8}"
    return fmt(info["seconds"], ".2f", 8) + fmt(info["mib_per_s"], ".1f", 8)


def others(tools: list[str]) -> list[str]:
    return [t for t in tools if t != "hutch"] if "hutch" in tools else []


def print_time_table(results: dict, tools: list[str]) -> None:
    comp = others(tools)
    head1 = f"{'':<10}" + "".join(f"{t:>16}" for t in tools)
    head1 += "".join(f"{'hutch/':>9}" for _ in comp)
    head2 = f"{'step':<10}" + f"{'s':>8}{'MiB/s':>8}" * len(tools)
    head2 += "".join(f"{t:>9}" for t in comp)
    print(head1, head2, "-" * len(head2), sep="\n")
    for step in STEPS:
        row = f"{STEP_LABELS[step]:<10}" + "".join(step_cells(results, t, step) for t in tools)
        if step != "init":
            row += "".join(fmt(ratio(results, step, o), ".2f", 9) for o in comp)
        print(row)


def print_size_table(results: dict, tools: list[str]) -> None:
    comp = others(tools)
    head = f"{'repo MiB':<16}" + "".join(f"{t:>10}" for t in tools)
    head += "".join(f"{'hutch/' + o:>14}" for o in comp)
    print(head, "-" * len(head), sep="\n")
    for key, label in (("backup1", "after backup 1"), ("backup2", "after backup 2")):
        sizes = [results[t]["repo_bytes"].get(key) for t in tools]
        row = f"{label:<16}" + "".join(fmt(s and s / MIB, ".1f", 10) for s in sizes)
        row += "".join(fmt(size_ratio(results, key, o), ".3f", 14) for o in comp)
        print(row)


def print_report(results: dict, tools: list[str], ctx: dict) -> None:
    print(f"\ncorpus {ctx['name']}: {ctx['files']} files, {ctx['bytes'] / MIB:.1f} MiB")
    print("MiB/s = corpus size / seconds")
    if others(tools):
        print("hutch/x: time table = hutch throughput / x's (>1: hutch faster);")
        print("         size table = hutch repo size / x's (<1: hutch smaller)")
    print()
    print_time_table(results, tools)
    print()
    print_size_table(results, tools)
    print()
    for t in tools:
        state = {True: "ok", False: "MISMATCH", None: "not checked"}[results[t]["restore_verified"]]
        print(f"restore check {t:<7} {state}")


def all_ratios(results: dict, tools: list[str]) -> dict:
    out = {}
    for o in others(tools):
        out[f"hutch/{o}"] = {
            "throughput": {s: ratio(results, s, o) for s in STEPS if s != "init"},
            "repo_size": {k: size_ratio(results, k, o) for k in ("backup1", "backup2")},
        }
    return out


def write_json(results: dict, tools: list[str], ctx: dict) -> Path:
    doc = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "corpus": {k: ctx[k] for k in ("name", "spec", "files", "bytes", "digest")},
        "tools": results,
        "ratios": all_ratios(results, tools),
    }
    path = WORK / "results.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# --- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="~60 MiB corpus for quick runs")
    p.add_argument("--corpus-mib", type=int, metavar="N", help="size of the large-file part")
    p.add_argument("--tools", default=",".join(ALL_TOOLS), help="comma-separated tool list")
    p.add_argument("--keep", action="store_true", help="keep repositories and restores")
    args = p.parse_args(argv)
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in args.tools if t not in ALL_TOOLS]
    if unknown or not args.tools:
        p.error(f"--tools takes a comma-separated subset of {','.join(ALL_TOOLS)}")
    if args.corpus_mib is not None and args.corpus_mib < 0:
        p.error("--corpus-mib must be >= 0")
    return args


def prepare_corpus(args: argparse.Namespace) -> tuple[Path, dict]:
    spec = corpus.default_spec(args.small, args.corpus_mib)
    source = corpus.ensure(WORK / "corpus", spec) / "data"
    digests = corpus.tree_digests(source)
    files, nbytes = corpus.tree_stats(source)
    ctx = {
        "name": spec.name,
        "spec": asdict(spec),
        "files": files,
        "bytes": nbytes,
        "digests": digests,
        "digest": corpus.combined_digest(digests),
    }
    return source, ctx


def cleanup(tools: list[str]) -> None:
    for name in tools:
        reset_dirs(WORK, name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    source, ctx = prepare_corpus(args)
    print(f"corpus {source}: {ctx['files']} files, {ctx['bytes'] / MIB:.1f} MiB", flush=True)
    results = {}
    for name in args.tools:
        results[name] = bench_tool(MAKERS[name](WORK), source, ctx)
    if not args.keep:
        cleanup(args.tools)
    print_report(results, args.tools, ctx)
    print(f"results written to {write_json(results, args.tools, ctx)}")
    failed = [t for t in args.tools if results[t]["restore_verified"] is not True]
    if failed:
        print(f"\nFAILED or unverified: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
