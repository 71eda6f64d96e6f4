"""Scale section: FAISS index types at 100k (default) or 1M chunks.

There is no real 1M-chunk news archive here, so the set is synthetic: real chunk
vectors from a built index, replicated with Gaussian noise and renormalized (each copy
keeps cosine ≈ 1/√(1+noise²) to its original, so the set has the clustered
neighbourhoods of real news rather than uniform noise). Queries are real questions
embedded by the model. For each type: build seconds (train + add), bytes per chunk on
disk and in RAM (RSS growth when the file is read back), p50/p95 of single-query
search with one thread (how the server searches), and recall@10 against exact search.
IVF types share one trained coarse quantizer (its training time is counted in each
row), which is what the product's single IVF index would pay once.
"""

from __future__ import annotations

import contextlib
import gc
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from index.vectors import choose_index_type, ivf_nlist
from qa.bench.common import percentiles, rss_bytes


def base_vectors(index_path: Path) -> np.ndarray:
    """All vectors of a built index's `vectors.faiss` (Flat or IVF), as float32 rows."""
    import faiss

    index = faiss.read_index(str(index_path))
    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    if isinstance(inner, faiss.IndexFlat):
        return (
            faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * inner.d)
            .reshape(inner.ntotal, inner.d)
            .copy()
        )
    ivf = faiss.extract_index_ivf(index)
    ivf.make_direct_map()
    return index.reconstruct_n(0, index.ntotal)


def synthetic(base: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """`n` unit vectors: base rows cycled, plus Gaussian noise of norm ≈ `noise`."""
    rng = np.random.default_rng(seed)
    d = base.shape[1]
    out = np.empty((n, d), dtype="float32")
    step = 100_000
    for i in range(0, n, step):
        m = min(step, n - i)
        rows = base[np.arange(i, i + m) % len(base)]
        block = rows + rng.standard_normal((m, d), dtype="float32") * (noise / math.sqrt(d))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[i : i + m] = block
    return out


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth)]))


def _trim() -> None:
    """Give freed heap back to the OS, so RSS growth on the next load is that index's size."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS growth is a lower bound
        pass


def _single_query_times(index, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    import faiss

    faiss.omp_set_num_threads(1)
    found = np.empty((len(queries), k), dtype="int64")
    times = []
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), k)
        times.append(time.perf_counter() - t0)
        found[i] = ids[0]
    return times, found


def _measure(
    name: str,
    index,
    build_s: float,
    queries: np.ndarray,
    truth: np.ndarray | None,
    n: int,
    work: Path,
    k: int,
    mmap: bool,
    sweep: tuple[int, ...] = (),
) -> tuple[dict[str, Any], np.ndarray | None]:
    """Write, read back (RSS growth), search; the index object is freed afterwards."""
    import faiss

    path = work / "index.faiss"
    faiss.write_index(index, str(path))
    disk = path.stat().st_size
    del index
    _trim()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    loaded = faiss.read_index(str(path))
    load_s = time.perf_counter() - t0
    ram = rss_bytes() - rss0
    _set_params(loaded)
    times, found = _single_query_times(loaded, queries, k)
    row: dict[str, Any] = {
        "type": name,
        "build_s": round(build_s, 2),
        "disk_bytes_per_chunk": round(disk / n, 1),
        "ram_bytes_per_chunk": round(max(ram, 0) / n, 1),
        "load_s": round(load_s, 3),
        "search": percentiles(times),
        "recall_at_10": 1.0 if truth is None else round(recall_at(found, truth, k), 4),
    }
    if sweep and truth is not None:
        ivf = faiss.extract_index_ivf(loaded)
        row["nprobe_sweep"] = []
        for nprobe in sweep:
            ivf.nprobe = nprobe
            t_s, f_s = _single_query_times(loaded, queries, k)
            row["nprobe_sweep"].append(
                {
                    "nprobe": nprobe,
                    **percentiles(t_s),
                    "recall_at_10": round(recall_at(f_s, truth, k), 4),
                }
            )
        ivf.nprobe = NPROBE
    del loaded
    _trim()
    if mmap:
        flags = faiss.IO_FLAG_READ_ONLY | (
            faiss.IO_FLAG_MMAP_IFC if name.startswith("Flat") else faiss.IO_FLAG_MMAP
        )
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        mapped = faiss.read_index(str(path), flags)
        row["mmap_load_s"] = round(time.perf_counter() - t0, 3)
        row["mmap_open_rss_mb"] = round((rss_bytes() - rss0) / 2**20, 1)
        _set_params(mapped)
        mtimes, _ = _single_query_times(mapped, queries, k)
        row["mmap_search"] = percentiles(mtimes)
        del mapped
        gc.collect()
    path.unlink()
    return row, (found if truth is None else None)


NPROBE = 32  # the product's default (ARCHIVE_QA_IVF_NPROBE); run_scale can override
HNSW_EF_SEARCH = 64


def _set_params(index, nprobe: int | None = None) -> None:
    import faiss

    with contextlib.suppress(RuntimeError):
        faiss.extract_index_ivf(index).nprobe = nprobe or NPROBE
    hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
    if hnsw is not None:
        hnsw.efSearch = HNSW_EF_SEARCH


def run_scale(
    base: np.ndarray,
    query_vectors: np.ndarray,
    n: int,
    noise: float = 0.5,
    hnsw_max: int = 200_000,
    mmap: bool = True,
    flat_limit: int = 200_000,
    k: int = 10,
    build_threads: int | None = None,
    nprobe: int | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    import faiss

    global NPROBE
    previous_threads, previous_nprobe = faiss.omp_get_max_threads(), NPROBE
    NPROBE = nprobe or NPROBE
    try:
        return _run_scale(
            base, query_vectors, n, noise, hnsw_max, mmap, flat_limit, k, build_threads, log
        )
    finally:
        faiss.omp_set_num_threads(previous_threads)
        NPROBE = previous_nprobe


def _run_scale(
    base, query_vectors, n, noise, hnsw_max, mmap, flat_limit, k, build_threads, log
) -> dict[str, Any]:
    import faiss

    d = base.shape[1]
    # One thread for building too: on a shared 2-core machine two OpenMP threads train
    # IVF/PQ several times slower than one (barrier waits whenever a core is taken).
    threads = build_threads or 1
    log(f"scale: {n:,} synthetic vectors from {len(base):,} real ones (noise {noise}) …")
    t0 = time.perf_counter()
    xb = synthetic(base, n, noise)
    gen_s = time.perf_counter() - t0
    queries = np.ascontiguousarray(query_vectors, dtype="float32")
    auto = choose_index_type(n, flat_limit)
    nlist = ivf_nlist(n)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="archive-qa-scale-") as tmp:
        work = Path(tmp)

        def build_time(fn) -> tuple[Any, float]:
            faiss.omp_set_num_threads(threads)
            t = time.perf_counter()
            idx = fn()
            return idx, time.perf_counter() - t

        log("scale: Flat …")
        flat, s = build_time(lambda: _flat(xb, d))
        row, truth = _measure("Flat", flat, s, queries, None, n, work, k, mmap)
        rows.append(row)

        for nl, kinds in ((nlist, ("Flat", "SQ8", "PQ48")), (max(64, nlist // 4), ("SQ8",))):
            rows += _ivf_rows(xb, d, nl, kinds, queries, truth, n, work, k, mmap, threads, log)

        if n <= hnsw_max:
            log("scale: HNSW32 (slow to build) …")
            idx, s = build_time(lambda: _hnsw(xb, d))
            row, _ = _measure("HNSW32", idx, s, queries, truth, n, work, k, False)
            row["ef_search"] = HNSW_EF_SEARCH
            rows.append(row)
        else:
            rows.append({"type": "HNSW32", "skipped": f"build too slow above {hnsw_max:,} chunks"})
    return {
        "chunks": n,
        "dim": d,
        "base_vectors": len(base),
        "noise_norm": noise,
        "synthetic": "real chunk vectors replicated with Gaussian noise, renormalized",
        "generate_s": round(gen_s, 2),
        "queries": len(queries),
        "build_threads": threads,
        "search_threads": 1,
        "product_choice": auto,
        "nprobe": NPROBE,
        "rows": rows,
    }


SWEEP = (8, 16, 32, 64)


def _ivf_rows(xb, d, nlist, kinds, queries, truth, n, work, k, mmap, threads, log) -> list[dict]:
    """IVF rows sharing one trained coarse quantizer (its time is counted in each row)."""
    import faiss

    log(f"scale: training the IVF{nlist} coarse quantizer …")
    faiss.omp_set_num_threads(threads)
    t = time.perf_counter()
    train = xb[np.random.default_rng(1).choice(n, min(n, 64 * nlist), replace=False)]
    km = faiss.Kmeans(d, nlist, niter=10, spherical=True, seed=1, min_points_per_centroid=1)
    km.train(train)
    coarse_s = time.perf_counter() - t

    def ivf(kind: str, add: bool = True):
        q = faiss.IndexFlatIP(d)
        q.add(km.centroids)
        if kind == "Flat":
            idx = faiss.IndexIVFFlat(q, d, nlist, faiss.METRIC_INNER_PRODUCT)
        elif kind == "SQ8":
            idx = faiss.IndexIVFScalarQuantizer(
                q, d, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
        else:  # PQ48
            idx = faiss.IndexIVFPQ(q, d, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
            idx.pq.cp.min_points_per_centroid = 1  # no warnings on small test sets
        idx.own_fields = True
        q.this.disown()
        idx.train(train)
        if add:
            idx.add(xb)
        return idx

    def timed(fn):
        faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        idx = fn()
        return idx, time.perf_counter() - t0 + coarse_s

    rows = []
    for kind in kinds:
        name = f"IVF{nlist},{kind}"
        log(f"scale: {name} …")
        idx, s = timed(lambda kind=kind: ivf(kind))
        sweep = SWEEP if kind == "SQ8" else ()
        row, _ = _measure(name, idx, s, queries, truth, n, work, k, mmap, sweep)
        row["nprobe"] = NPROBE
        rows.append(row)
        if kind == "PQ48":
            log(f"scale: {name} + re-ranking on full vectors …")
            idx, s = timed(lambda: _refined(ivf("PQ48", add=False), xb))
            row, _ = _measure(f"{name},RFlat", idx, s, queries, truth, n, work, k, False)
            row["nprobe"] = NPROBE
            row["note"] = "re-ranks 4×k candidates on the full float vectors kept beside the codes"
            rows.append(row)
    return rows


def _flat(xb: np.ndarray, d: int):
    import faiss

    idx = faiss.IndexIDMap2(faiss.IndexFlatIP(d))  # as the product stores it
    idx.add_with_ids(xb, np.arange(len(xb), dtype="int64"))
    return idx


def _refined(base_index, xb: np.ndarray):
    import faiss

    r = faiss.IndexRefineFlat(base_index)  # adds to the PQ codes and the full vectors
    r.add(xb)
    r.k_factor = 4
    base_index.this.disown()
    return r


def _hnsw(xb: np.ndarray, d: int):
    import faiss

    idx = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
    idx.add(xb)
    return idx
