"""The chunk store: articles and chunks in SQLite (safe to open, never pickle).

Rows in `chunks` are keyed by the integer id FAISS holds for the chunk's vector, so a
search hit maps straight to its chunk, article and paragraph.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .articles import Article
from .chunker import Chunk
from .errors import IndexCorruptError
from .quotes import Statement, decode_statements

SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    date TEXT,
    source TEXT,
    url TEXT,
    content_hash TEXT NOT NULL,
    origin TEXT,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    row INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL REFERENCES articles(id),
    ordinal INTEGER NOT NULL,
    para_start INTEGER NOT NULL,
    para_end INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    ents TEXT
);
CREATE TABLE IF NOT EXISTS statements (
    id INTEGER PRIMARY KEY,
    row INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    paragraph INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    normalized TEXT NOT NULL,
    role TEXT NOT NULL,
    verb TEXT NOT NULL,
    statement TEXT NOT NULL,
    direct INTEGER NOT NULL,
    resolved INTEGER NOT NULL,
    date TEXT,
    source TEXT
);
CREATE INDEX IF NOT EXISTS statements_by_row ON statements(row);
CREATE INDEX IF NOT EXISTS statements_by_article ON statements(article_id);
CREATE INDEX IF NOT EXISTS statements_by_speaker ON statements(normalized COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS story_sigs (
    article_id TEXT PRIMARY KEY,
    sig BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks(article_id);
CREATE INDEX IF NOT EXISTS articles_by_date ON articles(date);
CREATE INDEX IF NOT EXISTS articles_by_source ON articles(source);
"""

# A delta segment's store holds its own articles and chunks (SCHEMA) plus its tombstones:
# the base articles it replaces or removes, and their base rows.
DELTA_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_articles (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS dead_rows (row INTEGER PRIMARY KEY);
"""

# Over base + delta, these TEMP views shadow the base tables (temp names resolve first), so
# every query below, and ad-hoc ones on `conn`, see one archive: the base minus its
# tombstones, plus the delta. SQLite pushes row and article filters into both halves.
UNION_VIEWS = """
CREATE TEMP VIEW articles AS
    SELECT * FROM main.articles WHERE id NOT IN (SELECT id FROM delta.dead_articles)
    UNION ALL SELECT * FROM delta.articles;
CREATE TEMP VIEW chunks AS
    SELECT * FROM main.chunks WHERE row NOT IN (SELECT row FROM delta.dead_rows)
    UNION ALL SELECT * FROM delta.chunks;
"""
# Statements (index.quotes) over base + delta, for whichever halves have the table (a base
# built before statements existed has none; `update --compact` fills it).
STATEMENT_VIEWS = {
    (True, True): """CREATE TEMP VIEW statements AS
    SELECT * FROM main.statements WHERE row NOT IN (SELECT row FROM delta.dead_rows)
    UNION ALL SELECT * FROM delta.statements;""",
    (True, False): """CREATE TEMP VIEW statements AS
    SELECT * FROM main.statements WHERE row NOT IN (SELECT row FROM delta.dead_rows);""",
    (False, True): "CREATE TEMP VIEW statements AS SELECT * FROM delta.statements;",
}
STATEMENT_COLUMNS = (
    "row, article_id, paragraph, start, end, speaker, normalized, role, verb, statement, "
    "direct, resolved, date, source"
)


@dataclass(frozen=True)
class StoredStatement:
    """One attributed statement (index.quotes); offsets are into its paragraph."""

    row: int  # the chunk holding it
    article_id: str
    paragraph: int
    start: int
    end: int
    speaker: str
    normalized: str
    role: str
    verb: str
    statement: str
    direct: bool
    resolved: bool
    date: str | None
    source: str | None


def sqlite_uri(path: Path, query: str = "") -> str:
    """A SQLite URI for `path` (quoted, so '?', '#' or '%' in a folder name are safe)."""
    from urllib.parse import quote

    uri = "file:" + quote(str(Path(path).absolute()))
    return uri + (f"?{query}" if query else "")


@dataclass(frozen=True)
class StoredChunk:
    """A chunk joined with the article fields a citation shows."""

    row: int
    chunk_id: str
    article_id: str
    ordinal: int
    para_start: int
    para_end: int
    start: int
    end: int
    text: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    entities: str | None = None  # JSON spans (index.annotate); None: not annotated


_CHUNK_COLUMNS = (
    "c.row, c.chunk_id, c.article_id, c.ordinal, c.para_start, c.para_end, c.start, c.end, c.text, "
    "a.title, a.date, a.source, a.url"
)


class ChunkStore:
    """SQLite access; read-only when serving, so a reader can never damage an index.

    With `delta`, the base store and a delta segment's store are read as one archive
    (read-only only). With `delta_schema`, a writable store gets the tombstone tables.
    """

    def __init__(
        self,
        path: Path,
        readonly: bool = True,
        delta: Path | None = None,
        delta_schema: bool = False,
    ) -> None:
        self.path = Path(path)
        self.delta = Path(delta) if delta is not None else None
        self._lock = threading.Lock()
        try:
            if readonly:
                uri = sqlite_uri(self.path, "mode=ro&immutable=1")
                self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                if self.delta is not None:
                    self.conn.execute(
                        "ATTACH DATABASE ? AS delta",
                        (sqlite_uri(self.delta, "mode=ro&immutable=1"),),
                    )
                    self.conn.execute("SELECT count(*) FROM delta.dead_rows").fetchone()
                    self.conn.executescript(UNION_VIEWS)
                    halves = (self._has_table("main"), self._has_table("delta"))
                    if halves in STATEMENT_VIEWS:
                        self.conn.executescript(STATEMENT_VIEWS[halves])
            else:
                if self.delta is not None:
                    raise ValueError("a store with a delta segment is read-only")
                # uri=True so a compaction can ATTACH the old delta read-only by URI.
                self.conn = sqlite3.connect(
                    sqlite_uri(self.path), uri=True, check_same_thread=False
                )
                self.conn.executescript(SCHEMA + (DELTA_SCHEMA if delta_schema else ""))
            # Touch the schema now: a garbled file fails here, not mid-request. (`main.`: the
            # union view would count the whole archive.)
            self.conn.execute("SELECT count(*) FROM main.chunks").fetchone()
            columns = {r[1] for r in self.conn.execute("PRAGMA main.table_info(chunks)")}
            if "ents" not in columns and not readonly:
                # A store written before entity annotation, being rewritten (compaction).
                self.conn.execute("ALTER TABLE chunks ADD COLUMN ents TEXT")
                columns.add("ents")
            self.annotated_schema = "ents" in columns
            self.has_statements = self._has_table("main") or (
                self.delta is not None and self._has_table("delta")
            )
        except sqlite3.DatabaseError as exc:
            where = self.path if self.delta is None else f"{self.path} + {self.delta}"
            raise IndexCorruptError(
                f"chunk store {where} is unreadable ({exc}); rebuild the index"
            ) from exc

    def _has_table(self, schema: str, table: str = "statements") -> bool:
        sql = f"SELECT 1 FROM {schema}.sqlite_master WHERE type='table' AND name=?"
        return self.conn.execute(sql, (table,)).fetchone() is not None

    def close(self) -> None:
        self.conn.close()

    # -- writing -------------------------------------------------------------
    def add(self, article: Article, chunks: Sequence[Chunk], first_row: int) -> list[int]:
        """Insert an article and its chunks; returns the rows (= FAISS ids) used."""
        self.conn.execute(
            "INSERT INTO articles VALUES (?,?,?,?,?,?,?,?)",
            (
                article.id,
                article.title,
                article.date,
                article.source,
                article.url,
                article.content_hash,
                article.origin,
                article.text,
            ),
        )
        rows = list(range(first_row, first_row + len(chunks)))
        self.conn.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    row,
                    c.chunk_id,
                    c.article_id,
                    c.ordinal,
                    c.para_start,
                    c.para_end,
                    c.start,
                    c.end,
                    c.text,
                    c.entities,
                )
                for row, c in zip(rows, chunks)
            ],
        )
        self.add_statements(
            [(row, s) for row, c in zip(rows, chunks) for s in decode_statements(c.statements)],
            article,
        )
        return rows

    def add_statements(self, found: Sequence[tuple[int, Statement]], article: Article) -> None:
        """Insert (chunk row, statement) pairs of one article."""
        marks = ",".join("?" * 14)
        self.conn.executemany(
            f"INSERT INTO statements ({STATEMENT_COLUMNS}) VALUES ({marks})",
            [
                (
                    row,
                    article.id,
                    s.paragraph,
                    s.start,
                    s.end,
                    s.speaker,
                    s.normalized,
                    s.role,
                    s.verb,
                    s.statement,
                    int(s.direct),
                    int(s.resolved),
                    article.date,
                    article.source,
                )
                for row, s in found
            ],
        )

    def add_articles(
        self, chunked: Sequence[tuple[Article, Sequence[Chunk]]], first_row: int
    ) -> list[int]:
        """Insert articles and chunks at consecutive rows from `first_row`; returns the rows."""
        rows: list[int] = []
        for article, chunks in chunked:
            rows += self.add(article, chunks, first_row + len(rows))
        return rows

    def remove_articles(self, article_ids: Iterable[str]) -> list[int]:
        """Delete articles and their chunks; returns the FAISS ids to remove."""
        removed: list[int] = []
        for aid in article_ids:
            removed += [
                r for (r,) in self.conn.execute("SELECT row FROM chunks WHERE article_id=?", (aid,))
            ]
            self.conn.execute("DELETE FROM chunks WHERE article_id=?", (aid,))
            self.conn.execute("DELETE FROM statements WHERE article_id=?", (aid,))
            self.conn.execute("DELETE FROM articles WHERE id=?", (aid,))
            self.conn.execute("DELETE FROM story_sigs WHERE article_id=?", (aid,))
        return removed

    def mark_dead(self, article_ids: Iterable[str], rows: Iterable[int]) -> None:
        """Record base articles (and their rows) that this delta removes or replaces."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO dead_articles VALUES (?)", [(a,) for a in article_ids]
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO dead_rows VALUES (?)", [(int(r),) for r in rows]
        )

    def commit(self) -> None:
        self.conn.commit()

    # -- reading -------------------------------------------------------------
    def article_hashes(self) -> dict[str, str]:
        with self._lock:
            return dict(self.conn.execute("SELECT id, content_hash FROM articles"))

    def dead_rows(self) -> list[int]:
        """Base rows hidden by the delta segment (empty without one)."""
        if self.delta is None:
            return []
        with self._lock:
            return [r for (r,) in self.conn.execute("SELECT row FROM delta.dead_rows ORDER BY row")]

    def segment_of(self, article_id: str) -> str | None:
        """Where the live copy of an article is: "delta", "base", or None (not indexed)."""
        with self._lock:
            if self.delta is not None:
                hit = self.conn.execute(
                    "SELECT 1 FROM delta.articles WHERE id=?", (article_id,)
                ).fetchone()
                if hit:
                    return "delta"
            hit = self.conn.execute("SELECT 1 FROM articles WHERE id=?", (article_id,)).fetchone()
        return "base" if hit else None

    def delta_chunk_count(self, article_ids: Sequence[str]) -> int:
        """Chunks these articles have in the delta segment (0 without one)."""
        if self.delta is None or not article_ids:
            return 0
        marks = ",".join("?" * len(article_ids))
        with self._lock:
            (n,) = self.conn.execute(
                f"SELECT count(*) FROM delta.chunks WHERE article_id IN ({marks})",
                list(article_ids),
            ).fetchone()
        return int(n)

    def segment_chunk_texts(
        self, article_ids: Sequence[str], segment: str = "main"
    ) -> list[tuple[int, str, str]]:
        """(row, title, text) of these articles' chunks in one segment ("main" = base, or
        "delta"), whatever the tombstones say: what an update replaces or removes."""
        if segment not in ("main", "delta") or (segment == "delta" and self.delta is None):
            return []
        sql = (
            f"SELECT c.row, a.title, c.text FROM {segment}.chunks c "
            f"JOIN {segment}.articles a ON a.id = c.article_id WHERE c.article_id=? ORDER BY c.row"
        )
        out: list[tuple[int, str, str]] = []
        with self._lock:
            for aid in article_ids:
                out += self.conn.execute(sql, (aid,)).fetchall()
        return out

    def article_hash(self, article_id: str) -> str | None:
        with self._lock:
            hit = self.conn.execute(
                "SELECT content_hash FROM articles WHERE id=?", (article_id,)
            ).fetchone()
        return hit[0] if hit else None

    def find_article_ids(self, key: str) -> list[str]:
        """Articles an operator means by `key`: its id, or else its exact url."""
        with self._lock:
            hit = self.conn.execute("SELECT id FROM articles WHERE id=?", (key,)).fetchone()
            if hit:
                return [hit[0]]
            return [r for (r,) in self.conn.execute("SELECT id FROM articles WHERE url=?", (key,))]

    def max_row(self) -> int:
        with self._lock:
            (value,) = self.conn.execute("SELECT coalesce(max(row), -1) FROM chunks").fetchone()
        return int(value)

    def counts(self) -> tuple[int, int]:
        with self._lock:
            (a,) = self.conn.execute("SELECT count(*) FROM articles").fetchone()
            (c,) = self.conn.execute("SELECT count(*) FROM chunks").fetchone()
        return int(a), int(c)

    def chunks_by_rows(self, rows: Sequence[int]) -> dict[int, StoredChunk]:
        if not rows:
            return {}
        marks = ",".join("?" * len(rows))
        ents = "c.ents" if self.annotated_schema else "NULL"
        sql = f"SELECT {_CHUNK_COLUMNS}, {ents} FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.row IN ({marks})"
        with self._lock:
            return {r[0]: StoredChunk(*r) for r in self.conn.execute(sql, [int(x) for x in rows])}

    def chunks_by_ids(self, chunk_ids: Sequence[str]) -> dict[str, StoredChunk]:
        """Live chunks by their stable ids (labels and links name chunks by id, not row)."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        ents = "c.ents" if self.annotated_schema else "NULL"
        sql = f"SELECT {_CHUNK_COLUMNS}, {ents} FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.chunk_id IN ({marks})"
        with self._lock:
            rows = self.conn.execute(sql, [str(x) for x in chunk_ids]).fetchall()
        return {r[1]: StoredChunk(*r) for r in rows}

    def unannotated_chunks(self) -> list[tuple[int, str]]:
        """(row, text) of the chunks whose entities were never found (an old index)."""
        with self._lock:
            return self.conn.execute(
                "SELECT row, text FROM chunks WHERE ents IS NULL ORDER BY row"
            ).fetchall()

    def set_entities(self, values: Sequence[tuple[int, str]]) -> None:
        """Store (row, entities JSON) pairs; a writable store only."""
        with self._lock:
            self.conn.executemany(
                "UPDATE chunks SET ents=? WHERE row=?", [(v, r) for r, v in values]
            )

    def iter_chunk_texts(self) -> Iterable[tuple[int, str, str]]:
        """(row, article title, chunk text) for every chunk, in row order."""
        sql = "SELECT c.row, a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id ORDER BY c.row"
        with self._lock:
            yield from self.conn.execute(sql).fetchall()

    def article(self, article_id: str) -> Article | None:
        with self._lock:
            r = self.conn.execute(
                "SELECT id, title, text, date, source, url, origin, content_hash FROM articles WHERE id=?",
                (article_id,),
            ).fetchone()
        if r is None:
            return None
        return Article(
            id=r[0],
            title=r[1],
            text=r[2],
            date=r[3],
            source=r[4],
            url=r[5],
            origin=r[6] or "",
            content_hash=r[7],
        )

    def rows_matching(
        self,
        sources: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        article_ids: Sequence[str] | None = None,
    ) -> list[int]:
        """FAISS ids of chunks whose article passes the filters (all of them must hold).

        Dates compare as ISO strings; `until` is inclusive of the whole day.
        """
        where, args = [], []
        if sources:
            where.append(f"lower(a.source) IN ({','.join('?' * len(sources))})")
            args += [s.lower() for s in sources]
        if since:
            where.append("a.date >= ?")
            args.append(since)
        if until:
            where.append("a.date < ?")
            args.append(until + "\uffff")
        if article_ids:
            where.append(f"a.id IN ({','.join('?' * len(article_ids))})")
            args += list(article_ids)
        sql = "SELECT c.row FROM chunks c JOIN articles a ON a.id = c.article_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            return [r for (r,) in self.conn.execute(sql, args)]

    def statement_counts(self) -> tuple[int, int]:
        """(statements, distinct normalised speakers); (0, 0) without a statements table."""
        if not self.has_statements:
            return 0, 0
        with self._lock:
            n, speakers = self.conn.execute(
                "SELECT count(*), count(DISTINCT lower(normalized)) FROM statements"
            ).fetchone()
        return int(n), int(speakers)

    def find_statements(
        self,
        speaker: str | None = None,
        rows: Sequence[int] | None = None,
        sources: Sequence[str] | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 1000,
    ) -> list[StoredStatement]:
        """Statements passing every filter: `speaker` matches the normalised or written
        speaker as a substring (case-insensitive), `rows` the chunks holding them."""
        if not self.has_statements:
            return []
        where, args = [], []
        if speaker:
            where.append("(normalized LIKE ? OR speaker LIKE ?)")
            args += [f"%{speaker.strip()}%"] * 2
        if rows is not None:
            if not rows:
                return []
            where.append(f"row IN ({','.join('?' * len(rows))})")
            args += [int(r) for r in rows]
        if sources:
            where.append(f"lower(source) IN ({','.join('?' * len(sources))})")
            args += [s.lower() for s in sources]
        if since:
            where.append("date >= ?")
            args.append(since)
        if until:
            where.append("date < ?")
            args.append(until + "\uffff")
        sql = f"SELECT {STATEMENT_COLUMNS} FROM statements"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY date DESC, row, start LIMIT ?"
        with self._lock:
            found = self.conn.execute(sql, [*args, int(limit)]).fetchall()
        return [StoredStatement(*r[:10], bool(r[10]), bool(r[11]), r[12], r[13]) for r in found]

    def sources(self) -> list[tuple[str, int]]:
        """Outlets with their article counts, most first (for filter pickers)."""
        with self._lock:
            return list(
                self.conn.execute(
                    "SELECT source, count(*) FROM articles WHERE source IS NOT NULL GROUP BY source ORDER BY 2 DESC, 1"
                )
            )

    def article_dates(
        self, rows: Sequence[int] | None = None
    ) -> list[tuple[str, str | None, str | None]]:
        """(article id, date, source) of the articles holding these chunk rows (None: every
        article): what a timeline counts."""
        with self._lock:
            if rows is None:
                return self.conn.execute("SELECT id, date, source FROM articles").fetchall()
            marks = ",".join("?" * len(rows))
            return self.conn.execute(
                "SELECT DISTINCT a.id, a.date, a.source FROM chunks c JOIN articles a "
                f"ON a.id = c.article_id WHERE c.row IN ({marks})",
                [int(r) for r in rows],
            ).fetchall()

    # -- one story across outlets (index.stories) ------------------------------
    def story_signatures(self) -> list[tuple[str, object]]:
        """(article id, MinHash values) of the live articles that have a stored signature:
        the base's minus the delta's tombstones, plus the delta's."""
        from .stories import from_blob

        out = []
        with self._lock:
            if self._has_table("main", "story_sigs"):
                sql = (
                    "SELECT article_id, sig FROM main.story_sigs "
                    "WHERE article_id IN (SELECT id FROM main.articles)"
                )
                if self.delta is not None:
                    sql += " AND article_id NOT IN (SELECT id FROM delta.dead_articles)"
                out += self.conn.execute(sql).fetchall()
            if self.delta is not None and self._has_table("delta", "story_sigs"):
                out += self.conn.execute(
                    "SELECT article_id, sig FROM delta.story_sigs "
                    "WHERE article_id IN (SELECT id FROM delta.articles)"
                ).fetchall()
        return [(aid, from_blob(blob)) for aid, blob in out]

    def article_ids(self) -> list[str]:
        with self._lock:
            return [a for (a,) in self.conn.execute("SELECT id FROM articles ORDER BY id")]

    def article_texts(self, article_ids: Sequence[str]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        ids = list(article_ids)
        with self._lock:
            for lo in range(0, len(ids), 500):
                part = ids[lo : lo + 500]
                marks = ",".join("?" * len(part))
                out += self.conn.execute(
                    f"SELECT id, text FROM articles WHERE id IN ({marks})", part
                ).fetchall()
        return out

    def unsigned_articles(self) -> list[tuple[str, str]]:
        """(id, text) of this (writable) store's articles without a story signature."""
        with self._lock:
            return self.conn.execute(
                "SELECT id, text FROM articles WHERE id NOT IN (SELECT article_id FROM story_sigs)"
            ).fetchall()

    def set_story_signatures(self, values: Iterable[tuple[str, bytes]]) -> None:
        with self._lock:
            self.conn.executemany("INSERT OR REPLACE INTO story_sigs VALUES (?,?)", list(values))

    def undated_articles(self) -> int:
        """Articles with no publication date (kept; left out of time-bound answers)."""
        with self._lock:
            (n,) = self.conn.execute(
                "SELECT count(*) FROM articles WHERE date IS NULL OR date = ''"
            ).fetchone()
        return int(n)

    def date_range(self) -> tuple[str | None, str | None]:
        with self._lock:
            lo, hi = self.conn.execute("SELECT min(date), max(date) FROM articles").fetchone()
        return lo, hi
