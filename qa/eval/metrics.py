"""Retrieval metrics of MultiHop-RAG (Tang and Yang, 2024), plus stricter multi-hop ones.

A retrieved chunk is relevant when it contains one of the query's gold evidence facts,
compared with spaces and newlines removed (as in the paper's evaluation). The paper's
Hits@k, MRR@10 and MAP@10 reward finding *one* fact; a multi-hop answer needs all of
them, so evidence recall@10 (share of a query's facts found) and complete@10 (all facts
found) are reported as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def _squash(text: str) -> str:
    return text.replace(" ", "").replace("\n", "")


@dataclass(frozen=True)
class QueryScores:
    hits4: float
    hits10: float
    mrr10: float
    map10: float
    evidence_recall10: float
    complete10: float


def score_query(retrieved: Sequence[str], facts: Sequence[str]) -> QueryScores:
    """Scores of one ranked list of chunk texts against the query's gold facts."""
    gold = [_squash(f) for f in facts]
    distinct = set(gold)
    found: set[str] = set()
    first_rank = None
    precision_sum = 0.0
    hits4 = False
    for rank, text in enumerate(retrieved[:10], start=1):
        chunk = _squash(text)
        matched = {g for g in distinct if g in chunk}
        if not matched:
            continue
        if first_rank is None:
            first_rank = rank
        hits4 = hits4 or rank <= 4
        # The paper counts each gold fact once, at the first rank that holds it.
        precision_sum += len(matched - found) / rank
        found |= matched
    return QueryScores(
        hits4=float(hits4),
        hits10=float(first_rank is not None),
        mrr10=1.0 / first_rank if first_rank else 0.0,
        map10=precision_sum / min(len(gold), 10) if gold else 0.0,
        evidence_recall10=len(found) / len(distinct) if distinct else 0.0,
        complete10=float(bool(distinct) and found == distinct),
    )


def mean_scores(scores: Sequence[QueryScores]) -> dict[str, float]:
    n = len(scores) or 1
    return {
        "Hits@4": sum(s.hits4 for s in scores) / n,
        "Hits@10": sum(s.hits10 for s in scores) / n,
        "MAP@10": sum(s.map10 for s in scores) / n,
        "MRR@10": sum(s.mrr10 for s in scores) / n,
        "EvidenceRecall@10": sum(s.evidence_recall10 for s in scores) / n,
        "Complete@10": sum(s.complete10 for s in scores) / n,
    }
