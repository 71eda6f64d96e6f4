"""The question-answering service: one loaded index + model, answering many questions.

This is the one object the CLI, the page and the API hold. Loading is the slow part
(model, FAISS, BM25), so it happens once; `ask` and `search` are then cheap and safe to
call from several threads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from langchain_core.language_models.chat_models import BaseChatModel

from index.archive import ArchiveIndex, IndexInfo
from index.chunker import ChunkSettings
from index.embedder import Embedder
from index.errors import ArchiveQAError
from qa.answer.extractive import REFUSAL, ExtractiveAnswerer
from qa.response import Answer, Citation, Filters, Passage, Timings
from qa.retrieval.decompose import LLMDecomposer
from qa.retrieval.retriever import ArchiveRetriever, Hit, HybridSearcher, Mode, SearchParams
from qa.settings import Settings, get_settings


class QuestionError(ArchiveQAError, ValueError):
    """The question itself is unusable (empty, too long)."""


class DecomposeSettingsError(ArchiveQAError):
    """LLM decomposition was asked for without an LLM to do it."""


def llm_decomposer(llm: BaseChatModel | None, asked_by: str) -> LLMDecomposer:
    """The LLM's question splitter; a clear error when no generator LLM is configured."""
    if llm is None:
        raise DecomposeSettingsError(
            f"{asked_by} needs a generator LLM: set ARCHIVE_QA_GENERATOR=local or openai"
        )
    return LLMDecomposer(llm)


class Answerer(Protocol):
    """Turns a question and retrieved hits into answer text with numbered citations."""

    name: str

    def answer(self, question: str, hits: list[Hit]) -> tuple[str, list[Citation]]: ...


MAX_K = 50


def check_k(k: int | None) -> int | None:
    """How many paragraphs a caller may ask for (None: the setting's default)."""
    if k is not None and not 1 <= k <= MAX_K:
        raise QuestionError(f"k must be between 1 and {MAX_K}, not {k}")
    return k


def clean_question(question: str, max_chars: int) -> str:
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    q = " ".join("".join(ch if ch.isprintable() else " " for ch in question).split())
    if not q:
        raise QuestionError("the question is empty; type a question about the archive")
    if len(q) > max_chars:
        raise QuestionError(
            f"the question is {len(q):,} characters long; the limit is {max_chars:,}"
        )
    return q


def make_chat_model(settings: Settings) -> BaseChatModel | None:
    """The chat model the settings select (None for the extractive generator).

    A selected local model whose file is missing or damaged raises a clear error that
    says how to get it; the default (no generator set) never does, it falls back to
    extractive when there is no model file.
    """
    generator = settings.resolved_generator()
    if generator == "local":
        import os

        from qa.llm.fetch import check_model_file
        from qa.llm.local import LocalChatModel

        check_model_file(settings.llm_model_file)
        return LocalChatModel(
            model_path=settings.llm_model_file,
            n_ctx=settings.llm_ctx,
            threads=settings.llm_threads or os.cpu_count() or 2,
            max_tokens=settings.llm_max_tokens,
        )
    if generator == "openai":
        from qa.llm.openai import openai_chat_model

        return openai_chat_model(settings)
    return None


def open_index(settings: Settings, embedder: Embedder, build: Path | None = None) -> ArchiveIndex:
    """The live build under `settings.index_dir` (or the given build folder), verified
    against the embedder in use; with the milvus backend, the live Milvus build."""
    if settings.backend == "milvus":
        from qa.retrieval.milvus import open_milvus_index

        return open_milvus_index(settings.milvus_target(), embedder.name, embedder.dim, build)  # type: ignore[return-value]
    return ArchiveIndex.open(
        build or settings.index_dir,
        model_name=embedder.name,
        dim=embedder.dim,
        verify_checksums=settings.verify_checksums,
        nprobe=settings.ivf_nprobe,
    )


class QAService:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        index: ArchiveIndex,
        llm: BaseChatModel | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        searcher_class = HybridSearcher
        if getattr(index, "backend", "faiss") == "milvus":
            from qa.retrieval.milvus import MilvusSearcher as searcher_class
        self.searcher = searcher_class(
            index,
            embedder,
            SearchParams(
                fetch_k=settings.fetch_k,
                rrf_k=settings.rrf_k,
                dense_weight=settings.dense_weight,
                bm25_weight=settings.bm25_weight,
                max_chunks_per_article=settings.max_chunks_per_article,
                query_hints=settings.query_hints,
                decompose=settings.query_decompose,
                subquery_weight=settings.subquery_weight,
                merge=settings.subquery_merge,
            ),
        )
        if settings.reranker_path:
            from qa.retrieval.rerank import load_reranker

            self.searcher.reranker = load_reranker(settings.reranker_path)
            self.searcher.rerank_candidates = settings.rerank_candidates
        if settings.query_decompose_llm:
            self.searcher.decomposer = llm_decomposer(llm, "ARCHIVE_QA_QUERY_DECOMPOSE_LLM")
        self.answerer: Answerer = ExtractiveAnswerer(
            embedder,
            index.store,
            ChunkSettings(**index.manifest.chunking),
            max_quotes=settings.max_quotes,
        )
        self.llm = llm
        self.chain = None
        if llm is not None:
            from qa.answer.chain import AnswerChain, ParagraphLocator

            self.chain = AnswerChain(
                llm,
                self.searcher,
                ParagraphLocator(index.store, ChunkSettings(**index.manifest.chunking)),
                k=settings.llm_k,
                paragraph_words=settings.llm_paragraph_words,
                min_relevance=settings.min_relevance,
                verdict_margin=settings.verdict_margin
                if settings.resolved_verdict() == "calibrated"
                else None,
            )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> QAService:
        settings = settings or get_settings()
        embedder = settings.load_embedder()
        index = open_index(settings, embedder)
        return cls(settings, embedder, index, make_chat_model(settings))

    def with_index(self, index: ArchiveIndex) -> QAService:
        """The same model and generator over another build (a server switching to a new
        build keeps its loaded models; only the index is opened)."""
        return type(self)(self.settings, self.embedder, index, self.llm)

    @property
    def generator(self) -> str:
        if self.llm is None:
            return self.answerer.name
        kind = getattr(self.llm, "_llm_type", "")
        return {"llama.cpp": "local", "openai-chat": "openai"}.get(kind, kind or "llm")

    def retriever(
        self, k: int | None = None, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> ArchiveRetriever:
        """This index as a LangChain retriever."""
        return ArchiveRetriever(
            searcher=self.searcher, k=k or self.settings.k, filters=filters, mode=mode
        )

    def search(
        self, query: str, k: int | None = None, filters: Filters | None = None
    ) -> list[Passage]:
        query = clean_question(query, self.settings.max_question_chars)
        result = self.searcher.search(query, check_k(k) or self.settings.k, filters)
        return [_passage(i, h) for i, h in enumerate(result.hits, start=1)]

    def stream(
        self,
        question: str,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[tuple[str, str]] | None = None,
    ) -> Iterator[str | Answer]:
        """Yield answer text pieces as they are produced, then the final `Answer` last.

        An LLM generator yields tokens as the model writes them (markers still in the
        model's numbering; the quotes section is held back); the extractive answerer
        has its text at once and yields one piece. Citations, renumbered and verified,
        are only final in the closing `Answer`: show its `answer` text in the end.
        """
        question = clean_question(question, self.settings.max_question_chars)
        k = check_k(k)
        if self.chain is None:
            answer = self._ask_extractive(question, k, filters, history)
            yield answer.answer
            yield answer
            return
        filters = filters or Filters()
        t0 = time.perf_counter()
        out = None
        # The model's context holds at most llm_k paragraphs, whatever k was asked for.
        llm_k = min(k, self.settings.llm_k) if k else None
        for item in self.chain.stream(question, history, llm_k, filters):
            if isinstance(item, str):
                yield item
            else:
                out = item
        assert out is not None
        yield self._llm_answer(out, filters, time.perf_counter() - t0)

    def ask(
        self,
        question: str,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[tuple[str, str]] | None = None,
    ) -> Answer:
        """Answer one question. `history` is the earlier (question, answer) turns of a
        chat; an LLM generator rewrites a follow-up into a standalone question with it
        before retrieving (the extractive answerer cannot, and ignores it)."""
        answer = None
        for item in self.stream(question, k=k, filters=filters, history=history):
            answer = item
        assert isinstance(answer, Answer)
        return answer

    def _llm_answer(self, out, filters: Filters, seconds: float) -> Answer:
        r = out.resolved
        text, citations, refused = r.answer, r.citations, r.refused
        notes = list(out.result.notes) + list(r.notes)
        verified, unverified = r.verified, r.unverified
        if not refused and not citations:
            # Never show an uncited claim: fall back to quoting the archive. A closed
            # question keeps the model's verdict in front of the quotes it was read from.
            text, citations = self.answerer.answer(out.standalone, out.result.hits)
            refused = not citations
            verified, unverified = len(citations), 0
            if r.verdict and citations:
                text = f"{r.verdict} — {text}"
                notes.append(
                    f"the model answered {r.verdict!r} but cited no paragraph for it: showing "
                    "quoted sentences from the paragraphs it read instead of its explanation"
                )
            else:
                notes.append("showing quoted sentences instead of the model's uncited answer")
        related = _related(out.result.hits, citations)
        t = out.timings
        return Answer(
            question=out.question,
            answer=text,
            refused=refused,
            citations=citations,
            related=related,
            notes=notes,
            filters=filters,
            generator=self.generator,
            timings=Timings(
                retrieve_ms=round(t.get("retrieve_ms", 0.0), 1),
                generate_ms=round(t.get("generate_ms", 0.0), 1),
                total_ms=round(seconds * 1000, 1),
                rewrite_ms=round(t.get("rewrite_ms", 0.0), 1),
                verdict_ms=round(t.get("verdict_ms", 0.0), 1),
                first_token_ms=None
                if t.get("first_token_ms") is None
                else round(t["first_token_ms"], 1),
            ),
            model=self.chain.model_name if self.chain else None,
            standalone_question=out.standalone if out.standalone != out.question else None,
            verdict=None if refused else r.verdict,
            verdict_logodds=None if refused or out.verdict is None else out.verdict.logodds,
            verified_citations=verified,
            unverified_citations=unverified,
        )

    def _ask_extractive(
        self,
        question: str,
        k: int | None,
        filters: Filters | None,
        history: Sequence[tuple[str, str]] | None,
    ) -> Answer:
        t0 = time.perf_counter()
        filters = filters or Filters()
        result = self.searcher.search(question, k or self.settings.k, filters)
        t1 = time.perf_counter()
        notes = list(result.notes)
        if history:
            notes.append("the extractive answerer does not use the chat history")
        weak = result.too_weak(self.settings.min_relevance)
        refused = weak is not None
        if weak is not None:
            text, citations = REFUSAL, []
            notes += weak
        else:
            text, citations = self.answerer.answer(question, result.hits)
            refused = not citations
        t2 = time.perf_counter()
        related = _related(result.hits, citations)
        return Answer(
            question=question,
            answer=text,
            refused=refused,
            citations=citations,
            related=related,
            notes=notes,
            filters=filters,
            generator=self.answerer.name,
            timings=Timings(
                retrieve_ms=round((t1 - t0) * 1000, 1),
                generate_ms=round((t2 - t1) * 1000, 1),
                total_ms=round((t2 - t0) * 1000, 1),
            ),
            verified_citations=len(citations),
        )

    def info(self) -> IndexInfo:
        return self.index.info()

    def close(self) -> None:
        self.index.close()


def _related(hits: list[Hit], citations: list[Citation]) -> list[Passage]:
    """Retrieved paragraphs the answer did not cite, for "see also" lists."""
    cited = {c.chunk_id for c in citations}
    return [_passage(i, h) for i, h in enumerate(hits, start=1) if h.chunk.chunk_id not in cited]


def _passage(rank: int, hit: Hit) -> Passage:
    c = hit.chunk
    return Passage(
        rank=rank,
        chunk_id=c.chunk_id,
        article_id=c.article_id,
        title=c.title,
        source=c.source,
        date=c.date,
        url=c.url,
        paragraphs=list(range(c.para_start, c.para_end + 1)),
        text=c.text,
        score=round(hit.score, 6),
        dense_score=None if hit.dense is None else round(hit.dense, 4),
        bm25_score=None if hit.bm25 is None else round(hit.bm25, 4),
    )
