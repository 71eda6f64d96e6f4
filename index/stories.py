"""One story across outlets: near-duplicate articles (a wire story republished, an update
of a story) found with MinHash LSH over 5-word shingles of the article body.

Each segment's store keeps a MinHash signature per article it holds (`story_sigs`), written
when the segment is written (build, update, compaction), so signatures follow their article
through updates, replacements and removals exactly as its chunks do (the delta's
tombstones hide a replaced or removed base article's signature too). Clusters are derived
from the live signatures when an index is opened (`StoryClusters.from_store`), so they can
never disagree with the articles the index serves. Headlines are left out of the shingles:
an agency copy usually gets a new one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

SHINGLE_WORDS = 5
NUM_PERM = 128
# Jaccard of 5-word shingle sets above which two articles are one story. Measured on
# generated agency copies and on the NewsArticles archive (docs/index.md).
THRESHOLD = 0.5
SEED = 1
MIN_SHINGLES = 10
SCHEME = "affine32"  # datasketch's hashing scheme; stored signatures are only valid with it
_WORD = re.compile(r"\w+")


def shingles(text: str, n: int = SHINGLE_WORDS) -> set[bytes]:
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)}


def _permutations():
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


_PERMS = None


def signature(text: str) -> np.ndarray:
    """The article body's MinHash values (uint64, NUM_PERM of them); empty for a body
    too short to compare (fewer than MIN_SHINGLES shingles: an empty or one-line body
    is no evidence of a shared story)."""
    from datasketch import MinHash

    global _PERMS
    sh = shingles(text)
    if len(sh) < MIN_SHINGLES:
        return np.zeros(0, dtype=np.uint64)
    if _PERMS is None:
        _PERMS = _permutations()
    m = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_PERMS, scheme=SCHEME)
    m.update_batch(list(sh))
    return m.hashvalues.astype(np.uint64)


def to_blob(sig: np.ndarray) -> bytes:
    return np.asarray(sig, dtype="<u8").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u8").astype(np.uint64)


@dataclass
class StoryClusters:
    """article id -> cluster id (the cluster's oldest article, ties by id); only articles
    with at least one near-duplicate are in `cluster_of`."""

    cluster_of: dict[str, str] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        signatures: Iterable[tuple[str, np.ndarray]],
        dates: dict[str, str | None] | None = None,
        threshold: float = THRESHOLD,
    ) -> StoryClusters:
        from datasketch import MinHash, MinHashLSH

        sigs = {aid: sig for aid, sig in signatures if len(sig) == NUM_PERM}
        lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        hashes = {}
        for aid, sig in sigs.items():
            m = MinHash(num_perm=NUM_PERM, seed=SEED, hashvalues=sig, scheme=SCHEME)
            hashes[aid] = m
            lsh.insert(aid, m)
        parent = {aid: aid for aid in sigs}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for aid, m in hashes.items():
            for other in lsh.query(m):
                # LSH gives candidates; the estimated Jaccard decides.
                if other != aid and m.jaccard(hashes[other]) >= threshold:
                    parent[find(aid)] = find(other)
        groups: dict[str, list[str]] = {}
        for aid in sigs:
            groups.setdefault(find(aid), []).append(aid)
        dates = dates or {}
        out = cls()
        for group in groups.values():
            if len(group) < 2:
                continue
            group.sort(key=lambda a: (dates.get(a) or "9999", a))
            for aid in group:
                out.cluster_of[aid] = group[0]
            out.members[group[0]] = group
        return out

    @classmethod
    def from_store(cls, store) -> StoryClusters:
        """Clusters of the live archive from its stored signatures (an index built before
        them has none: every article is its own story until `update --compact`)."""
        stored = store.story_signatures()
        if not stored:
            return cls()
        dates = {aid: d for aid, d, _ in store.article_dates()}
        return cls.build(stored, dates)

    def key(self, article_id: str) -> str:
        """What diversity counts: the cluster, or the article itself."""
        return self.cluster_of.get(article_id, article_id)

    def others(self, article_id: str) -> list[str]:
        cluster = self.cluster_of.get(article_id)
        if cluster is None:
            return []
        return [a for a in self.members[cluster] if a != article_id]


def sign_store(store) -> int:
    """Write the signatures of this segment's articles that have none; returns how many."""
    todo = store.unsigned_articles()
    store.set_story_signatures((aid, to_blob(signature(text))) for aid, text in todo)
    return len(todo)


def pairs(clusters: StoryClusters) -> set[tuple[str, str]]:
    """Every unordered pair of articles put in one cluster (for measuring)."""
    out = set()
    for group in clusters.members.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                out.add((min(a, b), max(a, b)))
    return out


def cluster_texts(
    texts: Sequence[tuple[str, str]],
    dates: dict[str, str | None] | None = None,
    threshold: float = THRESHOLD,
) -> StoryClusters:
    """Clusters of (id, body) pairs, without an index (the measuring script and tests)."""
    return StoryClusters.build(((aid, signature(t)) for aid, t in texts), dates, threshold)
