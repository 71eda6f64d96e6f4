"""Run the selected benchmark sections and collect one JSON-able report."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.bench.common import (
    MULTIHOP_FIELDS,
    machine,
    multihop_questions,
    multihop_subset_json,
    under_load,
)
from qa.settings import Settings

SECTIONS = ("build", "backend", "query", "coldstart", "scale", "update")
# Only when named (--only scale-out): they need the scale extra and start Ray and Milvus.
OPTIONAL_SECTIONS = ("scale-out",)


@dataclass
class BenchOptions:
    """What to measure and on how much data (defaults finish in < 10 minutes on 2 cores)."""

    only: tuple[str, ...] = SECTIONS
    news: Path = Path("data/archive/NewsArticles.zip")
    seed: Path = Path("data/sample/captured-russian-soldier.txt")
    multihop: Path = Path("../shared/data/multihop-rag")
    articles: int = 150  # NewsArticles for the build section
    backend_articles: int = 30  # MultiHop-RAG articles for the backend comparison
    questions: int = 200  # MultiHop-RAG questions for query latency and agreement
    index: Path | None = None  # a built MultiHop-RAG index to reuse for query/coldstart/scale
    query_articles: int = 60  # MultiHop-RAG articles indexed when no --index is given
    scale_chunks: int = 100_000
    update_chunks: int = 100_000  # base size for the incremental-update section
    hnsw_max: int = 200_000
    llm: bool = False
    langchain: bool = True
    coldstart_runs: int = 2
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        unknown = set(self.only) - set(SECTIONS) - set(OPTIONAL_SECTIONS)
        if unknown:
            raise ValueError(
                f"unknown bench section(s) {', '.join(sorted(unknown))}; choose from "
                f"{', '.join(SECTIONS + OPTIONAL_SECTIONS)}"
            )
        for name in ("articles", "backend_articles", "questions", "query_articles"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.scale_chunks < 1000:
            raise ValueError("--scale-chunks must be at least 1,000")
        if self.index is not None and not (self.index / "CURRENT").is_file():
            raise ValueError(f"--index {self.index} is not a built index (no CURRENT file)")


def run_bench(
    settings: Settings, opts: BenchOptions, log: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    """Every selected section, in an order that needs each input once."""
    opts.validate()
    from index.embedder import load_embedder

    t_start = time.perf_counter()
    info = machine()
    report: dict[str, Any] = {
        "machine": info,
        "options": {
            "sections": list(opts.only),
            "articles": opts.articles,
            "backend_articles": opts.backend_articles,
            "questions": opts.questions,
            "index": str(opts.index) if opts.index else None,
            "scale_chunks": opts.scale_chunks,
            "llm": opts.llm,
            "embed_backend": settings.embed_backend,
            "batch_size": settings.embed_batch_size,
        },
        "sections": {},
    }
    model_path = settings.resolved_model_path()
    cache = str(settings.embed_cache_dir) if settings.embed_cache_dir else None
    need_torch = {"build", "backend"} & set(opts.only)
    torch_emb = load_embedder(model_path, settings.torch_threads, "torch") if need_torch else None
    ov_emb = None
    if need_torch:
        candidate = load_embedder(model_path, settings.torch_threads, "openvino", cache)
        ov_emb = candidate if candidate.backend == "openvino" else None
    configured = settings.load_embedder()
    batch = settings.embed_batch_size

    with tempfile.TemporaryDirectory(prefix="archive-qa-bench-") as tmp:
        work = Path(tmp)
        if "build" in opts.only:
            from qa.bench.build import run_build

            report["sections"]["build"] = run_build(
                torch_emb, ov_emb, opts.news, opts.seed, opts.articles, batch, opts.langchain, log
            )
        questions: list[str] = []
        if {"backend", "query", "scale"} & set(opts.only):
            questions = multihop_questions(opts.multihop, opts.questions)
        if "backend" in opts.only:
            if ov_emb is None:
                report["sections"]["backend"] = {"skipped": "openvino is not available"}
            else:
                from index.loaders import FieldMap
                from qa.bench.backends import run_backends
                from qa.bench.build import chunk_texts

                src = multihop_subset_json(
                    opts.multihop, opts.backend_articles, work / "mh-backend.json"
                )
                texts = chunk_texts([src], FieldMap.parse(MULTIHOP_FIELDS))
                report["sections"]["backend"] = run_backends(
                    torch_emb, ov_emb, texts, questions, batch, log
                )
                report["sections"]["backend"]["articles"] = opts.backend_articles
        index_dir = opts.index
        if {"query", "coldstart", "scale"} & set(opts.only) and index_dir is None:
            index_dir = _build_multihop_index(configured, opts, work, batch, log)
        if "query" in opts.only:
            from qa.bench.query import run_query

            report["sections"]["query"] = run_query(
                settings, configured, index_dir, questions, opts.llm, log=log
            )
        if "coldstart" in opts.only:
            from qa.bench.coldstart import run_coldstart

            log("coldstart: fresh archive-qa processes …")
            backends = (
                ["openvino", "torch"] if ov_emb or configured.backend == "openvino" else ["torch"]
            )
            report["sections"]["coldstart"] = run_coldstart(
                index_dir,
                "Who threatened weapons convoys?",
                backends,
                runs=opts.coldstart_runs,
            )
        if "scale" in opts.only:
            from index.layout import current_build
            from qa.bench.scale import base_vectors, run_scale

            base = base_vectors(current_build(index_dir) / "vectors.faiss")
            qv = configured.encode(questions, batch_size=batch)
            report["sections"]["scale"] = run_scale(
                base,
                qv,
                opts.scale_chunks,
                hnsw_max=opts.hnsw_max,
                flat_limit=settings.flat_limit,
                nprobe=settings.ivf_nprobe,
                log=log,
            )
            report["sections"]["scale"]["base_index"] = str(index_dir)
        if "scale-out" in opts.only:
            from qa.bench.scaleout import run_scaleout

            report["sections"]["scale-out"] = run_scaleout(
                settings,
                configured,
                opts.news,
                opts.multihop,
                opts.articles,
                opts.query_articles,
                opts.questions,
                batch,
                work / "scale-out",
                log,
            )
    if "update" in opts.only:
        import contextlib
        import sys

        from qa.bench.update import run as run_update

        log(f"update: one changed + one removed article on a {opts.update_chunks:,}-chunk base …")
        sizes = tuple(n for n in (10_000,) if n < opts.update_chunks)
        with contextlib.redirect_stdout(sys.stderr):  # its own table; stdout may be --json
            report["sections"]["update"] = run_update(
                chunks=opts.update_chunks, sizes=sizes, repeats=3, archive=opts.news, progress=False
            )
    end_load = [round(x, 2) for x in os.getloadavg()]
    info["load_avg_end"] = end_load
    info["under_load"] = under_load(info["load_avg_start"], info["cpus"]) or under_load(
        end_load, info["cpus"]
    )
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    return report


def _build_multihop_index(embedder, opts: BenchOptions, work: Path, batch: int, log) -> Path:
    from index.builder import BuildOptions, build_index
    from index.loaders import FieldMap

    src = multihop_subset_json(opts.multihop, opts.query_articles, work / "mh-query.json")
    log(f"query: indexing {opts.query_articles} MultiHop-RAG articles (no --index given) …")
    root = work / "multihop-index"
    build_index(
        [src],
        root,
        embedder,
        BuildOptions(fields=FieldMap.parse(MULTIHOP_FIELDS), batch_size=batch, progress=False),
    )
    return root
