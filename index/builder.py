"""Build or update an index: read → chunk → embed → store → publish atomically.

Everything is written into a temporary build folder; only a complete, fsynced build is
published (see `layout`). `update=True` re-embeds only articles whose content hash is
new or changed and drops articles no longer in the sources, reusing every other vector.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tqdm import tqdm

from . import layout, vectors
from .articles import Article
from .bm25 import BM25Index
from .chunker import Chunk, ChunkSettings, chunk_article
from .embedder import Embedder
from .errors import EmptyArchiveError
from .loaders import FieldMap, LoadLimits, LoadReport, iter_articles
from .manifest import (
    Manifest,
    ModelInfo,
    check_model,
    corpus_hash,
    file_entry,
    read_manifest,
    write_manifest,
)
from .store import ChunkStore

STORE = "store.sqlite"
REPORT = "report.json"


@dataclass
class BuildOptions:
    fields: FieldMap = field(default_factory=FieldMap)
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    limits: LoadLimits = field(default_factory=LoadLimits)
    batch_size: int = 32
    index_titles: bool = True
    flat_limit: int = 200_000
    update: bool = False
    progress: bool = True


@dataclass
class BuildResult:
    build: Path
    manifest: Manifest
    articles: int
    chunks: int
    embedded_chunks: int
    reused_chunks: int
    new_articles: int
    changed_articles: int
    removed_articles: int
    skipped: list[dict]
    seconds: float
    embed_seconds: float
    notes: list[str]

    @property
    def chunks_per_second(self) -> float:
        return self.embedded_chunks / self.seconds if self.seconds else 0.0

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(_reason_kind(s["reason"]) for s in self.skipped).most_common())


def software_version() -> str:
    try:
        return version("archive-qa")
    except PackageNotFoundError:
        return "0+unknown"


def indexed_text(title: str, chunk_text: str, index_titles: bool) -> str:
    """What the model and BM25 see for a chunk: the headline gives a passage its context."""
    return f"{title}\n\n{chunk_text}" if index_titles and title else chunk_text


def build_index(
    sources: Sequence[str | Path],
    root: str | Path,
    embedder: Embedder,
    options: BuildOptions | None = None,
) -> BuildResult:
    """Build (or with `options.update`, update) the index at `root` from `sources`."""
    options = options or BuildOptions()
    root = Path(root)
    t0 = time.perf_counter()
    notes: list[str] = []
    with layout.build_lock(root):
        for stale in layout.remove_stale_temps(root):
            notes.append(f"removed the leftovers of an interrupted build: {stale.name}")
        report = LoadReport()
        articles = _read(sources, report, options)
        if not articles:
            reasons = "; ".join(f"{s.origin}: {s.reason}" for s in report.skipped[:5])
            raise EmptyArchiveError(
                "no readable articles in the sources; the index was left unchanged"
                + (f" ({reasons})" if reasons else "")
            )

        previous = _previous_build(root, embedder, options, notes) if options.update else None
        build_id = layout.new_build_id()
        temp = layout.make_temp_build(root, build_id)
        store_path = temp / STORE
        if previous is not None:
            _copy_sqlite(previous / STORE, store_path)
        store = ChunkStore(store_path, readonly=False)
        try:
            old_hashes = store.article_hashes()
            incoming = {a.id: a for a in articles}
            unchanged = {
                aid
                for aid, h in old_hashes.items()
                if aid in incoming and incoming[aid].content_hash == h
            }
            changed = {aid for aid in old_hashes if aid in incoming and aid not in unchanged}
            removed = set(old_hashes) - set(incoming)
            todo = [a for a in articles if a.id not in unchanged]

            chunked: list[tuple[Article, list[Chunk]]] = [
                (a, chunk_article(a, options.chunking)) for a in todo
            ]
            texts = [
                indexed_text(a.title, c.text, options.index_titles) for a, cs in chunked for c in cs
            ]

            if previous is not None:
                index = vectors.load(previous)
                index_type = read_manifest(previous).faiss["type"]
                vectors.remove(index, store.remove_articles(changed | removed))
            else:
                index_type = None
                index = None

            t_embed = time.perf_counter()
            with tqdm(
                total=len(texts),
                desc="Embedding",
                unit="chunk",
                disable=not options.progress,
                smoothing=0.1,
            ) as bar:
                vecs = embedder.encode(texts, batch_size=options.batch_size, progress=bar.update)
            embed_seconds = time.perf_counter() - t_embed

            if index is None:
                index_type = vectors.choose_index_type(len(texts), options.flat_limit)
                index = vectors.new_index(embedder.dim, str(index_type), training=vecs)
            next_row = store.max_row() + 1
            offset = 0
            for article, chunks in chunked:
                rows = store.add(article, chunks, next_row)
                vectors.add(index, vecs[offset : offset + len(chunks)], rows)
                offset += len(chunks)
                next_row += len(chunks)
            store.commit()
            n_articles, n_chunks = store.counts()
            all_hashes = store.article_hashes()

            rows, bm25_texts = [], []
            for row, title, text in store.iter_chunk_texts():
                rows.append(row)
                bm25_texts.append(indexed_text(title, text, options.index_titles))
            bm25_files = BM25Index.build(bm25_texts, rows).save(temp)
            store.conn.execute("VACUUM")
        finally:
            store.close()

        vectors.save(index, temp)
        skipped = [{"origin": s.origin, "reason": s.reason} for s in report.skipped]
        seconds = time.perf_counter() - t0
        result_counts = {
            "articles": n_articles,
            "chunks": n_chunks,
            "skipped": len(skipped),
            "embedded_chunks": len(texts),
            "reused_chunks": n_chunks - len(texts),
            "new_articles": len(todo) - len(changed),
            "changed_articles": len(changed),
            "removed_articles": len(removed),
        }
        (temp / REPORT).write_text(
            json.dumps(
                {"counts": result_counts, "notes": notes, "skipped": skipped},
                indent=2,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        files = [temp / vectors.VECTORS, store_path, temp / REPORT, *bm25_files]
        manifest = Manifest(
            software_version=software_version(),
            build_id=build_id,
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            build_seconds=round(seconds, 3),
            model=ModelInfo(
                name=embedder.name,
                dim=embedder.dim,
                max_seq_length=embedder.max_seq_length,
                backend=embedder.backend,
            ),
            index_titles=options.index_titles,
            chunking={
                "min_words": options.chunking.min_words,
                "target_words": options.chunking.target_words,
                "max_words": options.chunking.max_words,
            },
            faiss={
                "type": str(index_type),
                "metric": "inner_product",
                "vectors": int(index.ntotal),
            },
            bm25={"library": "bm25s", "k1": 1.2, "b": 0.75, "documents": len(rows)},
            counts=result_counts,
            corpus_hash=corpus_hash(all_hashes),
            files={str(p.relative_to(temp)): file_entry(p) for p in files},
        )
        write_manifest(temp, manifest)
        final = layout.publish(root, temp)
    return BuildResult(
        build=final,
        manifest=manifest,
        articles=n_articles,
        chunks=n_chunks,
        embedded_chunks=len(texts),
        reused_chunks=n_chunks - len(texts),
        new_articles=len(todo) - len(changed),
        changed_articles=len(changed),
        removed_articles=len(removed),
        skipped=skipped,
        seconds=seconds,
        embed_seconds=embed_seconds,
        notes=notes,
    )


def _read(
    sources: Sequence[str | Path], report: LoadReport, options: BuildOptions
) -> list[Article]:
    articles = []
    with tqdm(desc="Reading", unit="article", disable=not options.progress) as bar:
        for article in iter_articles(sources, report, options.fields, options.limits):
            articles.append(article)
            bar.update(1)
    return articles


def _previous_build(
    root: Path, embedder: Embedder, options: BuildOptions, notes: list[str]
) -> Path | None:
    """The live build to update from, or None (with a note) when a full build is needed."""
    if not layout.has_index(root):
        notes.append("no existing index to update: built from scratch")
        return None
    previous = layout.current_build(root)
    manifest = read_manifest(previous)
    check_model(manifest, embedder.name, embedder.dim)
    wanted = {
        "min_words": options.chunking.min_words,
        "target_words": options.chunking.target_words,
        "max_words": options.chunking.max_words,
    }
    if manifest.chunking != wanted or manifest.index_titles != options.index_titles:
        notes.append("chunk settings changed since the last build: rebuilt from scratch")
        return None
    return previous


def _copy_sqlite(src: Path, dst: Path) -> None:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0].split(":")[0].split(" of article")[0].split(" id ")[0]
