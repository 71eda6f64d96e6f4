"""Headline → article retrieval on real headlines, against TF-IDF on the same articles."""

from __future__ import annotations

from collections import Counter

import numpy as np

from index.articles import normalize_text


def headline_queries(service, limit: int = 400) -> list[tuple[str, str]]:
    """(headline, article id) for titled articles whose headline is unique in the index."""
    rows = service.index.store.conn.execute(
        "SELECT id, title FROM articles WHERE id GLOB '[0-9]*' ORDER BY CAST(id AS INTEGER)"
    ).fetchall()
    counts = Counter(t.lower() for _, t in rows)
    return [(t, aid) for aid, t in rows if t.strip() and counts[t.lower()] == 1][:limit]


def recall(service, queries: list[tuple[str, str]]) -> tuple[float, float]:
    hits1 = hits10 = 0
    for headline, aid in queries:
        found = [p.article_id for p in service.search(headline, k=10)]
        hits1 += bool(found) and found[0] == aid
        hits10 += aid in found
    return hits1 / len(queries), hits10 / len(queries)


def test_headline_recall_beats_tfidf(service, untitled_index):
    """Headlines are NOT indexed here (index_titles=False): the body alone must be found."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from qa.service import QAService
    from qa.settings import Settings

    queries = headline_queries(service)
    assert len(queries) >= 300
    ids, texts = zip(
        *service.index.store.conn.execute("SELECT id, text FROM articles ORDER BY id").fetchall()
    )
    # Baseline: TF-IDF over article bodies, the classic newsroom search.
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    matrix = vec.fit_transform([normalize_text(t) for t in texts])
    q = vec.transform([h for h, _ in queries])
    best = np.asarray((q @ matrix.T).argmax(axis=1)).ravel()
    tfidf_at1 = float(np.mean([ids[b] == aid for b, (_, aid) in zip(best, queries)]))

    untitled = QAService.from_settings(Settings(index_dir=untitled_index))
    try:
        ours_at1, ours_at10 = recall(untitled, queries)
    finally:
        untitled.close()
    titled_at1, _ = recall(service, queries)
    print(
        f"headline recall@1 (n={len(queries)}): body-only hybrid {ours_at1:.3f} (@10 {ours_at10:.3f}), "
        f"TF-IDF {tfidf_at1:.3f}; product index with headlines {titled_at1:.3f}"
    )
    assert ours_at1 > 0.64
    assert ours_at1 > tfidf_at1
    assert titled_at1 >= ours_at1
