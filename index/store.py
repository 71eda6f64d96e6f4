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
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks(article_id);
CREATE INDEX IF NOT EXISTS articles_by_date ON articles(date);
CREATE INDEX IF NOT EXISTS articles_by_source ON articles(source);
"""


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


_CHUNK_COLUMNS = (
    "c.row, c.chunk_id, c.article_id, c.ordinal, c.para_start, c.para_end, c.start, c.end, c.text, "
    "a.title, a.date, a.source, a.url"
)


class ChunkStore:
    """SQLite access; read-only when serving, so a reader can never damage an index."""

    def __init__(self, path: Path, readonly: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            if readonly:
                uri = f"file:{self.path}?mode=ro&immutable=1"
                self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            else:
                self.conn = sqlite3.connect(str(self.path), check_same_thread=False)
                self.conn.executescript(SCHEMA)
            # Touch the schema now: a garbled file fails here, not mid-request.
            self.conn.execute("SELECT count(*) FROM chunks").fetchone()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(
                f"chunk store {self.path} is unreadable ({exc}); rebuild the index"
            ) from exc

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
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
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
                )
                for row, c in zip(rows, chunks)
            ],
        )
        return rows

    def remove_articles(self, article_ids: Iterable[str]) -> list[int]:
        """Delete articles and their chunks; returns the FAISS ids to remove."""
        removed: list[int] = []
        for aid in article_ids:
            removed += [
                r for (r,) in self.conn.execute("SELECT row FROM chunks WHERE article_id=?", (aid,))
            ]
            self.conn.execute("DELETE FROM chunks WHERE article_id=?", (aid,))
            self.conn.execute("DELETE FROM articles WHERE id=?", (aid,))
        return removed

    def commit(self) -> None:
        self.conn.commit()

    # -- reading -------------------------------------------------------------
    def article_hashes(self) -> dict[str, str]:
        with self._lock:
            return dict(self.conn.execute("SELECT id, content_hash FROM articles"))

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
        sql = f"SELECT {_CHUNK_COLUMNS} FROM chunks c JOIN articles a ON a.id = c.article_id WHERE c.row IN ({marks})"
        with self._lock:
            return {r[0]: StoredChunk(*r) for r in self.conn.execute(sql, [int(x) for x in rows])}

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

    def sources(self) -> list[tuple[str, int]]:
        """Outlets with their article counts, most first (for filter pickers)."""
        with self._lock:
            return list(
                self.conn.execute(
                    "SELECT source, count(*) FROM articles WHERE source IS NOT NULL GROUP BY source ORDER BY 2 DESC, 1"
                )
            )

    def date_range(self) -> tuple[str | None, str | None]:
        with self._lock:
            lo, hi = self.conn.execute("SELECT min(date), max(date) FROM articles").fetchone()
        return lo, hi
