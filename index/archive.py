"""A built index opened for searching: vectors, keywords and the chunk store together.

Opening verifies the manifest, file sizes and checksums, and the model identity, so
every failure mode of a damaged index surfaces here as one clear error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import layout, vectors
from .bm25 import BM25Index
from .builder import STORE
from .manifest import Manifest, check_model, read_manifest, verify_files
from .store import ChunkStore, StoredChunk


@dataclass(frozen=True)
class IndexInfo:
    """What a status line or health endpoint shows about the live index."""

    path: str
    build_id: str
    built_at: str
    articles: int
    chunks: int
    model: str
    dim: int
    faiss_type: str
    sources: list[tuple[str, int]]
    date_range: tuple[str | None, str | None]


class ArchiveIndex:
    """Read-only access to one build; cheap to search from many threads."""

    def __init__(
        self, build: Path, manifest: Manifest, store: ChunkStore, faiss_index, bm25: BM25Index
    ) -> None:
        self.build = build
        self.manifest = manifest
        self.store = store
        self.faiss = faiss_index
        self.bm25 = bm25

    @classmethod
    def open(
        cls,
        root: str | Path,
        model_name: str | None = None,
        dim: int | None = None,
        verify_checksums: bool = True,
        mmap: bool = False,
        nprobe: int = 32,
    ) -> ArchiveIndex:
        """Open the live build under `root`, checking it against the model in use."""
        build = layout.current_build(Path(root))
        manifest = read_manifest(build)
        if model_name is not None and dim is not None:
            check_model(manifest, model_name, dim)
        verify_files(build, manifest, checksums=verify_checksums)
        store = ChunkStore(build / STORE, readonly=True)
        faiss_index = vectors.load(build, mmap=mmap, index_type=str(manifest.faiss["type"]))
        if faiss_index.d != manifest.model.dim or faiss_index.ntotal != manifest.faiss.get(
            "vectors"
        ):
            from .errors import IndexCorruptError

            raise IndexCorruptError(
                f"FAISS file in {build} does not match its manifest; rebuild the index"
            )
        vectors.set_search_params(faiss_index, nprobe)
        bm25 = BM25Index.load(build, mmap=mmap)
        return cls(build, manifest, store, faiss_index, bm25)

    def close(self) -> None:
        self.store.close()

    def dense_search(
        self, query_vector: np.ndarray, k: int, allowed_rows: list[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (row, cosine) by vector; `allowed_rows` applies metadata filters inside FAISS."""
        import faiss

        if self.faiss.ntotal == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query_vector.reshape(1, -1), dtype="float32")
        params = None
        if allowed_rows is not None:
            if not allowed_rows:
                return []
            selector = faiss.IDSelectorBatch(np.asarray(allowed_rows, dtype="int64"))
            params = faiss.SearchParameters(sel=selector)
            ivf = _ivf_of(self.faiss)
            if ivf is not None:
                params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe)
        scores, ids = self.faiss.search(q, min(k, self.faiss.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def keyword_search(
        self, query: str, k: int, allowed_rows: list[int] | None = None
    ) -> list[tuple[int, float]]:
        allowed = None if allowed_rows is None else np.asarray(allowed_rows, dtype="int64")
        return self.bm25.search(query, k, allowed)

    def chunks(self, rows: list[int]) -> dict[int, StoredChunk]:
        return self.store.chunks_by_rows(rows)

    def info(self) -> IndexInfo:
        return IndexInfo(
            path=str(self.build),
            build_id=self.manifest.build_id,
            built_at=self.manifest.built_at,
            articles=self.manifest.counts["articles"],
            chunks=self.manifest.counts["chunks"],
            model=self.manifest.model.name,
            dim=self.manifest.model.dim,
            faiss_type=str(self.manifest.faiss["type"]),
            sources=self.store.sources(),
            date_range=self.store.date_range(),
        )


def _ivf_of(index):
    import faiss

    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None
