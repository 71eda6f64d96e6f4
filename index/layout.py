"""Where an index lives on disk, and how a new build replaces the old one atomically.

    INDEX_DIR/
      CURRENT                   name of the live build (replaced with os.replace)
      builds/<build-id>/        manifest.json, vectors.faiss, store.sqlite, bm25/, report.json
      builds/.tmp-<build-id>/   a build in progress (deleted if the build dies)
      .lock                     held by the one running build

A build writes everything into a fresh temporary folder, fsyncs it, renames it into
`builds/`, then points CURRENT at it with one atomic rename. A crash at any moment
leaves CURRENT naming a complete build; readers never see a half-written one.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import BuildLockedError, IndexNotFoundError

CURRENT = "CURRENT"
BUILDS = "builds"
TMP_PREFIX = ".tmp-"
KEEP_PREVIOUS = 1  # old builds kept for readers still holding them open


def new_build_id() -> str:
    """Sortable by creation time to the microsecond (pruning keeps the newest builds)."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}.{int(now % 1 * 1_000_000):06d}-{secrets.token_hex(3)}"


def current_build(root: Path) -> Path:
    """The live build folder, or a clear error when there is none."""
    root = Path(root)
    pointer = root / CURRENT
    if not pointer.is_file():
        if (root / "manifest.json").is_file():  # a build folder given directly
            return root
        raise IndexNotFoundError(
            f"no index at {root} (missing {CURRENT}); build one with: archive-qa build SOURCE... --index {root}"
        )
    name = pointer.read_text(encoding="utf-8").strip()
    build = root / BUILDS / name
    if not name or "/" in name or not build.is_dir():
        raise IndexNotFoundError(
            f"{pointer} names build {name!r}, which does not exist; rebuild the index"
        )
    return build


def has_index(root: Path) -> bool:
    try:
        current_build(root)
    except IndexNotFoundError:
        return False
    return True


@contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """One build at a time per index; a second one fails at once instead of racing."""
    root.mkdir(parents=True, exist_ok=True)
    fh = open(root / ".lock", "a+")  # noqa: SIM115 - held for the whole build
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BuildLockedError(
                f"another build of {root} is running; wait for it to finish"
            ) from exc
        yield
    finally:
        fh.close()


def remove_stale_temps(root: Path) -> list[Path]:
    """Delete temporary folders of builds that died (call only while holding the lock)."""
    builds = Path(root) / BUILDS
    removed = []
    for pointer in Path(root).glob(f".{CURRENT}.*"):  # a pointer written, never swapped in
        pointer.unlink(missing_ok=True)
        removed.append(pointer)
    live = _live_name(Path(root))
    if live is not None and builds.is_dir():
        for child in builds.iterdir():  # published into builds/ but never made live
            if child.is_dir() and not child.name.startswith(TMP_PREFIX) and child.name > live:
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child)
    if builds.is_dir():
        for child in builds.iterdir():
            if child.name.startswith(TMP_PREFIX):
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child)
    return removed


def _live_name(root: Path) -> str | None:
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name or None


def clean_leftovers(root: Path) -> list[str]:
    """`remove_stale_temps`, as the notes a build reports (call only holding the lock)."""
    return [
        f"removed the leftovers of an interrupted build: {p.name}" for p in remove_stale_temps(root)
    ]


def make_temp_build(root: Path, build_id: str) -> Path:
    path = Path(root) / BUILDS / f"{TMP_PREFIX}{build_id}"
    path.mkdir(parents=True)
    return path


def publish(root: Path, temp: Path, durable: Iterable[Path] = ()) -> Path:
    """Make a finished temporary build the live one, atomically, and prune old builds.

    `durable`: files already fsynced when first written (an update's hard-linked base
    files); only their directory entries need syncing, which `_fsync_tree` does.
    """
    root = Path(root)
    final = temp.with_name(temp.name[len(TMP_PREFIX) :])
    _fsync_tree(temp, {str(p) for p in durable})
    os.rename(temp, final)
    _fsync_dir(final.parent)
    pointer_tmp = root / f".{CURRENT}.{final.name}"
    try:
        with open(pointer_tmp, "w", encoding="utf-8") as fh:
            fh.write(final.name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(pointer_tmp, root / CURRENT)
    except BaseException:  # never leave a complete-looking build that was not made live
        pointer_tmp.unlink(missing_ok=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    _fsync_dir(root)
    _prune(root, keep=final.name)
    return final


def _prune(root: Path, keep: str) -> None:
    builds = sorted(
        (
            p
            for p in (root / BUILDS).iterdir()
            if p.is_dir() and not p.name.startswith(TMP_PREFIX) and p.name != keep
        ),
        key=lambda p: p.name,
    )
    for old in builds[: max(0, len(builds) - KEEP_PREVIOUS)]:
        shutil.rmtree(old, ignore_errors=True)


def _fsync_tree(path: Path, skip: set[str] | frozenset[str] = frozenset()) -> None:
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            if os.path.join(dirpath, name) in skip:
                continue
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
