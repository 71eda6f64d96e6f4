"""Who-said questions answered from the statements table, on the session's real index."""

from __future__ import annotations

import pytest

from index.store import StoredStatement
from qa.answer.statements import (
    STATEMENT_MARGIN,
    FoundStatement,
    not_the_addressee,
    parse_quote_question,
)
from qa.errors import QuestionError
from qa.response import Filters
from tests.helpers import SEED_QUESTION


@pytest.mark.parametrize(
    "question, topic, speaker, verb",
    [
        ("Who threatened weapons convoys?", "weapons convoys", None, "threaten"),
        ("who else warned of a wider war", "of a wider war", None, "warn"),
        ("What did Ryabkov say about the United States?", "the United States", "Ryabkov", None),
        ("Who is Ryabkov?", None, None, None),
        ("Who threatened weapons convoys and what did Zelensky say?", None, None, None),
        ("Who warned of war, and when?", None, None, None),
    ],
)
def test_who_said_questions_are_recognised(question, topic, speaker, verb):
    asked = parse_quote_question(question)
    if topic is None:
        assert asked is None
    else:
        assert (asked.topic, asked.speaker, asked.verb) == (topic, speaker, verb)


def test_a_who_said_answer_is_not_someone_the_question_names():
    def said(name: str) -> FoundStatement:
        s = StoredStatement(0, "a", 1, 0, 5, name, name, "", "say", "words", True, True, None, None)
        return FoundStatement(s, 0.5)

    found = [said("Donald Tusk"), said("Tim Barrow"), said("Tusk")]
    kept = not_the_addressee(found, "Donald Tusk of the timing")
    assert [f.statement.normalized for f in kept] == ["Tim Barrow"]


def test_the_flagship_question_lists_ryabkov_first_with_the_convoys_statement(service):
    answer = service.ask(SEED_QUESTION)
    assert not answer.refused and answer.citations
    first = answer.citations[0]
    assert "convoys" in first.quote
    assert first.text[first.quote_start : first.quote_end] == first.quote
    line = answer.answer.splitlines()[0]
    assert "Sergei Ryabkov" in line and "deputy foreign minister" in line.lower()
    assert "[1]" in line and first.quote in line
    # every listed speaker is a different one, each cited verbatim
    lines = answer.answer.splitlines()
    assert len(lines) == len(answer.citations)
    for c in answer.citations:
        assert c.text[c.quote_start : c.quote_end] == c.quote
    # speakers on the topic only: none far below the best statement
    assert all(c.score >= first.score - STATEMENT_MARGIN for c in answer.citations)
    wider = service.quotes("weapons convoys", limit=50)
    assert any(q.score < first.score - STATEMENT_MARGIN for q in wider)  # there were some


def test_what_did_a_speaker_say_keeps_to_that_speaker(service):
    answer = service.ask("What did Ryabkov say about weapons?")
    assert answer.citations
    found = service.quotes("weapons", speaker="Ryabkov")
    assert found and all("ryabkov" in q.normalized.lower() for q in found)
    assert [c.quote for c in answer.citations] == [
        q.statement for q in found[: len(answer.citations)]
    ]


def test_quotes_filter_by_outlet_and_date(service):
    all_ryabkov = service.quotes(speaker="Ryabkov", limit=200)
    assert len({q.source for q in all_ryabkov}) >= 2
    tass = service.quotes(speaker="Ryabkov", filters=Filters(sources=["tass.com"]), limit=200)
    assert tass and {q.source for q in tass} == {"tass.com"} and len(tass) < len(all_ryabkov)
    dates = sorted(q.date for q in all_ryabkov if q.date)
    since = dates[len(dates) // 2][:10]
    later = service.quotes(speaker="Ryabkov", filters=Filters(since=since), limit=200)
    assert later and all(q.date >= since for q in later)


def test_a_quotes_request_needs_a_query_or_a_speaker(service):
    with pytest.raises(QuestionError, match="query, a speaker"):
        service.quotes("  ", speaker=" ")


def test_other_questions_still_go_to_the_reader(service):
    answer = service.ask("Who is Sergei Ryabkov?")
    assert not any(n.startswith("answered from") for n in answer.notes)
