"""Evaluate the answer chain on MultiHop-RAG (Tang and Yang, COLM 2024).

Reads the benchmark from a folder at run time (its article bodies are never part of
this repository), indexes its 609 articles once into a cache folder, answers a
stratified sample of queries (equal numbers of each query type, fixed seed) and reports:

- `paper_acc`: the paper's qa_evaluate.py rule, exactly: the text inside `The answer to
  the question is "…"` when the response has that form, else the whole response; correct
  when it and the gold answer, both lower-cased and split on whitespace (punctuation
  kept: "yes," is not "yes"), share a token. A refusal is scored as the benchmark's own
  refusal answer, "Insufficient information." (the answer its prompt asks a model to
  give when the context does not hold the answer): right for a null query, wrong for
  any other;
- `strict_acc`: the normalized gold answer (lower case, punctuation and articles
  removed) occurs as a whole phrase in the normalized response; a yes/no gold answer
  must be the response's first word, any other one-word gold the verdict of a
  verdict-first answer ("Inconsistent — …" is wrong for "Consistent"); a null query
  must be refused;
- how the yes/no questions were answered (gold Yes count vs Yes/No verdicts given),
  which shows whether a model tells them apart or says "Yes" throughout;
- the null-query refusal rate, the citation verification rate, seconds per question
  and first-token latency.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qa.response import Answer

QUERY_TYPES = ("inference_query", "comparison_query", "temporal_query", "null_query")
ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize(text: str) -> str:
    text = re.sub(r"[^\w\s]", " ", text.lower().replace("’", "'"))
    return " ".join(ARTICLES.sub(" ", text).split())


BENCHMARK_REFUSAL = "Insufficient information."
_PAPER_ANSWER = re.compile(r'The answer to the question is "(.*?)"')


def paper_correct(gold: str, response: str) -> bool:
    """MultiHop-RAG's qa_evaluate.py: `extract_answer`, then `has_intersection` of the
    lower-cased response and gold answer split on whitespace."""
    m = _PAPER_ANSWER.search(response)
    pred = m.group(1) if m else response
    return bool(set(pred.lower().split()) & set(gold.lower().split()))


def paper_response(answer: Answer) -> str:
    """What the paper's rule scores: the answer text, or for a refusal the benchmark's
    refusal answer."""
    return BENCHMARK_REFUSAL if answer.refused else answer.answer


def strict_correct(gold: str, answer: Answer) -> bool:
    g = normalize(gold)
    r = normalize(answer.answer)
    if g in ("insufficient information", ""):
        return answer.refused
    if answer.refused:
        return False
    if g in ("yes", "no"):
        return r.split()[:1] == [g]
    verdict = answer.answer.split(" — ", 1)
    if len(verdict) == 2 and len(g.split()) == 1 and len(verdict[0].split()) == 1:
        # A one-word gold ("Consistent") against a verdict-first answer: the verdict counts.
        return normalize(verdict[0]) == g
    return f" {g} " in f" {r} "


def load_queries(data: Path) -> list[dict[str, Any]]:
    path = data / "queries_train.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass --data <the multihop-rag folder>")
    return json.loads(path.read_text(encoding="utf-8"))


def stratified_sample(
    queries: list[dict[str, Any]], n: int, seed: int, types: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """`n` queries, as equal a share of each of the four types (or of `types`) as `n` allows."""
    types = tuple(types or QUERY_TYPES)
    unknown = sorted(set(types) - set(QUERY_TYPES))
    if unknown:
        raise ValueError(
            f"unknown query type {', '.join(unknown)}; MultiHop-RAG has {', '.join(QUERY_TYPES)}"
        )
    rng = random.Random(seed)
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in queries:
        by_type[q["question_type"]].append(q)
    out: list[dict[str, Any]] = []
    for i, t in enumerate(types):
        share = n // len(types) + (1 if i < n % len(types) else 0)
        out.extend(rng.sample(by_type[t], min(share, len(by_type[t]))))
    return out


def _lead_word(text: str) -> str | None:
    words = normalize(text).split()
    return words[0] if words else None


def run_eval(
    ask: Callable[[str], Answer],
    sample: list[dict[str, Any]],
    progress: Callable[[int, dict[str, Any], Answer, float], None] | None = None,
) -> dict[str, Any]:
    rows = []
    for i, q in enumerate(sample, start=1):
        t0 = time.perf_counter()
        answer = ask(q["query"])
        secs = time.perf_counter() - t0
        rows.append(
            {
                "type": q["question_type"],
                "query": q["query"],
                "gold": q["answer"],
                "answer": answer.answer,
                "refused": answer.refused,
                "lead": None if answer.refused else _lead_word(answer.answer),
                "verdict_logodds": answer.verdict_logodds,
                "paper": paper_correct(q["answer"], paper_response(answer)),
                "strict": strict_correct(q["answer"], answer),
                "verified": answer.verified_citations,
                "unverified": answer.unverified_citations,
                "seconds": secs,
                "first_token_ms": answer.timings.first_token_ms,
            }
        )
        if progress:
            progress(i, q, answer, secs)
    return summarize(rows)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def acc(rs: list[dict[str, Any]], key: str) -> float | None:
        return round(sum(r[key] for r in rs) / len(rs), 3) if rs else None

    by_type = {
        t: {
            "n": len(rs),
            "paper_acc": acc(rs, "paper"),
            "strict_acc": acc(rs, "strict"),
        }
        for t in QUERY_TYPES
        if (rs := [r for r in rows if r["type"] == t])
    }
    null = [r for r in rows if r["type"] == "null_query"]
    answerable = [r for r in rows if r["type"] != "null_query"]
    ver = sum(r["verified"] for r in rows)
    unver = sum(r["unverified"] for r in rows)
    ftl = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
    # How closed (yes/no) questions were answered: a model that always says "Yes" scores
    # the benchmark's share of "Yes" golds; this shows whether it tells them apart.
    closed = [r for r in rows if normalize(r["gold"]) in ("yes", "no")]
    verdicts = {
        "n": len(closed),
        "gold_yes": sum(normalize(r["gold"]) == "yes" for r in closed),
        "answered_yes": sum(r.get("lead") == "yes" for r in closed),
        "answered_no": sum(r.get("lead") == "no" for r in closed),
    }
    return {
        "n": len(rows),
        "paper_acc": acc(rows, "paper"),
        "strict_acc": acc(rows, "strict"),
        "paper_acc_answerable": acc(answerable, "paper"),
        "strict_acc_answerable": acc(answerable, "strict"),
        "null_refusal_rate": acc(null, "refused"),
        "false_refusal_rate": acc(answerable, "refused"),
        "citations_verified": ver,
        "citations_unverified": unver,
        "citation_verification_rate": round(ver / (ver + unver), 3) if ver + unver else None,
        "seconds_per_question": round(statistics.mean(r["seconds"] for r in rows), 2)
        if rows
        else None,
        "first_token_ms_median": round(statistics.median(ftl)) if ftl else None,
        "yes_no_questions": verdicts,
        "by_type": by_type,
        "rows": rows,
    }
