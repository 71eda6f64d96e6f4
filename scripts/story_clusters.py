"""Near-duplicate clusters of the NewsArticles archive, and the generated agency-copy test.

Usage: python scripts/story_clusters.py [--copies 200] [--seed 17] [--threshold 0.5]
Prints every real cluster (id, outlet, date, headline), then recall/precision of generated
copies (qa.eval.stories) clustered with the whole archive, and the seconds it took.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from index.stories import THRESHOLD, shingles
from qa.eval.stories import agency_copies, score

ARCHIVE = Path(__file__).resolve().parent.parent / "data" / "archive" / "NewsArticles.zip"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    args = ap.parse_args()
    if not ARCHIVE.is_file():
        subprocess.run([sys.executable, str(ARCHIVE.parents[2] / "scripts/get_archive.py")])
    with zipfile.ZipFile(ARCHIVE) as zf, zf.open("NewsArticles.csv") as fh:
        rows = list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8", newline="")))
    by_id = {r["article_id"]: r for r in rows}
    copies = agency_copies(rows, args.copies, args.seed)
    t0 = time.perf_counter()
    s = score(rows, copies, args.threshold)
    seconds = time.perf_counter() - t0
    for group in s.real_clusters:
        first = shingles(by_id[group[0]]["text"])
        print("cluster:")
        for aid in group:
            r = by_id[aid]
            other = shingles(r["text"])
            jac = len(first & other) / max(1, len(first | other))
            print(
                f"  {aid:>5} {urlsplit(r['article_source_link']).netloc:<26} "
                f"{r['publish_date']:<10} J={jac:.2f} {r['title'][:70]}"
            )
    print(
        json.dumps(
            {
                "articles": len(rows),
                "copies": s.copies,
                "threshold": args.threshold,
                "recall": round(s.recall, 3),
                "precision": round(s.precision, 3),
                "copy_pairs": s.copy_pairs,
                "wrong_pairs": s.wrong_pairs,
                "real_clusters": len(s.real_clusters),
                "seconds": round(seconds, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
