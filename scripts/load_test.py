#!/usr/bin/env python
"""Concurrent load on a running archive-qa server: N clients each asking M questions.

    python scripts/load_test.py --url http://127.0.0.1:7860 --clients 20 --per-client 50

Each client is a thread with its own HTTP connection, asking `POST /api/ask` one question
after another (a closed loop, like people waiting for their answers). Reports throughput,
latency percentiles and every error; exits 1 when any request failed. Questions come from
`--questions` (a text file, one per line, or a JSON list of strings or of objects with a
"query" field such as MultiHop-RAG's queries) or a built-in list of news questions.

    python scripts/load_test.py --url http://127.0.0.1:7860 --update-during new.txt

`--update-during FILE` publishes an update while the clients ask: after `--update-delay`
seconds it runs `archive-qa update FILE` in a child process with this process's
environment (so `ARCHIVE_QA_INDEX_DIR`, or `ARCHIVE_QA_BACKEND=milvus` and
`ARCHIVE_QA_MILVUS_*`, must name what the server serves), and reports the update's time,
the requests that were in flight while it ran and what `/api/health` said before and after.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import httpx
import typer

BUILT_IN = [
    "Who threatened weapons convoys?",
    "What did Ryabkov say about arms deliveries to Ukraine?",
    "What happened to the captured Russian soldier?",
    "What did the central bank decide about interest rates?",
    "Which company announced layoffs?",
    "What did the president say about the election?",
    "Where did the earthquake strike?",
    "What did the court rule?",
    "Who won the football match?",
    "What are the new sanctions?",
    "How did oil prices change?",
    "What did the prime minister promise?",
    "What did scientists discover?",
    "Which team signed a new player?",
    "What did the United Nations say?",
    "What was said about climate change?",
    "Who was arrested?",
    "What did the health ministry report?",
    "What did the protesters demand?",
    "Which country hosted the summit?",
]


def read_questions(path: Path | None) -> list[str]:
    if path is None:
        return list(BUILT_IN)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        items = json.loads(text)
        out = [i["query"] if isinstance(i, dict) else str(i) for i in items]
    else:
        out = [line.strip() for line in text.splitlines()]
    out = [q for q in out if q.strip()]
    if not out:
        raise typer.BadParameter(f"{path} holds no questions")
    return out


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def run_load(
    url: str,
    clients: int,
    per_client: int,
    questions: list[str],
    api_key: str | None = None,
    timeout: float = 300.0,
    update_during: Path | None = None,
    update_delay: float = 3.0,
) -> dict:
    """Run the load and return the figures (latencies in ms); with `update_during`, an
    `archive-qa update` of that file published `update_delay` seconds into the load."""
    headers = {"X-API-Key": api_key} if api_key else {}
    latencies: list[float] = []
    spans: list[tuple[float, float, bool]] = []  # (start, end, ok) per request
    errors: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start_gate = threading.Barrier(clients, timeout=60)

    def client(n: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=timeout) as http:
            with contextlib.suppress(threading.BrokenBarrierError):
                start_gate.wait()  # (another client failed to start: go anyway)
            for i in range(per_client):
                question = questions[(n * per_client + i) % len(questions)]
                t = time.perf_counter()
                try:
                    r = http.post("/api/ask", json={"question": question})
                    ok = r.status_code == 200 and "answer" in r.json()
                    problem = None if ok else f"HTTP {r.status_code}: {r.text[:120]}"
                    status = r.status_code
                except Exception as exc:  # a dropped connection is an error, not a crash
                    problem, status = f"{type(exc).__name__}: {exc}"[:160], 0
                t_end = time.perf_counter()
                ms = (t_end - t) * 1000
                with lock:
                    spans.append((t, t_end, problem is None))
                    statuses[status] += 1
                    if problem is None:
                        latencies.append(ms)
                    else:
                        errors[problem] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    health_before = _health(url, headers) if update_during else None
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    update = None
    if update_during is not None:
        time.sleep(update_delay)
        update = _publish_update(update_during)
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    total = clients * per_client
    if update is not None:
        u0, u1 = update.pop("_window")
        during = [ok for a, b, ok in spans if a < u1 and b > u0]
        after = [ok for a, _b, ok in spans if a >= u1]
        update.update(
            started_at_s=round(u0 - t0, 2),
            finished_at_s=round(u1 - t0, 2),
            requests_during=len(during),
            errors_during=during.count(False),
            requests_after=len(after),
            errors_after=after.count(False),
            health_before=health_before,
            health_after=_health(url, headers),
        )
    return {
        "url": url,
        "clients": clients,
        "per_client": per_client,
        "requests": total,
        "ok": len(latencies),
        # Requests never made (a client that died) count as errors too.
        "errors": total - len(latencies),
        "error_kinds": dict(errors.most_common(10)),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(wall, 3),
        "throughput_rps": round(total / wall, 2) if wall else 0.0,
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "mean": round(statistics.fmean(latencies), 1),
            "max": round(max(latencies), 1),
        }
        if latencies
        else None,
        **({"update": update} if update is not None else {}),
    }


def _health(url: str, headers: dict) -> dict | None:
    """What the server says it serves (build, counts), or None when it does not answer."""
    try:
        h = httpx.get(url.rstrip("/") + "/api/health", headers=headers, timeout=30).json()
    except (httpx.HTTPError, ValueError):
        return None
    return {k: h.get(k) for k in ("status", "build_id", "articles", "chunks")}


def _publish_update(path: Path) -> dict:
    """`archive-qa update PATH --quiet --json` in a child process; its result and window."""
    u0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "update", str(path), "--quiet", "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    u1 = time.perf_counter()
    out: dict = {"file": str(path), "returncode": done.returncode, "seconds": round(u1 - u0, 2)}
    if done.returncode == 0:
        summary = json.loads(done.stdout)
        out["result"] = {k: summary.get(k) for k in ("build", "articles", "chunks", "new_articles")}
    else:
        out["stderr"] = done.stderr.strip()[-400:]
    out["_window"] = (u0, u1)
    return out


def main(
    url: Annotated[str, typer.Option(help="Server base URL.")] = "http://127.0.0.1:7860",
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 20,
    per_client: Annotated[int, typer.Option(min=1, help="Questions each client asks.")] = 50,
    questions: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Questions file.")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="ARCHIVE_QA_API_KEY", help="The server's API key.")
    ] = None,
    update_during: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            help="Articles to publish with `archive-qa update` while the load runs "
            "(the ARCHIVE_QA_* environment names the index).",
        ),
    ] = None,
    update_delay: Annotated[
        float, typer.Option(min=0, help="Seconds into the load the update starts.")
    ] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    figures = run_load(
        url,
        clients,
        per_client,
        read_questions(questions),
        api_key,
        update_during=update_during,
        update_delay=update_delay,
    )
    update = figures.get("update")
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        lat = figures["latency_ms"] or {}
        print(
            f"{figures['requests']} requests from {clients} clients in {figures['seconds']} s: "
            f"{figures['throughput_rps']} req/s, errors {figures['errors']}\n"
            f"latency ms p50 {lat.get('p50')}  p95 {lat.get('p95')}  p99 {lat.get('p99')}  "
            f"max {lat.get('max')}"
        )
        for kind, n in figures["error_kinds"].items():
            print(f"  {n} × {kind}")
        if update is not None:
            print(
                f"update {update['file']}: exit {update['returncode']} in {update['seconds']} s "
                f"(from {update['started_at_s']} s to {update['finished_at_s']} s); "
                f"{update['requests_during']} requests in flight meanwhile, "
                f"{update['errors_during']} failed; {update['requests_after']} after, "
                f"{update['errors_after']} failed\n"
                f"health before {update['health_before']}\nhealth after  {update['health_after']}"
            )
            if update["returncode"]:
                print(update.get("stderr", ""))
    failed_update = update is not None and update["returncode"] != 0
    sys.exit(1 if figures["errors"] or failed_update else 0)


if __name__ == "__main__":
    typer.run(main)
