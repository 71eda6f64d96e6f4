"""Hybrid retrieval: FAISS (meaning) + BM25 (names) fused by reciprocal rank.

`HybridSearcher` does the work and returns scored hits; `ArchiveRetriever` is the same
search as a LangChain `BaseRetriever`, to drop into any LangChain chain.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from index.archive import ArchiveIndex
from index.embedder import Embedder
from index.store import StoredChunk

from .response import Filters

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class SearchParams:
    fetch_k: int = 50
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    max_chunks_per_article: int = 2


@dataclass(frozen=True)
class Hit:
    chunk: StoredChunk
    score: float  # fused score (RRF), or the single retriever's score
    dense: float | None  # cosine similarity, when the dense side found it
    bm25: float | None


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    best_dense: float  # best cosine among dense candidates: the relevance signal for refusal
    notes: list[str]


class HybridSearcher:
    def __init__(
        self, index: ArchiveIndex, embedder: Embedder, params: SearchParams | None = None
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.params = params or SearchParams()

    def search(
        self, query: str, k: int, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> SearchResult:
        p = self.params
        notes: list[str] = []
        allowed = None
        if filters is not None and not filters.is_empty():
            allowed = self.index.store.rows_matching(
                filters.sources or None, filters.since, filters.until, filters.article_ids or None
            )
            if not allowed:
                notes.append("no article matches the filters")
                return SearchResult([], 0.0, notes)
        dense: list[tuple[int, float]] = []
        keyword: list[tuple[int, float]] = []
        if mode in ("hybrid", "dense"):
            dense = self.index.dense_search(self.embedder.encode_query(query), p.fetch_k, allowed)
        if mode in ("hybrid", "bm25"):
            keyword = self.index.keyword_search(query, p.fetch_k, allowed)

        fused: dict[int, float] = defaultdict(float)
        dense_score = dict(dense)
        bm25_score = dict(keyword)
        weights = (
            {"dense": p.dense_weight, "bm25": p.bm25_weight}
            if mode == "hybrid"
            else {"dense": 1.0, "bm25": 1.0}
        )
        for rank, (row, _s) in enumerate(dense):
            fused[row] += weights["dense"] / (p.rrf_k + rank + 1)
        for rank, (row, _s) in enumerate(keyword):
            fused[row] += weights["bm25"] / (p.rrf_k + rank + 1)
        # Ties broken by row id: the same query always gives the same order.
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))

        chunks = self.index.chunks([row for row, _ in ranked[: max(k * 4, p.fetch_k)]])
        per_article: dict[str, int] = defaultdict(int)
        hits: list[Hit] = []
        for row, score in ranked:
            chunk = chunks.get(row)
            if chunk is None:
                continue
            if per_article[chunk.article_id] >= p.max_chunks_per_article:
                continue
            per_article[chunk.article_id] += 1
            hits.append(Hit(chunk, score, dense_score.get(row), bm25_score.get(row)))
            if len(hits) == k:
                break
        best_dense = max((s for _, s in dense), default=0.0)
        return SearchResult(hits, best_dense, notes)


class ArchiveRetriever(BaseRetriever):
    """LangChain retriever over an archive-qa index (hybrid by default)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: HybridSearcher
    k: int = 5
    filters: Filters | None = None
    mode: Mode = "hybrid"

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        result = self.searcher.search(query, self.k, self.filters, self.mode)
        return [hit_to_document(h) for h in result.hits]


def hit_to_document(hit: Hit) -> Document:
    c = hit.chunk
    metadata: dict[str, Any] = {
        "chunk_id": c.chunk_id,
        "article_id": c.article_id,
        "title": c.title,
        "source": c.source,
        "date": c.date,
        "url": c.url,
        "para_start": c.para_start,
        "para_end": c.para_end,
        "start": c.start,
        "end": c.end,
        "score": hit.score,
        "dense_score": hit.dense,
        "bm25_score": hit.bm25,
    }
    return Document(page_content=c.text, metadata=metadata, id=c.chunk_id)
