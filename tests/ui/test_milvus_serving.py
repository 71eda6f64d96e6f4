"""The HTTP API on the Milvus backend (a real milvus-lite server and a real uvicorn server
on 127.0.0.1): it answers the seed question, and a full rebuild published while
questions keep coming loses none of them and is picked up without a restart."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.helpers import NEWS_FIELDS, SEED, SEED_QUESTION, running

pytest.importorskip("pymilvus")


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
    failures: list[str] = []
    answered = 0
    stop = threading.Event()
    with running(app) as url, httpx.Client(base_url=url, timeout=120) as http:
        health = http.get("/api/health").json()
        assert health["status"] == "ok" and health["articles"] == 1
        first = http.post("/api/ask", json={"question": SEED_QUESTION}).json()
        assert "Ryabkov" in first["citations"][0]["text"]

        def ask_forever() -> None:
            nonlocal answered
            with httpx.Client(base_url=url, timeout=120) as client:
                while not stop.is_set():
                    r = client.post("/api/ask", json={"question": SEED_QUESTION})
                    if r.status_code != 200 or "Ryabkov" not in r.text:
                        failures.append(f"{r.status_code}: {r.text[:200]}")
                    else:
                        answered += 1

        worker = threading.Thread(target=ask_forever)
        worker.start()
        try:
            build_milvus([SEED, tiny_csv], target, embedder, build_options)
            for _ in range(200):
                if http.get("/api/health").json()["articles"] == 5:
                    break
                stop.wait(0.1)
        finally:
            stop.set()
            worker.join(60)
        assert http.get("/api/health").json()["articles"] == 5
    assert answered > 0 and not failures, failures[:3]
