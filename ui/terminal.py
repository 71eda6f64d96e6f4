"""Human-readable output for the terminal: build summaries and cited answers."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from index.builder import BuildResult
from qa.response import Answer


def build_summary(result: BuildResult) -> dict[str, Any]:
    seg = result.manifest.segments
    return {
        "index": str(result.build.parent.parent),
        "build": result.build.name,
        "articles": result.articles,
        "chunks": result.chunks,
        "embedded_chunks": result.embedded_chunks,
        "reused_chunks": result.reused_chunks,
        "new_articles": result.new_articles,
        "changed_articles": result.changed_articles,
        "removed_articles": result.removed_articles,
        "skipped": len(result.skipped),
        "skipped_by_reason": result.skipped_by_reason(),
        "seconds": round(result.seconds, 2),
        "embed_seconds": round(result.embed_seconds, 2),
        "chunks_per_second": round(result.chunks_per_second, 1),
        "faiss": result.manifest.faiss["type"],
        "unchanged_articles": result.unchanged_articles,
        "published": result.published,
        "compacted": result.compacted,
        "segments": None if seg is None else seg.model_dump(),
        "timings": result.timings,
        "notes": result.notes,
        "report": str(result.build / "report.json"),
    }


def print_build_summary(result: BuildResult, console: Console | None = None) -> None:
    console = console or Console(stderr=False)
    s = build_summary(result)
    if result.skipped:
        table = Table(title=f"Skipped inputs ({len(result.skipped)})", show_lines=False)
        table.add_column("input", overflow="fold")
        table.add_column("reason", overflow="fold")
        for item in result.skipped[:25]:
            table.add_row(item["origin"], item["reason"])
        if len(result.skipped) > 25:
            table.add_row(f"… {len(result.skipped) - 25} more", f"see {s['report']}")
        console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    if not result.published:
        console.print(f"[bold green]Unchanged[/] {s['index']} ({s['build']}): nothing to update")
        return
    seg = s["segments"]
    delta = (
        f", delta {seg['delta_chunks']:,} chunks + {seg['dead_rows']:,} tombstones over a "
        f"{seg['base_chunks']:,}-chunk base"
        if seg
        else ""
    )
    verb = "Built" if result.compacted else "Updated"
    console.print(
        f"[bold green]{verb}[/] {s['index']} ({s['build']}): {s['articles']:,} articles, {s['chunks']:,} chunks "
        f"({s['embedded_chunks']:,} embedded, {s['reused_chunks']:,} reused; "
        f"{s['new_articles']:,} new, {s['changed_articles']:,} changed, {s['removed_articles']:,} removed), "
        f"{s['skipped']:,} skipped, {s['seconds']:.1f} s, {s['chunks_per_second']:.1f} chunks/s, FAISS {s['faiss']}{delta}"
    )


def print_answer(answer: Answer, console: Console | None = None) -> None:
    console = console or Console()
    console.print(f"[bold]Q:[/] {answer.question}", markup=True, highlight=False)
    console.print(f"[bold]A:[/] {_escape(answer.answer)}", highlight=False)
    if answer.time_range is not None:
        console.print(f"[dim]{_escape(answer.time_range.describe())}[/]", highlight=False)
    for note in answer.notes:
        console.print(f"[yellow]note:[/] {_escape(note)}", highlight=False)
    if answer.citations:
        console.print("\n[bold]Sources[/]")
    for c in answer.citations:
        meta = f"{c.label} · paragraph {c.paragraph}"
        console.print(
            f"[bold][{c.n}][/] {_escape(c.title)}  [dim]{_escape(meta)}[/]", highlight=False
        )
        if c.url:
            console.print(f"    [dim]{_escape(c.url)}[/]", highlight=False)
        if c.also_published_by:
            copies = "; ".join(f"{x.label}" for x in c.also_published_by)
            console.print(f"    [dim]also published by {_escape(copies)}[/]", highlight=False)
        if c.reported_by:
            console.print(f"    [dim]{_escape(reported_line(c))}[/]", highlight=False)
        before, quote, after = (
            c.text[: c.quote_start],
            c.text[c.quote_start : c.quote_end],
            c.text[c.quote_end :],
        )
        if c.quote_start >= 0:
            console.print(
                f"    {_escape(before)}[reverse]{_escape(quote)}[/]{_escape(after)}",
                highlight=False,
            )
        else:
            if not c.verified:
                console.print("    [yellow](unverified: no supporting quote found here)[/]")
            console.print(f"    {_escape(c.text)}", highlight=False)
    t = answer.timings
    model = f" ({answer.model})" if answer.model else ""
    checked = (
        f" · citations verified {answer.verified_citations}/"
        f"{answer.verified_citations + answer.unverified_citations}"
        if answer.model
        else ""
    )
    console.print(
        f"[dim]{answer.generator}{_escape(model)} · retrieve {t.retrieve_ms:.0f} ms · "
        f"answer {t.generate_ms:.0f} ms{checked}[/]"
    )


def reported_line(item: Any) -> str:
    """ "reported by 3 outlets: also rte.ie, 2 March 2017; bbc.co.uk, 2 March 2017"."""
    others = "; ".join(r.label for r in item.reported_by)
    return f"reported by {item.reported_by_outlets} outlets: also {others}"


def print_passages(passages: list[Any]) -> None:
    """Search results: rank, score, headline, outlet, date, paragraph, the text's start;
    copies of the story and other outlets reporting the same under each."""
    for p in passages:
        print(
            f"{p.rank:>2}. [{p.score:.4f}] {p.title} — {p.source or '?'} {p.date or ''} "
            f"¶{p.paragraphs[0]}"
        )
        print(f"    {p.text[:200]}{'…' if len(p.text) > 200 else ''}")
        if p.also_published_by:
            print("    also published by " + "; ".join(x.label for x in p.also_published_by))
        if p.reported_by:
            print("    " + reported_line(p))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_timeline(tl: Any, console: Console | None = None) -> None:
    """One row per period, one column per charted outlet."""
    console = console or Console()
    table = Table(title=f"{tl.query or 'whole archive'}: {tl.articles:,} articles by {tl.by}")
    table.add_column(tl.by, no_wrap=True)
    for outlet in tl.outlets:
        table.add_column(outlet, justify="right")
    table.add_column("all", justify="right")
    cells: dict[str, dict[str, int]] = {}
    for bar in tl.bars:
        cells.setdefault(bar.period, {})[bar.outlet] = bar.count
    for period, row in cells.items():
        table.add_row(period, *(str(row.get(o, "")) for o in tl.outlets), str(sum(row.values())))
    console.print(table)
    for note in tl.notes:
        console.print(f"[yellow]note:[/] {_escape(note)}", highlight=False)
