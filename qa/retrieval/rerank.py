"""Optional cross-encoder reranking of retrieved paragraphs, by local model path.

No cross-encoder ships its weights on a registry this project can reach, so reranking is
off by default; an operator who has one (e.g. a copy of bge-reranker) sets
ARCHIVE_QA_RERANKER_PATH and the top `rerank_candidates` hits are re-scored by it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from qa.errors import ModelError
from qa.retrieval.retriever import Hit


class CrossEncoderReranker:
    def __init__(self, model_path: str) -> None:
        if not Path(model_path).is_dir():
            raise ModelError(
                f"no reranker model folder at {model_path!r} (ARCHIVE_QA_RERANKER_PATH)"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        try:
            self.model = CrossEncoder(model_path, device="cpu", local_files_only=True)
        except Exception as exc:  # wrong format, missing files, ...
            raise ModelError(f"could not load the reranker at {model_path!r}: {exc}") from exc
        self.path = model_path

    def scores(self, question: str, texts: list[str]) -> list[float]:
        """Raw logits: a sigmoid would squash near-equal relevances into ties."""
        import torch

        out = self.model.predict(
            [(question, t) for t in texts],
            activation_fn=torch.nn.Identity(),
            show_progress_bar=False,
        )
        return [float(x) for x in out]

    def rerank(self, question: str, hits: list[Hit], k: int) -> list[Hit]:
        """The k hits the cross-encoder scores highest; the score replaces the fused one."""
        if not hits:
            return []
        scores = self.scores(question, [h.chunk.text for h in hits])
        order = sorted(range(len(hits)), key=lambda i: (-scores[i], i))
        return [replace(hits[i], score=scores[i]) for i in order[:k]]


@lru_cache(maxsize=2)
def load_reranker(model_path: str) -> CrossEncoderReranker:
    return CrossEncoderReranker(model_path)
