"""`archive-qa eval quotes`: the hand labels against the real extractor and real articles."""

from __future__ import annotations

import json

from tests.helpers import ROOT, read_news_rows, run_cli

LABELS = ROOT / "data" / "eval" / "quotes.jsonl"
KEYS = {"article_id", "paragraph", "speaker", "role", "verb", "statement"}


def test_labels_hold_only_labels():
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 100 and all(set(r) == KEYS for r in rows)
    assert all(len(r["statement"]) < 600 for r in rows)  # spans, never article bodies


def test_eval_quotes_places_every_label_and_reports_the_scores():
    read_news_rows()  # the archive zip, fetched as the other tests do
    out = run_cli("eval", "quotes", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["labels_not_found_in_their_paragraph"] == 0 and not report["articles_missing"]
    assert len(report["outlets"]) >= 10  # nine outlets and the seed
    # floors a regression in the extractor would break (measured values: docs/evaluation.md)
    assert report["speaker_precision"] >= 0.8 and report["speaker_recall"] >= 0.7
    assert report["span_overlap_precision"] >= 0.85
