"""Keyword index of a delta segment, scored on the archive's current statistics.

Rebuilding bm25s over the whole archive costs time in proportion to it, so an update
keeps the base's precomputed scores and indexes only the delta's documents. The delta
stores raw term frequencies and document lengths, plus what its tombstones took out of
the base (per-term counts of dead documents, their number and total length). A query
then scores the delta's documents with the statistics a full rebuild would have —
N = base - dead + delta, df(t) = base df - dead df + delta df, avgdl likewise — so a
changed or new article scores exactly as after a rebuild. What still drifts is the base's
frozen scores (their statistics do not see the change) until the next compaction.

Stored as JSON + .npy (no pickle), all small: `terms.json`; term-major postings
`indptr.npy` / `rows.npy` / `tf.npy` / `dl.npy` (posting i of term t, for i in
indptr[t]:indptr[t+1]: row `rows[i]` holds t `tf[i]` times in a document of `dl[i]`
tokens); `dead_df.npy` (per term, tombstoned base documents holding it); `docs.npy` (the
delta's rows); `dead.json` (tombstoned documents and their total length).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .bm25 import BM25_DIR, CorpusStats, _stopwords, document_tokens, tokenize
from .errors import IndexCorruptError

_ARRAYS = ("indptr", "rows", "tf", "dl", "dead_df", "docs")
FILES = ("terms.json", "dead.json", *(f"{name}.npy" for name in _ARRAYS))


class DeltaBM25:
    """Postings of the delta's chunks; small, so it is rewritten whole on each update."""

    def __init__(
        self,
        terms: list[str],
        arrays: dict[str, np.ndarray],
        dead_docs: int = 0,
        dead_len: float = 0.0,
    ) -> None:
        self.terms = terms
        self.vocab = {t: i for i, t in enumerate(terms)}
        self.indptr = arrays["indptr"]
        self.post_rows = arrays["rows"]
        self.tf = arrays["tf"]
        self.dl = arrays["dl"]
        self.dead_df = arrays["dead_df"]
        self.docs = arrays["docs"]
        self.dead_docs = dead_docs
        self.dead_len = dead_len
        self._stop = _stopwords()
        self._stats: CorpusStats | None = None

    @classmethod
    def empty(cls) -> DeltaBM25:
        ints, floats = np.zeros(0, dtype="int64"), np.zeros(0, dtype="float32")
        arrays = {"indptr": np.zeros(1, dtype="int64"), "rows": ints, "tf": floats}
        arrays.update(dl=floats, dead_df=ints, docs=ints)
        return cls([], arrays)

    def use_stats(self, stats: CorpusStats) -> DeltaBM25:
        """Attach the base's statistics, which queries combine with the delta's own."""
        self._stats = stats
        return self

    def merged(
        self,
        drop_rows: Sequence[int],
        texts: Sequence[str],
        rows: Sequence[int],
        dead_texts: Sequence[str] = (),
    ) -> DeltaBM25:
        """This delta without `drop_rows`, plus `texts` at `rows`; `dead_texts` are base
        chunks newly tombstoned. Only the new texts are tokenized."""
        terms = list(self.terms)
        vocab = dict(self.vocab)

        def term_id(term: str) -> int:
            tid = vocab.get(term)
            if tid is None:
                tid = vocab[term] = len(terms)
                terms.append(term)
            return tid

        term_ids = np.repeat(np.arange(len(terms), dtype="int64"), np.diff(self.indptr))
        keep = ~np.isin(self.post_rows, np.asarray(drop_rows, dtype="int64"))
        new_terms, new_rows, new_tf, new_dl = [], [], [], []
        for row, text in zip(rows, texts):
            tokens = document_tokens(text, self._stop)
            for term, tf in Counter(tokens).items():
                new_terms.append(term_id(term))
                new_rows.append(int(row))
                new_tf.append(tf)
                new_dl.append(len(tokens))
        dead_counts: Counter[int] = Counter()
        dead_len = self.dead_len
        for text in dead_texts:
            tokens = document_tokens(text, self._stop)
            dead_counts.update(term_id(t) for t in set(tokens))
            dead_len += len(tokens)
        dead_df = np.zeros(len(terms), dtype="int64")
        dead_df[: len(self.dead_df)] = self.dead_df
        for tid, n in dead_counts.items():
            dead_df[tid] += n

        all_terms = np.concatenate([term_ids[keep], np.asarray(new_terms, dtype="int64")])
        order = np.lexsort(
            (np.concatenate([self.post_rows[keep], np.asarray(new_rows, dtype="int64")]), all_terms)
        )
        indptr = np.zeros(len(terms) + 1, dtype="int64")
        np.cumsum(np.bincount(all_terms, minlength=len(terms)), out=indptr[1:])

        def joined(old: np.ndarray, new: list, dtype: str) -> np.ndarray:
            return np.concatenate([old[keep], np.asarray(new, dtype=dtype)])[order]

        docs = np.setdiff1d(self.docs, np.asarray(drop_rows, dtype="int64"))
        arrays = {
            "indptr": indptr,
            "rows": joined(self.post_rows, new_rows, "int64"),
            "tf": joined(self.tf, new_tf, "float32"),
            "dl": joined(self.dl, new_dl, "float32"),
            "dead_df": dead_df,
            "docs": np.union1d(docs, np.asarray(rows, dtype="int64")),
        }
        return DeltaBM25(terms, arrays, self.dead_docs + len(dead_texts), dead_len)

    def search(
        self, query: str, k: int, allowed_rows: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (row, score) with score > 0; a term counts once per query occurrence,
        as in bm25s. Needs `use_stats` first."""
        stats = self._stats
        if stats is None:
            raise RuntimeError("DeltaBM25.search needs the base statistics (use_stats)")
        ids = [self.vocab[t] for t in tokenize(query, self._stop) if t in self.vocab]
        if not ids or k <= 0:
            return []
        n_delta = len(self.docs)
        n = stats.documents - self.dead_docs + n_delta
        total_len = stats.documents * stats.avg_doc_len - self.dead_len + float(self.tf.sum())
        avgdl = total_len / n if n else 1.0
        parts, rows = [], []
        for tid in ids:
            lo, hi = int(self.indptr[tid]), int(self.indptr[tid + 1])
            if lo == hi:
                continue
            df = (
                stats.doc_freq[stats.vocab[self.terms[tid]]]
                if self.terms[tid] in stats.vocab
                else 0
            )
            df = df - int(self.dead_df[tid]) + (hi - lo)
            idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
            tf, dl = self.tf[lo:hi], self.dl[lo:hi]
            norm = stats.k1 * ((1 - stats.b) + stats.b * dl / avgdl)
            parts.append(idf * tf / (norm + tf))
            rows.append(self.post_rows[lo:hi])
        if not parts:
            return []
        rows_a, scores = np.concatenate(rows), np.concatenate(parts)
        if allowed_rows is not None:
            keep = np.isin(rows_a, allowed_rows)
            rows_a, scores = rows_a[keep], scores[keep]
        if len(rows_a) == 0:
            return []
        unique, inverse = np.unique(rows_a, return_inverse=True)
        totals = np.bincount(inverse, weights=scores).astype("float32")
        order = np.lexsort((unique, -totals))[:k]
        return [(int(unique[i]), float(totals[i])) for i in order if totals[i] > 0]

    def save(self, segment: Path) -> list[Path]:
        folder = segment / BM25_DIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "terms.json").write_text(json.dumps(self.terms, ensure_ascii=False), "utf-8")
        (folder / "dead.json").write_text(
            json.dumps({"documents": self.dead_docs, "length": self.dead_len}), "utf-8"
        )
        arrays = {
            "indptr": self.indptr,
            "rows": self.post_rows,
            "tf": self.tf,
            "dl": self.dl,
            "dead_df": self.dead_df,
            "docs": self.docs,
        }
        for name, arr in arrays.items():
            np.save(folder / f"{name}.npy", arr, allow_pickle=False)
        return [folder / name for name in FILES]

    @classmethod
    def load(cls, segment: Path) -> DeltaBM25:
        folder = segment / BM25_DIR
        try:
            terms = json.loads((folder / "terms.json").read_text("utf-8"))
            dead = json.loads((folder / "dead.json").read_text("utf-8"))
            arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
            dead_docs, dead_len = int(dead["documents"]), float(dead["length"])
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(
                f"delta keyword index in {folder} is unreadable ({exc}); rebuild the index"
            ) from exc
        indptr, n = arrays["indptr"], len(arrays["rows"])
        if (
            len(indptr) != len(terms) + 1
            or len(arrays["dead_df"]) != len(terms)
            or int(indptr[-1]) != n
            or len(arrays["tf"]) != n
            or len(arrays["dl"]) != n
        ):
            raise IndexCorruptError(
                f"delta keyword index in {folder} is inconsistent; rebuild the index"
            )
        return cls(terms, arrays, dead_docs, dead_len)
