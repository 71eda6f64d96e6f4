"""Timelines on the session's real index: counts of matching articles per period and
outlet, bounded for the whole archive, and the same data from the CLI."""

from __future__ import annotations

import json

import pytest

from qa.errors import QuestionError
from qa.timeline import MAX_OUTLETS, MAX_PERIODS, OTHER, period_end, period_start
from tests.helpers import run_cli


def test_a_query_counts_each_matching_article_once(service):
    tl = service.timeline("Ryabkov", "month")
    hits = service.index.keyword_search("Ryabkov", 2000, None)
    rows = service.index.store.article_dates([r for r, _ in hits])
    dated = [r for r in rows if r[1]]
    assert tl.articles == len(dated) > 0 and tl.undated == len(rows) - len(dated)
    assert sum(b.count for b in tl.bars) == tl.articles
    months = {d[:7] for _, d, _ in dated}
    assert {b.period[:7] for b in tl.bars} == months
    assert all(b.period.endswith("-01") for b in tl.bars)


def test_the_whole_archive_is_bounded(service):
    articles = service.info().articles
    tl = service.timeline("", "day")
    assert tl.articles + tl.undated == articles
    assert len({b.period for b in tl.bars}) <= MAX_PERIODS
    assert len(tl.outlets) <= MAX_OUTLETS + 1
    assert {b.outlet for b in tl.bars} <= set(tl.outlets)
    if len(service.info().sources) > MAX_OUTLETS:
        assert OTHER in tl.outlets and any("smaller outlets" in n for n in tl.notes)
    weekly = service.timeline("*", "week")
    assert sum(b.count for b in weekly.bars) == tl.articles
    assert all(period_start(b.period, "week") == b.period for b in weekly.bars)


def test_time_words_in_the_query_narrow_the_chart(service):
    newest = service.info().date_range[1][:4]
    tl = service.timeline(f"election in {newest}", "month")
    assert tl.time_range is not None and tl.time_range.since == f"{newest}-01-01"
    assert tl.bars and all(b.period.startswith(newest) for b in tl.bars)


def test_periods_and_bad_steps():
    assert period_end("2016-02-01", "month") == "2016-02-29"
    assert period_end("2017-03-27", "week") == "2017-04-02"
    assert period_start("2017-03-30T10:00:00", "week") == "2017-03-27"


def test_a_bad_step_is_a_clear_error(service):
    with pytest.raises(QuestionError, match="by must be one of"):
        service.timeline("Ryabkov", "year")


def test_timeline_command_prints_json(news_index):
    out = run_cli("timeline", "Ryabkov", "--index", str(news_index), "--by", "week", "--json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["by"] == "week" and body["bars"] and body["articles"] > 0
    table = run_cli("timeline", "Ryabkov", "--index", str(news_index))
    assert table.returncode == 0 and "articles by month" in table.stdout
    bad = run_cli("timeline", "Ryabkov", "--index", str(news_index), "--by", "fortnight")
    assert bad.returncode == 1 and "by must be one of" in bad.stderr
