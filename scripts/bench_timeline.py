"""Timeline query latency: `QAService.timeline` over real questions on a built index.

Usage: python scripts/bench_timeline.py [--index indexes/demo] [--by month]
Questions: every question of data/eval (dev + test, first turns, file order), plus the
whole archive (""). One warm-up call; prints p50/p95 in ms and the sample size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from qa.service import QAService
from qa.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="indexes/demo")
    ap.add_argument("--by", default="month")
    ap.add_argument("--questions", default="data/eval")
    args = ap.parse_args()
    queries = [""]
    for split in ("dev", "test"):
        for line in Path(args.questions, f"answers-{split}.jsonl").read_text().splitlines():
            row = json.loads(line)
            first = row["turns"][0] if "turns" in row else row
            queries.append(first["question"])
    with QAService.from_settings(Settings(index_dir=args.index, generator="extractive")) as svc:
        svc.timeline(queries[1], args.by)  # warm: BM25 arrays, the date parser
        ms = []
        for q in queries:
            t0 = time.perf_counter()
            svc.timeline(q, args.by)
            ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(
        json.dumps(
            {
                "queries": len(ms),
                "by": args.by,
                "p50_ms": round(statistics.median(ms), 1),
                "p95_ms": round(p95, 1),
                "max_ms": round(ms[-1], 1),
            }
        )
    )


if __name__ == "__main__":
    main()
