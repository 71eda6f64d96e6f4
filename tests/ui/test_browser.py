"""The page, the portal example and untrusted articles, in Debian's real Chromium.

Screenshots go to artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from qa.settings import Settings
from tests.helpers import ARTIFACTS, ROOT, SEED, SEED_QUESTION, browser, free_port, running
from ui.server import create_app

TIMEOUT = 60_000  # ms; the machine is shared and slow


@pytest.fixture(scope="module")
def portal_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def portal(portal_port):
    """examples/ served from another origin, as a portal would be."""
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "examples")
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", portal_port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{portal_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def base(service, news_index, portal_port):
    settings = Settings(index_dir=news_index, cors_origins=f"http://127.0.0.1:{portal_port}")
    with running(create_app(settings, service=service)) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1300, "height": 950})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT)
    yield pg
    context.close()


def ask_in_page(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()


def test_seed_question_answers_with_a_citation_and_opens_the_source(page, base):
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            None
            if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else outside.append(r.url)
        ),
    )
    page.goto(base + "/")
    page.locator("#status").get_by_text("articles").wait_for()
    assert "chunks" in page.locator("#status").inner_text()
    ask_in_page(page, SEED_QUESTION)
    cite = page.locator("#chat a.cite").first
    cite.wait_for()
    assert "Ryabkov" in page.locator("#chat").inner_text()
    card = page.locator("#src-1")
    mark = card.locator("mark")
    assert "Captured Russian soldier" in card.locator(".headline").inner_text()
    assert "paragraph 21" in card.inner_text()
    assert not mark.is_visible()  # closed until its [1] is clicked
    cite.click()
    mark.wait_for(state="visible")
    assert card.evaluate("e => e.open && e.classList.contains('active')")
    assert "legitimate targets" in mark.inner_text()
    page.screenshot(path=str(ARTIFACTS / "page-answer.png"), full_page=True)
    assert outside == []  # no CDN, no web fonts: the page works offline


def test_an_earlier_answers_marker_opens_its_own_source(page, base):
    """The panel shows the newest answer's sources; an older [1] must not open those."""
    page.goto(base + "/")
    page.locator("#status").get_by_text("articles").wait_for()
    ask_in_page(page, SEED_QUESTION)
    page.locator("#chat div.answer.turn-0 a.cite").first.wait_for()
    ask_in_page(page, "What happened at the Turkish embassy in Moscow?")
    page.locator("#sources .sources.turn-1").wait_for()
    first = page.locator("#chat div.answer.turn-0")
    first.locator("a.cite").first.click()
    item = first.locator(".turn-sources li").first
    item.wait_for(state="visible")
    assert item.evaluate("e => e.classList.contains('active')")
    assert "Captured Russian soldier" in item.inner_text()
    assert "paragraph 21" in item.inner_text()
    assert page.locator("#sources details.source.active").count() == 0
    newest = page.locator("#chat div.answer.turn-1 a.cite").first
    if newest.count():  # the newest answer's [n] still opens the panel's card
        newest.click()
        page.locator("#sources details.source.active").wait_for()


def test_errors_show_in_the_page_and_clear_resets(page, base):
    page.goto(base + "/")
    page.locator("#status").get_by_text("articles").wait_for()
    page.locator("#filters").get_by_text("Filters").first.click()
    page.locator("#since textarea, #since input").first.fill("sometime soon")
    ask_in_page(page, SEED_QUESTION)
    error = page.locator("#chat .error")
    error.wait_for()
    assert "not a date" in error.inner_text()
    assert "Traceback" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "page-error.png"), full_page=True)
    page.locator("#since textarea, #since input").first.fill("")
    ask_in_page(page, SEED_QUESTION)  # the server still serves
    page.locator("#chat a.cite").first.wait_for()
    page.locator("#clear").click()
    page.locator("#chat a.cite").first.wait_for(state="detached")
    assert "Sources of the answer appear here" in page.locator("#sources").inner_text()
    outlets = page.locator("#outlets input")  # choices come from the index
    outlets.click()
    outlets.fill("tass")
    page.keyboard.press("Enter")
    ask_in_page(page, "What did Ryabkov say?")
    page.locator("#sources details.source").first.wait_for()
    metas = page.locator("#sources .meta").all_inner_texts()
    assert metas and all(m.startswith("tass.com, ") for m in metas)


def test_portal_example_asks_embeds_the_page_and_the_web_component(page, base, portal):
    page.goto(f"{portal}/portal.html?server={base}")
    page.locator("#portal-form button").click()
    page.locator("#portal-answer a").first.wait_for()
    assert "Ryabkov" in page.locator("#portal-answer").inner_text()
    first = page.locator("#portal-sources li").first
    assert "paragraph 21" in first.inner_text()
    assert "legitimate targets" in first.locator("mark").inner_text()
    frame = page.frame_locator("#qa-frame")
    frame.locator("#question textarea").wait_for()
    frame.locator("#status").get_by_text("articles").wait_for()
    component = page.locator("gradio-app")
    component.scroll_into_view_if_needed()  # Gradio renders a web component once it is in view
    component.locator("#question textarea").wait_for()
    component.locator("#question textarea").fill(SEED_QUESTION)
    component.locator("#ask").click()
    component.locator("#chat a.cite").first.click()
    component.locator("#src-1 mark").wait_for(state="visible")  # [n] works in the component too
    assert "Ryabkov" in component.locator("#chat").inner_text()
    assert page.url.startswith(portal)  # the click opened the source, not a new page
    page.screenshot(path=str(ARTIFACTS / "portal.png"), full_page=True)


# --- an article that tries to run script -------------------------------------------

EVIL_ARTICLE = """Convoy bulletin <script>document.title="pwned-title"; window.__pwned = 1</script>
source: evil.example
url: javascript:window.__pwned=3
date: 2016-05-01

The armoured convoy was stopped at the northern border crossing by customs officers <script>window.__pwned = 2; document.title = "pwned"</script> on Monday morning, the bulletin said.

Officers searched the trucks for six hours <img src=x onerror="window.__pwned = 4"> before the convoy was allowed to continue towards the capital.
"""


@pytest.fixture(scope="module")
def evil_base(tmp_path_factory, embedder, build_options):
    from index.builder import build_index

    src = tmp_path_factory.mktemp("evil-src")
    (src / "evil.txt").write_text(EVIL_ARTICLE, encoding="utf-8")
    (src / "seed.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    root = tmp_path_factory.mktemp("evil-index") / "index"
    build_index([src], root, embedder, build_options)
    with running(create_app(Settings(index_dir=root))) as url:
        yield url


def test_script_in_an_article_or_question_is_shown_as_text(page, evil_base):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(evil_base + "/")
    page.locator("#status").get_by_text("articles").wait_for()
    title = page.title()
    ask_in_page(
        page, 'What happened to the armoured convoy? <img src=x onerror="window.__pwned=5">'
    )
    cite = page.locator("#chat a.cite").first
    cite.wait_for()
    cite.click()
    card = page.locator("#src-1")
    card.locator("mark").wait_for(state="visible")
    shown = card.inner_text()
    assert "<script>" in shown and "Convoy bulletin" in shown
    assert '<img src=x onerror="window.__pwned=5">' in page.locator("#chat").inner_text()
    assert card.locator("a").count() == 0  # the javascript: url is not linked
    assert "no link" in shown
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__pwned") is None
    assert page.title() == title and "pwned" not in page.title()
    assert page.locator("#sources script, #chat script, #sources img, #chat img").count() == 0
    assert dialogs == []
    page.screenshot(path=str(ARTIFACTS / "page-untrusted.png"), full_page=True)


def test_missing_index_is_a_readable_message_in_the_page(page, tmp_path):
    missing = tmp_path / "no-index-here"
    with running(create_app(Settings(index_dir=missing))) as url:
        page.goto(url + "/")
        page.locator("#status").get_by_text("no-index-here").wait_for()
        assert "Index not available" in page.locator("#status").inner_text()
        ask_in_page(page, SEED_QUESTION)
        error = page.locator("#chat .error")
        error.wait_for()
        assert "no-index-here" in error.inner_text()
        assert "Traceback" not in page.content()
        page.screenshot(path=str(ARTIFACTS / "page-no-index.png"), full_page=True)


def test_clicking_a_timeline_bar_filters_the_next_question_to_its_period(page, base):
    """The chart's bars carry their period; a click sets Since/Until to it (opening the
    Filters to show them), the next answer cites only that period, and choosing "whole
    archive" in the period picker clears them again."""
    import calendar
    import re
    from collections import Counter
    from datetime import date

    from playwright.sync_api import expect

    from qa.timeline import period_end

    page.goto(base + "/")
    page.locator("#status").get_by_text("articles").wait_for()
    query = page.locator("#tl-query textarea, #tl-query input").first
    query.fill("Ryabkov")
    query.press("Enter")
    bars = page.locator('#tl-plot [aria-label^="period: "]')
    bars.first.wait_for()
    labels = [bars.nth(i).get_attribute("aria-label") or "" for i in range(bars.count())]
    counts: Counter[str] = Counter()
    for label in labels:
        counts[re.search(r"period: ([\d-]+)", label)[1]] += int(
            re.search(r"count: (\d+)", label)[1]
        )
    period = max(counts, key=counts.get)  # the month with the most articles about Ryabkov
    bars.nth(next(i for i, x in enumerate(labels) if f"period: {period};" in x)).click()
    until = period_end(period, "month")
    since_box = page.locator("#since textarea, #since input").first
    until_box = page.locator("#until textarea, #until input").first
    expect(since_box).to_have_value(period)
    expect(until_box).to_have_value(until)
    assert since_box.is_visible()  # the Filters opened to show the period
    assert "The next question searches" in page.locator("#tl-note").inner_text()
    page.screenshot(path=str(ARTIFACTS / "page-timeline-click.png"), full_page=True)

    ask_in_page(page, "What did Ryabkov say?")
    page.locator("#sources details.source").first.wait_for()
    metas = page.locator("#sources .meta").all_inner_texts()  # "tass.com, 14 March 2017 · …"
    days = [
        date(int(m[3]), list(calendar.month_name).index(m[2]), int(m[1])).isoformat()
        for m in (re.search(r", (\d{1,2}) (\w+) (\d{4}) ·", x) for x in metas)
    ]
    assert days and all(period <= d <= until for d in days)
    expect(query).to_have_value("What did Ryabkov say?")  # the chart follows the question

    picker = page.locator("#tl-period input").first
    picker.click()
    page.get_by_role("option", name="whole archive").click()
    expect(since_box).to_have_value("")
    expect(until_box).to_have_value("")
