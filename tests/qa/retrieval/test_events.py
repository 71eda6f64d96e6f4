"""'Reported by N outlets' on the session's real index: other outlets' paragraphs that say
the same thing are listed on a result, by the measured rule, and nothing else is."""

from __future__ import annotations

import json
from datetime import date

from qa.eval.events import features, load_labels
from qa.retrieval.events import (
    MAX_DAYS_APART,
    MIN_SHARED_NAMES,
    SAME_EVENT_COSINE,
    normalize_name,
    paragraphs,
    same_event,
)
from tests.helpers import ROOT, run_cli

LABELS = ROOT / "data" / "eval" / "same_event_pairs.jsonl"
PALMYRA = "Syrian army recaptures Palmyra from ISIS with Russian air support"


def test_other_outlets_reporting_the_same_event_are_listed(service):
    passages = service.search(PALMYRA, k=10)
    grouped = [p for p in passages if p.reported_by]
    assert grouped, "two outlets' reports of Palmyra's recapture should be grouped"
    for p in grouped:
        assert p.reported_by_outlets == 1 + len({r.source for r in p.reported_by})
        for r in p.reported_by:
            assert r.source != p.source and r.article_id != p.article_id
            assert r.similarity >= SAME_EVENT_COSINE
            assert len(r.shared_names) >= MIN_SHARED_NAMES
            days = date.fromisoformat(r.date[:10]) - date.fromisoformat(p.date[:10])
            assert abs(days.days) <= MAX_DAYS_APART
            other = next(q for q in passages if q.chunk_id == r.chunk_id)
            for name in r.shared_names:  # both paragraphs name it
                assert name in normalize_name(p.text) and name in normalize_name(other.text)
            # The rule is symmetric (each lists one paragraph per outlet, its most similar).
            assert p.source in {x.source for x in other.reported_by}


def test_results_are_grouped_exactly_when_the_rule_holds(service):
    hits = service.searcher.search(PALMYRA, 10).hits
    passages = service.search(PALMYRA, k=10)
    paras = {
        p.chunk.chunk_id: p
        for p in paragraphs([h.chunk for h in hits], service.index, service.embedder)
    }
    for p in passages:
        listed = {r.chunk_id for r in p.reported_by}
        same = {q for q in paras if q != p.chunk_id and same_event(paras[p.chunk_id], paras[q])}
        # One paragraph per other outlet: the most similar of that outlet's.
        assert listed <= same and {paras[q].outlet for q in listed} == {
            paras[q].outlet for q in same
        }


def test_judged_pairs_the_rule_groups_were_judged_the_same(service):
    rows = features(service, load_labels(LABELS))
    assert rows, "some judged pairs are in the session's subset of the archive"
    grouped = [
        r
        for r in rows
        if r["cosine"] >= SAME_EVENT_COSINE
        and len(r["shared"]) >= MIN_SHARED_NAMES
        and r["days"] <= MAX_DAYS_APART
    ]
    assert grouped and all(r["same"] for r in grouped)


def test_answers_the_api_and_the_cli_show_it(service, news_index):
    answer = service.ask("When did the Syrian army recapture Palmyra?")
    reported = [x for x in [*answer.citations, *answer.related] if x.reported_by]
    assert reported and all(x.reported_by_outlets >= 2 for x in reported)
    body = json.loads(answer.model_dump_json())
    item = next(x for x in body["citations"] + body["related"] if x["reported_by"])
    assert item["reported_by_outlets"] >= 2 and item["reported_by"][0]["label"]
    out = run_cli("search", PALMYRA, "--index", str(news_index), "-k", "10")
    assert out.returncode == 0, out.stderr
    assert (
        "reported by 2 outlets: also" in out.stdout or "reported by 3 outlets: also" in out.stdout
    )
