"""Hostile and odd input: random bytes in every format, and a corpus of nasty files.

The loaders must never raise on content: every input becomes an article or a skip with a
reason. A real build over the nasty corpus finishes, reports each file's reason, keeps
its memory bounded, and writes nothing outside its index folder.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.embedder import default_cache_dir
from index.loaders import FieldMap, LoadReport, iter_articles
from qa.errors import QuestionError
from qa.service import clean_question
from qa.settings import Settings
from tests.helpers import ROOT, SEED

SUFFIXES = [".txt", ".md", ".html", ".htm", ".csv", ".json", ".jsonl", ".zip"]

# Bytes shaped like the formats (so the parsers get past their first check) or not at all.
text_like = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=2048).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=1024).map(lambda t: t.encode("utf-16", "surrogatepass")),
    st.lists(st.text(max_size=80), max_size=8).map(lambda ls: "\n".join(ls).encode()),
    st.recursive(
        st.text(max_size=40).map(lambda t: t.replace("<", "&lt;")),
        lambda inner: st.tuples(st.sampled_from(["div", "p", "b", "script", "table"]), inner).map(
            lambda x: f"<{x[0]}>{x[1]}</{x[0]}>"
        ),
        max_leaves=30,
    ).map(lambda h: f"<html><body>{h}</body></html>".encode()),
    st.lists(st.text(max_size=30), max_size=6).map(
        lambda ls: ("id,title,text\n" + "\n".join(f'"{x}",{x},"{x}' for x in ls)).encode()
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
)


def _zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return buf.getvalue()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    data=text_like,
    suffix=st.sampled_from(SUFFIXES),
    member_names=st.lists(
        st.sampled_from(["a.txt", "../../evil.txt", "/abs/x.md", "dir/b.html", "c.json"]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
)
def test_any_bytes_become_articles_or_reasons(data, suffix, member_names):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        if suffix == ".zip":
            data = _zip_of([(n, data) for n in member_names])
        path.write_bytes(data)
        report = LoadReport()
        articles = list(iter_articles([path], report, FieldMap()))
        assert sorted(os.listdir(tmp)) == [path.name]  # nothing extracted or written
    for a in articles:
        assert a.text.strip() and a.title.strip() and a.id and a.content_hash
        assert "\x00" not in a.text
    for s in report.skipped:
        assert s.reason.strip()
    # Every input is accounted for: at least one article or one reason.
    assert articles or report.skipped


@given(st.text(max_size=3000))
@settings(max_examples=300, deadline=None)
def test_any_question_is_cleaned_or_refused_clearly(text):
    try:
        q = clean_question(text, 2000)
    except QuestionError as exc:
        assert "empty" in str(exc) or "limit" in str(exc)
        return
    assert q and q == q.strip() and len(q) <= 2000
    assert all(ch.isprintable() for ch in q)


# --- the nasty corpus, built for real ------------------------------------------------


def nasty_corpus(folder: Path) -> dict[str, str]:
    """Write the corpus; return {file name: a word its skip reason must contain}."""
    folder.mkdir()
    (folder / "seed.txt").write_bytes(SEED.read_bytes())
    expect: dict[str, str] = {}

    def put(name: str, data: bytes, reason: str | None) -> None:
        (folder / name).write_bytes(data)
        if reason:
            expect[name] = reason

    put("binary.txt", os.urandom(4096).replace(b"\x00", b"\x01") + b"\x00" * 16, None)
    put("nul.txt", b"Title\n\nBody \x00 with NUL bytes\x00\x00", "binary")
    put("invalid-utf8.txt", b"Headline\n\nCaf\xe9 \xff\xfe\xfd broken", "undecodable")
    put(
        "utf16.txt",
        "UTF-16 headline about harbour cranes\n\nThe harbour cranes were repaired.".encode(
            "utf-16"
        ),
        None,
    )
    put("zero.txt", b"", "empty")
    put("whitespace.txt", b" \n\t\r\n   \n", "empty")
    put("huge.txt", b"Huge\n\n" + b"word " * (10 * 1024 * 1024), "too large")  # 50 MB
    depth = 20_000
    put(
        "nested.html",
        (
            "<html><body>" + "<div>" * depth + "deep text " + "</div>" * depth + "</body></html>"
        ).encode(),
        None,
    )
    put(
        "bomb.zip",
        _zip_of([("zeros.txt", b"Title\n\n" + b"0" * (300 * 1024 * 1024))]),
        "too large",
    )
    put(
        "traversal.zip",
        _zip_of(
            [
                (
                    "../../escaped.txt",
                    b"Escaped story\n\nA body that must not be written anywhere.",
                ),
                ("/etc/absolute.txt", b"Absolute story\n\nAnother body that stays in memory."),
            ]
        ),
        None,
    )
    put("broken.csv", b'id,title,text\n1,"unterminated,quote\n2,ok,"fine text"\n', None)
    put("notes.docx", b"PK\x03\x04whatever", "unsupported")
    tiny = folder / "tiny"
    tiny.mkdir()
    for i in range(100_000):
        (tiny / f"{i:06d}.txt").write_bytes(b"x" if i % 2 else b"")
    return expect


def test_nasty_corpus_builds_with_reasons_bounded_memory_and_no_stray_writes(tmp_path):
    corpus = tmp_path / "corpus"
    expect = nasty_corpus(corpus)
    before = {
        str(p.relative_to(corpus)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in corpus.rglob("*")
    }
    home, tmpdir, cwd = tmp_path / "home", tmp_path / "tmp", tmp_path / "cwd"
    for d in (home, tmpdir, cwd):
        d.mkdir()
    index = tmp_path / "idx"
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmpdir),
        "PYTHONPATH": str(ROOT),
        "XDG_CACHE_HOME": str(home / ".cache"),
        # The converted embedding model's cache (a model cache, not archive data) stays
        # where the rest of the suite keeps it.
        "ARCHIVE_QA_EMBED_CACHE_DIR": str(Settings().embed_cache_dir or default_cache_dir()),
    }
    done, rss_mb = build_with_peak_rss([corpus], index, cwd, env)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    report = json.loads(Path(summary["report"]).read_text(encoding="utf-8"))
    skipped = {Path(s["origin"].split("!")[0]).name: s["reason"] for s in report["skipped"]}
    for name, word in expect.items():
        assert word in skipped.get(name, ""), (name, skipped.get(name))
    assert sum("tiny" in s["origin"] for s in report["skipped"]) == 100_000
    assert summary["articles"] >= 2  # the seed and the UTF-16 article at least
    # Memory stays bounded: the 50 MB article and the 300 MB zip member are refused by
    # size, not held in several copies.
    # Against the same build of the seed alone (the model and libraries' own share):
    seed_only = tmp_path / "seed-corpus"
    seed_only.mkdir()
    (seed_only / "seed.txt").write_bytes(SEED.read_bytes())
    base, base_mb = build_with_peak_rss([seed_only], tmp_path / "seed-idx", cwd, env)
    assert base.returncode == 0, base.stderr[-2000:]
    print(
        f"peak RSS: nasty corpus {rss_mb:.0f} MB, seed alone {base_mb:.0f} MB; "
        f"skipped {summary['skipped_by_reason']}"
    )
    assert rss_mb < base_mb + 1024
    # Nothing written outside the index folder.
    after = {
        str(p.relative_to(corpus)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in corpus.rglob("*")
    }
    assert after == before
    # (torch creates an empty `torchinductor_<user>` folder in TMPDIR when imported.)
    for place in (cwd, tmpdir, home):
        assert not [p for p in place.rglob("*") if not p.is_dir()], list(place.rglob("*"))
    assert not (tmp_path / "escaped.txt").exists() and not Path("/etc/absolute.txt").exists()
    assert {p.name for p in tmp_path.iterdir()} == {
        "corpus",
        "home",
        "tmp",
        "cwd",
        "idx",
        "seed-corpus",
        "seed-idx",
    }


# The CLI run in-process by a wrapper that reports its own peak RSS when it exits.
_WRAPPER = (
    "import resource, runpy, sys\n"
    "sys.argv = ['archive-qa'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('ui.cli', run_name='__main__')\n"
    "finally:\n"
    "    print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def build_with_peak_rss(
    sources: list[Path], index: Path, cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess, float]:
    """Run `archive-qa build --json`; return the result and its peak RSS in MB."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "build", *map(str, sources), "--index", str(index)]
        + ["--json", "--quiet"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    rss_kb = int(done.stderr.rsplit("PEAK_RSS_KB", 1)[1].split()[0])
    return done, rss_kb / 1024
