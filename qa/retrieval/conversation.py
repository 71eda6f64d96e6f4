"""The article a conversation is about, found again from the previous answer's text.

A follow-up ("What sentence is he serving?") is almost always about the story the previous
answer came from, yet the question alone, even made standalone, may rank another story's
paragraphs first. The history that front ends send is plain (question, answer) text, so the
story is recovered from the answer itself: its quoted sentences are verbatim copies of
archive paragraphs (the extractive answer and the who-said list quote; an LLM answer that
paraphrases finds nothing, and the follow-up is searched as any question). The reader then
reads that article's best paragraphs beside the ordinary results and favours them a little.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from qa.response import REFUSAL, Filters
from qa.retrieval.hints import QueryPlan, SubQuery
from qa.retrieval.retriever import Hit, HybridSearcher

# A quoted fragment must be this long to identify its paragraph (shorter ones recur).
MIN_FRAGMENT_CHARS = 40
# How many of the conversation article's paragraphs the reader sees beside the results.
CONTEXT_PARAGRAPHS = 3


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def quoted_fragments(answer: str) -> list[str]:
    """The longest verbatim pieces of an answer: its text between citation markers, less
    the short answer it leads with and the list's speaker labels."""
    if not answer or answer.startswith(REFUSAL):
        return []
    _, sep, rest = answer.partition(" — ")
    body = rest if sep else answer
    pieces = re.split(r"\[\d+\]|[“”\"]|\n", body)
    pieces = [p.strip(" -•:;,") for p in pieces]
    return sorted((p for p in pieces if len(p) >= MIN_FRAGMENT_CHARS), key=len, reverse=True)


def previous_articles(
    searcher: HybridSearcher, answer: str, filters: Filters | None = None, limit: int = 2
) -> list[str]:
    """The articles whose paragraphs the previous answer quotes, first quoted first."""
    found: list[str] = []
    for fragment in quoted_fragments(answer)[:limit]:
        probe = _normal(fragment)
        # Searched word for word: no outlet or date hints read out of a quoted sentence.
        plan = QueryPlan(fragment, [SubQuery(fragment, filters or Filters(), "quote")])
        for hit in searcher.search(fragment, 3, filters, mode="bm25", plan=plan).hits:
            if probe[:200] in _normal(hit.chunk.text):
                if hit.chunk.article_id not in found:
                    found.append(hit.chunk.article_id)
                break
    return found


def with_context(
    searcher: HybridSearcher,
    question: str,
    hits: Sequence[Hit],
    articles: Sequence[str],
    filters: Filters | None = None,
) -> list[Hit]:
    """The results with the conversation articles' best paragraphs for `question` added
    after them (none twice)."""
    if not articles:
        return list(hits)
    scoped = (filters or Filters()).model_copy(update={"article_ids": list(articles)})
    extra = searcher.search(question, CONTEXT_PARAGRAPHS, scoped).hits
    seen = {h.chunk.chunk_id for h in hits}
    return [*hits, *(h for h in extra if h.chunk.chunk_id not in seen)]
