"""Sub-questions written by the LLM, for questions the outlet/date parser cannot split.

The parser (`qa.retrieval.hints`) splits a question only where it names outlets or dates.
"Which company did The Verge and TechCrunch link to app-store fees, search defaults and
publishers' lost revenue?" needs one search per claim, and only a language model can
find those. When `query_decompose_llm` is set and a generator LLM is configured, the
answer's retrieval asks it for at most four short search queries and runs each one beside
the parsed plan (each query's own outlet/date hints become filters). The plan only grows:
an empty reply adds nothing, and a failed call leaves the parsed search as it was and
says so in the answer's notes.
"""

from __future__ import annotations

import re
from functools import lru_cache

from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from qa.errors import DecomposeSettingsError

MAX_SUBQUESTIONS = 4
CACHE_SIZE = 256

DECOMPOSE_SYSTEM = (
    "You turn a question about news articles into short search queries for a news archive.\n"
    "Write one query per fact the question needs: one for each article, outlet or claim it "
    "mentions.\n"
    "Keep every name, outlet and date from the question in the query it belongs to.\n"
    f"Write only the queries, one per line, at most {MAX_SUBQUESTIONS} lines."
)
# One worked example, invented (not from any benchmark), shows the format.
EXAMPLE_QUESTION = (
    "Did the Reuters article on the port strike report longer delays than the BBC piece "
    "published on 3 May 2022 about the same strike?"
)
EXAMPLE_QUERIES = (
    "Reuters article on the port strike: how long were the delays?\n"
    "BBC article published on 3 May 2022 about the port strike: how long were the delays?"
)
DECOMPOSE_PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", DECOMPOSE_SYSTEM),
        ("human", EXAMPLE_QUESTION),
        ("ai", EXAMPLE_QUERIES),
        ("human", "{question}"),
    ]
)

_LEAD = re.compile(r"^\s*(?:[-*•]+|\(?\d+[.):]|(?:sub-?)?quer(?:y|ies)\s*\d*\s*:)\s*", re.I)


def parse_subquestions(text: str, question: str, limit: int = MAX_SUBQUESTIONS) -> list[str]:
    """The model's lines as queries: list marks dropped, and lines that are too short,
    repeated, or the question itself (nothing gained by searching it twice) skipped."""
    seen = {_key(question)}
    out: list[str] = []
    for line in text.splitlines():
        line = _LEAD.sub("", line).strip().strip('"“”').strip()
        if len(line.split()) < 3 or _key(line) in seen:
            continue
        seen.add(_key(line))
        out.append(line)
        if len(out) == limit:
            break
    return out


def _key(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


class LLMDecomposer:
    """Question → search queries by a chat model, memoized: a question asked again
    (a retry, the same question from the page and the API) costs no second call."""

    def __init__(self, llm: BaseChatModel, max_tokens: int = 160) -> None:
        self.chain: Runnable = (
            DECOMPOSE_PROMPT | llm.bind(max_tokens=max_tokens, temperature=0) | StrOutputParser()
        )
        # A failed call raises and is not remembered: the next ask tries again.
        self._split = lru_cache(maxsize=CACHE_SIZE)(self._ask)

    def _ask(self, question: str) -> tuple[str, ...]:
        return tuple(parse_subquestions(self.chain.invoke({"question": question}), question))

    def __call__(self, question: str) -> list[str]:
        return list(self._split(question))


def llm_decomposer(llm: BaseChatModel | None, asked_by: str) -> LLMDecomposer:
    """The LLM's question splitter; a clear error when no generator LLM is configured."""
    if llm is None:
        raise DecomposeSettingsError(
            f"{asked_by} needs a generator LLM: set ARCHIVE_QA_GENERATOR=local or openai"
        )
    return LLMDecomposer(llm)
