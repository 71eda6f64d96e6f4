"""Turning user-given filters (CLI options, page fields, API JSON) into a checked `Filters`.

Checked here, once, for the CLI, the page and the API alike, so a typo in an outlet or a
date gives a clear message instead of a silently empty answer, and an outlet may be named
the way people say it ("TASS" for tass.com, "The Independent" for "The Independent -
Sports"), as in questions.
"""

from __future__ import annotations

from collections.abc import Iterable

from index.articles import parse_date
from qa.errors import FilterError
from qa.response import Filters
from qa.retrieval.hints import source_aliases


def _date(value: str | None, name: str) -> str | None:
    if value is None or not str(value).strip():
        return None
    parsed = parse_date(str(value))
    if parsed is None:
        raise FilterError(f"{name} {value!r} is not a date (use YYYY-MM-DD)")
    return parsed[:10]


def make_filters(
    sources: Iterable[str] | None,
    since: str | None,
    until: str | None,
    known_sources: Iterable[str],
    article_ids: Iterable[str] | None = None,
) -> Filters:
    """Validate outlets against the index and parse the dates; raise `FilterError` if bad."""
    known_list = list(known_sources)
    known = {s.lower(): {s} for s in known_list}
    for alias, names in source_aliases(known_list).items():
        known.setdefault(alias.lower(), set()).update(names)
    chosen = [s.strip() for s in (sources or []) if s and s.strip()]
    unknown = [s for s in chosen if s.lower() not in known]
    if unknown:
        listed = ", ".join(sorted(known_list)[:20])
        raise FilterError(
            f"unknown outlet {', '.join(repr(u) for u in unknown)}; the index has: {listed}"
        )
    resolved = sorted({name for s in chosen for name in known[s.lower()]})
    start, end = _date(since, "since"), _date(until, "until")
    if start and end and start > end:
        raise FilterError(f"since {start} is after until {end}")
    return Filters(
        sources=resolved,
        since=start,
        until=end,
        article_ids=[a for a in (article_ids or []) if a],
    )
