"""Ingestion: every supported format loads with its metadata; bad input is skipped with a reason."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from index.articles import parse_date, source_from_url
from index.loaders import FieldMap, LoadReport, iter_articles
from tests.helpers import ARCHIVE, NEWS_FIELDS, SEED


def load(*paths, fields: FieldMap | None = None):
    report = LoadReport()
    articles = list(iter_articles(list(paths), report, fields))
    return articles, report


def reasons(report: LoadReport) -> dict[str, str]:
    return {Path(s.origin.split("!")[-1].split("#")[0]).name: s.reason for s in report.skipped}


def test_seed_article_loads_as_txt():
    (article,), report = load(SEED)
    assert not report.skipped
    assert article.title == "Captured Russian soldier claims Moscow has special squad for deserters"
    assert "Sergei Ryabkov" in article.text
    assert "\n\n" in article.text  # paragraph breaks kept
    assert len(article.content_hash) == 64
    again, _ = load(SEED)
    assert again[0].id == article.id and again[0].content_hash == article.content_hash


def test_news_archive_loads_with_documented_mapping(news_rows):
    articles, report = load(ARCHIVE, fields=FieldMap.parse(NEWS_FIELDS))
    empty = sum(1 for r in news_rows if not r["text"].strip())
    assert empty == 36
    assert len(articles) + len(report.skipped) == 3824
    assert sum(1 for s in report.skipped if s.reason == "empty text") == 36
    assert all(s.reason.startswith(("empty text", "duplicate")) for s in report.skipped)
    first = next(a for a in articles if a.id == "1")
    assert first.date == "2017-02-07"
    assert first.source == "abcnews.go.com"
    assert first.url.startswith("http://abcnews.go.com/Politics/")
    assert {a.source for a in articles} >= {
        "tass.com",
        "aljazeera.com",
        "bbc.co.uk",
        "cnn.com",
        "dw.com",
        "rte.ie",
    }


def test_txt_headers_md_html_jsonl_json_csv(tmp_path: Path):
    (tmp_path / "a.txt").write_text(
        "Storm hits coast\ndate: 3 March 2017\nsource: Example Times\nurl: https://example.com/storm\n\n"
        "First paragraph about the storm.\n\nSecond paragraph about damage.\n",
        encoding="utf-8",
    )
    (tmp_path / "b.md").write_text(
        "# Markdown headline\n\nBody of the markdown article.\n", encoding="utf-8"
    )
    (tmp_path / "c.html").write_text(
        "<html><head><title>Harbour reopens</title><meta property='og:site_name' content='Port News'>"
        "<meta name='date' content='2017-04-05'></head><body><article><h1>Harbour reopens</h1>"
        "<p>The harbour reopened on Wednesday after three weeks of repairs to the main quay and cranes.</p>"
        "<p>Shipping companies said traffic would return to normal levels within a fortnight.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "d.jsonl").write_text(
        json.dumps(
            {
                "id": "j1",
                "title": "JSONL one",
                "text": "Text one.",
                "date": "2017-01-02",
                "source": "Wire",
            }
        )
        + "\n{not json\n"
        + json.dumps({"id": "j2", "title": "JSONL two", "text": "Text two."})
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "e.json").write_text(
        json.dumps(
            [
                {
                    "title": "MH style",
                    "body": "A body.",
                    "published_at": "2023-11-27 08:45:59.000000000Z",
                    "source": "Mashable",
                }
            ]
        ),
        encoding="utf-8",
    )
    (tmp_path / "f.csv").write_text(
        "id,title,text\nc1,CSV title,CSV body text.\nc2,No text,\n", encoding="utf-8"
    )
    articles, report = load(tmp_path)
    by_title = {a.title: a for a in articles}
    a = by_title["Storm hits coast"]
    assert (a.date, a.source, a.url) == ("2017-03-03", "Example Times", "https://example.com/storm")
    assert a.text == "First paragraph about the storm.\n\nSecond paragraph about damage."
    assert "Markdown headline" in by_title
    h = by_title["Harbour reopens"]
    assert h.source == "Port News" and h.date == "2017-04-05"
    assert h.text.count("\n\n") == 1 and "Harbour reopens" not in h.text
    assert by_title["JSONL one"].id == "j1" and by_title["JSONL one"].source == "Wire"
    assert "JSONL two" in by_title
    assert "CSV title" in by_title and by_title["CSV title"].id == "c1"
    assert "MH style" not in by_title  # its text lives in "body": needs a mapping
    skipped = {s.origin.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert skipped["d.jsonl#line2"].startswith("invalid JSON")
    assert skipped["f.csv#row2"] == "empty text"
    assert "no 'text' field" in skipped["e.json#item1"]
    mapped, _ = load(tmp_path / "e.json", fields=FieldMap.parse("text=body,date=published_at"))
    assert mapped[0].date == "2023-11-27T08:45:59+00:00" and mapped[0].source == "Mashable"


def test_zip_of_mixed_files(tmp_path: Path):
    zpath = tmp_path / "bundle.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("folder/one.txt", "Zip headline one\n\nBody one.")
        zf.writestr("../../escape.txt", "Traversal name\n\nStill only read in memory.")
        zf.writestr("rows.csv", "id,title,text\nz1,Zipped CSV,Body from csv.\n")
        zf.writestr("image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
        zf.writestr("inner.zip", b"PK")
    articles, report = load(zpath)
    assert {a.title for a in articles} == {"Zip headline one", "Traversal name", "Zipped CSV"}
    assert not (tmp_path.parent / "escape.txt").exists()
    r = reasons(report)
    assert r["image.png"].startswith("unsupported file type")
    assert r["inner.zip"].startswith("nested zip")


def test_bad_inputs_are_skipped_with_reasons(tmp_path: Path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("   \n\n  \t\n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00data" * 10)
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 title\n\nD\xe9j\xe0 vu body.".encode("latin-1"))
    (tmp_path / "utf16.txt").write_bytes("UTF-16 headline\n\nBody in UTF-16.".encode("utf-16"))
    (tmp_path / "dup1.txt").write_text("Same story\n\nIdentical body text here.", encoding="utf-8")
    (tmp_path / "dup2.txt").write_text(
        "Same story again\n\nIdentical body text here.", encoding="utf-8"
    )
    (tmp_path / "title-only.txt").write_text("Only a title\n", encoding="utf-8")
    (tmp_path / "broken.json").write_text("[{", encoding="utf-8")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "notes.docx").write_bytes(b"whatever")
    (tmp_path / "empty.html").write_text("<html><body></body></html>", encoding="utf-8")
    articles, report = load(tmp_path, tmp_path / "missing.txt")
    assert {a.title for a in articles} == {"UTF-16 headline", "Same story"}
    r = reasons(report)
    assert r["empty.txt"] == "empty file"
    assert r["blank.txt"] == "empty file"
    assert r["binary.txt"].startswith("binary file")
    assert r["latin1.txt"].startswith("undecodable")
    assert r["dup2.txt"].startswith("duplicate text")
    assert r["title-only.txt"].startswith("no body text")
    assert r["broken.json"].startswith("invalid JSON")
    assert r["broken.zip"].startswith("not a readable zip")
    assert r["notes.docx"].startswith("unsupported file type")
    assert r["empty.html"].startswith("no article text")
    assert r["missing.txt"] == "no such file or folder"


def test_dates_and_sources():
    assert parse_date("2017/2/7") == "2017-02-07"
    assert parse_date("October 3, 2023") == "2023-10-03"
    assert parse_date("not a date") is None
    assert parse_date("") is None
    assert source_from_url("http://www.bbc.co.uk/news/x") == "bbc.co.uk"
    assert source_from_url("notaurl") is None


def test_field_mapping_errors():
    import pytest

    with pytest.raises(ValueError, match="unknown field"):
        FieldMap.parse("headline=title")
    with pytest.raises(ValueError, match="field=column"):
        FieldMap.parse("title")
