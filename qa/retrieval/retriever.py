"""Hybrid retrieval: FAISS (meaning) + BM25 (names) fused by reciprocal rank.

`HybridSearcher` does the work and returns scored hits; `ArchiveRetriever` is the same
search as a LangChain `BaseRetriever`, to drop into any LangChain chain.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from index.archive import ArchiveIndex
from index.embedder import Embedder
from index.store import StoredChunk
from index.stories import StoryClusters
from qa.response import Filters
from qa.retrieval.hints import QueryPlan, SubQuery, plan_query, source_aliases
from qa.retrieval.timeorder import by_date, reference_date

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "bm25"]
Merge = Literal["interleave", "rrf"]
QUERY_CACHE_SIZE = 4096


@dataclass(frozen=True)
class SearchParams:
    fetch_k: int = 50
    rrf_k: int = 60
    # BM25 counts four times the dense rank: chosen on a fixed half of MultiHop-RAG (0.25 of
    # 0.25/0.5/1) and confirmed on the other half and on headline→article (see README).
    dense_weight: float = 0.25
    bm25_weight: float = 1.0
    max_chunks_per_article: int = 3
    query_hints: bool = True  # outlet/date hints in the question become sub-queries
    time_hints: bool = True  # time phrases become a date range / date order (needs query_hints)
    decompose: bool = True  # each outlet's sub-query is its own clause, not the whole question
    subquery_weight: float = 1.0
    # How the question's and the sub-queries' rankings are merged: "interleave" takes
    # each ranking's next best in turn (every named outlet's best chunks reach the top);
    # "rrf" sums reciprocal ranks (one article found by several rankings can crowd out
    # the others).
    merge: Merge = "interleave"


@dataclass(frozen=True)
class Hit:
    chunk: StoredChunk
    score: float  # fused score (RRF over retrievers and sub-queries)
    dense: float | None  # cosine similarity, when a dense list found it
    bm25: float | None


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    best_dense: float  # best cosine among dense candidates: the relevance signal for refusal
    notes: list[str]
    plan: QueryPlan | None = None

    def too_weak(self, min_relevance: float) -> list[str] | None:
        """None when the hits can answer; else the notes explaining the refusal."""
        if self.hits and self.best_dense >= min_relevance:
            return None
        if not self.hits:
            return []
        return [
            f"best paragraph similarity {self.best_dense:.2f} is below the threshold {min_relevance:.2f}"
        ]


class Reranker(Protocol):
    def rerank(self, question: str, hits: list[Hit], k: int) -> list[Hit]: ...


class HybridSearcher:
    """Dense + BM25 per (sub-)query, fused by weighted reciprocal rank, then diversified."""

    def __init__(
        self,
        index: ArchiveIndex,
        embedder: Embedder,
        params: SearchParams | None = None,
        *,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
        decomposer: Callable[[str], list[str]] | None = None,
    ) -> None:
        """`reranker` (a cross-encoder, `qa.retrieval.rerank`) re-scores the top
        `rerank_candidates` hits; `decomposer` (question → search queries,
        `qa.retrieval.decompose.LLMDecomposer`) adds its queries beside the parsed plan
        when a search asks for decomposition."""
        self.index = index
        self.embedder = embedder
        self.params = params or SearchParams()
        self.aliases = source_aliases(name for name, _ in index.store.sources())
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates
        self.decomposer = decomposer
        self.now: str | None = None  # the reference date of relative phrases (None: newest)
        self._newest: str | None = None
        self._stories: StoryClusters | None = None

    @property
    def stories(self) -> StoryClusters:
        """Near-duplicate clusters of the archive (index.stories), found once per index."""
        if self._stories is None:
            self._stories = StoryClusters.from_store(self.index.store)
        return self._stories

    def embed_query(self, text: str) -> np.ndarray:
        """Query vectors, memoized: chats repeat questions and sub-queries repeat clauses."""
        vec = self._query_vectors.get(text)
        if vec is None:
            vec = self.embedder.encode_query(text)
            self._query_vectors[text] = vec
            if len(self._query_vectors) > QUERY_CACHE_SIZE:
                self._query_vectors.popitem(last=False)
        return vec

    def reference_date(self, now: str | None = None) -> str:
        """What "last month" is relative to: `now`, the setting, else the newest article."""
        if self._newest is None:
            self._newest = self.index.store.date_range()[1] or ""
        return reference_date(now or self.now, self._newest)

    def plan(
        self,
        query: str,
        filters: Filters | None = None,
        decompose: bool = False,
        now: str | None = None,
    ) -> QueryPlan:
        """The parsed plan; with `decompose` and a decomposer, plus its sub-questions
        (answering asks for them; a plain search does not wait on an LLM)."""
        plan = self._parse(query, filters, now)
        if decompose and self.decomposer is not None:
            self._add_subquestions(plan, filters)
        return plan

    def _parse(self, query: str, filters: Filters | None, now: str | None = None) -> QueryPlan:
        if not self.params.query_hints:
            return QueryPlan(query, [SubQuery(query, filters or Filters(), "question")])
        from datetime import date

        plan = plan_query(
            query,
            self.aliases,
            filters,
            clauses=self.params.decompose,
            now=date.fromisoformat(self.reference_date(now)) if self.params.time_hints else None,
        )
        t = plan.time
        rows = self._allowed(plan.subqueries[0].filters) if t and (t.since or t.until) else None
        if t is not None and rows is not None and not rows:  # [] here, "" on Milvus
            # A range read from the question's words that holds no article ("in 2021" of
            # an archive of 2023) would leave nothing to search: it was the event's time.
            caller = self._allowed(filters or Filters())
            if caller is None or caller:
                plain = plan_query(query, self.aliases, filters, clauses=self.params.decompose)
                plain.notes.append(
                    f"no article falls in {t.phrase!r}; searched the question without that range"
                )
                return plain
        return plan

    def _add_subquestions(self, plan: QueryPlan, filters: Filters | None) -> None:
        """The decomposer's queries as more sub-queries, each with its own outlet/date
        hints as filters. Its failure only costs the extra searches, never the search."""
        assert self.decomposer is not None
        try:
            queries = self.decomposer(plan.question)
        except Exception as exc:  # an LLM endpoint down, a model error: search as parsed
            log.warning("question decomposition failed: %s", exc)
            plan.notes.append(
                f"the LLM could not split the question ({type(exc).__name__}); "
                "searched it as parsed"
            )
            return
        have = {(s.text, repr(s.filters)) for s in plan.subqueries}
        for n, query in enumerate(queries, start=1):
            parsed = self._parse(query, filters).subqueries
            for part in parsed[1:] or parsed[:1]:  # its outlets' clauses, else the query itself
                if (part.text, repr(part.filters)) in have:
                    continue
                have.add((part.text, repr(part.filters)))
                label = f"sub-question {n}" + (
                    f" ({part.label})" if part.label != "question" else ""
                )
                plan.subqueries.append(SubQuery(part.text, part.filters, label, from_llm=True))

    def search(
        self,
        query: str,
        k: int,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        plan: QueryPlan | None = None,
        decompose: bool = False,
        now: str | None = None,
    ) -> SearchResult:
        p = self.params
        plan = plan or self.plan(query, filters, decompose, now)
        notes: list[str] = list(plan.notes)
        fused: dict[int, float] = defaultdict(float)
        dense_score: dict[int, float] = {}
        bm25_score: dict[int, float] = {}
        best_dense = 0.0
        lists: list[list[int]] = []
        for i, sub in enumerate(plan.subqueries):
            allowed = self._allowed(sub.filters)
            if allowed is not None and not allowed:
                notes.append(
                    "no article matches the filters"
                    if i == 0
                    else f"no article matches the hint {sub.label!r}; ignored"
                )
                continue
            ranked, dense, keyword = self._rank(sub.text, allowed, mode)
            if i > 0 and not ranked:
                notes.append(f"nothing found for the hint {sub.label!r}; ignored")
                continue
            if i > 0:
                notes.append(f"searched {sub.label} separately")
            weight = 1.0 if i == 0 else p.subquery_weight
            lists.append(ranked)
            for rank, row in enumerate(ranked):
                fused[row] += weight / (p.rrf_k + rank + 1)
            for row, s in dense:
                dense_score[row] = max(s, dense_score.get(row, s))
            for row, s in keyword:
                bm25_score[row] = max(s, bm25_score.get(row, s))
            # The refusal signal: the question, and outlets/dates it names itself (an
            # outlet the LLM made up must not lift a question over the threshold).
            if i == 0 or not (sub.filters.is_empty() or sub.from_llm):
                best_dense = max(best_dense, max((s for _, s in dense), default=0.0))
        if p.merge == "interleave" and len(lists) > 1:
            order = _interleave(lists[1:] + lists[:1], fused)
        else:  # ties broken by row id: the same query always gives the same order
            order = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))
        wanted = k if self.reranker is None else max(k, self.rerank_candidates)
        if plan.time is not None and plan.time.order:
            # "latest"/"first": the relevant candidates, newest (oldest) article first.
            chosen, why = by_date(
                self._diversify(order, max(3 * wanted, 30)), dense_score, plan.time.order, wanted
            )
            notes += why
        else:
            chosen = self._diversify(order, wanted)
        if plan.time is not None and (plan.time.since or plan.time.until):
            notes += self._undated_note()
        hits = [Hit(c, s, dense_score.get(c.row), bm25_score.get(c.row)) for c, s in chosen]
        if self.reranker is not None:
            hits = self.reranker.rerank(query, hits, k)
        return SearchResult(hits, best_dense, notes, plan)

    def _undated_note(self) -> list[str]:
        if not hasattr(self, "_undated"):
            self._undated = self.index.store.undated_articles()
        if not self._undated:
            return []
        return [f"{self._undated:,} articles without a date are left out of time-bound answers"]

    def _allowed(self, filters: Filters) -> list[int] | None:
        if filters.is_empty():
            return None
        return self.index.store.rows_matching(
            filters.sources or None, filters.since, filters.until, filters.article_ids or None
        )

    def _rank(
        self, text: str, allowed: list[int] | None, mode: Mode
    ) -> tuple[list[int], list[tuple[int, float]], list[tuple[int, float]]]:
        """Rows ranked for one (sub-)query: dense and BM25 lists fused by weighted RRF."""
        p = self.params
        dense: list[tuple[int, float]] = []
        keyword: list[tuple[int, float]] = []
        if mode in ("hybrid", "dense"):
            dense = self.index.dense_search(self.embed_query(text), p.fetch_k, allowed)
        if mode in ("hybrid", "bm25"):
            keyword = self.index.keyword_search(text, p.fetch_k, allowed)
        if mode != "hybrid":
            return [row for row, _ in (dense or keyword)], dense, keyword
        scores: dict[int, float] = defaultdict(float)
        for rank, (row, _s) in enumerate(dense):
            scores[row] += p.dense_weight / (p.rrf_k + rank + 1)
        for rank, (row, _s) in enumerate(keyword):
            scores[row] += p.bm25_weight / (p.rrf_k + rank + 1)
        return (
            [row for row, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))],
            dense,
            keyword,
        )

    def _diversify(self, order: list[tuple[int, float]], k: int) -> list[tuple[StoredChunk, float]]:
        """Top k with at most `max_chunks_per_article` chunks of any one story: copies of
        one story (index.stories) count as one, and only its best-ranked copy is shown."""
        limit = self.params.max_chunks_per_article
        per_article: dict[str, int] = defaultdict(int)
        stories = self.stories
        shown: dict[str, str] = {}  # story -> the article shown for it
        out: list[tuple[StoredChunk, float]] = []
        window = max(k * 4, 40)
        for lo in range(0, len(order), window):
            chunks = self.index.chunks([row for row, _ in order[lo : lo + window]])
            for row, score in order[lo : lo + window]:
                chunk = chunk_ = chunks.get(row)
                if chunk_ is None:
                    continue
                story = stories.key(chunk_.article_id)
                if shown.setdefault(story, chunk_.article_id) != chunk_.article_id:
                    continue  # another copy of a story already shown
                if per_article[story] >= limit:
                    continue
                per_article[story] += 1
                out.append((chunk, score))
                if len(out) == k:
                    return out
        return out


def _interleave(rankings: list[list[int]], fused: dict[int, float]) -> list[tuple[int, float]]:
    """Round-robin over rankings (sub-queries first, the whole question last), each row
    once, keeping its fused score. A multi-outlet question needs evidence from every
    outlet; summed ranks let the article several rankings agree on take all the slots."""
    seen: set[int] = set()
    out: list[tuple[int, float]] = []
    for rank in range(max(map(len, rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking) and (row := ranking[rank]) not in seen:
                seen.add(row)
                out.append((row, fused[row]))
    return out


class ArchiveRetriever(BaseRetriever):
    """LangChain retriever over an archive-qa index (hybrid by default)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: HybridSearcher
    k: int = 5
    filters: Filters | None = None
    mode: Mode = "hybrid"
    decompose: bool = False  # also search the LLM's sub-questions (when it has a decomposer)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        result = self.searcher.search(
            query, self.k, self.filters, self.mode, decompose=self.decompose
        )
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
