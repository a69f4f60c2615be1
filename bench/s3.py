"""The S3 row of `make bench`: hutch and restic back up the same corpus into the
same S3 server (SeaweedFS on 127.0.0.1, started as the tests start it) and
restore it; wall time, throughput and peak RSS per step, and hutch/restic.

    .venv/bin/python bench/s3.py [--small] [--corpus-mib N] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import corpus

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from tests.s3server import BUCKET, SeaweedS3  # noqa: E402 - needs the path above

WORK = BENCH_DIR / "work" / "s3"
PASSPHRASE = "hutch-bench-passphrase"
STEPS = ("init", "backup1", "backup2", "restore")
MIB = corpus.MIB


def _commands(tool: str, server: SeaweedS3) -> tuple[dict, dict]:
    """Environment and step commands of one tool against the server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUTCH_", "RESTIC_", "AWS_"))}
    env.update(server.env())
    home = WORK / f"home-{tool}"
    if tool == "hutch":
        exe = str(Path(sys.executable).parent / "hutch")
        url = f"s3://{BUCKET}/bench-hutch"
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
    url = f"s3:{server.endpoint}/{BUCKET}/bench-restic"
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


def bench_tool(tool: str, server: SeaweedS3, source: Path, digest: str) -> dict:
    env, steps = _commands(tool, server)
    target = WORK / f"restore-{tool}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    results = {}
    for step in STEPS:
        cwd = target if step == "restore" else source.parent
        results[step] = _run(steps[step], cwd, env)
    restored = target / "data"
    if not restored.is_dir():  # restic may restore the absolute path
        restored = target / source.relative_to(source.anchor)
    if corpus.combined_digest(corpus.tree_digests(restored)) != digest:
        sys.exit(f"{tool}: the restored tree differs from the corpus")
    return results


def report(results: dict, nbytes: int) -> None:
    print(f"\nS3 (SeaweedFS on 127.0.0.1), corpus {nbytes / MIB:.0f} MiB")
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
    try:
        results = {tool: bench_tool(tool, server, source, digest) for tool in ("hutch", "restic")}
    finally:
        server.stop()
    report(results, nbytes)
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
