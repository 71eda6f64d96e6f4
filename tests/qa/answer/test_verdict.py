"""Verdicts of closed questions from first-token probabilities: the arithmetic (no
model needed) and the prefilled continuation."""

from __future__ import annotations

import math

from langchain_core.messages import AIMessage

from qa.answer.chain import _prefixed
from qa.answer.verdict import decide, first_token_logprobs, option_logprob

YES_NO = ("Yes", "No")


def lp(p: float) -> float:
    return math.log(p)


def test_yes_must_beat_no_by_the_margin():
    top = {"Yes": lp(0.6), "No": lp(0.3), "The": lp(0.05)}
    logodds = math.log(0.6 / 0.3)  # 0.69: the Yes a 1.5B model gives to most questions
    v = decide(top, YES_NO, margin=0.0)
    assert v.word == "Yes" and math.isclose(v.logodds, logodds, abs_tol=1e-3)
    assert decide(top, YES_NO, margin=logodds - 0.01).word == "Yes"
    assert decide(top, YES_NO, margin=logodds + 0.01).word == "No"
    assert decide({"Yes": lp(0.3), "No": lp(0.6)}, YES_NO, margin=-1.0).word == "Yes"


def test_spellings_of_an_option_add_up_and_single_letters_do_not_count():
    top = {"Yes": lp(0.3), " yes": lp(0.1), "YES": lp(0.05), "No": lp(0.2), "N": lp(0.3)}
    assert math.isclose(option_logprob(top, "Yes", YES_NO), math.log(0.45), abs_tol=1e-9)
    assert math.isclose(option_logprob(top, "No", YES_NO), math.log(0.2), abs_tol=1e-9)


def test_offered_words_are_matched_by_their_first_token():
    options = ("Consistent", "Inconsistent")
    top = {"Cons": lp(0.3), "In": lp(0.5), "I": lp(0.1), "consistent": lp(0.05)}
    assert math.isclose(option_logprob(top, "Consistent", options), math.log(0.35), abs_tol=1e-9)
    # "I" is one letter (it starts "I cannot …" as well): not counted for Inconsistent.
    assert math.isclose(option_logprob(top, "Inconsistent", options), math.log(0.5), abs_tol=1e-9)
    # A token that begins both options says nothing about either.
    both = ("Agree", "Agreement")
    assert option_logprob({"Ag": lp(0.9), "x": lp(0.01)}, "Agree", both) == math.log(0.01)


def test_an_option_missing_from_the_list_gets_an_upper_bound():
    top = {"Yes": lp(0.8), "The": lp(0.1), "It": lp(0.05)}
    # "No" is not listed: at most the least listed (0.05) and what the list leaves (0.05).
    v = decide(top, YES_NO)
    assert math.isclose(v.logodds, math.log(0.8 / 0.05), abs_tol=1e-3) and v.word == "Yes"
    assert decide({"No": lp(0.8), "The": lp(0.1), "It": lp(0.05)}, YES_NO).word == "No"
    # An endpoint that lists one alternative: the rest of the mass bounds the other option.
    v = decide({"Yes": lp(0.95)}, YES_NO, margin=0.6)
    assert v.word == "Yes" and math.isclose(v.logodds, math.log(0.95 / 0.05), abs_tol=1e-3)


def test_no_verdict_when_the_model_would_rather_say_something_else():
    # It was going to refuse ("I could not find …"): leave the reply to the model.
    assert decide({"I": lp(0.85), "Yes": lp(0.10), "No": lp(0.03)}, YES_NO) is None
    assert decide({"The": lp(0.5), "Yes": lp(0.3)}, YES_NO) is None
    assert decide({"I": lp(0.9), "The": lp(0.05)}, YES_NO) is None
    assert decide({}, YES_NO) is None
    # Yes and No together outweigh any other start: decided.
    assert decide({"The": lp(0.3), "Yes": lp(0.2), "No": lp(0.15)}, YES_NO).word == "Yes"


def test_first_token_logprobs_read_openais_format_from_a_message():
    msg = AIMessage(
        content="Yes",
        response_metadata={
            "logprobs": {
                "content": [
                    {
                        "token": "Yes",
                        "logprob": -0.1,
                        "top_logprobs": [
                            {"token": "Yes", "logprob": -0.1, "bytes": [89, 101, 115]},
                            {"token": "No", "logprob": -2.4, "bytes": [78, 111]},
                        ],
                    }
                ]
            }
        },
    )
    assert first_token_logprobs(msg) == {"Yes": -0.1, "No": -2.4}
    assert first_token_logprobs(AIMessage(content="Yes")) is None


def test_the_prefilled_verdict_is_streamed_once():
    # A streaming endpoint sends only the continuation ...
    assert "".join(_prefixed("No", iter([",", " the council", " did not [1]"]))) == (
        "No, the council did not [1]"
    )
    # ... a non-streaming one the whole reply, the prefilled word included.
    assert "".join(_prefixed("No", iter(["No, the council did not [1]"]))) == (
        "No, the council did not [1]"
    )
    assert "".join(_prefixed("Yes", iter(["Y", "es", ", it did [2]"]))) == "Yes, it did [2]"
    # A continuation that merely starts like the word is kept, even when it ends there.
    assert "".join(_prefixed("No", iter(["vember 3 saw [1]"]))) == "November 3 saw [1]"
    assert "".join(_prefixed("Yes", iter(["Y"]))) == "YesY"


def test_the_margin_fit_scores_each_margin_and_the_held_out_halves():
    from qa.eval.verdict import best_margin, summarize

    # Gold-Yes questions get log-odds 0.8-1.2, gold-No ones 0.2-0.6: the model prefers
    # Yes for all of them (first word right 50%), a margin between the groups is right.
    rows = [{"gold_yes": True, "logodds": 0.8 + 0.1 * i, "first": "Yes"} for i in range(5)] + [
        {"gold_yes": False, "logodds": 0.2 + 0.1 * i, "first": "Yes"} for i in range(5)
    ]
    assert 0.6 <= best_margin(rows) < 0.8
    report = summarize(rows, splits=20)
    assert report["n"] == 10 and report["gold_yes"] == 5
    assert report["first_word_accuracy"] == 0.5
    assert report["accuracy_at_best"] == 1.0 and report["roc_auc"] == 1.0
    assert 0.5 < report["accuracy_fit_on_other_half"] <= 1.0
    assert report["accuracy_by_margin"][0.0] == 0.5


def test_margin_questions_stay_out_of_the_evaluated_samples():
    from qa.eval.multihop import stratified_sample
    from qa.eval.verdict import draw_questions

    queries = [
        {"query": f"q{i}", "question_type": t, "answer": a}
        for i, (t, a) in enumerate(
            [(t, a) for t in ("comparison_query", "temporal_query") for a in ("Yes", "No")] * 30
            + [("inference_query", "Google"), ("null_query", "Insufficient information.")] * 30
        )
    ]
    held = {q["query"] for q in stratified_sample(queries, 40, 7)}
    drawn = draw_questions(queries, 20, [101, 202], exclude_seeds=[7])
    assert len(drawn) == 40 and len({q["query"] for q in drawn}) == 40  # no repeats
    assert not held & {q["query"] for q in drawn}
    assert {q["answer"] for q in drawn} == {"Yes", "No"}
