"""Inbox filters, full-text search and paging, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from bot.archive import curation, inbox, reports
from bot.archive.db import ArchiveDatabase
from bot.archive.inbox import InboxFilters
from bot.archive.writer import ArchivedEvent, ArchiveWriter
from tests.staff import builders as b

DAY = 86400.0
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


@pytest.fixture
def filled(archive_db: ArchiveDatabase) -> ArchiveDatabase:
    """Four conversations with distinct traits, one a day from 2026-01-01."""
    writer = ArchiveWriter(archive_db)

    def conversation(cid: str, day: int, events: list[dict]) -> None:
        for i, event in enumerate(events):
            event["timestamp"] = T0 + day * DAY + i
        writer.write([ArchivedEvent(cid, f"{int((T0 + day * DAY) * 1000)}-{i}", e) for i, e in enumerate(events)])

    conversation("refund", 0, [b.user("I want a refund for my blender", "get_refund", 0.92, sentiment="negative"),
                               b.bot("Sure"), b.csat(5)])
    conversation("lost", 1, [b.user("where is my parcel", "track_order", 0.35, fell_back=True),
                             b.bot("Sorry?"), b.handoff("waiting")])
    conversation("chinese", 2, [b.user("我要退款", "get_refund", 0.88, language="zh"), b.bot("好的")])
    conversation("human", 3, [b.user("talk to a person please", "contact_human_agent", 0.99),
                              b.handoff("waiting"), b.handoff("human", "alice"), b.csat(2)])
    curation.add_tag(archive_db, "lost", "Shipping  Delay", author="alice")
    return archive_db


def ids(database: ArchiveDatabase, **params: str) -> list[str]:
    filters = InboxFilters.from_params(params)
    assert not filters.errors, filters.errors
    return [r["id"] for r in inbox.search_conversations(database, filters).rows]


def test_newest_first_and_every_filter(filled: ArchiveDatabase) -> None:
    assert ids(filled) == ["human", "chinese", "lost", "refund"]
    assert ids(filled, sort="oldest") == ["refund", "lost", "chinese", "human"]
    assert ids(filled, sort="lowest_confidence")[0] == "lost"
    assert ids(filled, date_from="2026-01-02", date_to="2026-01-03") == ["chinese", "lost"]
    assert ids(filled, intent="get_refund") == ["chinese", "refund"]
    assert ids(filled, max_confidence="0.5") == ["lost"]
    assert ids(filled, fell_back="yes") == ["lost"]
    assert ids(filled, fell_back="no") == ["human", "chinese", "refund"]
    assert ids(filled, handed_off="yes") == ["human", "lost"]
    assert ids(filled, csat="2") == ["human"]
    assert ids(filled, sentiment="negative") == ["refund"]
    assert ids(filled, language="zh") == ["chinese"]
    assert ids(filled, tag="shipping delay") == ["lost"]
    assert ids(filled, status="waiting") == ["lost"]
    assert ids(filled, status="human") == ["human"]
    assert ids(filled, intent="get_refund", language="en") == ["refund"]


def test_full_text_search_in_english_and_chinese(filled: ArchiveDatabase) -> None:
    assert ids(filled, q="blender") == ["refund"]
    assert ids(filled, q="refund blender") == ["refund"]
    assert ids(filled, q="refund parcel") == []  # every word in the same message
    assert ids(filled, q="退款") == ["chinese"]  # two characters: shorter than a trigram
    assert ids(filled, q="person") == ["human"]
    assert ids(filled, q='"; DROP TABLE archive_events; --') == []
    page = inbox.search_conversations(filled, InboxFilters(query="parcel"))
    assert page.rows[0]["match_text"] == "where is my parcel"


def test_paging(filled: ArchiveDatabase) -> None:
    first = inbox.search_conversations(filled, InboxFilters(), page=1, per_page=3)
    second = inbox.search_conversations(filled, InboxFilters(), page=2, per_page=3)
    assert (first.total, first.pages) == (4, 2)
    assert [r["id"] for r in first.rows + second.rows] == ["human", "chinese", "lost", "refund"]


def test_bad_filter_values_are_reported_not_ignored() -> None:
    filters = InboxFilters.from_params({"date_from": "yesterday", "csat": "9", "status": "closed", "q": "x" * 500})
    assert len(filters.errors) == 3
    assert filters.query == "x" * inbox.MAX_QUERY_CHARS
    assert InboxFilters.from_params(filters.as_params()).query == filters.query


def test_report_numbers(filled: ArchiveDatabase) -> None:
    report = reports.build_report(filled, date(2026, 1, 1), date(2026, 1, 4))
    assert report.conversations == 4
    assert report.containment_rate == pytest.approx(0.5) and report.handoff_rate == pytest.approx(0.5)
    assert report.fallback_rate == pytest.approx(1 / 4)
    assert report.csat_mean == pytest.approx(3.5) and report.csat_counts[5] == 1
    assert report.per_day == [("2026-01-01", 1), ("2026-01-02", 1), ("2026-01-03", 1), ("2026-01-04", 1)]
    assert report.top_intents[0] == ("get_refund", 2)
    assert report.lowest_confidence[0][0] == "track_order"
    csv_text = reports.report_csv(report, "summary")
    assert "containment_rate,0.5000" in csv_text
    shanghai = reports.build_report(filled, date(2026, 1, 1), date(2026, 1, 1), zone="Asia/Shanghai")
    assert shanghai.per_day == [("2026-01-01", 1)]


def test_the_generators_decision_and_scores_reach_the_transcript(archive_db: ArchiveDatabase) -> None:
    from bot.archive.transcript import load_transcript

    shipped = {"decision": "generated", "confidence": -0.31, "intent_consistent": True, "answer_intent": "delivery_period",
               "grounded": True, "ungrounded": [], "passage_id": "shipping#0", "stream_id": "s1"}
    rejected = {**shipped, "decision": "fallback_to_template", "grounded": False, "ungrounded": ["ORD-99999"],
                "stream_id": "s2", "rejected_text": "Your order ORD-99999 ships today."}
    events = [b.user("how long does delivery take", "delivery_period"), b.bot("3-5 days", "generated", generation=shipped),
              b.user("where is it", "track_order"), b.bot("Please give me your order number.", generation=rejected),
              b.bot("Hello!")]
    for i, event in enumerate(events):
        event["timestamp"] = T0 + i
    ArchiveWriter(archive_db).write([ArchivedEvent("gen", f"{int(T0 * 1000)}-{i}", e) for i, e in enumerate(events)])
    transcript = load_transcript(archive_db, "gen")
    assert transcript is not None
    bots = [m for m in transcript.messages if m.kind == "bot"]
    assert [m.source for m in bots] == ["generated", "template", "template"]
    assert bots[0].generation["decision"] == "generated" and bots[0].generation["confidence"] == -0.31
    assert bots[1].generation["decision"] == "fallback_to_template"
    assert bots[1].generation["rejected_text"] == "Your order ORD-99999 ships today."
    assert bots[2].generation is None
