"""Base + delta segments: how an update avoids rewriting the whole archive.

    builds/<id>/
      manifest.json, report.json
      store.sqlite, vectors.faiss, bm25/   the base segment: written once by a full build
                                           or a compaction, then only hard-linked into
                                           later builds (never opened for writing again)
      delta/store.sqlite                   new and changed articles, plus tombstones (the
                                           base articles and rows they replace or remove)
      delta/vectors.faiss                  their vectors (exact Flat)
      delta/bm25/                          their keyword postings, scored with the base's
                                           statistics (`bm25/stats.json`)

A hard link shares the file, not a copy, so each build folder stays complete on its own:
`layout._prune` may delete any old build and the base files live on in the builds that
still link them. Each update rewrites the delta whole (merged with the previous one), so
its cost follows the accumulated changes; past `compact_fraction` of the base a
compaction folds everything into a new base.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from .buildkit import REPORT, STORE
from .errors import IndexCorruptError
from .manifest import MANIFEST, FileEntry, Manifest
from .store import ChunkStore, sqlite_uri

DELTA = "delta"


def delta_dir(build: Path, manifest: Manifest) -> Path | None:
    return build / DELTA if manifest.segments is not None else None


def open_live_store(build: Path, manifest: Manifest) -> ChunkStore:
    """The build's articles and chunks as one read-only archive (base minus tombstones + delta)."""
    delta = delta_dir(build, manifest)
    return ChunkStore(build / STORE, readonly=True, delta=delta / STORE if delta else None)


def base_files(manifest: Manifest) -> dict[str, FileEntry]:
    """The manifest entries of the base segment's files (everything but the delta and report)."""
    return {
        name: entry
        for name, entry in manifest.files.items()
        if not name.startswith(DELTA + "/") and name not in {REPORT, MANIFEST}
    }


def link_base(previous: Path, temp: Path, manifest: Manifest) -> tuple[dict[str, FileEntry], bool]:
    """Hard-link the previous build's base files into `temp`; returns (entries, copied).

    Sizes are checked (a stat each) but files are not re-hashed: their checksums were
    recorded when they were written and the next open verifies them. Where hard links
    are impossible the files are copied, which is correct but scales with the archive.
    """
    entries = base_files(manifest)
    copied = False
    for name, entry in entries.items():
        src, dst = previous / name, temp / name
        if not src.is_file() or src.stat().st_size != entry.bytes:
            raise IndexCorruptError(f"index file {src} is missing or truncated; rebuild the index")
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
            fd = os.open(dst, os.O_RDONLY)  # a fresh copy is not yet durable
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            copied = True
    return entries, copied


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy into a new file (a new inode: the source is never written)."""
    source = sqlite3.connect(sqlite_uri(src, "mode=ro"), uri=True)
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
