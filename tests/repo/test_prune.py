"""Prune planning against hand-made timestamps: borg's rules, worked out by
hand for each table row (not by running the algorithm a second time)."""

import datetime

import pytest

from hutch.errors import UsageError
from hutch.repo.archives import ArchiveEntry
from hutch.repo.prune import RetentionPolicy, parse_interval, plan_prune
from hutch.repo.selection import archive_matcher

UTC = datetime.UTC
PLUS2 = datetime.timezone(datetime.timedelta(hours=2))
NOW = datetime.datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def _archives(*times: str) -> list[ArchiveEntry]:
    """Archives named by their timestamps (UTC unless an offset is given)."""
    result = []
    for t in times:
        stamp = t if ("+" in t[10:] or t.endswith("Z")) else t + "+00:00"
        result.append(ArchiveEntry(name=t, items=[], time=stamp, id=t.encode()))
    return result


def _decisions(plan) -> dict[str, str | None]:
    return {d.archive.name: d.reason() if d.keep else None for d in plan.decisions}


CASES = [
    pytest.param(
        ["2023-01-01T10:00", "2023-01-01T22:00", "2023-01-02T09:00", "2023-01-03T08:00"]
        + ["2023-01-03T20:00", "2023-01-05T12:00"],
        RetentionPolicy(daily=3),
        {
            "2023-01-05T12:00": "daily #1",
            "2023-01-03T20:00": "daily #2",
            "2023-01-03T08:00": None,  # not the newest of its day
            "2023-01-02T09:00": "daily #3",
            "2023-01-01T22:00": None,
            "2023-01-01T10:00": None,  # three days found: no [oldest]
        },
        id="daily-newest-of-each-day",
    ),
    pytest.param(
        ["2023-01-01T10:00", "2023-01-01T22:00", "2023-01-02T09:00"],
        RetentionPolicy(daily=10),
        {
            "2023-01-02T09:00": "daily #1",
            "2023-01-01T22:00": "daily #2",
            "2023-01-01T10:00": "daily[oldest] #3",
        },
        id="too-few-days-keeps-the-oldest",
    ),
    pytest.param(
        # Thu 2020-12-31 and Sun 2021-01-03 are both in ISO week 2020-W53.
        ["2020-12-31T12:00", "2021-01-03T12:00", "2021-01-04T12:00"],
        RetentionPolicy(weekly=2),
        {
            "2021-01-04T12:00": "weekly #1",
            "2021-01-03T12:00": "weekly #2",
            "2020-12-31T12:00": None,
        },
        id="iso-weeks-across-new-year",
    ),
    pytest.param(
        [f"{y}-{m:02d}-01T03:00" for y in range(2019, 2024) for m in range(1, 13)],
        RetentionPolicy(monthly=6, yearly=3),
        # 2023 is used up by the monthly rule's 2023-12: yearly starts with 2022.
        {
            **{f"2023-{m:02d}-01T03:00": f"monthly #{13 - m}" for m in range(7, 13)},
            "2022-12-01T03:00": "yearly #1",
            "2021-12-01T03:00": "yearly #2",
            "2020-12-01T03:00": "yearly #3",
        },
        id="monthly-then-yearly-over-five-years",
    ),
    pytest.param(
        ["2024-03-07T10:00", "2024-03-08T11:00", "2024-03-09T12:30", "2024-03-10T11:00"],
        RetentionPolicy(within=datetime.timedelta(days=2), daily=1),
        {
            "2024-03-10T11:00": "within #1",
            "2024-03-09T12:30": "within #2",  # NOW - 2d = 03-08 12:00
            "2024-03-08T11:00": "daily #1",  # days 03-10 and 03-09 are used up
            "2024-03-07T10:00": None,
        },
        id="within-then-daily",
    ),
    pytest.param(
        ["2024-05-01T10:00", "2024-05-01T10:30", "2024-05-01T11:15", "2024-05-01T11:45"]
        + ["2024-05-01T12:05"],
        RetentionPolicy(last=2, hourly=2),
        {
            "2024-05-01T12:05": "last #1",
            "2024-05-01T11:45": "last #2",
            "2024-05-01T11:15": None,  # hour 11 used up by 11:45
            "2024-05-01T10:30": "hourly #1",
            "2024-05-01T10:00": "hourly[oldest] #2",
        },
        id="last-then-hourly-with-oldest",
    ),
    pytest.param(
        ["2024-05-01T10:00:05", "2024-05-01T10:00:50", "2024-05-01T10:01:10"]
        + ["2024-05-01T10:02:00"],
        RetentionPolicy(minutely=2),
        {
            "2024-05-01T10:02:00": "minutely #1",
            "2024-05-01T10:01:10": "minutely #2",
            "2024-05-01T10:00:50": None,
            "2024-05-01T10:00:05": None,
        },
        id="minutely",
    ),
    pytest.param(
        ["2024-05-01T10:00:05", "2024-05-01T10:00:05.5", "2024-05-01T10:00:07"],
        RetentionPolicy(secondly=5),
        {
            "2024-05-01T10:00:07": "secondly #1",
            "2024-05-01T10:00:05.5": "secondly #2",
            # Same second as 10:00:05.5, but the oldest: with five seconds asked
            # for and two found, the [oldest] rule keeps it.
            "2024-05-01T10:00:05": "secondly[oldest] #3",
        },
        id="secondly-groups-within-a-second",
    ),
    pytest.param(
        ["2024-06-01T00:00", "2024-06-02T00:00", "2024-06-03T00:00"],
        RetentionPolicy(last=1, daily=1, monthly=1, yearly=1),
        {
            "2024-06-03T00:00": "last #1",
            "2024-06-02T00:00": "daily #1",
            # June and 2024 are used up by the newest archive; the oldest rules
            # find fewer periods than asked and keep the oldest archive once.
            "2024-06-01T00:00": "monthly[oldest] #1",
        },
        id="used-up-periods-and-oldest",
    ),
    pytest.param(
        ["2024-01-05T10:00", "2024-01-31T10:00", "2024-02-15T10:00", "2024-02-29T10:00"]
        + ["2024-03-01T10:00"],
        RetentionPolicy(monthly=-1),
        {
            "2024-03-01T10:00": "monthly #1",
            "2024-02-29T10:00": "monthly #2",
            "2024-02-15T10:00": None,  # not the newest of February
            "2024-01-31T10:00": "monthly #3",
            "2024-01-05T10:00": None,  # unlimited: every period is found, no [oldest]
        },
        id="minus-one-means-every-period",
    ),
    pytest.param(
        ["2024-01-01T10:00", "2024-01-01T11:00", "2024-01-01T12:00"],
        RetentionPolicy(last=-1, daily=1),
        {
            "2024-01-01T12:00": "last #1",
            "2024-01-01T11:00": "last #2",
            "2024-01-01T10:00": "last #3",
        },
        id="keep-last-minus-one-keeps-all",
    ),
]


@pytest.mark.parametrize("times,policy,expected", CASES)
def test_plan(times, policy, expected):
    plan = plan_prune(_archives(*times), policy, NOW, tz=UTC)
    expected = {name: expected.get(name) for name in times}
    assert _decisions(plan) == expected


def test_three_years_of_daily_backups():
    start = datetime.datetime(2021, 1, 1, 3, 0, tzinfo=UTC)
    times = [(start + datetime.timedelta(days=n)).isoformat() for n in range(365 * 3)]
    assert times[-1].startswith("2023-12-31")
    archives = [ArchiveEntry(name=t[:10], items=[], time=t, id=t.encode()) for t in times]
    policy = RetentionPolicy(daily=7, weekly=4, monthly=6, yearly=2)
    plan = plan_prune(archives, policy, NOW, tz=UTC)
    kept = {d.archive.name: d.reason() for d in plan.decisions if d.keep}
    expected = {f"2023-12-{d}": f"daily #{32 - d}" for d in range(25, 32)}
    # 2023-12-31 is a Sunday: its week (W52) is used up by the daily rule.
    expected |= {
        "2023-12-24": "weekly #1",
        "2023-12-17": "weekly #2",
        "2023-12-10": "weekly #3",
        "2023-12-03": "weekly #4",
        "2023-11-30": "monthly #1",
        "2023-10-31": "monthly #2",
        "2023-09-30": "monthly #3",
        "2023-08-31": "monthly #4",
        "2023-07-31": "monthly #5",
        "2023-06-30": "monthly #6",
        "2022-12-31": "yearly #1",
        "2021-12-31": "yearly #2",
    }
    assert kept == expected
    assert len(plan.prune) == 365 * 3 - 19


def test_periods_follow_the_given_time_zone():
    times = ["2024-01-01T22:30+00:00", "2024-01-01T23:30+00:00", "2024-01-02T00:30+00:00"]
    archives = _archives(*times)
    in_utc = _decisions(plan_prune(archives, RetentionPolicy(daily=2), NOW, tz=UTC))
    assert in_utc == {times[2]: "daily #1", times[1]: "daily #2", times[0]: None}
    # At UTC+2 all three fall on 2024-01-02.
    at_plus2 = _decisions(plan_prune(archives, RetentionPolicy(daily=2), NOW, tz=PLUS2))
    assert at_plus2 == {times[2]: "daily #1", times[1]: None, times[0]: "daily[oldest] #2"}


def test_offsets_are_respected_when_ordering():
    # 10:00+02:00 is 08:00 UTC: older than 09:00+00:00.
    archives = _archives("2024-01-01T10:00+02:00", "2024-01-01T09:00+00:00")
    plan = plan_prune(archives, RetentionPolicy(last=1), NOW, tz=UTC)
    assert [a.name for a in plan.keep] == ["2024-01-01T09:00+00:00"]


def test_unreadable_time_is_never_pruned():
    archives = _archives("2024-01-01T10:00", "2024-01-02T10:00")
    archives.append(ArchiveEntry(name="odd", items=[], time="yesterday", id=b"odd"))
    plan = plan_prune(archives, RetentionPolicy(last=1), NOW, tz=UTC)
    assert _decisions(plan) == {
        "odd": "time unknown",
        "2024-01-02T10:00": "last #1",
        "2024-01-01T10:00": None,
    }


def test_no_rule_is_an_error():
    with pytest.raises(UsageError, match="at least one rule"):
        plan_prune(_archives("2024-01-01T10:00"), RetentionPolicy(), NOW, tz=UTC)


def test_plan_lists_newest_first():
    plan = plan_prune(
        _archives("2024-01-01T10:00", "2024-01-03T10:00", "2024-01-02T10:00"),
        RetentionPolicy(last=1),
        NOW,
        tz=UTC,
    )
    assert [d.archive.name[:10] for d in plan.decisions] == [
        "2024-01-03",
        "2024-01-02",
        "2024-01-01",
    ]
    assert [a.name[:10] for a in plan.prune] == ["2024-01-02", "2024-01-01"]


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("10S", 10),
        ("30M", 1800),
        ("12H", 12 * 3600),
        ("2d", 2 * 86400),
        ("3w", 21 * 86400),
        ("1m", 31 * 86400),
        ("1y", 365 * 86400),
    ],
)
def test_parse_interval(text, seconds):
    assert parse_interval(text) == datetime.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "d", "2", "2x", "0d", "-1d", "1.5d", "2 days"])
def test_parse_interval_refuses(text):
    with pytest.raises(UsageError, match="interval"):
        parse_interval(text)


@pytest.mark.parametrize(
    "patterns,names",
    [
        (None, ["a", "host-2024", "host-x", "other"]),
        (["host-2024"], ["host-2024"]),
        (["sh:host-*"], ["host-2024", "host-x"]),
        (["re:^h.*4$"], ["host-2024"]),
        (["re:20"], ["host-2024"]),
        (["sh:host-*", "re:x$"], ["host-x"]),
    ],
)
def test_match_archives(patterns, names):
    match = archive_matcher(patterns)
    assert [n for n in ["a", "host-2024", "host-x", "other"] if match(n)] == names


def test_match_archives_bad_regex():
    with pytest.raises(UsageError, match="regular expression"):
        archive_matcher(["re:("])
