"""The sentence reader's reply handling: the JSON form read as it streams and checked."""

from __future__ import annotations

import itertools
import json

import pytest

from qa.answer.llm_reader import (
    GRAMMAR,
    _answer_delta,
    _tokens,
    answer_in,
    choose_sentences,
    parse_reply,
    written_in,
)


def _streamed(raw: str, size: int) -> str:
    out, before = "", ""
    for i in range(0, len(raw), size):
        after = raw[: i + size]
        out += _answer_delta(before, after)
        before = after
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_the_short_answer_streams_unescaped_however_the_reply_is_cut(size):
    answer = 'Sergei "the hawk" Ryabkov \\ Moscow – café'
    raw = json.dumps({"found": True, "answer": answer, "sentences": [1]})
    assert _streamed(raw, size) == answer
    compact = json.dumps({"found": True, "answer": answer, "sentences": [1]}, ensure_ascii=False)
    assert _streamed(compact, size) == answer


def test_the_reply_is_read_leniently_and_unshown_sentences_dropped(service):
    hits = service.searcher.search("Who warned weapons convoys would be targets?", 4).hits
    reading = service.answerer.read("Who warned weapons convoys would be targets?", hits)
    shown = choose_sentences(reading, 3)
    assert [s.n for s in shown] == [1, 2, 3]
    raw = 'Sure! {"found": true, "answer": "Ryabkov", "sentences": [2, 9, 2, "x"]} Done.'
    reply = parse_reply(raw, shown)
    assert reply.found and reply.answer == "Ryabkov" and [s.n for s in reply.cited] == [2]
    assert any("[9]" in n for n in reply.notes)
    assert not parse_reply("I think it was Ryabkov.", shown).found
    assert not parse_reply('{"found": true, "answer": "", "sentences": [1]}', shown).found
    # the short answer is the archive's wording only when a cited sentence writes it
    top = shown[0]
    word = top.sentence.text.split()[0]
    assert answer_in(word, [top]) and not answer_in("Zbigniew Brzezinski", [top])
    # an answer the cited sentence lacks but another shown one writes is cited there
    other = next(s for s in shown[1:] if not answer_in(word, [s])) if len(shown) > 1 else None
    if other is not None:
        assert written_in(word, shown, [other]) == [top]
    assert written_in("Zbigniew Brzezinski", shown, [top]) == []


def test_numbers_in_words_match_the_digits_a_model_answers_with():
    assert _tokens("He spoke twice, to 1,254,709 voters") == [
        "he",
        "spoke",
        "2",
        "to",
        "1254709",
        "voters",
    ]


def test_sentences_of_one_article_share_one_heading(service):
    q = "Who warned weapons convoys would be targets?"
    reading = service.answerer.read(q, service.searcher.search(q, 8).hits)
    shown = choose_sentences(reading, 5)
    articles = [s.sentence.hit.chunk.article_id for s in shown]
    # grouped: each article's sentences are consecutive, under one heading
    runs = [article for article, _ in itertools.groupby(articles)]
    assert len(runs) == len(set(runs))
    assert GRAMMAR.startswith("root ::=")
