"""Shared pieces of the benchmark: timing, peak memory, machine description, data subsets."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import threading
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NEWS_FIELDS = "id=article_id,date=publish_date,url=article_source_link"
MULTIHOP_FIELDS = "text=body,date=published_at"


def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds of a list of durations in seconds."""
    if not seconds:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0}
    a = np.asarray(seconds, dtype="float64") * 1000
    return {
        "n": len(a),
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }


def rss_bytes() -> int:
    """This process's resident memory now."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:  # Linux fallback
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class PeakRSS:
    """Peak resident memory of this process while a block runs (sampled every 20 ms).

    `ru_maxrss` only ever grows over a process's life, so it cannot tell which of several
    phases run one after another needed the memory; sampling can.
    """

    start: int = 0
    peak: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes())

    @contextmanager
    def watch(self) -> Iterator[PeakRSS]:
        self.start = self.peak = rss_bytes()
        self._stop.clear()
        t = threading.Thread(target=self._sample, daemon=True)
        t.start()
        try:
            yield self
        finally:
            self._stop.set()
            t.join()
            self.peak = max(self.peak, rss_bytes())

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)

    @property
    def growth_mb(self) -> float:
        return round((self.peak - self.start) / 2**20, 1)


def machine() -> dict[str, Any]:
    """What the figures were measured on, including how busy it was."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu": _cpu_name(),
        "python": platform.python_version(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        import psutil

        info["ram_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("torch", "sentence-transformers", "faiss-cpu", "openvino", "bm25s"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = None
    return info


def under_load(load_avg: Sequence[float], cpus: int | None) -> bool:
    """True when other work was competing for the cores (1-minute load ≥ half the cores)."""
    return bool(load_avg) and load_avg[0] >= 0.5 * (cpus or 1)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def news_subset_csv(archive: Path, n: int, out: Path) -> Path:
    """The first `n` articles with text of NewsArticles.zip, as a CSV the loaders read.

    A fixed prefix (by row order) so every run measures the same articles.
    """
    if not archive.is_file():
        raise FileNotFoundError(
            f"{archive} not found: run `python scripts/get_archive.py` or pass --news ZIP"
        )
    with zipfile.ZipFile(archive) as zf:
        names = [x for x in zf.namelist() if x.lower().endswith(".csv")]
        if not names:
            raise ValueError(f"{archive} holds no CSV file")
        with zf.open(names[0]) as fh:
            rows = [
                r
                for r in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8", newline=""))
                if (r.get("text") or "").strip()
            ]
    rows = rows[:n]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    return out


def multihop_corpus(data: Path) -> list[dict[str, Any]]:
    path = data / "corpus_train.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass --multihop <the multihop-rag folder>")
    return json.loads(path.read_text(encoding="utf-8"))


def multihop_questions(data: Path, n: int) -> list[str]:
    """The first `n` MultiHop-RAG questions (all types, file order: fixed across runs)."""
    path = data / "queries_train.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass --multihop <the multihop-rag folder>")
    queries = json.loads(path.read_text(encoding="utf-8"))
    return [q["query"] for q in queries[:n]]


def multihop_subset_json(data: Path, n: int, out: Path) -> Path:
    """The first `n` MultiHop-RAG articles as a JSON list (read with MULTIHOP_FIELDS)."""
    corpus = multihop_corpus(data)[:n]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(corpus, ensure_ascii=False), encoding="utf-8")
    return out


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """`with stopwatch() as t: ...` then `t["s"]` holds the seconds."""
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield t
    finally:
        t["s"] = time.perf_counter() - t0
