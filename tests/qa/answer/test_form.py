"""Answer form (yes/no, offered words, open), names the archive never printed, outlet
coverage of the shown paragraphs, and the paper's accuracy rule (no model needed)."""

from __future__ import annotations

from types import SimpleNamespace

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from qa.answer.chain import AnswerChain
from qa.answer.citations import REFUSAL, resolve
from qa.answer.form import (
    AnswerForm,
    lead_instruction,
    mentions,
    question_form,
    question_names,
    split_lead,
)
from qa.eval.multihop import BENCHMARK_REFUSAL, paper_correct, paper_response, strict_correct
from qa.response import Answer, Filters
from qa.retrieval.hints import QueryPlan, SourceMention, SubQuery
from qa.retrieval.retriever import Hit, SearchResult
from tests.helpers import shown


def test_question_form_follows_the_first_clause_with_a_question_word():
    assert question_form("Does the Verge article say X while TechCrunch says Y?").kind == "yesno"
    # A leading clause ("After …, did …?") does not hide the auxiliary verb.
    q = "After Sporting News reported on November 30, 2023, did ESPN report a similar fall?"
    assert question_form(q).kind == "yesno"
    assert (
        question_form("Between the report on May 1 and the one on May 9, was there a change?").kind
        == "yesno"
    )
    assert (
        question_form("Which company, reported by both outlets, paid $26 billion?").kind == "open"
    )
    assert question_form("Considering the two articles, who founded the firm?").kind == "open"
    assert question_form("Who threatened weapons convoys?").kind == "open"
    choice = question_form(
        "Did the Roar indicate a similar decline, consistent or inconsistent with the report?"
    )
    assert choice == AnswerForm("choice", ("Consistent", "Inconsistent"))
    assert "Yes or No" in lead_instruction(question_form("Is it true?"))
    assert '"Consistent" or "Inconsistent"' in lead_instruction(choice)
    assert "Start" not in lead_instruction(AnswerForm("open"))


def test_split_lead_keeps_the_verdict_in_the_forms_spelling():
    yes_no = question_form("Did it happen?")
    assert split_lead("Yes. The Verge said so [1].", yes_no) == ("Yes", "The Verge said so [1].")
    assert split_lead("**no**, it did not [2]", yes_no) == ("No", "it did not [2]")
    assert split_lead("Nobody knows.", yes_no) is None  # a word, not the verdict "No"
    assert split_lead("The Verge said so.", yes_no) is None
    choice = AnswerForm("choice", ("Consistent", "Inconsistent"))
    assert split_lead("inconsistent: the ranking rose [1]", choice) == (
        "Inconsistent",
        "the ranking rose [1]",
    )


def test_question_names_and_whole_word_mentions():
    q = (
        "Considering the articles by The Guardian and Forbes about Gauri Khan's designs, "
        "which company did OpenAI's GPT-3 team found in September?"
    )
    names = question_names(q)
    assert "Gauri Khan" in names and "OpenAI" in names and "GPT-3" in names
    assert not {"Considering", "The"} & set(names)
    # Spans the retriever resolved as outlets are skipped.
    start = q.index("The Guardian")
    assert "Guardian" not in question_names(q, [(start, start + len("The Guardian"))])
    assert mentions("Gauri Khan", "Designer GAURI KHAN’s new store")
    assert not mentions("Khan", "Khanna said")


PARAS = shown(
    "Deputy foreign minister Sergei Ryabkov warned that the convoys are legitimate targets.",
    "The mayor opened the new bridge on Monday, the council said.",
)


def test_a_verdict_stays_in_front_of_the_verified_claims():
    raw = 'Yes. Ryabkov warned that "the convoys are legitimate targets" [1].'
    r = resolve(raw, PARAS, question_form("Did Ryabkov threaten the convoys?"))
    assert not r.refused and r.verdict == "Yes"
    assert r.answer.startswith("Yes — ") and r.answer.endswith("[1]"), r.answer
    assert r.verified == 1


def test_a_no_that_says_what_an_article_lacks_is_an_answer_not_a_refusal():
    form = question_form("Did the council say the bridge was late?")
    r = resolve("No, the paragraph does not mention a delay.", PARAS, form)
    assert not r.refused and r.verdict == "No" and r.answer.startswith("No — ")
    # Without the form the same reply reads as a refusal (as before).
    assert resolve("The paragraph does not mention a delay.", PARAS).refused
    # "No information" after the verdict is still a refusal.
    r = resolve("No, there is no information about a delay.", PARAS, form)
    assert r.refused and r.answer == REFUSAL


def _hit(cid: str, source: str) -> Hit:
    chunk = SimpleNamespace(chunk_id=cid, source=source, title=cid, text=f"text of {cid}")
    return Hit(chunk, 1.0, 0.5, 1.0)


class FakeSearcher:
    def __init__(self, extra: dict[str, Hit]):
        self.aliases = {"The Verge": {"The Verge"}, "TechCrunch": {"TechCrunch"}}
        self.extra = extra
        self.calls: list[tuple[str, Filters]] = []
        self.plans: list[QueryPlan | None] = []
        self.index = SimpleNamespace(
            keyword_search=lambda text, k, allowed: [(1, 1.0)],
            chunks=lambda rows: {1: SimpleNamespace(title="Gauri Khan opens", text="…")},
        )

    def search(self, text, k, filters=None, plan=None):
        self.calls.append((text, filters))
        self.plans.append(plan)
        hit = self.extra.get((filters.sources or [""])[0])
        return SearchResult([hit] if hit else [], 0.9, [])


def _chain(searcher) -> AnswerChain:
    return AnswerChain(FakeListChatModel(responses=["x"]), searcher, locator=None, k=2)


def test_each_named_outlet_gets_its_best_paragraph_shown():
    q = "Did The Verge and TechCrunch agree?"
    plan = QueryPlan(
        q,
        subqueries=[
            SubQuery(q, Filters(), "question"),
            SubQuery("agree", Filters(sources=["The Verge"]), "The Verge"),
            SubQuery("agree", Filters(sources=["TechCrunch"]), "TechCrunch"),
        ],
        sources=[
            SourceMention(4, 13, "The Verge", ("The Verge",)),
            SourceMention(18, 28, "TechCrunch", ("TechCrunch",)),
        ],
    )
    pool = [_hit("a", "Wired"), _hit("b", "Wired"), _hit("c", "The Verge"), _hit("d", "Wired")]
    tc = _hit("t", "TechCrunch")
    searcher = FakeSearcher({"TechCrunch": tc})
    picked = _chain(searcher).pick(q, SearchResult(pool, 0.9, [], plan), 2)
    # The Verge's paragraph comes from the pool, TechCrunch's from its own sub-query.
    assert [h.chunk.chunk_id for h in picked] == ["c", "t"]
    assert searcher.calls == [("agree", Filters(sources=["TechCrunch"]))]
    # That sub-query is searched alone, not planned (nor sent to an LLM to split) again.
    assert [s.subqueries for s in searcher.plans] == [[plan.subqueries[2]]]
    # Without named outlets: plain retrieval order.
    plain = _chain(searcher).pick("x", SearchResult(pool, 0.9, [], QueryPlan("x")), 2)
    assert [h.chunk.chunk_id for h in plain] == ["a", "b"]


def test_names_the_archive_never_printed_are_reported():
    chain = _chain(FakeSearcher({}))
    result = SearchResult([], 0.9, [], QueryPlan("q"))
    q = "What did Gauri Khan and Kanika Ahuja design for The Verge?"
    assert chain.unknown_names(q, result) == ["Kanika Ahuja"]  # outlets are not names


def _answer(text: str, refused: bool = False) -> Answer:
    return Answer(question="q", answer=text, refused=refused, citations=[], generator="local")


def test_paper_rule_is_qa_evaluate_exactly():
    assert paper_correct("Yes", "Yes — The Verge said so [1].")
    assert not paper_correct("Yes", "Yes, the Verge said so.")  # "yes," is not "yes"
    assert paper_correct("Sam Bankman-Fried", "sam said")
    assert paper_correct("no", 'Well. The answer to the question is "No" indeed')
    assert not paper_correct("Yes", 'The answer to the question is "No", yes')
    # A refusal is scored as the benchmark's own refusal answer.
    refusal = _answer(REFUSAL, refused=True)
    assert paper_response(refusal) == BENCHMARK_REFUSAL
    assert paper_correct("Insufficient information.", paper_response(refusal))
    assert not paper_correct("Yes", paper_response(refusal))
    assert strict_correct("Insufficient information.", refusal)
    assert strict_correct("no", _answer("No — it did not [1]"))


def test_label_lines_and_decimal_points_do_not_break_the_answer():
    para = shown("The S&P 500 tumbled 1.5 per cent for its fifth loss in the last six days.")
    raw = "Yes\n\nSupporting facts:\nThe S&P 500 tumbled 1.5 per cent for its fifth loss [1]."
    r = resolve(raw, para, question_form("Did the S&P 500 fall?"))
    assert r.answer == "Yes — The S&P 500 tumbled 1.5 per cent for its fifth loss. [1]", r.answer
    assert r.verified == 1


def test_a_verdict_on_a_last_answer_line_is_moved_to_the_front():
    form = question_form("Did Ryabkov threaten the convoys?")
    assert split_lead("Ryabkov warned [1].\nAnswer: No", form) == ("No", "Ryabkov warned [1].")
    assert split_lead("Ryabkov warned [1].\n**Answer:** yes.", form) == (
        "Yes",
        "Ryabkov warned [1].",
    )
    assert split_lead("Ryabkov warned [1].\nAnswer: maybe", form) is None


def test_strict_rule_reads_the_verdict_of_a_verdict_first_answer():
    assert not strict_correct("Consistent", _answer("Inconsistent — it stayed consistent [1]"))
    assert strict_correct("Consistent", _answer("Consistent — both said so [1]"))
    assert strict_correct("Google", _answer("Google paid $26 billion [1]"))
