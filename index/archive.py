"""A built index opened for searching: vectors, keywords and the chunk store together.

Opening verifies the manifest, file sizes and checksums, and the model identity, so
every failure mode of a damaged index surfaces here as one clear error.

A build with a delta segment (see `segments`) searches as one archive: FAISS and BM25
search the base without its tombstoned rows and the delta, and the two ranked lists
merge by score (the delta's BM25 scores use the base's statistics, so they compare);
the chunk store's views join both halves for filters and lookups.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import layout, vectors
from .bm25 import BM25Index
from .bm25_delta import DeltaBM25
from .buildkit import STORE
from .errors import IndexCorruptError
from .manifest import Manifest, check_model, read_manifest, verify_files
from .segments import delta_dir
from .store import ChunkStore, StoredChunk


@dataclass
class DeltaSegment:
    """A delta's searchable parts and the base rows it hides."""

    faiss: object
    bm25: DeltaBM25
    rows: np.ndarray  # the delta's rows, sorted
    dead_rows: np.ndarray  # base rows removed or replaced, sorted


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
    statements: int = 0  # attributed statements (index.quotes)
    speakers: int = 0  # distinct normalised speakers
    # Set when the build predates statement extraction (its table is empty or partial).
    statements_note: str | None = None


class ArchiveIndex:
    """Read-only access to one build; cheap to search from many threads."""

    def __init__(
        self,
        build: Path,
        manifest: Manifest,
        store: ChunkStore,
        faiss_index,
        bm25: BM25Index,
        delta: DeltaSegment | None = None,
    ) -> None:
        self.build = build
        self.manifest = manifest
        self.store = store
        self.faiss = faiss_index  # the base segment's index
        self.bm25 = bm25
        self.delta = delta
        self._not_dead = None
        if delta is not None and len(delta.dead_rows):
            import faiss

            self._dead_batch = faiss.IDSelectorBatch(delta.dead_rows)
            self._not_dead = faiss.IDSelectorNot(self._dead_batch)  # keeps _dead_batch alive
            bm25.exclude(delta.dead_rows)

    @property
    def vector_count(self) -> int:
        """Live vectors: base minus tombstones plus delta (= chunks)."""
        if self.delta is None:
            return int(self.faiss.ntotal)
        return int(self.faiss.ntotal - len(self.delta.dead_rows) + self.delta.faiss.ntotal)

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
        seg_dir = delta_dir(build, manifest)
        store = ChunkStore(build / STORE, readonly=True, delta=seg_dir / STORE if seg_dir else None)
        try:
            faiss_index = vectors.load(build, mmap=mmap, index_type=str(manifest.faiss["type"]))
            _check_vectors(faiss_index, manifest.model.dim, manifest.faiss.get("vectors"), build)
            vectors.set_search_params(faiss_index, nprobe)
            bm25 = BM25Index.load(build, mmap=mmap)
            delta = None
            if seg_dir is not None:
                delta_faiss = vectors.load(seg_dir)
                _check_vectors(
                    delta_faiss, manifest.model.dim, manifest.segments.delta_chunks, seg_dir
                )
                dead = np.asarray(store.dead_rows(), dtype="int64")
                if len(dead) != manifest.segments.dead_rows:
                    raise IndexCorruptError(
                        f"delta segment in {seg_dir} does not match its manifest; rebuild the index"
                    )
                stats = bm25.corpus_stats()
                if stats is None:
                    raise IndexCorruptError(
                        f"{build} has a delta segment but no BM25 statistics; rebuild the index"
                    )
                delta_bm25 = DeltaBM25.load(seg_dir).use_stats(stats)
                delta = DeltaSegment(delta_faiss, delta_bm25, delta_bm25.docs, dead)
        except BaseException:
            store.close()
            raise
        return cls(build, manifest, store, faiss_index, bm25, delta)

    def close(self) -> None:
        self.store.close()

    def dense_search(
        self, query_vector: np.ndarray, k: int, allowed_rows: list[int] | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (row, cosine) by vector; `allowed_rows` applies metadata filters inside FAISS."""
        if k <= 0 or (allowed_rows is not None and not allowed_rows):
            return []
        q = np.ascontiguousarray(query_vector.reshape(1, -1), dtype="float32")
        if self.delta is None:
            return _faiss_search(self.faiss, q, k, allowed_rows, None)
        base_allowed, delta_allowed = self._split(allowed_rows)
        # Filtered rows come from the store's views, which already leave tombstones out.
        base = _faiss_search(
            self.faiss, q, k, base_allowed, self._not_dead if allowed_rows is None else None
        )
        delta = _faiss_search(self.delta.faiss, q, k, delta_allowed, None)
        return _merge(base, delta, k)

    def keyword_search(
        self, query: str, k: int, allowed_rows: list[int] | None = None
    ) -> list[tuple[int, float]]:
        if self.delta is None:
            allowed = None if allowed_rows is None else np.asarray(allowed_rows, dtype="int64")
            return self.bm25.search(query, k, allowed)
        if allowed_rows is not None and not allowed_rows:
            return []
        base_allowed, delta_allowed = self._split(allowed_rows)
        base = (
            self.bm25.search(query, k, base_allowed)
            if base_allowed is None or len(base_allowed)
            else []
        )
        delta = (
            self.delta.bm25.search(query, k, delta_allowed)
            if delta_allowed is None or len(delta_allowed)
            else []
        )
        return _merge(base, delta, k)

    def _split(self, allowed_rows: list[int] | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Filter rows as (base rows, delta rows); (None, None) for no filter."""
        if allowed_rows is None:
            return None, None
        allowed = np.asarray(allowed_rows, dtype="int64")
        in_delta = np.isin(allowed, self.delta.rows)
        return allowed[~in_delta], allowed[in_delta]

    def chunks(self, rows: list[int]) -> dict[int, StoredChunk]:
        return self.store.chunks_by_rows(rows)

    def vectors(self, rows: list[int]) -> dict[int, np.ndarray]:
        """The stored vectors of these rows, where they are exact (a Flat base, the delta);
        rows of an IVF base are left out (their codes are lossy and need a direct map)."""
        out: dict[int, np.ndarray] = {}
        delta_rows = (
            set()
            if self.delta is None
            else set(self.delta.rows[np.isin(self.delta.rows, rows)].tolist())
        )
        flat_base = str(self.manifest.faiss.get("type")) == "Flat"
        for row in rows:
            where = self.delta.faiss if row in delta_rows else self.faiss if flat_base else None
            if where is None:
                continue
            try:
                out[row] = np.asarray(where.reconstruct(int(row)), dtype="float32")
            except RuntimeError:  # not in this segment (a removed row)
                continue
        return out

    @functools.cached_property
    def _info(self) -> IndexInfo:
        statements, speakers = self.store.statement_counts()
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
            statements=statements,
            speakers=speakers,
            statements_note=None
            if "statements" in self.manifest.annotations
            else "built before statements were extracted: run `archive-qa update --compact` "
            "or rebuild the index to list who said what",
        )

    def info(self) -> IndexInfo:
        """What the build holds. A build never changes, so it is read once: the page and
        the API check every request's filters against its outlets."""
        return self._info


def _check_vectors(index, dim: int, count, where: Path) -> None:
    if index.d != dim or index.ntotal != count:
        raise IndexCorruptError(
            f"FAISS file in {where} does not match its manifest; rebuild the index"
        )


def _faiss_search(index, q: np.ndarray, k: int, allowed, exclude) -> list[tuple[int, float]]:
    """One segment's top-k; `allowed` rows (a filter) or an `exclude` selector (tombstones)."""
    import faiss

    if index.ntotal == 0 or (allowed is not None and len(allowed) == 0):
        return []
    selector = exclude
    if allowed is not None:
        selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype="int64"))
    params = None
    if selector is not None:
        params = faiss.SearchParameters(sel=selector)
        ivf = _ivf_of(index)
        if ivf is not None:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=ivf.nprobe)
    scores, ids = index.search(q, min(k, index.ntotal), params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _merge(
    a: list[tuple[int, float]], b: list[tuple[int, float]], k: int
) -> list[tuple[int, float]]:
    """Two segments' ranked lists as one, best score first (ties: lower row first)."""
    return sorted(a + b, key=lambda rs: (-rs[1], rs[0]))[:k]


def _ivf_of(index):
    import faiss

    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:
        return None
