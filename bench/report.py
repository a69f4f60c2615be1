"""Turning raw benchmark rows into one table of medians and ratios, the targets of
issue 10 checked against it, and the files in bench/results/.

All ratios are time or memory ratios, hutch's over the other's: below 1 means
hutch is faster or smaller."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

MIB_KIB = 1024
PHASES = ("backup1", "backup2", "restore")
LABELS = {"backup1": "first backup", "backup2": "unchanged re-backup", "restore": "restore"}


def medians(rows: list[dict]) -> dict:
    """(corpus, tool, phase) -> {"seconds", "rss_mib", "n"}, medians of successful runs."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["ok"]:
            groups.setdefault((row["corpus"], row["tool"], row["phase"]), []).append(row)
    return {
        key: {
            "seconds": statistics.median(r["seconds"] for r in rs),
            "rss_mib": statistics.median(r["rss_kib"] for r in rs) / MIB_KIB,
            "n": len(rs),
        }
        for key, rs in groups.items()
    }


def _get(med: dict, corpus: str, tool: str, phase: str, what: str) -> float | None:
    found = med.get((corpus, tool, phase))
    return None if found is None else found[what]


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def table(med: dict, corpora: list[str]) -> str:
    """One markdown table: medians per tool, then hutch's ratios."""
    head = (
        "| corpus | phase | hutch s (MiB) | borg s (MiB) | restic s (MiB) "
        "| hutch-ssh s (MiB) | borg-ssh s (MiB) | time h/borg | time h/restic "
        "| RSS h/borg | time ssh/local | time h-ssh/borg-ssh | RSS h-ssh/borg-ssh |"
    )
    lines = [head, _rule(head)]
    for corpus in corpora:
        for phase in PHASES:

            def g(tool, what, phase=phase, corpus=corpus):
                return _get(med, corpus, tool, phase, what)

            cells = [
                f"{_fmt(g(t, 'seconds'))} ({_fmt(g(t, 'rss_mib'), '.0f')})"
                for t in ("hutch", "borg", "restic", "hutch-ssh", "borg-ssh")
            ]
            ratios = [
                _ratio(g("hutch", "seconds"), g("borg", "seconds")),
                _ratio(g("hutch", "seconds"), g("restic", "seconds")),
                _ratio(g("hutch", "rss_mib"), g("borg", "rss_mib")),
                _ratio(g("hutch-ssh", "seconds"), g("hutch", "seconds")),
                _ratio(g("hutch-ssh", "seconds"), g("borg-ssh", "seconds")),
                _ratio(g("hutch-ssh", "rss_mib"), g("borg-ssh", "rss_mib")),
            ]
            row = [corpus, LABELS[phase], *cells, *(_fmt(r) for r in ratios)]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _rule(head: str) -> str:
    return "|" + " --- |" * (head.count("|") - 1)


def targets(med: dict, mixed: str | None, small: str | None) -> list[tuple[str, float | None, str]]:
    """(what, value, limit as text) for every target of the issue that this run measured.
    A value passes when it is at or below the limit."""

    def t(corpus, tool, phase, what="seconds"):
        return _get(med, corpus, tool, phase, what)

    def faster(corpus, phase):
        times = [x for x in (t(corpus, "borg", phase), t(corpus, "restic", phase)) if x]
        return min(times) if times else None

    out = []
    for corpus in (c for c in (mixed, small) if c):
        for phase in PHASES:
            out.append(
                (
                    f"{corpus} {LABELS[phase]}: RSS hutch/borg",
                    _ratio(
                        t(corpus, "hutch", phase, "rss_mib"), t(corpus, "borg", phase, "rss_mib")
                    ),
                    "1.00",
                )
            )
    if mixed:
        out += [
            ("mixed first backup: time hutch/borg", _r(t, mixed, "backup1", "borg"), "0.40"),
            ("mixed first backup: time hutch/restic", _r(t, mixed, "backup1", "restic"), "0.29"),
            ("mixed restore: time hutch/borg", _r(t, mixed, "restore", "borg"), "0.50"),
            ("mixed unchanged re-backup: time hutch/borg", _r(t, mixed, "backup2", "borg"), "0.50"),
        ]
    if small:
        for phase, limit in (("backup1", "0.60"), ("backup2", "0.50"), ("restore", "0.50")):
            value = _ratio(t(small, "hutch", phase), faster(small, phase))
            out.append((f"small {LABELS[phase]}: time hutch/faster of borg, restic", value, limit))
    for corpus in (c for c in (mixed, small) if c):
        for phase in PHASES:
            label = f"{corpus} {LABELS[phase]}"
            out.append(
                (
                    f"{label}: time hutch-ssh/hutch",
                    _r(t, corpus, phase, "hutch", "hutch-ssh"),
                    "1.35",
                )
            )
            out.append(
                (
                    f"{label}: time hutch-ssh/borg-ssh",
                    _r(t, corpus, phase, "borg-ssh", "hutch-ssh"),
                    "0.60",
                )
            )
    return out


def _r(t, corpus, phase, other, mine="hutch"):
    return _ratio(t(corpus, mine, phase), t(corpus, other, phase))


def targets_text(rows: list[tuple[str, float | None, str]]) -> str:
    lines = ["| target | value | limit | met |", "| --- | --- | --- | --- |"]
    for what, value, limit in rows:
        met = "-" if value is None else ("yes" if value <= float(limit) else "NO")
        lines.append(f"| {what} | {_fmt(value)} | <= {limit} | {met} |")
    return "\n".join(lines)


def write_rows(results_dir: Path, stamp: str, doc: dict) -> Path:
    """Raw rows as JSON, named by date and time."""
    results_dir.mkdir(parents=True, exist_ok=True)
    raw = results_dir / f"{stamp}-{doc['kind']}-rows.json"
    raw.write_text(json.dumps(doc, indent=2) + "\n")
    return raw


def write(results_dir: Path, stamp: str, doc: dict, text: str) -> tuple[Path, Path]:
    """Raw rows as JSON and the printed table as markdown, named by date and time."""
    raw = write_rows(results_dir, stamp, doc)
    md = results_dir / f"{stamp}-{doc['kind']}.md"
    md.write_text(text + "\n")
    return raw, md
