"""Measuring near-duplicate clustering (index.stories) on generated agency copies.

A wire story is republished with a new headline, a paragraph added or dropped, light
edits and another date. `agency_copies` makes such copies of real archive articles
(seeded, so the same set every run); `score` clusters the originals, the copies and the
rest of the archive together, and counts: a copy must join its original (recall), and no
copy may join anything else (precision). Pairs of two real articles are not scored here:
they are the archive's own clusters, judged by reading (docs/index.md).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from index.stories import StoryClusters, cluster_texts, pairs

# Wire desks' usual light edits: a word swapped, a figure spelled out, a spelling changed.
_SWAPS = {
    "said": "told reporters",
    "says": "stated",
    "the": "this",
    "and": "as well as",
    "president": "President",
    "government": "administration",
    "on": "on",
    "would": "will",
    "has": "had",
    "but": "however",
}


@dataclass(frozen=True)
class Copy:
    id: str
    of: str  # the original's id
    how: str
    text: str
    title: str
    date: str | None


def paragraphs(text: str, sentences: int = 3) -> list[str]:
    """The body's paragraphs; a body stored on one line (this archive's) in groups of
    `sentences` sentences."""
    paras = [p for p in re.split(r"\n\s*\n|\n", text) if p.strip()]
    if len(paras) > 1:
        return paras
    sents = [s for s in re.split(r"(?<=[.!?\"])\s+(?=[A-Z\"])", text) if s.strip()]
    return [" ".join(sents[i : i + sentences]) for i in range(0, len(sents), sentences)]


def light_edits(text: str, rng: random.Random, every: int = 60) -> str:
    """About one edited word per `every` words."""
    words = text.split(" ")
    for i in range(rng.randrange(every), len(words), every):
        w = words[i]
        key = w.lower().strip(".,;:\"'")
        words[i] = _SWAPS.get(key, w.upper() if len(w) > 3 else w + ",")
    return " ".join(words)


def agency_copies(rows: Sequence[dict[str, str]], n: int = 200, seed: int = 17) -> list[Copy]:
    """Copies of `n` real articles with at least four paragraphs: every copy has a new
    headline, light edits and another date; in turn a paragraph added (from another
    article), one dropped, or both."""
    rng = random.Random(seed)
    pool = [r for r in rows if len(paragraphs(r["text"])) >= 4]
    picked = rng.sample(pool, min(n, len(pool)))
    out = []
    for i, r in enumerate(picked):
        paras = paragraphs(r["text"])
        how = ("add", "drop", "add+drop", "edits")[i % 4]
        if "add" in how:
            donor = paragraphs(rng.choice(pool)["text"])
            paras.insert(rng.randrange(1, len(paras) + 1), rng.choice(donor))
        if "drop" in how:
            del paras[rng.randrange(1, len(paras))]
        text = light_edits("\n\n".join(paras), rng)
        try:
            y, m, d0 = (int(x) for x in re.split(r"[-/]", r["publish_date"][:10])[:3])
            d = (date(y, m, d0) + timedelta(days=1)).isoformat()
        except (ValueError, TypeError):
            d = None
        out.append(
            Copy(f"copy-{r['article_id']}", r["article_id"], how, text, f"WIRE: {r['title']}", d)
        )
    return out


@dataclass
class Score:
    copies: int
    found: int  # copies clustered with their original
    copy_pairs: int  # predicted pairs involving a copy
    wrong_pairs: int  # ... with an article that is not its original (nor the original's copies)
    real_clusters: list[list[str]]

    @property
    def recall(self) -> float:
        return self.found / self.copies if self.copies else 0.0

    @property
    def precision(self) -> float:
        right = self.copy_pairs - self.wrong_pairs
        return right / self.copy_pairs if self.copy_pairs else 1.0


def score(rows: Sequence[dict[str, str]], copies: Sequence[Copy], threshold: float) -> Score:
    texts = [(r["article_id"], r["text"]) for r in rows] + [(c.id, c.text) for c in copies]
    dates = {r["article_id"]: r.get("publish_date") for r in rows}
    clusters: StoryClusters = cluster_texts(texts, dates, threshold)
    origin = {c.id: c.of for c in copies}
    real = {r["article_id"] for r in rows}
    # An original in a real cluster: a copy joining its original's duplicates is right too.
    family = {}
    for c in copies:
        group = set(clusters.members.get(clusters.cluster_of.get(c.of, ""), [])) & real
        family[c.id] = group | {c.of}
    found = sum(1 for c in copies if clusters.key(c.id) == clusters.key(c.of) != c.id)
    copy_pairs = wrong = 0
    for a, b in pairs(clusters):
        if a in origin or b in origin:
            copy_pairs += 1
            cp, other = (a, b) if a in origin else (b, a)
            if other in origin:
                other = origin[other]
            if other not in family[cp]:
                wrong += 1
    real_clusters = [
        sorted(g, key=lambda x: int(x) if x.isdigit() else 0)
        for g in ({*m} & real for m in clusters.members.values())
        if len(g) > 1
    ]
    return Score(len(copies), found, copy_pairs, wrong, real_clusters)
