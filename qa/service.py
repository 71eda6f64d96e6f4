"""The question-answering service: one loaded index + model, answering many questions.

This is the one object the CLI, the page, the API and Python callers hold
(`qa.open_archive` returns it). Loading is the slow part (model, FAISS, BM25), so it
happens once; `ask` and `search` are then cheap and safe to call from several threads.
Every `Answer` it returns is assembled in one place, `_assemble`, whichever generator
wrote it and whichever front end asked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableLambda

from index.archive import ArchiveIndex, IndexInfo
from index.chunker import ChunkSettings
from index.embedder import Embedder
from qa.answer import development
from qa.answer.extractive import REFUSAL, ExtractiveAnswerer
from qa.answer.followup import standalone
from qa.answer.llm_reader import SentenceReader, SentenceReply, choose_sentences, written_in
from qa.answer.question import analyze
from qa.answer.reader import Reading
from qa.answer.statements import (
    MAX_SPEAKERS,
    STATEMENT_FLOOR,
    FoundStatement,
    StatementFinder,
    by_speaker,
    compose,
    described_as,
    not_the_addressee,
    parse_quote_question,
    quote_of,
    relevant,
    speaker_label,
)
from qa.errors import QuestionError
from qa.llm.factory import make_chat_model
from qa.response import (
    Answer,
    Citation,
    Filters,
    Passage,
    Quote,
    StoryCopy,
    TimeRange,
    Timings,
)
from qa.retrieval import events
from qa.retrieval.conversation import previous_articles, with_context
from qa.retrieval.decompose import llm_decomposer
from qa.retrieval.retriever import (
    ArchiveRetriever,
    Hit,
    HybridSearcher,
    Mode,
    Reranker,
    SearchParams,
)
from qa.settings import Settings, get_settings

if TYPE_CHECKING:
    from qa.answer.chain import Statements

MAX_K = 50


def check_k(k: int | None) -> int | None:
    """How many paragraphs a caller may ask for (None: the setting's default)."""
    if k is not None and not 1 <= k <= MAX_K:
        raise QuestionError(f"k must be between 1 and {MAX_K}, not {k}")
    return k


def check_now(now: str | None) -> str | None:
    """A reference date given by a caller or the settings: an ISO day, else a clear error."""
    if now is None or not str(now).strip():
        return None
    from datetime import date

    try:
        return date.fromisoformat(str(now).strip()[:10]).isoformat()
    except ValueError:
        raise QuestionError(f"now {now!r} is not a date (use YYYY-MM-DD)") from None


def time_range(plan: Any, reference: str) -> TimeRange | None:
    """The answer's account of the dates it used (None: the question named no time)."""
    hint = getattr(plan, "time", None)
    if hint is None:
        return None
    return TimeRange(
        since=hint.since,
        until=hint.until,
        order=hint.order,
        phrase=hint.phrase,
        reference_date=reference,
    )


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


def check_content(question: str, history: Sequence[tuple[str, str]] | None = None) -> None:
    """A question must name something to look for, unless it follows an earlier turn
    ("Who is he?" after an answer is a fine follow-up; alone it is not)."""
    if history or _has_content_word(question):
        return
    refs = [w for w in re.findall(r"\w+", question) if w.lower() in _REFERRING]
    if refs:
        names = ", ".join(f"'{w}'" for w in refs)
        raise QuestionError(
            f"{question!r} refers to an earlier answer ({names}) but there is none; "
            "name who or what you mean"
        )
    raise QuestionError(
        f"{question!r} names nothing to look for; ask about a person, place, event or topic"
    )


_REFERRING = {
    "he",
    "she",
    "him",
    "her",
    "his",
    "they",
    "them",
    "their",
    "it",
    "its",
    "that",
    "this",
    "there",
}


def _has_content_word(text: str) -> bool:
    """Any word that is not a function word or a question word ("what?" has none)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    words = re.findall(r"\w+", text.lower())
    return any(w not in STOP_WORDS for w in words)


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


def search_params(settings: Settings) -> SearchParams:
    return SearchParams(
        fetch_k=settings.fetch_k,
        rrf_k=settings.rrf_k,
        dense_weight=settings.dense_weight,
        bm25_weight=settings.bm25_weight,
        max_chunks_per_article=settings.max_chunks_per_article,
        query_hints=settings.query_hints,
        time_hints=settings.query_time_hints,
        decompose=settings.query_decompose,
        subquery_weight=settings.subquery_weight,
        merge=settings.subquery_merge,
    )


def load_reranker(settings: Settings) -> Reranker | None:
    """The cross-encoder the settings name, or None (reranking is off by default)."""
    if not settings.reranker_path:
        return None
    from qa.retrieval.rerank import load_reranker as load

    return load(settings.reranker_path)


class QAService:
    """An opened archive: `ask`, `stream`, `search`, `retriever()`, `as_runnable()`.

    Its parts are given at construction: the settings, the embedder, the opened index,
    the generator's chat model (None: extractive) and an optional reranker. The
    searcher, the extractive answerer (also the LLM's fallback) and the LLM chain are
    built from them here, once.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        index: ArchiveIndex,
        llm: BaseChatModel | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.llm = llm
        self.reranker = reranker
        decomposer = (
            llm_decomposer(llm, "ARCHIVE_QA_QUERY_DECOMPOSE_LLM")
            if settings.query_decompose_llm
            else None
        )
        searcher_class = HybridSearcher
        if getattr(index, "backend", "faiss") == "milvus":
            from qa.retrieval.milvus import MilvusSearcher as searcher_class
        self.searcher = searcher_class(
            index,
            embedder,
            search_params(settings),
            reranker=reranker,
            rerank_candidates=settings.rerank_candidates,
            decomposer=decomposer,
        )
        self.searcher.now = check_now(settings.now)
        chunking = ChunkSettings(**index.manifest.chunking)
        self.statements = StatementFinder(index.store, self.searcher, embedder, chunking)
        self.answerer = ExtractiveAnswerer(
            embedder, index.store, chunking, max_quotes=settings.max_quotes
        )
        self.chain = None
        self.sentence_reader: SentenceReader | None = None
        if llm is not None:
            self.sentence_reader = SentenceReader(llm)
            from qa.answer.chain import AnswerChain, ParagraphLocator

            self.chain = AnswerChain(
                llm,
                self.searcher,
                ParagraphLocator(index.store, chunking),
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
        try:
            return cls(
                settings, embedder, index, make_chat_model(settings), load_reranker(settings)
            )
        except BaseException:
            index.close()
            raise

    def with_index(self, index: ArchiveIndex) -> QAService:
        """The same model and generator over another build (a server switching to a new
        build keeps its loaded models; only the index is opened)."""
        return type(self)(self.settings, self.embedder, index, self.llm, self.reranker)

    def __enter__(self) -> QAService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def as_runnable(self) -> Runnable:
        """The whole service as one LangChain `Runnable` whose output is the same `Answer`
        as `ask` gives (the "never an uncited claim" fallback included). Input: the
        question as a string, or {"question", "history"?, "k"?, "filters"?}. For tokens as
        they are written, use `stream`."""

        def answer(inputs: str | dict[str, Any]) -> Answer:
            if isinstance(inputs, str):
                return self.ask(inputs)
            filters = inputs.get("filters")
            if isinstance(filters, dict):
                filters = Filters(**filters)
            return self.ask(
                inputs["question"],
                k=inputs.get("k"),
                filters=filters,
                history=inputs.get("history"),
            )

        return RunnableLambda(answer, name="archive-qa")

    def search(
        self, query: str, k: int | None = None, filters: Filters | None = None
    ) -> list[Passage]:
        query = clean_question(query, self.settings.max_question_chars)
        check_content(query)
        result = self.searcher.search(query, check_k(k) or self.settings.k, filters)
        passages = [self._with_copies(_passage(i, h)) for i, h in enumerate(result.hits, start=1)]
        return self._with_reports(passages, result.hits)

    def timeline(self, query: str = "", by: str = "month", filters: Filters | None = None) -> Any:
        """Matching articles per period and outlet (`qa.timeline`); "" charts the archive."""
        from qa.timeline import build_timeline

        if query and query.strip() not in ("", "*"):
            query = clean_question(query, self.settings.max_question_chars)
        return build_timeline(self.searcher, query, by, filters)  # type: ignore[arg-type]

    def stream(
        self,
        question: str,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[tuple[str, str]] | None = None,
        now: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield answer text pieces as they are produced, then the final `Answer` last.

        An LLM generator yields tokens as the model writes them (markers still in the
        model's numbering; the quotes section is held back); the extractive answerer
        has its text at once and yields one piece. Citations, renumbered and verified,
        are only final in the closing `Answer`: show its `answer` text in the end.
        """
        question = clean_question(question, self.settings.max_question_chars)
        check_content(question, history)
        k = check_k(k)
        now = check_now(now)
        filters = filters or Filters()
        told = self._development(question, filters, history, now)
        if told is not None:  # "How did coverage of X develop?": a dated list, any generator
            yield told.answer
            yield told
            return
        if self.chain is None:
            answer = self._extractive(question, k, filters, history, now)
            yield answer.answer
            yield answer
            return
        if self.settings.llm_evidence == "sentences" and not self._asks_who_said(
            question, history, filters
        ):
            yield from self._sentences(question, k, filters, history, now)
            return
        yield from self._paragraphs(question, k, filters, history)

    def _paragraphs(
        self,
        question: str,
        k: int | None,
        filters: Filters,
        history: Sequence[tuple[str, str]] | None,
        notes: Sequence[str] = (),
    ) -> Iterator[str | Answer]:
        """The chain's answer: the model reads paragraphs (or a who-said question's
        statements) and writes the answer; its citations are verified after."""
        assert self.chain is not None
        t0 = time.perf_counter()
        out = None
        # The model's context holds at most llm_k paragraphs, whatever k was asked for.
        llm_k = min(k, self.settings.llm_k) if k else None
        said = partial(self._statement_evidence, filters=filters)
        for item in self.chain.stream(question, history, llm_k, filters, statements=said):
            if isinstance(item, str):
                yield item
            else:
                out = item
        assert out is not None
        answer = self._from_chain(out, filters, time.perf_counter() - t0)
        if notes:
            answer = answer.model_copy(update={"notes": [*notes, *answer.notes]})
        yield answer

    def ask(
        self,
        question: str,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[tuple[str, str]] | None = None,
        now: str | None = None,
    ) -> Answer:
        """Answer one question. `history` is the earlier (question, answer) turns of a
        chat; an LLM generator rewrites a follow-up into a standalone question with it
        before retrieving; without one, references ("he", "that", "the company") are
        resolved from the previous turn (`qa.answer.followup`)."""
        answer = None
        for item in self.stream(question, k=k, filters=filters, history=history, now=now):
            answer = item
        assert isinstance(answer, Answer)
        return answer

    def _asks_who_said(
        self, question: str, history: Sequence[tuple[str, str]] | None, filters: Filters
    ) -> bool:
        """Whether a who-said question has statements to read: the model then reads those
        (the chain's path), not sentences."""
        if not self.statements.available:
            return False
        return bool(self._statements_for(standalone(question, history).question, filters))

    def _sentences(
        self,
        question: str,
        k: int | None,
        filters: Filters,
        history: Sequence[tuple[str, str]] | None,
        now: str | None,
    ) -> Iterator[str | Answer]:
        """An LLM answer from the reader's sentences (`qa.answer.llm_reader`): the same
        follow-up rewrite, retrieval and reading as the extractive answer, then the model
        says whether the shown sentences answer the question, with what, citing which."""
        assert self.chain is not None and self.sentence_reader is not None
        t0 = time.perf_counter()
        rewrite = standalone(question, history)
        searched = rewrite.question
        read_k = k or max(self.settings.k, self.settings.reader_k)
        result = self.searcher.search(searched, read_k, filters, now=now)
        notes = rewrite.notes + list(result.notes)
        hits = result.hits
        declined = result.too_weak(self.settings.min_relevance)
        if declined is None:
            declined = self.chain.unknown_names_note(searched, result)
        shown: list = []
        if declined is None:
            hits, reading = self._read(searched, hits, rewrite, history, filters)
            if not reading.answerable or reading.analysis.kind == "yesno":
                # No one sentence holds the question's names, numbers and years (a
                # question that joins several articles, or one the archive cannot
                # answer), or a yes/no question (a verdict over the evidence, which the
                # chain decides from the model's probabilities): the model reads the
                # paragraphs, with the chain's own refusals, instead of sentences.
                why = (
                    "a yes/no question"
                    if reading.analysis.kind == "yesno"
                    else "no single sentence holds what the question names"
                )
                yield from self._paragraphs(
                    question, k, filters, history, [f"{why}: the model read paragraphs"]
                )
                return
            else:
                shown = choose_sentences(reading, self.settings.llm_sentences)
                declined = None if shown else ["no sentence in the retrieved paragraphs"]
        t1 = time.perf_counter()
        timings = {"retrieve_ms": round((t1 - t0) * 1000, 1)}
        fields: dict[str, Any] = {
            "standalone_question": searched if rewrite.changed else None,
            "time_range": time_range(result.plan, self.searcher.reference_date(now)),
            "model": self.chain.model_name,
        }
        if declined is not None:
            yield REFUSAL
            ms = round((time.perf_counter() - t0) * 1000, 1)
            yield self._assemble(
                question=question,
                text=REFUSAL,
                citations=[],
                refused=True,
                hits=hits,
                notes=notes + declined,
                filters=filters,
                timings=Timings(**timings, total_ms=ms),
                **fields,
            )
            return
        reply: SentenceReply | None = None
        first: float | None = None
        streamed = ""
        for item in self.sentence_reader.stream(shown, searched):
            if isinstance(item, str):
                first = first or time.perf_counter()
                streamed += item
                yield item
            else:
                reply = item
        assert reply is not None
        t2 = time.perf_counter()
        first = first or (t2 if reply.raw else None)
        notes += reply.notes
        text, citations, short = REFUSAL, [], None
        cited = written_in(reply.answer, shown, reply.cited) if reply.found else []
        written = bool(cited)
        if written and cited != reply.cited:
            notes.append(
                f"{reply.answer!r} is written in a sentence other than those cited: cited it"
            )
            reply = replace(reply, cited=cited)
        if reply.found and reply.cited and not written and reading.analysis.wants_entity:
            # A name, number or date the cited sentences do not write is the model's own.
            notes.append(
                f"the model answered {reply.answer!r}, which the sentences it cited do not "
                "write: declined"
            )
        elif reply.found and reply.cited:
            evidence = [c.sentence for c in reply.cited]
            text, citations = self.answerer.compose(
                replace(reading, evidence=evidence, short_answer=reply.answer)
            )
            short = reply.answer if written else None
            if short is None:
                notes.append(
                    "the short answer is the model's wording; the quotes are the archive's"
                )
        elif reply.found:
            notes.append("the model answered but cited no sentence it was shown: declined")
        else:
            notes.append("the model found no shown sentence that answers the question")
        rest = text[len(streamed) :] if text.startswith(streamed) else text
        if rest:
            yield rest if text.startswith(streamed) else f"\n{text}"
        yield self._assemble(
            question=question,
            text=text,
            citations=citations,
            refused=not citations,
            hits=hits,
            notes=notes,
            filters=filters,
            timings=Timings(
                **timings,
                generate_ms=round((t2 - t1) * 1000, 1),
                total_ms=round((time.perf_counter() - t0) * 1000, 1),
                first_token_ms=None if first is None else round((first - t0) * 1000, 1),
            ),
            short_answer=short,
            verified_citations=len(citations),
            unverified_citations=0,
            **fields,
        )

    def _from_chain(self, out, filters: Filters, seconds: float) -> Answer:
        r = out.resolved
        text, citations, refused = r.answer, r.citations, r.refused
        notes = list(out.result.notes) + list(r.notes)
        verified, unverified = r.verified, r.unverified
        if not refused and not citations:
            # Never show an uncited claim: fall back to quoting the archive. A closed
            # question keeps the model's verdict in front of the quotes it was read from.
            text, citations = self.answerer.answer(out.standalone, out.result.hits, decline=False)
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
        t = out.timings
        first = t.get("first_token_ms")
        return self._assemble(
            question=out.question,
            text=text,
            citations=citations,
            refused=refused,
            hits=out.result.hits,
            notes=notes,
            filters=filters,
            timings=Timings(
                retrieve_ms=round(t.get("retrieve_ms", 0.0), 1),
                generate_ms=round(t.get("generate_ms", 0.0), 1),
                total_ms=round(seconds * 1000, 1),
                rewrite_ms=round(t.get("rewrite_ms", 0.0), 1),
                verdict_ms=round(t.get("verdict_ms", 0.0), 1),
                first_token_ms=None if first is None else round(first, 1),
            ),
            model=self.chain.model_name if self.chain else None,
            standalone_question=out.standalone if out.standalone != out.question else None,
            verdict=None if refused else r.verdict,
            verdict_logodds=None if refused or out.verdict is None else out.verdict.logodds,
            verified_citations=verified,
            unverified_citations=unverified,
            time_range=time_range(out.result.plan, self.searcher.reference_date()),
        )

    def _extractive(
        self,
        question: str,
        k: int | None,
        filters: Filters,
        history: Sequence[tuple[str, str]] | None,
        now: str | None = None,
    ) -> Answer:
        t0 = time.perf_counter()
        rewrite = standalone(question, history)
        searched = rewrite.question
        if not analyze(searched).english:
            note = "the question does not look like English; the archive is read in English"
            return self._assemble(
                question=question,
                text=REFUSAL,
                citations=[],
                refused=True,
                hits=[],
                notes=[note],
                filters=filters,
                timings=Timings(total_ms=round((time.perf_counter() - t0) * 1000, 1)),
            )
        said = self._who_said(question, searched, filters, rewrite.notes, t0)
        if said is not None:
            return said
        read_k = k or max(self.settings.k, self.settings.reader_k)
        result = self.searcher.search(searched, read_k, filters, now=now)
        t1 = time.perf_counter()
        notes = rewrite.notes + list(result.notes)
        weak = result.too_weak(self.settings.min_relevance)
        text, citations, short = REFUSAL, [], None
        hits = result.hits
        if weak is not None:
            notes += weak
        else:
            hits, reading = self._read(searched, hits, rewrite, history, filters)
            notes += reading.notes
            if reading.answerable:
                text, citations = self.answerer.compose(reading)
                short = reading.short_answer
        t2 = time.perf_counter()
        return self._assemble(
            question=question,
            text=text,
            citations=citations,
            refused=weak is not None or not citations,
            hits=hits,
            notes=notes,
            filters=filters,
            timings=Timings(
                retrieve_ms=round((t1 - t0) * 1000, 1),
                generate_ms=round((t2 - t1) * 1000, 1),
                total_ms=round((t2 - t0) * 1000, 1),
            ),
            short_answer=short,
            standalone_question=searched if rewrite.changed else None,
            time_range=time_range(result.plan, self.searcher.reference_date(now)),
        )

    def _read(
        self,
        searched: str,
        hits: list[Hit],
        rewrite: Any,
        history: Sequence[tuple[str, str]] | None,
        filters: Filters,
    ) -> tuple[list[Hit], Reading]:
        """The reader over the hits; a rewritten follow-up also reads the previous
        answer's articles and does not take the previous answer for its own."""
        context: list[str] = []
        if history and rewrite.changed:
            context = previous_articles(self.searcher, history[-1][1], filters)
            hits = with_context(self.searcher, searched, hits, context, filters)
        known = [rewrite.previous_answer] if history and rewrite.previous_answer else []
        return hits, self.answerer.read(searched, hits, context=context, known=known)

    def _development(
        self,
        question: str,
        filters: Filters,
        history: Sequence[tuple[str, str]] | None,
        now: str | None,
    ) -> Answer | None:
        """A how-did-it-develop question told as a dated list of cited paragraphs, one per
        period (`qa.answer.development`); None for any other question."""
        t0 = time.perf_counter()
        rewrite = standalone(question, history) if history else None
        searched = rewrite.question if rewrite else question
        told = development.tell(
            searched, self.searcher, self.answerer, filters, self.settings.min_relevance, now
        )
        if told is None:
            return None
        ms = round((time.perf_counter() - t0) * 1000, 1)
        return self._assemble(
            question=question,
            text=REFUSAL if told.refused else told.text,
            citations=told.citations,
            refused=told.refused,
            hits=told.hits,
            notes=(rewrite.notes if rewrite else []) + told.notes,
            filters=filters,
            timings=Timings(retrieve_ms=ms, total_ms=ms),
            standalone_question=searched if searched != question else None,
            time_range=told.time_range,
        )

    def quotes(
        self,
        query: str = "",
        speaker: str | None = None,
        filters: Filters | None = None,
        limit: int = 20,
    ) -> list[Quote]:
        """Attributed statements about `query` and/or by `speaker`, best first."""
        query = clean_question(query, self.settings.max_question_chars) if query.strip() else ""
        speaker = " ".join((speaker or "").split()) or None
        if not query and not speaker:
            raise QuestionError("give a query, a speaker, or both")
        if not 1 <= limit <= 200:
            raise QuestionError(f"limit must be between 1 and 200, not {limit}")
        found = self.statements.find(query, speaker, filters, limit=limit)
        return [quote_of(f, self.statements.citation(f, n)) for n, f in enumerate(found, 1)]

    def _statements_for(self, searched: str, filters: Filters) -> list[FoundStatement]:
        """A who-said question's statements: each speaker's best about the topic, or the
        named speaker's; [] for any other question or an index without statements."""
        asked = parse_quote_question(searched)
        if asked is None or not self.statements.available:
            return []
        found = self.statements.find(
            asked.topic, asked.speaker, filters, asked.verb, limit=50, search=asked.search_text
        )
        if asked.role_head:
            rows = [f.statement.row for f in found]
            texts = {r: c.text for r, c in self.statements.store.chunks_by_rows(rows).items()}
            found = described_as(found, asked.role_head, texts)
        if asked.topic and asked.speaker is None:
            found = not_the_addressee(found, asked.topic)
        if asked.topic:
            found = relevant(found, STATEMENT_FLOOR)
        return by_speaker(found) if asked.speaker is None else found[:MAX_SPEAKERS]

    def _statement_evidence(self, searched: str, filters: Filters) -> Statements | None:
        """What an LLM reads for a who-said question: its statements, each as the line
        the extractive list would show, in the paragraph that holds it. None: not one."""
        from qa.answer.chain import Statements

        listed = self._statements_for(searched, filters)
        if not listed:
            return None
        chunks = self.statements.store.chunks_by_rows([f.statement.row for f in listed])
        items = []
        for f in listed:
            s = f.statement
            line = f"{speaker_label(s)}, {s.verb}: “{s.statement}”"
            items.append((Hit(chunks[s.row], f.score, f.score, None), line))
        return Statements(items)

    def _who_said(
        self, question: str, searched: str, filters: Filters, notes: list[str], t0: float
    ) -> Answer | None:
        """A who-said question answered as a list of speakers (None: not one, or no
        statement fits, and the reader answers as for any question)."""
        listed = self._statements_for(searched, filters)
        if not listed:
            return None
        citations = [self.statements.citation(f, n) for n, f in enumerate(listed, 1)]
        t1 = time.perf_counter()
        return self._assemble(
            question=question,
            text=compose(listed, citations),
            citations=citations,
            refused=False,
            hits=[],
            notes=[*notes, f"answered from {len(listed)} attributed statements"],
            filters=filters,
            timings=Timings(
                retrieve_ms=round((t1 - t0) * 1000, 1), total_ms=round((t1 - t0) * 1000, 1)
            ),
            standalone_question=searched if searched != question else None,
        )

    def _assemble(
        self,
        *,
        question: str,
        text: str,
        citations: list[Citation],
        refused: bool,
        hits: list[Hit],
        notes: list[str],
        filters: Filters,
        timings: Timings,
        **generator_fields: Any,
    ) -> Answer:
        """The one place an `Answer` is made: the fields every generator shares, the
        retrieved paragraphs it did not cite as `related`, and what only an LLM sets."""
        fields: dict[str, Any] = {"verified_citations": len(citations), **generator_fields}
        cited = self._with_reports([self._with_copies(c) for c in citations], hits)
        related = self._with_reports(
            [self._with_copies(p) for p in _related(hits, citations)], hits
        )
        return Answer(
            question=question,
            answer=text,
            refused=refused,
            citations=cited,
            related=related,
            notes=notes,
            filters=filters,
            generator=self.generator,
            timings=timings,
            **fields,
        )

    def _with_copies(self, item: Any) -> Any:
        """A citation or passage with the other copies of its story ("also published by")."""
        others = self.searcher.stories.others(item.article_id)
        if not others:
            return item
        copies = []
        for aid in others:
            a = self.index.store.article(aid)
            if a is not None:
                copies.append(
                    StoryCopy(
                        article_id=a.id, title=a.title, source=a.source, date=a.date, url=a.url
                    )
                )
        return item.model_copy(update={"also_published_by": copies})

    def _with_reports(self, items: list[Any], hits: list[Hit]) -> list[Any]:
        """Citations or passages with the other outlets' retrieved paragraphs that report
        the same thing ("reported by N outlets", `qa.retrieval.events`)."""
        return events.with_reports(items, hits, self.index, self.embedder, self.searcher.stories)

    def info(self) -> IndexInfo:
        return self.index.info()

    def close(self) -> None:
        self.index.close()


def open_archive(
    index_dir: str | Path | None = None, *, settings: Settings | None = None, **overrides: Any
) -> QAService:
    """Open a built index for questions: the public entry point of the Python API.

    The settings are the environment's (`ARCHIVE_QA_*`) unless given; keyword overrides
    (`generator="local"`, `k=8`, ...) are validated like the environment, so a typo fails
    instead of being ignored. Close it when done, or use it as a context manager.
    """
    settings = settings or get_settings()
    update = {name: value for name, value in overrides.items() if value is not None}
    if index_dir is not None:
        update["index_dir"] = index_dir
    unknown = sorted(set(update) - set(type(settings).model_fields))
    if unknown:
        raise TypeError(f"open_archive() got unknown settings: {', '.join(unknown)}")
    if update:
        settings = type(settings).model_validate({**settings.model_dump(), **update})
    return QAService.from_settings(settings)


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
