"""The benchmark's code on tiny real inputs: sections present, numbers sane (no timing goals)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import ARCHIVE, ROOT, SEED, read_news_rows, run_cli

MULTIHOP = ROOT.parent / "shared" / "data" / "multihop-rag"

pytestmark = pytest.mark.skipif(
    not (MULTIHOP / "queries_train.json").is_file(), reason="MultiHop-RAG data not beside the repo"
)


def _positive_latency(p: dict) -> None:
    assert p["n"] > 0 and 0 < p["p50_ms"] <= p["p95_ms"]


def test_bench_scale_and_query_cli_json():
    # No --index: the bench indexes 3 MultiHop-RAG articles itself and scales their vectors.
    r = run_cli(
        "bench",
        "--only",
        "scale,query",
        "--query-articles",
        "3",
        "--multihop",
        str(MULTIHOP),
        "--questions",
        "20",
        "--scale-chunks",
        "3000",
        "--json",
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert set(report["sections"]) == {"scale", "query"}
    assert report["machine"]["cpus"] >= 1 and report["seconds"] > 0

    scale = report["sections"]["scale"]
    assert scale["chunks"] == 3000 and scale["queries"] == 20 and scale["product_choice"] == "Flat"
    rows = {row["type"]: row for row in scale["rows"]}
    assert rows["Flat"]["recall_at_10"] == 1.0  # exact search against itself
    assert {"Flat", "HNSW32"} <= set(rows)
    assert any(t.startswith("IVF") and t.endswith(",SQ8") for t in rows)
    assert any(t.endswith(",PQ48,RFlat") for t in rows)
    for row in rows.values():
        _positive_latency(row["search"])
        assert 0.0 < row["recall_at_10"] <= 1.0
        assert row["disk_bytes_per_chunk"] > 0 and row["build_s"] >= 0
    # 384 float32 + an int64 id per chunk for Flat; SQ8 stores a byte per dimension.
    assert 1536 <= rows["Flat"]["disk_bytes_per_chunk"] < 1700
    sq8 = next(r for t, r in rows.items() if t.endswith(",SQ8"))
    assert sq8["disk_bytes_per_chunk"] < 0.5 * rows["Flat"]["disk_bytes_per_chunk"]

    query = report["sections"]["query"]
    assert query["questions"] == 20 and query["articles"] == 3 and query["chunks"] > 10
    _positive_latency(query["search"])
    _positive_latency(query["ask_extractive"])


def test_bench_build_and_backend_sections():
    from qa.bench.run import BenchOptions, run_bench
    from qa.settings import Settings

    if not ARCHIVE.is_file():
        read_news_rows()  # fetches the archive the way the other tests do
    opts = BenchOptions(
        only=("build", "backend"),
        news=ARCHIVE,
        seed=SEED,
        multihop=MULTIHOP,
        articles=10,
        backend_articles=2,
        questions=10,
    )
    report = run_bench(Settings(), opts)
    build = report["sections"]["build"]
    assert build["articles"] == 10 and build["chunks"] > 10
    names = [r["name"] for r in build["rows"]]
    assert names[0].startswith("floor") and any("LangChain" in n for n in names)
    for row in build["rows"]:
        assert row["chunks"] > 0 and row["seconds"] > 0 and row["chunks_per_s"] > 0
        assert row["peak_rss_mb"] > 100  # the model alone is larger than that
    # Our build embeds exactly the floor's texts.
    ours = [r for r in build["rows"] if r["name"].startswith("archive-qa build")]
    assert all(r["chunks"] == build["chunks"] for r in ours)
    assert all(v is None or v > 0 for v in build["ratios"].values())
    # Story clustering's cost: the signing pass inside the build, the LSH when it opens.
    st = build["stories"]
    assert 0 < st["sign_s"] < st["build_s"] and st["cluster_s"] >= 0
    assert st["clustered_articles"] >= 0 and 0 < build["ratios"]["stories_share_of_build"] < 1

    backend = report["sections"]["backend"]
    assert backend["backend"] == "openvino" and backend["speedup"] > 0
    assert backend["cosine_min"] >= 0.99 and backend["top10_overlap"] >= 0.9
    json.dumps(report)  # the report is JSON as it is
