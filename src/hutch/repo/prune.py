"""Prune: which archives a retention policy keeps, and why.

The rules are those users know from borg. Archives are considered newest
first; keep-within keeps everything younger than the interval; keep-last N
keeps the N newest; then the period rules apply in the order secondly,
minutely, hourly, daily, weekly (ISO weeks), monthly, yearly. A period rule
with N keeps, for each of up to N periods, the newest archive of that
period -- unless an earlier rule kept that archive already, in which case
the period is used up without counting. If a rule finds fewer than N
periods, it also keeps the oldest archive (shown as `rule[oldest]`), so
that the oldest backup survives until the policy has enough history.
A count of -1 means unlimited (as in borg): every period, every archive for
keep-last, and no `[oldest]`.

Periods are taken in the local time of the machine that prunes (as borg
does); `plan_prune` takes the zone as a parameter so tests can fix it.

Which moment counts is the caller's choice (`moment`): by default the
archive's arrival on the server's clock (`arrival_moment`), which no
client can forge; the time an archive claims (`claimed_moment`) only when
the user trusts every client that writes (prune --by-archive-time).

Planning is a pure function: the plan says what would happen, and the same
plan is executed (`execute_prune`) or printed (--dry-run).
"""

import datetime
import re
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import UsageError

PERIODS = (
    ("secondly", "%Y-%m-%d %H:%M:%S"),
    ("minutely", "%Y-%m-%d %H:%M"),
    ("hourly", "%Y-%m-%d %H"),
    ("daily", "%Y-%m-%d"),
    ("weekly", "%G-%V"),
    ("monthly", "%Y-%m"),
    ("yearly", "%Y"),
)

_UNIT_SECONDS = {
    "S": 1,
    "M": 60,
    "H": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "m": 31 * 86400,
    "y": 365 * 86400,
}
_INTERVAL = re.compile(r"^(\d+)([SMHdwmy])$")


def parse_interval(text: str) -> datetime.timedelta:
    """`2d`, `3w`, `1m` (31 days), `1y` (365 days), `12H`, `30M`, `10S`."""
    match = _INTERVAL.match(text.strip())
    if not match:
        raise UsageError(
            f"invalid interval {text!r}: a number and a unit, one of S (seconds), M (minutes), "
            "H (hours), d (days), w (weeks), m (months), y (years), e.g. 7d"
        )
    number = int(match.group(1))
    if number <= 0:
        raise UsageError(f"invalid interval {text!r}: it must be greater than zero")
    return datetime.timedelta(seconds=number * _UNIT_SECONDS[match.group(2)])


@dataclass
class RetentionPolicy:
    within: datetime.timedelta | None = None
    last: int = 0
    secondly: int = 0
    minutely: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0

    def is_empty(self) -> bool:
        return self.within is None and not self.last and not any(self.counts().values())

    def counts(self) -> dict[str, int]:
        return {rule: getattr(self, rule) for rule, _ in PERIODS}


class Prunable(Protocol):
    """What prune reads of an archive (and `moment` whatever else it needs)."""

    name: str


@dataclass
class Decision:
    archive: Prunable
    moment: datetime.datetime | None
    rule: str | None = None  # why it is kept; None: pruned
    number: int = 0  # the rule's count, e.g. daily #3

    @property
    def keep(self) -> bool:
        return self.rule is not None

    def reason(self) -> str:
        return f"{self.rule} #{self.number}" if self.number else str(self.rule)


@dataclass
class PrunePlan:
    decisions: list[Decision] = field(default_factory=list)  # newest first

    @property
    def keep(self) -> list:
        return [d.archive for d in self.decisions if d.keep]

    @property
    def prune(self) -> list:
        return [d.archive for d in self.decisions if not d.keep]


def archive_moment(text: str, tz: datetime.tzinfo | None = None) -> datetime.datetime | None:
    """The archive's time as an aware datetime; None if it cannot be read."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz is not None else moment.astimezone()
    return moment


def claimed_moment(archive, tz: datetime.tzinfo | None = None) -> datetime.datetime | None:
    """The time the archive claims (its creator's clock, or --timestamp)."""
    return archive_moment(archive.time, tz)


def arrival_moment(archive, tz: datetime.tzinfo | None = None) -> datetime.datetime | None:
    """When the archive reached the repository, on the server's clock."""
    arrived = archive.arrived
    if arrived is None:
        return None
    return datetime.datetime.fromtimestamp(arrived / 1e9, tz or datetime.UTC).astimezone(tz)


def plan_prune(
    archives: list,
    policy: RetentionPolicy,
    now: datetime.datetime,
    tz: datetime.tzinfo | None = None,
    moment=claimed_moment,
) -> PrunePlan:
    """Decide for each archive; `tz` is the zone periods are taken in
    (None: this machine's local zone). `now` must be aware. `moment(archive,
    tz)` places an archive in time; one it cannot place is kept."""
    if policy.is_empty():
        raise UsageError(
            "prune needs at least one rule: --keep-within, --keep-last, --keep-secondly, "
            "--keep-minutely, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly "
            "or --keep-yearly"
        )
    decisions = [Decision(a, moment(a, tz)) for a in archives]
    for d in decisions:
        if d.moment is None:
            # Never delete what we cannot place in time.
            d.rule = "time unknown"
    dated = [(d.moment, d) for d in decisions if d.moment is not None]
    dated.sort(key=lambda md: (md[0], md[1].archive.name), reverse=True)
    if policy.within is not None:
        _keep_within(dated, now - policy.within)
    if policy.last:
        _keep_newest([d for _, d in dated], policy.last)
    for rule, fmt in PERIODS:
        count = getattr(policy, rule)
        if count:
            _keep_per_period(dated, rule, fmt, count, tz)
    undated = [d for d in decisions if d.moment is None]
    return PrunePlan(undated + [d for _, d in dated])


def _keep_within(
    ordered: list[tuple[datetime.datetime, Decision]], since: datetime.datetime
) -> None:
    number = 0
    for moment, d in ordered:
        if moment > since:
            number += 1
            d.rule, d.number = "within", number


def _keep_newest(ordered: list[Decision], count: int) -> None:
    number = 0
    for d in ordered:
        if number == count:
            return
        if not d.keep:
            number += 1
            d.rule, d.number = "last", number


def _keep_per_period(
    ordered: list[tuple[datetime.datetime, Decision]],
    rule: str,
    fmt: str,
    count: int,
    tz: datetime.tzinfo | None,
) -> None:
    number = 0
    previous = None
    for moment, d in ordered:
        local = moment.astimezone(tz)
        period = local.strftime(fmt)
        if period == previous:
            continue
        previous = period
        if d.keep:
            continue  # the newest of this period is kept already: the period is used up
        number += 1
        d.rule, d.number = rule, number
        if number == count:
            return
    oldest = ordered[-1][1] if ordered else None
    if count > 0 and oldest is not None and not oldest.keep:
        # Fewer periods than asked for: the oldest archive stays too.
        number += 1
        oldest.rule, oldest.number = f"{rule}[oldest]", number


def execute_prune(archive_list, plan: PrunePlan, on_decision=None) -> int:
    """Soft-delete the archives the plan prunes (compact frees their space),
    newest first; `on_decision(decision, n, total)` is called for every
    archive before anything happens to it (n counts the pruned ones, 0 for
    kept ones). Returns how many were pruned."""
    total = len(plan.prune)
    done = 0
    for decision in plan.decisions:
        if decision.keep:
            if on_decision is not None:
                on_decision(decision, 0, total)
            continue
        done += 1
        if on_decision is not None:
            on_decision(decision, done, total)
        archive_list.delete(decision.archive)
    return done
