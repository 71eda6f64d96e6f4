"""Compaction: fold base, delta and a change set into one new base segment.

This is the whole-archive rewrite (copy the store, edit and rewrite the FAISS file,
rebuild BM25 over every chunk, hash every file), so it runs only when the delta has
grown past `compact_fraction` of the base, on request (`archive-qa update --compact`),
or once for an index built before delta segments existed. No vector is re-embedded: the
base's and the delta's vectors are carried over as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from . import vectors
from .annotate import annotate_store, annotation_info
from .articles import Article
from .bm25 import BM25Index
from .buildkit import STORE, BuildOptions, BuildRecord, indexed_text
from .chunker import Chunk, ChunkSettings
from .embedder import Embedder
from .manifest import FileEntry, Manifest, corpus_hash
from .quotes import quote_store, statements_info
from .segments import copy_sqlite, delta_dir
from .store import STATEMENT_COLUMNS, ChunkStore, sqlite_uri
from .stories import sign_store

if TYPE_CHECKING:
    from .updater import Plan


def compact(
    previous: Path,
    manifest: Manifest,
    temp: Path,
    chunked: list[tuple[Article, list[Chunk]]],
    vecs: np.ndarray,
    plan: Plan,
    embedder: Embedder,
    options: BuildOptions,
) -> tuple[BuildRecord, list[Path], dict[str, FileEntry]]:
    """Write a new single-segment build into `temp`; returns (record, files to hash, {})."""
    old_delta = delta_dir(previous, manifest)
    store_path = temp / STORE
    copy_sqlite(previous / STORE, store_path)
    store = ChunkStore(store_path, readonly=False)
    try:
        dead_ids = set(plan.base_drop)
        delta_rows: list[int] = []
        if old_delta is not None:
            store.conn.execute(
                "ATTACH DATABASE ? AS old", (sqlite_uri(old_delta / STORE, "mode=ro"),)
            )
            dead_ids |= {i for (i,) in store.conn.execute("SELECT id FROM old.dead_articles")}
        removed_rows = store.remove_articles(sorted(dead_ids))
        if old_delta is not None:
            drop = sorted(plan.delta_drop)
            # (no "NOT IN ()" trick: "NOT IN (NULL)" would silently keep nothing)
            not_dropped = f"WHERE {{col}} NOT IN ({','.join('?' * len(drop))})" if drop else ""
            c = store.conn
            c.execute(
                f"INSERT INTO articles SELECT * FROM old.articles {not_dropped.format(col='id')}",
                drop,
            )
            keep_chunks = f"FROM old.chunks {not_dropped.format(col='article_id')}"
            delta_rows = [r for (r,) in c.execute(f"SELECT row {keep_chunks}", drop)]
            old_columns = [r[1] for r in c.execute("PRAGMA old.table_info(chunks)")]
            cols = ", ".join(old_columns)  # a delta written before annotation has no `ents`
            c.execute(f"INSERT INTO chunks ({cols}) SELECT {cols} {keep_chunks}", drop)
            if c.execute(
                "SELECT 1 FROM old.sqlite_master WHERE type='table' AND name='statements'"
            ).fetchone():
                c.execute(
                    f"INSERT INTO statements ({STATEMENT_COLUMNS}) SELECT {STATEMENT_COLUMNS} "
                    f"FROM old.statements {not_dropped.format(col='article_id')}",
                    drop,
                )
            store.commit()
            c.execute("DETACH DATABASE old")
        new_rows = store.add_articles(chunked, plan.next_row)
        annotated_now = annotate_store(store, options.progress)
        quoted_now = None
        if "statements" not in manifest.annotations:  # written before statements existed
            quoted_now = quote_store(store, ChunkSettings(**manifest.chunking), options.progress)
        sign_store(store)  # story signatures of the articles that have none (index.stories)
        store.commit()

        index = vectors.load(previous)
        vectors.remove(index, removed_rows)
        if old_delta is not None and delta_rows:
            ids, vecs_old = _vectors_by_id(vectors.load(old_delta))
            keep = np.isin(ids, np.asarray(delta_rows, dtype="int64"))
            vectors.add(index, vecs_old[keep], ids[keep].tolist())
        vectors.add(index, vecs, new_rows)

        n_articles, n_chunks = store.counts()
        if index.ntotal != n_chunks:
            raise RuntimeError(f"compaction left {index.ntotal} vectors for {n_chunks} chunks")
        rows, texts = [], []
        for row, title, text in tqdm(
            store.iter_chunk_texts(),
            total=n_chunks,
            desc="Keyword index",
            unit="chunk",
            disable=not options.progress,
        ):
            rows.append(row)
            texts.append(indexed_text(title, text, manifest.index_titles))
        bm25_files = BM25Index.build(texts, rows).save(temp)
        hashes = store.article_hashes()
        store.conn.execute("VACUUM")
    finally:
        store.close()
    faiss_path = vectors.save(index, temp)
    index_type = str(manifest.faiss["type"])
    notes = []
    if annotated_now:
        notes.append(
            f"found the entities of {annotated_now:,} chunks indexed before annotation existed"
        )
    if quoted_now is not None:
        notes.append(f"found {quoted_now:,} statements in an index built before statements existed")
    if index_type == "Flat" and n_chunks > options.flat_limit:
        notes.append(
            f"{n_chunks:,} chunks is past the flat limit ({options.flat_limit:,}) but compaction "
            "keeps the index type; a full build switches to IVF"
        )
    record = BuildRecord(
        build_id="",
        embedder=embedder,
        index_titles=manifest.index_titles,
        chunking=manifest.chunking,
        faiss={"type": index_type, "metric": "inner_product", "vectors": int(index.ntotal)},
        bm25_documents=len(rows),
        counts={"articles": n_articles, "chunks": n_chunks},
        corpus_hash=corpus_hash(hashes),
        notes=notes,
        skipped=[],
        annotations=annotation_info() | statements_info(),
    )
    return record, [faiss_path, store_path, *bm25_files], {}


def _vectors_by_id(index) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of an IndexIDMap2 over a flat index (the delta's kind): exact copies."""
    import faiss

    ids = faiss.vector_to_array(index.id_map).astype("int64")
    flat = faiss.downcast_index(index.index)
    return ids, flat.reconstruct_n(0, index.ntotal)
