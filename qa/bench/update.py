"""Benchmark: incremental update (change 1 article, remove 1) at 10k / 50k / 100k chunks.

The question is whether `archive-qa update` costs what the change costs, not what the
archive costs (issue 6, goal < 2 s at 100k chunks). For each size:

1. A base index is built quickly without embedding it for real: the real NewsArticles
   text, repeated with unique ids (`<id>~<copy>`, headline tagged with the copy) until
   the chunk count is reached (each copy's body ends with "(Archive copy n.)", or the
   loader would drop it as a duplicate), read through the real loaders, chunker, SQLite store,
   FAISS (Flat) and bm25s; only the vectors come from a stand-in embedder (random unit
   vectors under the real model's name, dim and max length), so the real model can
   update the index afterwards.
2. `update_index` with the REAL model (loaded and warmed once per process; not timed)
   changes one article (a correction paragraph appended, or with `--change rewrite` every
   sentence touched so all its chunks are re-embedded; read from a JSONL file) and
   removes another by id: the delta path. Repeated `repeats` times with other articles;
   the median is reported with its read / embed / write / publish split.
3. The same change through the whole-archive rewrite (`compact=True`: copy the store,
   edit and rewrite the FAISS file, rebuild BM25 over every chunk, hash every file),
   which is what `--update` did before delta segments, in the same process.

    python -m qa.bench.update --chunks 100000            # also 10k and 50k
    python -m qa.bench.update --chunks 20000 --sizes ""  # one size only
    python -m qa.bench.update --change rewrite           # the whole article re-embedded
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

NEWS_FIELDS = "id=article_id,date=publish_date,url=article_source_link"
ROOT = Path(__file__).resolve().parents[2]


class StandInEmbedder:
    """Random unit vectors under the real model's identity: builds a large base in
    seconds; the index it writes is then updated by the real model."""

    def __init__(self, name: str, dim: int, max_seq_length: int, seed: int = 0) -> None:
        self.name, self.dim, self.max_seq_length = name, dim, max_seq_length
        self.backend = "stand-in"
        self._rng = np.random.default_rng(seed)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
        threads: int | None = None,
    ) -> np.ndarray:
        v = self._rng.standard_normal((len(texts), self.dim)).astype("float32")
        v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-12
        if progress:
            progress(len(texts))
        return v

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def _real_articles(archive: Path) -> list:
    from index.loaders import FieldMap, LoadReport, iter_articles

    return list(iter_articles([archive], LoadReport(), FieldMap.parse(NEWS_FIELDS)))


def _write_jsonl(articles, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for a in articles:
            row = {"id": a.id, "title": a.title, "text": a.text, "date": a.date}
            row.update(source=a.source, url=a.url)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _replicate(articles, chunk_counts: list[int], target: int) -> list:
    """Copies of the real articles with unique ids until `target` chunks are reached."""
    from index.articles import Article

    out, total, copy = [], 0, 0
    while total < target:
        for a, n in zip(articles, chunk_counts):
            if total >= target:
                break
            if copy == 0:
                out.append(a)
            else:
                out.append(
                    Article(
                        id=f"{a.id}~{copy}",
                        title=f"{a.title} ({copy})",
                        # the loader drops repeated bodies as duplicates: mark each copy
                        text=f"{a.text}\n\n(Archive copy {copy}.)",
                        date=a.date,
                        source=a.source,
                        url=f"{a.url}#{copy}" if a.url else None,
                    )
                )
            total += n
        copy += 1
    return out


def _edit(text: str, change: str, i: int) -> str:
    """The benchmark's edit: "append" adds a correction paragraph (the usual correction:
    one chunk changes); "rewrite" touches every sentence (every chunk is re-embedded)."""
    if change == "rewrite":
        return f"Updated {i}. " + text.replace(". ", "! ")
    return text + f"\n\nCorrection {i}: an earlier version misstated the date."


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(
    chunks: int = 100_000,
    sizes: Sequence[int] = (10_000, 50_000),
    repeats: int = 3,
    compare: bool = True,
    change: str = "append",
    archive: Path | None = None,
    workdir: Path | None = None,
    keep: bool = False,
    progress: bool = True,
) -> dict:
    """Time delta updates (and the old whole-archive rewrite) at each size; print a table."""
    from index.articles import Article
    from index.builder import BuildOptions, build_index
    from index.chunker import ChunkSettings, chunk_article
    from index.updater import update_index
    from qa.settings import Settings

    archive = archive or ROOT / "data" / "archive" / "NewsArticles.zip"
    if not archive.is_file():
        raise FileNotFoundError(f"{archive} not found (python scripts/get_archive.py fetches it)")
    work = Path(workdir or tempfile.mkdtemp(prefix="bench-update-"))
    work.mkdir(parents=True, exist_ok=True)
    real = Settings().load_embedder()  # the product's backend, as `archive-qa update` uses
    warm = ["warm-up: the first calls pay for lazy initialisation " * 20] * 8
    real.encode(warm)
    real.encode(warm, threads=1)  # updates embed their few chunks on one thread
    stand_in = StandInEmbedder(real.name, real.dim, real.max_seq_length)
    originals = _real_articles(archive)
    counts = [len(chunk_article(a, ChunkSettings())) for a in originals]
    options = BuildOptions(progress=progress)
    load = os.getloadavg()
    out: dict = {
        "what": f"update = change 1 article ({change}) + remove 1 article, real model (warm), delta path; "
        "old = the same change rewriting the whole archive (compact=True)",
        "base": "real NewsArticles text repeated with unique ids (+ a copy marker line); "
        "stand-in random vectors",
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load]},
        "repeats": repeats,
        "sizes": {},
    }
    try:
        for size in sorted({*sizes, chunks}):
            root = work / f"idx-{size}"
            shutil.rmtree(root, ignore_errors=True)
            articles = _replicate(originals, counts, size)
            src = work / f"base-{size}"
            shutil.rmtree(src, ignore_errors=True)
            src.mkdir()
            for i in range(0, len(articles), 5000):  # files stay under the 64 MB input limit
                _write_jsonl(articles[i : i + 5000], src / f"part-{i // 5000:03d}.jsonl")
            t = time.perf_counter()
            base = build_index([src], root, stand_in, options)
            entry: dict = {
                "base_chunks": base.chunks,
                "base_articles": base.articles,
                "base_build_seconds": round(time.perf_counter() - t, 1),
                "base_bytes": _dir_bytes(base.build),
                "runs": [],
            }
            # The default compact_fraction (10 %) keeps every repeat on the delta path.
            delta_opts = replace(options, progress=False)
            for i in range(repeats + (1 if compare else 0)):
                victim = articles[(2 * i + 1) * len(articles) // (2 * repeats + 3)]
                edited = articles[(2 * i + 2) * len(articles) // (2 * repeats + 3)]
                changed = Article(
                    **{**edited.__dict__, "text": _edit(edited.text, change, i), "content_hash": ""}
                )
                change_file = _write_jsonl([changed], work / f"change-{size}-{i}.jsonl")
                old_path = compare and i == repeats
                opts = replace(delta_opts, compact=old_path)
                t = time.perf_counter()
                r = update_index(root, real, add=[change_file], remove=[victim.id], options=opts)
                wall = time.perf_counter() - t
                assert (r.changed_articles, r.removed_articles) == (1, 1), r
                run_info = {
                    "seconds": round(wall, 3),
                    **{k: round(v, 3) for k, v in r.timings.items()},
                    "embedded_chunks": r.embedded_chunks,
                    "compacted": r.compacted,
                }
                if old_path:
                    entry["old_path"] = run_info
                else:
                    entry["runs"].append(run_info)
                    entry["delta_bytes"] = _dir_bytes(r.build / "delta")
            med = {
                k: round(statistics.median(r[k] for r in entry["runs"]), 3)
                for k in ("seconds", "read", "embed", "write", "publish")
            }
            entry["update"] = med
            if "old_path" in entry:
                entry["old_over_new"] = round(entry["old_path"]["seconds"] / med["seconds"], 1)
            out["sizes"][size] = entry
            if not keep:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if not keep and workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    out["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    _print(out)
    return out


def _print(out: dict) -> None:
    print(f"\nIncremental update: {out['what']}\nbase: {out['base']}")
    print(f"machine: {out['machine']}; median of {out['repeats']} updates\n")
    head = f"{'chunks':>8} {'update s':>9} {'read':>6} {'embed':>6} {'write':>6} {'publish':>7} {'old s':>7} {'old/new':>7}"
    print(head)
    for e in out["sizes"].values():
        u, old = e["update"], e.get("old_path", {})
        print(
            f"{e['base_chunks']:>8,} {u['seconds']:>9.3f} {u['read']:>6.3f} {u['embed']:>6.3f} "
            f"{u['write']:>6.3f} {u['publish']:>7.3f} {old.get('seconds', float('nan')):>7.2f} "
            f"{e.get('old_over_new', float('nan')):>7.1f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="largest base size")
    parser.add_argument(
        "--sizes", default="10000,50000", help="smaller base sizes, comma-separated ('' for none)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--change",
        choices=("append", "rewrite"),
        default="append",
        help="append a correction paragraph (default) or touch every sentence",
    )
    parser.add_argument("--no-compare", action="store_true", help="skip the old rewrite path")
    parser.add_argument("--archive", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the indexes")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    out = run(
        args.chunks,
        sizes,
        args.repeats,
        not args.no_compare,
        args.change,
        args.archive,
        args.workdir,
        args.keep,
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
