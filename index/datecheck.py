"""Publication dates a build should question: none, in the future, or before 1900.

They are kept (an undated article is still searchable; a wrong year is the source's), but
the build report says which, so an operator can fix the feed; time-aware answers leave
undated articles out and say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

EARLIEST_YEAR = 1900


def date_notes(articles: Iterable, today: date | None = None) -> list[str]:
    """Build-report notes on the articles' dates (ids of the first five of each kind)."""
    today = today or date.today()
    undated, future, early = [], [], []
    for a in articles:
        d = (a.date or "")[:10]
        if not d:
            undated.append(a.id)
            continue
        try:
            day = date.fromisoformat(d)
        except ValueError:
            undated.append(a.id)
            continue
        if day > today:
            future.append(a.id)
        elif day.year < EARLIEST_YEAR:
            early.append(a.id)
    notes = []
    for ids, what in (
        (undated, "have no date (kept; left out of time-bound answers)"),
        (future, f"are dated after today, {today.isoformat()} (kept; check the source)"),
        (early, f"are dated before {EARLIEST_YEAR} (kept; check the source)"),
    ):
        if ids:
            shown = ", ".join(map(repr, ids[:5])) + (" …" if len(ids) > 5 else "")
            notes.append(f"{len(ids):,} articles {what}: {shown}")
    return notes
