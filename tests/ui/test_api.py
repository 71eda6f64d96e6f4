"""The HTTP API, gradio_client and the server's guards, against a real server on 127.0.0.1.

Servers run uvicorn in a thread on a free port, over the session's real index (seed +
real archive subset) and the session's loaded service.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from qa.settings import Settings
from tests.helpers import ROOT, SEED_QUESTION, free_port, running
from ui.server import create_app


@pytest.fixture(scope="module")
def base(service, news_index):
    app = create_app(Settings(index_dir=news_index), service=service)
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def http(base):
    with httpx.Client(base_url=base, timeout=120) as client:
        yield client


def test_health_reports_the_index(http, service):
    r = http.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    info = service.info()
    assert body["status"] == "ok"
    assert (body["articles"], body["chunks"]) == (info.articles, info.chunks)
    assert body["model"] == info.model
    assert ["tass.com", dict(info.sources)["tass.com"]] in body["sources"]


def test_ask_returns_the_cited_answer(http):
    r = http.post("/api/ask", json={"question": SEED_QUESTION})
    assert r.status_code == 200, r.text
    a = r.json()
    assert "Ryabkov" in a["answer"] and "[1]" in a["answer"]
    c = a["citations"][0]
    assert c["title"].startswith("Captured Russian soldier")
    assert c["paragraph"] == 21
    assert c["text"][c["quote_start"] : c["quote_end"]] == c["quote"]
    assert set(a["timings"]) >= {"retrieve_ms", "generate_ms", "total_ms"}


def test_stream_sends_tokens_then_the_answer(http):
    events: list[tuple[str, dict]] = []
    with http.stream("POST", "/api/ask/stream", json={"question": SEED_QUESTION}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line.split(":", 1)[1])))
    kinds = [e for e, _ in events]
    assert kinds[-1] == "answer" and kinds.count("answer") == 1
    assert kinds[:-1] and set(kinds[:-1]) == {"token"}
    answer = events[-1][1]
    assert "".join(d["text"] for _, d in events[:-1]) == answer["answer"]
    assert answer["citations"] and "Ryabkov" in answer["citations"][0]["text"]


def test_search_ranks_paragraphs_and_applies_filters(http):
    r = http.post("/api/search", json={"query": "Ryabkov weapons convoys", "k": 5})
    assert r.status_code == 200
    hits = r.json()
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert any("Ryabkov" in h["text"] for h in hits)
    r = http.post(
        "/api/search",
        json={"query": "Ryabkov", "k": 5, "filters": {"sources": ["TASS.com"]}},
    )
    assert r.status_code == 200 and r.json()
    assert {h["source"] for h in r.json()} == {"tass.com"}


def test_ask_with_filters_keeps_to_them(http):
    r = http.post(
        "/api/ask",
        json={
            "question": "What did Ryabkov say?",
            "filters": {"sources": ["tass.com"], "since": "2017-02-10", "until": "2017-03-31"},
        },
    )
    assert r.status_code == 200, r.text
    a = r.json()
    cited = a["citations"] + a["related"]
    assert cited
    for c in cited:
        assert c["source"] == "tass.com"
        assert "2017-02-10" <= c["date"][:10] <= "2017-03-31"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"question": "   "}, 400, "empty"),
        ({"question": "x" * 2001}, 413, "limit"),
        (
            {"question": "q", "filters": {"sources": ["no-such-outlet.example"]}},
            400,
            "unknown outlet",
        ),
        ({"question": "q", "filters": {"since": "last tuesdayish"}}, 400, "not a date"),
        (
            {"question": "q", "filters": {"since": "2017-01-02", "until": "2016-01-01"}},
            400,
            "after",
        ),
        ({"question": "q", "filters": {"outlet": ["tass.com"]}}, 422, "filters.outlet"),
        ({"question": "q", "k": 0}, 422, "k"),
        ({"qestion": "typo"}, 422, "question"),
        ({"question": "q", "history": [{"question": "a", "answer": "b"}] * 21}, 413, "history"),
    ],
)
def test_bad_requests_get_a_clear_json_error(http, body, status, words):
    r = http.post("/api/ask", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]


def test_history_is_accepted(http):
    r = http.post(
        "/api/ask",
        json={
            "question": SEED_QUESTION,
            "history": [{"question": "Who is Ryabkov?", "answer": "A deputy foreign minister."}],
        },
    )
    assert r.status_code == 200 and r.json()["citations"]


def test_openapi_docs_list_the_routes(http):
    assert http.get("/docs").status_code == 200
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/search", "/api/health"} <= set(paths)


def test_web_component_script_is_served_locally(http):
    r = http.get("/gradio.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    asset = r.text.split('import("./', 1)[1].split('"', 1)[0]
    assert http.get("/" + asset).status_code == 200


def test_gradio_client_calls_the_named_endpoint(base):
    from gradio_client import Client

    client = Client(base + "/", verbose=False)
    answer = client.predict(SEED_QUESTION, api_name="/ask")
    assert "Ryabkov" in answer["answer"] and answer["citations"][0]["paragraph"] == 21
    hits = client.predict("Ryabkov convoys", ["tass.com"], api_name="/search")
    assert hits and hits[0]["rank"] == 1
    assert {h["source"] for h in hits} == {"tass.com"}


# --- an API key, CORS allow-list and the MCP switch ---------------------------------

KEY = "s3cret-test-key"
PORTAL = "http://portal.example"


@pytest.fixture(scope="module")
def guarded(service, news_index):
    settings = Settings(index_dir=news_index, api_key=KEY, cors_origins=PORTAL, mcp_server=True)
    with running(create_app(settings, service=service)) as url:
        yield url


def test_api_key_protects_api_and_page(guarded):
    with httpx.Client(base_url=guarded, timeout=60) as c:
        for path in ("/api/health", "/", "/config", "/gradio_api/info"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert "API key" in r.json()["error"]
        assert c.post("/api/ask", json={"question": SEED_QUESTION}).status_code == 401
        assert c.get("/api/health", headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/api/health", headers={"X-API-Key": KEY}).status_code == 200
        r = c.post(
            "/api/ask",
            json={"question": SEED_QUESTION},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert r.status_code == 200 and "Ryabkov" in r.json()["answer"]


def test_browser_login_with_the_key_sets_a_cookie(guarded):
    with httpx.Client(base_url=guarded, timeout=60) as c:
        r = c.get("/?api_key=" + KEY)
        assert r.status_code == 303 and "api_key" not in r.headers["location"]
        assert c.cookies.get("archive_qa_key") == KEY
        assert c.get("/").status_code == 200
        assert c.get("/api/health").status_code == 200
    with httpx.Client(base_url=guarded, timeout=60) as c:
        assert c.get("/?api_key=nope").status_code == 401


def test_cors_allows_only_listed_origins(guarded):
    with httpx.Client(base_url=guarded, timeout=60) as c:
        pre = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
        }
        ok = c.options("/api/ask", headers={"Origin": PORTAL, **pre})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == PORTAL
        bad = c.options("/api/ask", headers={"Origin": "http://evil.example", **pre})
        assert "access-control-allow-origin" not in bad.headers
        r = c.get("/api/health", headers={"Origin": PORTAL, "X-API-Key": KEY})
        assert r.headers["access-control-allow-origin"] == PORTAL


def test_mcp_server_lists_the_ask_tool(guarded):
    r = httpx.get(guarded + "/gradio_api/mcp/schema", headers={"X-API-Key": KEY}, timeout=60)
    assert r.status_code == 200, r.text
    names = {t["name"] for t in r.json()}
    assert {"ask", "search"} <= names


# --- no index: readable errors, and the server keeps serving ---------------------------


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    missing = tmp_path_factory.mktemp("empty") / "no-index-here"
    with running(create_app(Settings(index_dir=missing))) as url:
        yield url


def test_missing_index_is_a_503_with_the_reason(broken):
    with httpx.Client(base_url=broken, timeout=60) as c:
        for _ in range(2):  # and again: the server still answers
            r = c.get("/api/health")
            assert r.status_code == 503
            assert "no-index-here" in r.json()["error"]
            r = c.post("/api/ask", json={"question": SEED_QUESTION})
            assert r.status_code == 503 and "Traceback" not in r.text
        page = c.get("/")
        assert page.status_code == 200


# --- the real command --------------------------------------------------------------


def test_serve_command_starts_the_server(news_index):
    port = free_port()
    env = {**os.environ, "ARCHIVE_QA_VERIFY_CHECKSUMS": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "serve", "--index", str(news_index), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "archive-qa serve did not come up"
                time.sleep(0.5)
        assert r.status_code == 200 and r.json()["chunks"] > 1000
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- a failure inside the service: JSON error, no traceback, still serving --------------


@pytest.fixture(scope="module")
def failing(tmp_path_factory, embedder, build_options):
    """A real service whose index has been closed under it, so every query fails."""
    from index.archive import ArchiveIndex
    from index.builder import build_index
    from qa.service import QAService
    from tests.helpers import SEED

    root = tmp_path_factory.mktemp("closed-index") / "index"
    build_index([SEED], root, embedder, build_options)
    settings = Settings(index_dir=root)
    svc = QAService(settings, embedder, ArchiveIndex.open(root))
    svc.close()
    with running(create_app(settings, service=svc)) as url:
        yield url


def test_an_internal_failure_is_a_json_500_and_the_server_keeps_serving(failing):
    with httpx.Client(base_url=failing, timeout=60) as c:
        r = c.post("/api/ask", json={"question": SEED_QUESTION})
        assert r.status_code == 500
        assert r.json()["error"].startswith("internal error (")
        assert "Traceback" not in r.text
        with c.stream("POST", "/api/ask/stream", json={"question": SEED_QUESTION}) as s:
            body = "".join(s.iter_text())
        assert "event: error" in body and "internal error" in body
        assert c.get("/docs").status_code == 200


def test_timeline_route_counts_articles(http, service):
    r = http.post("/api/timeline", json={"query": "Ryabkov", "by": "month"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == service.timeline("Ryabkov", "month").model_dump(mode="json")
    assert body["bars"] and {"period", "outlet", "count"} <= set(body["bars"][0])
    assert http.post("/api/timeline", json={"query": "x", "by": "year"}).status_code == 422
    whole = http.post("/api/timeline", json={}).json()
    assert whole["articles"] + whole["undated"] == service.info().articles


def test_ask_takes_a_reference_date_and_reports_the_range(http):
    r = http.post(
        "/api/ask", json={"question": "What happened in Syria last month?", "now": "2017-03-15"}
    )
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["time_range"]["since"] == "2017-02-01" and a["time_range"]["until"] == "2017-02-28"
    assert all(c["label"] for c in a["citations"])
    bad = http.post("/api/ask", json={"question": "What happened in Syria?", "now": "soon"})
    assert bad.status_code == 400 and "not a date" in bad.json()["error"]
