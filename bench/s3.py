"""The S3 row of `make bench`: hutch and restic back up the same corpus into the
same S3 server (SeaweedFS on 127.0.0.1, started as the tests start it) and
restore it; wall time, throughput and peak RSS per step, and hutch/restic.

    .venv/bin/python bench/s3.py [--reps N] [--small] [--corpus-mib N] [--keep]

Like `bench.py`: repetitions interleaved (which tool goes first alternates),
medians shown, the corpus read once untimed before each backup.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench
import corpus

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from tests.s3server import BUCKET, SeaweedS3  # noqa: E402 - needs the path above

WORK = BENCH_DIR / "work" / "s3"
PASSPHRASE = "hutch-bench-passphrase"
STEPS = ("init", "backup1", "backup2", "restore")
MIB = corpus.MIB


def _commands(tool: str, server: SeaweedS3, rep: int) -> tuple[dict, dict]:
    """Environment and step commands of one tool's repetition against the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUTCH_", "RESTIC_", "AWS_"))}
    env.update(server.env())
    home = WORK / f"home-{tool}-{rep}"
    if tool == "hutch":
        exe = str(Path(sys.executable).parent / "hutch")
        url = f"s3://{BUCKET}/bench-hutch-{rep}"
        env.update(
            HUTCH_PASSPHRASE=PASSPHRASE,
            HUTCH_CACHE_DIR=str(home / "cache"),
            HUTCH_CONFIG_DIR=str(home / "config"),
        )
        return env, {
            "init": [exe, "init", "-e", "repokey", url],
            "backup1": [exe, "create", f"{url}::one", "data"],
            "backup2": [exe, "create", f"{url}::two", "data"],
            "restore": [exe, "extract", f"{url}::one"],
        }
    url = f"s3:{server.endpoint}/{BUCKET}/bench-restic-{rep}"
    env.update(RESTIC_PASSWORD=PASSPHRASE, RESTIC_CACHE_DIR=str(home / "cache"))
    base = [shutil.which("restic") or "restic", "-r", url]
    return env, {
        "init": [*base, "init"],
        "backup1": [*base, "backup", "-q", "data"],
        "backup2": [*base, "backup", "-q", "data"],
        "restore": [*base, "restore", "-q", "latest", "--target", "."],
    }


def _run(cmd: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one command; exits on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024


def bench_tool(tool: str, server: SeaweedS3, source: Path, digest: str, rep: int) -> dict:
    env, steps = _commands(tool, server, rep)
    target = WORK / f"restore-{tool}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    results = {}
    for step in STEPS:
        if step.startswith("backup"):
            bench.warm(source)
        cwd = target if step == "restore" else source.parent
        results[step] = _run(steps[step], cwd, env)
    restored = target / "data"
    if not restored.is_dir():  # restic may restore the absolute path
        restored = target / source.relative_to(source.anchor)
    if corpus.combined_digest(corpus.tree_digests(restored)) != digest:
        sys.exit(f"{tool}: the restored tree differs from the corpus")
    return results


def medians(runs: list[dict]) -> dict:
    """Per step, the median seconds and the median peak RSS of the runs."""
    return {
        step: tuple(statistics.median(run[step][i] for run in runs) for i in (0, 1))
        for step in STEPS
    }


def report(results: dict, nbytes: int, reps: int) -> None:
    print(f"\nS3 (SeaweedFS on 127.0.0.1), corpus {nbytes / MIB:.0f} MiB, medians of {reps}")
    print(
        f"{'step':10}{'hutch MiB/s':>13}{'RSS MiB':>9}{'restic MiB/s':>14}{'RSS MiB':>9}"
        f"{'hutch/restic':>14}"
    )
    for step in STEPS[1:]:
        (h_s, h_rss), (r_s, r_rss) = results["hutch"][step], results["restic"][step]
        h_rate, r_rate = nbytes / MIB / h_s, nbytes / MIB / r_s
        print(
            f"{step:10}{h_rate:13.1f}{h_rss:9.0f}{r_rate:14.1f}{r_rss:9.0f}{h_rate / r_rate:14.2f}"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="repetitions (medians are shown)")
    p.add_argument("--small", action="store_true", help="~60 MiB corpus for quick runs")
    p.add_argument("--corpus-mib", type=int, metavar="N", help="size of the large-file part")
    p.add_argument("--keep", action="store_true", help="keep the server's data and restores")
    args = p.parse_args()
    source = (
        corpus.ensure(
            BENCH_DIR / "work" / "corpus", corpus.default_spec(args.small, args.corpus_mib)
        )
        / "data"
    )
    digest = corpus.combined_digest(corpus.tree_digests(source))
    _, nbytes = corpus.tree_stats(source)
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    server = SeaweedS3(WORK / "server")
    runs: dict[str, list[dict]] = {"hutch": [], "restic": []}
    try:
        for rep in range(args.reps):
            for tool in ("hutch", "restic") if rep % 2 == 0 else ("restic", "hutch"):
                runs[tool].append(bench_tool(tool, server, source, digest, rep))
    finally:
        server.stop()
    report({tool: medians(r) for tool, r in runs.items()}, nbytes, args.reps)
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
