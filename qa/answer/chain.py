"""The LLM answer chain: rewrite a follow-up → retrieve → prompt → model → verify.

The model-facing steps are plain LCEL runnables (`REWRITE_PROMPT | llm | parser`,
`ANSWER_PROMPT | llm | parser`), so any LangChain chat model fits. `AnswerChain.stream`
strings them together so the caller gets tokens as they are generated and the checked
citations when the answer is complete. The service turns its output into the `Answer`
(`QAService.as_runnable()` is the public LangChain `Runnable`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from index.chunker import ChunkSettings, paragraph_at
from index.store import ChunkStore
from qa.answer.citations import QUOTES_HEADER, REFUSAL, Resolved, Shown, resolve
from qa.answer.form import (
    YES_NO,
    AnswerForm,
    lead_instruction,
    mentions,
    normalize_name,
    question_form,
    question_names,
)
from qa.answer.prompt import (
    ANSWER_PROMPT,
    PREFILLED_ANSWER_PROMPT,
    REWRITE_PROMPT,
    format_history,
    format_paragraph,
    trim_paragraph,
)
from qa.answer.verdict import TOP_LOGPROBS, Verdict, decide, first_token_logprobs
from qa.errors import ArchiveQAError, GeneratorError
from qa.response import Citation, Filters
from qa.retrieval.hints import QueryPlan
from qa.retrieval.retriever import Hit, HybridSearcher, SearchResult

log = logging.getLogger(__name__)


# What the model is told when it reads attributed statements instead of paragraphs.
STATEMENT_RULES = (
    "Each numbered item is a statement from a news article, with who made it and the verb "
    "of saying. Name the speakers whose statements answer the question, quote their words "
    "and cite each with its number."
)


@dataclass(frozen=True)
class Statements:
    """A who-said question's evidence for the model: each statement's paragraph (as a
    hit) with the line the model is shown for it."""

    items: list[tuple[Hit, str]]


@dataclass
class ChainOutput:
    """What the chain produced, before the service wraps it into an `Answer`."""

    question: str
    standalone: str
    result: SearchResult
    resolved: Resolved
    raw: str = ""
    refused_by_retrieval: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    verdict: Verdict | None = None  # a closed question's verdict, when decided from probabilities


class ParagraphLocator:
    """Builds a `Citation` for a quote inside a retrieved chunk: the exact display
    paragraph of the article that holds it and the quote's offsets in that paragraph."""

    def __init__(self, store: ChunkStore, chunking: ChunkSettings) -> None:
        self.store = store
        self.chunking = chunking

    def citation(
        self, hit: Hit, n: int, start: int, end: int, match: str, score: float
    ) -> Citation:
        chunk = hit.chunk
        article = self.store.article(chunk.article_id)
        verified = start >= 0
        abs_start = chunk.start + (start if verified else 0)
        abs_end = chunk.start + (end if verified else 0)
        if article is None:  # cannot happen in a consistent index; degrade to the chunk
            para_no, p_start, p_end, text = chunk.para_start, chunk.start, chunk.end, chunk.text
        else:
            para_no, p_start, p_end = paragraph_at(article.text, abs_start, self.chunking)
            if verified:
                p_end = max(p_end, abs_end)
            text = article.text[p_start:p_end]
        return Citation(
            n=n,
            article_id=chunk.article_id,
            chunk_id=chunk.chunk_id,
            title=chunk.title,
            source=chunk.source,
            date=chunk.date,
            url=chunk.url,
            paragraph=para_no,
            text=text,
            quote=text[abs_start - p_start : abs_end - p_start] if verified else "",
            quote_start=abs_start - p_start if verified else -1,
            quote_end=abs_end - p_start if verified else -1,
            score=round(hit.score, 6),
            verified=verified,
            match=match,
        )


class AnswerFilter:
    """Passes streamed text through, minus the "Answer:" label and the quotes section
    (which is for verification, not for the reader)."""

    LABEL = re.compile(r"^\s*(?:\*\*)?\s*answer\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.I)

    def __init__(self) -> None:
        self.buf = ""
        self.started = False
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.buf += piece
        if not self.started:
            head = self.buf.lstrip()
            if len(head) < 10 and "answer:".startswith(head.lower()[: len("answer:")]):
                return ""  # might still become the label
            self.buf = self.LABEL.sub("", self.buf.lstrip(), count=1)
            self.started = True
        out = ""
        while "\n" in self.buf:
            line, self.buf = self.buf.split("\n", 1)
            if QUOTES_HEADER.match(line):
                self.stopped = True
                self.buf = ""
                return out
            out += line + "\n"
        # Hold back a tail that could still turn into "Quotes:".
        if self.buf and len(self.buf) < 12 and self.buf.strip().lower().startswith("q"):
            return out
        if self.buf and QUOTES_HEADER.match(self.buf):
            self.stopped = True
            self.buf = ""
            return out
        out, self.buf = out + self.buf, ""
        return out

    def flush(self) -> str:
        rest, self.buf = ("" if self.stopped else self.buf), ""
        return rest if not QUOTES_HEADER.match(rest) else ""


class AnswerChain:
    """History-aware retrieval and cited generation over one index with one chat model."""

    def __init__(
        self,
        llm: BaseChatModel,
        searcher: HybridSearcher,
        locator: ParagraphLocator,
        k: int = 4,
        paragraph_words: int = 120,
        min_relevance: float = 0.40,
        verdict_margin: float | None = None,
    ) -> None:
        """`verdict_margin` None: a closed question's verdict is the word the model writes
        first; a number: it is decided from the model's first-token probabilities, Yes
        only when its log-odds over No exceed this margin (see `qa.answer.verdict`)."""
        self.llm = llm
        self.searcher = searcher
        self.locator = locator
        self.k = k
        self.paragraph_words = paragraph_words
        self.min_relevance = min_relevance
        self.rewrite_chain: Runnable = REWRITE_PROMPT | llm | StrOutputParser()
        self.answer_chain: Runnable = ANSWER_PROMPT | llm | StrOutputParser()
        self.verdict_margin = verdict_margin
        self.verdict_chain: Runnable = ANSWER_PROMPT | llm.bind(
            max_tokens=1, logprobs=True, top_logprobs=TOP_LOGPROBS
        )
        self.prefilled_chain: Runnable = PREFILLED_ANSWER_PROMPT | llm | StrOutputParser()
        self._name_seen: dict[str, bool] = {}
        self._outlets = {
            f" {normalize_name(x)} "
            for alias, names in searcher.aliases.items()
            for x in (alias, *names)
        }

    @property
    def model_name(self) -> str:
        return str(getattr(self.llm, "model_name", None) or self.llm._llm_type)

    def standalone_question(self, question: str, history: Sequence[tuple[str, str]]) -> str:
        """The follow-up as a question that stands alone (the history-aware retriever
        pattern). Without history, the question itself."""
        if not history:
            return question
        out = self.rewrite_chain.invoke({"history": format_history(history), "question": question})
        line = next((ln.strip() for ln in out.strip().splitlines() if ln.strip()), "")
        line = re.sub(r"^(?:standalone question|question)\s*:\s*", "", line, flags=re.I)
        line = line.strip().strip("\"'“”")
        # A rewrite that is empty or rambles is worse than the raw follow-up.
        if not line or len(line) > 4 * len(question) + 200:
            return question
        return line

    def in_archive(self, name: str) -> bool:
        """Whether any article of the archive prints `name` (headline or text). BM25 on the
        name's words finds the candidate paragraphs; the name must occur in one as whole
        words."""
        key = normalize_name(name)
        if key not in self._name_seen:
            index = self.searcher.index
            rows = [row for row, _ in index.keyword_search(name, 50, None)]
            self._name_seen[key] = any(
                mentions(name, f"{c.title}\n{c.text}") for c in index.chunks(rows).values()
            )
            if len(self._name_seen) > 10_000:
                self._name_seen.pop(next(iter(self._name_seen)))
        return self._name_seen[key]

    def unknown_names(self, question: str, result: SearchResult) -> list[str]:
        """Names the question relies on that no article of the archive contains. Outlet
        names are left out (they rarely occur in article text), and so are words with
        digits or lower-case hyphen parts ("T21", "OpenAI-developed"): not names."""
        plan = result.plan
        skip = [(m.start, m.end) for m in plan.sources] if plan is not None else []
        out = []
        for name in question_names(question, skip):
            key = f" {normalize_name(name)} "
            if re.search(r"\d|-[a-z]", name) or any(key in o or o in key for o in self._outlets):
                continue
            if not self.in_archive(name):
                out.append(name)
        return out

    def unknown_names_note(self, question: str, result: SearchResult) -> list[str] | None:
        """Why the question is refused before the model when it relies on names no
        article prints (None: it does not)."""
        unknown = self.unknown_names(question, result)
        if not unknown:
            return None
        names = ", ".join(f"“{n}”" for n in unknown)
        return [f"the archive never mentions {names}: no paragraph can answer the question"]

    def decide_verdict(self, inputs: dict[str, str], form: AnswerForm) -> Verdict | None:
        """A yes/no question's verdict from the model's first-token probabilities (one
        one-token call; llama.cpp keeps the processed prompt for the answer that follows).
        None, and the model's own first word stands, when the verdict is not decided this
        way (questions that offer two words: no evidence it helps them), when the model
        gives no probabilities or the probe fails (an endpoint that rejects `logprobs`),
        or when it would rather start otherwise (a refusal)."""
        if self.verdict_margin is None or form.kind != "yesno":
            return None
        try:
            top = first_token_logprobs(self.verdict_chain.invoke(inputs))
        except ArchiveQAError:
            raise
        except Exception as exc:  # the answer call reports an endpoint that is really down
            log.warning("verdict probe failed, the model's own verdict stands: %s", exc)
            return None
        if top is None:
            return None
        return decide(top, form.lead_words, self.verdict_margin)

    def probe_verdict(self, question: str) -> Verdict | None:
        """What the verdict step sees for a yes/no `question`, decided with no margin: the
        same retrieval, paragraphs and prompt as `stream`, one token. None for a question
        the chain refuses before the model, one it does not read as yes/no, or one the model
        would not start with Yes or No. `eval verdict` fits the margin on these log-odds."""
        result, notes = self.retrieve(question, self.k, None)
        form = question_form(question)
        if notes is not None or form.kind != "yesno":
            return None
        _, inputs = self.prompt_inputs(question, result.hits, form)
        top = first_token_logprobs(self.verdict_chain.invoke(inputs))
        return None if top is None else decide(top, YES_NO, 0.0)

    def retrieve(
        self, question: str, k: int, filters: Filters | None
    ) -> tuple[SearchResult, list[str] | None]:
        """The `k` paragraphs to show, and why the question must be refused before the
        model (None when it need not). A pool twice the size is searched, so that every
        named outlet's best paragraph can get in."""
        result = self.searcher.search(question, 2 * k, filters, decompose=True)
        notes = result.too_weak(self.min_relevance)
        if notes is None:
            notes = self.unknown_names_note(question, result)
        return replace(result, hits=self.pick(question, result, k)), notes

    def prompt_inputs(
        self, question: str, hits: list[Hit], form: AnswerForm
    ) -> tuple[list[Shown], dict[str, str]]:
        """The shown paragraphs and the answer prompt's variables for them."""
        shown, paragraphs = self.shown(question, hits)
        return shown, {
            "paragraphs": paragraphs,
            "question": question,
            "rules": lead_instruction(form),
        }

    def pick(self, question: str, result: SearchResult, k: int) -> list[Hit]:
        """The `k` paragraphs to show: for a question that names outlets, each named
        outlet's best paragraph first (from the retrieved pool, else from the retriever's
        own per-outlet sub-query), then the rest in retrieval order."""
        pool = result.hits
        plan = result.plan
        chosen: list[Hit] = []
        for mention in plan.sources if plan is not None else []:
            wanted = set(mention.sources)
            if any(h.chunk.source in wanted for h in chosen):
                continue
            hit = next((h for h in pool if h.chunk.source in wanted and h not in chosen), None)
            if hit is None:
                sub = next(
                    (s for s in plan.subqueries[1:] if set(s.filters.sources or ()) == wanted),
                    None,
                )
                if sub is not None:
                    # Exactly this sub-query, not a new plan of its text.
                    alone = QueryPlan(sub.text, [sub])
                    extra = self.searcher.search(sub.text, 1, sub.filters, plan=alone).hits
                    hit = extra[0] if extra else None
            if hit is not None and len(chosen) < k:
                chosen.append(hit)
        ids = {h.chunk.chunk_id for h in chosen}
        for h in pool:
            if len(chosen) >= k:
                break
            if h.chunk.chunk_id not in ids:
                chosen.append(h)
                ids.add(h.chunk.chunk_id)
        rank = {h.chunk.chunk_id: i for i, h in enumerate(pool)}
        return sorted(chosen, key=lambda h: rank.get(h.chunk.chunk_id, len(pool)))

    def shown(self, question: str, hits: list[Hit]) -> tuple[list[Shown], str]:
        shown: list[Shown] = []
        blocks: list[str] = []
        for n, hit in enumerate(hits, start=1):
            c = hit.chunk
            text = trim_paragraph(c.text, question, self.paragraph_words)
            blocks.append(format_paragraph(n, c.title, c.source, c.date, text))
            shown.append(
                Shown(
                    n=n,
                    text=text,
                    chunk_text=c.text,
                    make_citation=_bind(self.locator, hit),
                )
            )
        return shown, "\n\n".join(blocks)

    def stream(
        self,
        question: str,
        history: Sequence[tuple[str, str]] | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        statements: Callable[[str], Statements | None] | None = None,
    ) -> Iterator[str | ChainOutput]:
        """Yield answer text as the model writes it, then the checked `ChainOutput`.
        `statements` gives a who-said question's attributed statements (the standalone
        question in, None for any other question): the model then reads those instead of
        retrieved paragraphs."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            standalone = self.standalone_question(question, list(history or []))
        except ArchiveQAError:
            raise
        except Exception as exc:  # endpoint down, timeout, runtime failure
            raise GeneratorError(f"the answer generator failed: {exc}") from exc
        t1 = time.perf_counter()
        timings["rewrite_ms"] = (t1 - t0) * 1000
        said = statements(standalone) if statements is not None else None
        if said is not None:
            yield from self._stream_statements(question, standalone, said, timings, t0, t1)
            return
        result, notes = self.retrieve(standalone, k or self.k, filters)
        t2 = time.perf_counter()
        timings["retrieve_ms"] = (t2 - t1) * 1000
        if notes is not None:
            timings["generate_ms"] = 0.0
            yield REFUSAL
            yield ChainOutput(
                question,
                standalone,
                result,
                Resolved(REFUSAL, [], True, 0, 0, notes),
                refused_by_retrieval=True,
                timings=timings,
            )
            return
        form = question_form(standalone)
        shown, inputs = self.prompt_inputs(standalone, result.hits, form)
        yield from self._generate(question, standalone, result, shown, inputs, form, timings, t0)

    def _stream_statements(
        self,
        question: str,
        standalone: str,
        statements: Statements,
        timings: dict[str, float],
        t0: float,
        t1: float,
    ) -> Iterator[str | ChainOutput]:
        """The model is shown one line per statement, "speaker (role), verb: “…”", each
        numbered and dated like a paragraph; its quotes are checked against the paragraph
        the statement stands in."""
        timings["retrieve_ms"] = (time.perf_counter() - t1) * 1000
        hits = [hit for hit, _ in statements.items]
        result = SearchResult(hits=hits, best_dense=1.0, notes=[])
        shown: list[Shown] = []
        blocks: list[str] = []
        for n, (hit, line) in enumerate(statements.items, start=1):
            c = hit.chunk
            blocks.append(format_paragraph(n, c.title, c.source, c.date, line))
            shown.append(Shown(n, line, c.text, _bind(self.locator, hit)))
        form = question_form(standalone)
        inputs = {
            "paragraphs": "\n\n".join(blocks),
            "question": standalone,
            "rules": f"{STATEMENT_RULES} {lead_instruction(form)}",
        }
        yield from self._generate(question, standalone, result, shown, inputs, form, timings, t0)

    def _generate(
        self,
        question: str,
        standalone: str,
        result: SearchResult,
        shown: list[Shown],
        inputs: dict[str, str],
        form: AnswerForm,
        timings: dict[str, float],
        t0: float,
    ) -> Iterator[str | ChainOutput]:
        t2 = time.perf_counter()
        raw = ""
        filt = AnswerFilter()
        first: float | None = None
        verdict: Verdict | None = None
        try:
            tv = time.perf_counter()
            verdict = self.decide_verdict(inputs, form)
            if verdict is None:
                pieces = self.answer_chain.stream(inputs)
            else:
                # The reply starts with the decided verdict; the model writes the rest.
                timings["verdict_ms"] = (time.perf_counter() - tv) * 1000
                pieces = _prefixed(
                    verdict.word, self.prefilled_chain.stream({**inputs, "verdict": verdict.word})
                )
            for piece in pieces:
                if first is None and piece:
                    first = time.perf_counter()
                raw += piece
                out = filt.feed(piece)
                if out:
                    yield out
        except ArchiveQAError:
            raise
        except Exception as exc:  # endpoint down, timeout, runtime failure
            raise GeneratorError(f"the answer generator failed: {exc}") from exc
        tail = filt.flush()
        if tail:
            yield tail
        t3 = time.perf_counter()
        timings["generate_ms"] = (t3 - t2) * 1000
        if first is not None:
            timings["first_token_ms"] = (first - t0) * 1000
        yield ChainOutput(
            question,
            standalone,
            result,
            resolve(raw, shown, form),
            raw=raw,
            timings=timings,
            verdict=verdict,
        )

    def invoke(
        self,
        question: str,
        history: Sequence[tuple[str, str]] | None = None,
        k: int | None = None,
        filters: Filters | None = None,
    ) -> ChainOutput:
        out = None
        for item in self.stream(question, history, k, filters):
            out = item
        assert isinstance(out, ChainOutput)
        return out


def _prefixed(word: str, pieces: Iterator[str]) -> Iterator[str]:
    """The verdict, then the model's continuation of it. An endpoint that returns the
    prefilled word again (a non-streaming reply does) does not get it twice."""
    yield word
    head: str | None = ""
    for piece in pieces:
        if head is not None:
            head += piece
            if len(head) < len(word) and word.lower().startswith(head.lower()):
                continue  # might still be the word repeated
            piece = head[len(word) :] if head.lower().startswith(word.lower()) else head
            head = None
        if piece:
            yield piece
    if head:
        yield head  # the stream ended on what only looked like the start of the word


def _bind(locator: ParagraphLocator, hit: Hit) -> Callable[[int, int, int, str, float], Citation]:
    def make(n: int, start: int, end: int, match: str, score: float) -> Citation:
        return locator.citation(hit, n, start, end, match, score)

    return make
