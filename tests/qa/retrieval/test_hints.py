"""Outlet and date hints parsed from questions into sub-queries (no model needed)."""

from __future__ import annotations

from qa.response import Filters
from qa.retrieval.hints import find_dates, find_sources, plan_query, source_aliases

SOURCES = [
    "TechCrunch",
    "Sporting News",
    "The Verge",
    "Fortune",
    "The Age",
    "The Independent - Life and Style",
    "The Independent - Sports",
    "Cnbc | World Business News Leader",
    "Live Science: The Most Interesting Articles",
    "tass.com",
    "europe.chinadaily.com.cn",
    "bbc.co.uk",
]
ALIASES = source_aliases(SOURCES)


def names(question: str) -> list[tuple[str, ...]]:
    return [m.sources for m in find_sources(question, ALIASES)]


def test_outlet_aliases():
    assert names("Did the TechCrunch article and the Sporting News report agree?") == [
        ("TechCrunch",),
        ("Sporting News",),
    ]
    assert names("according to The Independent") == [
        ("The Independent - Life and Style", "The Independent - Sports")
    ]
    assert names("as CNBC reported") == [("Cnbc | World Business News Leader",)]
    assert names("What did Live Science say?") == [("Live Science: The Most Interesting Articles",)]
    assert names("What did TASS and China Daily... no: chinadaily say? And the BBC?") == [
        ("tass.com",),
        ("europe.chinadaily.com.cn",),
        ("bbc.co.uk",),
    ]
    # Common words are not outlets unless written as names.
    assert names("a small fortune at any age, on the verge of tears") == []
    assert names("In The Age, Fortune wrote") == [("The Age",), ("Fortune",)]


def test_dates():
    (d,) = find_dates("the Polygon piece published on September 26, 2023, about marketing")
    assert (d.since, d.until) == ("2023-09-25", "2023-09-27")
    (m,) = find_dates("what happened in October 2023?")
    assert (m.since, m.until) == ("2023-10-01", "2023-10-31")
    (b,) = find_dates("reported before 3 November 2023")
    assert (b.since, b.until) == (None, "2023-11-01")
    (a,) = find_dates("after 2023-12-01 what changed")
    assert (a.since, a.until) == ("2023-12-03", None)
    assert find_dates("in February 30, 2023 nothing") == []  # no such day: no filter
    # Dates at the ends of the calendar are ignored, not a crash.
    assert find_dates("what happened on 9999-12-31?") == []
    assert find_dates("reported before January 1, 0001") == []
    assert find_dates("after December 31, 9999") == []


def test_plan_decomposes_by_outlet_clause():
    q = (
        "Does the TechCrunch article published on October 1, 2023 report layoffs at the startup, "
        "while the Sporting News report says the team won the championship?"
    )
    plan = plan_query(q, ALIASES)
    first, tc, sn = plan.subqueries
    assert first.filters.is_empty()  # the whole question, unfiltered, without outlet names
    assert first.text == q.replace("TechCrunch ", "").replace("Sporting News ", "")
    assert tc.filters.sources == ["TechCrunch"] and (tc.filters.since, tc.filters.until) == (
        "2023-09-30",
        "2023-10-02",
    )
    assert "layoffs" in tc.text and "championship" not in tc.text and "TechCrunch" not in tc.text
    assert sn.filters.sources == ["Sporting News"] and sn.filters.since is None
    assert "championship" in sn.text and "layoffs" not in sn.text
    whole = plan_query(q, ALIASES, clauses=False)
    assert all("layoffs" in s.text and "championship" in s.text for s in whole.subqueries)


def test_plan_respects_caller_filters_and_short_clauses():
    q = "Who was accused of fraud, as reported by both Fortune and TechCrunch?"
    plan = plan_query(q, ALIASES, Filters(sources=["TechCrunch"]))
    assert [s.filters.sources for s in plan.subqueries] == [["TechCrunch"], ["TechCrunch"]]
    # "and TechCrunch?" is too short to search on: the sub-query falls back to the question.
    assert "accused of fraud" in plan.subqueries[1].text
    assert plan_query("Who won the match?", ALIASES).subqueries[0].text == "Who won the match?"
    assert len(plan_query("Who won the match?", ALIASES).subqueries) == 1
