"""What shape of answer a question asks for, and which names it takes for granted.

A reporter's question decides the first words of a good answer: "Did the Verge and
TechCrunch agree …?" wants Yes or No, "… consistent or inconsistent with …?" wants one of
the two offered words, "Which company …?" wants the name. The chain tells the model
which, and keeps that verdict in front of the cited claims.

A question can also rest on a name the archive has never printed ("What did Acme
Processing LLC announce?"): then no paragraph can answer it, however similar the
retrieved text looks, and the honest answer is the refusal.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from qa.response import REFUSAL

AUX = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "must",
        "shall",
    ]
)
WH = frozenset(["who", "whom", "whose", "which", "what", "when", "where", "why", "how"])
_FIRST_WORD = re.compile(r"[A-Za-z]+")
# "consistent or inconsistent", "agree or disagree", "successful or not successful"
_CHOICE = re.compile(r"\b([A-Za-z]{3,}) or ((?:in|un|non-?|dis|im|ir|il)\1|not \1)\b", re.I)


@dataclass(frozen=True)
class AnswerForm:
    kind: str  # "yesno" | "choice" | "open"
    choices: tuple[str, ...] = ()

    @property
    def lead_words(self) -> tuple[str, ...]:
        """Words a reply of this form starts with (empty for open questions)."""
        return self.choices


YES_NO = ("Yes", "No")


def question_form(question: str) -> AnswerForm:
    """The form of answer `question` asks for.

    The first clause (split at commas, so "After X reported …, did Y …?" counts) that
    starts with a question word decides: an auxiliary verb (does, did, was, …) makes a
    yes/no question, a wh-word an open one. A yes/no question that offers a word and its
    opposite ("consistent or inconsistent") asks for one of those two words.
    """
    kind = "open"
    for segment in re.split(r"[,;:]", question):
        m = _FIRST_WORD.search(segment)
        if not m:
            continue
        word = m.group(0).lower()
        if word in WH:
            break
        if word in AUX:
            kind = "yesno"
            break
    if kind == "open":
        return AnswerForm("open")
    c = _CHOICE.search(question)
    if c:
        return AnswerForm("choice", (c.group(1).capitalize(), c.group(2).capitalize()))
    return AnswerForm("yesno", YES_NO)


OPEN_RULES = (
    "After each claim, write the number of the paragraph it comes from in brackets, like "
    "[1], and quote the paragraph's exact words that support it in double quotes. Answer in "
    f"one to three sentences. If the paragraphs do not contain the answer, reply only: {REFUSAL}"
)
CLOSED_RULES = (
    "Start your reply with {lead}. Then, in one to three short sentences, say what the "
    "paragraphs report that shows it: after each sentence, write the number of its paragraph "
    "in brackets, like [1], and quote the paragraph's exact words that support it in double "
    f"quotes. If no paragraph is about what the question asks, reply only: {REFUSAL}"
)


def lead_instruction(form: AnswerForm) -> str:
    """The prompt's rules for the reply's shape. A closed question's reply starts with its
    verdict, then the cited claims, and is refused only when no paragraph is about the
    question (with "if the paragraphs do not contain the answer" the 1.5B model refused
    every yes/no comparison). An open question keeps the plain rules: asked to put the
    name first, the 1.5B model answered "Who threatened …?" with "Russia" instead of the
    quoted minister, and put an injected article's "HACKED" first.
    Claims first and the verdict on a last line also did worse: the model often left the
    verdict out."""
    if form.kind == "open":
        return OPEN_RULES
    if form.kind == "yesno":
        lead = "Yes or No"
    else:
        a, b = form.choices
        lead = f'one word, "{a}" or "{b}"'
    return CLOSED_RULES.format(lead=lead)


_TRAILING = re.compile(
    r"(?:^|\n|(?<=[.!?\]]))[ \t]*(?:\*\*)?[ \t]*(?:final[ \t]+)?answer[ \t]*(?:is)?[ \t]*:?"
    r"[ \t]*(?:\*\*)?[ \t]*[\"“']?([A-Za-z]+)[\"”']?[ \t]*(?:\*\*)?[ \t.!]*$",
    re.I,
)


def split_lead(answer: str, form: AnswerForm) -> tuple[str, str] | None:
    """(verdict, rest) when `answer` starts with one of the form's lead words, or ends with
    an "Answer: <word>" line; the verdict in the form's own spelling, the rest without it
    and without the punctuation that followed it."""
    for word in sorted(form.lead_words, key=len, reverse=True):
        m = re.match(rf"\s*(?:\*\*)?\s*{re.escape(word)}\b(?:\*\*)?[\s,.:;!—–-]*", answer, re.I)
        if m:
            return word, answer[m.end() :].strip()
    # The verdict on a last "Answer: …" line.
    t = _TRAILING.search(answer.rstrip())
    if t:
        for word in form.lead_words:
            if t.group(1).lower() == word.lower():
                return word, answer[: t.start()].strip()
    return None


# --- names a question takes for granted -------------------------------------------

_NAME = re.compile(r"[A-Z][\w'’&\-]*(?:[ \t]+(?:of[ \t]+|de[ \t]+|&[ \t]+)?[A-Z][\w'’&\-]*)*")
_NOT_NAMES = (
    AUX
    | WH
    | frozenset(
        [
            "the",
            "a",
            "an",
            "this",
            "that",
            "these",
            "those",
            "it",
            "its",
            "and",
            "or",
            "but",
            "if",
            "so",
            "as",
            "at",
            "by",
            "for",
            "from",
            "in",
            "into",
            "of",
            "on",
            "to",
            "with",
            "about",
            "after",
            "before",
            "between",
            "during",
            "following",
            "since",
            "until",
            "while",
            "although",
            "though",
            "despite",
            "considering",
            "according",
            "regarding",
            "both",
            "either",
            "each",
            "all",
            "some",
            "any",
            "not",
            "no",
            "yes",
            "there",
            "here",
            "also",
            "one",
        ]
    )
)


def normalize_name(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("’", "'")
    text = re.sub(r"'s\b", "", text)
    return " ".join(re.findall(r"[a-z0-9]+", text))


def question_names(question: str, skip: list[tuple[int, int]] | None = None) -> list[str]:
    """Proper names the question uses (capitalized word runs, split at possessives),
    without function words at their edges and without the spans in `skip` (outlet
    mentions the retriever already resolved): "Gauri Khan's" → "Gauri Khan"."""
    skip = skip or []
    out: list[str] = []
    for m in _NAME.finditer(question):
        if any(a < m.end() and m.start() < b for a, b in skip):
            continue
        for part in re.split(r"['’]s?\b", m.group(0)):
            _add_name(part.split(), out)
    return out


def _add_name(words: list[str], out: list[str]) -> None:
    words = [w.strip("'’\"") for w in words]
    while words and words[0].lower() in _NOT_NAMES:
        words.pop(0)
    while words and words[-1].lower() in _NOT_NAMES:
        words.pop()
    if not words:
        return
    name = " ".join(words)
    key = normalize_name(name)
    if len(key) < 3 or key in {normalize_name(n) for n in out}:
        return
    out.append(name)


def mentions(name: str, text: str) -> bool:
    """Whether `text` contains `name` as whole words (case, accents, punctuation and
    possessives ignored)."""
    n = normalize_name(name)
    return bool(n) and f" {n} " in f" {normalize_name(text)} "
