"""Query section: latency of retrieve-only and of the extractive answer on real questions.

Runs MultiHop-RAG questions (file order, fixed) against a MultiHop-RAG index, through
the same `QAService` the CLI, page and API use: `search` (embed the question + FAISS +
BM25 + fusion + hints + diversity) and `ask` (that plus the extractive answerer). With
`llm=True` also the local GGUF model's first-token and total time on the first 20
questions it answers: a question declined before the model (a name no article prints)
times no generation, so it is counted apart instead of as a zero.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from index.embedder import Embedder
from qa.bench.common import percentiles, rss_bytes
from qa.settings import Settings


def run_query(
    settings: Settings,
    embedder: Embedder,
    index_dir: Path,
    questions: list[str],
    llm: bool = False,
    llm_questions: int = 20,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    from index.archive import ArchiveIndex
    from qa.llm.factory import make_chat_model
    from qa.service import QAService

    s = settings.model_copy(
        update={"index_dir": index_dir, "generator": "extractive", "query_decompose_llm": False}
    )
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    idx = ArchiveIndex.open(
        index_dir,
        model_name=embedder.name,
        dim=embedder.dim,
        verify_checksums=s.verify_checksums,
        nprobe=s.ivf_nprobe,
    )
    open_s = time.perf_counter() - t0
    service = QAService(s, embedder, idx)
    info = idx.info()
    for q in questions[:5]:  # warm-up: first calls page in FAISS, BM25 and SQLite
        service.ask(q)
    log(f"query: {len(questions)} questions on {info.chunks:,} chunks ({info.faiss_type}) …")
    search_t, ask_t, refused = [], [], 0
    for q in questions:
        t = time.perf_counter()
        service.search(q)
        search_t.append(time.perf_counter() - t)
    for q in questions:
        t = time.perf_counter()
        a = service.ask(q)
        ask_t.append(time.perf_counter() - t)
        refused += a.refused
    out: dict[str, Any] = {
        "index": str(index_dir),
        "chunks": info.chunks,
        "articles": info.articles,
        "faiss_type": info.faiss_type,
        "embed_backend": embedder.backend,
        "questions": len(questions),
        "open_index_s": round(open_s, 3),
        "index_rss_mb": round((rss_bytes() - rss0) / 2**20, 1),
        "search": percentiles(search_t),
        "ask_extractive": {**percentiles(ask_t), "refused": refused},
    }
    if llm:
        ls = s.model_copy(update={"generator": "local"})
        model = make_chat_model(ls)  # clear error when the GGUF file is missing
        llm_service = QAService(ls, embedder, idx, model)
        log(f"query: local LLM until {llm_questions} questions are answered (20-30 s each) …")
        first, total = [], []
        before_model = 0  # declined before the model was called: no generation to time
        for i, q in enumerate(questions, 1):
            if len(total) >= llm_questions:
                break
            t = time.perf_counter()
            first_at = None
            final = None
            for item in llm_service.stream(q):
                if first_at is None and isinstance(item, str) and item.strip():
                    first_at = time.perf_counter() - t
                final = item
            seconds = time.perf_counter() - t
            if getattr(getattr(final, "timings", None), "first_token_ms", None) is None:
                before_model += 1
                log(f"query: llm question {i} declined before the model ({seconds:.2f}s)")
                continue
            total.append(seconds)
            first.append(first_at if first_at is not None else seconds)
            log(
                f"query: llm {len(total)}/{llm_questions} first token {first[-1]:.1f}s "
                f"total {total[-1]:.1f}s"
            )
        out["llm"] = {
            "model": str(ls.llm_model_file),
            "first_token": percentiles(first),
            "total": percentiles(total),
            "declined_before_model": before_model,
        }
    idx.close()
    return out
