"""The article record every loader produces, and the identities derived from it.

Ids and hashes live here (not in the loaders) so that every input format gets the
same identity rules: an article keeps its id across rebuilds, and its content hash
changes exactly when something that reaches the index changes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlparse

_WS_RUN = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class Article:
    """One news article as the index stores it.

    `text` is the normalized body; chunk offsets and citation highlights point into it,
    so it is stored verbatim beside the chunks.
    """

    id: str
    title: str
    text: str
    date: str | None = None  # ISO 8601 (YYYY-MM-DD or full timestamp)
    source: str | None = None  # outlet name or host, e.g. "tass.com"
    url: str | None = None
    origin: str = ""  # where it came from: file path (and member / row)
    content_hash: str = field(default="", compare=False)

    def with_hash(self) -> Article:
        """Return a copy carrying the hash of everything that reaches the index."""
        h = hashlib.sha256()
        for part in (
            self.id,
            self.title,
            self.text,
            self.date or "",
            self.source or "",
            self.url or "",
        ):
            h.update(part.encode("utf-8"))
            h.update(b"\x1f")
        return Article(**{**self.__dict__, "content_hash": h.hexdigest()})


def normalize_text(text: str) -> str:
    """Normalize whitespace but keep paragraph breaks, the unit a citation points at.

    Line endings become "\\n", runs of spaces collapse, trailing spaces go, and more than
    one blank line collapses to one. NFC keeps offsets stable for the same visible text.
    """
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\x00", "")
    lines = [_WS_RUN.sub(" ", line).strip() for line in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def make_article_id(source: str | None, url: str | None, title: str) -> str:
    """Id for articles that come without one: stable as long as outlet and url/title are."""
    key = f"{(source or '').strip().lower()}|{(url or title).strip()}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def parse_date(value: str | None) -> str | None:
    """Parse a free-form date to ISO 8601; None when absent or unparsable.

    A date-only value stays a date ("2017-02-07"); a timestamp keeps its time.
    """
    if value is None:
        return None
    value = str(value).strip()
    if not value or value.lower() in {"none", "null", "nan"}:
        return None
    # Nanosecond fractions ("08:45:59.000000000Z") trip dateutil; drop the fraction.
    value = re.sub(r"(\d{2}:\d{2}:\d{2})\.\d+", r"\1", value)
    from dateutil import parser

    try:
        parsed: datetime = parser.parse(value, default=datetime(1900, 1, 1))
    except (ValueError, OverflowError, TypeError):
        return None
    if parsed.year < 1800:
        return None
    has_time = bool(re.search(r"\d{1,2}:\d{2}", value))
    if not has_time:
        return parsed.date().isoformat()
    return parsed.isoformat()


def source_from_url(url: str | None) -> str | None:
    """Outlet fallback when a record names none: the url's host without "www."."""
    if not url:
        return None
    host = urlparse(url.strip()).hostname
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host
