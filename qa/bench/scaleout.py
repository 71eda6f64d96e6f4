"""Bench section `scale-out`: the Ray build against the local one on this machine, and
the Milvus backend beside FAISS + bm25s on MultiHop-RAG, each engine started here on
127.0.0.1 (a one-machine Ray cluster, a `milvus-lite server`) and stopped after.

On one box Ray can only add overhead (task scheduling, object store copies, one CPU kept
for the read and chunk tasks); what transfers to a cluster is the per-actor throughput,
which docs/scale.md multiplies out.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from index.builder import BuildOptions, build_index
from index.embedder import Embedder
from index.loaders import FieldMap
from qa.bench.common import NEWS_FIELDS, news_subset_csv
from qa.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def milvus_lite_server(data_dir: Path, timeout: float = 60) -> Iterator[str]:
    """A `milvus-lite server` on a free 127.0.0.1 port until the block ends; its uri."""
    port = _free_port()
    exe = Path(sys.executable).with_name("milvus-lite")
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "server.log", "w") as log:
        proc = subprocess.Popen(
            [
                str(exe),
                "server",
                "--data-dir",
                str(data_dir / "data"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("milvus-lite server did not start; see server.log")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def ray_vs_local(
    embedder: Embedder, news: Path, articles: int, batch: int, work: Path, log
) -> dict[str, Any]:
    """The same articles built locally and on a one-machine Ray cluster."""
    from index.ray_build import build_on_ray

    src = news_subset_csv(news, articles, work / "scale-news.csv")
    options = BuildOptions(fields=FieldMap.parse(NEWS_FIELDS), batch_size=batch, progress=False)
    log(f"scale-out: {articles} NewsArticles articles, local build …")
    local = build_index([src], work / "local", embedder, options)
    log("scale-out: the same on a one-machine Ray cluster …")
    t = time.perf_counter()
    distributed = build_on_ray([src], work / "ray", embedder, options)
    ray_seconds = time.perf_counter() - t
    stats = distributed.timings["ray"]
    import ray

    ray.shutdown()
    local_cps = local.embedded_chunks / local.embed_seconds if local.embed_seconds else 0.0
    return {
        "articles": articles,
        "chunks": local.chunks,
        "local": {
            "seconds": round(local.seconds, 2),
            "embed_seconds": round(local.embed_seconds, 2),
            "embed_chunks_per_second": round(local_cps, 1),
            "threads": os.cpu_count(),
        },
        "ray": {
            "seconds": round(ray_seconds, 2),
            "embed_seconds": stats["embed_seconds"],
            "embed_chunks_per_second": stats["chunks_per_second"],
            "actors": stats["actors"],
            "cluster_cpus": stats["cluster_cpus"],
            "chunks_per_second_per_actor": stats["chunks_per_second_per_actor"],
        },
        "ray_over_local_seconds": round(ray_seconds / local.seconds, 2) if local.seconds else None,
        "ray_over_local_throughput": round(stats["chunks_per_second"] / local_cps, 2)
        if local_cps
        else None,
    }


def run_scaleout(
    settings: Settings,
    embedder: Embedder,
    news: Path,
    multihop: Path,
    articles: int,
    mh_articles: int,
    questions: int,
    batch: int,
    work: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from index.milvus_store import MilvusTarget
    from qa.eval.backends import compare_backends

    out: dict[str, Any] = {"ray_build": ray_vs_local(embedder, news, articles, batch, work, log)}
    with milvus_lite_server(work / "milvus") as uri:
        log(f"scale-out: MultiHop-RAG on FAISS + bm25s and on milvus-lite at {uri} …")
        out["retrieval"] = compare_backends(
            embedder,
            multihop,
            work / "mh-faiss" / "index",
            MilvusTarget(uri, "bench_scaleout"),
            limit=questions,
            articles=mh_articles,
            progress=False,
            log=log,
            chunking=settings.chunk_settings(),
        )
    return out


def print_scaleout(console, s: dict[str, Any]) -> None:
    from rich.table import Table

    r = s["ray_build"]
    t = Table(title=f"Build on Ray vs local: {r['articles']} articles, {r['chunks']:,} chunks")
    for col in ("engine", "build s", "embed s", "chunks/s", "workers", "chunks/s per worker"):
        t.add_column(col, justify="right")
    lo, ra = r["local"], r["ray"]
    t.add_row(
        "local",
        f"{lo['seconds']:.1f}",
        f"{lo['embed_seconds']:.1f}",
        f"{lo['embed_chunks_per_second']:.1f}",
        f"1 process, {lo['threads']} threads",
        "",
    )
    t.add_row(
        "ray",
        f"{ra['seconds']:.1f}",
        f"{ra['embed_seconds']:.1f}",
        f"{ra['embed_chunks_per_second']:.1f}",
        f"{ra['actors']} actors / {ra['cluster_cpus']} CPUs",
        f"{ra['chunks_per_second_per_actor']:.1f}",
    )
    console.print(t)
    console.print(
        f"  ray ÷ local: {r['ray_over_local_seconds']}x the build time, "
        f"{r['ray_over_local_throughput']}x the embedding throughput"
    )
    m = s["retrieval"]
    t = Table(
        title=f"Backends on MultiHop-RAG: {m['queries']} queries, {m['chunks']:,} chunks "
        f"({m['articles']} articles)"
    )
    for col in ("backend", "Hits@10", "MRR@10", "p50 ms", "p95 ms"):
        t.add_column(col, justify="right")
    for row in m["rows"]:
        t.add_row(
            row["backend"],
            f"{row['Hits@10']:.3f}",
            f"{row['MRR@10']:.3f}",
            f"{row['p50_ms']:.1f}",
            f"{row['p95_ms']:.1f}",
        )
    console.print(t)
    console.print(
        f"  Hits@10 gap (milvus - faiss) {m['hits10_gap']:+.3f}; same top-1 {m['same_top1']}"
    )
