"""Hybrid retrieval on real indexes: BM25 persistence, hints, diversity, reranking, metrics."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from index.bm25 import BM25Index
from qa.eval.metrics import mean_scores, score_query
from qa.response import Filters
from qa.retrieval.retriever import HybridSearcher
from tests.helpers import ROOT, SEED_QUESTION

MULTIHOP = ROOT.parent / "shared" / "data" / "multihop-rag"


def test_bm25_survives_save_and_load(tmp_path: Path):
    texts = [
        "Sergei Ryabkov warned that weapons convoys are legitimate targets.",
        "The harbour reopened after repairs to the quay.",
        "Convoys of trucks carried grain to the harbour.",
    ]
    built = BM25Index.build(texts, rows=[10, 20, 30])
    built.save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    for query in ("weapons convoys", "harbour", "Ryabkov's warning", "nothing matches zzz"):
        assert loaded.search(query, 3) == built.search(query, 3)
    assert sorted(r for r, _ in loaded.search("convoys", 3)) == [10, 30]
    assert [r for r, _ in loaded.search("convoys", 3, allowed_rows=np.array([30]))] == [30]
    assert all(p.suffix in {".json", ".npy"} for p in (tmp_path / "bm25").iterdir())


def test_outlet_hint_searches_that_outlet(service):
    result = service.searcher.search(
        "What did Ryabkov say about the United States, according to TASS?", 10
    )
    assert [s.filters.sources for s in result.plan.subqueries[1:]] == [["tass.com"]]
    assert "searched TASS separately" in result.notes
    assert sum(h.chunk.source == "tass.com" for h in result.hits) >= 3
    # The outlet's name is not searched for in the unfiltered question (it is not content).
    assert "TASS" not in result.plan.subqueries[0].text


def test_wrong_hint_falls_back_and_says_so(service):
    plain = service.searcher.search("What did Ryabkov say according to TASS in March 2031?", 5)
    assert any("no article matches the hint" in n for n in plain.notes)
    assert len(plain.hits) == 5


def test_diversity_limits_chunks_per_article(service):
    searcher: HybridSearcher = service.searcher
    original = searcher.params
    try:
        searcher.params = replace(original, max_chunks_per_article=1)
        one = searcher.search("Russia Ukraine war weapons", 10)
        assert len({h.chunk.article_id for h in one.hits}) == 10
        searcher.params = replace(original, max_chunks_per_article=10**6)
        unlimited = searcher.search("Russia Ukraine war weapons", 10)
        assert len({h.chunk.article_id for h in unlimited.hits}) < 10
    finally:
        searcher.params = original


def test_date_filter_excludes_and_includes(service):
    undated = service.search(SEED_QUESTION, k=10, filters=Filters(since="2017-01-01"))
    assert all(p.date and p.date >= "2017-01-01" for p in undated)
    window = service.search("Trump", k=10, filters=Filters(since="2017-02-01", until="2017-02-07"))
    assert window and all("2017-02-01" <= p.date[:10] <= "2017-02-07" for p in window)


def test_metrics_on_a_hand_checked_example():
    facts = ["Alpha beta gamma.", "Delta epsilon."]
    retrieved = [
        "nothing here",
        "x Alpha  beta\ngamma. y",  # fact 1 at rank 2 (whitespace ignored)
        "Alpha beta gamma. again",  # fact 1 again: no new credit
        "Delta epsilon. and more",  # fact 2 at rank 4
    ] + ["filler"] * 6
    s = score_query(retrieved, facts)
    assert s.hits4 == 1.0 and s.hits10 == 1.0
    assert s.mrr10 == pytest.approx(1 / 2)
    assert s.map10 == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert s.evidence_recall10 == 1.0 and s.complete10 == 1.0
    late = score_query(["filler"] * 4 + ["Delta epsilon."] + ["filler"] * 6, facts)
    assert (late.hits4, late.hits10, late.mrr10) == (0.0, 1.0, pytest.approx(1 / 5))
    assert late.evidence_recall10 == 0.5 and late.complete10 == 0.0
    assert score_query(["Delta epsilon."] * 11, facts[:1]).hits10 == 0.0
    m = mean_scores([s, late])
    assert m["Hits@4"] == 0.5 and m["Complete@10"] == 0.5


@pytest.mark.skipif(
    not MULTIHOP.is_dir(), reason="MultiHop-RAG data (../shared) is not beside the repo"
)
def test_multihop_subset_end_to_end(tmp_path, embedder):
    """A tiny MultiHop-RAG run: 6 queries, their evidence articles and distractors."""
    from qa.eval.retrieval import Config, ensure_index, run_multihop
    from qa.retrieval.retriever import SearchParams

    corpus = json.loads((MULTIHOP / "corpus_train.json").read_text())
    queries = json.loads((MULTIHOP / "queries_train.json").read_text())
    picked = [
        q
        for q in queries
        if q["question_type"] == "comparison_query" and len(q["evidence_list"]) == 2
    ][:6]
    urls = {e["url"] for q in picked for e in q["evidence_list"]}
    articles = [a for a in corpus if a["url"] in urls] + [
        a for a in corpus if a["url"] not in urls
    ][:20]
    (tmp_path / "mh.json").write_text(json.dumps(articles))
    from index.archive import ArchiveIndex

    root = ensure_index(
        tmp_path / "idx", [tmp_path / "mh.json"], embedder, "text=body,date=published_at"
    )
    index = ArchiveIndex.open(root)
    try:
        searcher = HybridSearcher(index, embedder)
        scores = run_multihop(
            searcher, picked, Config("product", "hybrid", SearchParams()), progress=False
        )
        for q, s in zip(picked, scores):
            texts = [h.chunk.text for h in searcher.search(q["query"], 10).hits]
            assert s == score_query(texts, [e["fact"] for e in q["evidence_list"]])
        m = mean_scores(scores)
        assert m["Hits@10"] >= 5 / 6 and m["EvidenceRecall@10"] >= 0.5
        # Interleaved merging: every outlet the question names owns one of the first slots.
        checked = 0
        for q in picked:
            result = searcher.search(q["query"], 10)
            outlets = [set(sub.filters.sources) for sub in result.plan.subqueries[1:]]
            if len(outlets) < 2:
                continue
            checked += 1
            first = [h.chunk.source for h in result.hits[: len(outlets)]]
            assert all(any(src in o for src in first) for o in outlets), (q["query"], first)
        assert checked >= 3
    finally:
        index.close()


def test_reranker_reorders_by_its_own_scores(tmp_path, service, embedder):
    """The optional cross-encoder path, with a tiny randomly initialised model of our own."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from qa.retrieval.rerank import CrossEncoderReranker

    tokenizer = AutoTokenizer.from_pretrained(embedder.path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # a strong head spreads the scores: no near-ties to flip
        torch.nn.init.normal_(model.classifier.weight, std=50.0)
    model.save_pretrained(tmp_path / "tiny-ce")
    tokenizer.save_pretrained(tmp_path / "tiny-ce")
    reranker = CrossEncoderReranker(str(tmp_path / "tiny-ce"))
    plain = HybridSearcher(service.index, embedder, service.searcher.params)
    candidates = plain.search(SEED_QUESTION, 20).hits
    searcher = HybridSearcher(
        service.index, embedder, service.searcher.params, reranker=reranker, rerank_candidates=20
    )
    reranked = searcher.search(SEED_QUESTION, 5).hits
    expected = reranker.scores(SEED_QUESTION, [h.chunk.text for h in candidates])
    best = sorted(range(len(candidates)), key=lambda i: -expected[i])[:5]
    assert len({round(x, 3) for x in expected}) > 10
    assert [h.chunk.row for h in reranked] == [candidates[i].chunk.row for i in best]
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)
