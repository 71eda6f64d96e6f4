"""Chunking: paragraphs kept, sentences never cut, offsets exact, ids stable."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from index.articles import Article, normalize_text
from index.chunker import (
    ChunkSettings,
    ParagraphSplitter,
    chunk_article,
    display_paragraphs,
    sentence_spans,
    word_count,
)
from index.loaders import LoadReport, iter_articles
from tests.helpers import SEED


def seed_article() -> Article:
    return next(iter_articles([SEED], LoadReport()))


def test_seed_chunks_follow_paragraphs():
    article = seed_article()
    chunks = chunk_article(article)
    paragraphs = display_paragraphs(article.text, ChunkSettings())
    starts = {a for a, _ in paragraphs}
    ends = {b for _, b in paragraphs}
    for c in chunks:
        assert article.text[c.start : c.end] == c.text
        assert c.start in starts and c.end in ends  # never inside a paragraph
        assert c.para_start <= c.para_end
    ryabkov = [c for c in chunks if "Sergei Ryabkov" in c.text]
    assert len(ryabkov) == 1
    para = paragraphs[ryabkov[0].para_start - 1 : ryabkov[0].para_end]
    assert any("Ryabkov" in article.text[a:b] for a, b in para)
    # Tiny paragraphs (captions, quotes) were merged, but no chunk is over the limit.
    assert all(word_count(c.text) <= 200 for c in chunks)
    assert sum(word_count(c.text) < 60 for c in chunks) <= 1


def test_unbroken_text_becomes_sentence_passages(news_rows):
    row = next(r for r in news_rows if len(r["text"].split()) > 900)
    article = Article(
        id=row["article_id"], title=row["title"], text=normalize_text(row["text"])
    ).with_hash()
    assert "\n" not in article.text
    chunks = chunk_article(article)
    sentences = sentence_spans(article.text)
    sentence_ends = {e for _, e in sentences}
    sentence_starts = {s for s, _ in sentences}
    for c in chunks:
        assert article.text[c.start : c.end] == c.text
        assert 60 <= word_count(c.text) <= 200
        assert c.start in sentence_starts and c.end in sentence_ends
    assert [c.para_start for c in chunks] == list(range(1, len(chunks) + 1))
    covered = "".join(article.text[c.start : c.end] for c in chunks)
    assert re.sub(r"\s", "", covered) == re.sub(r"\s", "", article.text)


def test_sentence_splitter_handles_abbreviations():
    text = "Mr. Smith met U.S. officials on Jan. 5 in Washington. They talked. J. K. Rowling was not there!"
    sents = [text[a:b] for a, b in sentence_spans(text)]
    assert sents == [
        "Mr. Smith met U.S. officials on Jan. 5 in Washington.",
        "They talked.",
        "J. K. Rowling was not there!",
    ]


def test_chunk_ids_stable_and_content_sensitive():
    article = seed_article()
    ids = [c.chunk_id for c in chunk_article(article)]
    assert ids == [c.chunk_id for c in chunk_article(seed_article())]
    changed = Article(
        **{**article.__dict__, "text": article.text + "\n\nA new closing paragraph."}
    ).with_hash()
    assert set(ids).isdisjoint(c.chunk_id for c in chunk_article(changed))


def test_langchain_splitter_interface():
    splitter = ParagraphSplitter()
    article = seed_article()
    docs = splitter.create_documents([article.text], metadatas=[{"title": article.title}])
    assert [d.page_content for d in docs] == [c.text for c in chunk_article(article)]
    assert docs[0].metadata["title"] == article.title


words = st.text(alphabet="abcdefghij", min_size=1, max_size=9)
sentence = st.builds(
    lambda ws, p: " ".join(ws).capitalize() + p,
    st.lists(words, min_size=1, max_size=40),
    st.sampled_from([".", "!", "?"]),
)
paragraph = st.builds(" ".join, st.lists(sentence, min_size=1, max_size=25))


@settings(max_examples=60, deadline=None)
@given(st.lists(paragraph, min_size=1, max_size=12), st.booleans())
def test_chunks_are_exact_ordered_slices(paragraphs, broken):
    text = normalize_text(("\n\n" if broken else " ").join(paragraphs))
    article = Article(id="x", title="t", text=text).with_hash()
    chunks = chunk_article(article)
    assert chunks
    prev_end = 0
    for c in chunks:
        assert c.text == text[c.start : c.end] and c.text.strip() == c.text
        assert c.start >= prev_end
        prev_end = c.end
    # Everything but whitespace is covered: no text is lost.
    assert re.sub(r"\s", "", "".join(c.text for c in chunks)) == re.sub(r"\s", "", text)
    # No chunk ends mid-sentence unless a single sentence exceeds the maximum.
    for c in chunks:
        if word_count(c.text) < 200:
            assert c.text[-1] in ".!?"
