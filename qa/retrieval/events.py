"""One event, several outlets: retrieved paragraphs that say the same thing in their own words.

Near-duplicate articles (a wire story republished) are found at build time by their shared
shingles (`index.stories`) and shown once. Different outlets' own reports of one event
share few word sequences, but their paragraphs mean the same, name the same people and
places, and appear within days of each other. So two retrieved paragraphs of different
outlets count as reporting the same thing when all three hold (`same_event`):

- the cosine of their MiniLM vectors (the index's own, or embedded when the index keeps
  only lossy codes) is at least `SAME_EVENT_COSINE`;
- they share at least `MIN_SHARED_NAMES` named entities (people, organisations, places,
  groups, events, laws: spaCy's, found at build time, `index.annotate`);
- their articles are dated at most `MAX_DAYS_APART` days apart.

The thresholds were chosen on pairs judged by reading (docs/evaluation.md). Grouping is
pairwise, not transitive: a paragraph lists the other outlets' paragraphs that are each
judged the same as it, so the rule's measured precision is what the reader sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from index.annotate import decode_entities, find_entities
from index.store import StoredChunk
from qa.response import OtherReport

SAME_EVENT_COSINE = 0.8
MIN_SHARED_NAMES = 3
MAX_DAYS_APART = 3
NAMED_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "LAW", "PRODUCT", "WORK_OF_ART"}
)


@dataclass(frozen=True)
class Paragraph:
    """A retrieved chunk as the grouping compares it."""

    chunk: StoredChunk
    vector: np.ndarray
    names: frozenset[str]

    @property
    def day(self) -> date | None:
        try:
            return date.fromisoformat(self.chunk.date[:10]) if self.chunk.date else None
        except ValueError:
            return None

    @property
    def outlet(self) -> str:
        return (self.chunk.source or "").strip().lower()


@dataclass(frozen=True)
class Match:
    """Another outlet's paragraph judged to say the same thing."""

    chunk: StoredChunk
    similarity: float
    shared: tuple[str, ...]


def normalize_name(text: str) -> str:
    """ "the Kremlin's" and "Kremlin" are one name."""
    t = " ".join(text.replace("’", "'").split()).strip(" .,;:'\"")
    if t.lower().endswith("'s"):
        t = t[:-2]
    if t.lower().startswith("the "):
        t = t[4:]
    return t.lower()


def names_of(chunk: StoredChunk) -> frozenset[str]:
    """The chunk's named entities (found now, once per process, for an index built
    before annotation)."""
    spans = decode_entities(chunk.entities)
    if spans is None:
        spans = _found(chunk.chunk_id, chunk.text)
    return frozenset(
        n
        for s, e, label in spans
        if label in NAMED_LABELS and (n := normalize_name(chunk.text[s:e]))
    )


@lru_cache(maxsize=4096)
def _found(chunk_id: str, text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple(find_entities([text])[0])


def paragraphs(chunks: Sequence[StoredChunk], index, embedder) -> list[Paragraph]:
    """The chunks with their vectors (the index's exact ones where it has them) and names."""
    stored = index.vectors([c.row for c in chunks]) if hasattr(index, "vectors") else {}
    missing = [c for c in chunks if c.row not in stored]
    if missing:
        for c, v in zip(missing, embedder.encode([c.text for c in missing])):
            stored[c.row] = np.asarray(v, dtype="float32")
    return [Paragraph(c, stored[c.row], names_of(c)) for c in chunks]


def compare(a: Paragraph, b: Paragraph) -> tuple[float, tuple[str, ...], int | None]:
    """(cosine, shared names, days apart or None when either is undated)."""
    cos = float(np.dot(a.vector, b.vector))
    shared = tuple(sorted(a.names & b.names))
    days = None if a.day is None or b.day is None else abs((a.day - b.day).days)
    return cos, shared, days


def same_event(
    a: Paragraph,
    b: Paragraph,
    cosine: float = SAME_EVENT_COSINE,
    min_names: int = MIN_SHARED_NAMES,
    max_days: int = MAX_DAYS_APART,
) -> bool:
    if not a.outlet or a.outlet == b.outlet or a.chunk.article_id == b.chunk.article_id:
        return False
    cos, shared, days = compare(a, b)
    return cos >= cosine and len(shared) >= min_names and days is not None and days <= max_days


def reports(paras: Sequence[Paragraph], story_key=None) -> dict[str, list[Match]]:
    """chunk id → the other outlets' paragraphs saying the same thing, one per outlet (its
    most similar), most similar first. Copies of one story (`story_key`, index.stories)
    are the same article here: they are listed as "also published by" instead."""
    key = story_key or (lambda article_id: article_id)
    out: dict[str, list[Match]] = {}
    for a in paras:
        best: dict[str, Match] = {}
        for b in paras:
            if key(a.chunk.article_id) == key(b.chunk.article_id) or not same_event(a, b):
                continue
            cos, shared, _ = compare(a, b)
            if b.outlet not in best or cos > best[b.outlet].similarity:
                best[b.outlet] = Match(b.chunk, round(cos, 4), shared)
        if best:
            out[a.chunk.chunk_id] = sorted(best.values(), key=lambda m: -m.similarity)
    return out


def with_reports(items: Sequence[Any], hits: Sequence[Any], index, embedder, stories) -> list[Any]:
    """Citations or passages (anything with a `chunk_id`), each with `reported_by`: the
    other outlets' paragraphs among the retrieved `hits` that say the same thing."""
    if len(hits) < 2 or not items:
        return list(items)
    found = reports(paragraphs([h.chunk for h in hits], index, embedder), stories.key)
    out = []
    for item in items:
        matches = found.get(item.chunk_id)
        if matches:
            item = item.model_copy(update={"reported_by": [other_report(m) for m in matches]})
        out.append(item)
    return out


def other_report(m: Match) -> OtherReport:
    c = m.chunk
    return OtherReport(
        article_id=c.article_id,
        chunk_id=c.chunk_id,
        title=c.title,
        source=c.source,
        date=c.date,
        url=c.url,
        paragraphs=list(range(c.para_start, c.para_end + 1)),
        similarity=m.similarity,
        shared_names=list(m.shared),
    )
