"""BM25 keyword index (bm25s), saved as JSON + .npy without pickle.

News questions hinge on names (people, outlets, places) that a small embedding model
blurs; BM25 catches them exactly, and the retriever fuses both rankings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError

BM25_DIR = "bm25"
ROWS_FILE = "rows.npy"
STATS_FILE = "stats.json"  # what a delta segment needs to score with this index's statistics
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


def document_tokens(text: str, stopwords: frozenset[str] | None = None) -> list[str]:
    """A chunk's tokens as indexed; a placeholder keeps empty chunks countable."""
    return tokenize(text, stopwords) or ["\u2205"]


@dataclass(frozen=True)
class CorpusStats:
    """The statistics bm25s baked into a base index's scores (Lucene BM25).

    A delta segment combines them with its own counts to score its documents as a full
    rebuild would, on the same scale as the base's precomputed scores.
    """

    vocab: dict[str, int]
    doc_freq: np.ndarray  # documents containing each vocab term
    documents: int
    avg_doc_len: float
    k1: float
    b: float


class BM25Index:
    """bm25s scores over chunks, plus the FAISS row of each scored document."""

    def __init__(self, model, rows: np.ndarray, stats: dict | None = None) -> None:
        self.model = model
        self.rows = rows
        self.stats = stats  # None for indexes built before delta segments existed
        self._row_pos = {int(r): i for i, r in enumerate(rows)}
        self._stop = _stopwords()
        self._excluded: np.ndarray | None = None

    @classmethod
    def build(
        cls, texts: Sequence[str], rows: Sequence[int], k1: float = 1.2, b: float = 0.75
    ) -> BM25Index:
        import bm25s

        stop = _stopwords()
        corpus = [document_tokens(t, stop) for t in texts]
        model = bm25s.BM25(k1=k1, b=b, method="lucene")
        model.index(corpus, show_progress=False)
        stats = {
            "method": "lucene",
            "k1": k1,
            "b": b,
            "documents": len(corpus),
            "avg_doc_len": float(np.mean([len(c) for c in corpus])) if corpus else 1.0,
        }
        return cls(model, np.asarray(rows, dtype="int64"), stats)

    def save(self, build: Path) -> list[Path]:
        folder = build / BM25_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save(str(folder), allow_pickle=False)
        np.save(folder / ROWS_FILE, self.rows, allow_pickle=False)
        if self.stats is not None:
            (folder / STATS_FILE).write_text(json.dumps(self.stats), encoding="utf-8")
        return sorted(p for p in folder.iterdir() if p.is_file())

    @classmethod
    def load(cls, build: Path, mmap: bool = False) -> BM25Index:
        import bm25s

        folder = build / BM25_DIR
        try:
            model = bm25s.BM25.load(str(folder), allow_pickle=False, mmap=mmap, load_corpus=False)
            rows = np.load(folder / ROWS_FILE, allow_pickle=False)
            stats_path = folder / STATS_FILE
            stats = json.loads(stats_path.read_text("utf-8")) if stats_path.is_file() else None
        except (OSError, ValueError, json.JSONDecodeError, KeyError) as exc:
            raise IndexCorruptError(
                f"BM25 index in {folder} is unreadable ({exc}); rebuild the index"
            ) from exc
        return cls(model, rows, stats)

    @staticmethod
    def has_stats(build: Path) -> bool:
        """Whether a delta segment can be laid over this build's keyword index."""
        return (build / BM25_DIR / STATS_FILE).is_file()

    def corpus_stats(self) -> CorpusStats | None:
        """This loaded index's statistics (None when it predates `stats.json`)."""
        if self.stats is None:
            return None
        return CorpusStats(
            vocab=self.model.vocab_dict,
            doc_freq=np.diff(np.asarray(self.model.scores["indptr"])),
            documents=int(self.stats["documents"]),
            avg_doc_len=float(self.stats["avg_doc_len"]),
            k1=float(self.stats["k1"]),
            b=float(self.stats["b"]),
        )

    def exclude(self, rows: np.ndarray) -> None:
        """Never return these rows (a delta segment's tombstones: removed or replaced chunks)."""
        if len(rows) == 0:
            self._excluded = None
            return
        mask = np.zeros(len(self.rows), dtype=bool)
        pos = [self._row_pos[int(r)] for r in rows if int(r) in self._row_pos]
        mask[pos] = True
        self._excluded = mask

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
        if self._excluded is not None:
            scores = np.where(self._excluded, 0.0, scores)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.rows[i]), float(scores[i])) for i in top if scores[i] > 0]
