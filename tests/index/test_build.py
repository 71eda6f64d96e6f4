"""Building, updating and loading real indexes with the real model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index import layout
from index.archive import ArchiveIndex
from index.builder import build_index
from index.errors import (
    EmptyArchiveError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
)
from tests.helpers import NEWS_FIELDS, ROOT, SEED, SEED_QUESTION, run_cli


def write_article(folder: Path, name: str, title: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"{title}\nsource: Test Wire\n\n{body}\n", encoding="utf-8")
    return path


def chunk_ids(root: Path) -> dict[str, list[str]]:
    idx = ArchiveIndex.open(root)
    try:
        out: dict[str, list[str]] = {}
        for aid, cid in idx.store.conn.execute(
            "SELECT article_id, chunk_id FROM chunks ORDER BY article_id, ordinal"
        ):
            out.setdefault(aid, []).append(cid)
        return out
    finally:
        idx.close()


@pytest.fixture()
def small_archive(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    for i, topic in enumerate(
        ["harbour cranes", "wheat harvest", "city council budget", "river flooding"]
    ):
        body = "\n\n".join(
            f"Paragraph {p} of the report on the {topic}: officials described progress in detail, "
            f"with figures for each district, and residents added their own accounts of week {p}."
            for p in range(1, 6)
        )
        write_article(folder, f"story{i}.txt", f"Report on the {topic}", body)
    return folder


def test_build_layout_manifest_and_report(tmp_path, small_archive, embedder, build_options):
    (small_archive / "junk.txt").write_bytes(b"\x00\x00binary")
    root = tmp_path / "idx"
    result = build_index([small_archive], root, embedder, build_options)
    assert result.articles == 5 and result.embedded_chunks == result.chunks > 5
    assert [s["reason"] for s in result.skipped] == ["binary file (NUL bytes)"]
    build = layout.current_build(root)
    manifest = json.loads((build / "manifest.json").read_text())
    assert manifest["model"] == {
        "name": embedder.name,
        "dim": 384,
        "max_seq_length": embedder.max_seq_length,
        "backend": embedder.backend,
    }
    assert manifest["counts"]["articles"] == 5 and manifest["faiss"]["type"] == "Flat"
    assert set(manifest["files"]) >= {"vectors.faiss", "store.sqlite", "report.json"}
    report = json.loads((build / "report.json").read_text())
    assert report["skipped"][0]["origin"].endswith("junk.txt")
    # No pickle anywhere in the index folder.
    for path in build.rglob("*"):
        if path.is_file():
            assert path.suffix in {".faiss", ".sqlite", ".json", ".npy"}, path


def test_rebuild_keeps_chunk_ids_and_update_reembeds_only_changes(
    tmp_path, small_archive, embedder, build_options
):
    from dataclasses import replace

    root = tmp_path / "idx"
    first = build_index([small_archive], root, embedder, build_options)
    ids_first = chunk_ids(root)
    build_index([small_archive], root, embedder, build_options)
    assert chunk_ids(root) == ids_first  # full rebuild of unchanged articles: same ids

    changed = small_archive / "story1.txt"
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\nA late correction was added to this report.\n"
    )
    (small_archive / "story2.txt").unlink()
    write_article(
        small_archive,
        "story9.txt",
        "Report on the new bridge",
        "The bridge opened today to traffic.",
    )
    result = build_index([small_archive], root, embedder, replace(build_options, update=True))
    ids_after = chunk_ids(root)
    assert (result.new_articles, result.changed_articles, result.removed_articles) == (1, 1, 1)
    assert result.articles == len(ids_after) == 5
    fresh = [aid for aid in ids_after if ids_first.get(aid) != ids_after[aid]]
    assert len(fresh) == 2  # the changed story and the new one
    assert result.embedded_chunks == sum(len(ids_after[aid]) for aid in fresh)
    assert result.reused_chunks == result.chunks - result.embedded_chunks > 0
    unchanged = [aid for aid in ids_after if aid not in fresh]
    assert len(unchanged) == 3 and all(ids_after[aid] == ids_first[aid] for aid in unchanged)
    idx = ArchiveIndex.open(root)
    try:
        assert idx.faiss.ntotal == result.chunks == idx.store.counts()[1]
    finally:
        idx.close()
    assert first.chunks > 0


def test_update_search_reflects_changes(tmp_path, small_archive, embedder, build_options):
    from dataclasses import replace

    from qa.service import QAService
    from qa.settings import Settings

    root = tmp_path / "idx"
    build_index([small_archive], root, embedder, build_options)
    write_article(
        small_archive,
        "zebra.txt",
        "Zoo welcomes zebra foal",
        "A zebra foal named Stripes was born at the city zoo on Monday.",
    )
    build_index([small_archive], root, embedder, replace(build_options, update=True))
    svc = QAService.from_settings(Settings(index_dir=root))
    try:
        answer = svc.ask("What was the zebra foal called?")
        assert answer.citations[0].title == "Zoo welcomes zebra foal"
        assert "Stripes" in answer.answer
    finally:
        svc.close()


def test_empty_sources_leave_index_unchanged(tmp_path, small_archive, embedder, build_options):
    root = tmp_path / "idx"
    build_index([small_archive], root, embedder, build_options)
    before = layout.current_build(root)
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "blank.txt").write_text("")
    with pytest.raises(EmptyArchiveError, match="left unchanged"):
        build_index([empty], root, embedder, build_options)
    assert layout.current_build(root) == before


def test_crash_mid_build_keeps_previous_index(tmp_path, small_archive, subset_csv):
    """SIGKILL a real rebuild while it embeds: the old index still loads and answers the same."""
    root = tmp_path / "idx"
    assert run_cli("build", str(small_archive), "--index", str(root), "--quiet").returncode == 0
    before = run_cli("ask", SEED_QUESTION, "--index", str(root), "--json")
    assert before.returncode == 0, before.stderr
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "build",
            str(SEED),
            str(subset_csv),
            "--fields",
            NEWS_FIELDS,
            "--index",
            str(root),
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any((root / "builds").glob(".tmp-*/store.sqlite")):
            time.sleep(0.2)
        time.sleep(3)  # well inside embedding of ~2,500 chunks
        assert proc.poll() is None, "the build finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list((root / "builds").glob(".tmp-*")), (
        "the killed build left its temp folder (as expected)"
    )
    after = run_cli("ask", SEED_QUESTION, "--index", str(root), "--json")
    assert after.returncode == 0, after.stderr
    strip = lambda out: {k: v for k, v in json.loads(out).items() if k != "timings"}  # noqa: E731
    assert strip(after.stdout) == strip(before.stdout)
    # The next successful build removes the leftovers.
    rebuilt = run_cli("build", str(small_archive), "--index", str(root), "--quiet", "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert not list((root / "builds").glob(".tmp-*"))
    assert any("interrupted build" in n for n in json.loads(rebuilt.stdout)["notes"])


def _copy_index(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return layout.current_build(dst)


def test_corrupt_and_mismatched_indexes_fail_clearly(tmp_path, news_index, embedder):
    def fails(root: Path, exc: type, match: str) -> None:
        with pytest.raises(exc, match=match):
            ArchiveIndex.open(root, model_name=embedder.name, dim=embedder.dim)

    fails(tmp_path / "nowhere", IndexNotFoundError, "no index at")

    b = _copy_index(news_index, tmp_path / "truncated")
    data = (b / "vectors.faiss").read_bytes()
    (b / "vectors.faiss").write_bytes(data[: len(data) // 2])
    fails(tmp_path / "truncated", IndexCorruptError, "truncated")

    b = _copy_index(news_index, tmp_path / "garbled")
    raw = bytearray((b / "store.sqlite").read_bytes())
    raw[100:4000] = os.urandom(3900)
    (b / "store.sqlite").write_bytes(bytes(raw))
    fails(tmp_path / "garbled", IndexCorruptError, "checksum")

    b = _copy_index(news_index, tmp_path / "manifest")
    (b / "manifest.json").write_text("{ not json")
    fails(tmp_path / "manifest", IndexCorruptError, "not valid JSON")

    b = _copy_index(news_index, tmp_path / "missing")
    (b / "bm25" / "rows.npy").unlink()
    fails(tmp_path / "missing", IndexCorruptError, "missing")

    b = _copy_index(news_index, tmp_path / "othermodel")
    m = json.loads((b / "manifest.json").read_text())
    m["model"].update(name="all-mpnet-base-v2", dim=768)
    (b / "manifest.json").write_text(json.dumps(m))
    fails(tmp_path / "othermodel", IndexMismatchError, "all-mpnet-base-v2")

    # With checksums off, a garbled store is still refused when it is opened.
    with pytest.raises(IndexCorruptError, match="unreadable"):
        ArchiveIndex.open(tmp_path / "garbled", verify_checksums=False)


def test_cli_errors_are_one_line(tmp_path, news_index):
    missing = run_cli("ask", SEED_QUESTION, "--index", str(tmp_path / "nowhere"))
    assert missing.returncode == 1
    assert (
        missing.stderr.strip().startswith("error: no index at")
        and "Traceback" not in missing.stderr
    )
    empty = run_cli("ask", "   ", "--index", str(news_index))
    assert empty.returncode == 1 and "question is empty" in empty.stderr
    bad_date = run_cli("ask", "anything", "--index", str(news_index), "--since", "yesterdayish")
    assert bad_date.returncode == 1 and "is not a date" in bad_date.stderr
    no_data = run_cli("eval", "multihop", "--data", str(tmp_path / "no-such-folder"))
    assert no_data.returncode == 1 and "queries_train.json not found" in no_data.stderr
    nothing = run_cli("eval", "retrieval")
    assert nothing.returncode == 1 and "--multihop" in nothing.stderr


def test_help_is_fast_and_imports_nothing_heavy():
    code = "import sys; from ui.cli import app; print(sorted(m for m in ('torch','faiss','langchain_core','sentence_transformers') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_build_renamed_but_never_made_live_is_removed_before_the_next(tmp_path):
    """SIGKILL between the rename into builds/ and the CURRENT swap leaves a complete-looking
    build; the next build (holding the lock) removes it, so pruning never keeps it over the
    live one."""
    root = tmp_path / "idx"
    live = root / layout.BUILDS / layout.new_build_id()
    live.mkdir(parents=True)
    (root / layout.CURRENT).write_text(live.name + "\n")
    orphan = root / layout.BUILDS / layout.new_build_id()
    orphan.mkdir()
    older = root / layout.BUILDS / "20000101T000000-aaaaaa"
    older.mkdir()
    (root / f".{layout.CURRENT}.{orphan.name}").write_text(orphan.name)
    assert orphan.name > live.name > older.name  # ids sort by creation, to the microsecond
    removed = {p.name for p in layout.remove_stale_temps(root)}
    assert orphan.name in removed and f".{layout.CURRENT}.{orphan.name}" in removed
    assert sorted(p.name for p in (root / layout.BUILDS).iterdir()) == sorted(
        [live.name, older.name]
    )
