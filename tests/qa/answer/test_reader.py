"""The reader on the real session index: the fact asked for, stated first and cited;
declining what the archive lacks; follow-ups without an LLM; odd questions."""

from __future__ import annotations

import pytest

from index.store import StoredChunk
from qa.answer.followup import standalone
from qa.answer.question import analyze
from qa.answer.reader import Reader
from qa.errors import QuestionError
from qa.retrieval.conversation import previous_articles, quoted_fragments, with_context
from qa.retrieval.retriever import Hit
from tests.helpers import SEED_QUESTION


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who threatened weapons convoys?", "person"),
        ("Which Russian pilot jailed in the US has Moscow vowed to free?", "person"),
        ("Which union is balloting the conductors?", "organisation"),
        ("In which prison is he held?", "place"),
        ("Where did the attack happen?", "place"),
        ("When was the meeting due to be held?", "date"),
        ("What year was that deal reached?", "date"),
        ("How many flights were cancelled?", "number"),
        ("How much will the bridge cost?", "amount"),
        ("What did the minister say the plan would cost?", "amount"),
        ("How long was he in the National Guard?", "duration"),
        ("What was the death toll?", "number"),
        ("Was Marine Le Pen convicted over the images?", "yesno"),
        ("Why did Harward turn down the job?", "description"),
        ("What is in vitro gametogenesis?", "description"),
    ],
)
def test_the_kind_of_answer_a_question_asks_for(question: str, kind: str) -> None:
    assert analyze(question).kind == kind


def test_a_questions_specifics() -> None:
    a = analyze('Who won the 2017 French election after the "Marine Le Pen" debate in Lyon?')
    found = {(s.text, s.kind) for s in a.key_specifics()}
    assert ("2017", "year") in found and ("Lyon", "entity") in found
    assert ("Marine Le Pen", "quote") in found
    # An apostrophe is not a quotation mark.
    assert not any(s.kind == "quote" for s in analyze("Who is Stanford's women's coach?").specifics)


def test_the_reader_leads_with_the_name_and_cites_its_paragraph(service) -> None:
    """The reader on the flagship question (the service answers a who-said question as a
    list of speakers, qa.answer.statements; the reader is what the other questions get)."""
    hits = service.searcher.search(SEED_QUESTION, service.settings.reader_k).hits
    reading = service.answerer.read(SEED_QUESTION, hits)
    assert reading.answerable and reading.short_answer == "Sergei Ryabkov"
    text, citations = service.answerer.compose(reading)
    assert text.startswith("Sergei Ryabkov — ")
    c = citations[0]
    assert c.paragraph == 21 and "convoys legitimate targets" in c.quote
    assert c.text[c.quote_start : c.quote_end] == c.quote
    assert f"{c.quote} [1]" in text


def test_a_number_is_answered_as_written(service) -> None:
    """The short answer is an entity of the asked kind, copied from the cited sentence."""
    answer = service.ask("How many weapons convoys did Ryabkov call legitimate targets?")
    if answer.refused:  # the seed gives no number: then the reader must say why
        assert answer.related and answer.notes
    else:
        assert answer.short_answer is None or answer.short_answer in answer.citations[0].quote


def test_a_question_the_archive_cannot_answer_is_declined_with_related(service) -> None:
    """The Stockholm attack (April 2017) is after the archive ends: no retrieved article
    names Stockholm, so the reader declines and shows the closest paragraphs as related."""
    answer = service.ask("How many people died in the Stockholm truck attack?")
    assert answer.refused and not answer.citations and answer.short_answer is None
    assert answer.answer == "I could not find this in the archive."
    assert answer.related
    assert any("Stockholm" in n for n in answer.notes)


def test_a_follow_up_is_made_standalone_without_an_llm(service) -> None:
    first = service.ask(SEED_QUESTION)
    follow = service.ask("What did he say about that?", history=[(SEED_QUESTION, first.answer)])
    assert follow.standalone_question == "What did Sergei Ryabkov say about weapons convoys?"
    assert follow.generator == "extractive"
    assert follow.citations and "Ryabkov" in " ".join(c.text for c in follow.citations)


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        (
            "What sentence is he serving?",
            [("Which Russian pilot is jailed in the US?", "Konstantin Yaroshenko — he is [1]")],
            "What sentence is Konstantin Yaroshenko serving?",
        ),
        (
            "And how many were injured?",
            [("How many people were killed in the Berlin truck attack?", "12 — Twelve [1]")],
            "How many were injured (Berlin)?",
        ),
        (
            "What about Germany?",
            [("How many asylum seekers did Sweden take in 2016?", "I could not find this.")],
            "How many asylum seekers did Germany take in 2016?",
        ),
        (
            "Where does her family live?",
            [("Who heads the Manitoba council?", "Rita Chahal — Rita Chahal, director [1]")],
            "Where does Rita Chahal's family live?",
        ),
    ],
)
def test_follow_up_rewrites(question, history, expected) -> None:
    assert standalone(question, history).question == expected


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        (  # a bare wh-phrase asks the previous question about something else
            "And what prison term?",
            [("What fine can the offence carry in France?", "$78,930.00 — The offence [1]")],
            "What prison term can the offence carry in France?",
        ),
        (
            "Which year?",
            [("When did the court rule on the ban?", "Thursday — The court [1]")],
            "Which year did the court rule on the ban?",
        ),
        (  # "the committee" is the one the previous question named
            "And who is the committee's ranking Democrat?",
            [("Who chairs the House Intelligence Committee?", "Devin Nunes — Nunes [1]")],
            "Who is the House Intelligence Committee's ranking Democrat?",
        ),
        (  # a question with its own verb is not a fragment
            "Which ones were deployed?",
            [("How many warheads does the US have?", "4,571 — The U.S. has [1]")],
            "Which ones were deployed (US)?",  # only the earlier names added
        ),
    ],
)
def test_fragments_and_definite_references(question, history, expected) -> None:
    assert standalone(question, history).question == expected


def test_a_follow_up_does_not_answer_with_the_previous_answer(embedder) -> None:
    reader = Reader(embedder)
    text = (
        "The U.S. has a total of 4,571 warheads in its functional stockpile, of which "
        "1,367 are deployed, a State Department official said."
    )
    question = "How many of the nuclear warheads are deployed?"
    assert (
        standalone(question, [("How many warheads?", "4,571 — The U.S. [1]")]).previous_answer
        == "4,571"
    )
    assert reader.read(question, [_hit(text)], known=["4,571"]).short_answer == "1,367"


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        (  # "them": the plural thing the previous question counted, not the country
            "And how many of them are deployed?",
            [("How many nuclear warheads does the US have?", "4,571 — The US has 4,571 [1]")],
            "How many of nuclear warheads are deployed (US)?",
        ),
        (  # "it": the thing the previous question was about, not the professor's university
            "Who did he develop it with?",
            [
                (
                    "Which Monash University professor helped develop human IVF in 1977?",
                    "Alan Trounson — Professor Alan Trounson [1]",
                )
            ],
            "Who did Alan Trounson develop human IVF with?",
        ),
        (  # "it": not "the latest step"
            "What was the parliament's vote on seeking it?",
            [
                (
                    "What is the latest step in Nicola Sturgeon's bid for a second referendum?",
                    "I could not find this in the archive.",
                )
            ],
            "What was the parliament's vote on seeking a second referendum (Nicola Sturgeon)?",
        ),
    ],
)
def test_pronouns_stand_for_the_previous_questions_topic(question, history, expected) -> None:
    assert standalone(question, history).question == expected


def test_a_follow_up_reads_the_article_the_previous_answer_quoted(service) -> None:
    """The history is plain text; the article is found again from the verbatim sentence
    the answer quoted, and a refusal or a paraphrase names none."""
    first = service.ask(SEED_QUESTION)
    article = first.citations[0].article_id
    assert quoted_fragments(first.answer)
    assert previous_articles(service.searcher, first.answer)[0] == article
    assert previous_articles(service.searcher, "I could not find this in the archive.") == []
    assert previous_articles(service.searcher, "Russia said some things about arms.") == []
    # The follow-up reads that article's paragraphs even when its own results lack them.
    added = with_context(service.searcher, "What did the volunteers count?", [], [article])
    assert added and {h.chunk.article_id for h in added} == {article}


def _hit(text: str) -> Hit:
    chunk = StoredChunk(0, "t:0", "t", 0, 1, 1, 0, len(text), text, "A test", None, None, None)
    return Hit(chunk, 1.0, 0.5, None)


def test_the_reader_answers_ages_and_counted_questions(embedder) -> None:
    """An age is a number the recognizer labels DATE; "which two ministers" wants both."""
    reader = Reader(embedder)
    age = reader.read(
        "How old is Suhaib Attar?",
        [_hit("Suhaib Attar, 24, painted a 23-metre panda on a wall in downtown Amman.")],
    )
    assert analyze("How old is he?").focus == "age"
    assert age.short_answer == "24"
    assert analyze("Which two German ministers agreed?").count == 2


def test_the_questions_own_name_is_never_the_answer_however_it_is_spelt(embedder) -> None:
    """ "Kim Jong Nam" in the question is "Kim Jong-nam" in the text: not the answer."""
    reader = Reader(embedder)
    text = (
        "Two women, one Indonesian and one Vietnamese, have been charged with killing "
        "Kim Jong-nam at Kuala Lumpur airport."
    )
    read = reader.read("Who was charged with killing Kim Jong Nam?", [_hit(text)])
    assert read.short_answer is None or "Kim" not in read.short_answer


def test_a_follow_up_with_no_earlier_turn_says_so(service) -> None:
    """With something to search, it is searched as asked and the answer says so; with
    nothing but the reference, it is a clear error."""
    answer = service.ask("What did he say about the convoys?")
    assert answer.standalone_question is None
    assert any("no earlier turn to resolve 'he'" in n for n in answer.notes)
    with pytest.raises(QuestionError, match=r"refers to an earlier answer \('he', 'that'\)"):
        service.ask("What did he say about that?")


def test_a_question_with_no_content_words_is_a_clear_error(service) -> None:
    with pytest.raises(QuestionError, match="names nothing to look for"):
        service.ask("what?")
    with pytest.raises(QuestionError, match="names nothing to look for"):
        service.search("How many?")
    # As a follow-up it has something to refer to.
    first = service.ask(SEED_QUESTION)
    again = service.ask("Who is he?", history=[(SEED_QUESTION, first.answer)])
    assert again.standalone_question == "Who is Sergei Ryabkov?"


def test_a_question_in_another_language_is_declined_with_the_reason(service) -> None:
    answer = service.ask("Qui a menacé les convois d'armes occidentaux?")
    assert answer.refused
    assert any("does not look like English" in n for n in answer.notes)
