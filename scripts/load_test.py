#!/usr/bin/env python
"""Concurrent load on a running archive-qa server: N clients each asking M questions.

    python scripts/load_test.py --url http://127.0.0.1:7860 --clients 20 --per-client 50

Each client is a thread with its own HTTP connection, asking `POST /api/ask` one question
after another (a closed loop, like people waiting for their answers). Reports throughput,
latency percentiles and every error; exits 1 when any request failed. Questions come from
`--questions` (a text file, one per line, or a JSON list of strings or of objects with a
"query" field such as MultiHop-RAG's queries) or a built-in list of news questions.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
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
) -> dict:
    """Run the load and return the figures (latencies in ms)."""
    headers = {"X-API-Key": api_key} if api_key else {}
    latencies: list[float] = []
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
                ms = (time.perf_counter() - t) * 1000
                with lock:
                    statuses[status] += 1
                    if problem is None:
                        latencies.append(ms)
                    else:
                        errors[problem] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    total = clients * per_client
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
    }


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    figures = run_load(url, clients, per_client, read_questions(questions), api_key)
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
    sys.exit(1 if figures["errors"] else 0)


if __name__ == "__main__":
    typer.run(main)
