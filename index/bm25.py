"""BM25 keyword index (bm25s), saved as JSON + .npy without pickle.

News questions hinge on names (people, outlets, places) that a small embedding model
blurs; BM25 catches them exactly, and the retriever fuses both rankings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError

BM25_DIR = "bm25"
ROWS_FILE = "rows.npy"
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def tokenize(text: str, stopwords: frozenset[str] | None = None) -> list[str]:
    """Lowercased word tokens without English stopwords; possessive 's dropped."""
    stop = _stopwords() if stopwords is None else stopwords
    out = []
    for tok in _TOKEN.findall(text.lower()):
        tok = re.sub(r"['’]s$", "", tok)
        if tok and tok not in stop:
            out.append(tok)
    return out


class BM25Index:
    """bm25s scores over chunks, plus the FAISS row of each scored document."""

    def __init__(self, model, rows: np.ndarray) -> None:
        self.model = model
        self.rows = rows
        self._row_pos = {int(r): i for i, r in enumerate(rows)}
        self._stop = _stopwords()

    @classmethod
    def build(
        cls, texts: Sequence[str], rows: Sequence[int], k1: float = 1.2, b: float = 0.75
    ) -> BM25Index:
        import bm25s

        stop = _stopwords()
        corpus = [tokenize(t, stop) or ["\u2205"] for t in texts]
        model = bm25s.BM25(k1=k1, b=b)
        model.index(corpus, show_progress=False)
        return cls(model, np.asarray(rows, dtype="int64"))

    def save(self, build: Path) -> list[Path]:
        folder = build / BM25_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(str(folder), allow_pickle=False)
        np.save(folder / ROWS_FILE, self.rows, allow_pickle=False)
        return sorted(p for p in folder.iterdir() if p.is_file())

    @classmethod
    def load(cls, build: Path, mmap: bool = False) -> BM25Index:
        import bm25s

        folder = build / BM25_DIR
        try:
            model = bm25s.BM25.load(str(folder), allow_pickle=False, mmap=mmap, load_corpus=False)
            rows = np.load(folder / ROWS_FILE, allow_pickle=False)
        except (OSError, ValueError, json.JSONDecodeError, KeyError) as exc:
            raise IndexCorruptError(
                f"BM25 index in {folder} is unreadable ({exc}); rebuild the index"
            ) from exc
        return cls(model, rows)

    def search(
        self, query: str, k: int, allowed_rows: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (row, score) pairs with score > 0; `allowed_rows` restricts by filter."""
        vocab = self.model.vocab_dict
        ids = [vocab[t] for t in tokenize(query, self._stop) if t in vocab]
        if not ids:
            return []
        scores = self.model.get_scores_from_ids(ids)
        if allowed_rows is not None:
            mask = np.zeros(len(self.rows), dtype=bool)
            pos = [self._row_pos[int(r)] for r in allowed_rows if int(r) in self._row_pos]
            mask[pos] = True
            scores = np.where(mask, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.rows[i]), float(scores[i])) for i in top if scores[i] > 0]
