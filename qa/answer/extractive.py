"""The extractive answerer: quote the best-supported sentences verbatim, with [n] markers.

Always available (no LLM needed) and never says anything the archive does not say:
the answer is made only of sentences copied from retrieved paragraphs. Sentences are
ranked by embedding similarity to the question plus the share of the question's
content words they contain (names matter in news).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.bm25 import tokenize
from index.chunker import ChunkSettings, paragraph_at, sentence_spans, word_count
from index.embedder import Embedder
from index.store import ChunkStore
from qa.response import REFUSAL, Citation
from qa.retrieval.retriever import Hit


@dataclass(frozen=True)
class Candidate:
    hit_rank: int
    hit: Hit
    start: int  # sentence offsets within the chunk text
    end: int
    score: float


def _stem(token: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 4:
            return token[: -len(suffix)]
    return token


def _terms(text: str) -> set[str]:
    return {_stem(t) for t in tokenize(text)}


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        store: ChunkStore,
        chunking: ChunkSettings,
        max_quotes: int = 2,
        lexical_weight: float = 0.3,
        second_quote_margin: float = 0.08,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.chunking = chunking
        self.max_quotes = max_quotes
        self.lexical_weight = lexical_weight
        self.second_quote_margin = second_quote_margin

    def rank_sentences(self, question: str, hits: list[Hit]) -> list[Candidate]:
        spans: list[tuple[int, Hit, int, int]] = []
        for rank, hit in enumerate(hits):
            for s, e in sentence_spans(hit.chunk.text):
                if word_count(hit.chunk.text[s:e]) >= 4:
                    spans.append((rank, hit, s, e))
        if not spans:
            return []
        texts = [h.chunk.text[s:e] for _, h, s, e in spans]
        vecs = self.embedder.encode([question, *texts])
        sims = vecs[1:] @ vecs[0]
        q_terms = _terms(question)
        out = []
        for (rank, hit, s, e), sim in zip(spans, sims):
            overlap = len(q_terms & _terms(hit.chunk.text[s:e])) / len(q_terms) if q_terms else 0.0
            # A small prior for the retriever's order breaks near-ties toward better paragraphs.
            score = float(sim) + self.lexical_weight * overlap + 0.02 / (1 + rank)
            out.append(Candidate(rank, hit, s, e, score))
        out.sort(key=lambda c: (-c.score, c.hit_rank, c.start))
        return out

    def answer(self, question: str, hits: list[Hit]) -> tuple[str, list[Citation]]:
        """The quoted answer and its citations, numbered by first use."""
        ranked = self.rank_sentences(question, hits)
        if not ranked:
            return REFUSAL, []
        chosen = [ranked[0]]
        for cand in ranked[1:]:
            if (
                len(chosen) >= self.max_quotes
                or cand.score < ranked[0].score - self.second_quote_margin
            ):
                break
            if any(
                c.hit.chunk.chunk_id == cand.hit.chunk.chunk_id and _overlaps(c, cand)
                for c in chosen
            ):
                continue
            if any(_same_text(c, cand) for c in chosen):
                continue
            chosen.append(cand)
        # Quotes from the same paragraph read best in article order.
        chosen.sort(key=lambda c: (c.hit_rank, c.start))
        citations: list[Citation] = []
        parts: list[str] = []
        by_paragraph: dict[tuple[str, int], int] = {}
        for cand in chosen:
            citation = self._citation(cand, len(citations) + 1)
            key = (citation.article_id, citation.paragraph)
            if key in by_paragraph:
                n = by_paragraph[key]
            else:
                citations.append(citation)
                n = by_paragraph[key] = citation.n
            quote = cand.hit.chunk.text[cand.start : cand.end]
            parts.append(f"{quote} [{n}]")
        return " ".join(parts), citations

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


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.start < b.end and b.start < a.end


def _same_text(a: Candidate, b: Candidate) -> bool:
    norm = lambda c: re.sub(r"\W+", " ", c.hit.chunk.text[c.start : c.end]).strip().lower()  # noqa: E731
    return norm(a) == norm(b)
