"""Build section: our `build_index` against two baselines on the same articles, same process.

- floor: raw `SentenceTransformer.encode` of exactly the chunk texts our build embeds,
  same batch size (the goal is our build ≥ 0.9× its chunks/s: ≤ 10% for reading,
  chunking, BM25, FAISS, SQLite and checksums). With the OpenVINO backend our build can
  beat the floor: that is the floor raised by a faster backend.
- LangChain's usual recipe: `RecursiveCharacterTextSplitter(1000, 200)` +
  `HuggingFaceEmbeddings` (the same local model folder) + `FAISS.from_documents` +
  `save_local`, on the same CSV (goal: ours takes ≤ its wall time).

Model loading is outside every timed block (each side loads its model first).
"""

from __future__ import annotations

import csv
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from index.builder import BuildOptions, build_index, indexed_text
from index.chunker import ChunkSettings, chunk_article
from index.embedder import Embedder, OpenVINOEmbedder, TorchEmbedder
from index.loaders import FieldMap, LoadLimits, LoadReport, iter_articles
from qa.bench.common import NEWS_FIELDS, PeakRSS, news_subset_csv, stopwatch


def chunk_texts(sources: list[Path], fields: FieldMap, index_titles: bool = True) -> list[str]:
    """Exactly the texts `build_index` embeds for these sources (default chunk settings)."""
    settings = ChunkSettings()
    return [
        indexed_text(a.title, c.text, index_titles)
        for a in iter_articles(sources, LoadReport(), fields, LoadLimits())
        for c in chunk_article(a, settings)
    ]


def floor_encode(embedder: TorchEmbedder, texts: list[str], batch_size: int) -> dict[str, Any]:
    """Raw sentence-transformers encode: the throughput no build on torch can beat."""
    embedder.model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up, untimed
    peak = PeakRSS()
    with peak.watch(), stopwatch() as t:
        embedder.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return _row("floor: SentenceTransformer.encode (torch)", len(texts), t["s"], peak)


def our_build(
    embedder: Embedder,
    sources: list[Path],
    fields: FieldMap,
    batch_size: int,
    workdir: Path,
    annotate: bool = True,
) -> dict[str, Any]:
    embedder.encode(["warm-up"] * 2)
    options = BuildOptions(fields=fields, batch_size=batch_size, progress=False, annotate=annotate)
    peak = PeakRSS()
    name = f"index-{embedder.backend}" + ("" if annotate else "-plain")
    with peak.watch():
        result = build_index(sources, workdir / name, embedder, options)
    label = f"archive-qa build ({embedder.backend})" + ("" if annotate else ", no entities")
    row = _row(label, result.embedded_chunks, result.seconds, peak)
    row["embed_s"] = round(result.embed_seconds, 2)
    row["annotate_s"] = round(result.timings.get("annotate", 0.0), 2)
    row["statements_s"] = round(result.timings.get("statements", 0.0), 2)
    row["stories_s"] = round(result.timings.get("stories", 0.0), 2)
    row["clusters_s"], row["clustered_articles"] = time_clusters(result.build)
    row["other_s"] = round(result.seconds - result.embed_seconds, 2)
    row["articles"] = result.articles
    row["faiss_type"] = str(result.manifest.faiss["type"])
    return row


def time_clusters(build: Path) -> tuple[float, int]:
    """Seconds to derive the near-duplicate clusters from a build's stored signatures (what
    opening an index adds, `index.stories.StoryClusters.from_store`), and how many
    articles they put in a cluster."""
    from index.buildkit import STORE
    from index.store import ChunkStore
    from index.stories import StoryClusters

    store = ChunkStore(build / STORE, readonly=True)
    try:
        with stopwatch() as t:
            clusters = StoryClusters.from_store(store)
    finally:
        store.close()
    return round(t["s"], 3), len(clusters.cluster_of)


def langchain_build(
    model_path: str, csv_path: Path, batch_size: int, workdir: Path
) -> dict[str, Any]:
    """What a user would write instead; its model load and imports are not timed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain-community's sunset notices
        from langchain_community.embeddings import HuggingFaceEmbeddings
        from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated for langchain-huggingface (see pyproject)
        embeddings = HuggingFaceEmbeddings(
            model_name=model_path,
            model_kwargs={"device": "cpu", "local_files_only": True},
            encode_kwargs={"batch_size": batch_size, "normalize_embeddings": True},
        )
    embeddings.embed_documents(["warm-up"] * 2)
    peak = PeakRSS()
    with peak.watch(), stopwatch() as t:
        with open(csv_path, encoding="utf-8", newline="") as fh:
            docs = [
                Document(
                    page_content=f"{r['title']}\n\n{r['text']}",
                    metadata={
                        "id": r["article_id"],
                        "title": r["title"],
                        "date": r["publish_date"],
                    },
                )
                for r in csv.DictReader(fh)
            ]
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        chunks = splitter.split_documents(docs)
        store = FAISS.from_documents(chunks, embeddings)
        store.save_local(str(workdir / "langchain-faiss"))
    row = _row(
        "LangChain: splitter(1000,200) + HuggingFaceEmbeddings + FAISS", len(chunks), t["s"], peak
    )
    row["articles"] = len(docs)
    return row


def run_build(
    torch_embedder: TorchEmbedder,
    ov_embedder: OpenVINOEmbedder | None,
    archive: Path,
    seed: Path | None,
    articles: int,
    batch_size: int,
    langchain: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """All build rows on the first `articles` NewsArticles (+ the seed article)."""
    fields = FieldMap.parse(NEWS_FIELDS)
    with tempfile.TemporaryDirectory(prefix="archive-qa-bench-") as tmp:
        work = Path(tmp)
        csv_path = news_subset_csv(archive, articles, work / "news-subset.csv")
        sources = [csv_path] + ([seed] if seed and seed.is_file() else [])
        texts = chunk_texts(sources, fields)
        log(f"build: {articles} articles → {len(texts)} chunks, batch size {batch_size}")
        rows = []
        # floor → our torch build → floor again: the ratio uses the mean of the two floor
        # passes, so a change of load during the run biases neither side.
        log("build: floor (raw SentenceTransformer.encode) …")
        floor_a = floor_encode(torch_embedder, texts, batch_size)
        log("build: archive-qa build on torch …")
        ours_torch = our_build(torch_embedder, sources, fields, batch_size, work)
        log("build: floor again …")
        floor_b = floor_encode(torch_embedder, texts, batch_size)
        floor = _mean_row(floor_a, floor_b)
        rows += [floor, ours_torch]
        ours_ov = plain = None
        if ov_embedder is not None:
            log("build: archive-qa build on openvino …")
            ours_ov = our_build(ov_embedder, sources, fields, batch_size, work)
            log("build: the same without entity annotation …")
            plain = our_build(ov_embedder, sources, fields, batch_size, work, annotate=False)
            rows += [ours_ov, plain]
        lc = None
        if langchain:
            log("build: LangChain recipe …")
            try:
                lc = langchain_build(torch_embedder.path, csv_path, batch_size, work)
                lc["note"] = "reads only the CSV (the seed article is not in it)"
                rows.append(lc)
            except ImportError as exc:
                log(f"build: LangChain baseline skipped ({exc}); pip install -e '.[bench]'")
    ratios: dict[str, float | None] = {
        "torch_build_vs_floor": _ratio(ours_torch["chunks_per_s"], floor["chunks_per_s"]),
        "openvino_build_vs_floor": None
        if ours_ov is None
        else _ratio(ours_ov["chunks_per_s"], floor["chunks_per_s"]),
    }
    if plain is not None and ours_ov is not None:
        ratios["annotated_seconds_vs_plain"] = _ratio(ours_ov["seconds"], plain["seconds"])
    shown = ours_ov or ours_torch
    ratios["stories_share_of_build"] = _ratio(shown["stories_s"], shown["seconds"])
    if lc is not None:
        best = ours_ov or ours_torch
        ratios["langchain_seconds_vs_ours"] = _ratio(lc["seconds"], best["seconds"])
        ratios["langchain_seconds_vs_ours_torch"] = _ratio(lc["seconds"], ours_torch["seconds"])
    return {
        "articles": articles,
        "chunks": len(texts),
        "stories": {
            "build": shown["name"],
            "sign_s": shown["stories_s"],
            "cluster_s": shown["clusters_s"],
            "build_s": shown["seconds"],
            "clustered_articles": shown["clustered_articles"],
        },
        "batch_size": batch_size,
        "rows": rows,
        "ratios": ratios,
    }


def _row(name: str, chunks: int, seconds: float, peak: PeakRSS) -> dict[str, Any]:
    return {
        "name": name,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "chunks_per_s": round(chunks / seconds, 2) if seconds else 0.0,
        "peak_rss_mb": peak.peak_mb,
        "rss_growth_mb": peak.growth_mb,
    }


def _mean_row(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    seconds = (a["seconds"] + b["seconds"]) / 2
    return {
        **a,
        "name": a["name"] + ", mean of 2 passes",
        "seconds": round(seconds, 2),
        "chunks_per_s": round(a["chunks"] / seconds, 2) if seconds else 0.0,
        "pass_seconds": [a["seconds"], b["seconds"]],
        "peak_rss_mb": max(a["peak_rss_mb"], b["peak_rss_mb"]),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None
