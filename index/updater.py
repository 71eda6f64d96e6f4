"""Incremental update: apply a change set to the live build as a delta segment.

The cost follows the size of the change, not of the archive: the base segment's files
are hard-linked (not copied, not re-hashed), only the changed articles are chunked and
embedded, and only the delta (store, vectors, keyword postings, tombstones) is written.
Every guarantee of a full build holds: the new build is written in a temporary folder
and published atomically, so a crash at any moment leaves the previous build live,
complete and verifiable. When the delta outgrows `compact_fraction` of the base (or on
request) the change is applied by `compactor` instead, which writes a new base.

Two ways in: `update_index` reads only the files it is given and removes articles by
id ("these articles changed, these are gone"); `builder.build_index(update=True)` reads
all sources and diffs them against the index ("sync the index to this folder"). Both end
in `apply_changes`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import compactor, layout, vectors
from .annotate import annotate_chunked
from .articles import Article
from .bm25 import BM25Index
from .bm25_delta import DeltaBM25
from .buildkit import (
    STORE,
    BuildOptions,
    BuildRecord,
    BuildResult,
    chunking_dict,
    embed_texts,
    finish_build,
    indexed_text,
    read_articles,
)
from .chunker import Chunk, ChunkSettings, chunk_article
from .datecheck import date_notes
from .embedder import Embedder
from .errors import ArticleNotFoundError, EmptyArchiveError, IndexOutdatedError
from .loaders import LoadReport
from .manifest import Manifest, Segments, check_model, corpus_hash_update, read_manifest
from .quotes import quote_chunked, report_note
from .segments import DELTA, copy_sqlite, delta_dir, link_base, open_live_store
from .store import ChunkStore
from .stories import sign_store


@dataclass
class ChangeSet:
    """Articles to add or replace (matched by id), and ids (or urls) of articles to drop."""

    upserts: list[Article] = field(default_factory=list)
    removals: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """What a change set does to the live build, worked out before anything is written."""

    new: list[Article]
    changed: list[Article]
    unchanged: int
    removed: list[str]  # article ids
    delta_drop: set[str]  # ids whose current copy is in the delta (rewritten without them)
    base_drop: set[str]  # ids whose current copy is in the base (tombstoned)
    base_dead_rows: list[int]
    base_dead_texts: list[str]  # as indexed (headline + chunk), for the delta's BM25 statistics
    old_chunks: dict[str, tuple[str, int]]  # changed articles' old chunk text → (segment, row)
    old_hashes: dict[str, str]  # content hashes of the articles dropped or replaced
    delta_drop_chunks: int
    next_row: int

    @property
    def todo(self) -> list[Article]:
        return self.new + self.changed

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.removed)


def update_index(
    root: str | Path,
    embedder: Embedder,
    add: Sequence[str | Path] = (),
    remove: Sequence[str] = (),
    options: BuildOptions | None = None,
) -> BuildResult:
    """Add or replace the articles in the files `add`, and drop the articles `remove`
    names (ids or urls); nothing else is read, so the cost follows the change."""
    options = options or BuildOptions()
    root = Path(root)
    t0 = time.perf_counter()
    notes: list[str] = []
    # An update needs an index: say so before the lock creates a folder for it.
    layout.current_build(root)
    with layout.build_lock(root):
        notes += layout.clean_leftovers(root)
        previous = layout.current_build(root)
        report = LoadReport()
        articles = read_articles(add, report, options) if add else []
        if add and not articles and not remove:
            reasons = "; ".join(f"{s.origin}: {s.reason}" for s in report.skipped[:5])
            raise EmptyArchiveError(
                "no readable articles in the files given; the index was left unchanged"
                + (f" ({reasons})" if reasons else "")
            )
        skipped = [{"origin": s.origin, "reason": s.reason} for s in report.skipped]
        return apply_changes(
            root,
            previous,
            embedder,
            ChangeSet(articles, list(remove)),
            options,
            notes,
            skipped,
            t0,
            strict=True,
        )


def apply_changes(
    root: Path,
    previous: Path,
    embedder: Embedder,
    changes: ChangeSet,
    options: BuildOptions,
    notes: list[str],
    skipped: list[dict],
    t0: float,
    strict: bool,
) -> BuildResult:
    """Publish a build = `previous` with `changes` applied (call with the build lock held).

    `strict`: a removal naming no indexed article is an error (an operator's typo must
    not pass silently); the sync mode only removes ids it found in the index.
    """
    timings: dict[str, float] = {}
    manifest = read_manifest(previous)
    check_model(manifest, embedder.name, embedder.dim)
    settings = ChunkSettings(**manifest.chunking)
    if manifest.chunking != chunking_dict(options.chunking) or (
        manifest.index_titles != options.index_titles
    ):
        notes.append(
            "the configured chunk settings differ from the index's; the update used the "
            "index's (run a full build to change them)"
        )
    plan = _plan(previous, manifest, changes, strict)
    timings["read"] = time.perf_counter() - t0

    if plan.empty and not options.compact:
        notes.append("nothing changed; the index was left as it is")
        return _result(previous, manifest, plan, 0, skipped, t0, 0.0, notes, False, timings)

    if not manifest.annotations and not (options.compact or not BM25Index.has_stats(previous)):
        raise IndexOutdatedError(
            f"the index at {root} was built before entity annotation existed, and a delta "
            "cannot be added to it: run `archive-qa update --compact` once (it annotates the "
            "whole archive) or rebuild it with `archive-qa build`"
        )
    notes += date_notes(plan.todo)
    chunked = [(a, chunk_article(a, settings)) for a in plan.todo]
    texts = [indexed_text(a.title, c.text, manifest.index_titles) for a, cs in chunked for c in cs]
    t_annotate = time.perf_counter()
    chunked = annotate_chunked(chunked, options.progress)
    timings["annotate"] = time.perf_counter() - t_annotate
    t_quotes = time.perf_counter()
    chunked, quoted = quote_chunked(chunked, settings, options.progress)
    timings["statements"] = time.perf_counter() - t_quotes
    if report_note(quoted):
        notes.append(report_note(quoted))
    t_embed = time.perf_counter()
    vecs, reused = _embed_changed(previous, manifest, texts, plan, embedder, options)
    embed_seconds = timings["embed"] = time.perf_counter() - t_embed
    if reused:
        notes.append(f"{reused:,} unchanged chunks of changed articles kept their vectors")

    seg = manifest.segments
    base_chunks = seg.base_chunks if seg else int(manifest.faiss["vectors"])
    delta_after = (seg.delta_chunks if seg else 0) - plan.delta_drop_chunks + len(texts)
    dead_after = (seg.dead_rows if seg else 0) + len(plan.base_dead_rows)
    has_stats = BM25Index.has_stats(previous)
    compact = options.compact or not has_stats
    if options.compact:
        notes.append("compacted on request: base and delta rewritten as one new base")
    elif not has_stats:
        notes.append(
            "the index predates delta segments: rewritten once as a new base (later updates are incremental)"
        )
    elif delta_after + dead_after > options.compact_fraction * base_chunks:
        compact = True
        notes.append(
            f"compacted: the delta would hold {delta_after + dead_after:,} changed or removed chunks, "
            f"more than {options.compact_fraction:.0%} of the base's {base_chunks:,}; "
            "base and delta were rewritten as one new base"
        )

    t_write = time.perf_counter()
    build_id = layout.new_build_id()
    temp = layout.make_temp_build(root, build_id)
    try:
        if compact:
            record, new_files, known = compactor.compact(
                previous, manifest, temp, chunked, vecs, plan, embedder, options
            )
        else:
            record, new_files, known = _write_delta(
                previous, manifest, temp, chunked, vecs, texts, plan, embedder
            )
        record.build_id = build_id
        notes.extend(record.notes)
        record.notes = notes
        record.skipped = skipped
        embedded = len(texts) - reused
        record.counts.update(_change_counts(plan, embedded, skipped))
        record.counts["reused_chunks"] = record.counts["chunks"] - embedded
        timings["write"] = time.perf_counter() - t_write
        t_publish = time.perf_counter()
        final, new_manifest = finish_build(root, temp, record, t0, new_files, known)
        timings["publish"] = time.perf_counter() - t_publish
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)  # a kill skips this; the next build cleans up
        raise
    return _result(
        final, new_manifest, plan, embedded, skipped, t0, embed_seconds, notes, compact, timings
    )


def _embed_changed(
    previous: Path,
    manifest: Manifest,
    texts: list[str],
    plan: Plan,
    embedder: Embedder,
    options: BuildOptions,
) -> tuple[np.ndarray, int]:
    """Vectors for `texts`: a chunk whose text a changed article already had keeps its old
    vector (a corrected paragraph re-embeds that paragraph, not the article), when that
    vector is exact (the delta, or a Flat base read by memory map); the rest are embedded."""
    old = {}
    for i, text in enumerate(texts):
        ref = plan.old_chunks.get(text)
        if ref is not None and (ref[0] == "delta" or manifest.faiss["type"] == "Flat"):
            old[i] = ref
    todo = [i for i in range(len(texts)) if i not in old]
    vecs = np.zeros((len(texts), embedder.dim), dtype="float32")
    if todo:
        vecs[todo] = embed_texts(embedder, [texts[i] for i in todo], options)
    if old:
        sources = {"main": vectors.load(previous, lookup=True)}
        if any(seg == "delta" for seg, _ in old.values()):
            sources["delta"] = vectors.load(delta_dir(previous, manifest), lookup=True)
        for i, (seg, row) in old.items():
            vecs[i] = sources[seg].reconstruct(int(row))
    return vecs, len(old)


def _plan(previous: Path, manifest: Manifest, changes: ChangeSet, strict: bool) -> Plan:
    """Sort the change set against the live build: one indexed lookup per article."""
    live = open_live_store(previous, manifest)
    try:
        new, changed, unchanged = [], [], 0
        old_hashes: dict[str, str] = {}
        seen: dict[str, Article] = {}
        for a in changes.upserts:
            seen[a.id] = a  # the last copy of an id wins
        for a in seen.values():
            old = live.article_hash(a.id)
            if old is None:
                new.append(a)
            elif old == a.content_hash:
                unchanged += 1
            else:
                changed.append(a)
                old_hashes[a.id] = old
        removed: list[str] = []
        missing: list[str] = []
        for key in dict.fromkeys(changes.removals):
            ids = live.find_article_ids(key)
            (removed.extend(ids) if ids else missing.append(key))
        removed = list(dict.fromkeys(removed))
        old_hashes.update({aid: live.article_hash(aid) or "" for aid in removed})
        if missing and strict:
            raise ArticleNotFoundError(
                f"no article with id or url {', '.join(map(repr, missing[:5]))} in the index; "
                "nothing was changed (`archive-qa search --json` shows article ids)"
            )
        both = set(removed) & set(seen)
        if both:
            raise ValueError(
                f"article {sorted(both)[0]!r} is both given to add and to remove; nothing was changed"
            )
        drop = {a.id for a in changed} | set(removed)
        delta_drop = {aid for aid in drop if live.segment_of(aid) == "delta"}
        base_drop = drop - delta_drop
        titles = manifest.index_titles
        dead = live.segment_chunk_texts(sorted(base_drop), "main")
        base_dead_rows = [row for row, _, _ in dead]
        base_dead_texts = [indexed_text(t, c, titles) for _, t, c in dead]
        changed_ids = {a.id for a in changed}
        old_chunks = {
            indexed_text(t, c, titles): (segment, row)
            for segment, ids in (("main", base_drop), ("delta", delta_drop))
            for row, t, c in live.segment_chunk_texts(sorted(ids & changed_ids), segment)
        }
        delta_drop_chunks = live.delta_chunk_count(sorted(delta_drop))
        seg = manifest.segments
        next_row = seg.next_row if seg else live.max_row() + 1
    finally:
        live.close()
    return Plan(
        new,
        changed,
        unchanged,
        removed,
        delta_drop,
        base_drop,
        base_dead_rows,
        base_dead_texts,
        old_chunks,
        old_hashes,
        delta_drop_chunks,
        next_row,
    )


def _write_delta(
    previous: Path,
    manifest: Manifest,
    temp: Path,
    chunked: list[tuple[Article, list[Chunk]]],
    vecs,
    texts: list[str],
    plan: Plan,
    embedder: Embedder,
):
    """Link the base, write the merged delta segment; returns (record, files to hash, known)."""
    known, copied = link_base(previous, temp, manifest)
    notes = (
        ["hard links are not possible here: the base files were copied (slower)"] if copied else []
    )
    old_delta = delta_dir(previous, manifest)
    folder = temp / DELTA
    folder.mkdir()
    if old_delta is not None:
        copy_sqlite(old_delta / STORE, folder / STORE)
    store = ChunkStore(folder / STORE, readonly=False, delta_schema=True)
    try:
        dropped = store.remove_articles(sorted(plan.delta_drop))
        store.mark_dead(sorted(plan.base_drop), plan.base_dead_rows)
        rows = store.add_articles(chunked, plan.next_row)
        sign_store(store)  # the new articles' story signatures (index.stories)
        store.commit()
        delta_articles, delta_chunks = store.counts()
        (dead_articles,) = store.conn.execute("SELECT count(*) FROM dead_articles").fetchone()
        (dead_rows,) = store.conn.execute("SELECT count(*) FROM dead_rows").fetchone()
        store.conn.execute("VACUUM")
    finally:
        store.close()

    index = vectors.load(old_delta) if old_delta else vectors.new_index(embedder.dim, "Flat")
    vectors.remove(index, dropped)
    vectors.add(index, vecs, rows)
    vectors.save(index, folder)
    old_bm25 = DeltaBM25.load(old_delta) if old_delta else DeltaBM25.empty()
    bm25 = old_bm25.merged(dropped, texts, rows, plan.base_dead_texts)
    bm25_files = bm25.save(folder)

    seg = manifest.segments
    base_articles = seg.base_articles if seg else manifest.counts["articles"]
    base_chunks = seg.base_chunks if seg else int(manifest.faiss["vectors"])
    segments = Segments(
        base_build=seg.base_build if seg else manifest.build_id,
        base_articles=base_articles,
        base_chunks=base_chunks,
        delta_articles=delta_articles,
        delta_chunks=delta_chunks,
        dead_articles=dead_articles,
        dead_rows=dead_rows,
        next_row=plan.next_row + len(rows),
    )
    if index.ntotal != delta_chunks:
        raise RuntimeError(f"delta has {index.ntotal} vectors for {delta_chunks} chunks")
    record = BuildRecord(
        build_id="",
        embedder=embedder,
        index_titles=manifest.index_titles,
        chunking=manifest.chunking,
        faiss=dict(manifest.faiss),
        bm25_documents=int(manifest.bm25.get("documents", base_chunks)),
        counts={
            "articles": base_articles - dead_articles + delta_articles,
            "chunks": base_chunks - dead_rows + delta_chunks,
        },
        corpus_hash=corpus_hash_update(
            manifest.corpus_hash, plan.old_hashes, {a.id: a.content_hash for a in plan.todo}
        ),
        notes=notes,
        skipped=[],
        segments=segments,
        annotations=dict(manifest.annotations),
    )
    return record, [folder / STORE, folder / vectors.VECTORS, *bm25_files], known


def _change_counts(plan: Plan, embedded: int, skipped: list[dict]) -> dict[str, int]:
    return {
        "skipped": len(skipped),
        "embedded_chunks": embedded,
        "new_articles": len(plan.new),
        "changed_articles": len(plan.changed),
        "removed_articles": len(plan.removed),
    }


def _result(
    build: Path,
    manifest: Manifest,
    plan: Plan,
    embedded: int,
    skipped: list[dict],
    t0: float,
    embed_seconds: float,
    notes: list[str],
    compacted: bool,
    timings: dict[str, float],
) -> BuildResult:
    published = embedded > 0 or not plan.empty or compacted
    return BuildResult(
        build=build,
        manifest=manifest,
        articles=manifest.counts["articles"],
        chunks=manifest.counts["chunks"],
        embedded_chunks=embedded,
        reused_chunks=manifest.counts["chunks"] - embedded,
        new_articles=len(plan.new),
        changed_articles=len(plan.changed),
        removed_articles=len(plan.removed),
        skipped=skipped,
        seconds=time.perf_counter() - t0,
        embed_seconds=embed_seconds,
        notes=notes,
        compacted=compacted,
        unchanged_articles=plan.unchanged,
        published=published,
        timings={k: round(v, 4) for k, v in timings.items()},
    )
