"""`archive-qa eval retrieval`: MultiHop-RAG and headline→article, with ablation rows.

Every piece of the retriever (BM25, fusion weights, outlet/date filters, clause
decomposition, per-article diversity) is switched on one at a time, so each gain is
measured rather than assumed. Fusion weights are chosen on a fixed half of the
MultiHop-RAG queries and reported on the other half.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from index import layout
from index.archive import ArchiveIndex
from index.builder import BuildOptions, build_index
from index.buildkit import chunking_dict
from index.chunker import ChunkSettings
from index.embedder import Embedder
from index.loaders import FieldMap
from index.manifest import read_manifest
from qa.eval.metrics import QueryScores, mean_scores, score_query
from qa.retrieval.retriever import HybridSearcher, Mode, SearchParams

MULTIHOP_FIELDS = "text=body,date=published_at"
NEWS_FIELDS = "id=article_id,date=publish_date,url=article_source_link"
NO_DIVERSITY = 10**6


@dataclass(frozen=True)
class Config:
    name: str
    mode: Mode
    params: SearchParams


def ablation_configs(tuned: SearchParams) -> list[Config]:
    """The rows of the ablation table; each adds one piece to the row before it."""
    plain = replace(
        tuned,
        query_hints=False,
        time_hints=False,
        max_chunks_per_article=NO_DIVERSITY,
        merge="rrf",
    )
    equal = replace(plain, dense_weight=1.0, bm25_weight=1.0)
    return [
        Config("dense only", "dense", equal),
        Config("BM25 only", "bm25", equal),
        Config("hybrid, equal weights", "hybrid", equal),
        Config(
            f"hybrid, tuned weights (d={tuned.dense_weight:g}, b={tuned.bm25_weight:g})",
            "hybrid",
            plain,
        ),
        Config(
            "+ outlet/date filters", "hybrid", replace(plain, query_hints=True, decompose=False)
        ),
        Config("+ decomposition", "hybrid", replace(plain, query_hints=True, decompose=True)),
        Config(
            f"+ diversity (≤{tuned.max_chunks_per_article} chunks/article)",
            "hybrid",
            replace(tuned, query_hints=True, time_hints=False, decompose=True, merge="rrf"),
        ),
        Config(
            "+ interleaved sub-queries",
            "hybrid",
            replace(tuned, query_hints=True, time_hints=False, decompose=True, merge="interleave"),
        ),
        Config(
            "+ time ranges and date order (default)",
            "hybrid",
            replace(tuned, query_hints=True, time_hints=True, decompose=True, merge="interleave"),
        ),
    ]


def ensure_index(
    root: Path,
    sources: Sequence[Path],
    embedder: Embedder,
    fields: str,
    index_titles: bool = True,
    rebuild: bool = False,
    chunking: ChunkSettings | None = None,
) -> Path:
    """Build the evaluation index once; reuse it while it exists, was built with the same
    model and chunk settings, and `rebuild` is off (a stale index would measure old code)."""
    options = BuildOptions(
        fields=FieldMap.parse(fields),
        index_titles=index_titles,
        chunking=chunking or ChunkSettings(),
    )
    if not rebuild and layout.has_index(root):
        manifest = read_manifest(layout.current_build(root))
        rebuild = (
            manifest.chunking != chunking_dict(options.chunking)
            or manifest.index_titles != index_titles
            or manifest.model.name != embedder.name
        )
    if rebuild or not layout.has_index(root):
        build_index(list(sources), root, embedder, options)
    return root


def load_multihop_queries(
    data: Path, query_types: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """The answerable queries (with evidence), of the given types only when named."""
    queries = json.loads((data / "queries_train.json").read_text(encoding="utf-8"))
    if query_types:
        known = {q["question_type"] for q in queries}
        unknown = sorted(set(query_types) - known)
        if unknown:
            raise ValueError(
                f"unknown query type {', '.join(unknown)}; MultiHop-RAG has {', '.join(sorted(known))}"
            )
    return [
        q
        for q in queries
        if q["question_type"] != "null_query"
        and q["evidence_list"]
        and (not query_types or q["question_type"] in query_types)
    ]


def split_halves(n: int, seed: int = 0) -> tuple[list[int], list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    half = n // 2
    return sorted(order[:half]), sorted(order[half:])


def run_multihop(
    searcher: HybridSearcher,
    queries: Sequence[dict[str, Any]],
    config: Config,
    progress: bool = True,
) -> list[QueryScores]:
    searcher.params = config.params
    out = []
    for q in tqdm(queries, desc=config.name[:30], unit="q", disable=not progress, leave=False):
        result = searcher.search(q["query"], 10, mode=config.mode, decompose=True)
        out.append(
            score_query(
                [h.chunk.text for h in result.hits], [e["fact"] for e in q["evidence_list"]]
            )
        )
    return out


def compare_decomposition(
    searcher: HybridSearcher,
    queries: Sequence[dict[str, Any]],
    params: SearchParams,
    decomposer: Callable[[str], list[str]],
    progress: bool = True,
) -> dict[str, Any]:
    """The default retriever on the same queries without and with the LLM's
    sub-questions, and what the LLM cost a question."""
    config = Config("default", "hybrid", params)
    without = mean_scores(run_multihop(searcher, queries, config, progress))
    subs: dict[str, list[str]] = {}
    failed = 0
    t0 = time.perf_counter()
    for q in tqdm(queries, desc="LLM sub-questions", unit="q", disable=not progress, leave=False):
        try:  # timed apart from the searches, which reuse these
            subs[q["query"]] = decomposer(q["query"])
        except Exception:  # counted, and searched as parsed (as the product does)
            subs[q["query"]] = []
            failed += 1
    seconds = (time.perf_counter() - t0) / max(len(queries), 1)
    counts = [len(s) for s in subs.values()]
    with_subs = HybridSearcher(
        searcher.index,
        searcher.embedder,
        searcher.params,
        decomposer=lambda question: subs.get(question, []),
    )
    with_llm = mean_scores(
        run_multihop(with_subs, queries, replace(config, name="+ LLM sub-questions"), progress)
    )
    return {
        "queries": len(queries),
        "without": without,
        "with": with_llm,
        "llm_seconds_per_query": round(seconds, 2),
        "mean_subquestions": round(sum(counts) / max(len(counts), 1), 2),
        "no_subquestion": sum(c == 0 for c in counts),
        "failed": failed,
    }


def tune_weights(
    searcher: HybridSearcher,
    queries: Sequence[dict[str, Any]],
    base: SearchParams,
    progress: bool = True,
) -> tuple[SearchParams, list[dict[str, Any]]]:
    """Pick dense/BM25 fusion weights on the tuning half by MRR@10 + Hits@10."""
    trials = []
    best, best_key = base, -1.0
    for dense_w in (0.25, 0.5, 1.0):
        params = replace(
            base,
            dense_weight=dense_w,
            bm25_weight=1.0,
            query_hints=False,
            max_chunks_per_article=NO_DIVERSITY,
        )
        m = mean_scores(
            run_multihop(searcher, queries, Config(f"tune d={dense_w}", "hybrid", params), progress)
        )
        trials.append({"dense_weight": dense_w, "bm25_weight": 1.0, **m})
        key = m["MRR@10"] + m["Hits@10"]
        if key > best_key:
            best, best_key = replace(base, dense_weight=dense_w, bm25_weight=1.0), key
    return best, trials


def chunk_token_stats(
    index: ArchiveIndex, embedder: Embedder, sample: int = 2000
) -> dict[str, float]:
    """Mean chunk length in model tokens; the paper's chunks are at most 256 tokens."""
    texts = [t for _, _, t in index.store.iter_chunk_texts()]
    rng = random.Random(0)
    picked = rng.sample(texts, min(sample, len(texts)))
    lengths = embedder.token_lengths(picked)
    words = [len(t.split()) for t in picked]
    return {
        "chunks": len(texts),
        "sampled": len(picked),
        "mean_tokens": float(np.mean(lengths)),
        "share_le_256_tokens": float(np.mean([n <= 256 for n in lengths])),
        "mean_words": float(np.mean(words)),
    }


def ann_recall(index: ArchiveIndex, query_vectors: np.ndarray, k: int = 10) -> dict[str, Any]:
    """Recall@k of the approximate index type archive-qa switches to (IVF+SQ8) vs exact search."""
    import faiss

    from index.vectors import new_index

    flat = faiss.downcast_index(index.faiss.index) if hasattr(index.faiss, "index") else None
    if flat is None or not isinstance(flat, faiss.IndexFlat):
        return {"note": "index is not exact; nothing to compare against"}
    n = index.faiss.ntotal
    vectors = flat.reconstruct_n(0, n)
    ids = faiss.vector_to_array(index.faiss.id_map)
    nlist = max(16, int(4 * np.sqrt(n)) // 16 * 16)
    kind = f"IVF{nlist},SQ8"
    ivf = new_index(vectors.shape[1], kind, training=vectors)
    ivf.add_with_ids(vectors, ids)
    _, exact = index.faiss.search(query_vectors, k)
    out: dict[str, Any] = {"index": kind, "vectors": n, "queries": len(query_vectors)}
    for nprobe in (8, 16, 32):
        ivf.nprobe = nprobe
        _, approx = ivf.search(query_vectors, k)
        recall = np.mean([len(set(a) & set(e)) / k for a, e in zip(approx, exact)])
        out[f"recall@{k}_nprobe{nprobe}"] = float(recall)
    return out


REFUSAL_THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55)


def best_dense(searcher: HybridSearcher, questions: Sequence[str]) -> np.ndarray:
    """The refusal signal (best paragraph cosine) of each question, with product settings."""
    searcher.params = SearchParams()
    return np.array([searcher.search(q, 5).best_dense for q in questions])


def refusal_stats(
    pos: np.ndarray, neg: np.ndarray, thresholds: Sequence[float] = REFUSAL_THRESHOLDS
) -> dict[str, Any]:
    """How the best-paragraph similarity separates answerable from unanswerable questions.

    `min_relevance` is a floor for clearly off-topic questions; questions that are on topic
    but ask for something the archive lacks need the LLM's own refusal.
    """
    rows = [
        {
            "threshold": t,
            "answerable_kept": float(np.mean(pos >= t)),
            "unanswerable_refused": float(np.mean(neg < t)),
        }
        for t in thresholds
    ]
    pct = lambda a: {f"p{p}": float(np.percentile(a, p)) for p in (5, 25, 50, 75, 95)}  # noqa: E731
    return {
        "answerable": len(pos),
        "unanswerable": len(neg),
        "answerable_best": pct(pos),
        "unanswerable_best": pct(neg),
        "rows": rows,
    }


def headline_queries(index: ArchiveIndex) -> list[tuple[str, str]]:
    """(headline, article id) for NewsArticles articles with a unique, non-empty headline."""
    rows = index.store.conn.execute("SELECT id, title, origin FROM articles").fetchall()
    rows = [
        (aid, t) for aid, t, origin in rows if origin and "NewsArticles" in origin and t.strip()
    ]
    counts = Counter(t.strip().lower() for _, t in rows)
    return sorted(
        ((t, aid) for aid, t in rows if counts[t.strip().lower()] == 1),
        key=lambda x: int(x[1]) if x[1].isdigit() else 0,
    )


def run_headlines(
    searcher: HybridSearcher,
    queries: Sequence[tuple[str, str]],
    mode: Mode,
    params: SearchParams,
    progress: bool = True,
) -> dict[str, float]:
    searcher.params = params
    at = {1: 0, 5: 0, 10: 0}
    for headline, aid in tqdm(
        queries, desc=f"headlines {mode}", unit="q", disable=not progress, leave=False
    ):
        result = searcher.search(headline, 20, mode=mode)
        articles: list[str] = []
        for h in result.hits:
            if h.chunk.article_id not in articles:
                articles.append(h.chunk.article_id)
        for k in at:
            at[k] += aid in articles[:k]
    return {f"recall@{k}": v / len(queries) for k, v in at.items()}


def tfidf_headlines(
    index: ArchiveIndex, queries: Sequence[tuple[str, str]]
) -> dict[str, float] | None:
    """The classic baseline: TF-IDF over article bodies (needs scikit-learn)."""
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
    except ImportError:
        return None
    ids, texts = zip(*index.store.conn.execute("SELECT id, text FROM articles").fetchall())
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    matrix = vec.fit_transform(texts)
    sims = (vec.transform([q for q, _ in queries]) @ matrix.T).toarray()
    top = np.argsort(-sims, axis=1)[:, :10]
    out = {}
    for k in (1, 5, 10):
        out[f"recall@{k}"] = float(
            np.mean([aid in {ids[j] for j in row[:k]} for row, (_, aid) in zip(top, queries)])
        )
    return out


def evaluate(
    embedder: Embedder,
    multihop: Path | None,
    multihop_index: Path,
    news: Path | None,
    news_index: Path,
    limit: int | None = None,
    rebuild: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    chunking: ChunkSettings | None = None,
    decomposer: Callable[[str], list[str]] | None = None,
    decompose_sample: int = 200,
    query_types: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The report; with a `decomposer` (an LLM's), also the default retriever with and
    without its sub-questions on the first `decompose_sample` held-out queries (an LLM
    call a question is too slow for all of them)."""
    report: dict[str, Any] = {"machine": _machine()}
    run = _Evaluation(embedder, limit, rebuild, progress, log, chunking, query_types=query_types)
    if multihop is not None:
        report["multihop"] = run.multihop(multihop, multihop_index, decomposer, decompose_sample)
    if news is not None:
        headlines, off_topic = run.headlines(news, news_index)
        if off_topic is not None:
            report["refusal_off_topic"] = off_topic
        report["headlines"] = headlines
    return report


@dataclass
class _Evaluation:
    """One `evaluate` run: the indexes are built (or reused) and searched alike, and the
    MultiHop-RAG questions kept for the off-topic refusal check on NewsArticles."""

    embedder: Embedder
    limit: int | None
    rebuild: bool
    progress: bool
    log: Callable[[str], None]
    chunking: ChunkSettings | None
    base: SearchParams = field(default_factory=SearchParams)
    query_types: Sequence[str] | None = None  # only these MultiHop-RAG types (None: all)
    # The held-out MultiHop-RAG questions and their best-paragraph scores on their own corpus.
    refusal_questions: list[str] | None = None
    refusal_pos: np.ndarray | None = None

    def _open(
        self, root: Path, sources: list[Path], fields: str, index_titles: bool = True
    ) -> tuple[ArchiveIndex, HybridSearcher]:
        ensure_index(
            root,
            sources,
            self.embedder,
            fields,
            index_titles=index_titles,
            rebuild=self.rebuild,
            chunking=self.chunking,
        )
        index = ArchiveIndex.open(root, self.embedder.name, self.embedder.dim)
        return index, HybridSearcher(index, self.embedder, self.base)

    def multihop(
        self,
        data: Path,
        root: Path,
        decomposer: Callable[[str], list[str]] | None,
        decompose_sample: int,
    ) -> dict[str, Any]:
        """Fusion weights tuned on one half, the ablation rows, and the refusal signal."""
        t0 = time.perf_counter()
        index, searcher = self._open(root, [data / "corpus_train.json"], MULTIHOP_FIELDS)
        queries = load_multihop_queries(data, self.query_types)[: self.limit]
        tune_idx, test_idx = split_halves(len(queries))
        self.log(
            f"MultiHop-RAG: {len(queries)} queries ({len(tune_idx)} to tune fusion weights, {len(test_idx)} held out)"
        )
        tune = [queries[i] for i in tune_idx]
        tuned, trials = tune_weights(searcher, tune, self.base, self.progress)
        rows = self._ablation_rows(searcher, queries, tuned, test_idx)
        llm_rows = None
        if decomposer is not None:
            sample = [queries[i] for i in test_idx[:decompose_sample]]
            llm_rows = compare_decomposition(searcher, sample, tuned, decomposer, self.progress)
            self.log("  LLM sub-questions: " + json.dumps(llm_rows))
        qvecs = np.stack([searcher.embed_query(q["query"]) for q in queries]).astype("float32")
        self.refusal_questions = [queries[i]["query"] for i in test_idx[:500]]
        self.refusal_pos = best_dense(searcher, self.refusal_questions)
        refusal_null = best_dense(searcher, _null_queries(data)[: self.limit])
        section = {
            "query_types": list(self.query_types or []) or "all",
            "queries": len(queries),
            "held_out": len(test_idx),
            "tuning_trials": trials,
            "tuned": {"dense_weight": tuned.dense_weight, "bm25_weight": tuned.bm25_weight},
            "rows": rows,
            "chunks": chunk_token_stats(index, self.embedder),
            "ann": ann_recall(index, qvecs),
            "refusal_on_topic": refusal_stats(self.refusal_pos, refusal_null),
            "llm_decomposition": llm_rows,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        index.close()
        return section

    def _ablation_rows(
        self,
        searcher: HybridSearcher,
        queries: list[dict[str, Any]],
        tuned: SearchParams,
        test_idx: list[int],
    ) -> list[dict[str, Any]]:
        rows = []
        for config in ablation_configs(tuned):
            scores = run_multihop(searcher, queries, config, self.progress)
            rows.append(
                {
                    "name": config.name,
                    "held_out": mean_scores([scores[i] for i in test_idx]),
                    "all": mean_scores(scores),
                }
            )
            self.log(f"  {config.name}: " + _fmt(rows[-1]["held_out"]))
        return rows

    def headlines(
        self, news: Path, news_index: Path
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Headline → article recall without and with headlines indexed; and, after a
        MultiHop-RAG run, its questions' refusal signal on this archive, which lacks
        their answers."""
        t0 = time.perf_counter()
        rows: dict[str, dict[str, float]] = {}
        off_topic = None
        for titled in (False, True):
            root = news_index.with_name(news_index.name + ("" if titled else "-untitled"))
            index, searcher = self._open(root, [news], NEWS_FIELDS, index_titles=titled)
            queries = headline_queries(index)[: self.limit]
            if titled and self.refusal_questions is not None:
                off_topic = refusal_stats(
                    self.refusal_pos, best_dense(searcher, self.refusal_questions)
                )
            rows.update(self._headline_rows(index, searcher, queries, titled))
            index.close()
        section = {
            "queries": len(queries),
            "rows": rows,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        return section, off_topic

    def _headline_rows(
        self,
        index: ArchiveIndex,
        searcher: HybridSearcher,
        queries: list[tuple[str, str]],
        titled: bool,
    ) -> dict[str, dict[str, float]]:
        label = "headlines indexed" if titled else "body only"
        rows: dict[str, dict[str, float]] = {}
        if not titled:
            tfidf = tfidf_headlines(index, queries)
            if tfidf:
                rows["TF-IDF over bodies (baseline)"] = tfidf
        plain = replace(self.base, max_chunks_per_article=NO_DIVERSITY, query_hints=False)
        for mode in ("dense", "bm25", "hybrid"):
            rows[f"{mode}, {label}"] = run_headlines(searcher, queries, mode, plain, self.progress)
        rows[f"hybrid + hints + diversity, {label}"] = run_headlines(
            searcher, queries, "hybrid", self.base, self.progress
        )
        return rows


def _null_queries(data: Path) -> list[str]:
    """MultiHop-RAG's questions that no article answers."""
    return [
        q["query"]
        for q in json.loads((data / "queries_train.json").read_text())
        if q["question_type"] == "null_query"
    ]


def _fmt(m: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3f}" for k, v in m.items())


def _machine() -> dict[str, Any]:
    import os
    import platform

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    mh = report.get("multihop")
    if mh:
        types = mh.get("query_types", "all")
        kinds = "" if types == "all" else f" {', '.join(types)}"
        for part, n in (("held_out", mh["held_out"]), ("all", mh["queries"])):
            table = Table(
                title=f"MultiHop-RAG retrieval, top 10 ({part.replace('_', '-')}{kinds} "
                f"queries, n={n})"
            )
            table.add_column("configuration")
            for metric in mh["rows"][0][part]:
                table.add_column(metric, justify="right")
            for row in mh["rows"]:
                table.add_row(row["name"], *(f"{v:.3f}" for v in row[part].values()))
            console.print(table)
        c = mh["chunks"]
        console.print(
            f"chunks: {c['chunks']:,}, mean {c['mean_tokens']:.0f} tokens / {c['mean_words']:.0f} words, "
            f"{c['share_le_256_tokens']:.1%} ≤ 256 tokens (sample {c['sampled']:,})"
        )
        console.print("approximate index vs exact: " + json.dumps(mh["ann"]))
        llm = mh.get("llm_decomposition")
        if llm:
            table = Table(
                title=f"LLM sub-questions, first {llm['queries']} held-out queries "
                f"({llm['llm_seconds_per_query']} s and {llm['mean_subquestions']} "
                "sub-questions a question)"
            )
            table.add_column("configuration")
            for metric in llm["without"]:
                table.add_column(metric, justify="right")
            for name, part in (("default", "without"), ("+ LLM sub-questions", "with")):
                table.add_row(name, *(f"{v:.3f}" for v in llm[part].values()))
            console.print(table)
    hl = report.get("headlines")
    if hl:
        table = Table(title=f"Headline → article, NewsArticles (n={hl['queries']:,})")
        table.add_column("configuration")
        for k in ("recall@1", "recall@5", "recall@10"):
            table.add_column(k, justify="right")
        for name, row in hl["rows"].items():
            table.add_row(name, *(f"{row[k]:.3f}" for k in ("recall@1", "recall@5", "recall@10")))
        console.print(table)
