"""The reader: from retrieved paragraphs to the sentence that holds the fact asked for.

Retrieval finds paragraphs on the question's topic; the reader finds, across all of them,
the sentence that answers it, and decides whether any does:

1. analysis (`qa.answer.question`): the kind of answer and the question's specifics;
2. evidence: every sentence of every retrieved paragraph is scored by its similarity to
   the question, the share of the question's terms and specifics it mentions, and
   whether it holds an entity of the asked kind that the question does not already name;
   a sentence that says "he" or "the minister" borrows the name from the sentence before;
3. short answer: that entity, as written in the text (nearest to the words the sentence
   shares with the question);
4. answerability: if no sentence near the top mentions the question's key specifics (its
   names, numbers, years, quoted phrases), or a question that wants a name or number
   finds none, the reader declines and the service shows the paragraphs as related.

Entities come from the index (found at build time, `index.annotate`); a chunk indexed
before that is annotated here, once per process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from index.annotate import Entity, decode_entities, find_entities
from index.chunker import sentence_spans, word_count
from index.embedder import Embedder
from qa.answer.question import Analysis, Specific, analyze, parse
from qa.retrieval.retriever import Hit

# Scoring weights (tuned on the dev split of data/eval; see docs/evaluation.md).
W_SIM = 1.0
W_TERMS = 0.3
W_SPECIFICS = 0.5
W_TYPED = 0.25
RANK_PRIOR = 0.03
# How many of the best sentences may stand in for the best one when it lacks the answer.
TYPED_WINDOW = 6
# A sentence must reach this share of the question's key specifics to count as evidence.
MIN_KEY_COVERAGE = 0.99
_SUBJECT_PRONOUNS = {"he", "she", "they"}
_ROLE_SUBJECT = re.compile(
    r"^\s*(?:the|a)\s+(?:[a-z-]+\s+){0,2}(?:minister|president|spokesman|spokeswoman|"
    r"official|leader|chief|secretary|premier|chancellor|prime minister|envoy|ambassador|"
    r"diplomat|general|commander|senator|governor|mayor|mp|lawmaker|man|woman)\b",
    re.I,
)


@dataclass
class Sentence:
    hit_rank: int
    hit: Hit
    start: int  # offsets in the chunk text
    end: int
    entities: list[Entity]  # offsets in the chunk text
    score: float = 0.0
    key_coverage: float = 0.0
    answers: list[Entity] = field(default_factory=list)  # entities of the asked kind
    borrowed: Sentence | None = None  # the sentence before, when it supplies the name

    @property
    def text(self) -> str:
        return self.hit.chunk.text[self.start : self.end]


@dataclass
class Reading:
    """What the reader found: the evidence sentences (best first), the short answer,
    and whether the archive answers the question at all."""

    analysis: Analysis
    evidence: list[Sentence]
    short_answer: str | None
    answerable: bool
    notes: list[str] = field(default_factory=list)
    ranked: list[Sentence] = field(default_factory=list)


class Reader:
    def __init__(self, embedder: Embedder, max_sentences: int = 2) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences

    def read(self, question: str, hits: Sequence[Hit], analysis: Analysis | None = None) -> Reading:
        a = analysis or analyze(question)
        sentences = self._sentences(hits)
        if not sentences:
            return Reading(a, [], None, False, ["no sentence in the retrieved paragraphs"])
        self._score(a, sentences)
        ranked = sorted(sentences, key=lambda s: (-s.score, s.hit_rank, s.start))
        notes: list[str] = []
        if not a.english:
            notes.append("the question does not look like English; the archive is read in English")
            return Reading(a, [], None, False, notes, ranked)
        best = self._choose(a, ranked)
        if best is None:
            missing = self._missing(a, ranked[0])
            if missing:
                notes.append(
                    "no retrieved sentence mentions " + ", ".join(repr(m) for m in missing)
                )
            else:
                notes.append(f"no retrieved sentence names the {a.kind} asked for")
            return Reading(a, [], None, False, notes, ranked)
        evidence = [best]
        if not a.wants_entity:
            evidence += self._more(best, ranked)
        short = _short_answer(a, best)
        return Reading(a, evidence, short, True, notes, ranked)

    # -- steps -----------------------------------------------------------------
    def _sentences(self, hits: Sequence[Hit]) -> list[Sentence]:
        out: list[Sentence] = []
        for rank, hit in enumerate(hits):
            text = hit.chunk.text
            ents = chunk_entities(hit.chunk.chunk_id, text, hit.chunk.entities)
            prev: Sentence | None = None
            for s, e in sentence_spans(text):
                sent = Sentence(rank, hit, s, e, [x for x in ents if s <= x[0] < e])
                if word_count(text[s:e]) >= 4:
                    sent.borrowed = prev
                    out.append(sent)
                prev = sent
        return out

    def _score(self, a: Analysis, sentences: list[Sentence]) -> None:
        vecs = self.embedder.encode([a.question, *(s.text for s in sentences)])
        sims = np.asarray(vecs[1:]) @ np.asarray(vecs[0])
        terms = set(a.terms)
        key = a.key_specifics()
        own = {t.lower() for t in a.entity_texts}
        for sent, sim in zip(sentences, sims):
            low = sent.text.lower()
            context = _context(sent)
            term_share = _term_share(terms, low) if terms else 0.0
            spec = [s for s in a.specifics]
            spec_share = _weighted_share(spec, context) if spec else 0.0
            sent.key_coverage = _weighted_share(key, _coverage_context(sent)) if key else 1.0
            sent.answers = _answers(a, sent, own)
            typed = 1.0 if (a.wants_entity and sent.answers) else 0.0
            sent.score = (
                W_SIM * float(sim)
                + W_TERMS * term_share
                + W_SPECIFICS * spec_share
                + W_TYPED * typed
                + RANK_PRIOR / (1 + sent.hit_rank)
            )

    def _choose(self, a: Analysis, ranked: list[Sentence]) -> Sentence | None:
        """The best sentence that covers the key specifics and, for a question that
        wants a name or number, holds one."""
        for sent in ranked[:TYPED_WINDOW]:
            if sent.key_coverage < MIN_KEY_COVERAGE:
                continue
            if a.wants_entity and not sent.answers:
                continue
            return sent
        return None

    def _more(self, best: Sentence, ranked: list[Sentence]) -> list[Sentence]:
        """For a description: the next sentences of the same paragraph that score close."""
        more: list[Sentence] = []
        for sent in ranked[1:]:
            if len(more) + 1 >= self.max_sentences:
                break
            if sent.hit.chunk.chunk_id != best.hit.chunk.chunk_id:
                continue
            if sent.score < best.score - 0.08 or sent.key_coverage < MIN_KEY_COVERAGE:
                continue
            more.append(sent)
        return more

    def _missing(self, a: Analysis, sent: Sentence) -> list[str]:
        context = _coverage_context(sent)
        return [s.text for s in a.key_specifics() if not _mentions(s, context)]


def _context(sent: Sentence) -> str:
    """Where a sentence's own specifics may stand: itself and the sentence before."""
    parts = [sent.text]
    if sent.borrowed is not None:
        parts.append(sent.borrowed.text)
    return " \n ".join(parts).lower()


def _coverage_context(sent: Sentence) -> str:
    """Where the question's key specifics may stand for this sentence to count as
    evidence: its paragraph(s), its article's headline, outlet and date (a year or an
    outlet the question names is often only there)."""
    chunk = sent.hit.chunk
    return " \n ".join([chunk.text, chunk.title or "", chunk.source or "", chunk.date or ""]).lower()


def _mentions(spec: Specific, context: str) -> bool:
    return any(_contains(context, form) for form in spec.variants())


def _contains(haystack: str, needle: str) -> bool:
    """A whole-word mention; each word of a name may differ in its ending ("Jordanian"
    for "Jordan", "Somalis" for "Somali") and dots do not count ("U.S." is "US")."""
    needle = needle.replace(".", "")
    if not needle:
        return False
    words = re.findall(r"\w+", needle)
    if not words:
        return needle in haystack
    hay = haystack.replace(".", "")
    if all(len(w) <= 4 or w.isdigit() for w in words):
        return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", hay) is not None
    stems = [re.escape(w[:5]) if len(w) > 5 and not w.isdigit() else re.escape(w) for w in words]
    pattern = r"(?<!\w)" + r"\w*\W+".join(stems)
    return re.search(pattern, hay) is not None


def _weighted_share(specifics: list[Specific], context: str) -> float:
    total = sum(s.weight for s in specifics)
    if not total:
        return 1.0
    return sum(s.weight for s in specifics if _mentions(s, context)) / total


def _term_share(terms: set[str], text: str) -> float:
    words = set(re.findall(r"\w+", text))
    stems = {w[:5] for w in words}
    hit = sum(1 for t in terms if t in words or t[:5] in stems)
    return hit / len(terms)


def _answers(a: Analysis, sent: Sentence, own: set[str]) -> list[Entity]:
    """Entities of the asked kind in the sentence (or, for a sentence that says "he" or
    "the minister", in the one before), leaving out what the question names itself."""
    if not a.wants_entity:
        return []
    found = [e for e in sent.entities if e[2] in a.labels and not _is_own(sent, e, own)]
    if found or sent.borrowed is None or "PERSON" not in a.labels:
        return found
    lead = sent.text.lower()
    first = re.match(r"\W*(\w+)", lead)
    if (first and first.group(1) in _SUBJECT_PRONOUNS) or _ROLE_SUBJECT.match(lead) or re.search(
        r"\b(?:he|she) (?:said|says|added|warned|told)\b", lead
    ):
        prev = sent.borrowed
        return [e for e in prev.entities if e[2] == "PERSON" and not _is_own(prev, e, own)]
    return []


def _is_own(sent: Sentence, ent: Entity, own: set[str]) -> bool:
    text = sent.hit.chunk.text[ent[0] : ent[1]].lower().strip().replace(".", "")
    text = text[4:] if text.startswith("the ") else text
    own = {o.replace(".", "") for o in own}
    return any(text == o or text in o.split() or o in text for o in own if o)


def _short_answer(a: Analysis, sent: Sentence) -> str | None:
    """The answer entity as written. In the sentence's parse, the candidate closest (in
    dependency steps) to the words it shares with the question wins, with the noun the
    question asks about ("which prison" → "Fort Dix federal prison") counting most; a
    name borrowed from the sentence before is taken as it is."""
    if not sent.answers:
        return None
    chunk_text = sent.hit.chunk.text
    if sent.answers[0][0] < sent.start:  # borrowed from the sentence before
        s, e, _ = sent.answers[-1]
        return _clean(chunk_text[s:e])
    if len(sent.answers) == 1:
        s, e, _ = sent.answers[0]
        return _clean(chunk_text[s:e])
    doc = parse(sent.text)
    lemmas = set(a.terms)
    anchors = [t for t in doc if t.lemma_.lower() in lemmas or t.lower_ in lemmas]
    focus = [t for t in doc if a.focus and t.lemma_.lower() == a.focus]

    def cost(ent: Entity) -> tuple[float, int]:
        span = doc.char_span(ent[0] - sent.start, ent[1] - sent.start, alignment_mode="expand")
        if span is None:
            return (99.0, ent[0])
        root = span.root
        c = min((_steps(root, t) for t in anchors), default=6)
        if focus:
            near = min(_steps(root, t) for t in focus)
            if near <= 1 or any(t in span for t in focus):
                c -= 3
            else:
                c += 0.5 * min(near, 4)
        return (float(c), ent[0])

    s, e, _ = min(sent.answers, key=cost)
    return _clean(chunk_text[s:e])


def _steps(x, y) -> int:
    """Edges between two tokens in the dependency tree."""
    up = {t.i: n for n, t in enumerate([x, *x.ancestors])}
    for n, t in enumerate([y, *y.ancestors]):
        if t.i in up:
            return up[t.i] + n
    return 12


def _clean(text: str) -> str:
    text = " ".join(text.split()).strip(" ,;:'\"“”‘’")
    return text[4:] if text.lower().startswith("the ") and len(text) > 8 else text


@lru_cache(maxsize=4096)
def _found_entities(chunk_id: str, text: str) -> tuple[Entity, ...]:
    return tuple(find_entities([text])[0])


def chunk_entities(chunk_id: str, text: str, stored: str | None) -> list[Entity]:
    """The chunk's entity spans: from the index, else found now (an index built before
    annotation existed), remembered per process."""
    decoded = decode_entities(stored)
    if decoded is not None:
        return decoded
    return list(_found_entities(chunk_id, text))
