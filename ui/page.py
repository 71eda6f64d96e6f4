"""The Gradio page: a chat whose answers stream, with a panel of the cited paragraphs.

Also registers two plain endpoints, `/ask` and `/search`, for `gradio_client` and for
Gradio's MCP server, so scripts and assistants use the very functions the page uses.
Everything shown is escaped in `ui.render`; errors become chat messages, never tracebacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import escape
from typing import Any

import gradio as gr

from qa.errors import ArchiveQAError
from qa.response import Answer, Citation, Filters, human_date
from qa.retrieval.filters import make_filters
from qa.timeline import period_end, period_start
from ui.holder import ServiceHolder
from ui.render import chat_answer_html, citation_card, error_html, sources_html, status_html

log = logging.getLogger("archive_qa.ui")

EXAMPLES = [
    "Who threatened weapons convoys?",
    "What did the captured Russian soldier say about deserters?",
    "What happened at the Turkish embassy in Moscow?",
]

# Clicking a [n] in an answer opens source n in the panel (event delegation, so it works
# for messages rendered later). Capture phase, so the chatbot's own link handling
# (open in a new tab) never sees the click. Given to Gradio as `js`, which runs on the
# full page and inside the <gradio-app> web component alike.
JS = """
() => {
  if (window.__archiveQaCites) return;
  window.__archiveQaCites = true;
  document.addEventListener('click', function (e) {
    var a = e.target && e.target.closest ? e.target.closest('a.cite') : null;
    if (!a) return;
    e.preventDefault();
    e.stopPropagation();
    var id = (a.getAttribute('href') || '').replace(/^.*#/, '');
    var root = a.closest('gradio-app') || a.closest('.gradio-container') || document;
    var msg = a.closest('div.answer');
    var turn = msg ? (msg.className.match(/turn-\\d+/) || [''])[0] : '';
    var panel = root.querySelector('#sources .sources');
    root.querySelectorAll('details.source.active, .turn-sources li.active').forEach(function (d) {
      d.classList.remove('active');
    });
    if (msg && turn && !(panel && panel.classList.contains(turn))) {
      // An earlier answer: the panel holds a newer answer's sources; open this one's list.
      var list = msg.querySelector('details.turn-sources');
      var item = list ? list.querySelectorAll('li')[parseInt(id.replace('src-', ''), 10) - 1] : null;
      if (!item) return;
      list.open = true;
      item.classList.add('active');
      item.scrollIntoView({block: 'nearest'});
      return;
    }
    var card = root.querySelector('#' + id) || document.getElementById(id);
    if (!card) return;
    card.open = true;
    card.classList.add('active');
    card.scrollIntoView({block: 'nearest'});
  }, true);
  // Clicking a bar of the coverage chart: its period (Vega writes it in the bar's
  // aria-label) goes to the hidden #tl-clicked box, whose change sets Since/Until.
  document.addEventListener('click', function (e) {
    var t = e.target;
    var plot = t && t.closest ? t.closest('#tl-plot') : null;
    var bar = plot ? t.closest('[aria-label]') : null;
    var m = bar ? (bar.getAttribute('aria-label') || '').match(/period: (\\d{4}-\\d{2}-\\d{2})/) : null;
    if (!m) return;
    var root = plot.closest('gradio-app') || plot.closest('.gradio-container') || document;
    var box = root.querySelector('#tl-clicked textarea, #tl-clicked input');
    if (!box) return;
    box.value = m[1] + '|' + Date.now();  // a second click on the same bar is a change too
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }, true);
}
"""

CSS = """
#sources details.source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin: 0 0 8px 0; }
#sources details.source.active { border-color: var(--color-accent); box-shadow: 0 0 0 2px var(--color-accent-soft); }
#sources summary { cursor: pointer; }
#sources .headline { font-weight: 600; }
#sources .meta, #sources .hint, .status { color: var(--body-text-color-subdued); font-size: 0.9em; }
#sources .also, #sources .reported { color: var(--body-text-color-subdued); font-size: 0.85em; margin: 4px 0 0 0; }
#sources mark { background: #fde68a; color: #111827; padding: 0 2px; }
a.cite { font-weight: 600; text-decoration: none; }
.turn-sources { font-size: 0.85em; margin-top: 6px; color: var(--body-text-color-subdued); }
.searched-as { font-size: 0.8em; margin-top: 4px; color: var(--body-text-color-subdued); }
.turn-sources li.active { color: var(--body-text-color); background: #fde68a55; }
.error, .status.down { color: #b91c1c; }
"""

# No web fonts: the page must look right on a machine with no internet.
THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "Consolas", "monospace"],
)


def build_page(holder: ServiceHolder) -> gr.Blocks:
    """The page's Blocks; `holder` supplies the (shared, already warm) service."""
    handlers = _ChatHandlers(holder)
    with gr.Blocks(title="archive-qa", analytics_enabled=False) as page:
        ui = _layout(holder.settings.max_question_chars, handlers.outlet_names())
        inputs = [ui.question, ui.chat, ui.outlets, ui.since, ui.until, ui.turns]
        outputs = [ui.chat, ui.sources, ui.question, ui.turns]
        hidden = {"api_visibility": "undocumented"}
        asked = [
            ui.question.submit(handlers.respond, inputs, outputs, **hidden),
            ui.ask_btn.click(handlers.respond, inputs, outputs, **hidden),
        ]
        ui.clear_btn.click(handlers.clear, None, outputs, **hidden)
        page.load(handlers.status_now, None, [ui.status, ui.outlets], **hidden)
        _wire_timeline(ui, handlers.holder, hidden, asked)
        gr.api(_ask_endpoint(holder), api_name="ask")
        gr.api(_search_endpoint(holder), api_name="search")
        _who_said_what(holder)
    return page


def _who_said_what(holder: ServiceHolder) -> None:
    """ "Who said what": a speaker box and a topic box, the statements as source cards
    (each opens its paragraph with the statement highlighted); also the `quotes` tool."""
    quotes = _quotes_endpoint(holder)
    with gr.Accordion("Who said what", open=False, elem_id="who-said-what"):
        with gr.Row():
            speaker = gr.Textbox(label="Speaker", placeholder="Ryabkov", elem_id="quote-speaker")
            topic = gr.Textbox(label="About", placeholder="weapons convoys", elem_id="quote-topic")
        find = gr.Button("Find statements", elem_id="quote-find")
        listing = gr.HTML('<div class="sources empty">Statements appear here.</div>')

    def show(speaker_text: str, topic_text: str) -> str:
        found = quotes(topic_text or "", speaker=speaker_text or None)
        if not found:
            return '<div class="sources empty">No attributed statement matches.</div>'
        cards = []
        for q in found:
            who = q["normalized"] if q["resolved"] else f"{q['speaker']} (unresolved)"
            role = f" ({q['role']})" if q["role"] else ""
            cards.append(
                f'<p class="speaker"><b>{escape(who)}</b>{escape(role)} — {escape(q["verb"])}</p>'
                + citation_card(Citation(**q["citation"]))
            )
        return f'<div class="sources quotes">{"".join(cards)}</div>'

    hidden = {"api_visibility": "undocumented"}
    find.click(show, [speaker, topic], listing, **hidden)
    topic.submit(show, [speaker, topic], listing, **hidden)
    speaker.submit(show, [speaker, topic], listing, **hidden)
    gr.api(quotes, api_name="quotes")


def _quotes_endpoint(holder: ServiceHolder) -> Callable[..., list[dict]]:
    """`/quotes` for gradio_client and MCP; its signature and docstring are the tool's schema."""

    def quotes(
        query: str = "",
        speaker: str | None = None,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 20,
    ) -> list[dict]:
        """Who said what: attributed statements in the news archive, each cited to its paragraph.

        Args:
            query: What the statements are about (may be empty when a speaker is given).
            speaker: Only this speaker's statements (part of a name).
            sources: Only these outlets; empty for all.
            since: Only articles on or after this date (YYYY-MM-DD).
            until: Only articles on or before this date (YYYY-MM-DD).
            limit: How many statements to return.

        Returns:
            Statements with speaker, normalised speaker, role, verb, the statement verbatim,
            date, outlet and the citation of the paragraph holding it.
        """
        service = _service_or_error(holder)
        filters = _filters_or_error(service, sources, since, until)
        try:
            found = service.quotes(query, speaker, filters=filters, limit=limit)
        except (ArchiveQAError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        return [q.model_dump() for q in found]

    return quotes


@dataclass
class _Components:
    """The page's components that events read or write."""

    status: gr.HTML
    turns: gr.State
    chat: gr.Chatbot
    question: gr.Textbox
    ask_btn: gr.Button
    clear_btn: gr.Button
    outlets: gr.Dropdown
    since: gr.Textbox
    until: gr.Textbox
    filters: gr.Accordion
    sources: gr.HTML
    tl_query: gr.Textbox
    tl_by: gr.Radio
    tl_plot: gr.BarPlot
    tl_period: gr.Dropdown
    tl_note: gr.Markdown
    tl_clicked: gr.Textbox
    tl_step: gr.State


def _layout(max_question_chars: int, outlet_choices: list[str]) -> _Components:
    """The page's components, created inside the open Blocks: the conversation and its
    filters on the left, the cited paragraphs on the right."""
    gr.Markdown(
        "## archive-qa\nAsk the news archive. Every claim is quoted from, and linked "
        "to, the exact paragraph it came from."
    )
    status = gr.HTML('<div class="status">Checking the index…</div>', elem_id="status")
    turns = gr.State([])
    with gr.Row():
        with gr.Column(scale=3):
            chat, question, ask_btn, clear_btn = _conversation(max_question_chars)
            outlets, since, until, filters = _filters_accordion(outlet_choices)
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            sources = gr.HTML(sources_html(None), elem_id="sources")
            timeline = _timeline_panel()
    return _Components(
        status,
        turns,
        chat,
        question,
        ask_btn,
        clear_btn,
        outlets,
        since,
        until,
        filters,
        sources,
        *timeline,
    )


def _conversation(max_question_chars: int) -> tuple[gr.Chatbot, gr.Textbox, gr.Button, gr.Button]:
    chat = gr.Chatbot(
        elem_id="chat",
        label="Conversation",
        height=460,
        sanitize_html=True,
        render_markdown=False,
        feedback_options=None,
        buttons=["copy", "copy_all"],
    )
    question = gr.Textbox(
        elem_id="question",
        show_label=False,
        placeholder="Ask a question, e.g. Who threatened weapons convoys?",
        max_length=max_question_chars,
    )
    with gr.Row():
        ask_btn = gr.Button("Ask", variant="primary", elem_id="ask")
        clear_btn = gr.Button("Clear conversation", elem_id="clear")
    gr.Examples(EXAMPLES, inputs=question, label="Examples")
    return chat, question, ask_btn, clear_btn


def _filters_accordion(
    outlet_choices: list[str],
) -> tuple[gr.Dropdown, gr.Textbox, gr.Textbox, gr.Accordion]:
    with gr.Accordion("Filters", open=False, elem_id="filters") as filters:
        outlets = gr.Dropdown(
            choices=outlet_choices,
            multiselect=True,
            label="Outlets",
            elem_id="outlets",
        )
        with gr.Row():
            since = gr.Textbox(label="Since", placeholder="YYYY-MM-DD", elem_id="since")
            until = gr.Textbox(label="Until", placeholder="YYYY-MM-DD", elem_id="until")
    return outlets, since, until, filters


class _ChatHandlers:
    """The page's own events: answer a turn (streamed), clear, and show the index status.
    Errors become chat messages or the status line; the page keeps serving."""

    def __init__(self, holder: ServiceHolder) -> None:
        self.holder = holder
        self.settings = holder.settings

    def outlet_names(self) -> list[str]:
        try:
            return [name for name, _ in self.holder.get().info().sources]
        except ArchiveQAError:
            return []
        except Exception:  # the page must still come up; the status line says why
            log.exception("reading the index's outlets failed")
            return []

    def status_now(self) -> tuple[str, Any]:
        try:
            info = self.holder.get().info()
            return status_html(info), gr.update(choices=[n for n, _ in info.sources])
        except ArchiveQAError as exc:
            return status_html(None, str(exc)), gr.update()
        except Exception as exc:
            log.exception("reading the index status failed")
            return status_html(None, f"internal error ({type(exc).__name__})"), gr.update()

    @staticmethod
    def clear() -> tuple[list, str, str, list]:
        return [], sources_html(None), "", []

    def respond(
        self,
        message: str,
        chat: list[dict[str, Any]],
        outlets: list[str] | None,
        since: str,
        until: str,
        turns: list[tuple[str, str]],
    ) -> Iterator[tuple[list[dict[str, Any]], str, str, list[tuple[str, str]]]]:
        chat = list(chat or [])
        turns = list(turns or [])
        chat.append({"role": "user", "content": escape(message or "")})
        chat.append({"role": "assistant", "content": "…"})
        yield chat, sources_html(None), "", turns
        try:
            yield from self._answer(message, chat, outlets, since, until, turns)
        except (ArchiveQAError, ValueError) as exc:
            chat[-1] = {"role": "assistant", "content": error_html(str(exc))}
            yield chat, sources_html(None), message, turns
        except Exception as exc:  # keep serving; the log has the traceback
            log.exception("answering failed")
            chat[-1] = {
                "role": "assistant",
                "content": error_html(f"internal error ({type(exc).__name__}); see the server log"),
            }
            yield chat, sources_html(None), message, turns

    def _answer(
        self,
        message: str,
        chat: list[dict[str, Any]],
        outlets: list[str] | None,
        since: str,
        until: str,
        turns: list[tuple[str, str]],
    ) -> Iterator[tuple[list[dict[str, Any]], str, str, list[tuple[str, str]]]]:
        """The answer's text as it streams into the last message, then the cited answer."""
        service = self.holder.get()
        filters = make_filters(outlets, since, until, [n for n, _ in service.info().sources])
        text = ""
        final: Answer | None = None
        for piece in service.stream(
            message,
            filters=None if filters.is_empty() else filters,
            history=_last_turns(turns, self.settings.max_history_turns),
        ):
            if isinstance(piece, Answer):
                final = piece
                break
            text += piece
            chat[-1] = {"role": "assistant", "content": escape(text)}
            yield chat, sources_html(None), "", turns
        if final is None:
            raise ArchiveQAError("the answer stream ended without an answer")
        turn = len(turns)
        chat[-1] = {"role": "assistant", "content": chat_answer_html(final, turn)}
        turns.append((final.question, final.answer))
        yield chat, sources_html(final, turn), "", turns


def _ask_endpoint(holder: ServiceHolder) -> Callable[..., dict]:
    """`/ask` for gradio_client and MCP; its signature and docstring are the tool's schema."""

    def ask(
        question: str,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        k: int | None = None,
    ) -> dict:
        """Answer a question from the news archive, quoting and citing the exact paragraphs.

        Args:
            question: The question, e.g. "Who threatened weapons convoys?".
            sources: Only these outlets (e.g. ["tass.com"]); empty for all.
            since: Only articles on or after this date (YYYY-MM-DD).
            until: Only articles on or before this date (YYYY-MM-DD).
            k: How many paragraphs to retrieve (default from settings).

        Returns:
            The answer object: answer text with [n] markers, citations (headline, outlet,
            date, url, paragraph number, paragraph text, verbatim quote and its offsets).
        """
        service = _service_or_error(holder)
        filters = _filters_or_error(service, sources, since, until)
        try:
            return service.ask(question, k=k, filters=filters).model_dump()
        except (ArchiveQAError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    return ask


def _search_endpoint(holder: ServiceHolder) -> Callable[..., list[dict]]:
    """`/search` for gradio_client and MCP; its signature and docstring are the tool's schema."""

    def search(
        query: str,
        sources: list[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        k: int = 10,
    ) -> list[dict]:
        """Ranked paragraphs of the news archive for a query, without an answer.

        Args:
            query: What to look for.
            sources: Only these outlets; empty for all.
            since: Only articles on or after this date (YYYY-MM-DD).
            until: Only articles on or before this date (YYYY-MM-DD).
            k: How many paragraphs to return.

        Returns:
            Passages with headline, outlet, date, url, paragraph numbers, text and scores.
        """
        service = _service_or_error(holder)
        filters = _filters_or_error(service, sources, since, until)
        try:
            return [p.model_dump() for p in service.search(query, k=k, filters=filters)]
        except (ArchiveQAError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    return search


def _last_turns(turns: list[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    return [(q, a) for q, a in turns[-n:]] if n > 0 else []


def _service_or_error(holder: ServiceHolder):
    try:
        return holder.get()
    except ArchiveQAError as exc:
        raise gr.Error(str(exc)) from None


def _filters_or_error(service, sources, since, until) -> Filters | None:
    try:
        f = make_filters(sources, since, until, [n for n, _ in service.info().sources])
    except ValueError as exc:
        raise gr.Error(str(exc)) from None
    return None if f.is_empty() else f


def _timeline_panel() -> tuple[
    gr.Textbox, gr.Radio, gr.BarPlot, gr.Dropdown, gr.Markdown, gr.Textbox
]:
    """Coverage over time: matching articles per period and outlet; clicking a bar,
    choosing a period or selecting bars sets the Since/Until filters of the next question."""
    with gr.Accordion("Coverage over time", open=True, elem_id="timeline"):
        with gr.Row():
            query = gr.Textbox(
                label="Chart articles matching", placeholder="e.g. Brexit", elem_id="tl-query"
            )
            by = gr.Radio(["month", "week", "day"], value="month", label="By", elem_id="tl-by")
        plot = gr.BarPlot(
            x="period", y="count", color="outlet", label="Articles", elem_id="tl-plot", height=260
        )
        period = gr.Dropdown(choices=[], label="Filter the search to a period", elem_id="tl-period")
        note = gr.Markdown("", elem_id="tl-note")
        # The period of a clicked bar, written by the page's script (BarPlot has no click
        # event; its bars carry their period in their aria-label).
        clicked = gr.Textbox(visible="hidden", elem_id="tl-clicked")
        step = gr.State("month")  # the chart's step (a long span is charted coarser)
    return query, by, plot, period, note, clicked, step


def _wire_timeline(ui: _Components, holder: ServiceHolder, hidden: dict, asked: list) -> None:
    """After each question, chart its coverage; a chosen period or brushed bars become the
    Since/Until filters."""
    import html

    import pandas as pd

    def chart(query: str, by: str, outlets: list[str] | None, since: str, until: str):
        service = holder.get()
        try:
            filters = make_filters(outlets, since, until, [n for n, _ in service.info().sources])
            tl = service.timeline(query or "", by or "month", filters)
        except (ArchiveQAError, ValueError) as exc:
            return gr.update(), gr.update(), f"⚠ {exc}", gr.update()
        df = pd.DataFrame([b.model_dump() for b in tl.bars], columns=["period", "outlet", "count"])
        periods = sorted({b.period for b in tl.bars})
        choices = [("whole archive", "")] + [(p, f"{p}|{tl.period_range(p)[1]}") for p in periods]
        line = f"{tl.articles:,} articles by {tl.by}" + "".join(f" · {n}" for n in tl.notes)
        return df, gr.update(choices=choices, value=None), line, tl.by

    def from_chat(chat: list[dict[str, Any]], by: str, outlets, since, until):
        asked = [_text(m.get("content")) for m in chat or [] if m.get("role") == "user"]
        query = html.unescape(asked[-1]) if asked else ""
        return (query, *chart(query, by, outlets, since, until))

    def choose(value: str | None):
        if value is None:
            return gr.update(), gr.update(), gr.update(), gr.update()
        lo, _, hi = (value or "").partition("|")
        return _period_filter(lo, hi)

    def clicked(value: str, by: str):
        """A clicked bar: its period (the page's script sends "YYYY-MM-DD|<click id>")."""
        day = _day((value or "").partition("|")[0])
        if not day:
            return gr.update(), gr.update(), gr.update(), gr.update()
        start = period_start(day, by or "month")
        return _period_filter(start, period_end(start, by or "month"))

    def selected(evt: gr.SelectData, by: str):
        """Bars brushed on the chart: from the first one's start to the last one's end."""
        index = evt.index if isinstance(evt.index, (list, tuple)) else [evt.index]
        days = [_day(v) for v in index if v is not None]
        days = [d for d in days if d]
        if not days:
            return gr.update(), gr.update(), gr.update(), gr.update()
        step = by or "month"
        return _period_filter(
            period_start(min(days), step), period_end(period_start(max(days), step), step)
        )

    tl_in = [ui.tl_query, ui.tl_by, ui.outlets, ui.since, ui.until]
    tl_out = [ui.tl_plot, ui.tl_period, ui.tl_note, ui.tl_step]
    ui.tl_query.submit(chart, tl_in, tl_out, **hidden)
    ui.tl_by.change(chart, tl_in, tl_out, **hidden)
    chat_in = [ui.chat, ui.tl_by, ui.outlets, ui.since, ui.until]
    for event in asked:
        event.then(from_chat, chat_in, [ui.tl_query, *tl_out], **hidden)
    period_out = [ui.since, ui.until, ui.filters, ui.tl_note]
    ui.tl_period.change(choose, [ui.tl_period], period_out, **hidden)
    ui.tl_clicked.change(clicked, [ui.tl_clicked, ui.tl_step], period_out, **hidden)
    ui.tl_plot.select(selected, [ui.tl_step], period_out, **hidden)


def _text(content: Any) -> str:
    """A chat message's text: Gradio 6 hands messages back with their content as a list
    of parts ([{"type": "text", "text": ...}]), not the string the page put there."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(_text(part) for part in content).strip()
    return ""


def _period_filter(since: str, until: str) -> tuple[Any, Any, Any, str]:
    """Since/Until set to a period, the Filters opened to show it, and a line that says so;
    "" and "" (the whole archive) clear them."""
    if not since and not until:
        return "", "", gr.update(), "Searching the whole archive."
    span = f"{human_date(since)} to {human_date(until)}"
    return since, until, gr.update(open=True), f"The next question searches {span}."


def _day(value: Any) -> str | None:
    """A plot selection bound (an ISO string or epoch milliseconds) as YYYY-MM-DD."""
    from datetime import datetime, timezone

    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value / 1000, tz=timezone.utc).date().isoformat()
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value)[:10]
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        return None
