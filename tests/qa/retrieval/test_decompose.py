"""LLM question decomposition: parsing the model's lines, and the searcher running its
sub-questions beside the parsed plan on the real session index."""

from __future__ import annotations

import pytest

from qa.retrieval.decompose import parse_subquestions
from qa.retrieval.retriever import ArchiveRetriever, HybridSearcher

QUESTION = "Who threatened weapons convoys?"
OTHER = "Formula One stars auction photos for a children's charity"


def test_model_lines_become_clean_queries():
    text = (
        "1. Reuters article on the strike: how long were the delays?\n"
        "- BBC report on the strike delays\n"
        'Query 3: "what did the union say"\n'
        "ok\n"  # too short to search
        "2) BBC report on the strike delays\n"  # repeated
        "Who threatened weapons convoys?\n"  # the question itself
        "* fifth line about ports\n"
        "* sixth line about ports\n"
    )
    assert parse_subquestions(text, QUESTION) == [
        "Reuters article on the strike: how long were the delays?",
        "BBC report on the strike delays",
        "what did the union say",
        "fifth line about ports",
    ]
    assert parse_subquestions("", QUESTION) == []
    assert parse_subquestions("a\nb c\n", QUESTION) == []


@pytest.fixture
def searcher_with(service, embedder):
    """A searcher over the session index with the given decomposer."""

    def make(decomposer=None) -> HybridSearcher:
        return HybridSearcher(
            service.index, embedder, service.searcher.params, decomposer=decomposer
        )

    return make


def _titles(result) -> list[str]:
    return [h.chunk.title for h in result.hits]


def test_sub_questions_are_searched_and_merged(searcher_with):
    plain = searcher_with().search(QUESTION, 5)
    assert not any("Formula One" in t for t in _titles(plain))
    asked: list[str] = []

    def decomposer(question: str) -> list[str]:
        asked.append(question)
        return [OTHER]

    searcher = searcher_with(decomposer)
    assert searcher.search(QUESTION, 5).hits == plain.hits and not asked  # a plain search
    result = searcher.search(QUESTION, 5, decompose=True)  # an answer's search
    assert asked == [QUESTION]
    assert any("Formula One" in t for t in _titles(result))  # the sub-question's article
    assert plain.hits[0].chunk.chunk_id in {h.chunk.chunk_id for h in result.hits}
    assert "searched sub-question 1 separately" in result.notes
    # The LangChain retriever searches them when asked to.
    docs = ArchiveRetriever(searcher=searcher, k=5, decompose=True).invoke(QUESTION)
    assert [d.id for d in docs] == [h.chunk.chunk_id for h in result.hits]
    assert result.best_dense == pytest.approx(plain.best_dense)  # refusal still the question's


def test_a_sub_question_naming_an_outlet_is_filtered_to_it(searcher_with, service):
    source = service.index.store.sources()[0][0]
    searcher = searcher_with(lambda q: [f"What did {source} report about weapons convoys?"])
    plan = searcher.plan(QUESTION, decompose=True)
    (sub,) = plan.subqueries[1:]
    assert sub.filters.sources == [source] and sub.label.startswith("sub-question 1 (")
    assert source not in sub.text and sub.from_llm
    result = searcher.search(QUESTION, 5, plan=plan)
    assert any(h.chunk.source == source for h in result.hits)
    # An outlet the LLM named does not count towards the refusal signal; the question's does.
    plain = searcher.search(QUESTION, 5)
    assert result.best_dense == pytest.approx(plain.best_dense)


def test_a_failed_or_empty_decomposition_leaves_the_search_unchanged(searcher_with):
    plain = searcher_with().search(QUESTION, 5)

    def broken(question: str) -> list[str]:
        raise ConnectionError("endpoint down")

    failed = searcher_with(broken).search(QUESTION, 5, decompose=True)
    assert [h.chunk.chunk_id for h in failed.hits] == [h.chunk.chunk_id for h in plain.hits]
    assert any("could not split the question (ConnectionError)" in n for n in failed.notes)
    empty = searcher_with(lambda q: []).search(QUESTION, 5, decompose=True)
    assert [h.chunk.chunk_id for h in empty.hits] == [h.chunk.chunk_id for h in plain.hits]
    assert empty.notes == plain.notes


def test_decomposition_without_an_llm_is_a_clear_error(news_index):
    from qa.errors import DecomposeSettingsError
    from qa.service import QAService
    from qa.settings import Settings

    with pytest.raises(DecomposeSettingsError, match="ARCHIVE_QA_GENERATOR"):
        QAService.from_settings(
            Settings(index_dir=news_index, generator="extractive", query_decompose_llm=True)
        )
