"""`archive-qa eval quotes`: the hand labels against the real extractor and real articles."""

from __future__ import annotations

import json
from collections import defaultdict

from tests.helpers import ROOT, read_news_rows, run_cli

LABELS = ROOT / "data" / "eval" / "quotes.jsonl"
KEYS = {"article_id", "paragraph", "speaker", "role", "verb", "statement", "split"}
SEED_ID = "a461df54d7525f8b"


def _rows() -> list[dict]:
    return [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]


def test_labels_hold_only_labels():
    rows = _rows()
    assert all(set(r) == KEYS for r in rows)
    assert all(len(r["statement"]) < 600 for r in rows)  # spans, never article bodies


def test_labels_reach_the_issues_size_and_the_splits_share_no_article():
    rows = _rows()
    articles = defaultdict(set)
    for r in rows:
        articles[r["split"]].add(r["article_id"])
    assert set(articles) == {"dev", "test"}
    assert not articles["dev"] & articles["test"]
    news = (articles["dev"] | articles["test"]) - {SEED_ID}
    assert len(rows) >= 150 and len(news) >= 40 and SEED_ID in articles["dev"]


def test_eval_quotes_places_every_label_and_reports_the_scores_per_split():
    read_news_rows()  # the archive zip, fetched as the other tests do
    out = run_cli("eval", "quotes", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["labels_not_found_in_their_paragraph"] == 0 and not report["articles_missing"]
    assert len(report["outlets"]) >= 10  # nine outlets and the seed
    dev, test = report["by_split"]["dev"], report["by_split"]["test"]
    assert len(test["outlets"]) == 9 and dev["articles"] + test["articles"] == report["articles"]
    assert dev["gold_statements"] + test["gold_statements"] == report["gold_statements"]
    # floors a regression in the extractor would break (measured values: docs/evaluation.md)
    for part in (dev, test):
        assert part["speaker_precision"] >= 0.8 and part["speaker_recall"] >= 0.65
        assert part["span_overlap_precision"] >= 0.85


def test_eval_quotes_refuses_an_unknown_split():
    out = run_cli("eval", "quotes", "--split", "train")
    assert out.returncode == 1
    assert "unknown split 'train'" in out.stderr and not out.stdout


def test_the_test_articles_are_the_documented_draw():
    """docs/evaluation.md: seed 161, three per outlet, the dev articles excluded; the first
    two of every outlet and the third of the first four outlets were labelled."""
    from index.loaders import FieldMap, LoadReport, iter_articles
    from qa.eval.quotes import draw_articles
    from tests.helpers import ARCHIVE, NEWS_FIELDS

    read_news_rows()
    rows = _rows()
    dev = {r["article_id"] for r in rows if r["split"] == "dev"}
    test = {r["article_id"] for r in rows if r["split"] == "test"}
    articles = iter_articles([ARCHIVE], LoadReport(), FieldMap.parse(NEWS_FIELDS))
    drawn = draw_articles(articles, seed=161, per_outlet=3, exclude=dev)
    assert len(drawn) == 9
    chosen = {i for n, ids in enumerate(drawn.values()) for i in ids[: 3 if n < 4 else 2]}
    assert chosen == test
