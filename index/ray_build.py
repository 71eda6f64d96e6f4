"""A full build on a Ray cluster (`archive-qa build --engine ray [--ray-address ADDR]`).

Reading and parsing (a task per source file), chunking and embedding run as Ray Data
stages; embedding runs in an actor pool whose actors load the embedder once. The
driver keeps what must be decided in one place: the duplicate rules (first article
wins, over all files in order, as `iter_articles` does) and the publishing, which is
the local build's own (`builder.publish_embedded` into the index folder, or
`milvus_store.publish_build` into Milvus), so a Ray build is atomic like any other and
yields the same chunk ids and vectors.

The pool is one actor short of the cluster's CPUs (at least one actor): an actor pool
that takes every CPU can stall the read and chunk tasks (ray issue 44687).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .articles import Article
from .buildkit import BuildOptions, BuildResult, indexed_text
from .chunker import Chunk, ChunkSettings, chunk_article
from .embedder import Embedder
from .errors import ArchiveQAError, EmptyArchiveError
from .loaders import FieldMap, LoadLimits, LoadReport, _expand, _load_path, unique_articles


class RayEngineError(ArchiveQAError):
    """Ray is missing or its cluster cannot be reached."""


def _read_file(row: dict[str, Any], fields: FieldMap, limits: LoadLimits) -> list[dict]:
    """One source file's articles (and its skip notes) as rows, numbered in file order."""
    report = LoadReport()
    out: list[dict] = []
    for n, article in enumerate(_load_path(Path(row["path"]), report, fields, limits)):
        out.append({"file": row["file"], "n": n, "kind": "article", **asdict(article)})
    for n, s in enumerate(report.skipped):
        out.append(
            {
                "file": row["file"],
                "n": -1 - n,
                "kind": "skipped",
                "origin": s.origin,
                "reason": s.reason,
            }
        )
    return out


def _chunk_rows(article: dict[str, Any], chunking: ChunkSettings, index_titles: bool) -> list[dict]:
    a = Article(**{k: article[k] for k in Article.__dataclass_fields__})
    return [
        {**asdict(c), "seq": article["seq"], "indexed": indexed_text(a.title, c.text, index_titles)}
        for c in chunk_article(a, chunking)
    ]


class EmbedActor:
    """Loads the embedder once per actor; embeds a batch of chunk texts."""

    def __init__(self, model_path: str, backend: str, cache_dir: str | None, batch: int) -> None:
        from .embedder import load_embedder

        self.embedder = load_embedder(model_path, 1, backend, cache_dir)
        self.batch = batch

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["indexed"]]
        vecs = self.embedder.encode(texts, batch_size=self.batch, threads=1)
        return {"chunk_id": batch["chunk_id"], "vector": vecs}


def _init_ray(address: str | None):
    import os

    if not address or address.split(":")[0] in ("127.0.0.1", "localhost"):
        # On loopback Ray keeps 127.0.0.1 only in its one-machine mode; otherwise it swaps
        # in the machine's network address and cannot reach a loopback-only cluster.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as exc:
        raise RayEngineError(
            "--engine ray needs the scale extra: pip install 'archive-qa[scale]'"
        ) from exc
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"logging_level": "WARNING", "log_to_driver": False}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:  # a one-machine cluster, on loopback only
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **kwargs)
    except Exception as exc:
        raise RayEngineError(
            f"cannot start or reach the Ray cluster {address or ''}: {exc}"
        ) from exc
    return ray


def embed_on_ray(
    sources: Sequence[str | Path],
    embedder: Embedder,
    options: BuildOptions,
    address: str | None = None,
    actors: int | None = None,
    cache_dir: str | None = None,
) -> tuple[list[tuple[Article, list[Chunk]]], np.ndarray, list[dict], dict[str, Any]]:
    """Read, chunk and embed on Ray: ([(article, chunks)], vectors in that order, skipped,
    stats). `embedder` gives the model the actors load (path and backend)."""
    ray = _init_ray(address)
    from ray.data import ActorPoolStrategy, DataContext, from_items

    t0 = time.perf_counter()
    report = LoadReport()
    files = [str(p) for p in _expand(sources, report)]
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = options.progress
    fields, limits = options.fields, options.limits
    rows = (
        from_items([{"file": i, "path": p} for i, p in enumerate(files)])
        .flat_map(_read_file, fn_args=(fields, limits))
        .take_all()
    )
    rows.sort(key=lambda r: (r["file"], r["n"] < 0, abs(r["n"])))
    loaded = []
    for r in rows:
        if r["kind"] == "skipped":
            report.skip(r["origin"], r["reason"])
        else:
            loaded.append(Article(**{k: r[k] for k in Article.__dataclass_fields__}))
    articles = list(unique_articles(loaded, report, limits))
    skipped = [{"origin": s.origin, "reason": s.reason} for s in report.skipped]
    if not articles:
        reasons = "; ".join(f"{s['origin']}: {s['reason']}" for s in skipped[:5])
        raise EmptyArchiveError(
            "no readable articles in the sources; the index was left unchanged"
            + (f" ({reasons})" if reasons else "")
        )
    t_read = time.perf_counter() - t0
    cpus = int(ray.cluster_resources().get("CPU", 1))
    size = actors or max(1, cpus - 1)
    t1 = time.perf_counter()
    items = [{**asdict(a), "seq": i} for i, a in enumerate(articles)]
    embedded = (
        from_items(items)
        .flat_map(_chunk_rows, fn_args=(options.chunking, options.index_titles))
        .map_batches(
            EmbedActor,
            fn_constructor_args=(embedder.path, embedder.backend, cache_dir, options.batch_size),
            compute=ActorPoolStrategy(size=size),
            batch_size=max(options.batch_size, 64),
            num_cpus=1,
        )
    )
    by_id: dict[str, np.ndarray] = {}
    for batch in embedded.iter_batches(batch_size=1024, batch_format="numpy"):
        for cid, vec in zip(batch["chunk_id"], batch["vector"]):
            by_id[str(cid)] = np.asarray(vec, dtype="float32")
    t_embed = time.perf_counter() - t1
    # The chunk layout is the local build's (chunking is deterministic); the vectors are
    # the cluster's, matched by chunk id.
    chunked = [(a, chunk_article(a, options.chunking)) for a in articles]
    ids = [c.chunk_id for _, cs in chunked for c in cs]
    missing = [cid for cid in ids if cid not in by_id]
    if missing or len(by_id) != len(ids):
        raise RayEngineError(
            f"the Ray stages returned {len(by_id)} vectors for {len(ids)} chunks; nothing was published"
        )
    vectors = (
        np.stack([by_id[cid] for cid in ids]) if ids else np.zeros((0, embedder.dim), "float32")
    )
    stats = {
        "actors": size,
        "cluster_cpus": cpus,
        "files": len(files),
        "read_seconds": round(t_read, 3),
        "embed_seconds": round(t_embed, 3),
        "chunks": len(ids),
        "chunks_per_second": round(len(ids) / t_embed, 2) if t_embed else 0.0,
        "chunks_per_second_per_actor": round(len(ids) / t_embed / size, 2) if t_embed else 0.0,
    }
    return chunked, vectors, skipped, stats


def build_on_ray(
    sources: Sequence[str | Path],
    root: str | Path | None,
    embedder: Embedder,
    options: BuildOptions,
    address: str | None = None,
    actors: int | None = None,
    cache_dir: str | None = None,
    milvus=None,
) -> BuildResult:
    """A full build embedded on Ray, published into the index folder `root` or, given a
    `MilvusTarget`, into Milvus."""
    t0 = time.perf_counter()
    chunked, vectors, skipped, stats = embed_on_ray(
        sources, embedder, options, address, actors, cache_dir
    )
    notes = [
        f"embedded on Ray: {stats['actors']} actors on {stats['cluster_cpus']} CPUs, "
        f"{stats['chunks_per_second_per_actor']} chunks/s per actor"
    ]
    timings = {"read": stats["read_seconds"], "embed": stats["embed_seconds"]}
    if milvus is not None:
        from .milvus_store import publish_build

        result = publish_build(
            milvus, chunked, embedder, options, notes, skipped, t0, timings, vectors=vectors
        )
        result.embed_seconds = stats["embed_seconds"]
    else:
        from .builder import publish_embedded

        result = publish_embedded(
            Path(root), chunked, vectors, embedder, options, notes, skipped, t0, timings
        )
    result.timings["ray"] = stats  # type: ignore[assignment]
    return result
