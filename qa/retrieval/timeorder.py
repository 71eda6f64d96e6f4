"""Ordering retrieved candidates by date for "latest ..." and "first ..." questions.

Date order only among the relevant: a newer article that barely touches the subject must
not outrank the story asked about, so candidates far below the best similarity are left
out before sorting, and the answer reads the few newest (oldest) articles only.
"""

from __future__ import annotations

from datetime import date

from index.store import StoredChunk

RELEVANCE_MARGIN = 0.10  # cosine below the best candidate that still counts as relevant
ARTICLES_READ = 3  # articles a latest/first answer reads, in date order


def reference_date(now: str | None, newest: str | None) -> str:
    """ISO day relative phrases resolve against: the given `now`, else the archive's
    newest article, else today."""
    for value in (now, newest):
        if value:
            try:
                return date.fromisoformat(value[:10]).isoformat()
            except ValueError:
                continue
    return date.today().isoformat()


def by_date(
    pool: list[tuple[StoredChunk, float]],
    dense: dict[int, float],
    order: str,
    k: int,
) -> tuple[list[tuple[StoredChunk, float]], list[str]]:
    """The chunks of the newest (order="latest") or oldest ("first") relevant articles,
    at most k, and notes on what was left out."""
    best = max((dense.get(c.row, 0.0) for c, _ in pool), default=0.0)
    relevant = [
        (c, s) for c, s in pool if c.row not in dense or dense[c.row] >= best - RELEVANCE_MARGIN
    ]
    dated = [(c, s) for c, s in relevant if c.date]
    notes = []
    if len(dated) < len(relevant):
        notes.append(
            f"{len(relevant) - len(dated)} relevant paragraphs without a date left out of the "
            f"{order} order"
        )
    if not dated:
        return pool[:k], notes
    dated.sort(key=lambda cs: cs[0].date or "", reverse=order == "latest")  # stable: rank ties
    articles: list[str] = []
    out = []
    for c, s in dated:
        if c.article_id not in articles:
            if len(articles) == ARTICLES_READ:
                continue
            articles.append(c.article_id)
        out.append((c, s))
    return out[:k], notes
