"""The benchmark report as terminal tables (rich); the JSON form is the report itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table


def _ms(p: dict[str, Any] | None) -> str:
    if not p:
        return "–"
    return f"{p['p50_ms']:.1f} / {p['p95_ms']:.1f}"


def _x(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}×"


def _columns(t: Table, names: tuple[str, ...], left: str) -> None:
    """Right-aligned numeric columns, except the `left` one that names the row."""
    for col in names:
        t.add_column(col, justify="left" if col == left else "right")


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:  # piped to a file: wide enough for the scale table
            console = Console(width=150)
    _print_machine(console, report)
    sections = report["sections"]
    for name, print_section in SECTION_PRINTERS.items():
        if name in sections:
            print_section(console, sections[name])


def _print_machine(console: Console, report: dict[str, Any]) -> None:
    m = report["machine"]
    load = "under load" if m.get("under_load") else "quiet"
    console.print(
        f"[bold]archive-qa bench[/]  {m['cpus']} cores ({m['cpu']}), {m.get('ram_gb', '?')} GB, "
        f"load {m['load_avg_start'][0]} → {m.get('load_avg_end', ['?'])[0]} ({load}); "
        f"torch {m['torch']}, openvino {m['openvino']}, faiss {m['faiss-cpu']}; "
        f"{report['seconds']:.0f} s in all"
    )


def _print_build(console: Console, b: dict[str, Any]) -> None:
    t = Table(
        title=f"Build: {b['articles']} NewsArticles (+ seed) → {b['chunks']} chunks, batch {b['batch_size']}"
    )
    _columns(t, ("what", "chunks", "seconds", "chunks/s", "peak RSS MB"), left="what")
    for r in b["rows"]:
        t.add_row(
            r["name"],
            str(r["chunks"]),
            f"{r['seconds']:.1f}",
            f"{r['chunks_per_s']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    console.print(t)
    r = b["ratios"]
    console.print(
        f"  our build ÷ floor (chunks/s): torch {_x(r.get('torch_build_vs_floor'))}, "
        f"openvino {_x(r.get('openvino_build_vs_floor'))} (goal ≥ 0.9×);  "
        f"LangChain seconds ÷ ours: {_x(r.get('langchain_seconds_vs_ours'))} "
        f"(torch build: {_x(r.get('langchain_seconds_vs_ours_torch'))}; goal ≥ 1.0×)"
    )
    if r.get("annotated_seconds_vs_plain") is not None:
        console.print(
            f"  build with entity annotation ÷ without (seconds): "
            f"{_x(r['annotated_seconds_vs_plain'])} (goal ≤ 1.5×)"
        )
    st = b.get("stories")
    if st:
        console.print(
            f"  story clustering: MinHash signatures {st['sign_s']:.2f} s of the "
            f"{st['build_s']:.1f} s {st['build']} ({_pct(r.get('stories_share_of_build'))}); "
            f"clusters from them when an index opens {st['cluster_s'] * 1000:.0f} ms "
            f"({st['clustered_articles']} articles in a cluster)"
        )


def _pct(share: float | None) -> str:
    return "?" if share is None else f"{share:.1%}"


def _print_backend(console: Console, b: dict[str, Any]) -> None:
    if "skipped" in b:
        console.print(f"Backend: skipped ({b['skipped']})")
        return
    name = b["backend"]
    console.print(
        f"[bold]Embedding backend[/] {name} vs torch on {b['passages']} MultiHop-RAG passages "
        f"({b['articles']} articles), batch {b['batch_size']}: "
        f"{b[f'{name}_passages_per_s']:.1f} vs {b['torch_passages_per_s']:.1f} passages/s = "
        f"[bold]{b['speedup']:.2f}×[/]; cosine to torch min {b['cosine_min']:.5f} "
        f"mean {b['cosine_mean']:.6f}; top-10 overlap on {b['questions']} questions "
        f"{b['top10_overlap']:.3f}; one question embedded in "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in b["query_embed_p50_ms"].items())
    )


def _print_query(console: Console, q: dict[str, Any]) -> None:
    t = Table(
        title=f"Query: {q['questions']} MultiHop-RAG questions, {q['chunks']:,} chunks "
        f"({q['faiss_type']}), embeddings on {q['embed_backend']}"
    )
    t.add_column("what")
    t.add_column("p50 / p95 ms", justify="right")
    t.add_row("retrieve (QAService.search)", _ms(q["search"]))
    t.add_row("extractive answer (QAService.ask)", _ms(q["ask_extractive"]))
    if "llm" in q:
        t.add_row(
            f"local LLM first token ({q['llm']['first_token']['n']} q)",
            _ms(q["llm"]["first_token"]),
        )
        t.add_row("local LLM total", _ms(q["llm"]["total"]))
        skipped = q["llm"].get("declined_before_model", 0)
        if skipped:
            t.add_row("declined before the model (not timed)", str(skipped))
    console.print(t)


def _print_coldstart(console: Console, c: dict[str, Any]) -> None:
    t = Table(title=f"Cold start (fresh processes, median of {c['runs']})")
    t.add_column("command")
    t.add_column("seconds", justify="right")
    t.add_column("where the time goes")
    t.add_row("archive-qa --help", f"{c['help_s']:.2f}", "")
    for backend, a in c["ask"].items():
        steps = ", ".join(f"{k} {v:.2f}" for k, v in a["steps_s"].items())
        t.add_row(
            f"archive-qa ask ({backend})",
            f"{a['ask_s']:.2f}",
            f"{steps}; most: {a['dominant']}",
        )
    console.print(t)


SCALE_COLUMNS = (
    "FAISS type",
    "build s",
    "disk B/chunk",
    "RAM B/chunk",
    "p50 / p95 ms",
    "recall@10",
    "mmap p50 / p95 ms",
)


def _print_scale(console: Console, sc: dict[str, Any]) -> None:
    t = Table(
        title=f"Scale: {sc['chunks']:,} synthetic chunks ({sc['synthetic']}, noise {sc['noise_norm']}; "
        f"{sc['queries']} real questions, 1 search thread); the product picks {sc['product_choice']}"
    )
    _columns(t, SCALE_COLUMNS, left="FAISS type")
    for r in sc["rows"]:
        if "skipped" in r:
            t.add_row(r["type"], "skipped: " + r["skipped"], "", "", "", "", "")
            continue
        t.add_row(
            r["type"],
            f"{r['build_s']:.1f}",
            f"{r['disk_bytes_per_chunk']:.0f}",
            f"{r['ram_bytes_per_chunk']:.0f}",
            _ms(r["search"]),
            f"{r['recall_at_10']:.3f}",
            _ms(r.get("mmap_search")),
        )
    console.print(t)
    for r in sc["rows"]:
        for p in r.get("nprobe_sweep", []):
            console.print(
                f"  {r['type']} nprobe {p['nprobe']:>3}: p50 {p['p50_ms']:.2f} ms, "
                f"p95 {p['p95_ms']:.2f} ms, recall@10 {p['recall_at_10']:.3f}"
            )


def _print_update(console: Console, u: dict[str, Any]) -> None:
    t = Table(title=f"Incremental update: {u['what']} (median of {u['repeats']})")
    for col in ("base chunks", "update s", "read", "embed", "write", "publish", "old s"):
        t.add_column(col, justify="right")
    t.add_column("old ÷ new", justify="right")
    for e in u["sizes"].values():
        up, old = e["update"], e.get("old_path", {})
        t.add_row(
            f"{e['base_chunks']:,}",
            f"{up['seconds']:.3f}",
            *(f"{up[k]:.3f}" for k in ("read", "embed", "write", "publish")),
            f"{old['seconds']:.2f}" if old else "",
            _x(e.get("old_over_new")),
        )
    console.print(t)
    console.print("  goal: < 2 s at 100k chunks, not growing with the archive")


# In the order the report prints them (the order `run_bench` runs them).
def _print_scaleout(console: Console, s: dict[str, Any]) -> None:
    from qa.bench.scaleout import print_scaleout

    print_scaleout(console, s)


SECTION_PRINTERS: dict[str, Callable[[Console, dict[str, Any]], None]] = {
    "build": _print_build,
    "backend": _print_backend,
    "query": _print_query,
    "coldstart": _print_coldstart,
    "scale": _print_scale,
    "update": _print_update,
    "scale-out": _print_scaleout,
}
