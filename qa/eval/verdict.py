"""Fit the Yes margin of closed-question verdicts (`verdict_margin`) on MultiHop-RAG.

The margin belongs to a model: how far its first-token log-odds of Yes over No must go
before its Yes means yes. This draws yes/no questions (comparison and temporal queries
with a Yes or No gold answer) from outside the samples `eval multihop` reports on, asks
the chain's own verdict probe for each (same retrieval, same prompt, one token), and
reports what each margin would score: accuracy of the model's own first word, the best
margin, its accuracy, the same fit on one half and scored on the other (the honest
figure), and how well the log-odds rank gold-Yes above gold-No (ROC AUC).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from qa.eval.multihop import normalize, stratified_sample

CLOSED_TYPES = ("comparison_query", "temporal_query")
GRID = tuple(x / 20 for x in range(-20, 61))  # margins -1.0 .. 3.0 in steps of 0.05


def draw_questions(
    queries: list[dict[str, Any]],
    sample: int,
    seeds: Sequence[int],
    exclude_seeds: Sequence[int] = (),
    exclude_sample: int = 40,
) -> list[dict[str, Any]]:
    """`sample` yes/no questions per seed, none of them in the `eval multihop` samples of
    `exclude_seeds` (size `exclude_sample`) nor drawn for an earlier seed."""
    held = {
        q["query"] for s in exclude_seeds for q in stratified_sample(queries, exclude_sample, s)
    }
    drawn: list[dict[str, Any]] = []
    for seed in seeds:
        taken = {q["query"] for q in drawn}
        pool = [
            q
            for q in queries
            if q["query"] not in taken
            and q["question_type"] in CLOSED_TYPES
            and normalize(q["answer"]) in ("yes", "no")
            and q["query"] not in held
        ]
        drawn.extend(random.Random(seed).sample(pool, min(sample, len(pool))))
    return drawn


def _accuracy(rows: Sequence[dict[str, Any]], margin: float) -> float:
    return sum((r["logodds"] > margin) == r["gold_yes"] for r in rows) / len(rows)


def best_margin(rows: Sequence[dict[str, Any]]) -> float:
    """The grid margin with the highest accuracy (ties: the one nearest 0)."""
    return max(GRID, key=lambda m: (_accuracy(rows, m), -abs(m)))


def summarize(rows: list[dict[str, Any]], splits: int = 200) -> dict[str, Any]:
    rows = [r for r in rows if r["logodds"] is not None]
    if not rows:
        raise ValueError("no question got first-token probabilities from the model")
    pos = [r["logodds"] for r in rows if r["gold_yes"]]
    neg = [r["logodds"] for r in rows if not r["gold_yes"]]
    auc = (
        sum((a > b) + 0.5 * (a == b) for a in pos for b in neg) / (len(pos) * len(neg))
        if pos and neg
        else None
    )
    best = best_margin(rows)
    held_out: list[float] = []
    for s in range(splits):
        shuffled = rows[:]
        random.Random(s).shuffle(shuffled)
        half = len(shuffled) // 2
        a, b = shuffled[:half], shuffled[half:]
        if a and b:
            held_out += [_accuracy(b, best_margin(a)), _accuracy(a, best_margin(b))]
    return {
        "n": len(rows),
        "gold_yes": len(pos),
        "first_word_accuracy": round(
            sum((r["first"] == "Yes") == r["gold_yes"] for r in rows) / len(rows), 3
        ),
        "best_margin": best,
        "accuracy_at_best": round(_accuracy(rows, best), 3),
        "accuracy_fit_on_other_half": round(sum(held_out) / len(held_out), 3) if held_out else None,
        "roc_auc": round(auc, 3) if auc is not None else None,
        "accuracy_by_margin": {m: round(_accuracy(rows, m), 3) for m in GRID[20:41:2]},
    }


def probe_all(
    questions: list[dict[str, Any]],
    logodds: Callable[[str], float | None],
    progress: Callable[[int, dict[str, Any], float | None], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per question: its gold answer and the model's Yes-over-No log-odds."""
    rows = []
    for i, q in enumerate(questions, start=1):
        lo = logodds(q["query"])
        rows.append(
            {
                "query": q["query"],
                "type": q["question_type"],
                "gold_yes": normalize(q["answer"]) == "yes",
                "logodds": lo,
                "first": None if lo is None else ("Yes" if lo > 0 else "No"),
            }
        )
        if progress:
            progress(i, q, lo)
    return rows
