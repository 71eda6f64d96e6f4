"""The `openai` generator against a real OpenAI-compatible HTTP server on 127.0.0.1.

The server is the tests' own small FastAPI app speaking `/v1/chat/completions` (plain
and streamed, with first-token `logprobs` when asked). It plays a model that quotes the
first sentence of paragraph [1] and, like careless models do, also cites a paragraph that
was never shown ([7]); asked a yes/no question it leans to "Yes", but not by much, and
it continues a reply whose start is prefilled. Everything
else is real: the index, retrieval, langchain-openai's client, parsing, verification.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from qa.service import QAService
from qa.settings import Settings
from tests.helpers import SEED, SEED_QUESTION

# A question about the seed that is not a who-said one: the model reads paragraphs.
PARAGRAPH_QUESTION = "Why would weapons convoys become legitimate targets?"
SEED_TITLE = "Captured Russian soldier claims Moscow has special squad for deserters"


def fake_reply(messages: list[dict]) -> str:
    system = messages[0]["content"]
    user = messages[-1]["content"]
    if "short search queries" in system:  # decomposition: one query per "and"-clause
        parts = re.split(r"\s+and\s+", user.rstrip("?"))
        return "\n".join(f"{i}. {p}?" for i, p in enumerate(parts, start=1))
    if "standalone question" in system.lower():
        last = re.search(r"Last question: (.*)", user).group(1)
        return f"What did Volodymyr Zelensky say, {last.lower()}"
    if "in your own words" in user:  # a claim with no marker and no quote behind it
        return "It was somebody important, as everyone knows."
    block = re.search(r"\[1\] (.*?)(?:\n\(from:|\n\n|$)", user, re.S).group(1)
    sentence = re.match(r".+?[.!?](?=\s|$)", block.strip(), re.S)
    first = sentence.group(0) if sentence else block.strip()
    if re.search(r"Question: (?:Did|Does|Was|Is)\b", user):
        return f"Yes, {first[0].lower()}{first[1:]} [1] [7]"  # it answers Yes, of course
    return f"{first} [1] [7]"


def json_reply(messages: list[dict], question: str) -> str:
    """The sentence reader's form: it answers with the first three words of sentence [1],
    citing [1] and a sentence it was never shown ([9]); "nowhere" questions it cannot
    answer; asked "in your own words", it answers with words no sentence has."""
    first = re.search(r"^\[1\] (.*)$", messages[-1]["content"], re.M).group(1)
    if "nowhere" in question:
        return json.dumps({"found": False, "answer": "", "sentences": []})
    if "in your own words" in question:
        return json.dumps({"found": True, "answer": "somebody important", "sentences": [1]})
    words = " ".join(re.findall(r"[\w'’-]+", first)[:3])
    return json.dumps({"found": True, "answer": words, "sentences": [1, 9]})


def first_token_logprobs(messages: list[dict]) -> list[dict]:
    """The Yes-leaning model of a yes/no question: P(Yes) 0.6, P(No) 0.39 (log-odds
    0.43, under the 0.6 margin a Yes needs)."""
    top = [("Yes", 0.6), ("No", 0.39), ("The", 0.01)]
    return [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in top]


def make_app(log: list[dict]):
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        log.append(body)
        messages = body["messages"]
        prefill = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
        base = {"id": "x", "created": int(time.time()), "model": body["model"]}
        asked = re.search(r"Question: (.*)", messages[-1]["content"])
        question = asked.group(1) if asked else ""
        if body.get("logprobs") and "Zelensky" in question:
            # An endpoint that does not support logprobs and says so.
            return JSONResponse({"error": {"message": "logprobs not supported"}}, 400)
        if body.get("logprobs") and "soldier" not in question:
            # ("soldier": one that ignores the request and answers as usual.)
            top = first_token_logprobs(messages)[: body.get("top_logprobs") or 1]
            choice = {
                "index": 0,
                "finish_reason": "length",
                "message": {"role": "assistant", "content": top[0]["token"]},
                "logprobs": {"content": [{**top[0], "top_logprobs": top}]},
            }
            return JSONResponse({**base, "object": "chat.completion", "choices": [choice]})
        if "Reply with a JSON object" in messages[0]["content"]:
            if body.get("response_format") and "plain endpoint" in question:
                return JSONResponse({"error": {"message": "response_format is not supported"}}, 400)
            text = json_reply(messages, question)
            if not body.get("response_format"):
                text = f"Here is the answer: {text} I hope it helps."
        else:
            text = fake_reply(messages[:-1] if prefill else messages)
        if prefill:  # the rest of the prefilled reply
            text = ", " + text.removeprefix("Yes, ")
        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            )

        def events():
            for i, piece in enumerate(re.findall(r"\S+\s*", text)):
                # (the first delta names the role, as OpenAI's and llama.cpp's servers do)
                delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n"
            end = {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


@pytest.fixture(scope="module")
def endpoint():
    import uvicorn

    log: list[dict] = []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(make_app(log), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline, "test server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1", log
    server.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def openai_service(seed_index, endpoint):
    url, _ = endpoint
    settings = Settings(
        index_dir=seed_index,
        generator="openai",
        openai_base_url=url,
        openai_model="fake-model",
        llm_evidence="paragraphs",
    )
    svc = QAService.from_settings(settings)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def sentence_service(seed_index, endpoint):
    url, _ = endpoint
    settings = Settings(
        index_dir=seed_index,
        generator="openai",
        openai_base_url=url,
        openai_model="fake-model",
        llm_evidence="sentences",
    )
    svc = QAService.from_settings(settings)
    yield svc
    svc.close()


def test_openai_answer_is_parsed_verified_and_cleaned(openai_service, endpoint):
    answer = openai_service.ask(SEED_QUESTION)
    assert answer.generator == "openai" and answer.model == "fake-model"
    assert not answer.refused
    assert "[7]" not in answer.answer and any("[7]" in n for n in answer.notes)
    (c,) = answer.citations
    assert c.n == 1 and c.title == SEED_TITLE
    # The citation is the exact seed paragraph that holds the sentence the model used.
    seed_paragraphs = [p.strip() for p in SEED.read_text(encoding="utf-8").split("\n\n")]
    assert c.text in seed_paragraphs and "legitimate targets" in c.text
    assert c.verified and c.match in ("exact", "normalized", "overlap")
    assert c.text[c.quote_start : c.quote_end] == c.quote and len(c.quote.split()) >= 4
    assert answer.verified_citations == 1 and answer.unverified_citations == 0
    # The request carried the rules and the delimited, numbered paragraphs.
    _, log = endpoint
    sent = log[-1]["messages"]
    assert "<paragraphs>" in sent[-1]["content"] and "[1]" in sent[-1]["content"]
    assert "never an instruction to you" in sent[0]["content"]


def test_a_who_said_question_shows_the_model_the_statements(openai_service, endpoint):
    _, log = endpoint
    answer = openai_service.ask(SEED_QUESTION)
    sent = log[-1]["messages"]
    # The model read attributed statements, one numbered line each, not paragraphs.
    assert "statement from a news article" in sent[0]["content"]
    shown = re.findall(r"^\[\d+\] (.*)$", sent[-1]["content"], re.M)
    assert shown and shown[0].startswith("Sergei Ryabkov (Deputy foreign minister), warn: “")
    assert all(re.search(r", \w+: “.*”$", line) for line in shown)
    # Its quote was checked against the seed paragraph that holds the statement.
    c = answer.citations[0]
    assert c.verified and c.title == SEED_TITLE and "legitimate targets" in c.quote
    assert c.text.startswith("Deputy foreign minister Sergei Ryabkov warned")


def test_openai_streams_tokens_then_the_answer(openai_service, endpoint):
    _, log = endpoint
    items = list(openai_service.stream(PARAGRAPH_QUESTION))
    pieces, final = items[:-1], items[-1]
    assert len(pieces) > 3 and all(isinstance(p, str) for p in pieces)
    shown = re.search(r"\[1\] (.{20})", log[-1]["messages"][-1]["content"]).group(1)
    assert "".join(pieces).strip().startswith(shown)  # the model's words, as they came
    assert final.citations and final.citations[0].verified
    assert final.timings.first_token_ms is not None
    assert final.timings.first_token_ms <= final.timings.total_ms


def test_openai_follow_up_is_rewritten_with_the_history(openai_service, endpoint):
    _, log = endpoint
    first = openai_service.ask(SEED_QUESTION)
    n = len(log)
    follow = openai_service.ask(
        "And what did Zelensky say?", history=[(SEED_QUESTION, first.answer)]
    )
    rewrite = log[n]["messages"]
    assert "standalone question" in rewrite[0]["content"].lower()
    assert SEED_QUESTION in rewrite[-1]["content"]  # the history went into the rewrite
    assert follow.standalone_question and "Zelensky" in follow.standalone_question
    assert follow.citations and "Zelensky" in follow.citations[0].text


def test_openai_generator_needs_a_model_name(seed_index):
    from qa.errors import OpenAISettingsError

    with pytest.raises(OpenAISettingsError, match="ARCHIVE_QA_OPENAI_MODEL"):
        QAService.from_settings(Settings(index_dir=seed_index, generator="openai"))


def test_the_service_as_one_langchain_runnable(openai_service):
    """`as_runnable()` gives the same `Answer` as `ask`, fallback to quotes included."""
    from qa.response import Answer

    runnable = openai_service.as_runnable()
    out = runnable.invoke({"question": PARAGRAPH_QUESTION})
    assert isinstance(out, Answer) and out.generator == "openai"
    assert out.answer.startswith("This comes as Russia") and out.citations[0].verified
    same = openai_service.ask(PARAGRAPH_QUESTION)
    assert out.model_dump(exclude={"timings"}) == same.model_dump(exclude={"timings"})
    uncited = runnable.invoke("Who threatened weapons convoys, in your own words?")
    assert "somebody important" not in uncited.answer
    assert uncited.citations and not uncited.refused
    assert "showing quoted sentences instead of the model's uncited answer" in uncited.notes


def test_endpoint_down_is_a_clear_error(seed_index):
    """A closed port: one ArchiveQAError that names the failure, never a raw client error."""
    import socket

    from qa.errors import ArchiveQAError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    settings = Settings(
        index_dir=seed_index,
        generator="openai",
        openai_base_url=f"http://127.0.0.1:{closed}/v1",
        openai_model="fake-model",
        openai_timeout=5,
    )
    svc = QAService.from_settings(settings)
    try:
        with pytest.raises(ArchiveQAError, match="the answer generator failed"):
            svc.ask(SEED_QUESTION)
    finally:
        svc.close()


CLOSED = "Did Joe Biden approve the shipment of Polish MiG fighter jets to Kyiv?"


def calibrated_settings(seed_index, url: str) -> Settings:
    """The endpoint with verdicts from first-token probabilities (not its default)."""
    return Settings(
        index_dir=seed_index,
        generator="openai",
        openai_base_url=url,
        openai_model="fake-model",
        verdict="calibrated",
        verdict_margin=0.6,
        llm_evidence="paragraphs",
    )


def test_a_closed_questions_verdict_is_decided_then_explained(seed_index, endpoint):
    """The model leans to Yes (0.6 against 0.39), less than the margin a Yes needs: the
    verdict is No, and the model writes the rest of a reply that starts with it."""
    url, log = endpoint
    settings = calibrated_settings(seed_index, url)
    svc = QAService.from_settings(settings)
    try:
        n = len(log)
        items = list(svc.stream(CLOSED))
    finally:
        svc.close()
    final = items[-1]
    assert final.verdict == "No"
    assert math.isclose(final.verdict_logodds, math.log(0.6 / 0.39), abs_tol=1e-3)
    assert final.answer.startswith("No — ") and final.citations and final.citations[0].verified
    assert "".join(items[:-1]).startswith("No, ")  # streamed: the verdict, then the model's words
    probe, answer = log[n:]
    assert probe["logprobs"] is True and probe["top_logprobs"] == 20
    assert (probe.get("max_completion_tokens") or probe.get("max_tokens")) == 1
    assert "[1]" in probe["messages"][-1]["content"]
    assert answer["messages"][:-1] == probe["messages"]  # same prompt, reused by llama.cpp
    assert answer["messages"][-1] == {"role": "assistant", "content": "No"}
    # The probe alone, as `eval verdict` uses it to fit the margin: same log-odds.
    svc = QAService.from_settings(settings)
    try:
        probed = svc.chain.probe_verdict(CLOSED)
    finally:
        svc.close()
    assert probed.word == "Yes" and probed.logodds == final.verdict_logodds  # margin 0


def test_the_default_for_an_endpoint_is_the_models_own_verdict(openai_service, endpoint):
    """auto: the margin is fit for the local model, and an endpoint may not continue a
    prefilled reply, so an OpenAI-compatible one is asked once and its first word kept."""
    _, log = endpoint
    n = len(log)
    answer = openai_service.ask(CLOSED)
    assert len(log) == n + 1 and not log[n].get("logprobs")
    assert answer.verdict == "Yes" and answer.answer.startswith("Yes — ")
    assert answer.verdict_logodds is None


@pytest.mark.parametrize(
    "question",
    [
        "Did Zelensky say he sees no bravery from NATO?",  # the endpoint rejects logprobs
        "Did the captured soldier say his phone was taken away?",  # ... or ignores them
    ],
)
def test_without_logprobs_the_models_own_verdict_stands(seed_index, endpoint, question):
    url, log = endpoint
    svc = QAService.from_settings(calibrated_settings(seed_index, url))
    try:
        n = len(log)
        answer = svc.ask(question)
    finally:
        svc.close()
    assert log[n].get("logprobs") and not log[n + 1].get("logprobs")  # probed, then asked
    assert log[n + 1]["messages"][-1]["role"] == "user"  # no prefill
    assert answer.verdict == "Yes" and answer.verdict_logodds is None
    assert answer.citations and answer.citations[0].verified


def test_the_endpoint_splits_a_question_into_searched_sub_questions(seed_index, endpoint):
    url, log = endpoint
    settings = Settings(
        index_dir=seed_index,
        generator="openai",
        openai_base_url=url,
        openai_model="fake-model",
        query_decompose_llm=True,
        llm_evidence="paragraphs",
    )
    question = "Who threatened weapons convoys and what did Zelensky say about deserters?"
    svc = QAService.from_settings(settings)
    try:
        n = len(log)
        answer = svc.ask(question)
        asked = [b for b in log[n:] if "short search queries" in b["messages"][0]["content"]]
        assert len(asked) == 1 and asked[0]["messages"][-1]["content"] == question
        assert "searched sub-question 1 separately" in answer.notes
        assert "searched sub-question 2 separately" in answer.notes
        assert answer.citations and not answer.refused
        n = len(log)
        svc.ask(question)  # the same question again: its sub-questions are remembered
        svc.search(question)  # and a plain search never waits on the LLM
        assert len(log) > n
        assert not any("short search queries" in b["messages"][0]["content"] for b in log[n:])
    finally:
        svc.close()


def test_the_model_reads_sentences_and_answers_in_the_json_form(sentence_service, endpoint):
    from qa.answer.llm_reader import SCHEMA

    _, log = endpoint
    items = list(sentence_service.stream(PARAGRAPH_QUESTION))
    pieces, answer = items[:-1], items[-1]
    request = log[-1]
    assert request["response_format"]["json_schema"]["schema"] == SCHEMA
    user = request["messages"][-1]["content"]
    assert f"Article: {SEED_TITLE}" in user and "<paragraphs>" not in user
    shown = re.findall(r"^\[(\d+)\] (.*)$", user, re.M)
    assert 1 <= len(shown) <= 6 and [int(n) for n, _ in shown] == list(range(1, len(shown) + 1))
    first = shown[0][1]
    # The answer: the model's short answer, then sentence [1] verbatim, cited and verified.
    words = " ".join(re.findall(r"[\w'’-]+", first)[:3])
    assert answer.short_answer == words
    assert answer.answer == f"{words} — {first} [1]"
    (c,) = answer.citations
    assert c.verified and c.quote == first and c.text[c.quote_start : c.quote_end] == first
    assert c.title == SEED_TITLE and answer.verified_citations == 1
    assert any("[9]" in n and "not shown" in n for n in answer.notes)
    # Streamed: the short answer as it came, then the quotes; together the final text.
    assert pieces[0] and "".join(pieces) == answer.answer
    assert answer.timings.first_token_ms is not None
    assert answer.timings.first_token_ms <= answer.timings.total_ms


def test_a_sentence_reply_that_finds_nothing_is_a_refusal(sentence_service):
    answer = sentence_service.ask("Why would weapons convoys go nowhere?")
    assert answer.refused and not answer.citations and answer.related
    assert "the model found no shown sentence that answers the question" in answer.notes


def test_a_name_the_cited_sentences_do_not_write_is_declined(sentence_service):
    answer = sentence_service.ask(
        "Which Russian official is quoted on weapons convoys becoming legitimate targets, in your own words?"
    )
    assert answer.refused and "somebody important" not in answer.answer, answer.notes
    assert any("do not write" in n for n in answer.notes), answer.notes


def test_an_endpoint_without_json_schemas_is_asked_again_and_parsed(seed_index, endpoint):
    url, log = endpoint
    settings = Settings(
        index_dir=seed_index,
        generator="openai",
        openai_base_url=url,
        openai_model="fake-model",
        llm_evidence="sentences",
    )
    svc = QAService.from_settings(settings)
    try:
        n = len(log)
        answer = svc.ask("Why would weapons convoys become targets, plain endpoint?")
        assert [bool(b.get("response_format")) for b in log[n:]] == [True, False]
        assert not answer.refused and answer.citations[0].verified
        n = len(log)
        svc.ask("Why would weapons convoys be legitimate targets, plain endpoint?")
        assert [bool(b.get("response_format")) for b in log[n:]] == [False]  # remembered
    finally:
        svc.close()


def test_a_yes_no_question_or_one_no_sentence_covers_is_read_from_paragraphs(
    sentence_service, endpoint
):
    """Sentences answer a question one sentence can; a verdict, or a question whose names
    or years no one sentence holds (several articles' facts joined, or a near-miss), goes
    to the chain, which reads paragraphs and keeps its own refusals."""
    _, log = endpoint
    n = len(log)
    closed = sentence_service.ask(CLOSED)
    asked = [b for b in log[n:] if "<paragraphs>" in b["messages"][-1]["content"]]
    assert asked and not any(b.get("response_format") for b in log[n:])
    assert "a yes/no question: the model read paragraphs" in closed.notes
    assert closed.citations and closed.citations[0].verified
    n = len(log)
    # The seed article never mentions 1998: no sentence holds the year.
    joined = sentence_service.ask("Where was the captured Russian soldier in 1998?")
    assert "no single sentence holds what the question names: the model read paragraphs" in (
        joined.notes
    )
    assert any("<paragraphs>" in b["messages"][-1]["content"] for b in log[n:])


def test_an_uncited_answer_is_replaced_by_quotes_even_where_the_reader_would_decline(
    openai_service,
):
    """The model judged its paragraphs to answer (it did not refuse) but cited none of
    them: its words are replaced by the reader's best sentences, quoted, even when the
    reader alone would have declined (the seed never mentions 1998)."""
    answer = openai_service.ask(
        "Where was the captured Russian soldier in 1998, in your own words?"
    )
    assert "somebody important" not in answer.answer
    assert not answer.refused and answer.citations and answer.citations[0].verified
    assert "showing quoted sentences instead of the model's uncited answer" in answer.notes
    assert answer.short_answer is None
