"""Timelines: how many matching articles each outlet published per day, week or month.

A timeline counts articles, not paragraphs, and is bounded whatever the query: at most
`MAX_PERIODS` periods (a finer step over a long span falls back to a coarser one, with a
note) and `MAX_OUTLETS` named outlets (the rest as "other"). Matching is by BM25 over the
query's words (the names a user charts rarely need meaning-based search, and it keeps a
timeline query within tens of milliseconds); an empty query charts the whole archive.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from qa.response import Filters, TimeRange

Step = Literal["month", "week", "day"]
STEPS: tuple[Step, ...] = ("day", "week", "month")
MAX_PERIODS = 400
MAX_OUTLETS = 8
MATCH_CHUNKS = 2000  # BM25 hits counted (their articles); more is the whole archive anyway
OTHER = "other"


class TimelineBar(BaseModel):
    period: str = Field(description="First day of the period, YYYY-MM-DD (a month: its 1st).")
    outlet: str
    count: int = Field(description="Matching articles the outlet published in the period.")


class Timeline(BaseModel):
    query: str
    by: Step
    articles: int = Field(description="Matching dated articles counted.")
    undated: int = Field(0, description="Matching articles without a date (not charted).")
    bars: list[TimelineBar] = Field(default_factory=list)
    outlets: list[str] = Field(default_factory=list, description="Charted outlets, most first.")
    filters: Filters = Field(default_factory=Filters)
    time_range: TimeRange | None = None
    notes: list[str] = Field(default_factory=list)

    def period_range(self, period: str) -> tuple[str, str]:
        """The (since, until) days of one charted period: what clicking its bar filters to."""
        return period, period_end(period, self.by)


def period_start(day: str, by: Step) -> str:
    d = date.fromisoformat(day[:10])
    if by == "month":
        return d.replace(day=1).isoformat()
    if by == "week":
        return (d - timedelta(days=d.weekday())).isoformat()
    return d.isoformat()


def period_end(period: str, by: Step) -> str:
    d = date.fromisoformat(period)
    if by == "month":
        nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
        return (nxt - timedelta(days=1)).isoformat()
    if by == "week":
        return (d + timedelta(days=6)).isoformat()
    return d.isoformat()


def count(rows: list[tuple[str, str | None, str | None]], query: str, by: Step) -> Timeline:
    """Bars from (article id, date, outlet) rows, bounded in periods and outlets."""
    dated = []
    for _aid, day, source in rows:
        try:
            if day:
                dated.append((date.fromisoformat(day[:10]).isoformat(), source or "unknown"))
        except ValueError:
            continue
    notes: list[str] = []
    step = by
    while True:
        periods = {period_start(d, step) for d, _ in dated}
        if len(periods) <= MAX_PERIODS or step == "month":
            break
        coarser = STEPS[STEPS.index(step) + 1]
        notes.append(f"{len(periods):,} {step}s is more than {MAX_PERIODS}; counted by {coarser}")
        step = coarser
    totals = Counter(s for _, s in dated)
    named = [s for s, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_OUTLETS]]
    if len(totals) > MAX_OUTLETS:
        notes.append(f"{len(totals) - MAX_OUTLETS} smaller outlets counted as {OTHER!r}")
    cells = Counter((period_start(d, step), s if s in named else OTHER) for d, s in dated)
    bars = [
        TimelineBar(period=p, outlet=o, count=n)
        for (p, o), n in sorted(cells.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    ]
    outlets = named + ([OTHER] if len(totals) > MAX_OUTLETS else [])
    return Timeline(
        query=query,
        by=step,
        articles=len(dated),
        undated=len(rows) - len(dated),
        bars=bars,
        outlets=outlets,
        notes=notes,
    )


def build_timeline(
    searcher, query: str, by: Step = "month", filters: Filters | None = None
) -> Timeline:
    """The timeline of the articles matching `query` (time words in it narrow the range,
    as in questions) under `filters`; "" or "*" charts every article."""
    if by not in STEPS:
        from qa.errors import QuestionError

        raise QuestionError(f"by must be one of {', '.join(STEPS)}, not {by!r}")
    query = " ".join((query or "").split())
    store = searcher.index.store
    filters = filters or Filters()
    notes: list[str] = []
    time_range = None
    text = query
    if query and query != "*":
        plan = searcher.plan(query, filters)
        notes += plan.notes
        filters = plan.subqueries[0].filters
        text = plan.subqueries[0].text if plan.time is not None else query
        if plan.time is not None and (plan.time.since or plan.time.until):
            time_range = TimeRange(
                since=plan.time.since,
                until=plan.time.until,
                phrase=plan.time.phrase,
                reference_date=searcher.reference_date(),
            )
        elif plan.dates and len(plan.sources) <= 1:
            # A chart is about coverage: "Brexit in 2016" means articles of 2016.
            d = plan.dates[0]
            since = max(filter(None, [filters.since, d.since]), default=None)
            until = min(filter(None, [filters.until, d.until]), default=None)
            if not (since and until and since > until):
                filters = filters.model_copy(update={"since": since, "until": until})
                text = " ".join((text[: d.start] + " " + text[d.end :]).split())
                time_range = TimeRange(
                    since=since,
                    until=until,
                    phrase=d.text,
                    reference_date=searcher.reference_date(),
                )
    allowed = searcher._allowed(filters)
    if text and text != "*":
        hits = searcher.index.keyword_search(text, MATCH_CHUNKS, allowed)
        rows = store.article_dates([r for r, _ in hits]) if hits else []
    elif allowed is None:
        rows = store.article_dates()
    else:
        rows = store.article_dates(allowed) if allowed else []
    out = count(rows, query, by)
    out.filters, out.time_range = filters, time_range
    out.notes = notes + out.notes
    if out.undated:
        out.notes.append(f"{out.undated:,} matching articles have no date and are not charted")
    if not rows:
        out.notes.append("no article matches")
    return out
