"""`archive-qa quotes` and `POST /api/quotes` over the session's real index."""

from __future__ import annotations

import json

import httpx
import pytest

from qa.settings import Settings
from tests.helpers import run_cli, running
from ui.server import create_app


@pytest.fixture(scope="module")
def http(service, news_index):
    app = create_app(Settings(index_dir=news_index), service=service)
    with running(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        yield client


def test_api_quotes_lists_cited_statements(http):
    r = http.post("/api/quotes", json={"query": "weapons convoys", "limit": 5})
    assert r.status_code == 200, r.text
    quotes = r.json()
    assert quotes and "Ryabkov" in quotes[0]["normalized"]
    c = quotes[0]["citation"]
    assert c["text"][c["quote_start"] : c["quote_end"]] == quotes[0]["statement"] == c["quote"]
    r = http.post("/api/quotes", json={"speaker": "Ryabkov", "filters": {"sources": ["tass.com"]}})
    assert r.status_code == 200 and r.json()
    assert {q["source"] for q in r.json()} == {"tass.com"}


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({}, 400, "query, a speaker"),
        ({"speaker": "Ryabkov", "filters": {"sources": ["nowhere.example"]}}, 400, "nowhere"),
        ({"speaker": "Ryabkov", "limit": 0}, 422, ""),
        ({"speaker": "Ryabkov", "bogus": 1}, 422, ""),
    ],
)
def test_api_quotes_bad_requests_get_a_clear_json_error(http, body, status, words):
    r = http.post("/api/quotes", json=body)
    assert r.status_code == status and words in r.json()["error"]


def test_cli_quotes_and_info(news_index):
    out = run_cli("quotes", "weapons convoys", "--index", str(news_index), "--json", "-n", "3")
    assert out.returncode == 0, out.stderr
    quotes = json.loads(out.stdout)
    assert quotes and "Ryabkov" in quotes[0]["normalized"]
    out = run_cli("quotes", "--speaker", "Ryabkov", "--index", str(news_index))
    assert out.returncode == 0 and "Ryabkov" in out.stdout and "“" in out.stdout
    out = run_cli("quotes", "--index", str(news_index))
    assert out.returncode != 0 and "query, a speaker" in (out.stdout + out.stderr)
    out = run_cli("info", "--index", str(news_index))
    assert out.returncode == 0 and "statements" in out.stdout and "speakers" in out.stdout


@pytest.fixture(scope="module")
def page_base(service, news_index):
    app = create_app(Settings(index_dir=news_index, mcp_server=True), service=service)
    with running(app) as url:
        yield url


def test_the_page_serves_quotes_to_gradio_client_and_mcp(page_base):
    from gradio_client import Client

    client = Client(page_base + "/", verbose=False)
    found = client.predict("weapons convoys", "Ryabkov", api_name="/quotes")
    assert found and all("ryabkov" in q["normalized"].lower() for q in found)
    c = found[0]["citation"]
    assert c["text"][c["quote_start"] : c["quote_end"]] == found[0]["statement"]
    r = httpx.get(page_base + "/gradio_api/mcp/schema", timeout=60)
    assert r.status_code == 200 and "quotes" in {t["name"] for t in r.json()}
