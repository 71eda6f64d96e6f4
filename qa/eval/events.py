"""Measuring "reported by N outlets" (`qa.retrieval.events`) on pairs judged by reading.

Pairs are drawn the way users meet them: the top 10 results of a search (here, the
headlines of randomly drawn articles as queries), every two results from different
outlets dated at most `MAX_DAYS_APART` days apart. A person reads each drawn pair and
labels it `same` (both paragraphs report the same event and say the same about it) or
not; `data/eval/same_event_pairs.jsonl` keeps the labels (chunk ids, label, a reason;
never the text). Precision and recall of the rule are then read off the labels for any
cosine / shared-name threshold.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from qa.retrieval.events import MAX_DAYS_APART, compare, paragraphs

BINS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.01)


def candidate_pairs(service, queries: Iterable[str], k: int = 10) -> list[dict[str, Any]]:
    """Every cross-outlet pair of dated results within `MAX_DAYS_APART` days, once, with
    the rule's features."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    stories = service.searcher.stories
    for q in queries:
        hits = service.searcher.search(q, k).hits
        paras = paragraphs([h.chunk for h in hits], service.index, service.embedder)
        for i, a in enumerate(paras):
            for b in paras[i + 1 :]:
                key = tuple(sorted((a.chunk.chunk_id, b.chunk.chunk_id)))
                if key in seen or not a.outlet or a.outlet == b.outlet:
                    continue
                if stories.key(a.chunk.article_id) == stories.key(b.chunk.article_id):
                    continue
                cos, shared, days = compare(a, b)
                if days is None or days > MAX_DAYS_APART:
                    continue
                seen.add(key)
                out.append(
                    {
                        "a": key[0],
                        "b": key[1],
                        "cosine": round(cos, 4),
                        "shared": list(shared),
                        "days": days,
                        "query": q,
                    }
                )
    return out


def stratified(pairs: Sequence[dict[str, Any]], per_bin: int, seed: int) -> list[dict[str, Any]]:
    """Up to `per_bin` pairs from each cosine bin (BINS) among those sharing a name, and
    `per_bin` sharing none above the lowest bin: the rule's boundary is read, not guessed."""
    rng = random.Random(seed)
    picked: list[dict[str, Any]] = []
    for lo, hi in zip(BINS, BINS[1:]):
        pool = [p for p in pairs if lo <= p["cosine"] < hi and p["shared"]]
        picked += rng.sample(pool, min(per_bin, len(pool)))
    pool = [p for p in pairs if p["cosine"] >= BINS[0] and not p["shared"]]
    picked += rng.sample(pool, min(per_bin, len(pool)))
    return sorted(picked, key=lambda p: p["cosine"])


def load_labels(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            if not {"a", "b", "same"} <= set(row):
                raise ValueError(f"{path}:{n}: a label needs 'a', 'b' and 'same'")
            rows.append(row)
    return rows


def features(service, labels: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The labelled pairs with the rule's features recomputed on the index (a pair whose
    chunks the index does not hold is left out)."""
    ids = {x for row in labels for x in (row["a"], row["b"])}
    chunks = service.index.store.chunks_by_ids(sorted(ids))
    paras = {
        p.chunk.chunk_id: p
        for p in paragraphs(list(chunks.values()), service.index, service.embedder)
    }
    out = []
    for row in labels:
        a, b = paras.get(row["a"]), paras.get(row["b"])
        if a is None or b is None:
            continue
        cos, shared, days = compare(a, b)
        out.append({**row, "cosine": cos, "shared": list(shared), "days": days})
    return out


def bin_counts(pairs: Sequence[dict[str, Any]], min_names: int) -> list[int]:
    """How many candidate pairs sharing at least `min_names` names fall in each cosine bin:
    the weights that turn the per-bin judged precision into the rule's precision."""
    return [
        sum(lo <= p["cosine"] < hi and len(p["shared"]) >= min_names for p in pairs)
        for lo, hi in zip(BINS, BINS[1:])
    ]


def weighted_precision(
    rows: Sequence[dict[str, Any]], counts: Sequence[int], cosine: float, min_names: int
) -> float | None:
    """The rule's precision over all candidate pairs: each judged bin's precision weighted
    by the bin's share of the candidates (the judged pairs are a stratified sample). Bins
    are cut at `cosine`, which must be one of BINS."""
    if cosine not in BINS:
        raise ValueError(f"cosine {cosine} is not a bin edge {BINS}")
    total = right = 0.0
    for (lo, hi), n in zip(zip(BINS, BINS[1:]), counts):
        if lo < cosine:
            continue
        judged = [r for r in rows if lo <= r["cosine"] < hi and len(r["shared"]) >= min_names]
        if judged and n:
            total += n
            right += n * sum(bool(r["same"]) for r in judged) / len(judged)
    return round(right / total, 3) if total else None


def precision_recall(
    rows: Sequence[dict[str, Any]], cosine: float, min_names: int, max_days: int = MAX_DAYS_APART
) -> dict[str, Any]:
    """The rule at these thresholds against the labels."""
    said = [
        r
        for r in rows
        if r["cosine"] >= cosine
        and len(r["shared"]) >= min_names
        and r["days"] is not None
        and r["days"] <= max_days
    ]
    right = sum(bool(r["same"]) for r in said)
    same = sum(bool(r["same"]) for r in rows)
    return {
        "cosine": cosine,
        "min_names": min_names,
        "grouped": len(said),
        "right": right,
        "precision": round(right / len(said), 3) if said else None,
        "recall_of_labelled_same": round(right / same, 3) if same else None,
    }
