"""Keyword index of a delta segment, scored with the base segment's BM25 statistics.

Rebuilding bm25s over the whole archive costs seconds per 100k chunks, so an update
keeps the base's precomputed scores and scores only the delta's documents, with the
base's document frequencies, document count and mean length (`CorpusStats`). The two
score lists are then on one scale and merge by score. The drift against a full rebuild
is that the base statistics do not count the delta's documents (nor drop tombstoned
ones) until the next compaction.

Stored as JSON + .npy (no pickle): `terms.json`, and term-major postings
`indptr.npy` / `rows.npy` / `scores.npy` (posting i of term t: row `rows[i]` scores
`scores[i]` for t, for i in indptr[t]:indptr[t+1]), and `docs.npy`, the delta's rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .bm25 import BM25_DIR, CorpusStats, _stopwords, document_tokens, tokenize
from .errors import IndexCorruptError

FILES = ("terms.json", "indptr.npy", "rows.npy", "scores.npy", "docs.npy")


class DeltaBM25:
    """Postings of the delta's chunks; small, so it is rewritten whole on each update."""

    def __init__(
        self,
        terms: list[str],
        indptr: np.ndarray,
        rows: np.ndarray,
        scores: np.ndarray,
        docs: np.ndarray,
    ) -> None:
        self.terms = terms
        self.vocab = {t: i for i, t in enumerate(terms)}
        self.indptr = indptr
        self.post_rows = rows
        self.post_scores = scores
        self.docs = docs
        self._stop = _stopwords()

    @classmethod
    def empty(cls) -> DeltaBM25:
        return cls(
            [],
            np.zeros(1, dtype="int64"),
            np.zeros(0, dtype="int64"),
            np.zeros(0, dtype="float32"),
            np.zeros(0, dtype="int64"),
        )

    def merged(
        self,
        drop_rows: Sequence[int],
        texts: Sequence[str],
        rows: Sequence[int],
        stats: CorpusStats,
    ) -> DeltaBM25:
        """This delta without `drop_rows`, plus `texts` at `rows`, scored with `stats`.

        Kept postings are reused as they are: the base statistics they were scored with
        do not change until compaction, so only the new documents are tokenized.
        """
        terms = list(self.terms)
        vocab = dict(self.vocab)
        term_ids = np.repeat(np.arange(len(terms), dtype="int64"), np.diff(self.indptr))
        keep = ~np.isin(self.post_rows, np.asarray(drop_rows, dtype="int64"))
        new_terms, new_rows, new_scores = [], [], []
        stop = self._stop
        for row, text in zip(rows, texts):
            for term, score in stats.doc_scores(document_tokens(text, stop)).items():
                tid = vocab.get(term)
                if tid is None:
                    tid = vocab[term] = len(terms)
                    terms.append(term)
                new_terms.append(tid)
                new_rows.append(int(row))
                new_scores.append(score)
        all_terms = np.concatenate([term_ids[keep], np.asarray(new_terms, dtype="int64")])
        all_rows = np.concatenate([self.post_rows[keep], np.asarray(new_rows, dtype="int64")])
        all_scores = np.concatenate(
            [self.post_scores[keep], np.asarray(new_scores, dtype="float32")]
        )
        order = np.lexsort((all_rows, all_terms))
        indptr = np.zeros(len(terms) + 1, dtype="int64")
        np.cumsum(np.bincount(all_terms, minlength=len(terms)), out=indptr[1:])
        docs = np.setdiff1d(self.docs, np.asarray(drop_rows, dtype="int64"))
        docs = np.union1d(docs, np.asarray(rows, dtype="int64"))
        return DeltaBM25(terms, indptr, all_rows[order], all_scores[order], docs)

    def search(
        self, query: str, k: int, allowed_rows: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (row, score) with score > 0, summing a term once per query occurrence
        (as bm25s does)."""
        ids = [self.vocab[t] for t in tokenize(query, self._stop) if t in self.vocab]
        if not ids or k <= 0:
            return []
        parts = [slice(self.indptr[i], self.indptr[i + 1]) for i in ids]
        rows = np.concatenate([self.post_rows[s] for s in parts])
        scores = np.concatenate([self.post_scores[s] for s in parts])
        if allowed_rows is not None:
            keep = np.isin(rows, allowed_rows)
            rows, scores = rows[keep], scores[keep]
        if len(rows) == 0:
            return []
        unique, inverse = np.unique(rows, return_inverse=True)
        totals = np.bincount(inverse, weights=scores).astype("float32")
        order = np.lexsort((unique, -totals))[:k]
        return [(int(unique[i]), float(totals[i])) for i in order if totals[i] > 0]

    def save(self, segment: Path) -> list[Path]:
        folder = segment / BM25_DIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "terms.json").write_text(json.dumps(self.terms, ensure_ascii=False), "utf-8")
        for name, arr in (
            ("indptr.npy", self.indptr),
            ("rows.npy", self.post_rows),
            ("scores.npy", self.post_scores),
            ("docs.npy", self.docs),
        ):
            np.save(folder / name, arr, allow_pickle=False)
        return [folder / name for name in FILES]

    @classmethod
    def load(cls, segment: Path) -> DeltaBM25:
        folder = segment / BM25_DIR
        try:
            terms = json.loads((folder / "terms.json").read_text("utf-8"))
            arrays = [
                np.load(folder / name, allow_pickle=False)
                for name in ("indptr.npy", "rows.npy", "scores.npy", "docs.npy")
            ]
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(
                f"delta keyword index in {folder} is unreadable ({exc}); rebuild the index"
            ) from exc
        indptr, rows, scores, docs = arrays
        if len(indptr) != len(terms) + 1 or len(rows) != len(scores) or indptr[-1] != len(rows):
            raise IndexCorruptError(
                f"delta keyword index in {folder} is inconsistent; rebuild the index"
            )
        return cls(terms, indptr, rows, scores, docs)
