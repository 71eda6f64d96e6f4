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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from index.annotate import Entity, decode_entities, find_entities
from index.chunker import sentence_spans, word_count
from index.embedder import Embedder
from qa.answer.question import Analysis, Specific, analyze, parse
from qa.retrieval.retriever import Hit

# A sentence's score is a weighted sum of its features (`features`); the weights were
# fitted on the dev split of data/eval (docs/evaluation.md), never on the test split.
WEIGHTS = {
    "sim": 1.0,
    "terms": 0.3,
    "specifics": 0.5,
    "key_sentence": 0.0,
    "key_chunk": 0.0,
    "typed": 0.25,
    "rank": 0.03,
    "focus": 0.0,
    "borrowed": 0.0,
    "context": 0.15,
    "bias": 0.0,
}
# How many of the best sentences may stand in for the best one when it lacks the answer.
TYPED_WINDOW = 6
# The best answer candidate must be this many dependency steps nearer the question's
# words than the next one to be stated as the short answer (else both are quoted).
MIN_ANSWER_MARGIN = 2.0
# A sentence must reach this share of the question's key specifics to count as evidence.
MIN_KEY_COVERAGE = 0.99
# An answer candidate this many dependency steps or fewer from a word of the question is
# tied to what was asked; one farther away is only near it ("served six years" for "how
# many years was he sentenced to").
MAX_ANCHOR_STEPS = 3
# How far below the best typed sentence's score a closer-tied one may stand and still win.
ANCHOR_SCORE_SLACK = 0.1
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
    features: dict[str, float] = field(default_factory=dict)

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
    def __init__(
        self,
        embedder: Embedder,
        max_sentences: int = 2,
        article_text: Callable[[str], str | None] | None = None,
    ) -> None:
        """`article_text(article_id)` gives a whole article, where a question's key
        specifics may stand (without it, the paragraph is searched)."""
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.article_text = article_text

    def read(
        self,
        question: str,
        hits: Sequence[Hit],
        analysis: Analysis | None = None,
        context: Collection[str] = (),
        known: Collection[str] = (),
    ) -> Reading:
        """`context`: the articles the conversation is about (a follow-up's previous
        answer), whose sentences are favoured a little. `known`: what the conversation
        already answered, which a follow-up does not ask again ("how many of them are
        deployed" after "4,571 warheads" is not 4,571)."""
        a = analysis or analyze(question)
        sentences = self._sentences(hits)
        if not sentences:
            return Reading(a, [], None, False, ["no sentence in the retrieved paragraphs"])
        self._score(a, sentences, set(context), known)
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
        short = _short_answer(a, best)
        if not a.wants_entity:
            evidence += self._more(best, ranked)
        elif short is None:
            # No one clear fact in the best sentence: quote the next one that holds an
            # answer of the asked kind too, and let the reader see both.
            evidence += [x for x in ranked[1:TYPED_WINDOW] if x.answers and x.text != best.text][
                : self.max_sentences - 1
            ]
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

    def _score(
        self,
        a: Analysis,
        sentences: list[Sentence],
        context: set[str],
        known: Collection[str] = (),
    ) -> None:
        vecs = self.embedder.encode([a.question, *(s.text for s in sentences)])
        sims = np.asarray(vecs[1:]) @ np.asarray(vecs[0])
        own = {t.lower() for t in [*a.entity_texts, *known] if t}
        articles: dict[str, str] = {}
        for sent, sim in zip(sentences, sims):
            sent.answers = _answers(a, sent, own)
            aid = sent.hit.chunk.article_id
            if aid not in articles:
                articles[aid] = self._coverage_context(sent)
            sent.features = features(a, sent, float(sim), articles[aid], aid in context)
            sent.key_coverage = sent.features["key_chunk"]
            sent.score = float(sum(WEIGHTS[name] * value for name, value in sent.features.items()))

    def _choose(self, a: Analysis, ranked: list[Sentence]) -> Sentence | None:
        """The best sentence that covers the key specifics and, for a question that
        wants a name or number, holds one tied to the question's words (the best such
        sentence near the top, else the best that holds one at all)."""
        loose: Sentence | None = None
        for sent in ranked[:TYPED_WINDOW]:
            if sent.key_coverage < MIN_KEY_COVERAGE:
                continue
            if not a.wants_entity:
                return sent
            if not sent.answers:
                continue
            if loose is not None and sent.score < loose.score - ANCHOR_SCORE_SLACK:
                break
            if anchor_steps(a, sent) <= MAX_ANCHOR_STEPS:
                return sent
            loose = loose or sent
        return loose

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

    def _coverage_context(self, sent: Sentence) -> str:
        """Where the question's key specifics may stand for a sentence to count as
        evidence: its whole article, with the headline, outlet and date (a year or an
        outlet the question names is often only there)."""
        chunk = sent.hit.chunk
        body = (self.article_text(chunk.article_id) if self.article_text else None) or chunk.text
        return " \n ".join([body, chunk.title or "", chunk.source or "", chunk.date or ""]).lower()

    def _missing(self, a: Analysis, sent: Sentence) -> list[str]:
        context = self._coverage_context(sent)
        return [s.text for s in a.key_specifics() if not _mentions(s, context)]


def features(
    a: Analysis, sent: Sentence, sim: float, article: str, in_context: bool = False
) -> dict[str, float]:
    """What the score weighs: similarity to the question, the share of its terms and
    specifics the sentence mentions, whether it holds an answer of the asked kind, where
    its paragraph ranked, and whether it is from the article the conversation is about."""
    low = sent.text.lower()
    context = _context(sent)
    key = a.key_specifics()
    return {
        "sim": sim,
        "terms": _term_share(set(a.terms), low) if a.terms else 0.0,
        "specifics": _weighted_share(a.specifics, context) if a.specifics else 0.0,
        "key_sentence": _weighted_share(key, context) if key else 1.0,
        "key_chunk": _weighted_share(key, article) if key else 1.0,
        "typed": 1.0 if (a.wants_entity and sent.answers) else 0.0,
        "rank": 1.0 / (1 + sent.hit_rank),
        "focus": 1.0 if a.focus and re.search(rf"\b{re.escape(a.focus[:5])}", low) else 0.0,
        "borrowed": 1.0 if sent.answers and sent.answers[0][0] < sent.start else 0.0,
        "context": 1.0 if in_context else 0.0,
        "bias": 1.0,
    }


def _context(sent: Sentence) -> str:
    """Where a sentence's own specifics may stand: itself and the sentence before."""
    parts = [sent.text]
    if sent.borrowed is not None:
        parts.append(sent.borrowed.text)
    return " \n ".join(parts).lower()


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
    text = sent.hit.chunk.text
    found = [
        _widen(text, e)
        for e in sent.entities
        if e[2] in a.labels and not _is_own(sent, e, own) and _fits(a, text[e[0] : e[1]], e[2])
    ]
    found = _preferred(a, text, found)
    if found or sent.borrowed is None or "PERSON" not in a.labels:
        return found
    lead = sent.text.lower()
    first = re.match(r"\W*(\w+)", lead)
    if (
        (first and first.group(1) in _SUBJECT_PRONOUNS)
        or _ROLE_SUBJECT.match(lead)
        or re.search(r"\b(?:he|she) (?:said|says|added|warned|told)\b", lead)
    ):
        prev = sent.borrowed
        return [e for e in prev.entities if e[2] == "PERSON" and not _is_own(prev, e, own)]
    return []


_DURATION = re.compile(
    r"\b(?:years?|months?|weeks?|days?|hours?|minutes?|decades?|centuries)\b", re.I
)
_YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b")
_AGE = re.compile(r"(?:(?:the )?age of |aged )?\d{1,3}(?:[- ]years?[- ]old)?", re.I)
_MONEY_FOCUS = {"cost", "price", "fine", "fee", "salary", "budget", "sum", "bill", "worth", "debt"}
_SHARE_FOCUS = {"share", "percentage", "percent", "proportion", "rate"}
_SCALE = r"(?:\s*(?:bln|billion|mln|million|trillion|thousand|bn|m|k|percent|per cent)(?!\w)|%)?"


def _fits(a: Analysis, text: str, label: str) -> bool:
    """What the kind demands of an entity's form: a duration names a unit of time, a
    "which year" question wants a year."""
    if a.kind == "duration":
        return bool(_DURATION.search(text))
    if a.focus in {"year", "decade", "century"}:
        return bool(_YEAR.search(text))
    if a.focus == "age":  # "24", "24 years old", "14-year-old", "the age of 14", "aged 14"
        return _AGE.fullmatch(text.strip()) is not None
    return True


def _preferred(a: Analysis, text: str, found: list[Entity]) -> list[Entity]:
    """Money for a price or fine, a percentage for a share, when the sentence has one."""
    if a.kind == "amount":
        want = None
        if a.focus in _SHARE_FOCUS:
            want = "PERCENT"
        elif a.focus in _MONEY_FOCUS or any(
            t in _MONEY_FOCUS | {"pay", "spend", "charge"} for t in a.terms
        ):
            want = "MONEY"
        if want and any(e[2] == want for e in found):
            return [e for e in found if e[2] == want]
    if a.kind == "number" and any(e[2] != "DATE" for e in found):
        return [e for e in found if not _YEAR.fullmatch(text[e[0] : e[1]].strip())]
    return found


def _widen(text: str, ent: Entity) -> Entity:
    """A number as written in full: "$2 bln", "17 to 18 million tons" (the entity
    recognizer often keeps only the figure)."""
    s, e, label = ent
    if label not in {"CARDINAL", "MONEY", "QUANTITY", "PERCENT"}:
        return ent
    before = re.search(r"(?:[$€£¥]\s?|\d[\d,.]*\s*(?:to|-|–|and)\s*)$", text[max(0, s - 20) : s])
    if before:
        s -= len(before.group(0))
    after = re.match(_SCALE, text[e : e + 12], re.I)
    if after and after.group(0).strip():
        e += len(after.group(0))
    return (s, e, label)


_HONORIFIC = re.compile(r"^(?:mr|mrs|ms|miss|dr|prof|sir)\.?\s+")


def _is_own(sent: Sentence, ent: Entity, own: set[str]) -> bool:
    """The entity is one the question names itself ("Ms Le" for "Le Pen" too)."""
    text = _spelling(sent.hit.chunk.text[ent[0] : ent[1]])
    text = text[4:] if text.startswith("the ") else text
    text = _HONORIFIC.sub("", text)
    own = {_spelling(o) for o in own}
    squashed = text.replace(" ", "")
    return any(
        text == o or text in o.split() or o in text or squashed == o.replace(" ", "")
        for o in own
        if o
    )


def _spelling(name: str) -> str:
    """A name however it is spelt: "U.S." as "us", "Kim Jong-nam" as "kim jong nam"."""
    return " ".join(re.sub(r"[^\w\s]", " ", name.lower().replace(".", "")).split())


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
    if a.kind == "person" and _SPEECH & set(_question_lemmas(a)):
        lemmas |= _SPEECH  # "who said …": the speaker is the subject of the speech verb
    anchors = [t for t in doc if t.lemma_.lower() in lemmas or t.lower_ in lemmas]
    focus = [t for t in doc if a.focus and t.lemma_.lower() == a.focus]

    def cost(ent: Entity) -> tuple[float, int]:
        span = doc.char_span(ent[0] - sent.start, ent[1] - sent.start, alignment_mode="expand")
        if span is None:
            return (99.0, ent[0])
        root = span.root
        c = min((_steps(root, t) for t in anchors), default=6)
        if span.end < len(doc) and doc[span.end].lower_ in {"'s", "’s"}:
            c += 1.0  # "Madagascar's football chief": a possessive qualifies the answer
        if a.kind == "person" and root.dep_ in {"nsubj", "nsubjpass"}:
            c -= 0.5
        if focus:
            near = min(_steps(root, t) for t in focus)
            if near <= 1 or any(t in span for t in focus):
                c -= 3
            else:
                c += 0.5 * min(near, 4)
        return (float(c), ent[0])

    ranked = sorted(sent.answers, key=cost)
    if a.count > 1:  # "which two ministers": the nearest ones, in the text's order
        names = list(dict.fromkeys(_clean(chunk_text[x[0] : x[1]]) for x in ranked))
        if len(names) >= a.count:
            chosen = sorted(ranked[: a.count], key=lambda x: x[0])
            return " and ".join(_clean(chunk_text[x[0] : x[1]]) for x in chosen)
    best, runner_up = cost(ranked[0])[0], cost(ranked[1])[0]
    s, e, _ = ranked[0]
    if runner_up - best < MIN_ANSWER_MARGIN and not _same_text(chunk_text, ranked[0], ranked[1]):
        return None  # two candidates as close to the question: quote, do not guess
    return _clean(chunk_text[s:e])


def _same_text(text: str, a: Entity, b: Entity) -> bool:
    return _clean(text[a[0] : a[1]]).lower() == _clean(text[b[0] : b[1]]).lower()


_SPEECH = {
    "say",
    "said",
    "warn",
    "threaten",
    "claim",
    "deny",
    "tell",
    "insist",
    "urge",
    "accuse",
    "add",
    "argue",
    "announce",
    "declare",
    "state",
    "reply",
    "respond",
    "call",
    "admit",
}


def _question_lemmas(a: Analysis) -> list[str]:
    return [t.lemma_.lower() for t in parse(a.question)]


def _steps(x, y) -> int:
    """Edges between two tokens in the dependency tree."""
    up = {t.i: n for n, t in enumerate([x, *x.ancestors])}
    for n, t in enumerate([y, *y.ancestors]):
        if t.i in up:
            return up[t.i] + n
    return 12


def anchor_steps(a: Analysis, sent: Sentence) -> int:
    """How near (in dependency steps) the sentence's nearest answer candidate stands to
    a word of the question; a name borrowed from the sentence before stands where the
    pronoun does (the sentence's opening)."""
    doc = parse(sent.text)
    words = set(a.terms) | {w.lower() for e in a.entity_texts for w in re.findall(r"\w+", e)}
    if a.focus:
        words.add(a.focus)
    anchors = [t for t in doc if t.lemma_.lower() in words or t.lower_ in words]
    best = 12
    for ent in sent.answers:
        if ent[0] < sent.start:
            span = doc[0:1]
        else:
            span = doc.char_span(ent[0] - sent.start, ent[1] - sent.start, alignment_mode="expand")
        if span is None:
            continue
        best = min([best, *(_steps(span.root, t) for t in anchors if t not in span)])
    return best


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
