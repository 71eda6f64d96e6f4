"""Publishing an archive into Milvus: a clustered index instead of a local folder.

A build lives in three collections named after it: the chunks (ids, article fields,
paragraph numbers and offsets, text, the entity spans the build found (index.annotate),
the dense vector and a sparse vector that Milvus's own BM25 function fills from the
indexed text), the articles (their full text, in
parts under Milvus's VARCHAR limit, for citations, plus one row with the build's
manifest) and the attributed statements (index.quotes: what the folder's `statements`
table holds, keyed by the chunk's `row`, with lower-cased copies of speaker, name and
outlet because Milvus's `like` and `in` are case-sensitive). Readers address the build through an alias (`milvus_collection`); a full
build fills new collections, checks their counts, and only then moves the alias, so a
reader never sees a half-built collection and a build killed mid-way leaves the old one
answering. An update upserts and deletes by article id in the live collections.

Milvus names allow letters, digits and underscores only; string values in filter
expressions are written as JSON string literals (Milvus parses the same escapes).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from . import layout
from .annotate import annotate_chunked, annotation_info
from .articles import Article
from .buildkit import (
    BuildOptions,
    BuildResult,
    chunking_dict,
    embed_texts,
    indexed_text,
    read_articles,
    software_version,
)
from .chunker import Chunk, chunk_article
from .embedder import Embedder
from .errors import ArchiveQAError, EmptyArchiveError, IndexMismatchError, IndexNotFoundError
from .loaders import LoadReport
from .manifest import Manifest, ModelInfo, corpus_hash
from .quotes import (
    Statement,
    decode_statements,
    encode_statements,
    quote_chunked,
    report_note,
    statements_info,
)

ARTICLES_SUFFIX = "__articles"
STATEMENTS_SUFFIX = "__statements"
META_ID = "__build__"  # the articles collection's row that holds the build's manifest
TEXT_BYTES = 60_000  # article text parts stay under Milvus's 65,535-byte VARCHAR
INSERT_BATCH = 500
EMBED_SLICE = 1024  # a full build embeds and inserts this many chunks at a time
NAME_BYTES = 4096  # speaker, name and role fields (longer values are cut on a character)
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class MilvusError(ArchiveQAError):
    """Milvus is unreachable, or holds no (or an unusable) archive-qa build."""


@dataclass(frozen=True)
class MilvusTarget:
    """Where a Milvus-backed archive lives: a server (or a Lite file) and the alias."""

    uri: str
    alias: str = "archive_qa"
    token: str | None = None

    def __post_init__(self) -> None:
        if not self.alias or not set(self.alias) <= NAME_CHARS or self.alias[0].isdigit():
            raise MilvusError(
                f"invalid Milvus collection name {self.alias!r}: use letters, digits and "
                "underscores, not starting with a digit"
            )

    def client(self):
        """A connected client; a clear error when nothing answers at `uri`."""
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise MilvusError(
                "the Milvus backend needs the scale extra: pip install 'archive-qa[scale]'"
            ) from exc
        kwargs: dict[str, Any] = {"uri": self.uri}
        if self.token:
            kwargs["token"] = self.token
        try:
            return MilvusClient(**kwargs)
        except Exception as exc:
            raise MilvusError(f"cannot connect to Milvus at {self.uri}: {exc}") from exc


def chunk_row_id(chunk_id: str) -> int:
    """The int64 key a searcher ranks by: stable for a chunk (its id is a content hash)."""
    return int(chunk_id[:15], 16)


def articles_collection(collection: str) -> str:
    return collection + ARTICLES_SUFFIX


def statements_collection(collection: str) -> str:
    return collection + STATEMENTS_SUFFIX


def has_statements_collection(client, collection: str) -> bool:
    """Whether the build stores attributed statements (builds published before they were
    stored on Milvus have no such collection: they answer, without statements)."""
    return bool(client.has_collection(statements_collection(collection)))


def live_collection(client, alias: str) -> str | None:
    """The chunk collection the alias points at, or None before the first build."""
    if alias not in client.list_aliases().get("aliases", []):
        return None
    return client.describe_alias(alias)["collection_name"]


def read_meta(client, collection: str) -> dict[str, Any]:
    rows = client.query(
        articles_collection(collection),
        filter=f"part_id == {json.dumps(META_ID)}",
        output_fields=["text"],
    )
    if not rows:
        raise MilvusError(f"Milvus collection {collection} has no archive-qa manifest; rebuild it")
    return json.loads(rows[0]["text"])


def check_meta_model(meta: dict[str, Any], model_name: str, dim: int, where: str) -> None:
    model = meta["manifest"]["model"]
    if model["name"] != model_name or int(model["dim"]) != dim:
        raise IndexMismatchError(
            f"{where} was built with {model['name']} ({model['dim']} dims), not {model_name} "
            f"({dim} dims); rebuild it with this model"
        )


# -- schemas -----------------------------------------------------------------
def _chunk_schema(client, dim: int):
    from pymilvus import DataType, Function, FunctionType

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("chunk_id", DataType.VARCHAR, is_primary=True, max_length=64)
    s.add_field("row", DataType.INT64)
    s.add_field("article_id", DataType.VARCHAR, max_length=1024)
    s.add_field("ordinal", DataType.INT64)
    s.add_field("para_start", DataType.INT64)
    s.add_field("para_end", DataType.INT64)
    s.add_field("start", DataType.INT64)
    s.add_field("end", DataType.INT64)
    s.add_field("title", DataType.VARCHAR, max_length=4096)
    s.add_field("source", DataType.VARCHAR, max_length=512)
    s.add_field("source_lc", DataType.VARCHAR, max_length=512)  # filters ignore case
    s.add_field("date", DataType.VARCHAR, max_length=64)  # ISO; "" when unknown
    s.add_field("url", DataType.VARCHAR, max_length=4096)
    s.add_field("text", DataType.VARCHAR, max_length=65535)
    s.add_field("bm25_text", DataType.VARCHAR, max_length=65535, enable_analyzer=True)
    # Entity spans found at build time (index.annotate, JSON; "" when not annotated).
    s.add_field("entities", DataType.VARCHAR, max_length=65535)
    s.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["bm25_text"],
            output_field_names=["sparse"],
        )
    )
    ip = client.prepare_index_params()
    # Cosine = inner product: the vectors are normalized. A cluster would use HNSW here.
    ip.add_index("dense", index_type="AUTOINDEX", metric_type="IP")
    ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    return s, ip


def _article_schema(client):
    from pymilvus import DataType

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("part_id", DataType.VARCHAR, is_primary=True, max_length=1100)
    s.add_field("article_id", DataType.VARCHAR, max_length=1024)
    s.add_field("part", DataType.INT64)
    s.add_field("title", DataType.VARCHAR, max_length=4096)
    s.add_field("date", DataType.VARCHAR, max_length=64)
    s.add_field("source", DataType.VARCHAR, max_length=512)
    s.add_field("url", DataType.VARCHAR, max_length=4096)
    s.add_field("origin", DataType.VARCHAR, max_length=4096)
    s.add_field("content_hash", DataType.VARCHAR, max_length=128)
    s.add_field("text", DataType.VARCHAR, max_length=65535)
    # Milvus requires a vector field in every collection; articles are looked up by id.
    s.add_field("nil", DataType.FLOAT_VECTOR, dim=2)
    ip = client.prepare_index_params()
    ip.add_index("nil", index_type="FLAT", metric_type="L2")
    return s, ip


def _statement_schema(client):
    from pymilvus import DataType

    s = client.create_schema(auto_id=True, enable_dynamic_field=False)
    s.add_field("statement_id", DataType.INT64, is_primary=True)
    s.add_field("row", DataType.INT64)  # the chunk holding it: the chunks' `row` key
    s.add_field("article_id", DataType.VARCHAR, max_length=1024)
    s.add_field("paragraph", DataType.INT64)
    s.add_field("start", DataType.INT64)
    s.add_field("end", DataType.INT64)
    s.add_field("speaker", DataType.VARCHAR, max_length=NAME_BYTES)
    s.add_field("speaker_lc", DataType.VARCHAR, max_length=NAME_BYTES)
    s.add_field("normalized", DataType.VARCHAR, max_length=NAME_BYTES)
    s.add_field("normalized_lc", DataType.VARCHAR, max_length=NAME_BYTES)
    s.add_field("role", DataType.VARCHAR, max_length=NAME_BYTES)
    s.add_field("verb", DataType.VARCHAR, max_length=256)
    s.add_field("statement", DataType.VARCHAR, max_length=65535)
    s.add_field("direct", DataType.BOOL)
    s.add_field("resolved", DataType.BOOL)
    s.add_field("date", DataType.VARCHAR, max_length=64)  # ISO; "" when unknown
    s.add_field("source", DataType.VARCHAR, max_length=512)
    s.add_field("source_lc", DataType.VARCHAR, max_length=512)
    s.add_field("nil", DataType.FLOAT_VECTOR, dim=2)  # (a vector field is required)
    ip = client.prepare_index_params()
    ip.add_index("nil", index_type="FLAT", metric_type="L2")
    return s, ip


# -- rows --------------------------------------------------------------------
def has_entities_field(client, collection: str) -> bool:
    """Whether the chunk collection stores entity spans (collections built before the
    field existed do not: their readers find the entities at question time)."""
    fields = client.describe_collection(collection).get("fields", [])
    return any(f.get("name") == "entities" for f in fields)


def _entities_value(c: Chunk) -> str:
    value = c.entities or ""
    return value if len(value.encode("utf-8")) <= 65535 else ""  # (then found when read)


def chunk_rows(
    pairs: Sequence[tuple[Article, Chunk]],
    vectors: np.ndarray,
    index_titles: bool,
    with_entities: bool = True,
) -> list[dict[str, Any]]:
    """One Milvus row per (article, chunk), with its vector (same order)."""
    if len(pairs) != len(vectors):
        raise ValueError(f"{len(pairs)} chunks but {len(vectors)} vectors")
    rows = [
        {
            "chunk_id": c.chunk_id,
            "row": chunk_row_id(c.chunk_id),
            "article_id": c.article_id,
            "ordinal": c.ordinal,
            "para_start": c.para_start,
            "para_end": c.para_end,
            "start": c.start,
            "end": c.end,
            "title": article.title,
            "source": article.source or "",
            "source_lc": (article.source or "").lower(),
            "date": article.date or "",
            "url": article.url or "",
            "text": c.text,
            "bm25_text": indexed_text(article.title, c.text, index_titles),
            "dense": np.asarray(vec, dtype="float32").tolist(),
        }
        for (article, c), vec in zip(pairs, vectors)
    ]
    if with_entities:
        for row, (_article, c) in zip(rows, pairs):
            row["entities"] = _entities_value(c)
    return rows


def _fit(value: str, limit: int) -> str:
    """`value` cut to at most `limit` UTF-8 bytes, on a character boundary."""
    data = value.encode("utf-8")
    return value if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def statement_rows(pairs: Sequence[tuple[Article, Chunk]]) -> list[dict[str, Any]]:
    """One Milvus row per statement the chunks hold (`Chunk.statements`, index.quotes),
    with the fields of the folder's `statements` table."""
    rows = []
    for article, c in pairs:
        for st in decode_statements(c.statements):
            speaker, normalized = _fit(st.speaker, NAME_BYTES), _fit(st.normalized, NAME_BYTES)
            rows.append(
                {
                    "row": chunk_row_id(c.chunk_id),
                    "article_id": article.id,
                    "paragraph": st.paragraph,
                    "start": st.start,
                    "end": st.end,
                    "speaker": speaker,
                    "speaker_lc": _fit(speaker.lower(), NAME_BYTES),
                    "normalized": normalized,
                    "normalized_lc": _fit(normalized.lower(), NAME_BYTES),
                    "role": _fit(st.role, NAME_BYTES),
                    "verb": _fit(st.verb, 256),
                    "statement": _fit(st.statement, 65535),
                    "direct": bool(st.direct),
                    "resolved": bool(st.resolved),
                    "date": article.date or "",
                    "source": article.source or "",
                    "source_lc": (article.source or "").lower(),
                    "nil": [0.0, 0.0],
                }
            )
    return rows


def _statement_counts(client, collection: str) -> dict[str, int]:
    """What `info` shows (statements, distinct names), kept in the manifest row so a
    request never counts them."""
    n, names = 0, set()
    for r in iter_query(client, statements_collection(collection), "", ["normalized_lc"]):
        n += 1
        names.add(r["normalized_lc"])
    return {"statements": n, "speakers": len(names)}


def _pairs(chunked: Sequence[tuple[Article, Sequence[Chunk]]]) -> list[tuple[Article, Chunk]]:
    return [(a, c) for a, cs in chunked for c in cs]


def _text_parts(text: str) -> list[str]:
    """The text cut into pieces of at most TEXT_BYTES UTF-8 bytes (on character bounds)."""
    parts, cur, size = [], [], 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > TEXT_BYTES:
            parts.append("".join(cur))
            cur, size = [], 0
        cur.append(ch)
        size += n
    parts.append("".join(cur))
    return parts


def article_rows(articles: Iterable[Article]) -> list[dict[str, Any]]:
    rows = []
    for a in articles:
        for i, part in enumerate(_text_parts(a.text)):
            rows.append(
                {
                    "part_id": f"{a.id}\x1f{i}",
                    "article_id": a.id,
                    "part": i,
                    "title": a.title,
                    "date": a.date or "",
                    "source": a.source or "",
                    "url": a.url or "",
                    "origin": a.origin,
                    "content_hash": a.content_hash,
                    "text": part,
                    "nil": [0.0, 0.0],
                }
            )
    return rows


def _insert(client, collection: str, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), INSERT_BATCH):
        client.insert(collection, rows[i : i + INSERT_BATCH])


def _count(client, collection: str, expr: str = "") -> int:
    rows = client.query(collection, filter=expr, output_fields=["count(*)"])
    return int(rows[0]["count(*)"])


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(str(value), ensure_ascii=False)


def in_list(field: str, values: Iterable[str]) -> str:
    return f"{field} in [{', '.join(quote(v) for v in values)}]"


# -- the build's manifest ----------------------------------------------------
def _meta(
    build_id: str,
    embedder: Embedder,
    options: BuildOptions,
    counts: dict[str, int],
    hashes: dict[str, str],
    sources: Counter,
    dates: list[str],
    t0: float,
    annotations: dict[str, str] | None = None,
    statements: dict[str, int] | None = None,
) -> dict[str, Any]:
    manifest = Manifest(
        software_version=software_version(),
        build_id=build_id,
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=round(time.perf_counter() - t0, 3),
        model=ModelInfo(
            name=embedder.name,
            dim=embedder.dim,
            max_seq_length=embedder.max_seq_length,
            backend=embedder.backend,
        ),
        index_titles=options.index_titles,
        chunking=chunking_dict(options.chunking),
        faiss={"type": "milvus", "metric": "inner_product", "vectors": counts["chunks"]},
        bm25={"library": "milvus", "function": "BM25"},
        counts=counts,
        corpus_hash=corpus_hash(hashes),
        files={},
        annotations=annotations or {},
    )
    meta = {
        "manifest": manifest.model_dump(mode="json"),
        # What the filter pickers and query hints need, so opening reads one row.
        "sources": sorted(sources.items(), key=lambda kv: (-kv[1], kv[0])),
        "date_range": [min(dates), max(dates)] if dates else [None, None],
    }
    if statements is not None:  # (absent: the build has no statements collection)
        meta["statements"] = statements
    return meta


def _write_meta(client, collection: str, meta: dict[str, Any]) -> None:
    client.upsert(
        articles_collection(collection),
        [
            {
                "part_id": META_ID,
                "article_id": "",
                "part": 0,
                "title": "",
                "date": "",
                "source": "",
                "url": "",
                "origin": "",
                "content_hash": "",
                "text": json.dumps(meta),
                "nil": [0.0, 0.0],
            }
        ],
    )


def _summary(client, collection: str) -> tuple[dict[str, str], Counter, list[str]]:
    """(article id → content hash, outlet counts, dates) of the articles collection."""
    hashes: dict[str, str] = {}
    sources: Counter = Counter()
    dates: list[str] = []
    for r in iter_query(
        client,
        articles_collection(collection),
        'part == 0 and article_id != ""',
        ["article_id", "content_hash", "source", "date"],
    ):
        hashes[r["article_id"]] = r["content_hash"]
        if r["source"]:
            sources[r["source"]] += 1
        if r["date"]:
            dates.append(r["date"])
    return hashes, sources, dates


def iter_query(client, collection: str, expr: str, fields: list[str]) -> Iterator[dict]:
    """Every row matching `expr`, in pages (a query alone is capped at 16,384 rows)."""
    it = client.query_iterator(collection, batch_size=1000, filter=expr, output_fields=fields)
    try:
        while True:
            page = it.next()
            if not page:
                return
            yield from page
    finally:
        it.close()


# -- publishing --------------------------------------------------------------
def drop_unpublished(client, alias: str) -> list[str]:
    """Drop this alias's collections that are not live: leftovers of killed builds and
    the build before the live one (readers moved off it when the alias last moved)."""
    live = live_collection(client, alias)
    keep = {live, articles_collection(live), statements_collection(live)} if live else set()
    prefix = alias + "__b"
    dropped = []
    for name in client.list_collections():
        if name.startswith(prefix) and name not in keep:
            client.drop_collection(name)
            dropped.append(name)
    return dropped


def publish_build(
    target: MilvusTarget,
    chunked: Sequence[tuple[Article, Sequence[Chunk]]],
    embedder: Embedder,
    options: BuildOptions,
    notes: list[str],
    skipped: list[dict],
    t0: float,
    timings: dict[str, float] | None = None,
    vectors: np.ndarray | None = None,
) -> BuildResult:
    """Write a full build into new collections and move the alias onto them.

    Without `vectors` the chunks are embedded here, a slice at a time, each slice
    inserted as it is done (memory follows the slice, not the archive); a distributed
    build passes the vectors it computed. The chunks' statements (index.quotes) are found
    here unless they came with them (a copied FAISS build), and written beside them.
    """
    timings = dict(timings or {})
    embed_seconds = 0.0
    annotations: dict[str, str] = {}
    if options.annotate:
        t_annotate = time.perf_counter()
        if any(c.entities is None for _, cs in chunked for c in cs):
            chunked = annotate_chunked(chunked, options.progress)
        timings["annotate"] = time.perf_counter() - t_annotate
        if any(c.statements is None for _, cs in chunked for c in cs):  # (copies have them)
            t_quotes = time.perf_counter()
            chunked, quoted = quote_chunked(chunked, options.chunking, options.progress)
            timings["statements"] = time.perf_counter() - t_quotes
            if report_note(quoted):
                notes.append(report_note(quoted))
        annotations = annotation_info() | statements_info()
    client = target.client()
    try:
        dropped = drop_unpublished(client, target.alias)
        if dropped:
            notes.append(f"dropped {len(dropped)} unpublished or superseded Milvus collections")
        build_id = layout.new_build_id()
        name = f"{target.alias}__b{build_id.replace('.', '_').replace('-', '_')}"
        t_write = time.perf_counter()
        schema, index_params = _chunk_schema(client, embedder.dim)
        client.create_collection(name, schema=schema, index_params=index_params)
        schema, index_params = _article_schema(client)
        client.create_collection(
            articles_collection(name), schema=schema, index_params=index_params
        )
        schema, index_params = _statement_schema(client)
        client.create_collection(
            statements_collection(name), schema=schema, index_params=index_params
        )
        articles = [a for a, _ in chunked]
        _insert(client, articles_collection(name), article_rows(articles))
        pairs = _pairs(chunked)
        n_statements, names = 0, set()
        step = EMBED_SLICE
        with tqdm(
            total=len(pairs),
            desc="Embedding" if vectors is None else "Writing",
            unit="chunk",
            disable=not options.progress,
            smoothing=0.1,
        ) as bar:
            for i in range(0, len(pairs), step):
                part = pairs[i : i + step]
                if vectors is None:
                    t_embed = time.perf_counter()
                    texts = [indexed_text(a.title, c.text, options.index_titles) for a, c in part]
                    vecs = embedder.encode(
                        texts, batch_size=options.batch_size, progress=bar.update
                    )
                    embed_seconds += time.perf_counter() - t_embed
                else:
                    vecs = vectors[i : i + step]
                    bar.update(len(part))
                _insert(client, name, chunk_rows(part, vecs, options.index_titles))
                said = statement_rows(part)
                _insert(client, statements_collection(name), said)
                n_statements += len(said)
                names.update(r["normalized_lc"] for r in said)
        n_chunks = len(pairs)
        counts = {
            "articles": len(articles),
            "chunks": n_chunks,
            "skipped": len(skipped),
            "embedded_chunks": n_chunks,
            "reused_chunks": 0,
            "new_articles": len(articles),
            "changed_articles": 0,
            "removed_articles": 0,
        }
        hashes = {a.id: a.content_hash for a in articles}
        sources = Counter(a.source for a in articles if a.source)
        dates = [a.date for a in articles if a.date]
        said_counts = {"statements": n_statements, "speakers": len(names)}
        meta = _meta(
            build_id,
            embedder,
            options,
            counts,
            hashes,
            sources,
            dates,
            t0,
            annotations,
            said_counts,
        )
        _write_meta(client, name, meta)
        for coll in (name, articles_collection(name), statements_collection(name)):
            client.flush(coll)
            client.load_collection(coll)
        if (
            _count(client, name) != n_chunks
            or _count(client, statements_collection(name)) != n_statements
        ):
            raise MilvusError(f"Milvus collection {name} is incomplete; the alias was not moved")
        if vectors is None:
            timings["embed"] = embed_seconds
        timings["write"] = time.perf_counter() - t_write - embed_seconds
        t_publish = time.perf_counter()
        if live_collection(client, target.alias) is None:
            client.create_alias(name, target.alias)
        else:
            client.alter_alias(name, target.alias)
        timings["publish"] = time.perf_counter() - t_publish
    finally:
        client.close()
    return _result(target, name, meta, counts, skipped, notes, t0, embed_seconds, timings)


def _result(
    target: MilvusTarget,
    name: str,
    meta: dict[str, Any],
    counts: dict[str, int],
    skipped: list[dict],
    notes: list[str],
    t0: float,
    embed_seconds: float,
    timings: dict[str, float],
    compacted: bool = True,
    published: bool = True,
    unchanged: int = 0,
) -> BuildResult:
    return BuildResult(
        build=Path(f"milvus:{target.alias}") / "builds" / name,
        manifest=Manifest.model_validate(meta["manifest"]),
        articles=counts["articles"],
        chunks=counts["chunks"],
        embedded_chunks=counts["embedded_chunks"],
        reused_chunks=counts["reused_chunks"],
        new_articles=counts["new_articles"],
        changed_articles=counts["changed_articles"],
        removed_articles=counts["removed_articles"],
        skipped=skipped,
        seconds=time.perf_counter() - t0,
        embed_seconds=embed_seconds,
        notes=notes,
        compacted=compacted,
        published=published,
        unchanged_articles=unchanged,
        timings={k: round(v, 4) for k, v in timings.items()},
    )


def build_milvus(
    sources: Sequence[str | Path],
    target: MilvusTarget,
    embedder: Embedder,
    options: BuildOptions | None = None,
) -> BuildResult:
    """`build_index` with Milvus as the store: a full build, or with `options.update` a
    sync (new and changed articles upserted, vanished ones deleted) of the live build."""
    options = options or BuildOptions()
    t0 = time.perf_counter()
    notes: list[str] = []
    report = LoadReport()
    articles = read_articles(sources, report, options)
    if not articles:
        reasons = "; ".join(f"{s.origin}: {s.reason}" for s in report.skipped[:5])
        raise EmptyArchiveError(
            "no readable articles in the sources; the index was left unchanged"
            + (f" ({reasons})" if reasons else "")
        )
    skipped = [{"origin": s.origin, "reason": s.reason} for s in report.skipped]
    timings = {"read": time.perf_counter() - t0}
    if options.update:
        client = target.client()
        try:
            live = live_collection(client, target.alias)
            if live is not None:
                meta = read_meta(client, live)
                check_meta_model(meta, embedder.name, embedder.dim, f"Milvus {target.alias}")
                same_chunks = meta["manifest"]["chunking"] == chunking_dict(options.chunking)
                if same_chunks and meta["manifest"]["index_titles"] == options.index_titles:
                    old, _, _ = _summary(client, live)
                    incoming = {a.id for a in articles}
                    return _apply(
                        client,
                        target,
                        live,
                        embedder,
                        [a for a in articles if old.get(a.id) != a.content_hash],
                        sorted(set(old) - incoming),
                        options,
                        notes,
                        skipped,
                        t0,
                        unchanged=sum(old.get(a.id) == a.content_hash for a in articles),
                    )
                notes.append("chunk settings changed since the last build: rebuilt from scratch")
            else:
                notes.append("no existing index to update: built from scratch")
        finally:
            client.close()
    chunked = [(a, chunk_article(a, options.chunking)) for a in articles]
    return publish_build(target, chunked, embedder, options, notes, skipped, t0, timings)


def update_milvus(
    target: MilvusTarget,
    embedder: Embedder,
    add: Sequence[str | Path] = (),
    remove: Sequence[str] = (),
    options: BuildOptions | None = None,
) -> BuildResult:
    """`update_index` on Milvus: upsert the articles in `add`, delete those `remove` names
    (ids or urls) from the live collections."""
    options = options or BuildOptions()
    t0 = time.perf_counter()
    report = LoadReport()
    articles = read_articles(add, report, options) if add else []
    if add and not articles and not remove:
        reasons = "; ".join(f"{s.origin}: {s.reason}" for s in report.skipped[:5])
        raise EmptyArchiveError(
            "no readable articles in the files given; the index was left unchanged"
            + (f" ({reasons})" if reasons else "")
        )
    skipped = [{"origin": s.origin, "reason": s.reason} for s in report.skipped]
    client = target.client()
    try:
        live = live_collection(client, target.alias)
        if live is None:
            raise IndexNotFoundError(
                f"no archive-qa build behind Milvus alias {target.alias!r} at {target.uri}; "
                "run `archive-qa build` first"
            )
        meta = read_meta(client, live)
        check_meta_model(meta, embedder.name, embedder.dim, f"Milvus {target.alias}")
        removals = []
        for key in remove:
            ids = _find_article_ids(client, live, key)
            if not ids:
                from .errors import ArticleNotFoundError

                raise ArticleNotFoundError(
                    f"no article with id or url {key!r} in the index; nothing was changed"
                )
            removals += ids
        old_hashes = (
            {
                r["article_id"]: r["content_hash"]
                for r in client.query(
                    articles_collection(live),
                    filter=f"part == 0 and {in_list('article_id', [a.id for a in articles])}",
                    output_fields=["article_id", "content_hash"],
                )
            }
            if articles
            else {}
        )
        changed = [a for a in articles if old_hashes.get(a.id) != a.content_hash]
        return _apply(
            client,
            target,
            live,
            embedder,
            changed,
            removals,
            options,
            [],
            skipped,
            t0,
            unchanged=len(articles) - len(changed),
            strict_hashes=old_hashes,
        )
    finally:
        client.close()


def _find_article_ids(client, live: str, key: str) -> list[str]:
    for field in ("article_id", "url"):
        rows = client.query(
            articles_collection(live),
            filter=f"part == 0 and {field} == {quote(key)}",
            output_fields=["article_id"],
        )
        if rows:
            return sorted({r["article_id"] for r in rows})
    return []


def _apply(
    client,
    target: MilvusTarget,
    live: str,
    embedder: Embedder,
    upserts: list[Article],
    removals: list[str],
    options: BuildOptions,
    notes: list[str],
    skipped: list[dict],
    t0: float,
    unchanged: int = 0,
    strict_hashes: dict[str, str] | None = None,
) -> BuildResult:
    """Delete the changed and removed articles' rows, insert the new ones, refresh the
    manifest row. Chunks and statements are deleted by article id, so an article's old
    paragraphs and statements never outlive its new version. A build published before
    statements were stored on Milvus gets none (its `info` says to rebuild)."""
    timings: dict[str, float] = {}
    meta = read_meta(client, live)
    if not upserts and not removals:
        notes.append("nothing changed: the index already holds these articles")
        counts = dict(meta["manifest"]["counts"])
        counts.update(
            embedded_chunks=0,
            reused_chunks=0,
            new_articles=0,
            changed_articles=0,
            removed_articles=0,
        )
        return _result(
            target, live, meta, counts, skipped, notes, t0, 0.0, timings, False, False, unchanged
        )
    if strict_hashes is None:
        strict_hashes = (
            {
                r["article_id"]: r["content_hash"]
                for r in client.query(
                    articles_collection(live),
                    filter=f"part == 0 and {in_list('article_id', [a.id for a in upserts])}",
                    output_fields=["article_id", "content_hash"],
                )
            }
            if upserts
            else {}
        )
    chunked = [(a, chunk_article(a, options.chunking)) for a in upserts]
    with_entities = has_entities_field(client, live)
    with_statements = has_statements_collection(client, live)
    annotations = meta["manifest"].get("annotations") or {}
    if with_entities and options.annotate and annotations:
        t_annotate = time.perf_counter()
        chunked = annotate_chunked(chunked, options.progress)
        timings["annotate"] = time.perf_counter() - t_annotate
    if with_statements and options.annotate and "statements" in annotations:
        t_quotes = time.perf_counter()
        chunked, quoted = quote_chunked(chunked, options.chunking, options.progress)
        timings["statements"] = time.perf_counter() - t_quotes
        if report_note(quoted):
            notes.append(report_note(quoted))
    texts = [indexed_text(a.title, c.text, options.index_titles) for a, cs in chunked for c in cs]
    t_embed = time.perf_counter()
    vecs = embed_texts(embedder, texts, options)
    embed_seconds = timings["embed"] = time.perf_counter() - t_embed
    t_write = time.perf_counter()
    gone = sorted({a.id for a in upserts} | set(removals))
    for i in range(0, len(gone), INSERT_BATCH):
        batch = gone[i : i + INSERT_BATCH]
        client.delete(live, filter=in_list("article_id", batch))
        client.delete(articles_collection(live), filter=in_list("article_id", batch))
        if with_statements:
            client.delete(statements_collection(live), filter=in_list("article_id", batch))
    _insert(client, live, chunk_rows(_pairs(chunked), vecs, options.index_titles, with_entities))
    _insert(client, articles_collection(live), article_rows(upserts))
    if with_statements:
        _insert(client, statements_collection(live), statement_rows(_pairs(chunked)))
    hashes, sources, dates = _summary(client, live)
    counts = {
        "articles": len(hashes),
        "chunks": _count(client, live),
        "skipped": len(skipped),
        "embedded_chunks": len(texts),
        "reused_chunks": 0,
        "new_articles": sum(a.id not in strict_hashes for a in upserts),
        "changed_articles": sum(a.id in strict_hashes for a in upserts),
        "removed_articles": len(set(removals) - {a.id for a in upserts}),
    }
    manifest = meta["manifest"]
    fresh = _meta(
        manifest["build_id"],
        embedder,
        options,
        counts,
        hashes,
        sources,
        dates,
        t0,
        manifest.get("annotations") or {},
        _statement_counts(client, live) if with_statements else None,
    )
    _write_meta(client, live, fresh)
    client.flush(live)
    client.flush(articles_collection(live))
    if with_statements:
        client.flush(statements_collection(live))
    timings["write"] = time.perf_counter() - t_write
    return _result(
        target,
        live,
        fresh,
        counts,
        skipped,
        notes,
        t0,
        embed_seconds,
        timings,
        False,
        True,
        unchanged,
    )


def publish_from_index(
    root: str | Path, target: MilvusTarget, embedder: Embedder, options: BuildOptions
) -> BuildResult:
    """Publish a built FAISS index's articles, chunks and vectors into Milvus (a new
    collection, then the alias), without embedding again: a migration, and the way a
    comparison of the two backends gets identical vectors. A flat (exact) build only."""
    from .archive import ArchiveIndex

    t0 = time.perf_counter()
    index = ArchiveIndex.open(root, embedder.name, embedder.dim)
    try:
        if index.delta is not None or str(index.manifest.faiss["type"]) != "Flat":
            raise MilvusError("only a compacted flat FAISS build can be copied into Milvus")
        store = index.store
        rows = sorted(r for r, _t, _x in store.iter_chunk_texts())
        chunks = store.chunks_by_rows(rows)
        said = _statements_by_row(store) if "statements" in index.manifest.annotations else None
        from .compactor import _vectors_by_id

        ids, vecs = _vectors_by_id(index.faiss)
        position = {int(i): n for n, i in enumerate(ids)}
        vectors = vecs[[position[r] for r in rows]]
        by_article: dict[str, list[Chunk]] = {}
        order: list[str] = []
        for r in rows:
            c = chunks[r]
            if c.article_id not in by_article:
                by_article[c.article_id] = []
                order.append(c.article_id)
            by_article[c.article_id].append(
                Chunk(
                    c.chunk_id,
                    c.article_id,
                    c.ordinal,
                    c.para_start,
                    c.para_end,
                    c.start,
                    c.end,
                    c.text,
                    entities=c.entities,
                    # None (found again when published): the folder predates statements.
                    statements=None if said is None else encode_statements(said.get(r, [])),
                )
            )
        chunked = [(store.article(aid), by_article[aid]) for aid in order]
        options = BuildOptions(
            chunking=options.chunking,
            index_titles=index.manifest.index_titles,
            batch_size=options.batch_size,
            progress=options.progress,
        )
    finally:
        index.close()
    return publish_build(target, chunked, embedder, options, [], [], t0, vectors=vectors)


def _statements_by_row(store) -> dict[int, list[Statement]]:
    """A folder store's statements by chunk row, to be copied with their chunks."""
    from .store import STATEMENT_COLUMNS

    out: dict[int, list[Statement]] = {}
    if not store.has_statements:
        return out
    sql = f"SELECT {STATEMENT_COLUMNS} FROM statements ORDER BY row, start"
    for r in store.conn.execute(sql):
        row, _aid, paragraph, start, end, speaker, normalized, role, verb, text = r[:10]
        out.setdefault(int(row), []).append(
            Statement(
                paragraph=paragraph,
                start=start,
                end=end,
                statement=text,
                speaker=speaker,
                normalized=normalized,
                role=role,
                verb=verb,
                direct=bool(r[10]),
                resolved=bool(r[11]),
            )
        )
    return out
