"""`eval answers` scoring on hand-made answers, and one real run on the session index."""

from __future__ import annotations

import json

from qa.eval.answers import Item, Question, load_set, run_items, score_turn, summarize
from qa.response import REFUSAL, Answer, Citation
from tests.helpers import SEED, read_news_rows, run_cli, subset_rows

RYABKOV = Question(
    question="Who threatened weapons convoys?",
    type="person",
    answerable=True,
    article_id="seed",
    answers=("Sergei Ryabkov", "Ryabkov"),
    evidence=("Deputy foreign minister Sergei Ryabkov warned the US ‘that pumping weapons’.",),
)
LATER = Question(
    question="Who won the 2017 French presidential election?",
    type="person",
    answerable=False,
    article_id="other",
)


def cite(article_id: str, text: str, date: str | None = None) -> Citation:
    return Citation(
        n=1,
        article_id=article_id,
        chunk_id=f"{article_id}:0",
        title="t",
        source=None,
        date=date,
        url=None,
        paragraph=1,
        text=text,
        quote=text,
    )


def answer(text: str, *citations: Citation, refused: bool = False, **extra) -> Answer:
    a = Answer(question="q", answer=text, refused=refused, citations=list(citations))
    for k, v in extra.items():
        object.__setattr__(a, k, v)  # short_answer arrives with the reader stage
    return a


PARA = "Deputy foreign minister Sergei Ryabkov warned the US 'that pumping weapons'."


def test_right_needs_the_answer_and_a_citation_from_the_gold_article():
    ok = score_turn(RYABKOV, answer("RYABKOV warned the US. [1]", cite("seed", PARA)), 0.1)
    assert ok["right"] and ok["cited_gold"] and ok["evidence_cited"]  # quotes/case ignored
    wrong_article = score_turn(RYABKOV, answer("Ryabkov [1]", cite("tass-1", PARA)), 0.1)
    assert wrong_article["answer_found"] and not wrong_article["right"]
    no_name = score_turn(RYABKOV, answer("A Russian official. [1]", cite("seed", "x")), 0.1)
    assert not no_name["right"] and not no_name["evidence_cited"]
    # a part of a word is not the answer
    assert not score_turn(RYABKOV, answer("Ryabkovs [1]", cite("seed", PARA)), 0.1)["right"]


def test_the_short_answer_is_scored_when_the_generator_gives_one():
    a = answer("Sergei Ryabkov said so. [1]", cite("seed", PARA), short_answer="Joe Biden")
    assert not score_turn(RYABKOV, a, 0.1)["right"]
    a = answer("Joe Biden and Sergei Ryabkov. [1]", cite("seed", PARA), short_answer="Ryabkov")
    assert score_turn(RYABKOV, a, 0.1)["right"]


def test_two_fact_questions_need_every_fact():
    q = Question(
        question="Who met whom?",
        type="person",
        answerable=True,
        article_id="a",
        answers=("Tillerson",),
        also_answers=(("Lavrov", "Sergey Lavrov"),),
    )
    assert not score_turn(q, answer("Tillerson [1]", cite("a", "")), 0.1)["right"]
    assert score_turn(q, answer("Tillerson met Sergey Lavrov [1]", cite("a", "")), 0.1)["right"]


def test_a_development_needs_the_story_from_two_dates_in_date_order():
    q = Question(
        question="How did coverage of Geert Wilders develop?",
        type="time",
        answerable=True,
        article_id="a",
        answers=("Wilders",),
        other_articles=("b", "c"),
        tags=("time:development",),
    )
    first, later = cite("a", "Wilders", "2017-02-07"), cite("b", "Wilders", "2017-03-16")
    assert score_turn(q, answer("Wilders… [1] Wilders… [2]", first, later), 0.1)["right"]
    # one article is a report, not a development; nor is the story told backwards
    assert not score_turn(q, answer("Wilders [1]", first), 0.1)["right"]
    assert not score_turn(q, answer("Wilders [1] [2]", later, first), 0.1)["right"]
    # a citation outside the story does not count towards its dates
    stray = cite("z", "Wilders", "2017-03-20")
    assert not score_turn(q, answer("Wilders [1] [2]", first, stray), 0.1)["right"]
    rows = [{"id": "a", "turn": 1, **score_turn(q, answer("Wilders", first, later), 0.1)}]
    assert summarize(rows)["by_type"]["time:development"]["right"] == 1


def test_refusals_count_against_answerable_and_for_unanswerable():
    declined = answer(REFUSAL, refused=True)
    row = score_turn(RYABKOV, declined, 0.1)
    assert row["refused"] and not row["right"]
    assert score_turn(LATER, declined, 0.1)["right"]
    guessed = score_turn(LATER, answer("Le Pen is favourite. [1]", cite("x", "y")), 0.1)
    assert not guessed["right"]
    rows = [
        {"id": "a", "turn": 1, **row},
        {"id": "b", "turn": 1, **score_turn(LATER, declined, 0.2)},
        {"id": "b", "turn": 2, **score_turn(RYABKOV, answer("Ryabkov", cite("seed", PARA)), 0.3)},
    ]
    s = summarize(rows)
    overall = s["by_type"]["overall"]
    assert (overall["answerable"], overall["right"], overall["wrongly_declined"]) == (2, 1, 1)
    assert (overall["unanswerable"], overall["declined"]) == (1, 1)
    assert (s["followups"], s["followups_right"]) == (1, 1)
    assert overall["p50_s"] == 0.2


def test_follow_ups_are_asked_with_the_first_turn_as_history():
    seen = []

    def ask(q, history):
        seen.append((q, history))
        return answer(f"Ryabkov answered {q}", cite("seed", PARA))

    item = Item(id="c1", split="dev", turns=(RYABKOV, LATER))
    rows = run_items(ask, [item])
    assert seen[0] == (RYABKOV.question, [])
    assert seen[1] == (LATER.question, [(RYABKOV.question, f"Ryabkov answered {RYABKOV.question}")])
    assert [r["turn"] for r in rows] == [1, 2]


def test_a_real_run_on_the_session_index(service, news_index, tmp_path):
    """The set's questions whose articles the session index holds, answered for real."""
    from index.loaders import LoadReport, iter_articles

    seed = next(iter_articles([SEED], LoadReport()))
    held = {r["article_id"] for r in subset_rows(read_news_rows())} | {seed.id}
    items = [i for i in load_set() if all(q.article_id in held for q in i.turns)]
    assert len(items) >= 5
    # the seed's questions first, then others up to 20 records: a few seconds of answering
    items = sorted(items, key=lambda i: i.turns[0].article_id != seed.id)[:20]
    rows = run_items(lambda q, h: service.ask(q, history=h or None), items)
    s = summarize(rows)["by_type"]["overall"]
    assert s["questions"] == len(rows)
    # the flagship is in every session index and the extractive answerer gets it
    flag = [r for r in rows if r["question"] == "Who threatened weapons convoys?"]
    assert flag and flag[0]["right"] and flag[0]["evidence_cited"]
    # the command prints the table and writes the rows
    out = tmp_path / "rows.json"
    r = run_cli(
        "eval",
        "answers",
        "--split",
        "dev",
        "--index",
        str(news_index),
        "--limit",
        "2",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert "right answer" in r.stdout
    data = json.loads(out.read_text())
    assert data["split"] == "dev" and data["items"] == 2 and len(data["rows"]) >= 2


def test_an_unknown_split_is_one_line_and_loads_nothing():
    r = run_cli("eval", "answers", "--split", "final")
    assert r.returncode == 1
    assert r.stderr.strip() == "error: unknown split 'final'; choose one of dev, test"
