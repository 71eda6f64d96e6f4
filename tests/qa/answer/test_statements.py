"""Who-said questions answered from the statements table, on the session's real index."""

from __future__ import annotations

import pytest

from index.store import StoredStatement
from qa.answer.statements import (
    STATEMENT_MARGIN,
    FoundStatement,
    by_speaker,
    described_as,
    not_the_addressee,
    parse_quote_question,
)
from qa.errors import QuestionError
from qa.response import Filters
from tests.helpers import SEED_QUESTION


@pytest.mark.parametrize(
    "question, topic, speaker, verb, role",
    [
        ("Who threatened weapons convoys?", "weapons convoys", None, "threaten", None),
        ("who else warned of a wider war", "of a wider war", None, "warn", None),
        ("Who has said that the wall will be built?", "the wall will be built", None, "say", None),
        (
            "Who replied that Russia does not meddle in other countries' affairs?",
            "Russia does not meddle in other countries' affairs",
            None,
            "reply",
            None,
        ),
        (
            "Which Russian Foreign Ministry spokeswoman said the work was nearly done?",
            "the work was nearly done",
            None,
            "say",
            "Russian Foreign Ministry spokeswoman",
        ),
        (
            "Which founder of the website told reporters spending was out of control?",
            "reporters spending was out of control",
            None,
            "tell",
            "founder of the website",
        ),
        (
            "What did Ryabkov say about the United States?",
            "the United States",
            "Ryabkov",
            None,
            None,
        ),
        ("Who is Ryabkov?", None, None, None, None),
        ("Who wrote the book on Putin?", None, None, None, None),
        ("Which minister resigned on Monday?", None, None, None, None),
        ("Who threatened weapons convoys and what did Zelensky say?", None, None, None, None),
        ("Who warned of war, and when?", None, None, None, None),
    ],
)
def test_who_said_questions_are_recognised(question, topic, speaker, verb, role):
    asked = parse_quote_question(question)
    if topic is None:
        assert asked is None
    else:
        assert (asked.topic, asked.speaker, asked.verb, asked.role) == (topic, speaker, verb, role)


def _said(name: str, role: str = "", row: int = 0) -> FoundStatement:
    s = StoredStatement(row, "a", 1, 0, 5, name, name, role, "say", "words", True, True, None, None)
    return FoundStatement(s, 0.5)


def test_which_role_keeps_speakers_described_so_by_role_or_beside_their_name():
    texts = {
        1: "Adam Tomkins of the Scottish Conservatives said the report showed division.",
        2: "Ian Murray said it was wrong, and much later that day a Conservative in London agreed.",
    }
    by_role = [_said("Ian Murray", "Scottish Labour MP", 2), _said("Zakharova", "spokeswoman")]
    assert [f.statement.speaker for f in described_as(by_role, "spokeswoman", texts)] == [
        "Zakharova"
    ]
    by_paragraph = [_said("Adam Tomkins", row=1), _said("Ian Murray", row=2)]
    kept = described_as(by_paragraph, "conservative", texts)
    assert [f.statement.speaker for f in kept] == ["Adam Tomkins"]
    assert described_as(by_paragraph, "footballer", texts) == []


def test_a_which_role_question_lists_the_speaker_with_that_role(service):
    answer = service.ask("Which deputy foreign minister warned about weapons convoys?")
    assert any("attributed statements" in n for n in answer.notes)
    assert "Ryabkov" in answer.answer.splitlines()[0]
    assert "convoys" in answer.citations[0].quote
    nobody = service.ask("Which footballer warned about weapons convoys?")
    assert not any("attributed statements" in n for n in nobody.notes)


def test_a_who_list_names_people_not_figures_or_garbled_spans():
    found = [_said("77 percent"), _said('single document,"?Schiff'), _said("Adam Schiff")]
    assert [f.statement.normalized for f in by_speaker(found)] == ["Adam Schiff"]


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
