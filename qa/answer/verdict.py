"""Deciding a closed question's verdict from the model's own token probabilities.

Asked "Did X contradict Y? Start with Yes or No", the local 1.5B model starts with "Yes"
almost every time, yet the *margin* by which it prefers "Yes" does tell the answers
apart: on MultiHop-RAG development questions the log-odds log P(Yes) − log P(No) of its
first token ranks gold-Yes questions above gold-No ones far more often than chance. The
model knows more than its greedy first token says; only the threshold is wrong.

So the verdict is decided before the answer is written: one one-token call returns the
first token's top alternatives, and the verdict is Yes only when Yes beats No by a margin
(a setting, fit once on development questions with `archive-qa eval verdict`, never on
evaluated ones), which raised yes/no accuracy on those questions. Contextual calibration
(Zhao et al. 2021: subtracting the log-odds the model gives without paragraphs) ranked no
better and cost a second call, so it is not used. The figures are in docs/evaluation.md.
The model then writes its cited explanation after the verdict, which the chain puts in
its mouth (an assistant-message prefill), so the words it cites argue for what was
decided.

Only first-token probabilities are used: every OpenAI-compatible endpoint (llama.cpp,
vLLM, OpenAI) can return them, and a model that cannot makes the chain fall back to the
verdict the model writes itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TOP_LOGPROBS = 20


@dataclass(frozen=True)
class Verdict:
    """The decided option, and the log-odds of the first option over the second it was
    decided on (positive favours the first)."""

    word: str
    logodds: float


def first_token_logprobs(message: Any) -> dict[str, float] | None:
    """{token: logprob} of the first generated token's top alternatives, from a LangChain
    message's `response_metadata["logprobs"]` (OpenAI's format, which `ChatOpenAI` and
    the local model both fill); None when the model returned none."""
    meta = getattr(message, "response_metadata", None) or {}
    content = (meta.get("logprobs") or {}).get("content") or []
    if not content:
        return None
    top = content[0].get("top_logprobs") or []
    out: dict[str, float] = {}
    for t in top:
        tok, lp = t.get("token"), t.get("logprob")
        if isinstance(tok, str) and isinstance(lp, (int, float)):
            out[tok] = max(out.get(tok, -math.inf), float(lp))
    return out or None


def _option_tokens(top: Mapping[str, float], word: str, options: Sequence[str]) -> list[str]:
    """The listed tokens that begin `word` and no other option; one-letter pieces ("I",
    "N") only when they are the whole word: they start too many other replies."""
    w = word.lower()
    rivals = [o.lower() for o in options if o.lower() != w]
    out = []
    for tok in top:
        t = tok.strip().lower()
        if not t or (len(t) < 2 and t != w) or not w.startswith(t):
            continue
        if not any(r.startswith(t) for r in rivals):
            out.append(tok)
    return out


def _unlisted(top: Mapping[str, float]) -> float:
    """An upper bound on the log-probability of a token not in the list: no more than the
    least likely listed one, nor than the probability the list leaves over."""
    rest = 1.0 - sum(math.exp(v) for v in top.values())
    least = min(top.values(), default=0.0)
    return min(least, math.log(max(rest, 1e-9)))


def _logsum(top: Mapping[str, float], tokens: Sequence[str]) -> float:
    """log of the summed probability of `tokens`; for none, an upper bound (`_unlisted`)
    so a missing option cannot blow the log-odds up."""
    if not tokens:
        return _unlisted(top)
    return math.log(sum(math.exp(top[t]) for t in tokens))


def option_logprob(top: Mapping[str, float], word: str, options: Sequence[str]) -> float:
    """Log-probability that the reply starts with `word`: the summed probability of its
    tokens ("Yes", " yes", "YES")."""
    return _logsum(top, _option_tokens(top, word, options))


def decide(top: Mapping[str, float], options: Sequence[str], margin: float = 0.0) -> Verdict | None:
    """The first of two `options` when its log-odds over the second exceed `margin`, else
    the second. None when the model is likelier to start some other way than with either
    option (a refusal, "The paragraphs …"): then the reply is left to the model."""
    a, b = options
    toks_a, toks_b = _option_tokens(top, a, options), _option_tokens(top, b, options)
    mine = {*toks_a, *toks_b}
    if not mine:
        return None
    p_options = sum(math.exp(top[t]) for t in mine)
    p_other = max((math.exp(v) for t, v in top.items() if t not in mine), default=0.0)
    if p_other > p_options:
        return None
    logodds = _logsum(top, toks_a) - _logsum(top, toks_b)
    return Verdict(a if logodds > margin else b, round(logodds, 4))
