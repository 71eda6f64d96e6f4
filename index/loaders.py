"""Read articles from files, folders and zip archives, in every format a newsroom has.

Loading never raises on bad input: a file or record that cannot become an article is
reported as a `Skipped` entry (where and why) and the build goes on. Nothing here
writes to disk; zip members are read in memory, so a hostile member name cannot
escape anywhere.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .articles import Article, make_article_id, normalize_text, parse_date, source_from_url

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
TABLE_SUFFIXES = {".csv", ".jsonl", ".ndjson", ".json"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | TABLE_SUFFIXES | {".zip"}

FIELD_NAMES = ("id", "title", "text", "date", "source", "url", "subtitle")
HEADER_KEYS = {"id", "date", "published", "source", "outlet", "url", "link", "author"}
_HEADER_LINE = re.compile(r"^([A-Za-z_]+)\s*:\s*(\S.*)$")


@dataclass(frozen=True)
class Skipped:
    """An input that did not become an article, with the reason a person can act on."""

    origin: str
    reason: str


@dataclass(frozen=True)
class LoadLimits:
    """Guards against inputs that would exhaust memory (zip bombs, giant files)."""

    max_file_bytes: int = 64 * 1024 * 1024
    max_article_chars: int = 10_000_000
    max_zip_total_bytes: int = 4 * 1024 * 1024 * 1024
    max_zip_ratio: float = 200.0


@dataclass(frozen=True)
class FieldMap:
    """Which column/key of a CSV or JSON record holds each article field."""

    id: str = "id"
    title: str = "title"
    text: str = "text"
    date: str = "date"
    source: str = "source"
    url: str = "url"
    subtitle: str = "subtitle"

    @classmethod
    def parse(cls, spec: str | None) -> FieldMap:
        """Parse "id=article_id,date=publish_date" (unnamed fields keep their defaults)."""
        if not spec:
            return cls()
        values: dict[str, str] = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError(f"field mapping {part!r} is not of the form field=column")
            key, column = (s.strip() for s in part.split("=", 1))
            if key not in FIELD_NAMES:
                raise ValueError(
                    f"unknown field {key!r} in mapping; known: {', '.join(FIELD_NAMES)}"
                )
            values[key] = column
        return cls(**values)


@dataclass
class LoadReport:
    """What a load produced and what it passed over."""

    skipped: list[Skipped] = field(default_factory=list)
    files_read: int = 0

    def skip(self, origin: str, reason: str) -> None:
        self.skipped.append(Skipped(origin, reason))


def iter_articles(
    sources: Iterable[str | Path],
    report: LoadReport,
    fields: FieldMap | None = None,
    limits: LoadLimits | None = None,
) -> Iterator[Article]:
    """Yield unique articles from files and folders; duplicates and bad input go to `report`.

    An article is a duplicate when its id was seen before, or when its body text is the
    same as an earlier article's (syndicated copies); the first one wins.
    """
    fields = fields or FieldMap()
    limits = limits or LoadLimits()
    loaded = (
        article
        for path in _expand(sources, report)
        for article in _load_path(path, report, fields, limits)
    )
    yield from unique_articles(loaded, report, limits)


def unique_articles(
    articles: Iterable[Article], report: LoadReport, limits: LoadLimits
) -> Iterator[Article]:
    """The articles in order without the oversized and the duplicates (first one wins),
    hashed: what every reader of sources, local or distributed, indexes."""
    seen_ids: dict[str, str] = {}
    seen_text: dict[str, str] = {}
    for article in articles:
        if len(article.text) > limits.max_article_chars:
            report.skip(
                article.origin,
                f"article text too large ({len(article.text):,} chars > {limits.max_article_chars:,})",
            )
            continue
        if article.id in seen_ids:
            report.skip(
                article.origin, f"duplicate id {article.id!r} (first in {seen_ids[article.id]})"
            )
            continue
        text_key = hashlib.sha256(article.text.lower().encode("utf-8")).hexdigest()
        if text_key in seen_text:
            report.skip(article.origin, f"duplicate text of article {seen_text[text_key]!r}")
            continue
        seen_ids[article.id] = article.origin
        seen_text[text_key] = article.id
        yield article.with_hash()


def _expand(sources: Iterable[str | Path], report: LoadReport) -> Iterator[Path]:
    for src in sources:
        path = Path(src)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                yield child
        elif path.is_file():
            yield path
        else:
            report.skip(str(path), "no such file or folder")


def _load_path(
    path: Path, report: LoadReport, fields: FieldMap, limits: LoadLimits
) -> Iterator[Article]:
    suffix = path.suffix.lower()
    origin = str(path)
    if suffix not in SUPPORTED_SUFFIXES:
        report.skip(origin, f"unsupported file type {suffix or '(none)'!r}")
        return
    size = path.stat().st_size
    if size > limits.max_file_bytes and suffix != ".zip":
        report.skip(origin, f"file too large ({size:,} bytes > {limits.max_file_bytes:,})")
        return
    report.files_read += 1
    if suffix == ".zip":
        yield from _load_zip(path, report, fields, limits)
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        report.skip(origin, f"unreadable: {exc.strerror or exc}")
        return
    yield from _load_bytes(data, suffix, origin, report, fields, limits)


def _load_zip(
    path: Path, report: LoadReport, fields: FieldMap, limits: LoadLimits
) -> Iterator[Article]:
    origin = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        report.skip(origin, f"not a readable zip archive: {exc}")
        return
    expanded = 0
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            member = f"{origin}!{info.filename}"
            suffix = Path(info.filename).suffix.lower()
            name = Path(info.filename).name
            if name.startswith(".") or info.filename.startswith("__MACOSX/"):
                continue
            if suffix == ".zip":
                report.skip(member, "nested zip archives are not read")
                continue
            if suffix not in SUPPORTED_SUFFIXES:
                report.skip(member, f"unsupported file type {suffix or '(none)'!r}")
                continue
            if info.file_size > limits.max_file_bytes:
                report.skip(
                    member,
                    f"member too large ({info.file_size:,} bytes > {limits.max_file_bytes:,})",
                )
                continue
            if (
                info.compress_size
                and info.file_size / info.compress_size > limits.max_zip_ratio
                and info.file_size > 1_000_000
            ):
                report.skip(
                    member,
                    f"suspicious compression ratio {info.file_size / info.compress_size:.0f}:1 (zip bomb?)",
                )
                continue
            expanded += info.file_size
            if expanded > limits.max_zip_total_bytes:
                report.skip(
                    member,
                    f"archive expands beyond {limits.max_zip_total_bytes:,} bytes; rest not read",
                )
                return
            try:
                with archive.open(info) as fh:
                    data = fh.read(limits.max_file_bytes + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                report.skip(member, f"unreadable zip member: {exc}")
                continue
            if len(data) > limits.max_file_bytes:
                report.skip(member, "member expands beyond its declared size")
                continue
            yield from _load_bytes(data, suffix, member, report, fields, limits)


def _load_bytes(
    data: bytes,
    suffix: str,
    origin: str,
    report: LoadReport,
    fields: FieldMap,
    limits: LoadLimits,
) -> Iterator[Article]:
    if not data or data.isspace():  # (no stripped copy of a big file)
        report.skip(origin, "empty file")
        return
    text, problem = decode_bytes(data)
    if text is None:
        report.skip(origin, problem)
        return
    del data
    # A one-article file far past the article limit is refused before parsing makes
    # several copies of it (each costing the file's size again in memory).
    single = suffix in TEXT_SUFFIXES or suffix in HTML_SUFFIXES
    markup = 1 if suffix in TEXT_SUFFIXES else 4
    if single and len(text) > limits.max_article_chars * markup:
        report.skip(
            origin,
            f"article text too large ({len(text):,} chars > {limits.max_article_chars:,})",
        )
        return
    if suffix in TEXT_SUFFIXES:
        article = parse_text_article(text, origin, markdown=suffix != ".txt")
    elif suffix in HTML_SUFFIXES:
        article = parse_html_article(text, origin)
    elif suffix == ".csv":
        yield from _records_to_articles(_csv_records(text, origin, report), fields, report, origin)
        return
    elif suffix == ".json":
        yield from _records_to_articles(_json_records(text, origin, report), fields, report, origin)
        return
    else:
        yield from _records_to_articles(
            _jsonl_records(text, origin, report), fields, report, origin
        )
        return
    if isinstance(article, str):
        report.skip(origin, article)
    else:
        yield article


def decode_bytes(data: bytes) -> tuple[str | None, str]:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is refused.

    Guessing legacy code pages would silently index mojibake, so we refuse and say why.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), ""
        except UnicodeDecodeError:
            return None, "undecodable: invalid UTF-16"
    if b"\x00" in data[:8192]:
        return None, "binary file (NUL bytes)"
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        return None, f"undecodable: not valid UTF-8 (byte {exc.start})"


def parse_text_article(text: str, origin: str, markdown: bool = False) -> Article | str:
    """Plain text: first non-empty line is the title, then optional `key: value` headers.

    Returns the article, or the reason it cannot be one.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines):
        return "no text (only whitespace)"
    title = lines[i].strip()
    if markdown:
        title = title.lstrip("#").strip()
    i += 1
    headers: dict[str, str] = {}
    j = i
    while j < len(lines) and not lines[j].strip() and j - i < 1:
        j += 1
    while j < len(lines):
        m = _HEADER_LINE.match(lines[j].strip())
        if not m or m.group(1).lower() not in HEADER_KEYS:
            break
        headers[m.group(1).lower()] = m.group(2).strip()
        j += 1
    if headers:
        i = j
    body = normalize_text("\n".join(lines[i:]))
    if not body:
        return "no body text after the title"
    url = headers.get("url") or headers.get("link")
    source = headers.get("source") or headers.get("outlet") or source_from_url(url)
    title = normalize_text(title)
    return Article(
        id=headers.get("id") or make_article_id(source, url, title),
        title=title,
        text=body,
        date=parse_date(headers.get("date") or headers.get("published")),
        source=source,
        url=url,
        origin=origin,
    )


def parse_html_article(html: str, origin: str) -> Article | str:
    """Extract the main text and metadata of a web page with trafilatura."""
    import logging

    import trafilatura

    # Its parse complaints would print as ERROR lines mid-build; the skip report says it.
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

    try:
        doc = trafilatura.bare_extraction(
            html, with_metadata=True, include_comments=False, include_tables=False
        )
    except Exception as exc:  # trafilatura raises many parser-specific errors
        return f"unparsable HTML: {type(exc).__name__}"
    if doc is None or not (doc.text or "").strip():
        return "no article text found in HTML"
    title = normalize_text(doc.title or "")
    lines = [ln for ln in doc.text.split("\n") if ln.strip()]
    if title and lines and normalize_text(lines[0]) == title:
        lines = lines[1:]
    # trafilatura puts one block element per line: each line is a paragraph.
    body = normalize_text("\n\n".join(lines))
    if not body:
        return "no article text found in HTML"
    if not title:
        title = _title_from_text(body)
    url = doc.url
    source = doc.sitename or source_from_url(url)
    return Article(
        id=make_article_id(source, url, title),
        title=title,
        text=body,
        date=parse_date(doc.date),
        source=source,
        url=url,
        origin=origin,
    )


def _csv_records(text: str, origin: str, report: LoadReport) -> Iterator[tuple[str, dict]]:
    csv.field_size_limit(1 << 30)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    row_no = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            report.skip(
                f"{origin}#row{row_no + 1}", f"unparsable CSV: {exc}; rest of file not read"
            )
            return
        row_no += 1
        if None in row:  # more cells than header columns: broken quoting
            report.skip(
                f"{origin}#row{row_no}", "CSV row has more cells than the header (broken quoting?)"
            )
            continue
        yield f"{origin}#row{row_no}", row


def _jsonl_records(text: str, origin: str, report: LoadReport) -> Iterator[tuple[str, dict]]:
    for line_no, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{origin}#line{line_no}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            report.skip(where, f"invalid JSON: {exc.msg}")
            continue
        if not isinstance(record, dict):
            report.skip(where, "JSON line is not an object")
            continue
        yield where, record


def _json_records(text: str, origin: str, report: LoadReport) -> Iterator[tuple[str, dict]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        report.skip(origin, f"invalid JSON: {exc.msg} at line {exc.lineno}")
        return
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        report.skip(origin, "JSON file is neither an object nor a list of objects")
        return
    for n, record in enumerate(data, start=1):
        where = f"{origin}#item{n}"
        if not isinstance(record, dict):
            report.skip(where, "JSON item is not an object")
            continue
        yield where, record


def _records_to_articles(
    records: Iterable[tuple[str, dict]], fields: FieldMap, report: LoadReport, origin: str
) -> Iterator[Article]:
    """Articles from records; a file that holds no record at all is reported, not ignored."""
    skips_before = len(report.skipped)
    seen = 0
    for where, record in records:
        seen += 1
        article = record_to_article(record, where, fields)
        if isinstance(article, str):
            report.skip(where, article)
        else:
            yield article
    if not seen and len(report.skipped) == skips_before:
        report.skip(origin, "no records (only a header line, or an empty list)")


def record_to_article(record: dict, origin: str, fields: FieldMap) -> Article | str:
    """Map one CSV row / JSON object to an article, or return why it cannot be one."""

    def get(name: str) -> str:
        value = record.get(getattr(fields, name))
        if value is None:
            return ""
        return value if isinstance(value, str) else str(value)

    if fields.text not in record:
        return f"no {fields.text!r} field (map it with --fields text=COLUMN)"
    text = normalize_text(get("text"))
    subtitle = normalize_text(get("subtitle"))
    if not text:
        return "empty text"
    if subtitle and not text.startswith(subtitle):
        text = f"{subtitle}\n\n{text}"
    title = normalize_text(get("title")) or _title_from_text(text)
    url = get("url").strip() or None
    source = get("source").strip() or source_from_url(url)
    given_id = get("id").strip()
    return Article(
        id=given_id or make_article_id(source, url, title),
        title=title,
        text=text,
        date=parse_date(get("date")),
        source=source,
        url=url,
        origin=origin,
    )


def _title_from_text(text: str, words: int = 12) -> str:
    first = text.split("\n", 1)[0].split()
    return " ".join(first[:words]) + ("…" if len(first) > words else "")
