"""Paragraph-aware chunking with exact character offsets.

A citation must point at, and highlight, the paragraph a claim came from, so every
chunk is an exact slice `article.text[start:end]` and knows its paragraph numbers.

Rules:
- Real paragraph breaks (blank lines, or single line breaks when a text has no blank
  lines) are kept: a chunk never starts or ends inside a paragraph unless the paragraph
  itself is too long.
- A text without any breaks (wire copy, the NewsArticles CSV) is cut at sentence
  boundaries into passages of about `target_words`; those passages are then numbered
  as the article's paragraphs.
- Paragraphs shorter than `min_words` are merged with their neighbours, up to
  `max_words`. No chunk is cut mid-sentence; a single sentence longer than `max_words`
  (tables, lists) is the only thing ever cut, at a word boundary.

LangChain's splitters measure length and re-find chunks by string search, which loses
paragraph numbers and can land on the wrong copy of a repeated sentence, so the
spans are computed here; `ParagraphSplitter` exposes them as a LangChain `TextSplitter`.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import TextSplitter

from .articles import Article

_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_WORD = re.compile(r"\S+")
# Candidate sentence ends: terminal punctuation, optional closing quotes/brackets,
# whitespace, then something that can open a sentence.
_SENT_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])")
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "st",
    "gen",
    "sen",
    "rep",
    "gov",
    "lt",
    "col",
    "sgt",
    "capt",
    "cmdr",
    "adm",
    "maj",
    "jr",
    "sr",
    "inc",
    "ltd",
    "co",
    "corp",
    "vs",
    "etc",
    "no",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "u.n",
    "e.u",
    "a.m",
    "p.m",
    "i.e",
    "e.g",
    "mt",
    "ft",
    "fig",
    "approx",
    "rev",
    "hon",
    "pres",
    "dept",
    "univ",
    "assn",
    "bros",
    "est",
}


@dataclass(frozen=True)
class ChunkSettings:
    """Chunk sizes in words (MiniLM reads 256 word pieces, about 190 English words).

    Chunks near the model's window retrieve best: on MultiHop-RAG these sizes beat smaller
    chunks on every metric while nearly all of them still fit the window
    (docs/evaluation.md).
    """

    min_words: int = 120
    target_words: int = 160
    max_words: int = 190

    def __post_init__(self) -> None:
        if not 0 < self.min_words <= self.target_words <= self.max_words:
            raise ValueError("chunk sizes must satisfy 0 < min_words <= target_words <= max_words")


@dataclass(frozen=True)
class Chunk:
    """A slice of one article: the unit that is embedded, retrieved and cited."""

    chunk_id: str
    article_id: str
    ordinal: int  # position of the chunk in its article, from 0
    para_start: int  # first paragraph number, from 1
    para_end: int  # last paragraph number (inclusive)
    start: int  # character offsets into article.text
    end: int
    text: str
    # Named-entity spans in `text` as JSON (index.annotate); None until annotated.
    entities: str | None = None
    # Attributed statements starting in this chunk as JSON (index.quotes); None until found.
    statements: str | None = None


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence boundaries as (start, end) offsets into `text`, trimmed of whitespace."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _SENT_END.finditer(text, start, end):
        stop = m.end()
        if m.group(0)[0] == "." and _is_abbreviation(text, cursor, m.start()):
            continue
        spans.append((cursor, stop))
        cursor = stop
    spans.append((cursor, end))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[1] > s[0]]


def _is_abbreviation(text: str, sent_start: int, dot: int) -> bool:
    word_start = dot
    while word_start > sent_start and not text[word_start - 1].isspace():
        word_start -= 1
    token = text[word_start:dot].lstrip("\"'“‘(").lower()
    if token in _ABBREVIATIONS:
        return True
    # Initials such as "J." in "J. K. Rowling".
    return len(token) == 1 and token.isalpha()


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Real paragraphs: blank-line separated blocks, else lines, as offsets."""
    splitter = _BLANK_LINE if _BLANK_LINE.search(text) else re.compile(r"\n")
    spans: list[tuple[int, int]] = []
    cursor = 0
    for m in splitter.finditer(text):
        spans.append((cursor, m.start()))
        cursor = m.end()
    spans.append((cursor, len(text)))
    return [s for s in (_trim(text, a, b) for a, b in spans) if s[1] > s[0]]


def _pack_sentences(text: str, a: int, b: int, settings: ChunkSettings) -> list[tuple[int, int]]:
    """Cut one long block into passages of balanced length at sentence ends."""
    sentences = []
    for s, e in sentence_spans(text, a, b):
        n = word_count(text[s:e])
        if n <= settings.max_words:
            sentences.append((s, e, n))
        else:
            sentences.extend(_cut_words(text, s, e, settings.max_words))
    total = sum(n for _, _, n in sentences)
    parts = max(1, math.ceil(total / settings.target_words))
    goal = total / parts
    passages: list[tuple[int, int]] = []
    cur_start: int | None = None
    cur_end, cur_words = 0, 0
    for s, e, n in sentences:
        if cur_start is not None and (
            cur_words + n > settings.max_words or cur_words + n / 2 > goal
        ):
            passages.append((cur_start, cur_end))
            cur_start, cur_words = None, 0
        if cur_start is None:
            cur_start = s
        cur_end, cur_words = e, cur_words + n
    if cur_start is not None:
        passages.append((cur_start, cur_end))
    return passages


def _cut_words(text: str, a: int, b: int, max_words: int) -> list[tuple[int, int, int]]:
    words = list(_WORD.finditer(text, a, b))
    return [
        (
            words[i].start(),
            words[min(i + max_words, len(words)) - 1].end(),
            min(max_words, len(words) - i),
        )
        for i in range(0, len(words), max_words)
    ]


def display_paragraphs(text: str, settings: ChunkSettings) -> list[tuple[int, int]]:
    """The paragraphs a reader is shown and a citation numbers.

    Real paragraphs when the text has breaks; sentence passages when it is one long
    unbroken block (otherwise every citation would say "paragraph 1").
    """
    paras = paragraph_spans(text)
    if len(paras) == 1 and word_count(text[paras[0][0] : paras[0][1]]) > settings.max_words:
        return _pack_sentences(text, paras[0][0], paras[0][1], settings)
    return paras


def chunk_article(article: Article, settings: ChunkSettings | None = None) -> list[Chunk]:
    """Split an article into chunks that never cut a sentence and know their paragraphs."""
    settings = settings or ChunkSettings()
    text = article.text
    # Units: (start, end, words, para_no, splittable-merge allowed)
    units: list[tuple[int, int, int, int]] = []
    for no, (a, b) in enumerate(display_paragraphs(text, settings), start=1):
        n = word_count(text[a:b])
        if n > settings.max_words:
            for s, e in _pack_sentences(text, a, b, settings):
                units.append((s, e, word_count(text[s:e]), no))
        else:
            units.append((a, b, n, no))

    groups: list[list[tuple[int, int, int, int]]] = []
    for unit in units:
        if groups:
            last = groups[-1]
            words = sum(u[2] for u in last)
            if words < settings.min_words and words + unit[2] <= settings.max_words:
                last.append(unit)
                continue
        groups.append([unit])
    # A short tail joins the group before it when that fits.
    if len(groups) > 1:
        tail_words = sum(u[2] for u in groups[-1])
        prev_words = sum(u[2] for u in groups[-2])
        if tail_words < settings.min_words and prev_words + tail_words <= settings.max_words:
            groups[-2].extend(groups.pop())

    chunks = []
    for ordinal, group in enumerate(groups):
        start, end = group[0][0], group[-1][1]
        chunks.append(
            Chunk(
                chunk_id=make_chunk_id(article, start, end),
                article_id=article.id,
                ordinal=ordinal,
                para_start=group[0][3],
                para_end=group[-1][3],
                start=start,
                end=end,
                text=text[start:end],
            )
        )
    return chunks


def make_chunk_id(article: Article, start: int, end: int) -> str:
    """Stable for an unchanged article: derived from its content hash and the offsets."""
    key = f"{article.id}\x1f{article.content_hash}\x1f{start}\x1f{end}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def paragraph_at(text: str, offset: int, settings: ChunkSettings) -> tuple[int, int, int]:
    """The display paragraph containing `offset`: (number, start, end)."""
    paras = display_paragraphs(text, settings)
    for no, (a, b) in enumerate(paras, start=1):
        if offset < b or no == len(paras):
            return no, a, b
    raise ValueError("empty text has no paragraphs")


class ParagraphSplitter(TextSplitter):
    """The chunker as a LangChain `TextSplitter`, for use in anyone's own pipeline."""

    def __init__(self, settings: ChunkSettings | None = None, **kwargs: Any) -> None:
        self._settings = settings or ChunkSettings()
        kwargs.setdefault("chunk_size", self._settings.max_words)
        kwargs.setdefault("chunk_overlap", 0)
        kwargs.setdefault("length_function", word_count)
        super().__init__(**kwargs)

    def split_text(self, text: str) -> list[str]:
        article = Article(id="_", title="", text=text)
        return [c.text for c in chunk_article(article, self._settings)]
