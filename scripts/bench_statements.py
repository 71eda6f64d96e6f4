"""What statement extraction adds to a build: time per stage and the table's size.

Builds the seed plus the first N NewsArticles articles into a temporary folder (the real
embedder, the real spaCy pipeline) and prints the build's stage timings, the statement and
speaker counts and the bytes the statements table takes in store.sqlite.

    python scripts/bench_statements.py [N] [KEEP_DIR]

With KEEP_DIR the index is built there and kept (to look at its statements).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index.builder import BuildOptions, build_index  # noqa: E402
from index.loaders import FieldMap  # noqa: E402
from qa.settings import Settings  # noqa: E402
from tests.helpers import NEWS_FIELDS, SEED, read_news_rows, write_csv  # noqa: E402


def main(n: int, keep: str | None = None) -> None:
    rows = read_news_rows()[:n]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(keep) if keep else Path(tmp) / "index"
        csv = write_csv(rows, Path(tmp) / "news.csv")
        settings = Settings()
        embedder = settings.load_embedder()
        options = BuildOptions(fields=FieldMap.parse(NEWS_FIELDS), progress=False)
        result = build_index([SEED, csv], out, embedder, options)
        store = result.build / "store.sqlite"
        con = sqlite3.connect(store)
        statements, speakers = con.execute(
            "SELECT count(*), count(DISTINCT lower(normalized)) FROM statements"
        ).fetchone()
        try:
            size = con.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'statements%'"
            ).fetchone()[0]
        except sqlite3.OperationalError:
            size = None
        t = result.timings
        print(
            json.dumps(
                {
                    "articles": result.articles,
                    "chunks": result.chunks,
                    "timings_s": t,
                    "statements": statements,
                    "speakers": speakers,
                    "statements_table_bytes": size,
                    "store_bytes": store.stat().st_size,
                    "build_s": round(result.seconds, 2),
                    "statements_over_embed": round(t.get("statements", 0) / t["embed"], 3),
                    "build_ratio_without_statements": round(
                        result.seconds / (result.seconds - t.get("statements", 0)), 3
                    ),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, sys.argv[2] if len(sys.argv) > 2 else None)
