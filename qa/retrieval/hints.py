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
    time: TimeHint | None = None  # the question's time range / date order (find_time)


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
    question: str,
    aliases: dict[str, set[str]],
    base: Filters | None = None,
    clauses: bool = True,
    now: date | None = None,
) -> QueryPlan:
    """The full question under the caller's filters, plus one sub-query per named outlet
    (or per date, when no outlet is named). With `clauses`, each outlet's sub-query is the
    clause that talks about it (decomposition); without, the whole question. With `now`
    (the reference date), a time range the question states ("before 2017", "as of March
    2017", "last month") filters every sub-query, and `plan.time` says so."""
    base = base or Filters()
    plan = QueryPlan(question, sources=find_sources(question, aliases), dates=find_dates(question))
    mentions = plan.sources
    time_spans: list[Mention] = []
    if now is not None:
        base, time_spans = _apply_time(plan, base, now)
    # Outlet names rarely occur in article bodies: searching on them only adds noise.
    plan.subqueries.append(
        SubQuery(_strip_spans(question, 0, [*mentions, *time_spans]) or question, base, "question")
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


def _apply_time(plan: QueryPlan, base: Filters, now: date) -> tuple[Filters, list[Mention]]:
    """The caller's filters narrowed to the question's time range, and the time words to
    leave out of the searched text. Two or more named outlets keep their dates as
    per-outlet hints: one range over all of them could exclude the others' articles."""
    outlets = [(m.start, m.end) for m in plan.sources]
    hint = find_time(plan.question, now, outlets)
    if hint is None:
        return base, []
    plan.notes += list(hint.notes)
    for d in hint.soft:  # the event's time: one more sub-query, like a date hint
        if not any(x.start < d.end and d.start < x.end for x in plan.dates):
            plan.dates.append(d)
    plan.dates.sort(key=lambda d: d.start)
    spans = [Mention(s, e, plan.question[s:e]) for s, e in hint.spans]
    masked = [*outlets, *((m.start(), m.end()) for m in _QUOTED.finditer(plan.question))]
    rx = {"latest": _LATEST, "first": _FIRST}.get(hint.order or "")
    for m in rx.finditer(plan.question) if rx else ():
        if not any(a < m.end() and m.start() < b for a, b in masked):
            spans.append(Mention(m.start(), m.end(), m.group(0)))
            break
    outside = [
        d
        for d in plan.dates
        if not any(s <= d.start < e for s, e in hint.spans)
        and (
            (hint.until and d.since and d.since > hint.until)
            or (hint.since and d.until and d.until < hint.since)
        )
    ]
    if (hint.since or hint.until) and outside:
        # "before October 1 ... the report on December 5": the range dates one clause.
        plan.notes.append(
            f"{hint.phrase!r} kept as a hint: the question also names {outside[0].text!r}"
        )
        own = DateMention(hint.spans[0][0], hint.spans[-1][1], hint.phrase, hint.since, hint.until)
        plan.dates = [d for d in plan.dates if not (d.start < own.end and own.start < d.end)]
        plan.dates.append(own)
        plan.dates.sort(key=lambda d: d.start)
        plan.time = (
            TimeHint(None, None, hint.order, hint.phrase, (), hint.notes) if hint.order else None
        )
        return base, [x for x in spans if (x.start, x.end) not in hint.spans] if hint.order else []
    if not (hint.since or hint.until):
        plan.time = hint if hint.order else None
        return base, spans if hint.order else []
    if len(plan.sources) > 1:
        plan.time = TimeHint(None, None, hint.order, hint.phrase, (), hint.notes)
        plan.notes.append(
            f"{hint.phrase!r} kept as a hint per outlet: the question names several outlets"
        )
        return base, []
    since = max(filter(None, [base.since, hint.since]), default=None)
    until = min(filter(None, [base.until, hint.until]), default=None)
    if since and until and since > until:
        plan.notes.append(f"{hint.phrase!r} falls outside the chosen dates; ignored")
        return base, []
    plan.time = TimeHint(since, until, hint.order, hint.phrase, hint.spans, hint.notes)
    # Dates inside the range's words are that range, not extra sub-queries.
    plan.dates = [d for d in plan.dates if not any(s <= d.start < e for s, e in hint.spans)]
    return base.model_copy(update={"since": since, "until": until}), spans


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


# -- time-aware questions -----------------------------------------------------------
# Cue words find where a time phrase is; dateparser reads the phrase itself (absolute or
# relative to the reference date) and says how long a period it names (day ... year).
_LATEST = re.compile(r"\b(?:latest|most recent(?:ly)?|newest|last report(?:ed|s)?)\b", re.I)
_FIRST = re.compile(
    r"\b(?:earliest|first (?:report|mention|cover|publish|wr[io]te|sa[iy]d)\w*"
    r"|(?:archive|outlet|it|they|media|press) first)\b|\bwhen did\b[^?.]*\bfirst\b",
    re.I,
)
_RANGE_CUE = re.compile(
    r"\b(as of|as at|up to|until|till|by|before|prior to|earlier than|after|later than|"
    r"since|from|in|during|throughout|on)\s+(?:the\s+)?",
    re.I,
)
_BARE_RELATIVE = re.compile(
    r"\b(?:(?:last|this|past|previous)\s+(?:week|month|year)|yesterday|today"
    r"|(?:\d+|a|one|two|three|four|five|six)\s+(?:days?|weeks?|months?|years?)\s+ago)\b",
    re.I,
)
_DATEISH = re.compile(
    rf"\b(?:\d{{4}}|{_MONTH_RE}|last|this|past|previous|ago|yesterday|today)\b", re.I
)
_PERIOD_END = re.compile(
    rf"(?:\d|\b(?:{_MONTH_RE}|week|month|year|ago|yesterday|today)s?)\W*$", re.I
)
_TIMEISH = re.compile(r"\b(?:spring|summer|autumn|fall|winter|quarter|weekend)\b", re.I)
_PHRASE_END = re.compile(  # a comma before a year belongs to the date ("October 1, 2023")
    r"[;:?!()\"]|,(?!\s*\d{4}\b)|\s(?:and|or|but|what|who|when|how|did|does|was|were)\s", re.I
)
# Words that make "in March 2017" / "last year" about when the archive reported something.
_COVERAGE = re.compile(
    r"\b(?:report\w*|publish\w*|cover\w*|archive|articles?|news|stor(?:y|ies)|press|media"
    r"|wr[io]te|headlines?|happen\w*)\b",
    re.I,
)
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”')
_UNTIL = {"as of", "as at", "up to", "until", "till", "by"}
_BEFORE_CUES = {"before", "prior to", "earlier than"}
_AFTER_CUES = {"after", "later than"}
_SINCE = {"since", "from"}


@dataclass(frozen=True)
class TimeHint:
    """What a question says about time: a range (hard filter) and/or an order by date."""

    since: str | None
    until: str | None
    order: str | None  # "latest" | "first" | None
    phrase: str
    spans: tuple[tuple[int, int], ...]  # where the time words are (stripped from the search)
    notes: tuple[str, ...] = ()
    # "in 2015" in "How many died in 2015?" dates the event, not the article: such ranges
    # are only hints (a sub-query each; the unfiltered question still runs).
    soft: tuple[DateMention, ...] = ()


def _parser(now: date):  # cached per reference date: building one costs ~1 s once
    return _parser_cached(now.isoformat())


def _parser_cached(iso: str):
    from datetime import datetime

    from dateparser.date import DateDataParser

    cached = _PARSERS.get(iso)
    if cached is None:
        cached = DateDataParser(
            languages=["en"],
            settings={
                "RELATIVE_BASE": datetime.fromisoformat(iso),
                "PREFER_DATES_FROM": "past",
                "RETURN_TIME_AS_PERIOD": True,
                "STRICT_PARSING": False,
            },
        )
        if len(_PARSERS) > 32:
            _PARSERS.clear()
        _PARSERS[iso] = cached
    return cached


_PARSERS: dict[str, object] = {}


def _period(text: str, now: date) -> tuple[date, date] | None:
    """The first and last day of the period `text` names, or None if it names none."""
    if not _DATEISH.search(text):  # "on Tuesday", "in the end", "by Reuters": not a period
        return None
    try:
        data = _parser(now).get_date_data(text)
    except (ValueError, OverflowError, TypeError):
        return None
    if data is None or data.date_obj is None:
        return None
    d = data.date_obj.date()
    if data.period == "year":
        return date(d.year, 1, 1), date(d.year, 12, 31)
    if data.period == "month":
        return date(d.year, d.month, 1), date(
            d.year, d.month, calendar.monthrange(d.year, d.month)[1]
        )
    if data.period == "week":
        start = d - timedelta(days=d.weekday())
        return start, start + timedelta(days=6)
    return d, d


def find_time(question: str, now: date, ignore: Iterable[tuple[int, int]] = ()) -> TimeHint | None:
    """The question's time range and date order, relative phrases resolved against `now`.

    Words inside `ignore` (the outlets the question names: "Business Today | Latest Stock
    Market News") or inside double quotes (a title: "Chris Hammer's latest book") are not
    time words. One range phrase filters the whole question; two or more ("the article
    after September 26 and the one after December 24") each date their own clause, so they
    become hints (`soft`), like the time of an event. A day named after "before"/"after"
    counts itself (publication times are UTC: the day may be off by one). A phrase that
    looks like a time but does not parse ("since the spring") is ignored with a note;
    nothing here raises."""
    masked = [*ignore, *((m.start(), m.end()) for m in _QUOTED.finditer(question))]

    def free(m: re.Match[str]) -> bool:
        return not any(a < m.end() and m.start() < b for a, b in masked)

    order = None
    for rx, name in ((_LATEST, "latest"), (_FIRST, "first")):
        if any(free(m) for m in rx.finditer(question)):
            order = name
            break
    notes: list[str] = []
    coverage = bool(_COVERAGE.search(question))
    soft: list[DateMention] = []
    hard: list[tuple[str, date, date, int, int]] = []  # cue, first day, last day, span
    for m in _RANGE_CUE.finditer(question):
        if not free(m):
            continue
        cue = " ".join(m.group(1).lower().split())
        rest = question[m.end() : m.end() + 40]
        cut = _PHRASE_END.search(rest)
        tokens = (rest[: cut.start()] if cut else rest).split()[:4]
        found = None
        for n in range(len(tokens), 0, -1):  # the longest words that parse as a period
            text = " ".join(tokens[:n]).rstrip(".")
            if not _PERIOD_END.search(text):  # "March 2017 about": the period ends earlier
                continue
            window = _period(text, now)
            if window:
                found = (text, window)
                break
        if found is None:
            said = " ".join(tokens)
            if cue not in ("on", "in", "from") and (
                _DATEISH.search(said) or _TIMEISH.search(said) or re.search(r"\d", said)
            ):
                notes.append(f"could not read a date in {m.group(0) + ' '.join(tokens)!r}; ignored")
            continue
        text, (lo, hi) = found
        if cue == "on" or (cue in ("in", "from") and lo == hi):
            continue  # a day "on"/"in" a clause is an outlet's hint (sub-query), not a range
        end = m.end() + rest.find(text) + len(text)
        if cue not in _UNTIL | _BEFORE_CUES | _AFTER_CUES | _SINCE and not coverage:
            # in/during the event's time: a hint only
            soft.append(
                DateMention(
                    m.start(), end, question[m.start() : end], lo.isoformat(), hi.isoformat()
                )
            )
            continue
        hard.append((cue, lo, hi, m.start(), end))
    for m in _BARE_RELATIVE.finditer(question):
        if not free(m) or any(s <= m.start() < e for _, _, _, s, e in hard):
            continue
        window = _period(m.group(0), now)
        if window is None:
            continue
        lo, hi = window
        if m.group(0).lower().startswith("past"):
            lo, hi = now - (hi - lo), now
        hi = min(hi, now)
        if not coverage:
            soft.append(DateMention(m.start(), m.end(), m.group(0), lo.isoformat(), hi.isoformat()))
            continue
        hard.append(("in", lo, hi, m.start(), m.end()))
    if len(hard) > 1:
        # Several time phrases: each dates its own clause (two articles compared).
        soft += [_as_hint(question, *h) for h in hard]
        notes.append(
            "several time phrases ("
            + "; ".join(repr(question[s:e]) for *_, s, e in hard)
            + ") searched as hints, not one range"
        )
        hard = []
    since = until = None
    spans: list[tuple[int, int]] = []
    words: list[str] = []
    for cue, lo, hi, start, end in hard:
        try:
            since, until = _bounds(cue, lo, hi)
        except OverflowError:
            continue
        spans.append((start, end))
        words.append(question[start:end])
    if not (order or since or until):
        if notes or soft:
            return TimeHint(None, None, None, "", (), tuple(notes), tuple(soft))
        return None
    for rx in (_LATEST, _FIRST):
        if order and (order == "latest") == (rx is _LATEST):
            m = next((x for x in rx.finditer(question) if free(x)), None)
            if m:
                words.insert(0, m.group(0))
    return TimeHint(
        since.isoformat() if since else None,
        until.isoformat() if until else None,
        order,
        "; ".join(words),
        tuple(spans),
        tuple(notes),
        tuple(soft),
    )


def _bounds(cue: str, lo: date, hi: date) -> tuple[date | None, date | None]:
    """The (since, until) a cue makes of a period. A single day after before/after counts
    itself: a question's day may be a day off the UTC publication time."""
    day = lo == hi
    if cue in _UNTIL:
        return None, hi
    if cue in _BEFORE_CUES:
        return None, hi if day else lo - timedelta(days=1)
    if cue in _AFTER_CUES:
        return (lo if day else hi + timedelta(days=1)), None
    if cue in _SINCE:
        return lo, None
    return lo, hi  # in, during, throughout


def _as_hint(question: str, cue: str, lo: date, hi: date, start: int, end: int) -> DateMention:
    since, until = _bounds(cue, lo, hi)
    return DateMention(
        start,
        end,
        question[start:end],
        since.isoformat() if since else None,
        until.isoformat() if until else None,
    )
