"""Searching a Milvus-backed archive (`ARCHIVE_QA_BACKEND=milvus`).

`MilvusIndex` stands where `ArchiveIndex` does for the service: one build (the
collection the alias named when it was opened), its manifest, its outlets, and the
articles citations quote, all read from Milvus. `MilvusSearcher` is the `HybridSearcher`
with the same plan, sub-queries, merging and diversity, but each (sub-)query is one
Milvus `hybrid_search`: the dense vector and Milvus's BM25 sparse vector fused by
`RRFRanker`, with the outlet/date filters as a filter expression.

Two differences from the FAISS + bm25s searcher, both of Milvus's making: its RRF has no
per-list weights, so the BM25 request is given as many times as its weight is the dense
one's (4 by default: exactly weighted RRF); and a hybrid result carries only the fused
score, so a hit's cosine (the refusal signal) is computed here from the vector it
returns.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.archive import IndexInfo
from index.articles import Article
from index.bm25 import tokenize
from index.errors import IndexNotFoundError
from index.manifest import Manifest
from index.milvus_store import (
    MilvusError,
    MilvusTarget,
    articles_collection,
    check_meta_model,
    has_entities_field,
    has_statements_collection,
    in_list,
    iter_query,
    live_collection,
    quote,
    read_meta,
    statements_collection,
)
from index.store import StoredChunk, StoredStatement
from qa.response import Filters
from qa.retrieval.hints import source_aliases
from qa.retrieval.retriever import HybridSearcher, Mode

CHUNK_FIELDS = [
    "chunk_id",
    "row",
    "article_id",
    "ordinal",
    "para_start",
    "para_end",
    "start",
    "end",
    "text",
    "title",
    "date",
    "source",
    "url",
]


def filter_expr(filters: Filters) -> str | None:
    """The filters as a Milvus boolean expression (None: no filter). Dates compare as ISO
    strings; `until` covers its whole day, as in the chunk store."""
    if filters.is_empty():
        return None
    parts = []
    if filters.sources:
        parts.append(in_list("source_lc", [s.lower() for s in filters.sources]))
    if filters.since:
        parts.append(f"date >= {quote(filters.since)}")
    if filters.until:
        parts.append(f'date != "" and date < {quote(filters.until + "~")}')
    if filters.article_ids:
        parts.append(in_list("article_id", filters.article_ids))
    return " and ".join(f"({p})" for p in parts)


def _chunk(entity: dict[str, Any]) -> StoredChunk:
    """A chunk row as the store's chunk; its entity spans where the build stored them."""
    return StoredChunk(
        row=int(entity["row"]),
        chunk_id=entity["chunk_id"],
        article_id=entity["article_id"],
        ordinal=int(entity["ordinal"]),
        para_start=int(entity["para_start"]),
        para_end=int(entity["para_end"]),
        start=int(entity["start"]),
        end=int(entity["end"]),
        text=entity["text"],
        title=entity["title"],
        date=entity["date"] or None,
        source=entity["source"] or None,
        url=entity["url"] or None,
        entities=entity.get("entities") or None,
    )


MAX_COPIES = 8
STATEMENTS_NOTE = (
    "published to Milvus before statements were stored there (or built without them): "
    "rebuild it with `archive-qa build` to list who said what (`update --compact` is for "
    "the faiss backend)"
)
STATEMENT_FIELDS = [
    "row",
    "article_id",
    "paragraph",
    "start",
    "end",
    "speaker",
    "normalized",
    "role",
    "verb",
    "statement",
    "direct",
    "resolved",
    "date",
    "source",
]


def _like_pattern(needle: str) -> str:
    """A `like` pattern matching every value that holds `needle` (and maybe more: `%`,
    `_` and `\\` of the needle are wildcards here; the caller checks the substring)."""
    return "%" + "".join("%" if ch in "%_\\" else ch for ch in needle) + "%"


def _statement(entity: dict[str, Any]) -> StoredStatement:
    return StoredStatement(
        row=int(entity["row"]),
        article_id=entity["article_id"],
        paragraph=int(entity["paragraph"]),
        start=int(entity["start"]),
        end=int(entity["end"]),
        speaker=entity["speaker"],
        normalized=entity["normalized"],
        role=entity["role"],
        verb=entity["verb"],
        statement=entity["statement"],
        direct=bool(entity["direct"]),
        resolved=bool(entity["resolved"]),
        date=entity["date"] or None,
        source=entity["source"] or None,
    )


def rrf_copies(dense_weight: float, bm25_weight: float) -> tuple[int, int]:
    """The fusion weights as whole request counts (dense, BM25), at most MAX_COPIES each:
    0.25 / 1.0 becomes 1 / 4, the same ranking as weighted RRF."""
    if dense_weight <= 0 or bm25_weight <= 0:
        return (0, 1) if dense_weight <= 0 else (1, 0)
    small = min(dense_weight, bm25_weight)
    d = max(1, min(MAX_COPIES, round(dense_weight / small)))
    b = max(1, min(MAX_COPIES, round(bm25_weight / small)))
    return d, b


class MilvusArticles:
    """The part of the chunk store the answerers and the page read: articles for
    citations, outlets and dates for filters, attributed statements for who said what."""

    # Story signatures (index.stories) are not stored in Milvus yet: every article is its
    # own story on this backend.
    def story_signatures(self) -> list:
        return []

    def __init__(self, client, collection: str, meta: dict[str, Any]) -> None:
        self.client = client
        self.chunks = collection
        self.collection = articles_collection(collection)
        self.statements = statements_collection(collection)
        # A build published before statements were stored on Milvus has no collection
        # for them: it answers who-said questions with the reader, as before.
        self.has_statements = has_statements_collection(client, collection)
        self.chunk_fields = CHUNK_FIELDS + (
            ["entities"] if has_entities_field(client, collection) else []
        )
        self.set_meta(meta)

    def chunks_by_rows(self, rows: list[int]) -> dict[int, StoredChunk]:
        """Chunks by their `row` key (what a statement or a search hit names)."""
        if not rows:
            return {}
        found = self.client.query(
            self.chunks,
            filter=f"row in [{', '.join(str(int(r)) for r in rows)}]",
            output_fields=self.chunk_fields,
        )
        return {int(e["row"]): _chunk(e) for e in found}

    def statement_counts(self) -> tuple[int, int]:
        """(statements, distinct normalised speakers), as the build or last update
        counted them (the manifest row); (0, 0) without statements."""
        return self._statement_counts if self.has_statements else (0, 0)

    def find_statements(
        self,
        speaker: str | None = None,
        rows: list[int] | None = None,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 1000,
    ) -> list[StoredStatement]:
        """`ChunkStore.find_statements` on Milvus: `speaker` a case-insensitive substring
        of the normalised or written speaker, `rows` the chunks holding them; newest
        first, one day's in article and paragraph order (rows here are chunk-id hashes,
        not the folder's build order, so they order nothing)."""
        if not self.has_statements:
            return []
        parts = []
        needle = (speaker or "").strip().lower()
        if needle:
            pattern = quote(_like_pattern(needle))
            parts.append(f"normalized_lc like {pattern} or speaker_lc like {pattern}")
        if rows is not None:
            if not rows:
                return []
            parts.append(f"row in [{', '.join(str(int(r)) for r in rows)}]")
        if sources:
            parts.append(in_list("source_lc", [s.lower() for s in sources]))
        if since:
            parts.append(f"date >= {quote(since)}")
        if until:
            parts.append(f'date != "" and date < {quote(until + "~")}')
        expr = " and ".join(f"({p})" for p in parts)
        # Milvus's query has no ORDER BY: every match is read, then sorted and cut. The
        # answer paths always filter (a speaker, or the statements of 40 paragraphs).
        found = [
            _statement(e)
            for e in iter_query(
                self.client, self.statements, expr, [*STATEMENT_FIELDS, "speaker_lc"]
            )
            if not needle
            or needle in e["speaker_lc"]
            or needle in e["normalized"].lower()  # (the check `like` left to do)
        ]
        found.sort(key=lambda s: (s.article_id, s.paragraph, s.start))
        found.sort(key=lambda s: s.date or "", reverse=True)  # stable: newest first
        return found[: int(limit)]

    def undated_articles(self) -> int:
        """Articles with no publication date (kept; left out of time-bound answers)."""
        rows = self.client.query(
            self.collection,
            filter='part == 0 and article_id != "" and date == ""',
            output_fields=["count(*)"],
        )
        return int(rows[0]["count(*)"])

    def article_dates(
        self, rows: list[int] | str | None = None
    ) -> list[tuple[str, str | None, str | None]]:
        """(article id, date, source) of the articles holding these chunk rows, or the
        chunks a filter expression (the searcher's `_allowed`) passes; None: every
        article. What a timeline counts."""
        if rows is None:
            found = iter_query(
                self.client,
                self.collection,
                'part == 0 and article_id != ""',
                ["article_id", "date", "source"],
            )
        elif isinstance(rows, str):
            found = iter_query(self.client, self.chunks, rows, ["article_id", "date", "source"])
        elif not rows:
            return []
        else:
            found = iter_query(
                self.client,
                self.chunks,
                f"row in [{', '.join(str(int(r)) for r in rows)}]",
                ["article_id", "date", "source"],
            )
        out: dict[str, tuple[str, str | None, str | None]] = {}
        for r in found:
            out.setdefault(
                r["article_id"], (r["article_id"], r["date"] or None, r["source"] or None)
            )
        return list(out.values())

    def set_meta(self, meta: dict[str, Any]) -> None:
        self._sources = [(s, int(n)) for s, n in meta["sources"]]
        self._dates = tuple(meta["date_range"])
        said = meta.get("statements") or {}
        self._statement_counts = (int(said.get("statements", 0)), int(said.get("speakers", 0)))
        self.generation = getattr(self, "generation", -1) + 1  # searchers follow it

    def article(self, article_id: str) -> Article | None:
        rows = self.client.query(
            self.collection,
            filter=f"article_id == {quote(article_id)}",
            output_fields=[
                "part",
                "title",
                "text",
                "date",
                "source",
                "url",
                "origin",
                "content_hash",
            ],
        )
        if not rows:
            return None
        rows.sort(key=lambda r: r["part"])
        r = rows[0]
        return Article(
            id=article_id,
            title=r["title"],
            text="".join(p["text"] for p in rows),
            date=r["date"] or None,
            source=r["source"] or None,
            url=r["url"] or None,
            origin=r["origin"],
            content_hash=r["content_hash"],
        )

    def sources(self) -> list[tuple[str, int]]:
        return list(self._sources)

    def date_range(self) -> tuple[str | None, str | None]:
        return self._dates  # type: ignore[return-value]

    def close(self) -> None:
        pass


@dataclass
class MilvusHit:
    chunk: StoredChunk
    fused: float
    cosine: float | None
    bm25: float | None


class MilvusIndex:
    """One Milvus build opened for searching; safe to search from many threads."""

    backend = "milvus"

    def __init__(self, target: MilvusTarget, client, collection: str, meta: dict) -> None:
        self.target = target
        self.client = client
        self.collection = collection
        self.meta = meta
        self.manifest = Manifest.model_validate(meta["manifest"])
        self.store = MilvusArticles(client, collection, meta)
        self.build = Path(f"milvus:{target.alias}") / "builds" / collection
        self.chunk_fields = self.store.chunk_fields

    @classmethod
    def open(
        cls,
        target: MilvusTarget,
        model_name: str | None = None,
        dim: int | None = None,
        collection: str | None = None,
    ) -> MilvusIndex:
        """The build the alias points at (or the named collection), checked against the
        model in use."""
        client = target.client()
        try:
            collection = collection or live_collection(client, target.alias)
            if collection is None:
                raise IndexNotFoundError(
                    f"no archive-qa build behind Milvus alias {target.alias!r} at {target.uri}; "
                    "run `archive-qa build` with ARCHIVE_QA_BACKEND=milvus first"
                )
            meta = read_meta(client, collection)
            if model_name is not None and dim is not None:
                check_meta_model(meta, model_name, dim, f"Milvus collection {collection}")
            client.load_collection(collection)
            client.load_collection(articles_collection(collection))
            if has_statements_collection(client, collection):
                client.load_collection(statements_collection(collection))
        except BaseException:
            client.close()
            raise
        return cls(target, client, collection, meta)

    def live_build(self) -> Path | None:
        """The build the alias names now (a server switches when it moved); when it is
        still this one, its manifest is re-read (an update may have changed it)."""
        name = live_collection(self.client, self.target.alias)
        if name == self.collection:
            self.refresh()
        return None if name is None else self.build.parent / name

    def any_match(self, expr: str) -> bool:
        rows = self.client.query(self.collection, filter=expr, output_fields=["row"], limit=1)
        return bool(rows)

    def search(
        self,
        text: str,
        vector: np.ndarray,
        k: int,
        expr: str | None,
        mode: Mode,
        rrf_k: int,
        weights: tuple[int, int] = (1, 1),
    ) -> list[MilvusHit]:
        """One (sub-)query: a hybrid search with RRF, or one of its two halves alone.

        `weights` (dense, BM25) are whole numbers: Milvus's RRF has no weights, but a
        request given n times counts n times, which is exactly weighted RRF."""
        from pymilvus import AnnSearchRequest, RRFRanker

        vec = np.asarray(vector, dtype="float32").tolist()
        filt = expr or ""
        if mode == "hybrid":
            dense = AnnSearchRequest([vec], "dense", {"metric_type": "IP"}, k, expr=expr)
            sparse = AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, k, expr=expr)
            reqs = [dense] * weights[0] + [sparse] * weights[1]
            res = self.client.hybrid_search(
                self.collection,
                reqs,
                RRFRanker(rrf_k),
                limit=k,
                output_fields=[*self.chunk_fields, "dense"],
            )[0]
            out = []
            for h in res:
                e = h["entity"]
                cos = float(np.dot(np.asarray(e["dense"], dtype="float32"), vector))
                out.append(MilvusHit(_chunk(e), float(h["distance"]), cos, None))
            return out
        field, data = ("dense", [vec]) if mode == "dense" else ("sparse", [text])
        res = self.client.search(
            self.collection,
            data,
            anns_field=field,
            limit=k,
            filter=filt,
            output_fields=self.chunk_fields,
        )[0]
        return [
            MilvusHit(
                _chunk(h["entity"]),
                float(h["distance"]),
                float(h["distance"]) if mode == "dense" else None,
                float(h["distance"]) if mode == "bm25" else None,
            )
            for h in res
        ]

    def keyword_search(
        self, query: str, k: int, allowed: str | None = None
    ) -> list[tuple[int, float]]:
        """BM25 alone (Milvus's function): (row, score) best first; `allowed` is a filter
        expression ("" passes nothing). The query's English stopwords are dropped first,
        as the FAISS backend's BM25 drops them: Milvus's analyzer keeps them, and a leftover
        "in" of "Russia in February 2017" would match every article."""
        terms = tokenize(query)
        if allowed == "" or not terms:
            return []
        res = self.client.search(
            self.collection,
            [" ".join(terms)],
            anns_field="sparse",
            limit=min(k, 16_384),
            filter=allowed or "",
            output_fields=["row"],
        )[0]
        return [(int(h["entity"]["row"]), float(h["distance"])) for h in res]

    def vectors(self, rows: list[int]) -> dict[int, np.ndarray]:
        """The stored dense vectors of these rows ("reported by" compares paragraphs by
        them; without this it embedded every result paragraph again)."""
        if not rows:
            return {}
        found = self.client.query(
            self.collection,
            filter=f"row in [{', '.join(str(int(r)) for r in rows)}]",
            output_fields=["row", "dense"],
        )
        return {int(e["row"]): np.asarray(e["dense"], dtype="float32") for e in found}

    def chunks_by_rows(self, rows: list[int]) -> dict[int, StoredChunk]:
        return self.store.chunks_by_rows(rows)

    def info(self) -> IndexInfo:
        m = self.manifest
        statements, speakers = self.store.statement_counts()
        stored = self.store.has_statements and "statements" in m.annotations
        return IndexInfo(
            path=f"{self.target.uri} ({self.target.alias} -> {self.collection})",
            build_id=m.build_id,
            built_at=m.built_at,
            articles=m.counts["articles"],
            chunks=m.counts["chunks"],
            model=m.model.name,
            dim=m.model.dim,
            faiss_type="milvus",
            sources=self.store.sources(),
            date_range=self.store.date_range(),
            statements=statements,
            speakers=speakers,
            statements_note=None if stored else STATEMENTS_NOTE,
        )

    def refresh(self) -> None:
        """Re-read the build's manifest row: an update changes the live collection in
        place (counts, outlets, dates) without moving the alias, so a server that opened
        it before sees the new figures only this way."""
        meta = read_meta(self.client, self.collection)
        if meta != self.meta:
            self.meta, self.manifest = meta, Manifest.model_validate(meta["manifest"])
            self.store.set_meta(meta)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a client whose server is gone
            self.client.close()


class MilvusSearcher(HybridSearcher):
    """`HybridSearcher` over a `MilvusIndex`: the same `plan` and `search`, each
    (sub-)query one Milvus hybrid search."""

    index: MilvusIndex

    def __init__(self, index: MilvusIndex, embedder, params=None, **kwargs) -> None:
        super().__init__(index, embedder, params, **kwargs)  # type: ignore[arg-type]
        self._found = threading.local()  # chunks the current search's queries returned
        self._generation = index.store.generation

    def _follow_updates(self) -> None:
        """An update changes the build in place: outlets named in questions, the newest
        date relative phrases count from and the undated count are read again."""
        generation = self.index.store.generation
        if generation != self._generation:
            self._generation = generation
            self.aliases = source_aliases(name for name, _ in self.index.store.sources())
            self._newest = None
            self.__dict__.pop("_undated", None)

    def reference_date(self, now: str | None = None) -> str:
        self._follow_updates()
        return super().reference_date(now)

    def plan(self, *args, **kwargs):
        self._follow_updates()
        return super().plan(*args, **kwargs)

    def search(self, *args, **kwargs):
        self._found.chunks = {}
        try:
            return super().search(*args, **kwargs)
        finally:
            self._found.chunks = {}

    def _allowed(self, filters: Filters) -> str | None:  # type: ignore[override]
        """The filter expression; "" when no chunk passes it (the searcher's "no match")."""
        expr = filter_expr(filters)
        if expr is None:
            return None
        return expr if self.index.any_match(expr) else ""

    def _rank(self, text: str, allowed, mode: Mode):  # type: ignore[override]
        hits = self.index.search(
            text,
            self.embed_query(text),
            self.params.fetch_k,
            allowed,
            mode,
            self.params.rrf_k,
            rrf_copies(self.params.dense_weight, self.params.bm25_weight),
        )
        found = getattr(self._found, "chunks", None)
        if found is None:
            found = self._found.chunks = {}
        for h in hits:
            found[h.chunk.row] = h.chunk
        ranked = [h.chunk.row for h in hits]
        dense = [(h.chunk.row, h.cosine) for h in hits if h.cosine is not None]
        keyword = [(h.chunk.row, h.bm25) for h in hits if h.bm25 is not None]
        return ranked, dense, keyword

    def _diversify(self, order, k):  # type: ignore[override]
        limit = self.params.max_chunks_per_article
        found: dict[int, StoredChunk] = getattr(self._found, "chunks", None) or {}
        missing = [row for row, _ in order if row not in found]
        if missing:
            found.update(self.index.chunks_by_rows(missing))
        per_article: dict[str, int] = {}
        out = []
        for row, score in order:
            chunk = found.get(row)
            if chunk is None or per_article.get(chunk.article_id, 0) >= limit:
                continue
            per_article[chunk.article_id] = per_article.get(chunk.article_id, 0) + 1
            out.append((chunk, score))
            if len(out) == k:
                break
        return out


def open_milvus_index(
    target: MilvusTarget, model_name: str, dim: int, build: Path | None = None
) -> MilvusIndex:
    """The live Milvus build (or the build a server was told to switch to)."""
    try:
        return MilvusIndex.open(target, model_name, dim, build.name if build else None)
    except MilvusError:
        raise
    except IndexNotFoundError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("pymilvus"):
            raise MilvusError(f"Milvus at {target.uri}: {exc}") from exc
        raise
