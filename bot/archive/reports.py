"""Numbers for the reports page and its CSV exports.

:func:`build_report` measures the conversations that started in a date range (days in the
staff time zone) and had at least one customer message:

- **containment rate**: share of conversations the bot handled alone (never handed off);
- **handoff rate**: share handed to a person (the complement of containment);
- **fallback rate**: share of customer messages the NLU did not understand;
- **CSAT**: the mean score and the count per score, over rated conversations;
- **conversations per day**, **top intents** (most frequent) and **lowest-confidence
  intents** (mean confidence, ascending) of the customer messages in the range.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select

from bot.archive import schema
from bot.archive.db import ArchiveDatabase
from bot.archive.inbox import day_bounds

TOP_N = 10


@dataclass
class Report:
    date_from: date
    date_to: date
    conversations: int = 0
    handed_off: int = 0
    user_messages: int = 0
    fallbacks: int = 0
    rated: int = 0
    csat_mean: float | None = None
    csat_counts: dict[int, int] = field(default_factory=lambda: {s: 0 for s in range(1, 6)})
    per_day: list[tuple[str, int]] = field(default_factory=list)
    top_intents: list[tuple[str, int]] = field(default_factory=list)
    lowest_confidence: list[tuple[str, float, int]] = field(default_factory=list)

    @property
    def containment_rate(self) -> float | None:
        return None if not self.conversations else 1 - self.handed_off / self.conversations

    @property
    def handoff_rate(self) -> float | None:
        return None if not self.conversations else self.handed_off / self.conversations

    @property
    def fallback_rate(self) -> float | None:
        return None if not self.user_messages else self.fallbacks / self.user_messages

    def chart_data(self) -> dict[str, Any]:
        """What the page's chart module draws (JSON-safe)."""
        return {
            "per_day": [{"label": d, "value": n} for d, n in self.per_day],
            "top_intents": [{"label": i, "value": n} for i, n in self.top_intents],
            "lowest_confidence": [{"label": i, "value": round(c, 4), "count": n} for i, c, n in self.lowest_confidence],
            "csat": [{"label": str(s), "value": n} for s, n in self.csat_counts.items()],
        }


def default_range(zone: str, days: int = 30) -> tuple[date, date]:
    today = datetime.now(ZoneInfo(zone)).date()
    return today - timedelta(days=days - 1), today


def build_report(database: ArchiveDatabase, date_from: date, date_to: date, *, zone: str = "UTC") -> Report:
    """Measure the conversations that started between the two days (both included)."""
    start, _ = day_bounds(date_from, zone)
    _, end = day_bounds(date_to, zone)
    conv, events = schema.conversations, schema.events
    in_range = and_(conv.c.started_at >= start, conv.c.started_at < end, conv.c.user_messages > 0)
    report = Report(date_from, date_to)
    with database.read() as connection:
        totals = connection.execute(select(
            func.count(), func.coalesce(func.sum(case((conv.c.handed_off.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(conv.c.user_messages), 0), func.coalesce(func.sum(conv.c.fallbacks), 0),
        ).where(in_range)).one()
        report.conversations, report.handed_off, report.user_messages, report.fallbacks = (int(v) for v in totals)
        for score, count in connection.execute(
                select(conv.c.csat, func.count()).where(in_range, conv.c.csat.is_not(None)).group_by(conv.c.csat)):
            if score in report.csat_counts:
                report.csat_counts[int(score)] = int(count)
        started = list(connection.scalars(select(conv.c.started_at).where(in_range)))
        messages = and_(events.c.kind == "user", events.c.timestamp >= start, events.c.timestamp < end,
                        events.c.intent.is_not(None))
        report.top_intents = [(i, int(n)) for i, n in connection.execute(
            select(events.c.intent, func.count().label("n")).where(messages)
            .group_by(events.c.intent).order_by(func.count().desc(), events.c.intent).limit(TOP_N))]
        report.lowest_confidence = [(i, float(c), int(n)) for i, c, n in connection.execute(
            select(events.c.intent, func.avg(events.c.confidence).label("c"), func.count())
            .where(messages, events.c.confidence.is_not(None))
            .group_by(events.c.intent).order_by(func.avg(events.c.confidence), events.c.intent).limit(TOP_N))]
    report.rated = sum(report.csat_counts.values())
    if report.rated:
        report.csat_mean = sum(s * n for s, n in report.csat_counts.items()) / report.rated
    report.per_day = _per_day(started, date_from, date_to, zone)
    return report


def _per_day(started: list[float], date_from: date, date_to: date, zone: str) -> list[tuple[str, int]]:
    tz = ZoneInfo(zone)
    counts: dict[date, int] = {}
    for timestamp in started:
        day = datetime.fromtimestamp(timestamp, tz).date()
        counts[day] = counts.get(day, 0) + 1
    days = (date_to - date_from).days + 1
    return [((date_from + timedelta(d)).isoformat(), counts.get(date_from + timedelta(d), 0)) for d in range(max(days, 0))]


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def report_csv(report: Report, table: str) -> str:
    """One table of the report as CSV: ``summary``, ``per_day``, ``top_intents``,
    ``lowest_confidence`` or ``csat``. Raises ``KeyError`` for another name."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    if table == "summary":
        out.writerow(["metric", "value"])
        out.writerows([
            ["date_from", report.date_from.isoformat()], ["date_to", report.date_to.isoformat()],
            ["conversations", report.conversations], ["containment_rate", _rate(report.containment_rate)],
            ["handoff_rate", _rate(report.handoff_rate)], ["fallback_rate", _rate(report.fallback_rate)],
            ["csat_mean", _rate(report.csat_mean)], ["csat_ratings", report.rated],
            ["customer_messages", report.user_messages],
        ])
    elif table == "per_day":
        out.writerow(["day", "conversations"])
        out.writerows(report.per_day)
    elif table == "top_intents":
        out.writerow(["intent", "messages"])
        out.writerows(report.top_intents)
    elif table == "lowest_confidence":
        out.writerow(["intent", "mean_confidence", "messages"])
        out.writerows([(i, f"{c:.4f}", n) for i, c, n in report.lowest_confidence])
    elif table == "csat":
        out.writerow(["score", "conversations"])
        out.writerows(report.csat_counts.items())
    else:
        raise KeyError(table)
    return buffer.getvalue()


REPORT_TABLES = ("summary", "per_day", "top_intents", "lowest_confidence", "csat")
