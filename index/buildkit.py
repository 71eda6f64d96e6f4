"""What every way of producing a build shares: options, the result, and the last step.

A full build, a compaction and a delta update all end the same way: write report.json
and the manifest (checksums of every file) into the temporary folder, then publish it
atomically (`layout.publish`). Keeping that in one place keeps the guarantees equal.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tqdm import tqdm

from . import layout
from .articles import Article
from .chunker import ChunkSettings
from .embedder import Embedder
from .loaders import FieldMap, LoadLimits, LoadReport, iter_articles
from .manifest import FileEntry, Manifest, ModelInfo, Segments, file_entry, write_manifest

STORE = "store.sqlite"
REPORT = "report.json"


@dataclass
class BuildOptions:
    fields: FieldMap = field(default_factory=FieldMap)
    chunking: ChunkSettings = field(default_factory=ChunkSettings)
    limits: LoadLimits = field(default_factory=LoadLimits)
    batch_size: int = 32
    index_titles: bool = True
    flat_limit: int = 200_000
    update: bool = False
    progress: bool = True
    # An update rewrites everything into a new base once the delta segment holds more
    # than this fraction of the base's chunks (delta chunks + tombstones).
    compact_fraction: float = 0.1
    compact: bool = False  # fold the delta into a new base now
    # Find each chunk's entities and statements (index.annotate, index.quotes); off only
    # to measure what they cost.
    annotate: bool = True


@dataclass
class BuildResult:
    build: Path
    manifest: Manifest
    articles: int
    chunks: int
    embedded_chunks: int
    reused_chunks: int
    new_articles: int
    changed_articles: int
    removed_articles: int
    skipped: list[dict]
    seconds: float
    embed_seconds: float
    notes: list[str]
    compacted: bool = False  # a new base was written (full build or compaction)
    unchanged_articles: int = 0  # given to an update with the content already indexed
    published: bool = True  # False when an update found nothing to change
    timings: dict[str, float] = field(default_factory=dict)  # read/embed/write/publish

    @property
    def chunks_per_second(self) -> float:
        return self.embedded_chunks / self.seconds if self.seconds else 0.0

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(_reason_kind(s["reason"]) for s in self.skipped).most_common())


def software_version() -> str:
    try:
        return version("archive-qa")
    except PackageNotFoundError:
        return "0+unknown"


def indexed_text(title: str, chunk_text: str, index_titles: bool) -> str:
    """What the model and BM25 see for a chunk: the headline gives a passage its context."""
    return f"{title}\n\n{chunk_text}" if index_titles and title else chunk_text


def read_articles(
    sources: Sequence[str | Path], report: LoadReport, options: BuildOptions
) -> list[Article]:
    articles = []
    with tqdm(desc="Reading", unit="article", disable=not options.progress) as bar:
        for article in iter_articles(sources, report, options.fields, options.limits):
            articles.append(article)
            bar.update(1)
    return articles


# Up to this many chunks (an update's change) are embedded on one thread: on 2 shared
# cores torch's second thread mostly waits for the first (docs/performance.md, *Update*).
ONE_THREAD_CHUNKS = 64


def embed_texts(embedder: Embedder, texts: list[str], options: BuildOptions):
    """Embed chunk texts with a progress bar (the one slow step of any build)."""
    threads = 1 if len(texts) <= ONE_THREAD_CHUNKS else None
    with tqdm(
        total=len(texts),
        desc="Embedding",
        unit="chunk",
        disable=not options.progress or not texts,
        smoothing=0.1,
    ) as bar:
        return embedder.encode(
            texts, batch_size=options.batch_size, progress=bar.update, threads=threads
        )


def chunking_dict(settings: ChunkSettings) -> dict[str, int]:
    return {
        "min_words": settings.min_words,
        "target_words": settings.target_words,
        "max_words": settings.max_words,
    }


@dataclass
class BuildRecord:
    """Everything the manifest and report of a finished temporary build say."""

    build_id: str
    embedder: Embedder
    index_titles: bool
    chunking: dict[str, int]
    faiss: dict[str, str | int | float]
    bm25_documents: int
    counts: dict[str, int]
    corpus_hash: str
    notes: list[str]
    skipped: list[dict]
    segments: Segments | None = None
    # What annotated the chunks (index.annotate.annotation_info); {}: not annotated.
    annotations: dict[str, str] = field(default_factory=dict)


def finish_build(
    root: Path,
    temp: Path,
    record: BuildRecord,
    t0: float,
    new_files: list[Path],
    known_files: dict[str, FileEntry] | None = None,
) -> tuple[Path, Manifest]:
    """Write report + manifest into `temp` and publish it; returns (build, manifest).

    `new_files` are hashed now; `known_files` (relative name → entry) are shared base
    files whose size and checksum were recorded when they were written, so an update
    does not read hundreds of megabytes to hash them again.
    """
    report = temp / REPORT
    report.write_text(
        json.dumps(
            {"counts": record.counts, "notes": record.notes, "skipped": record.skipped},
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    files = dict(known_files or {})
    for path in [*new_files, report]:
        files[str(path.relative_to(temp))] = file_entry(path)
    manifest = Manifest(
        software_version=software_version(),
        build_id=record.build_id,
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        build_seconds=round(time.perf_counter() - t0, 3),
        model=ModelInfo(
            name=record.embedder.name,
            dim=record.embedder.dim,
            max_seq_length=record.embedder.max_seq_length,
            backend=record.embedder.backend,
        ),
        index_titles=record.index_titles,
        chunking=record.chunking,
        faiss=record.faiss,
        bm25={"library": "bm25s", "k1": 1.2, "b": 0.75, "documents": record.bm25_documents},
        counts=record.counts,
        corpus_hash=record.corpus_hash,
        files=dict(sorted(files.items())),
        segments=record.segments,
        annotations=record.annotations,
    )
    manifest = write_manifest(temp, manifest)
    durable = [temp / name for name in (known_files or {})]
    return layout.publish(root, temp, durable), manifest


def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0].split(":")[0].split(" of article")[0].split(" id ")[0]
