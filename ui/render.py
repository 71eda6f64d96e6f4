"""HTML for the page: answers with `[n]` links, source cards, the status line.

Article text, headlines, urls and questions are untrusted (an archive can hold anything,
including `<script>`), so every piece of it is HTML-escaped here, and only markup written
in this module reaches the browser. Urls are linked only when they are http(s).
"""

from __future__ import annotations

import re
from html import escape
from urllib.parse import urlsplit

from index.archive import IndexInfo
from qa.response import Answer, Citation, dated_label

_MARKER = re.compile(r"\[(\d{1,3})\]")


def safe_url(url: str | None) -> str | None:
    """The url if it is a plain http(s) link, else None (no `javascript:` and the like)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url.strip()


def answer_html(text: str, cited: set[int], labels: dict[int, str] | None = None) -> str:
    """Escape the answer and turn each `[n]` that names a citation into a link to source n
    (its tooltip the source's outlet and date, from `labels`)."""

    def link(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n not in cited:
            return m.group(0)
        where = f": {escape(labels[n], quote=True)}" if labels and n in labels else ""
        return f'<a class="cite" href="#src-{n}" title="show source {n}{where}">[{n}]</a>'

    return _MARKER.sub(link, escape(text)).replace("\n", "<br>")


def highlighted_paragraph(c: Citation) -> str:
    """The paragraph text with the verified quote wrapped in <mark> (escaped around it)."""
    text = c.text
    if 0 <= c.quote_start < c.quote_end <= len(text):
        return (
            escape(text[: c.quote_start])
            + f"<mark>{escape(text[c.quote_start : c.quote_end])}</mark>"
            + escape(text[c.quote_end :])
        )
    return escape(text)


def citation_card(c: Citation) -> str:
    meta = f"{escape(c.label)} · paragraph {c.paragraph}"
    url = safe_url(c.url)
    link = (
        f'<a href="{escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
        "original article</a>"
        if url
        else "no link"
    )
    also = ""
    if c.also_published_by:
        copies = []
        for cp in c.also_published_by:
            where = escape(dated_label(cp.source, cp.date))
            u = safe_url(cp.url)
            copies.append(
                f'<a href="{escape(u, quote=True)}" target="_blank" rel="noopener noreferrer">'
                f"{where}</a>"
                if u
                else where
            )
        also = f'<p class="also">also published by {"; ".join(copies)}</p>'
    if c.reported_by:
        also += reported_html(c)
    return (
        f'<details class="source" id="src-{c.n}" data-n="{c.n}">'
        f'<summary><span class="n">[{c.n}]</span> <span class="headline">{escape(c.title)}</span>'
        f'<br><span class="meta">{meta}</span></summary>'
        f'<p class="para">{highlighted_paragraph(c)}</p>'
        f'<p class="link">{link}</p>{also}'
        "</details>"
    )


def _linked(label: str, url: str | None) -> str:
    u = safe_url(url)
    if not u:
        return escape(label)
    return (
        f'<a href="{escape(u, quote=True)}" target="_blank" rel="noopener noreferrer">'
        f"{escape(label)}</a>"
    )


def reported_html(c: Citation) -> str:
    """ "Reported by 3 outlets: also rte.ie, 2 March 2017; ..." under a source card."""
    others = "; ".join(_linked(r.label, r.url) for r in c.reported_by)
    names = ", ".join(sorted({n for r in c.reported_by for n in r.shared_names})[:6])
    return (
        f'<p class="reported" title="the same event in their own words; shared names: '
        f'{escape(names, quote=True)}">reported by {c.reported_by_outlets} outlets: '
        f"also {others}</p>"
    )


def sources_html(answer: Answer | None, turn: int = 0) -> str:
    """The sources panel for one answer (chat turn `turn`): one card per cited paragraph."""
    if answer is None:
        return '<div class="sources empty">Sources of the answer appear here.</div>'
    if not answer.citations:
        notes = "".join(f"<li>{escape(n)}</li>" for n in answer.notes)
        return (
            '<div class="sources empty">No source quoted.'
            + (f"<ul>{notes}</ul>" if notes else "")
            + "</div>"
        )
    cards = "".join(citation_card(c) for c in answer.citations)
    return (
        f'<div class="sources turn-{turn}"><p class="hint">Click a [n] in the answer to open '
        f"its source.</p>{cards}</div>"
    )


def chat_answer_html(answer: Answer, turn: int = 0) -> str:
    """The assistant's final chat message: the answer with linked markers, and its own
    short list of sources. The panel shows the newest answer's sources only, so an earlier
    answer's [n] opens this list instead of the newest answer's source n."""
    body = answer_html(
        answer.answer, {c.n for c in answer.citations}, {c.n: c.label for c in answer.citations}
    )
    if answer.standalone_question:
        # A follow-up was searched as a standalone question: say so, in small type.
        body += f'<div class="searched-as">searched as: {escape(answer.standalone_question)}</div>'
    if answer.time_range is not None:
        body += f'<div class="time-range">{escape(answer.time_range.describe())}</div>'
    if not answer.citations:
        return f'<div class="answer turn-{turn}">{body}</div>'
    items = "".join(
        f"<li>{escape(c.title)} · {escape(c.label)} · paragraph {c.paragraph}"
        + (f" · reported by {c.reported_by_outlets} outlets" if c.reported_by else "")
        + (f": “{escape(c.quote)}”" if c.quote else "")
        + "</li>"
        for c in answer.citations
    )
    return (
        f'<div class="answer turn-{turn}">{body}'
        f'<details class="turn-sources"><summary>Sources</summary><ol>{items}</ol></details></div>'
    )


def error_html(message: str) -> str:
    return f'<span class="error">⚠ {escape(message)}</span>'


def status_html(info: IndexInfo | None, error: str | None = None) -> str:
    """One line: what the index holds, or why there is none."""
    if info is None:
        return f'<div class="status down">Index not available: {escape(error or "unknown reason")}</div>'
    first, last = info.date_range
    return (
        '<div class="status up">'
        f"Index: {info.articles:,} articles · {info.chunks:,} chunks · "
        f"built {escape(info.built_at[:19])} · model {escape(info.model)}"
        + (f" · {escape(first or '?')[:10]} … {escape(last or '?')[:10]}" if first or last else "")
        + "</div>"
    )
