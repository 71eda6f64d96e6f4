"""Check what a language model says against the paragraphs it was shown.

A model's `[n]` markers and quotes are claims, not facts. This module parses the model's
reply (answer text plus one short quote per cited paragraph), drops markers that point
to no shown paragraph, looks every quote up in the cited paragraph (exact, then
normalized, then fuzzy over word windows), and only ever shows the paragraph's own
characters as a quote: a quote that cannot be found is reported as unverified and never
displayed. Sources are renumbered in order of first use.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from qa.answer.form import AnswerForm, split_lead
from qa.response import REFUSAL, Citation

MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
QUOTES_HEADER = re.compile(
    r"^\s*(?:\*\*)?\s*(?:quotes?|evidence|citations?)\s*(?:\*\*)?\s*:\s*(?:\*\*)?", re.I
)
ANSWER_PREFIX = re.compile(r"^\s*(?:\*\*)?\s*answer\s*(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.I)
QUOTES_ANYWHERE = re.compile(
    r"(?:^|\n|(?<=[.!?)\]]))[ \t]*(?:\*\*)?[ \t]*(?:quotes?|evidence)[ \t]*(?:\*\*)?[ \t]*:(?:\*\*)?",
    re.I,
)
# [n] followed by a quoted passage; the passage ends at the closing quote before the
# next [n], or at the end of its line.
QUOTE_ITEM = re.compile(
    r"\[\s*(\d{1,3})\s*\]\s*[:\-–—]?\s*[\"“‘'«„]?(.+?)[\"”’'»]?\s*(?=\n|\[\s*\d{1,3}\s*\]|$)"
)
QUOTE_LINE = re.compile(r"^\s*[-*•]?\s*\[\s*(\d{1,3})\s*\]\s*[:\-–—]?\s*(.+?)\s*$")
REFUSAL_PATTERNS = re.compile(
    r"could ?n[o']t find|can ?n[o']t find|cannot find|unable to find|not (?:be )?found in|"
    r"not in the (?:archive|paragraphs)|no information|insufficient information|"
    r"(?:do|does) not (?:contain|mention|say|provide)|(?:don't|doesn't) (?:contain|mention|say)|"
    r"(?:do|does) not answer|(?:don't|doesn't) answer|not mentioned|not (?:enough|sufficient) information",
    re.I,
)
# After a Yes/No verdict only these mean "I cannot tell": "No, the article does not
# mention X" is an answer, not a refusal.
HARD_REFUSAL = re.compile(
    r"could ?n[o']t find|can ?n[o']t find|cannot find|unable to find|not in the (?:archive|paragraphs)|"
    r"insufficient information|no information|not enough information",
    re.I,
)
QUOTE_CHARS = "\"'“”‘’«»„`"
MIN_QUOTE_WORDS = 3
FUZZY_THRESHOLD = 0.85


@dataclass(frozen=True)
class Shown:
    """One paragraph shown to the model as [n], with what is needed to cite it."""

    n: int
    text: str  # exactly what the model saw (may be a trimmed part of the chunk)
    chunk_text: str  # the whole chunk, where quotes are looked up
    make_citation: Callable[[int, int, int, str, float], Citation]
    # make_citation(new_n, start_in_chunk, end_in_chunk, match, score) -> Citation;
    # start/end are -1 when there is no verified quote.


@dataclass(frozen=True)
class QuoteMatch:
    start: int
    end: int
    how: str  # exact | normalized | fuzzy
    score: float


@dataclass
class Parsed:
    answer: str
    quotes: dict[int, list[str]] = field(default_factory=dict)


@dataclass
class Resolved:
    answer: str
    citations: list[Citation]
    refused: bool
    verified: int
    unverified: int
    notes: list[str]
    verdict: str | None = None  # the leading Yes/No (or offered word) of a closed question


def parse_reply(raw: str) -> Parsed:
    """Split a reply into the answer text and the quotes given per paragraph number.

    Tolerates what small models do: a missing "Answer:" label, bold labels, the
    "Quotes:" header on the answer's own line, quotes listed without a header, several
    quotes for one number.
    """
    quotes: dict[int, list[str]] = {}
    header = QUOTES_ANYWHERE.search(raw)
    if header:
        answer_part, quote_part = raw[: header.start()], raw[header.end() :]
    else:
        answer_part, quote_part = raw, ""
    answer_lines: list[str] = []
    for line in answer_part.strip().splitlines():
        m = QUOTE_LINE.match(line)
        if m and m.group(2).strip()[:1] in QUOTE_CHARS:
            quote_part += "\n" + line  # a quote line without a header
        else:
            answer_lines.append(line)
    for m in QUOTE_ITEM.finditer(quote_part):
        text = m.group(2).strip().strip(QUOTE_CHARS + " .…").strip()
        if text:
            quotes.setdefault(int(m.group(1)), []).append(text)
    answer = LABEL_LINE.sub("", "\n".join(answer_lines))
    answer = re.sub(r"\n{3,}", "\n\n", answer).strip()
    answer = ANSWER_PREFIX.sub("", answer).strip()
    return Parsed(answer=answer, quotes=quotes)


def _norm_map(text: str) -> tuple[str, list[int]]:
    """Lower-case alphanumeric words joined by single spaces, and, for every character
    of that string, the offset of the original character it came from."""
    out: list[str] = []
    idx: list[int] = []
    pending_space = False
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKD", ch)
        folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
        if folded and all(c.isalnum() for c in folded):
            if pending_space and out:
                out.append(" ")
                idx.append(i)
            for c in folded:
                out.append(c)
                idx.append(i)
            pending_space = False
        else:
            pending_space = True
    return "".join(out), idx


def find_quote(quote: str, text: str) -> QuoteMatch | None:
    """Where `quote` occurs in `text`: exact, normalized (case, punctuation, curly
    quotes, spacing), or fuzzy over word windows (ratio >= 0.85). None when absent or
    when the quote is too short to prove anything."""
    q = quote.strip().strip(QUOTE_CHARS).strip()
    nq, _ = _norm_map(q)
    if len(nq.split()) < MIN_QUOTE_WORDS:
        return None
    pos = text.find(q)
    if pos >= 0:
        return QuoteMatch(pos, pos + len(q), "exact", 1.0)
    nt, idx = _norm_map(text)
    pos = nt.find(nq)
    if pos >= 0:
        return QuoteMatch(idx[pos], idx[pos + len(nq) - 1] + 1, "normalized", 1.0)
    # Fuzzy: the best window of the paragraph's words with the quote's length (±20%).
    t_words = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", nt)]
    q_words = nq.split()
    if not t_words:
        return None
    best: tuple[float, int, int] = (0.0, 0, 0)
    n = len(q_words)
    for size in {max(1, int(n * 0.8)), n, int(n * 1.2) + 1}:
        for i in range(0, max(1, len(t_words) - size + 1)):
            window = [w for _, _, w in t_words[i : i + size]]
            ratio = SequenceMatcher(None, q_words, window, autojunk=False).ratio()
            if ratio > best[0]:
                best = (ratio, i, min(i + size, len(t_words)) - 1)
    ratio, a, b = best
    if ratio < FUZZY_THRESHOLD:
        return None
    return QuoteMatch(idx[t_words[a][0]], idx[t_words[b][1] - 1] + 1, "fuzzy", round(ratio, 3))


def is_refusal(text: str) -> bool:
    return bool(REFUSAL_PATTERNS.search(text))


INLINE_QUOTE = re.compile(r"[\"“«„]([^\"”»]{8,}?)[\"”»]|(?<!\w)[‘']([^’']{8,}?)[’'](?!\w)")
# A period right before a letter or digit ("1.5 per cent", "CBSSports.com") ends no sentence.
SENTENCE = re.compile(r"(?:[^.!?\n]|\.(?=\w))+(?:[.!?]+|$)(?:\s*\[[\d,;\s]+\])*")
# A line that only labels what follows ("Supporting facts:"): not part of the answer.
LABEL_LINE = re.compile(r"^[ \t]*(?:\*\*)?[^\n\[\]:.!?]{1,60}:(?:\*\*)?[ \t]*$", re.M)
LEAD_IN = re.compile(
    r"\b(?:according to |as stated in )?(?:the )?paragraphs?\s+(?:from\s+|in\s+)?"
    r"(\[[\d,;\s]+\])\s*,?\s*(?:(?:states?|says?|mentions?|reports?|notes?)\s+)?(?:that\s+)?",
    re.I,
)
MIN_SUPPORT_WORDS = 4  # a shared run this long ties a sentence to a paragraph
MIN_ATTRIBUTE_WORDS = 6  # ... and this long lets us add a marker the model forgot


def longest_shared_run(sentence: str, text: str) -> QuoteMatch | None:
    """The longest run of consecutive words (normalized) that `sentence` shares with
    `text`, as a span of `text`: evidence that the sentence was taken from it."""
    ns, _ = _norm_map(sentence)
    nt, idx = _norm_map(text)
    sw, tw = ns.split(), nt.split()
    if not sw or not tw:
        return None
    m = SequenceMatcher(None, sw, tw, autojunk=False).find_longest_match(0, len(sw), 0, len(tw))
    if m.size == 0:
        return None
    starts = [x.start() for x in re.finditer(r"\S+", nt)]
    a = starts[m.b]
    last = m.b + m.size - 1
    b = starts[last] + len(tw[last])
    return QuoteMatch(idx[a], idx[b - 1] + 1, "overlap", float(m.size))


def _support(claim: str, quotes: list[str], chunk_text: str) -> QuoteMatch | None:
    """Evidence for `claim` in the cited paragraph: a quote the model gave (listed or
    inline) found there, else a long enough run of the claim's own words."""
    for q in quotes:
        found = find_quote(q, chunk_text)
        if found:
            return found
    run = longest_shared_run(claim, chunk_text)
    if run and run.score >= MIN_SUPPORT_WORDS:
        return run
    return None


_HOW_RANK = {"exact": 3, "normalized": 2, "fuzzy": 1, "overlap": 0}


def _best_other_support(
    claim: str, quotes: list[str], shown: Sequence[Shown], wrong: int
) -> tuple[int, QuoteMatch] | None:
    """The other shown paragraph that best supports `claim`: a quote found there, or a run
    of at least MIN_ATTRIBUTE_WORDS of the claim's words (stricter than plain support)."""
    best: tuple[int, QuoteMatch] | None = None
    for s in shown:
        if s.n == wrong:
            continue
        ev = _support(claim, quotes, s.chunk_text)
        if ev is None or (ev.how == "overlap" and ev.score < MIN_ATTRIBUTE_WORDS):
            continue
        key = (_HOW_RANK.get(ev.how, 0), ev.score)
        if best is None or key > (_HOW_RANK.get(best[1].how, 0), best[1].score):
            best = (s.n, ev)
    return best


def resolve(raw: str, shown: Sequence[Shown], form: AnswerForm | None = None) -> Resolved:
    """Turn a raw model reply into the shown answer and its checked citations.

    Per sentence: its markers are kept when they name a shown paragraph (others are
    dropped); each cited paragraph must hold a quote of the model's or a run of at
    least four of the sentence's own words, else the citation is marked unverified and
    shown without a quote. A sentence with no marker whose words clearly come from one
    paragraph (six or more in a row) gets that marker added. Sources are numbered by
    first use.

    With a closed question's `form` (yes/no, or two offered words), a reply that starts
    with the verdict keeps it in front ("Yes — claims [1]"), standing alone; such a reply
    is a refusal only when it says it cannot tell ("No information …"), not when its
    claims say what an article does not contain.
    """
    parsed = parse_reply(raw)
    lead = split_lead(parsed.answer, form) if form else None
    verdict = lead[0] if lead else None
    claims = lead[1] if lead else parsed.answer
    refuses = HARD_REFUSAL.search(claims) if lead else is_refusal(claims)
    if refuses and not MARKER.search(claims):
        return Resolved(REFUSAL, [], True, 0, 0, [])
    check = _CitationCheck(shown, parsed.quotes)
    answer = check.rewrite(claims)
    citations, verified, unverified = check.citations()
    notes = check.notes(unverified)
    if verdict is not None:
        answer = f"{verdict} — {answer}" if answer else verdict
    elif not answer or (is_refusal(answer) and verified == 0):
        return Resolved(REFUSAL, [], True, 0, 0, notes)
    if not citations:
        notes.append("the model's answer cites no paragraph: treat it as unsupported")
    return Resolved(answer, citations, False, verified, unverified, notes, verdict)


class _CitationCheck:
    """One reply's sentences checked against the shown paragraphs, in order.

    Holds what carries from sentence to sentence: the paragraphs in order of first use
    (their new numbers), the evidence found for each, and what was dropped, added or
    moved, which the notes report.
    """

    def __init__(self, shown: Sequence[Shown], quotes: dict[int, list[str]]) -> None:
        self.shown = shown
        self.by_n = {s.n: s for s in shown}
        self.quotes = quotes
        self.order: list[int] = []  # old numbers in order of first use
        self.evidence: dict[int, QuoteMatch | None] = {}
        self.dropped: set[int] = set()
        self.added = 0
        self.moved = 0

    def rewrite(self, answer: str) -> str:
        """The answer with every sentence's markers checked and renumbered."""
        # "The paragraph from [1] states that X" reads as "X [1]".
        text = LEAD_IN.sub(lambda m: m.group(1) + " ", answer)
        parts: list[str] = []
        pos = 0
        for m in SENTENCE.finditer(text):
            gap = text[pos : m.start()]
            parts.append(gap)
            parts.append(self._sentence(m.group(0), starts_line=not gap.strip()))
            pos = m.end()
        parts.append(text[pos:])
        return re.sub(r"[ \t]{2,}", " ", "".join(parts)).strip()

    def _sentence(self, sent: str, starts_line: bool) -> str:
        cited = self._markers(sent)
        claim = MARKER.sub(" ", sent)
        if not cited and len(claim.split()) >= MIN_ATTRIBUTE_WORDS:
            cited = self._attribute(claim)
        cited = self._verify(claim, cited)
        body = re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", sent)).rstrip()
        stripped = body.lstrip()
        if stripped[:1].islower() and starts_line:
            body = body[: len(body) - len(stripped)] + stripped[0].upper() + stripped[1:]
        marks = "".join(f"[{self.order.index(o) + 1}]" for o in cited)
        return f"{body} {marks}".rstrip() if marks else body

    def _markers(self, sent: str) -> list[int]:
        """The sentence's marker numbers that name a shown paragraph; the rest are dropped."""
        cited: list[int] = []
        for mm in MARKER.finditer(sent):
            for x in re.split(r"\s*[,;]\s*", mm.group(1)):
                old = int(x)
                if old not in self.by_n:
                    self.dropped.add(old)
                elif old not in cited:
                    cited.append(old)
        return cited

    def _attribute(self, claim: str) -> list[int]:
        """The one paragraph an unmarked claim's words clearly come from, if any."""
        best: tuple[int, QuoteMatch] | None = None
        for s in self.shown:
            run = longest_shared_run(claim, s.chunk_text)
            if (
                run
                and run.score >= MIN_ATTRIBUTE_WORDS
                and (best is None or run.score > best[1].score)
            ):
                best = (s.n, run)
        if best is None:
            return []
        self.evidence.setdefault(best[0], best[1])
        self.added += 1
        return [best[0]]

    def _verify(self, claim: str, cited: list[int]) -> list[int]:
        """The cited paragraphs after looking for each one's evidence of the claim."""
        inline = [a or b for a, b in INLINE_QUOTE.findall(claim)]
        fixed: list[int] = []
        for old in cited:
            quotes = self.quotes.get(old, []) + inline
            ev = _support(claim, quotes, self.by_n[old].chunk_text)
            if ev is None:
                # A small model often puts the wrong number on a right claim: when another
                # shown paragraph clearly holds the claim, the citation points there instead.
                alt = _best_other_support(claim, quotes, self.shown, old)
                if alt is not None:
                    old, ev = alt
                    self.moved += 1
            if old in fixed:
                continue
            fixed.append(old)
            if old not in self.order:
                self.order.append(old)
            if self.evidence.get(old) is None:
                self.evidence[old] = ev
        return fixed

    def citations(self) -> tuple[list[Citation], int, int]:
        """The citations in their new order, and how many are verified and unverified."""
        citations: list[Citation] = []
        verified = unverified = 0
        for new, old in enumerate(self.order, start=1):
            ev = self.evidence.get(old)
            if ev:
                verified += 1
                citations.append(
                    self.by_n[old].make_citation(new, ev.start, ev.end, ev.how, ev.score)
                )
            else:
                unverified += 1
                citations.append(self.by_n[old].make_citation(new, -1, -1, "unverified", 0.0))
        return citations, verified, unverified

    def notes(self, unverified: int) -> list[str]:
        """What the check changed in the model's reply, for the reader."""
        notes: list[str] = []
        if self.dropped:
            notes.append(
                "removed citation marker(s) "
                + ", ".join(f"[{d}]" for d in sorted(self.dropped))
                + " that point to no paragraph shown to the model"
            )
        if self.added:
            notes.append(
                f"added a citation to {self.added} sentence(s) whose words come from one paragraph"
            )
        if self.moved:
            notes.append(
                f"moved {self.moved} citation(s) to the shown paragraph that holds the claim "
                "(the model's number pointed at one that does not)"
            )
        if unverified:
            notes.append(
                f"{unverified} citation(s) have no supporting quote in the cited paragraph; they "
                "are shown without a quote and marked unverified"
            )
        return notes
