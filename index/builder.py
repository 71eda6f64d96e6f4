"""Build or update an index: read → chunk → embed → store → publish atomically.

Everything is written into a temporary build folder; only a complete, fsynced build is
published (see `layout`). A full build writes a new base segment. `update=True` is the
sync mode: it reads every source, diffs content hashes against the index, and hands the
new, changed and vanished articles to `updater.apply_changes`, which writes them as a
delta segment over the unchanged base (see `segments`) and re-embeds only those.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from . import layout, vectors
from .annotate import annotate_chunked, annotation_info
from .bm25 import BM25Index
from .buildkit import (  # noqa: F401 - re-exported: the builder's public names
    REPORT,
    STORE,
    BuildOptions,
    BuildRecord,
    BuildResult,
    chunking_dict,
    embed_texts,
    finish_build,
    indexed_text,
    read_articles,
    software_version,
)
from .chunker import chunk_article
from .datecheck import date_notes
from .embedder import Embedder
from .errors import EmptyArchiveError
from .loaders import LoadReport
from .manifest import check_model, corpus_hash, read_manifest
from .quotes import quote_chunked, report_note, statements_info
from .segments import open_live_store
from .stories import sign_store
from .updater import ChangeSet, apply_changes


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
        notes += layout.clean_leftovers(root)
        report = LoadReport()
        articles = read_articles(sources, report, options)
        if not articles:
            reasons = "; ".join(f"{s.origin}: {s.reason}" for s in report.skipped[:5])
            raise EmptyArchiveError(
                "no readable articles in the sources; the index was left unchanged"
                + (f" ({reasons})" if reasons else "")
            )
        skipped = [{"origin": s.origin, "reason": s.reason} for s in report.skipped]
        previous = _previous_build(root, embedder, options, notes) if options.update else None
        if previous is not None:
            return apply_changes(
                root,
                previous,
                embedder,
                _diff(previous, articles),
                options,
                notes,
                skipped,
                t0,
                strict=False,
            )
        notes += date_notes(articles)
        return _full_build(root, articles, embedder, options, notes, skipped, t0)


def _diff(previous: Path, articles: list) -> ChangeSet:
    """Sync mode: new or changed articles, and indexed ones no longer in the sources."""
    live = open_live_store(previous, read_manifest(previous))
    try:
        old = live.article_hashes()
    finally:
        live.close()
    incoming = {a.id for a in articles}
    return ChangeSet(
        upserts=[a for a in articles if old.get(a.id) != a.content_hash],
        removals=sorted(set(old) - incoming),
    )


def publish_embedded(
    root: str | Path,
    chunked: list,
    vectors,
    embedder: Embedder,
    options: BuildOptions,
    notes: list[str],
    skipped: list[dict],
    t0: float,
    timings: dict[str, float] | None = None,
) -> BuildResult:
    """A full build from chunks embedded elsewhere (a distributed build): `chunked` is
    [(article, chunks)], `vectors` their vectors in that order; published like any build."""
    root = Path(root)
    with layout.build_lock(root):
        notes += layout.clean_leftovers(root)
        return _full_build(
            root,
            [a for a, _ in chunked],
            embedder,
            options,
            notes,
            skipped,
            t0,
            embedded=(chunked, vectors, dict(timings or {})),
        )


def _full_build(
    root: Path,
    articles: list,
    embedder: Embedder,
    options: BuildOptions,
    notes: list[str],
    skipped: list[dict],
    t0: float,
    embedded: tuple | None = None,
) -> BuildResult:
    """Write every article into a new base segment and publish it (`embedded`: the
    chunks, their vectors and the timings of a build that embedded them elsewhere)."""
    from .store import ChunkStore

    build_id = layout.new_build_id()
    temp = layout.make_temp_build(root, build_id)
    store_path = temp / STORE
    store = ChunkStore(store_path, readonly=False)
    timings: dict[str, float] = {"read": time.perf_counter() - t0}
    try:
        if embedded is not None:
            chunked, vecs, timings = embedded
            texts = [c.text for _, cs in chunked for c in cs]
        else:
            chunked = [(a, chunk_article(a, options.chunking)) for a in articles]
            texts = [
                indexed_text(a.title, c.text, options.index_titles) for a, cs in chunked for c in cs
            ]
        t_annotate = time.perf_counter()
        if options.annotate:
            chunked = annotate_chunked(chunked, options.progress)
        timings["annotate"] = time.perf_counter() - t_annotate
        t_quotes = time.perf_counter()
        if options.annotate:
            chunked, quoted = quote_chunked(chunked, options.chunking, options.progress)
            if report_note(quoted):
                notes.append(report_note(quoted))
        timings["statements"] = time.perf_counter() - t_quotes
        if embedded is not None:
            embed_seconds = timings.get("embed", 0.0)
        else:
            t_embed = time.perf_counter()
            vecs = embed_texts(embedder, texts, options)
            embed_seconds = timings["embed"] = time.perf_counter() - t_embed
        t_write = time.perf_counter()
        index_type = vectors.choose_index_type(len(texts), options.flat_limit)
        index = vectors.new_index(embedder.dim, index_type, training=vecs)
        vectors.add(index, vecs, store.add_articles(chunked, 0))
        t_stories = time.perf_counter()
        sign_store(store)  # one story across outlets: MinHash signatures (index.stories)
        timings["stories"] = time.perf_counter() - t_stories
        store.commit()
        n_articles, n_chunks = store.counts()
        hashes = store.article_hashes()
        rows, bm25_texts = [], []
        for row, title, text in store.iter_chunk_texts():
            rows.append(row)
            bm25_texts.append(indexed_text(title, text, options.index_titles))
        bm25_files = BM25Index.build(bm25_texts, rows).save(temp)
        store.conn.execute("VACUUM")
    finally:
        store.close()
    faiss_path = vectors.save(index, temp)
    timings["write"] = time.perf_counter() - t_write
    counts = {
        "articles": n_articles,
        "chunks": n_chunks,
        "skipped": len(skipped),
        "embedded_chunks": len(texts),
        "reused_chunks": 0,
        "new_articles": n_articles,
        "changed_articles": 0,
        "removed_articles": 0,
    }
    record = BuildRecord(
        build_id=build_id,
        embedder=embedder,
        index_titles=options.index_titles,
        chunking=chunking_dict(options.chunking),
        faiss={"type": str(index_type), "metric": "inner_product", "vectors": int(index.ntotal)},
        bm25_documents=len(bm25_texts),
        counts=counts,
        corpus_hash=corpus_hash(hashes),
        notes=notes,
        skipped=skipped,
        annotations=(annotation_info() | statements_info()) if options.annotate else {},
    )
    t_publish = time.perf_counter()
    final, manifest = finish_build(root, temp, record, t0, [faiss_path, store_path, *bm25_files])
    timings["publish"] = time.perf_counter() - t_publish
    return BuildResult(
        build=final,
        manifest=manifest,
        articles=n_articles,
        chunks=n_chunks,
        embedded_chunks=len(texts),
        reused_chunks=0,
        new_articles=n_articles,
        changed_articles=0,
        removed_articles=0,
        skipped=skipped,
        seconds=time.perf_counter() - t0,
        embed_seconds=embed_seconds,
        notes=notes,
        compacted=True,
        timings={k: round(v, 4) for k, v in timings.items()},
    )


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
    if (
        manifest.chunking != chunking_dict(options.chunking)
        or manifest.index_titles != options.index_titles
    ):
        notes.append("chunk settings changed since the last build: rebuilt from scratch")
        return None
    return previous
