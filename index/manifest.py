"""The manifest: what an index was built from and with, and checksums of its files.

Loading checks it first, so an index from another model, a newer format, or with a
truncated or garbled file fails with one clear sentence instead of wrong answers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .errors import IndexCorruptError, IndexMismatchError

FORMAT = "archive-qa-index"
FORMAT_VERSION = 1  # a single-segment build; older software reads it
SEGMENTED_FORMAT_VERSION = 2  # base + delta segment; older software must refuse it
SUPPORTED_VERSIONS = (FORMAT_VERSION, SEGMENTED_FORMAT_VERSION)
MANIFEST = "manifest.json"
_MOD = 1 << 256


class FileEntry(BaseModel):
    bytes: int
    sha256: str


class ModelInfo(BaseModel):
    name: str
    dim: int
    max_seq_length: int
    # The runtime that computed the vectors (torch | openvino). Both give the same vectors
    # to within 1e-4 cosine, so an index built by one is searched with the other.
    backend: str = "torch"


class Segments(BaseModel):
    """A build made of a shared, immutable base plus a delta segment (see `index.segments`).

    The base files are the top-level ones (hard links to the files `base_build` wrote);
    the delta lives in `delta/`. Live counts = base - dead + delta.
    """

    base_build: str
    base_articles: int
    base_chunks: int
    delta_articles: int
    delta_chunks: int
    dead_articles: int
    dead_rows: int
    next_row: int


class Manifest(BaseModel):
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    software_version: str
    build_id: str
    built_at: str
    build_seconds: float
    model: ModelInfo
    index_titles: bool
    chunking: dict[str, int]
    faiss: dict[str, str | int | float]
    bm25: dict[str, str | int | float] = {}
    counts: dict[str, int]
    corpus_hash: str
    files: dict[str, FileEntry]
    segments: Segments | None = None
    # What annotated the chunks ({"entities": "en_core_web_sm-3.8.0"}); empty in an index
    # built before annotation existed, which `update --compact` annotates.
    annotations: dict[str, str] = {}


def file_entry(path: Path) -> FileEntry:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return FileEntry(bytes=path.stat().st_size, sha256=h.hexdigest())


def _article_term(article_id: str, content_hash: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"{article_id}\x1f{content_hash}".encode()).digest(), "big"
    )


def corpus_hash(article_hashes: dict[str, str]) -> str:
    """One hash for the whole archive: equal exactly when the same articles are indexed.

    An order-free sum of per-article sha256 values (mod 2**256), so an update can adjust
    it by its change (`corpus_hash_update`) instead of reading every article. It tells
    builds apart; it is not meant to resist someone forging a collision.
    """
    return f"{sum(_article_term(a, h) for a, h in article_hashes.items()) % _MOD:064x}"


def corpus_hash_update(old: str, removed: dict[str, str], added: dict[str, str]) -> str:
    """`old` without the `removed` articles (id → content hash) and with the `added` ones."""
    value = int(old, 16) - sum(_article_term(a, h) for a, h in removed.items())
    value += sum(_article_term(a, h) for a, h in added.items())
    return f"{value % _MOD:064x}"


def write_manifest(build: Path, manifest: Manifest) -> Manifest:
    """Write the manifest (returned as written); a segmented build is marked so older
    software refuses it instead of silently ignoring the delta."""
    version = FORMAT_VERSION if manifest.segments is None else SEGMENTED_FORMAT_VERSION
    manifest = manifest.model_copy(update={"format_version": version})
    (build / MANIFEST).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    return manifest


def read_manifest(build: Path) -> Manifest:
    path = build / MANIFEST
    if not path.is_file():
        raise IndexCorruptError(f"index at {build} has no {MANIFEST}; rebuild it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"{path} is not valid JSON ({exc}); rebuild the index") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise IndexCorruptError(f"{path} is not an archive-qa manifest; rebuild the index")
    if data.get("format_version") not in SUPPORTED_VERSIONS:
        raise IndexMismatchError(
            f"index format version {data.get('format_version')} is not one of the supported "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}; "
            "rebuild the index with this version of archive-qa"
        )
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise IndexCorruptError(
            f"{path} is malformed at {where!r}: {first['msg']}; rebuild the index"
        ) from exc
    if (manifest.segments is not None) != (manifest.format_version == SEGMENTED_FORMAT_VERSION):
        raise IndexCorruptError(
            f"{path} has format version {manifest.format_version} but "
            f"{'a' if manifest.segments else 'no'} delta segment; rebuild the index"
        )
    return manifest


def verify_files(build: Path, manifest: Manifest, checksums: bool = True) -> None:
    """Every file the manifest lists is present, of the recorded size (and checksum)."""
    for name, entry in manifest.files.items():
        path = build / name
        if not path.is_file():
            raise IndexCorruptError(f"index file {path} is missing; rebuild the index")
        size = path.stat().st_size
        if size != entry.bytes:
            raise IndexCorruptError(
                f"index file {path} has {size:,} bytes, the manifest says {entry.bytes:,} (truncated?); rebuild the index"
            )
        if checksums and file_entry(path).sha256 != entry.sha256:
            raise IndexCorruptError(
                f"index file {path} does not match its checksum (corrupted); rebuild the index"
            )


def check_model(manifest: Manifest, model_name: str, dim: int) -> None:
    if manifest.model.name != model_name or manifest.model.dim != dim:
        raise IndexMismatchError(
            f"index was built with model {manifest.model.name!r} ({manifest.model.dim} dims) but the configured "
            f"model is {model_name!r} ({dim} dims); set ARCHIVE_QA_MODEL_PATH to the index's model or rebuild"
        )
