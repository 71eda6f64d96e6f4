"""Time-aware questions: time words read with dateparser into ranges and date order, on
the session's real index (seed + real archive subset)."""

from __future__ import annotations

from datetime import date

import pytest

from qa.errors import QuestionError
from qa.retrieval.hints import find_time, plan_query, source_aliases

NOW = date(2017, 4, 3)


@pytest.mark.parametrize(
    "question, since, until, order",
    [
        ("What did the archive report about Brexit before 2017?", None, "2016-12-31", None),
        ("As of 17 February 2017, who was acting adviser?", None, "2017-02-17", None),
        ("What was reported in March 2017 about health care?", "2017-03-01", "2017-03-31", None),
        ("news since 1 March 2017 about Le Pen", "2017-03-01", None, None),
        ("What happened in Syria after February 2017?", "2017-03-01", None, None),
        ("What happened in Syria last month?", "2017-03-01", "2017-03-31", None),
        ("What was reported this year about Brexit?", "2017-01-01", "2017-04-03", None),
        ("What is the latest reported on Geert Wilders?", None, None, "latest"),
        ("When did the archive first report Flynn's resignation?", None, None, "first"),
        ("What is the most recent news on Syria in 2016?", "2016-01-01", "2016-12-31", "latest"),
        ("How many people did opioids kill in the US in 2015?", None, None, None),
    ],
)
def test_time_phrases_become_ranges_and_orders(question, since, until, order):
    hint = find_time(question, NOW)
    assert hint is not None and (hint.since, hint.until, hint.order) == (since, until, order)


@pytest.mark.parametrize(
    "question",
    [
        "Scotland's first minister said what?",  # "first" is not a date order here
        "What did he say in the end?",
        "What did the Polygon piece published on September 26, 2023 say?",  # a per-outlet hint
        "What did May say on Tuesday?",
    ],
)
def test_words_that_are_not_a_time_range_are_left_alone(question):
    hint = find_time(question, NOW)
    assert hint is None or not (hint.since or hint.until or hint.order)


def test_the_time_of_an_event_is_a_hint_not_a_filter():
    """ "in 2015" in a question about the event dates the event, not the article (a 2017
    article reports the 2015 figure): one more sub-query, the question still unfiltered."""
    plan = plan_query("How many people did opioids kill in the US in 2015?", {}, now=NOW)
    assert plan.time is None and plan.subqueries[0].filters.is_empty()
    assert [(s.filters.since, s.filters.until) for s in plan.subqueries[1:]] == [
        ("2015-01-01", "2015-12-31")
    ]
    assert "2015" in plan.subqueries[0].text


def test_an_unreadable_time_phrase_is_ignored_with_a_note():
    plan = plan_query("What did May say since the spring?", {}, now=NOW)
    assert plan.time is None and plan.subqueries[0].filters.is_empty()
    assert any("since the spring" in n and "ignored" in n for n in plan.notes)


def test_a_range_filters_every_subquery_and_leaves_the_searched_text():
    plan = plan_query("What did the archive report about Brexit before 2017?", {}, now=NOW)
    assert plan.time is not None and plan.time.until == "2016-12-31"
    assert all(s.filters.until == "2016-12-31" for s in plan.subqueries)
    assert "2017" not in plan.subqueries[0].text
    # A range outside the caller's own dates is ignored, never an empty answer by surprise.
    from qa.response import Filters

    plan = plan_query("Brexit before 2017?", {}, Filters(since="2017-02-01"), now=NOW)
    assert plan.subqueries[0].filters.until is None and any("outside" in n for n in plan.notes)


def test_latest_reads_the_newest_relevant_articles(service):
    q = "What is the latest on Ryabkov and weapons convoys?"
    plain = service.searcher.search("Ryabkov weapons convoys", 8).hits
    hits = service.searcher.search(q, 8).hits
    dates = [h.chunk.date for h in hits]
    assert hits and dates == sorted(dates, reverse=True)
    assert dates[0] >= max(h.chunk.date for h in plain[:5] if h.chunk.date)
    answer = service.ask(q)
    assert answer.time_range is not None and answer.time_range.order == "latest"
    assert all(c.date[:10] in {d[:10] for d in dates} for c in answer.citations)


def test_first_reads_the_oldest_relevant_articles(service):
    hits = service.searcher.search("When did the archive first report on Ryabkov?", 8).hits
    dates = [h.chunk.date for h in hits]
    assert hits and dates == sorted(dates)


def test_before_a_year_keeps_to_it(service):
    newest = service.info().date_range[1][:4]
    q = f"What did the archive report about the election before {newest}?"
    answer = service.ask(q)
    assert answer.time_range is not None and answer.time_range.until == f"{int(newest) - 1}-12-31"
    hits = service.searcher.search(q, 10).hits
    assert all(h.chunk.date < newest for h in hits)
    assert any(h.chunk.date >= newest for h in service.searcher.search("the election", 10).hits)


def test_relative_phrases_resolve_against_now(service):
    newest = service.info().date_range[1][:10]
    a = service.ask("What happened in Syria last month?")
    assert a.time_range.reference_date == newest
    b = service.ask("What happened in Syria last month?", now="2017-03-15")
    assert (b.time_range.since, b.time_range.until) == ("2017-02-01", "2017-02-28")
    assert all("2017-02-01" <= c.date[:10] <= "2017-02-28" for c in b.citations)
    assert b.time_range.describe() == "Dates used: 1 February 2017 to 28 February 2017"
    with pytest.raises(QuestionError, match="not a date"):
        service.ask("What happened in Syria last month?", now="yesterday-ish")


def test_time_hints_off_reads_no_range_or_order(service):
    """`query_time_hints` off (for measuring before/after): the same question searches
    unfiltered, in relevance order."""
    from dataclasses import replace

    from qa.retrieval.retriever import HybridSearcher

    q = f"What did the archive report about the election before {service.info().date_range[1][:4]}?"
    off = HybridSearcher(
        service.index, service.embedder, replace(service.searcher.params, time_hints=False)
    )
    assert service.searcher.plan(q).time is not None
    plan = off.plan(q)
    assert plan.time is None and plan.subqueries[0].filters.is_empty()


# -- MultiHop-RAG's temporal questions: time words that are not the question's range ----
AGENCY = "Business Today | Latest Stock Market And Economy News India"


def test_time_words_in_an_outlet_name_or_a_title_are_not_time_words():
    aliases = source_aliases([AGENCY, "Fortune"])
    q = f"After the report by {AGENCY} on October 7, 2023, and the report by Fortune on October 13, 2023, did the coverage change?"
    plan = plan_query(q, aliases, now=NOW)
    assert plan.time is None  # neither "Latest" nor "Today" of the outlet's name
    titled = 'Which narrative does the article featuring "Chris Hammer\'s latest book" describe?'
    assert plan_query(titled, {}, now=NOW).time is None


def test_two_time_phrases_date_their_own_clauses():
    q = "Did TechCrunch report after September 26, 2023 what The Verge reported after December 24, 2023?"
    hint = find_time(q, NOW)
    assert hint is not None and not (hint.since or hint.until)
    assert [(d.since, d.until) for d in hint.soft] == [("2023-09-26", None), ("2023-12-24", None)]
    assert any("several time phrases" in n for n in hint.notes)


def test_a_range_another_named_date_falls_outside_is_a_hint():
    q = "Has the focus reported by TechCrunch before October 1, 2023, remained consistent with the report on December 5, 2023?"
    plan = plan_query(q, source_aliases(["TechCrunch"]), now=NOW)
    assert plan.time is None and plan.subqueries[0].filters.is_empty()
    assert any("kept as a hint" in n for n in plan.notes)
    assert any(s.filters.until == "2023-10-01" for s in plan.subqueries[1:])


def test_a_range_with_no_article_in_it_is_dropped(service):
    q = "What was reported in 1999 about weapons convoys?"
    plan = service.searcher.plan(q)
    assert plan.time is None and any("no article falls in 'in 1999'" in n for n in plan.notes)
    assert service.searcher.search(q, 5).hits
