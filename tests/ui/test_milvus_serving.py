"""The HTTP API on the Milvus backend (a real milvus-lite server and a real uvicorn server
on 127.0.0.1): it answers the seed question, and a full rebuild published while
questions keep coming loses none of them and is picked up without a restart."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.helpers import NEWS_FIELDS, SEED, SEED_QUESTION, running

pytest.importorskip("pymilvus")


class SeedAskers:
    """Threads asking the seed question in a closed loop while the block runs; every
    reply that is not a 200 naming Ryabkov (or no reply at all) is a failure."""

    def __init__(self, url: str, threads: int) -> None:
        self.url = url
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.answered = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._ask) for _ in range(threads)]

    def _ask(self) -> None:
        with httpx.Client(base_url=self.url, timeout=120) as client:
            while not self.stop.is_set():
                try:
                    r = client.post("/api/ask", json={"question": SEED_QUESTION})
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if r.status_code != 200 or "Ryabkov" not in r.text:
                    self.failures.append(f"{r.status_code}: {r.text[:200]}")
                else:
                    with self._lock:
                        self.answered += 1

    def __enter__(self) -> SeedAskers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(60)


def test_api_on_milvus_survives_a_rebuild(milvus_server, tiny_csv, embedder, build_options):
    from index.milvus_store import build_milvus
    from qa.service import QAService, open_index
    from qa.settings import Settings
    from ui.server import create_app

    settings = Settings(
        backend="milvus",
        milvus_uri=milvus_server,
        milvus_collection="scale_serve",
        reload_seconds=0.2,
        csv_fields=NEWS_FIELDS,
    )
    target = settings.milvus_target()
    build_milvus([SEED], target, embedder, build_options)
    service = QAService(settings, embedder, open_index(settings, embedder))
    app = create_app(settings, service=service)
    with running(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        health = http.get("/api/health").json()
        assert health["status"] == "ok" and health["articles"] == 1
        first = http.post("/api/ask", json={"question": SEED_QUESTION}).json()
        assert "Ryabkov" in first["citations"][0]["text"]
        # Answered from the build's attributed statements, as on the folder backend.
        assert first["answer"].startswith("- Sergei Ryabkov (Deputy foreign minister)")
        _assert_quotes(http, 1)
        with SeedAskers(url, 1) as askers:
            build_milvus([SEED, tiny_csv], target, embedder, build_options)
            for _ in range(200):
                if http.get("/api/health").json()["articles"] == 5:
                    break
                askers.stop.wait(0.1)
        assert http.get("/api/health").json()["articles"] == 5
        _assert_quotes(http, 5)  # the server reads the new build's statements
    assert askers.answered > 0 and not askers.failures, askers.failures[:3]


def _assert_quotes(http: httpx.Client, articles: int) -> None:
    """`POST /api/quotes` on Milvus: a speaker's statements, each cited verbatim, from the
    build the server has open (`articles` of them)."""
    said = http.post("/api/quotes", json={"speaker": "ryabkov", "limit": 200})
    assert said.status_code == 200, said.text
    found = said.json()
    assert found and all("ryabkov" in q["normalized"].lower() for q in found)
    for q in found:
        c = q["citation"]
        assert c["text"][c["quote_start"] : c["quote_end"]] == q["statement"]
    assert http.get("/api/health").json()["articles"] == articles


def test_api_on_milvus_keeps_answering_while_an_update_publishes(
    milvus_server, tiny_csv, embedder, build_options, tmp_path
):
    """`archive-qa update` changes the live collections in place (no alias move): questions
    asked meanwhile all succeed, the new article is answered, and the server's counts,
    outlets and newest date follow the update without a restart."""
    import json
    import time

    from index.milvus_store import build_milvus
    from qa.service import QAService, open_index
    from qa.settings import Settings
    from tests.helpers import run_cli
    from ui.server import create_app

    alias = "scale_serve_update"
    settings = Settings(
        backend="milvus",
        milvus_uri=milvus_server,
        milvus_collection=alias,
        reload_seconds=0.2,
        csv_fields=NEWS_FIELDS,
    )
    build_milvus([SEED, tiny_csv], settings.milvus_target(), embedder, build_options)
    extra = tmp_path / "lighthouse.txt"
    extra.write_text(
        "Qelmira lighthouse keeper retires after forty years\nsource: Test Wire\n"
        "date: 2023-02-01\n\n"
        "The Qelmira lighthouse keeper, Orsolya Vantrebb, switched off the lamp for the last "
        "time on Sunday after forty years of service on the island.",
        encoding="utf-8",
    )
    service = QAService(settings, embedder, open_index(settings, embedder))
    app = create_app(settings, service=service)
    with running(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        before = http.get("/api/health").json()
        assert before["articles"] == 5
        with SeedAskers(url, 2) as askers:
            env = {
                "ARCHIVE_QA_BACKEND": "milvus",
                "ARCHIVE_QA_MILVUS_URI": milvus_server,
                "ARCHIVE_QA_MILVUS_COLLECTION": alias,
            }
            done = run_cli("update", str(extra), "--quiet", "--json", env=env, timeout=300)
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout)["new_articles"] == 1
            deadline = time.monotonic() + 60
            while (health := http.get("/api/health").json())["articles"] != 6:
                assert time.monotonic() < deadline, f"the server kept its old counts: {health}"
                time.sleep(0.2)
            assert health["build_id"] == before["build_id"]  # the same build, updated in place
            assert health["chunks"] > before["chunks"]
            assert ["Test Wire", 1] in health["sources"]
            assert health["date_range"][1] == "2023-02-01"
            # "last week" now counts from the new newest article.
            assert service.searcher.reference_date() == "2023-02-01"
            new = http.post(
                "/api/ask", json={"question": "Who is the Qelmira lighthouse keeper?"}
            ).json()
            assert not new["refused"], new["notes"]
            assert new["citations"][0]["title"].startswith("Qelmira lighthouse keeper")
            assert "Vantrebb" in new["answer"]
            time.sleep(1.0)  # the load goes on after the update too
    assert askers.answered > 2 and not askers.failures, askers.failures[:3]
