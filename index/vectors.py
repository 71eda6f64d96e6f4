"""The FAISS vector index: chosen by archive size, addressed by chunk row ids.

Small archives get an exact `IndexFlatIP` (wrapped in `IndexIDMap2` so rows can be
removed on update); past `flat_limit` vectors an IVF index with 8-bit scalar
quantization keeps memory near a quarter of exact search's with recall close to exact
(docs/performance.md).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError

VECTORS = "vectors.faiss"


def ivf_nlist(n_vectors: int) -> int:
    """IVF lists for an archive: about 4·√n, a power of two, at least 64."""
    return 1 << max(6, round(math.log2(4 * math.sqrt(max(n_vectors, 1)))))


def choose_index_type(n_vectors: int, flat_limit: int) -> str:
    if n_vectors <= flat_limit:
        return "Flat"
    return f"IVF{ivf_nlist(n_vectors)},SQ8"


def new_index(dim: int, index_type: str, training: np.ndarray | None = None):
    import faiss

    if index_type == "Flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    index = faiss.index_factory(dim, index_type, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        if training is None or len(training) == 0:
            raise ValueError(f"{index_type} needs training vectors")
        index.train(np.ascontiguousarray(training, dtype="float32"))
    return index


def set_search_params(index, nprobe: int) -> None:
    import faiss

    with contextlib.suppress(RuntimeError):  # not an IVF index
        faiss.extract_index_ivf(index).nprobe = nprobe


def add(index, vectors: np.ndarray, rows: list[int]) -> None:
    if len(rows):
        index.add_with_ids(
            np.ascontiguousarray(vectors, dtype="float32"), np.asarray(rows, dtype="int64")
        )


def remove(index, rows: list[int]) -> int:
    if not rows:
        return 0
    return int(index.remove_ids(np.asarray(rows, dtype="int64")))


def save(index, build: Path) -> Path:
    import faiss

    path = build / VECTORS
    faiss.write_index(index, str(path))
    return path


def load(build: Path, mmap: bool = False, index_type: str | None = None, lookup: bool = False):
    """Read the vectors; `mmap` maps them instead (pages are read on use, shared by processes).

    FAISS maps flat codes with IO_FLAG_MMAP_IFC and IVF lists with IO_FLAG_MMAP (the two
    flags cannot be combined: IVF files then fail to load), so the type decides. `lookup`
    maps a flat index's vectors without reading them all, for an update that needs only
    some of them back.
    """
    import faiss

    path = build / VECTORS
    flags = 0
    if mmap:
        kind = faiss.IO_FLAG_MMAP_IFC if index_type == "Flat" else faiss.IO_FLAG_MMAP
        flags = kind | faiss.IO_FLAG_READ_ONLY
    if lookup:  # (faiss < 1.9 has no such flag: it reads the whole file then)
        flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) | faiss.IO_FLAG_READ_ONLY
    try:
        return faiss.read_index(str(path), flags)
    except RuntimeError as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise IndexCorruptError(
            f"FAISS file {path} is unreadable ({msg}); rebuild the index"
        ) from exc
