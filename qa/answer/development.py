"""'How did coverage of X develop?': a dated list of key paragraphs, one per period.

A question about how a story unfolded is not answered by the one best sentence: the reader
wants the story's course, in the archive's own words, each step dated and cited. So the
question's topic is searched once (under the question's own time range and outlets, read
by `qa.retrieval.hints` as for any question), the relevant paragraphs are grouped by
month, or by week when they span two months or less, and each period contributes its
best-ranked paragraph, quoted by the sentence nearest the topic: "Week of 6 March 2017
(3 articles): On 8 March 2017, bbc.co.uk reported: '…' [2]".

Which questions these are comes from the question's parse (`qa.answer.question.parse`):
a "how" question whose verb is develop / unfold / evolve / progress / change without an
object ("How did the virus develop resistance?" is not one), or any question about a
timeline or chronology. The topic is the question without its frame words ("coverage of",
"the story of", "timeline of", "over time") and without the time and outlet words the
plan already turned into filters.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from index.chunker import sentence_spans, word_count
from qa.answer.extractive import Candidate, ExtractiveAnswerer
from qa.answer.question import parse
from qa.response import Citation, Filters, TimeRange, human_date
from qa.retrieval.retriever import Hit
from qa.timeline import period_start

DEVELOP_VERBS = frozenset({"develop", "unfold", "evolve", "progress", "change"})
TIMELINE_NOUNS = frozenset({"timeline", "chronology"})
# Words that say "the coverage of" rather than what it was about.
FRAME_NOUNS = frozenset(
    {"coverage", "story", "stories", "reporting", "report", "news", "development", "timeline"}
    | {"chronology", "history", "course", "archive"}
)
_FRAME_PREPOSITIONS = frozenset({"of", "on", "about", "over", "around", "for", "in", "across"})
_FRAME_VERBS = frozenset({"give", "show", "tell", "be", "do", "have", "make", "list"})
CANDIDATES = 40  # paragraphs searched for the whole story
RELEVANCE_MARGIN = 0.15  # cosine below the best paragraph that still belongs to the story
MAX_PERIODS = 10
WEEKS_UP_TO_DAYS = 62  # a story spanning at most this many days is told week by week
MIN_SENTENCE_WORDS = 6
_CROSS_REFERENCE = re.compile(r"^[A-Z][A-Z ]{3,}:")  # "READ MORE:", "WATCH:", "RELATED:"


def development_topic(question: str, spans: Sequence[tuple[int, int]] = ()) -> str | None:
    """The topic of a how-did-it-develop / timeline question, or None for any other;
    words inside `spans` (the time and outlet words the plan read) are left out."""
    doc = parse(question)
    words = [t for t in doc if not t.is_punct and not t.is_space]
    if not words:
        return None
    lemmas = {t.lemma_.lower() for t in words}
    verbs = [t for t in words if t.lemma_.lower() in DEVELOP_VERBS]
    asks_how = words[0].lemma_.lower() == "how"
    if not lemmas & TIMELINE_NOUNS:
        if not (asks_how and verbs):
            return None
        # "How did the virus develop resistance?" asks about a thing done, not a course.
        if any(c.dep_ in ("dobj", "attr", "ccomp", "xcomp") for v in verbs for c in v.children):
            return None
    drop: set[int] = {t.i for t in words if any(a <= t.idx < b for a, b in spans)}
    for t in words:
        lemma = t.lemma_.lower()
        if (
            lemma in DEVELOP_VERBS
            or lemma in FRAME_NOUNS
            or lemma in TIMELINE_NOUNS
            or (t.i == words[0].i and t.tag_ in ("WRB", "WP", "WDT"))
            or t.pos_ == "AUX"
            or (t.pos_ == "VERB" and lemma in _FRAME_VERBS)
            or (t.pos_ == "PRON" and t.dep_ in ("dative", "attr"))
            or (lemma == "time" and t.head.lemma_.lower() == "over")
        ):
            drop.add(t.i)
            if lemma in FRAME_NOUNS | TIMELINE_NOUNS:
                drop.update(c.i for c in t.children if c.dep_ in ("det", "poss", "case"))
    for t in words:
        # Prepositions of dropped words ("coverage of", "over time"), and "so far".
        if t.pos_ == "ADP" and t.head.i in drop and t.lemma_.lower() in _FRAME_PREPOSITIONS:
            drop.add(t.i)
        if t.lower_ == "so" and t.i + 1 < len(doc) and doc[t.i + 1].lower_ == "far":
            drop.update((t.i, t.i + 1))
    kept = [t for t in words if t.i not in drop]
    while kept and kept[0].pos_ in ("DET", "ADP", "CCONJ", "PART"):
        kept = kept[1:]
    while kept and kept[-1].pos_ in ("ADP", "CCONJ", "DET"):
        kept = kept[:-1]
    keep = {t.i for t in kept}
    # A hyphen inside a kept name stays ("Kim Jong-nam", "Jong" "-" "nam" to spaCy).
    keep |= {
        t.i
        for t in doc[1:-1]
        if t.is_punct and not doc[t.i - 1].whitespace_ and t.i - 1 in keep and t.i + 1 in keep
    }
    topic = "".join(t.text_with_ws for t in doc if t.i in keep).strip()
    return topic or None


@dataclass
class Entry:
    """One period's key paragraph."""

    period: str  # first day of the period
    hit: Hit
    articles: int  # relevant articles in the period
    start: int = 0  # the quoted sentence, in the chunk text
    end: int = 0


@dataclass
class Development:
    """What the service assembles into an `Answer`."""

    text: str
    citations: list[Citation]
    hits: list[Hit]
    notes: list[str] = field(default_factory=list)
    time_range: TimeRange | None = None
    refused: bool = False


def period_name(period: str, by: str) -> str:
    d = date.fromisoformat(period)
    if by == "week":
        return f"Week of {human_date(period)}"
    return f"{d.strftime('%B')} {d.year}"


def story_filters(plan, filters: Filters) -> tuple[Filters, TimeRange | None, list[str]]:
    """The filters the story is told under: the plan's time range; a date the question
    names ("in March 2017") as the range even when it would only be a hint elsewhere (a
    story's course is about coverage); outlets the question names as the outlets."""
    notes: list[str] = []
    out = plan.subqueries[0].filters
    phrase = ""
    if plan.time is not None and (plan.time.since or plan.time.until):
        phrase = plan.time.phrase
    elif plan.dates:
        d = plan.dates[0]
        since = max(filter(None, [out.since, d.since]), default=None)
        until = min(filter(None, [out.until, d.until]), default=None)
        if not (since and until and since > until):
            out = out.model_copy(update={"since": since, "until": until})
            phrase = d.text
    if plan.sources:
        named = sorted({s for m in plan.sources for s in m.sources})
        if out.sources:
            allowed = {s.lower() for s in out.sources}
            named = [s for s in named if s.lower() in allowed]
        if named:
            out = out.model_copy(update={"sources": named})
            notes.append("told from " + ", ".join(named) + " only, as the question names it")
    time_range = None
    if phrase or out.since or out.until:
        time_range = TimeRange(since=out.since, until=out.until, phrase=phrase)
    return out, time_range, notes


def topic_names(topic: str) -> list[str]:
    """The names in a topic ("Mosul", "North", "Korea"): a paragraph about the story
    mentions them all (the story of "the Zorblaxian moon colony" is not one about moons)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return [
        w
        for w in re.findall(r"[^\W\d_][\w'’-]*", topic)
        if w[0].isupper() and w.lower() not in STOP_WORDS
    ]


def _letters(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def mentions(hit: Hit, names: Sequence[str]) -> bool:
    """Letters and digits only on both sides: "Jong-nam", "Jongnam" and "Jong Nam" are
    one name however the question or the outlet spells it."""
    text = _letters(f"{hit.chunk.title}\n{hit.chunk.text}")
    return all(_letters(re.sub(r"['’]s$", "", n)) in text for n in names)


def choose_entries(
    hits: list[Hit], min_relevance: float, names: Sequence[str] = ()
) -> tuple[list[Entry], str, list[str]]:
    """One entry per period (the period's best-ranked relevant paragraph), chronological,
    at most MAX_PERIODS (those with the most relevant articles); the step used; notes.
    Relevant: near the best similarity, and naming every one of the topic's `names`."""
    notes: list[str] = []
    best = max((h.dense for h in hits if h.dense is not None), default=0.0)
    floor = max(min_relevance, best - RELEVANCE_MARGIN)
    relevant = [h for h in hits if h.dense is not None and h.dense >= floor]
    named = [h for h in relevant if mentions(h, names)]
    if relevant and not named:
        notes.append("no retrieved paragraph mentions " + ", ".join(repr(n) for n in names))
    relevant = named
    dated = [h for h in relevant if h.chunk.date]
    if len(dated) < len(relevant):
        notes.append(
            f"{len(relevant) - len(dated)} relevant paragraphs without a date left out of the "
            "timeline"
        )
    if not dated:
        return [], "month", notes
    days = sorted(h.chunk.date[:10] for h in dated)
    span = (date.fromisoformat(days[-1]) - date.fromisoformat(days[0])).days
    by = "week" if span <= WEEKS_UP_TO_DAYS else "month"
    groups: dict[str, list[Hit]] = defaultdict(list)
    for h in dated:
        groups[period_start(h.chunk.date, by)].append(h)
    periods = sorted(groups)
    if len(periods) > MAX_PERIODS:
        keep = sorted(periods, key=lambda p: (-len({h.chunk.article_id for h in groups[p]}), p))[
            :MAX_PERIODS
        ]
        notes.append(
            f"{len(periods) - MAX_PERIODS} more {by}s with fewer relevant articles left out"
        )
        periods = sorted(keep)
    entries = [
        Entry(p, groups[p][0], len({h.chunk.article_id for h in groups[p]})) for p in periods
    ]
    return entries, by, notes


def quote_sentences(entries: list[Entry], topic_vector: np.ndarray, embedder) -> None:
    """Each entry's sentence nearest the topic (the whole paragraph when none is long)."""
    spans: list[tuple[int, int, int]] = []
    for i, e in enumerate(entries):
        text = e.hit.chunk.text
        own = [
            (a, b)
            for a, b in map(lambda ab: _last_line(text, *ab), sentence_spans(text))
            if word_count(text[a:b]) >= MIN_SENTENCE_WORDS
        ]
        stated = [(a, b) for a, b in own if _states(text[a:b])]
        spans += [(i, a, b) for a, b in stated or own or [(0, len(text))]]
    vecs = np.asarray(embedder.encode([entries[i].hit.chunk.text[a:b] for i, a, b in spans]))
    sims = vecs @ np.asarray(topic_vector).reshape(-1)
    best: dict[int, tuple[float, int, int]] = {}
    for (i, a, b), s in zip(spans, sims):
        if i not in best or s > best[i][0]:
            best[i] = (float(s), a, b)
    for i, e in enumerate(entries):
        _, e.start, e.end = best[i]


def _last_line(text: str, a: int, b: int) -> tuple[int, int]:
    """A sentence span that runs over a line break (a headline line before it) begins after
    the break: the quote stays one line of the answer."""
    cut = text.rfind("\n", a, b)
    if cut < 0:
        return a, b
    a = cut + 1
    while a < b and text[a].isspace():
        a += 1
    return a, b


def _states(sentence: str) -> bool:
    """A sentence that reports something: not a question ("Who votes for Wilders?") and
    not a link to another story ("READ MORE: ...")."""
    return not sentence.rstrip(" '\"”’").endswith("?") and not _CROSS_REFERENCE.match(sentence)


def compose(entries: list[Entry], by: str, topic: str, cite) -> tuple[str, list[Citation]]:
    """The dated list: a line per period, each sentence verbatim with its [n]."""
    citations: list[Citation] = []
    lines = []
    for e in entries:
        c = e.hit.chunk
        citation = cite(Candidate(0, e.hit, e.start, e.end, e.hit.dense or 0.0), len(citations) + 1)
        citations.append(citation)
        many = f" ({e.articles} articles)" if e.articles > 1 else ""
        lines.append(
            f"{period_name(e.period, by)}{many}: On {human_date(c.date)}, "
            f"{c.source or 'an unknown outlet'} reported: “{c.text[e.start : e.end]}” "
            f"[{citation.n}]"
        )
    steps = f"{len(entries)} {by}s" if len(entries) != 1 else f"1 {by}"
    head = f"How the archive's coverage of {topic} developed, by {by} ({steps}):"
    return "\n".join([head, *lines]), citations


def tell(
    question: str,
    searcher,
    answerer: ExtractiveAnswerer,
    filters: Filters,
    min_relevance: float,
    now: str | None = None,
) -> Development | None:
    """The dated list for a how-did-it-develop question (None: not one)."""
    if development_topic(question) is None:
        return None
    plan = searcher.plan(question, filters, now=now)
    narrowed, time_range, notes = story_filters(plan, filters)
    spans = [(m.start, m.end) for m in [*plan.sources, *plan.dates]]
    if plan.time is not None:
        spans += list(plan.time.spans)
    topic = development_topic(question, spans) or development_topic(question) or question
    result = searcher.search(topic, CANDIDATES, narrowed, now=now)
    notes += [n for n in result.notes if not n.startswith("searched ")]
    reference = searcher.reference_date(now)
    if time_range is not None:
        time_range = time_range.model_copy(update={"reference_date": reference})
    weak = result.too_weak(min_relevance)
    entries, by, why = (
        ([], "month", [])
        if weak is not None
        else choose_entries(result.hits, min_relevance, topic_names(topic))
    )
    notes += (weak or []) + why
    if not entries:
        return Development("", [], result.hits, notes, time_range, refused=True)
    quote_sentences(entries, searcher.embed_query(topic), searcher.embedder)
    text, citations = compose(entries, by, topic, answerer._citation)
    notes.append(f"told as a dated list: {len(entries)} {by}s of coverage of {topic!r}")
    return Development(text, citations, result.hits, notes, time_range)
