"""Answers on a real index: the seed question among real TASS articles quoting Ryabkov."""

from __future__ import annotations

import json

import pytest

from qa.errors import QuestionError
from qa.response import Filters
from tests.helpers import SEED, SEED_QUESTION, run_cli

SEED_TITLE = "Captured Russian soldier claims Moscow has special squad for deserters"


def test_index_holds_hard_distractors(service):
    rows = service.index.store.conn.execute(
        "SELECT count(*) FROM articles WHERE source='tass.com' AND text LIKE '%Ryabkov%'"
    ).fetchone()[0]
    assert rows >= 4  # real TASS articles that also quote Ryabkov


def test_seed_question_cites_ryabkov_paragraph_first(service):
    answer = service.ask(SEED_QUESTION)
    assert not answer.refused
    assert "Ryabkov" in answer.answer
    first = answer.citations[0]
    assert first.n == 1 and "[1]" in answer.answer
    assert first.title == SEED_TITLE
    assert "Deputy foreign minister Sergei Ryabkov warned" in first.text
    # The paragraph is exact: it is a paragraph of the seed file, and the quote sits inside it.
    seed_paragraphs = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n")]
    assert first.text in seed_paragraphs
    assert first.text[first.quote_start : first.quote_end] == first.quote
    assert first.quote in answer.answer


def test_citations_are_numbered_by_first_use(service):
    answer = service.ask("What did Zelensky say about NATO?")
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert f"[{c.n}]" in answer.answer
        assert c.quote and c.quote in c.text


def test_unrelated_question_is_refused(service):
    answer = service.ask("What is the recipe for sourdough bread with rye flour?")
    assert answer.refused and not answer.citations
    assert "could not find" in answer.answer


def test_filters_are_honoured(service):
    only_tass = service.search(SEED_QUESTION, k=10, filters=Filters(sources=["tass.com"]))
    assert only_tass and all(p.source == "tass.com" for p in only_tass)
    in_2017 = service.ask(SEED_QUESTION, filters=Filters(since="2016-01-01", until="2017-12-31"))
    assert all(c.title != SEED_TITLE for c in in_2017.citations)  # the seed has no date: excluded
    none = service.ask(SEED_QUESTION, filters=Filters(sources=["no-such-outlet"]))
    assert none.refused and "no article matches the filters" in none.notes


def test_bad_questions_are_rejected(service):
    with pytest.raises(QuestionError, match="empty"):
        service.ask(" \n\t ")
    with pytest.raises(QuestionError, match="limit"):
        service.ask("why " * 1000)


def test_langchain_retriever_interface(service):
    docs = service.retriever(k=3).invoke(SEED_QUESTION)
    assert len(docs) == 3
    assert docs[0].metadata["title"] == SEED_TITLE and "Ryabkov" in docs[0].page_content
    assert docs == service.retriever(k=3).invoke(SEED_QUESTION)  # deterministic


def test_cli_ask_json(news_index):
    out = run_cli("ask", SEED_QUESTION, "--index", str(news_index), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"question", "answer", "citations"} <= set(data)
    keys = {
        "n",
        "article_id",
        "chunk_id",
        "title",
        "source",
        "date",
        "url",
        "paragraph",
        "text",
        "quote",
    }
    assert keys <= set(data["citations"][0])
    assert data["citations"][0]["title"] == SEED_TITLE and "Ryabkov" in data["answer"]
    human = run_cli("ask", SEED_QUESTION, "--index", str(news_index))
    assert human.returncode == 0 and "Ryabkov" in human.stdout and "[1]" in human.stdout


def test_cli_source_filter_takes_the_outlet_as_people_name_it(news_index):
    out = run_cli(
        "search", "Ryabkov weapons", "--index", str(news_index), "--source", "TASS", "--json"
    )
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert hits and {h["source"] for h in hits} == {"tass.com"}
    bad = run_cli("search", "Ryabkov", "--index", str(news_index), "--source", "Pravda Weekly")
    assert bad.returncode == 1 and "unknown outlet 'Pravda Weekly'" in bad.stderr
