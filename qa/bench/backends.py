"""Backend section: OpenVINO against torch on the same passages, speed and agreement.

Speed is measured torch → openvino → torch on the same texts (same batch size, one
process), and openvino is compared with the mean of the two torch passes, so a load
change during the run biases neither side. Agreement: cosine of each passage's two
vectors, and the overlap of the top 10 passages for real MultiHop-RAG questions when
corpus and questions are both embedded by one backend or both by the other.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from index.embedder import Embedder


def timed_encode(embedder: Embedder, texts: list[str], batch_size: int) -> tuple[np.ndarray, float]:
    embedder.encode(texts[:batch_size], batch_size=batch_size)  # warm-up, untimed
    t0 = time.perf_counter()
    vecs = embedder.encode(texts, batch_size=batch_size)
    return vecs, time.perf_counter() - t0


def top_k_overlap(
    corpus_a: np.ndarray, q_a: np.ndarray, corpus_b: np.ndarray, q_b: np.ndarray, k: int = 10
) -> float:
    """Mean share of the top-k passages (exact search) two embeddings agree on."""
    k = min(k, len(corpus_a))
    top_a = np.argsort(-(q_a @ corpus_a.T), axis=1)[:, :k]
    top_b = np.argsort(-(q_b @ corpus_b.T), axis=1)[:, :k]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(top_a, top_b)]))


def run_backends(
    torch_embedder: Embedder,
    other: Embedder,
    texts: list[str],
    questions: list[str],
    batch_size: int,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    log(f"backends: {len(texts)} passages, torch → {other.backend} → torch …")
    ref, t1 = timed_encode(torch_embedder, texts, batch_size)
    vecs, t_other = timed_encode(other, texts, batch_size)
    _, t2 = timed_encode(torch_embedder, texts, batch_size)
    t_torch = (t1 + t2) / 2
    cos = (ref * vecs).sum(axis=1)
    q_ref = torch_embedder.encode(questions)
    q_other = other.encode(questions)
    q_cos = (q_ref * q_other).sum(axis=1)
    # Single-question latency, one thread (how queries are embedded when serving).
    lat = {}
    for emb in (torch_embedder, other):
        emb.encode_query(questions[0])
        ts = []
        for q in questions[:50]:
            t0 = time.perf_counter()
            emb.encode_query(q)
            ts.append(time.perf_counter() - t0)
        lat[emb.backend] = round(float(np.median(ts)) * 1000, 2)
    return {
        "backend": other.backend,
        "passages": len(texts),
        "questions": len(questions),
        "batch_size": batch_size,
        "torch_passages_per_s": round(len(texts) / t_torch, 2),
        "torch_pass_seconds": [round(t1, 2), round(t2, 2)],
        f"{other.backend}_passages_per_s": round(len(texts) / t_other, 2),
        "speedup": round(t_torch / t_other, 3),
        "cosine_min": round(float(cos.min()), 6),
        "cosine_p1": round(float(np.percentile(cos, 1)), 6),
        "cosine_mean": round(float(cos.mean()), 6),
        "query_cosine_min": round(float(q_cos.min()), 6),
        "top10_overlap": round(top_k_overlap(ref, q_ref, vecs, q_other), 4),
        "query_embed_p50_ms": lat,
    }
