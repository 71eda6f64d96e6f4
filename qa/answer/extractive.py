"""The extractive answerer: the reader's evidence, quoted verbatim, with [n] markers.

Always available (no LLM needed) and never says anything the archive does not say: the
answer leads with the short answer as the text writes it (a name, number, date) and
follows with the sentence(s) it stands in, copied from the retrieved paragraphs and
cited. When the reader finds no sentence that answers the question, it declines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from index.chunker import ChunkSettings, paragraph_at
from index.embedder import Embedder
from index.store import ChunkStore
from qa.answer.question import Analysis
from qa.answer.reader import Reader, Reading, Sentence
from qa.response import REFUSAL, Citation
from qa.retrieval.retriever import Hit


@dataclass(frozen=True)
class Candidate:
    hit_rank: int
    hit: Hit
    start: int  # sentence offsets within the chunk text
    end: int
    score: float


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        store: ChunkStore,
        chunking: ChunkSettings,
        max_quotes: int = 2,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.chunking = chunking
        self.reader = Reader(embedder, max_sentences=max_quotes, article_text=self._article_text)

    def _article_text(self, article_id: str) -> str | None:
        article = self.store.article(article_id)
        return None if article is None else article.text

    def read(
        self,
        question: str,
        hits: list[Hit],
        analysis: Analysis | None = None,
        context: Sequence[str] = (),
        known: Sequence[str] = (),
    ) -> Reading:
        return self.reader.read(question, hits, analysis, context, known)

    def answer(
        self, question: str, hits: list[Hit], decline: bool = True
    ) -> tuple[str, list[Citation]]:
        """The quoted answer and its citations, numbered by first use (the refusal and no
        citations when the reader finds no answer). `decline=False`: when the reader finds
        none, its best sentences all the same, with no short answer (what an LLM's uncited
        answer is replaced by: the model judged the paragraphs to answer the question)."""
        reading = self.read(question, hits)
        if not reading.answerable:
            if decline or not reading.ranked:
                return REFUSAL, []
            best = reading.ranked[: self.reader.max_sentences]
            return self.compose(replace(reading, evidence=best, short_answer=None))
        return self.compose(reading)

    def compose(self, reading: Reading) -> tuple[str, list[Citation]]:
        """The short answer first, then each evidence sentence verbatim with its [n]."""
        quotes: list[Candidate] = []
        for sent in reading.evidence:
            for part in _parts(sent):
                if not any(_same(q, part) for q in quotes):
                    quotes.append(part)
        citations: list[Citation] = []
        parts: list[str] = []
        by_paragraph: dict[tuple[str, int], int] = {}
        for cand in quotes:
            citation = self._citation(cand, len(citations) + 1)
            key = (citation.article_id, citation.paragraph)
            if key in by_paragraph:
                n = by_paragraph[key]
            else:
                citations.append(citation)
                n = by_paragraph[key] = citation.n
            parts.append(f"{cand.hit.chunk.text[cand.start : cand.end]} [{n}]")
        text = " ".join(parts)
        if reading.short_answer:
            text = f"{reading.short_answer} — {text}"
        return text, citations

    def _citation(self, cand: Candidate, n: int) -> Citation:
        chunk = cand.hit.chunk
        article = self.store.article(chunk.article_id)
        abs_start = chunk.start + cand.start
        abs_end = chunk.start + cand.end
        if article is None:  # cannot happen in a consistent index; degrade to the chunk
            para_no, p_start, p_end, text = chunk.para_start, chunk.start, chunk.end, chunk.text
        else:
            para_no, p_start, p_end = paragraph_at(article.text, abs_start, self.chunking)
            p_end = max(p_end, abs_end)  # a sentence never crosses a paragraph, but be safe
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
            quote=chunk.text[cand.start : cand.end],
            quote_start=abs_start - p_start,
            quote_end=abs_end - p_start,
            score=round(cand.score, 4),
        )


def _parts(sent: Sentence) -> list[Candidate]:
    """The sentence, preceded by the one it takes its subject's name from ("He said…")."""
    own = Candidate(sent.hit_rank, sent.hit, sent.start, sent.end, sent.score)
    if sent.answers and sent.answers[0][0] < sent.start and sent.borrowed is not None:
        prev = sent.borrowed
        return [Candidate(prev.hit_rank, prev.hit, prev.start, prev.end, sent.score), own]
    return [own]


def _same(a: Candidate, b: Candidate) -> bool:
    if a.hit.chunk.chunk_id == b.hit.chunk.chunk_id and a.start < b.end and b.start < a.end:
        return True
    norm = lambda c: re.sub(r"\W+", " ", c.hit.chunk.text[c.start : c.end]).strip().lower()  # noqa: E731
    return norm(a) == norm(b)
