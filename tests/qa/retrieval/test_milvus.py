"""The Milvus backend against a real `milvus-lite server` on 127.0.0.1 (session fixture):
the seed question (from attributed statements), `quotes`, filters, an update, a removal
and a build killed mid-way, on a small real subset (the seed + about 30 NewsArticles
articles)."""

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


def _cited(citations):
    return [
        (c.article_id, c.chunk_id, c.paragraph, c.text, c.quote, c.quote_start, c.quote_end)
        for c in citations
    ]


def test_seed_question_is_answered_from_statements_as_on_faiss(milvus_service, faiss_service):
    assert milvus_service.index.backend == "milvus"
    assert milvus_service.statements.available
    answer = milvus_service.ask(SEED_QUESTION)
    assert not answer.refused
    assert any(n.startswith("answered from") and "statements" in n for n in answer.notes)
    first = answer.citations[0]
    assert "convoys legitimate targets" in first.quote and first.paragraph == 21
    assert first.text[first.quote_start : first.quote_end] == first.quote  # verbatim
    assert first.verified
    line = answer.answer.splitlines()[0]
    assert line.startswith("- Sergei Ryabkov (Deputy foreign minister)") and "[1]" in line
    for c in answer.citations:
        assert c.text[c.quote_start : c.quote_end] == c.quote
    # The same speakers, statements and citations as the folder index's statements table.
    local = faiss_service.ask(SEED_QUESTION)
    assert answer.answer == local.answer
    assert _cited(answer.citations) == _cited(local.citations)


def test_the_reader_on_milvus_reads_as_on_faiss(milvus_service, faiss_service):
    """Questions that are not who-said ones go to the reader: the same answer from the same
    paragraphs on both backends (asked here directly, for the seed question)."""
    answers = []
    for svc in (milvus_service, faiss_service):
        hits = svc.searcher.search(SEED_QUESTION, svc.settings.reader_k).hits
        answers.append(svc.answerer.compose(svc.answerer.read(SEED_QUESTION, hits)))
    (text, citations), (local_text, local_citations) = answers
    assert "Ryabkov" in citations[0].text and "convoys legitimate targets" in citations[0].quote
    assert text == local_text
    assert [(c.chunk_id, c.paragraph, c.text, c.quote) for c in citations] == [
        (c.chunk_id, c.paragraph, c.text, c.quote) for c in local_citations
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
        store = svc.index.store
        seed_said = [s for s in store.find_statements(limit=10_000) if s.article_id == seed_id]
        assert any("ryabkov" in s.normalized.lower() for s in seed_said)
        said_before = svc.info().statements
        fact = (
            "The quartermaster Zebulon Quillfeather counted forty-two armoured trains. "
            "“Every one of them is ready to leave,” Quillfeather said."
        )
        changed = _seed_copy(tmp_path, fact)
        result = update_milvus(target, embedder, [changed], [], build_options)
        assert (result.changed_articles, result.new_articles) == (1, 0)
        # The changed article's statements are replaced (not added twice), the new one found.
        svc.index.refresh()
        quill = store.find_statements(speaker="quillfeather")
        assert [(s.article_id, s.normalized, s.statement) for s in quill] == [
            (seed_id, "Zebulon Quillfeather", "Every one of them is ready to leave")
        ]
        now_seed = [s for s in store.find_statements(limit=10_000) if s.article_id == seed_id]
        assert len(now_seed) == len(seed_said) + 1
        assert svc.info().statements == said_before + 1
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
        # Its statements went with it.
        svc.index.refresh()
        left = store.find_statements(limit=10_000)
        assert left and all(s.article_id != seed_id for s in left)
        assert store.find_statements(speaker="quillfeather") == []
        assert svc.info().statements == len(left) == said_before - len(seed_said)
        from index.errors import ArticleNotFoundError

        with pytest.raises(ArticleNotFoundError):
            update_milvus(target, embedder, [], ["no-such-article"], build_options)
    finally:
        svc.close()


def test_killed_build_leaves_the_alias_on_the_old_collection(
    milvus_server, tiny_csv, embedder, build_options, tmp_path
):
    from index.milvus_store import (
        articles_collection,
        build_milvus,
        live_collection,
        statements_collection,
        update_milvus,
    )

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
            mine = (old, articles_collection(old), statements_collection(old))
            new = next((n for n in names if n not in mine), None)
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
            # The killed build dropped no collection of the live build: its statements answer.
            assert any(n.startswith("answered from") for n in answer.notes)
        finally:
            svc.close()
        # The next build drops the leftover before writing its own.
        result = build_milvus([SEED], target, embedder, build_options)
        assert any("dropped" in n for n in result.notes)
        assert new not in client.list_collections()
        assert statements_collection(new) not in client.list_collections()
        # A build published before statements were stored on Milvus (no such collection)
        # still answers, by the reader, takes updates, and `info` says to rebuild it.
        live = live_collection(client, target.alias)
        client.drop_collection(statements_collection(live))
        svc = _service(settings, embedder)
        try:
            assert not svc.statements.available
            answer = svc.ask(SEED_QUESTION)
            assert not answer.refused and "Ryabkov" in answer.citations[0].text
            assert not any(n.startswith("answered from") for n in answer.notes)
            info = svc.info()
            assert info.statements == 0 and "rebuild" in info.statements_note
            assert svc.quotes(speaker="Ryabkov") == []
            ferry = _seed_copy(tmp_path, "The ferry left at noon.")
            done = update_milvus(target, embedder, [ferry], [], build_options)
            assert done.changed_articles == 1
            assert statements_collection(live) not in client.list_collections()
            seed_id = answer.citations[0].article_id
            assert "The ferry left at noon." in svc.index.store.article(seed_id).text
        finally:
            svc.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        client.close()


def test_info_command_shows_the_milvus_build(milvus_built, faiss_service):
    import json

    from index.annotate import PIPELINE
    from index.milvus_store import live_collection
    from index.quotes import EXTRACTOR
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
    assert local.statements > 0
    assert (data["statements"], data["speakers"]) == (local.statements, local.speakers)
    assert data["statements_note"] is None
    assert data["manifest"]["annotations"] == {"entities": PIPELINE, "statements": EXTRACTOR}
    text = run_cli("info", env=env, timeout=120)
    assert text.returncode == 0, text.stderr
    assert f"alias scale_main -> {collection}" in text.stdout
    assert f"chunks {local.chunks:,}" in text.stdout
    assert f"annotated entities ({PIPELINE})" in text.stdout
    assert f"statements {local.statements:,}   speakers {local.speakers:,}" in text.stdout
    assert "note      statements" not in text.stdout


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


def _said(quotes):
    return [
        (q.normalized, q.speaker, q.verb, q.statement, q.date, q.source, q.citation.chunk_id)
        for q in quotes
    ]


def test_quotes_on_milvus_are_the_folders(milvus_service, faiss_service):
    """`quotes` (CLI, API, page, MCP) reads the statements collection: the same statements
    as the folder's table, ranked the same; a speaker is a case-insensitive part of a
    name; outlet and date filters are expressions there too."""
    from qa.response import Filters

    about = milvus_service.quotes("weapons convoys")
    # Candidates come from each backend's own hybrid search (40 paragraphs), whose tails
    # differ (RRF over Milvus's BM25, not bm25s): the best statements are the same.
    assert about and _said(about)[:5] == _said(faiss_service.quotes("weapons convoys"))[:5]
    ryabkov = milvus_service.quotes(speaker="Ryabkov", limit=200)
    assert ryabkov and all("ryabkov" in q.normalized.lower() for q in ryabkov)
    # Newest first; one day's statements in article and paragraph order on Milvus (its rows
    # are hashes, not the folder's build order).
    assert sorted(_said(ryabkov)) == sorted(
        _said(faiss_service.quotes(speaker="Ryabkov", limit=200))
    )
    order = [(q.date or "", q.citation.article_id, q.citation.paragraph) for q in ryabkov]
    assert [o[0] for o in order] == sorted((o[0] for o in order), reverse=True)
    assert all(a[1:] <= b[1:] for a, b in zip(order, order[1:]) if a[0] == b[0])
    assert _said(milvus_service.quotes(speaker="rYABKOV", limit=200)) == _said(ryabkov)
    for q in ryabkov:
        c = q.citation
        assert c.text[c.quote_start : c.quote_end] == q.statement
    store = milvus_service.index.store
    everyone = store.find_statements(limit=100_000)
    assert len(everyone) == milvus_service.info().statements == faiss_service.info().statements
    assert {s.normalized for s in everyone} > {q.normalized for q in ryabkov}
    outlet = ryabkov[0].source
    by_outlet = milvus_service.quotes(
        speaker="Ryabkov", filters=Filters(sources=[outlet.upper()]), limit=200
    )
    assert by_outlet and {q.source for q in by_outlet} == {outlet}
    dates = sorted(q.date for q in ryabkov if q.date)
    since = dates[len(dates) // 2][:10]
    window = Filters(since=since, until="2099-12-31")
    later = milvus_service.quotes(speaker="Ryabkov", filters=window, limit=200)
    assert later and all(q.date[:10] >= since for q in later)
    local = faiss_service.quotes(speaker="Ryabkov", filters=window, limit=200)
    assert sorted(_said(later)) == sorted(_said(local))
    # A speaker is a value, never expression or `like` syntax.
    assert store.find_statements(speaker='" or row >= 0 or "') == []
    assert store.find_statements(speaker="%") == []
    assert store.find_statements(speaker="Ryabkov", rows=[]) == []


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


def test_a_copied_folder_build_keeps_its_statements(milvus_server, faiss_service, embedder):
    """`publish_from_index` (the backend comparison's copy) carries the folder's
    statements over as it carries vectors and entities: nothing is parsed again, and the
    copy lists the same statements."""
    from dataclasses import astuple, replace

    from index.builder import BuildOptions
    from index.milvus_store import MilvusTarget, publish_from_index

    root = faiss_service.settings.index_dir
    options = BuildOptions(progress=False)
    result = publish_from_index(root, MilvusTarget(milvus_server, "scale_copy"), embedder, options)
    assert "statements" not in result.timings  # found by the folder's build, not here
    settings = _settings(milvus_server, "scale_copy")
    svc = _service(settings, embedder)
    try:
        local = faiss_service.index.store.find_statements(limit=100_000)
        copied = svc.index.store.find_statements(limit=100_000)

        def said(statements):  # (rows differ: the folder's build order, Milvus's hashes)
            return sorted(
                astuple(replace(s, row=0, date=s.date or "", source=s.source or ""))
                for s in statements
            )

        assert copied and said(copied) == said(local)
        info, local_info = svc.info(), faiss_service.info()
        assert (info.statements, info.speakers) == (local_info.statements, local_info.speakers)
        assert info.statements_note is None
    finally:
        svc.close()
