"""Read outlet and date hints out of a question and plan per-outlet sub-queries.

News questions say where and when: "Does the TechCrunch article ... while the Sporting
News report ...", "the Polygon piece published on September 26, 2023". A 22M-parameter
embedding model cannot act on that, but a filter can. Each named outlet gets its own
sub-query (the clause that talks about it, restricted to that outlet and, when a date
sits in the clause, to that date), so evidence from every named article can reach the
top k. The unfiltered question always runs too: a wrong parse can add results, never
remove them.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from qa.response import Filters

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    # September 26, 2023 / Sept. 26 2023
    (re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I), "mdy"),
    # 26 September 2023
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I), "dmy"),
    # 2023-09-26
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), "iso"),
    # October 2023
    (re.compile(rf"\b({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I), "my"),
]
_BEFORE = re.compile(r"\b(before|prior to|earlier than|until|by)\s+(?:the\s+)?$", re.I)
_AFTER = re.compile(r"\b(after|since|later than|following)\s+(?:the\s+)?$", re.I)
MIN_CLAUSE_WORDS = 6
_TLD_LABELS = {"com", "co", "uk", "cn", "ie", "org", "net", "go", "de", "au", "in", "news", "www"}


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SourceMention(Mention):
    sources: tuple[str, ...]


@dataclass(frozen=True)
class DateMention(Mention):
    since: str | None
    until: str | None


@dataclass(frozen=True)
class SubQuery:
    text: str
    filters: Filters
    label: str  # e.g. "TechCrunch, 2023-10-01..2023-10-03"
    from_llm: bool = False  # written by the LLM's decomposition, not parsed from the question


@dataclass
class QueryPlan:
    question: str
    subqueries: list[SubQuery] = field(default_factory=list)
    sources: list[SourceMention] = field(default_factory=list)
    dates: list[DateMention] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the planner could not do


def source_aliases(sources: Iterable[str]) -> dict[str, set[str]]:
    """Ways a question may name each outlet: "The Independent" for "The Independent - Sports",
    "CNBC" for "Cnbc | World Business News Leader", "TASS" for "tass.com"."""
    aliases: dict[str, set[str]] = {}

    def add(alias: str, source: str) -> None:
        alias = alias.strip(" '\"")
        if len(alias) >= 2:
            aliases.setdefault(alias, set()).add(source)

    for name in sources:
        if not name:
            continue
        add(name, name)
        if " " not in name and "." in name:  # a host such as tass.com or europe.chinadaily.com.cn
            labels = [x for x in name.lower().split(".") if x not in _TLD_LABELS]
            if labels:
                add(labels[-1], name)
            continue
        base = re.split(r"\s+[-|–]\s+|:\s+", name)[0]
        add(base, name)
        for form in (name, base):
            if form.lower().startswith("the ") and " " in form[4:]:
                add(form[4:], name)
    return aliases


def find_sources(question: str, aliases: dict[str, set[str]]) -> list[SourceMention]:
    """Outlet mentions, longest alias first, without overlaps, in question order."""
    found: list[SourceMention] = []
    for alias in sorted(aliases, key=len, reverse=True):
        for m in _alias_pattern(alias).finditer(question):
            if any(m.start() < f.end and f.start < m.end() for f in found) or not _named(
                alias, m.group(0)
            ):
                continue
            found.append(
                SourceMention(m.start(), m.end(), m.group(0), tuple(sorted(aliases[alias])))
            )
    return sorted(found, key=lambda f: f.start)


def _named(alias: str, matched: str) -> bool:
    """Written as a name: capitalized words of the alias are capitalized in the question
    ("the Verge" is the outlet, "the verge of tears" is not)."""
    if "." in alias and " " not in alias:
        return True
    for a, m in zip(alias.split(), matched.split()):
        if a[:1].isupper() and a.lower() != "the" and not m[:1].isupper():
            return False
    return True


def _alias_pattern(alias: str) -> re.Pattern[str]:
    body = re.escape(alias)
    if " " in alias or "." in alias:
        return re.compile(rf"(?<![\w]){body}(?![\w])", re.I)
    # One word: only as a proper name (Fortune, not fortune); hosts' labels also in capitals.
    forms = {alias, alias[:1].upper() + alias[1:], alias.upper()}
    return re.compile(rf"(?<![\w])(?:{'|'.join(re.escape(f) for f in forms)})(?![\w])")


def find_dates(question: str) -> list[DateMention]:
    found: list[DateMention] = []
    for pattern, kind in _DATE_PATTERNS:
        for m in pattern.finditer(question):
            if any(m.start() < f.end and f.start < m.end() for f in found):
                continue
            window = _window(m, kind)
            if window is None:
                continue
            lo, hi = window
            prefix = question[max(0, m.start() - 30) : m.start()]
            since, until = lo.isoformat(), hi.isoformat()
            try:
                if _BEFORE.search(prefix):
                    since, until = None, (lo - timedelta(days=1)).isoformat()
                elif _AFTER.search(prefix):
                    since, until = (hi + timedelta(days=1)).isoformat(), None
            except OverflowError:  # "before January 1, 0001"
                continue
            found.append(DateMention(m.start(), m.end(), m.group(0), since, until))
    return sorted(found, key=lambda f: f.start)


def _window(m: re.Match[str], kind: str) -> tuple[date, date] | None:
    try:
        if kind == "mdy":
            d = date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
        elif kind == "dmy":
            d = date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
        elif kind == "iso":
            d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        else:
            year, month = int(m.group(2)), _MONTHS[m.group(1).lower()]
            last = calendar.monthrange(year, month)[1]
            return date(year, month, 1), date(year, month, last)
        # Publication times are in UTC; a day named in a question may be a day off.
        return d - timedelta(days=1), d + timedelta(days=1)
    except (ValueError, KeyError, OverflowError):  # "February 30", "9999-12-31"
        return None


def plan_query(
    question: str, aliases: dict[str, set[str]], base: Filters | None = None, clauses: bool = True
) -> QueryPlan:
    """The full question under the caller's filters, plus one sub-query per named outlet
    (or per date, when no outlet is named). With `clauses`, each outlet's sub-query is the
    clause that talks about it (decomposition); without, the whole question."""
    base = base or Filters()
    plan = QueryPlan(question, sources=find_sources(question, aliases), dates=find_dates(question))
    mentions = plan.sources
    # Outlet names rarely occur in article bodies: searching on them only adds noise.
    plan.subqueries.append(
        SubQuery(_strip_spans(question, 0, list(mentions)) or question, base, "question")
    )
    if mentions:
        for i, mention in enumerate(mentions):
            seg_start = 0 if i == 0 else _clause_start(question, mentions[i - 1].end, mention.start)
            seg_end = (
                len(question)
                if i + 1 == len(mentions)
                else _clause_start(question, mention.end, mentions[i + 1].start)
            )
            dates = [d for d in plan.dates if seg_start <= d.start < seg_end]
            sources = list(mention.sources)
            if base.sources:
                allowed = {s.lower() for s in base.sources}
                sources = [s for s in sources if s.lower() in allowed]
                if not sources:
                    continue
            since, until = base.since, base.until
            if dates:
                since = max(filter(None, [since, dates[0].since]), default=None)
                until = min(filter(None, [until, dates[0].until]), default=None)
            text = _strip_spans(question[seg_start:seg_end], seg_start, [mention, *dates])
            if (
                not clauses or len(text.split()) < MIN_CLAUSE_WORDS
            ):  # "... as reported by Fortune and TechCrunch?"
                text = _strip_spans(question, 0, [*mentions, *plan.dates])
            label = mention.text + (f" {since or '…'}..{until or '…'}" if dates else "")
            filters = Filters(
                sources=sources, since=since, until=until, article_ids=base.article_ids
            )
            plan.subqueries.append(SubQuery(text, filters, label))
    elif plan.dates:
        for d in plan.dates:
            since = max(filter(None, [base.since, d.since]), default=None)
            until = min(filter(None, [base.until, d.until]), default=None)
            filters = Filters(
                sources=base.sources, since=since, until=until, article_ids=base.article_ids
            )
            plan.subqueries.append(SubQuery(question, filters, d.text))
    return plan


def _clause_start(question: str, lo: int, hi: int) -> int:
    """Where the clause about the next outlet begins: the last clause break between two mentions."""
    breaks = [
        m.end()
        for m in re.finditer(r"[,;:?]\s+|\s+(?:and|while|whereas|but|or|than)\s+", question[lo:hi])
    ]
    return lo + breaks[-1] if breaks else hi


def _strip_spans(segment: str, offset: int, spans: list[Mention]) -> str:
    chars = list(segment)
    for span in spans:
        for i in range(max(span.start - offset, 0), min(span.end - offset, len(chars))):
            chars[i] = " "
    return " ".join("".join(chars).split())
