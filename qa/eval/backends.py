"""The Milvus backend beside the FAISS + bm25s default on MultiHop-RAG, in one run.

Both search the same chunks with the same vectors (the Milvus build is copied from the
FAISS one, not embedded again), the same queries and the default search settings, so
the rows differ only by the engine: Milvus's BM25 and its unweighted RRF against bm25s
and the weighted fusion. Latency is the search alone (query vectors are computed, and
cached, before the clock starts), one query at a time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from index import layout
from index.archive import ArchiveIndex
from index.builder import BuildOptions
from index.chunker import ChunkSettings
from index.embedder import Embedder
from index.manifest import read_manifest
from index.milvus_store import MilvusTarget, live_collection, publish_from_index, read_meta
from qa.bench.common import MULTIHOP_FIELDS, percentiles
from qa.eval.metrics import mean_scores, score_query
from qa.eval.retrieval import ensure_index, load_multihop_queries
from qa.retrieval.retriever import HybridSearcher, SearchParams


def ensure_milvus_copy(
    faiss_root: Path, target: MilvusTarget, embedder: Embedder, rebuild: bool = False
) -> str:
    """The Milvus build holding exactly the FAISS build's corpus (copied when it does not)."""
    want = read_manifest(layout.current_build(faiss_root)).corpus_hash
    client = target.client()
    try:
        live = live_collection(client, target.alias)
        same = live is not None and read_meta(client, live)["manifest"]["corpus_hash"] == want
    finally:
        client.close()
    if rebuild or not same:
        manifest = read_manifest(layout.current_build(faiss_root))
        options = BuildOptions(chunking=ChunkSettings(**manifest.chunking), progress=False)
        return publish_from_index(faiss_root, target, embedder, options).build.name
    return live or ""


def compare_backends(
    embedder: Embedder,
    multihop: Path,
    faiss_root: Path,
    target: MilvusTarget,
    limit: int | None = None,
    articles: int | None = None,
    rebuild: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    chunking: ChunkSettings | None = None,
) -> dict[str, Any]:
    """Hits@10 and friends plus search latency p50/p95 of both backends.

    `articles` indexes only the first N corpus articles and keeps the queries whose
    evidence all lies in them (a quicker run, as the bench does)."""
    from qa.retrieval.milvus import MilvusIndex, MilvusSearcher

    t0 = time.perf_counter()
    source = multihop / "corpus_train.json"
    queries = load_multihop_queries(multihop)
    if articles is not None:
        corpus = json.loads(source.read_text(encoding="utf-8"))[:articles]
        titles = {a["title"] for a in corpus}
        queries = [q for q in queries if all(e["title"] in titles for e in q["evidence_list"])]
        source = faiss_root.parent / f"multihop-first-{articles}.json"
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(json.dumps(corpus, ensure_ascii=False), encoding="utf-8")
    queries = queries[:limit]
    log(f"backends: FAISS index at {faiss_root}, Milvus {target.alias} at {target.uri} …")
    ensure_index(
        faiss_root, [source], embedder, MULTIHOP_FIELDS, rebuild=rebuild, chunking=chunking
    )
    collection = ensure_milvus_copy(faiss_root, target, embedder, rebuild)
    params = SearchParams()
    faiss_index = ArchiveIndex.open(faiss_root, embedder.name, embedder.dim)
    milvus_index = MilvusIndex.open(target, embedder.name, embedder.dim)
    rows = []
    tops: dict[str, list[str]] = {}
    try:
        searchers = {
            "faiss + bm25s": HybridSearcher(faiss_index, embedder, params),
            "milvus (hybrid_search, RRF)": MilvusSearcher(milvus_index, embedder, params),
        }
        for name, searcher in searchers.items():
            for q in queries:  # query vectors (and sub-query vectors) before the clock
                for sub in searcher.plan(q["query"]).subqueries:
                    searcher.embed_query(sub.text)
            seconds, scores, top = [], [], []
            for q in tqdm(queries, desc=name[:20], unit="q", disable=not progress, leave=False):
                t = time.perf_counter()
                result = searcher.search(q["query"], 10, decompose=True)
                seconds.append(time.perf_counter() - t)
                scores.append(
                    score_query(
                        [h.chunk.text for h in result.hits],
                        [e["fact"] for e in q["evidence_list"]],
                    )
                )
                top.append(result.hits[0].chunk.chunk_id if result.hits else "")
            tops[name] = top
            rows.append({"backend": name, **mean_scores(scores), **percentiles(seconds)})
            log(f"  {name}: Hits@10 {rows[-1]['Hits@10']:.3f}, p50 {rows[-1]['p50_ms']:.1f} ms")
        chunks = faiss_index.info().chunks
    finally:
        faiss_index.close()
        milvus_index.close()
    a, b = tops.values()
    return {
        "queries": len(queries),
        "articles": articles or "all",
        "chunks": chunks,
        "milvus": {"uri": target.uri, "collection": collection},
        "rows": rows,
        "hits10_gap": round(rows[1]["Hits@10"] - rows[0]["Hits@10"], 4),
        "same_top1": round(sum(x == y for x, y in zip(a, b)) / (len(a) or 1), 4),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def print_backends(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"MultiHop-RAG, {report['queries']} queries over {report['chunks']:,} chunks "
        f"({report['articles']} articles)"
    )
    for col in ("backend", "Hits@4", "Hits@10", "MRR@10", "p50 ms", "p95 ms"):
        table.add_column(col)
    for r in report["rows"]:
        table.add_row(
            r["backend"],
            f"{r['Hits@4']:.3f}",
            f"{r['Hits@10']:.3f}",
            f"{r['MRR@10']:.3f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
        )
    Console().print(table)
    print(
        f"Hits@10 gap (milvus - faiss): {report['hits10_gap']:+.3f}; same top-1: {report['same_top1']:.2f}"
    )
