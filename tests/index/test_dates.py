"""Odd publication dates are kept and flagged in the build report; undated articles are
left out of time-bound answers with a note."""

from __future__ import annotations

from index.builder import build_index
from tests.helpers import write_csv


def test_future_early_and_missing_dates_are_flagged(news_rows, tmp_path, embedder, build_options):
    base = news_rows[:3]
    rows = [
        {**base[0], "article_id": "future", "publish_date": "2999/1/1"},
        {**base[1], "article_id": "early", "publish_date": "1850/6/1"},
        {**base[2], "article_id": "undated", "publish_date": ""},
    ]
    result = build_index(
        [write_csv(rows, tmp_path / "odd.csv")], tmp_path / "index", embedder, build_options
    )
    assert result.articles == 3  # all kept
    text = " | ".join(result.notes)
    assert "dated after today" in text and "'future'" in text
    assert "dated before 1900" in text and "'early'" in text
    assert "have no date" in text and "'undated'" in text

    from qa.service import QAService
    from qa.settings import Settings

    with QAService.from_settings(Settings(index_dir=tmp_path / "index")) as svc:
        topic = base[0]["title"]
        answer = svc.ask(f"What was reported before 2100 about {topic}?")
        assert answer.time_range is not None and answer.time_range.until == "2099-12-31"
        assert any("without a date are left out" in n for n in answer.notes)
        assert all(c.article_id != "undated" for c in answer.citations)
