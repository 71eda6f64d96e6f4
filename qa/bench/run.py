"""Run the selected benchmark sections and collect one JSON-able report."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.bench.common import (
    MULTIHOP_FIELDS,
    machine,
    multihop_questions,
    multihop_subset_json,
    under_load,
)
from qa.settings import Settings

if TYPE_CHECKING:
    from index.embedder import Embedder

SECTIONS = ("build", "backend", "query", "coldstart", "scale", "update")
# Only when named (--only scale-out): they need the scale extra and start Ray and Milvus.
OPTIONAL_SECTIONS = ("scale-out",)


@dataclass
class BenchOptions:
    """What to measure and on how much data (defaults finish in < 10 minutes on 2 cores)."""

    only: tuple[str, ...] = SECTIONS
    news: Path = Path("data/archive/NewsArticles.zip")
    seed: Path = Path("data/sample/captured-russian-soldier.txt")
    multihop: Path | None = None  # the MultiHop-RAG folder; see `needs_multihop`
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
        needs = self.needs_multihop()
        if needs and self.multihop is None:
            raise ValueError(
                f"the {', '.join(needs)} section(s) need --multihop DIR, the MultiHop-RAG folder "
                "(queries_train.json, corpus_train.json); or choose others with --only"
            )
        if needs and not (self.multihop / "queries_train.json").is_file():
            raise ValueError(f"--multihop {self.multihop}: no queries_train.json there")

    def needs_multihop(self) -> list[str]:
        """The selected sections that read MultiHop-RAG (coldstart only to build an index)."""
        reads = {"backend", "query", "scale", "scale-out"} | (
            {"coldstart"} if self.index is None else set()
        )
        return [
            name for name in SECTIONS + OPTIONAL_SECTIONS if name in self.only and name in reads
        ]


def run_bench(
    settings: Settings, opts: BenchOptions, log: Callable[[str], None] = lambda _m: None
) -> dict[str, Any]:
    """Every selected section, in an order that needs each input once."""
    opts.validate()
    t_start = time.perf_counter()
    info = machine()
    report: dict[str, Any] = {
        "machine": info,
        "options": _options_summary(settings, opts),
        "sections": {},
    }
    embedders = _load_embedders(settings, opts)
    with tempfile.TemporaryDirectory(prefix="archive-qa-bench-") as tmp:
        run = _Sections(settings, opts, embedders, Path(tmp), log)
        for name in ("build", "backend", "query", "coldstart", "scale", "scale-out"):
            if name in opts.only:
                report["sections"][name] = getattr(run, name.replace("-", "_"))()
    if "update" in opts.only:
        report["sections"]["update"] = _run_update(opts, log)
    end_load = [round(x, 2) for x in os.getloadavg()]
    info["load_avg_end"] = end_load
    info["under_load"] = under_load(info["load_avg_start"], info["cpus"]) or under_load(
        end_load, info["cpus"]
    )
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    return report


def _options_summary(settings: Settings, opts: BenchOptions) -> dict[str, Any]:
    return {
        "sections": list(opts.only),
        "articles": opts.articles,
        "backend_articles": opts.backend_articles,
        "questions": opts.questions,
        "index": str(opts.index) if opts.index else None,
        "scale_chunks": opts.scale_chunks,
        "llm": opts.llm,
        "embed_backend": settings.embed_backend,
        "batch_size": settings.embed_batch_size,
    }


@dataclass
class _Embedders:
    torch: Embedder | None  # loaded only for the build and backend sections
    openvino: Embedder | None  # ... and only when openvino really loads
    configured: Embedder  # the settings' own, for everything else


def _load_embedders(settings: Settings, opts: BenchOptions) -> _Embedders:
    from index.embedder import load_embedder

    model_path = settings.resolved_model_path()
    cache = str(settings.embed_cache_dir) if settings.embed_cache_dir else None
    need_torch = {"build", "backend"} & set(opts.only)
    torch_emb = load_embedder(model_path, settings.torch_threads, "torch") if need_torch else None
    ov_emb = None
    if need_torch:
        candidate = load_embedder(model_path, settings.torch_threads, "openvino", cache)
        ov_emb = candidate if candidate.backend == "openvino" else None
    return _Embedders(torch_emb, ov_emb, settings.load_embedder())


class _Sections:
    """The sections that share a temporary folder, the MultiHop-RAG questions and the
    MultiHop-RAG index; each input is read or built once, by the first section that needs it."""

    def __init__(
        self,
        settings: Settings,
        opts: BenchOptions,
        embedders: _Embedders,
        work: Path,
        log: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.opts = opts
        self.emb = embedders
        self.work = work
        self.log = log
        self.batch = settings.embed_batch_size
        self._questions: list[str] | None = None
        self._index_dir = opts.index

    @property
    def questions(self) -> list[str]:
        if self._questions is None:
            self._questions = multihop_questions(self.opts.multihop, self.opts.questions)
        return self._questions

    @property
    def index_dir(self) -> Path:
        """The --index given, else a MultiHop-RAG subset indexed here."""
        if self._index_dir is None:
            self._index_dir = _build_multihop_index(
                self.emb.configured, self.opts, self.work, self.batch, self.log
            )
        return self._index_dir

    def build(self) -> dict[str, Any]:
        from qa.bench.build import run_build

        o = self.opts
        return run_build(
            self.emb.torch,
            self.emb.openvino,
            o.news,
            o.seed,
            o.articles,
            self.batch,
            o.langchain,
            self.log,
        )

    def backend(self) -> dict[str, Any]:
        if self.emb.openvino is None:
            return {"skipped": "openvino is not available"}
        from index.loaders import FieldMap
        from qa.bench.backends import run_backends
        from qa.bench.build import chunk_texts

        src = multihop_subset_json(
            self.opts.multihop, self.opts.backend_articles, self.work / "mh-backend.json"
        )
        texts = chunk_texts([src], FieldMap.parse(MULTIHOP_FIELDS))
        section = run_backends(
            self.emb.torch, self.emb.openvino, texts, self.questions, self.batch, self.log
        )
        section["articles"] = self.opts.backend_articles
        return section

    def query(self) -> dict[str, Any]:
        from qa.bench.query import run_query

        return run_query(
            self.settings,
            self.emb.configured,
            self.index_dir,
            self.questions,
            self.opts.llm,
            log=self.log,
        )

    def coldstart(self) -> dict[str, Any]:
        from qa.bench.coldstart import run_coldstart

        index_dir = self.index_dir
        self.log("coldstart: fresh archive-qa processes …")
        openvino = self.emb.openvino or self.emb.configured.backend == "openvino"
        return run_coldstart(
            index_dir,
            "Who threatened weapons convoys?",
            ["openvino", "torch"] if openvino else ["torch"],
            runs=self.opts.coldstart_runs,
        )

    def scale(self) -> dict[str, Any]:
        from index.layout import current_build
        from qa.bench.scale import base_vectors, run_scale

        base = base_vectors(current_build(self.index_dir) / "vectors.faiss")
        qv = self.emb.configured.encode(self.questions, batch_size=self.batch)
        section = run_scale(
            base,
            qv,
            self.opts.scale_chunks,
            hnsw_max=self.opts.hnsw_max,
            flat_limit=self.settings.flat_limit,
            nprobe=self.settings.ivf_nprobe,
            log=self.log,
        )
        section["base_index"] = str(self.index_dir)
        return section

    def scale_out(self) -> dict[str, Any]:
        from qa.bench.scaleout import run_scaleout

        o = self.opts
        return run_scaleout(
            self.settings,
            self.emb.configured,
            o.news,
            o.multihop,
            o.articles,
            o.query_articles,
            o.questions,
            self.batch,
            self.work / "scale-out",
            self.log,
        )


def _run_update(opts: BenchOptions, log: Callable[[str], None]) -> dict[str, Any]:
    import contextlib
    import sys

    from qa.bench.update import run as run_update

    log(f"update: one changed + one removed article on a {opts.update_chunks:,}-chunk base …")
    sizes = tuple(n for n in (10_000,) if n < opts.update_chunks)
    with contextlib.redirect_stdout(sys.stderr):  # its own table; stdout may be --json
        return run_update(
            chunks=opts.update_chunks, sizes=sizes, repeats=3, archive=opts.news, progress=False
        )


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
