"""The Milvus backend against a real `milvus-lite server` on 127.0.0.1 (session fixture):
the seed question, filters, an update, a removal and a build killed mid-way, on a small
real subset (the seed + about 30 NewsArticles articles)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import NEWS_FIELDS, ROOT, SEED, SEED_QUESTION, listening_addresses

pytest.importorskip("pymilvus")


def _settings(uri: str, alias: str):
    from qa.settings import Settings

    return Settings(backend="milvus", milvus_uri=uri, milvus_collection=alias)


def _service(settings, embedder):
    from qa.service import QAService, open_index

    return QAService(settings, embedder, open_index(settings, embedder))


@pytest.fixture(scope="module")
def milvus_built(milvus_server, scale_csv, embedder, build_options):
    """The seed + subset built into Milvus under alias `scale_main`; tests must not modify it."""
    from index.milvus_store import build_milvus

    settings = _settings(milvus_server, "scale_main")
    build_milvus([SEED, scale_csv], settings.milvus_target(), embedder, build_options)
    return settings


@pytest.fixture(scope="module")
def milvus_service(milvus_built, embedder):
    svc = _service(milvus_built, embedder)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def faiss_service(tmp_path_factory, scale_csv, embedder, build_options):
    """The same articles in today's FAISS + bm25s index, to compare with."""
    from index.builder import build_index
    from qa.service import QAService, open_index
    from qa.settings import Settings

    root = tmp_path_factory.mktemp("scale-faiss") / "index"
    build_index([SEED, scale_csv], root, embedder, build_options)
    settings = Settings(index_dir=root)
    svc = QAService(settings, embedder, open_index(settings, embedder))
    yield svc
    svc.close()


def test_server_listens_on_loopback_only(milvus_server):
    import psutil

    port = int(milvus_server.rsplit(":", 1)[1])
    owners = [
        c.pid
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid
    ]
    assert owners, "nothing listens on the Milvus port"
    for pid in owners:
        addrs = listening_addresses(pid)
        assert addrs and all(a in ("127.0.0.1", "::ffff:127.0.0.1") for a in addrs), addrs


def test_seed_question_cites_ryabkov_and_matches_faiss(milvus_service, faiss_service):
    assert milvus_service.index.backend == "milvus"
    answer = milvus_service.ask(SEED_QUESTION)
    assert not answer.refused
    assert "Ryabkov" in answer.citations[0].text
    assert "convoys legitimate targets" in answer.citations[0].quote
    assert answer.citations[0].paragraph == 21
    # Milvus holds no attributed statements yet, so the seed question is read by the reader
    # there; the FAISS index's reader gives the same answer from the same paragraphs (its
    # service answers who-said questions from its statements table instead).
    hits = faiss_service.searcher.search(SEED_QUESTION, faiss_service.settings.reader_k).hits
    text, citations = faiss_service.answerer.compose(
        faiss_service.answerer.read(SEED_QUESTION, hits)
    )
    assert answer.answer == text
    assert [(c.chunk_id, c.paragraph, c.text, c.quote) for c in answer.citations] == [
        (c.chunk_id, c.paragraph, c.text, c.quote) for c in citations
    ]


def test_search_and_info_come_from_milvus(milvus_service, faiss_service):
    passages = milvus_service.search(SEED_QUESTION, k=5)
    assert passages[0].chunk_id == faiss_service.search(SEED_QUESTION, k=5)[0].chunk_id
    assert passages[0].dense_score is not None and passages[0].dense_score > 0.4
    info, local = milvus_service.info(), faiss_service.info()
    assert (info.articles, info.chunks, info.faiss_type) == (local.articles, local.chunks, "milvus")
    assert info.sources == local.sources
    assert info.date_range == local.date_range


def test_filters_are_milvus_expressions(milvus_service):
    from qa.response import Filters

    outlet = milvus_service.info().sources[0][0]
    hits = milvus_service.search("Russia weapons", k=8, filters=Filters(sources=[outlet.upper()]))
    assert hits and {p.source for p in hits} == {outlet}
    since, until = "2017-02-01", "2017-02-28"
    dated = milvus_service.search("Russia", k=8, filters=Filters(since=since, until=until))
    assert dated and all(since <= p.date[:10] <= until for p in dated)
    none = milvus_service.ask(SEED_QUESTION, filters=Filters(sources=["no-such-outlet.example"]))
    assert none.refused and "no article matches the filters" in none.notes
    # A value is a string literal in the expression, never expression syntax.
    sly = Filters(sources=['x"] or source_lc != ["x'], article_ids=['a" or row >= 0 or "'])
    assert milvus_service.search(SEED_QUESTION, k=5, filters=sly) == []


def _seed_copy(tmp: Path, extra: str) -> Path:
    text = SEED.read_text(encoding="utf-8")
    path = tmp / SEED.name  # same file name: the same article id
    path.write_text(text.rstrip() + "\n\n" + extra + "\n", encoding="utf-8")
    return path


def _spans(chunk):
    from index.annotate import decode_entities

    return decode_entities(chunk.entities) or []


def test_update_and_removal(milvus_server, tiny_csv, embedder, build_options, tmp_path):
    from index.milvus_store import build_milvus, update_milvus

    settings = _settings(milvus_server, "scale_update")
    target = settings.milvus_target()
    build_milvus([SEED, tiny_csv], target, embedder, build_options)
    svc = _service(settings, embedder)
    try:
        seed_id = svc.search(SEED_QUESTION, k=1)[0].article_id
        before = svc.info().chunks
        fact = "The quartermaster Zebulon Quillfeather counted forty-two armoured trains."
        changed = _seed_copy(tmp_path, fact)
        result = update_milvus(target, embedder, [changed], [], build_options)
        assert (result.changed_articles, result.new_articles) == (1, 0)
        hit = svc.search("Who counted armoured trains? Zebulon Quillfeather", k=1)[0]
        assert hit.article_id == seed_id and "Quillfeather" in hit.text
        assert "Quillfeather" in svc.index.store.article(seed_id).text
        # The replaced paragraphs are annotated by the update, as a build annotates.
        fresh = svc.searcher.search("Zebulon Quillfeather armoured trains", 1).hits[0].chunk
        assert any(fresh.text[s:e] == "Zebulon Quillfeather" for s, e, _ in _spans(fresh))
        assert result.chunks == before + (result.embedded_chunks - 7)  # the seed had 7
        # Unchanged content is not re-embedded.
        again = update_milvus(target, embedder, [changed], [], build_options)
        assert not again.published and again.embedded_chunks == 0
        removed = update_milvus(target, embedder, [], [seed_id], build_options)
        assert removed.removed_articles == 1
        assert all(p.article_id != seed_id for p in svc.search(SEED_QUESTION, k=10))
        assert svc.index.store.article(seed_id) is None
        from index.errors import ArticleNotFoundError

        with pytest.raises(ArticleNotFoundError):
            update_milvus(target, embedder, [], ["no-such-article"], build_options)
    finally:
        svc.close()


def test_killed_build_leaves_the_alias_on_the_old_collection(
    milvus_server, tiny_csv, embedder, build_options
):
    from index.milvus_store import build_milvus, live_collection

    settings = _settings(milvus_server, "scale_kill")
    target = settings.milvus_target()
    build_milvus([SEED], target, embedder, build_options)
    client = target.client()
    old = live_collection(client, target.alias)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ARCHIVE_QA_BACKEND": "milvus",
        "ARCHIVE_QA_MILVUS_URI": milvus_server,
        "ARCHIVE_QA_MILVUS_COLLECTION": target.alias,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ui.cli",
            "build",
            str(SEED),
            str(tiny_csv),
            "--fields",
            NEWS_FIELDS,
            "-q",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        new = None
        while new is None and time.monotonic() < deadline and proc.poll() is None:
            names = [n for n in client.list_collections() if n.startswith(target.alias + "__b")]
            new = next((n for n in names if n not in (old, old + "__articles")), None)
            time.sleep(0.01)
        assert new is not None, "the build never started writing a collection"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert live_collection(client, target.alias) == old
        svc = _service(settings, embedder)
        try:
            assert svc.index.collection == old
            answer = svc.ask(SEED_QUESTION)
            assert "Ryabkov" in answer.citations[0].text
        finally:
            svc.close()
        # The next build drops the leftover before writing its own.
        result = build_milvus([SEED], target, embedder, build_options)
        assert any("dropped" in n for n in result.notes)
        assert new not in client.list_collections()
    finally:
        if proc.poll() is None:
            proc.kill()
        client.close()


def test_info_command_shows_the_milvus_build(milvus_built, faiss_service):
    import json

    from index.annotate import PIPELINE
    from index.milvus_store import live_collection
    from tests.helpers import run_cli

    env = {
        "ARCHIVE_QA_BACKEND": "milvus",
        "ARCHIVE_QA_MILVUS_URI": milvus_built.milvus_uri,
        "ARCHIVE_QA_MILVUS_COLLECTION": milvus_built.milvus_collection,
    }
    client = milvus_built.milvus_target().client()
    try:
        collection = live_collection(client, milvus_built.milvus_collection)
    finally:
        client.close()
    done = run_cli("info", "--json", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    local = faiss_service.info()
    assert (data["backend"], data["alias"], data["collection"]) == (
        "milvus",
        "scale_main",
        collection,
    )
    assert (data["articles"], data["chunks"]) == (local.articles, local.chunks)
    assert [tuple(s) for s in data["sources"]] == local.sources
    assert local.statements > 0 and data["statements"] == 0
    assert "Milvus backend stores no attributed statements" in data["statements_note"]
    assert data["manifest"]["annotations"] == {"entities": PIPELINE}
    text = run_cli("info", env=env, timeout=120)
    assert text.returncode == 0, text.stderr
    assert f"alias scale_main -> {collection}" in text.stdout
    assert f"chunks {local.chunks:,}" in text.stdout
    assert f"annotated entities ({PIPELINE})" in text.stdout and "statements 0" in text.stdout


def test_time_bound_search_timelines_and_quotes_work_on_milvus(milvus_service, faiss_service):
    """What the time reading, the coverage chart and `quotes` ask of the store (undated
    articles, article dates, BM25 alone, statements) is answered by Milvus too."""
    found = milvus_service.search("Russia since February 2017", k=5)
    assert found and all(p.date and p.date[:10] >= "2017-02-01" for p in found)
    for query in ["", "Russia", "weapons convoys"]:
        on_milvus, local = milvus_service.timeline(query), faiss_service.timeline(query)
        assert on_milvus.articles > 0
        assert (on_milvus.articles, on_milvus.undated, on_milvus.bars) == (
            local.articles,
            local.undated,
            local.bars,
        ), query
    dated = milvus_service.timeline("Russia in February 2017")
    assert dated.time_range is not None and dated.articles > 0
    assert dated.articles == faiss_service.timeline("Russia in February 2017").articles
    assert milvus_service.quotes("weapons convoys") == []


def test_stored_vectors_are_read_back_for_same_event_matching(milvus_service):
    """`reported by` compares result paragraphs by their vectors: Milvus returns the stored
    ones (the same cosine the search scored), so nothing is embedded again."""
    import numpy as np

    hits = milvus_service.searcher.search(SEED_QUESTION, 6).hits
    vectors = milvus_service.index.vectors([h.chunk.row for h in hits])
    assert set(vectors) == {h.chunk.row for h in hits}
    query = milvus_service.searcher.embed_query(SEED_QUESTION)
    for h in hits:
        v = vectors[h.chunk.row]
        assert abs(float(np.linalg.norm(v)) - 1) < 1e-3
        if h.dense is not None:
            assert abs(float(v @ query) - h.dense) < 1e-4
    assert milvus_service.index.vectors([]) == {}


def test_chunks_carry_the_builds_entity_spans(milvus_service, faiss_service):
    """The reader's entities come from the build on Milvus too (not found per question):
    the same spans as the folder index stores for the same chunks."""
    from index.annotate import decode_entities

    hits = milvus_service.searcher.search(SEED_QUESTION, 8).hits
    local = faiss_service.index.store.chunks_by_ids([h.chunk.chunk_id for h in hits])
    assert set(local) == {h.chunk.chunk_id for h in hits}
    for h in hits:
        spans = decode_entities(h.chunk.entities)
        assert spans is not None and spans == decode_entities(local[h.chunk.chunk_id].entities)
    assert any(
        "Ryabkov" in h.chunk.text[s:e]
        for h in hits
        for s, e, _label in decode_entities(h.chunk.entities)
    )
