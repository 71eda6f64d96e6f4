"""Draw result pairs to judge for "reported by N outlets", and score the rule on the labels.

Usage:
  python scripts/same_event_pairs.py draw --index /work/indexes/demo [--queries 300] [--per-bin 12] [--seed 17] > pairs.txt
      prints the drawn pairs (both paragraphs, outlets, dates, cosine, shared names) to read,
      and writes their ids to --out (default artifacts/same-event-drawn.jsonl) for labelling
  python scripts/same_event_pairs.py score --index /work/indexes/demo [--labels data/eval/same_event_pairs.jsonl]
      precision / recall of the rule at a grid of thresholds, and at the shipped ones
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from qa.eval.events import (
    BINS,
    bin_counts,
    candidate_pairs,
    features,
    load_labels,
    precision_recall,
    stratified,
    weighted_precision,
)
from qa.retrieval.events import MIN_SHARED_NAMES, SAME_EVENT_COSINE
from qa.service import QAService
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["draw", "score"])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--per-bin", type=int, default=12)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--out", type=Path, default=ROOT / "artifacts" / "same-event-drawn.jsonl")
    ap.add_argument(
        "--labels", type=Path, default=ROOT / "data" / "eval" / "same_event_pairs.jsonl"
    )
    ap.add_argument(
        "--population",
        type=Path,
        default=ROOT / "artifacts" / "same-event-candidates.jsonl",
        help="every candidate pair (written by draw; weights the judged bins)",
    )
    args = ap.parse_args()
    service = QAService.from_settings(Settings(index_dir=args.index, generator="extractive"))
    if args.mode == "draw":
        draw(service, args)
    else:
        score(service, args)


def draw(service, args) -> None:
    ids = service.index.store.article_ids()
    rng = random.Random(args.seed)
    picked = rng.sample(ids, min(args.queries, len(ids)))
    titles = [a.title for aid in picked if (a := service.index.store.article(aid)) and a.title]
    pairs = candidate_pairs(service, titles)
    print(f"{len(titles)} queries, {len(pairs)} candidate pairs", file=sys.stderr)
    args.population.parent.mkdir(parents=True, exist_ok=True)
    args.population.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    drawn = stratified(pairs, args.per_bin, args.seed)
    chunks = service.index.store.chunks_by_ids([x for p in drawn for x in (p["a"], p["b"])])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for n, p in enumerate(drawn, 1):
            fh.write(json.dumps({"n": n, **p}) + "\n")
            a, b = chunks[p["a"]], chunks[p["b"]]
            print(f"=== {n} cos={p['cosine']:.3f} days={p['days']} shared={p['shared']}")
            for c in (a, b):
                print(f"--- {c.source} {c.date} | {c.title}\n{c.text}\n")


def score(service, args) -> None:
    rows = features(service, load_labels(args.labels))
    same = sum(bool(r["same"]) for r in rows)
    print(json.dumps({"labelled": len(rows), "same": same}))
    population = [json.loads(x) for x in args.population.read_text().splitlines() if x.strip()]
    for names in (1, 2, 3):
        counts = bin_counts(population, names)
        print(json.dumps({"min_names": names, "candidates_per_bin": dict(zip(BINS, counts))}))
        for cos in BINS[1:-1]:
            row = precision_recall(rows, cos, names)
            row["weighted_precision"] = weighted_precision(rows, counts, cos, names)
            row["candidates_grouped"] = sum(c for lo, c in zip(BINS, counts) if lo >= cos)
            print(json.dumps(row))
    print("shipped:", json.dumps(precision_recall(rows, SAME_EVENT_COSINE, MIN_SHARED_NAMES)))


if __name__ == "__main__":
    main()
