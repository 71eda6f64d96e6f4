"""Cold start: how long a fresh `archive-qa` process takes, and what that time is spent on.

`archive-qa --help` must not import torch, FAISS or LangChain's heavy modules; `ask`
pays for imports, the embedding model and opening the index once per process. The
breakdown runs the same steps `ask` runs, timed one by one, in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_BREAKDOWN = r"""
import json, sys, time
t = time.perf_counter(); out = {}
def lap(name):
    global t
    now = time.perf_counter(); out[name] = round(now - t, 3); t = now
__import__("ui.cli"); lap("import ui.cli (typer)")  # in the child process
from qa.service import QAService; lap("import qa.service (langchain-core, numpy)")
import faiss, bm25s; lap("import faiss + bm25s")
from qa.settings import get_settings
s = get_settings().model_copy(update={"index_dir": sys.argv[1], "generator": "extractive", "query_decompose_llm": False})
e = s.load_embedder(); lap(f"load embedding model ({e.backend})")
out["torch_imported"] = "torch" in sys.modules
from index.archive import ArchiveIndex
idx = ArchiveIndex.open(s.index_dir, model_name=e.name, dim=e.dim,
                        verify_checksums=s.verify_checksums, nprobe=s.ivf_nprobe)
lap("open index (manifest, checksums, FAISS, BM25, SQLite)")
svc = QAService(s, e, idx); svc.ask(sys.argv[2]); lap("first answer")
print(json.dumps(out))
"""


def _env(backend: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["ARCHIVE_QA_GENERATOR"] = "extractive"
    if backend:
        env["ARCHIVE_QA_EMBED_BACKEND"] = backend
    return env


def _time_cmd(cmd: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} … failed: {r.stderr.strip()[-300:]}")
    return round(statistics.median(times), 3)


def run_coldstart(
    index_dir: Path, question: str, backends: list[str], runs: int = 2
) -> dict[str, Any]:
    """Median wall time of fresh processes; the first of each kind also warms the OS cache."""
    cli = [sys.executable, "-m", "ui.cli"]
    out: dict[str, Any] = {"runs": runs, "index": str(index_dir), "question": question}
    out["help_s"] = _time_cmd([*cli, "--help"], _env(None), runs + 1)
    out["ask"] = {}
    for backend in backends:
        env = _env(backend)
        _time_cmd([*cli, "ask", question, "--index", str(index_dir)], env, 1)  # warm caches
        ask_s = _time_cmd([*cli, "ask", question, "--index", str(index_dir)], env, runs)
        r = subprocess.run(
            [sys.executable, "-c", _BREAKDOWN, str(index_dir), question],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if r.returncode != 0:
            raise RuntimeError(f"cold-start breakdown failed: {r.stderr.strip()[-300:]}")
        steps = json.loads(r.stdout.strip().splitlines()[-1])
        timed = {k: v for k, v in steps.items() if isinstance(v, float)}
        out["ask"][backend] = {
            "ask_s": ask_s,
            "steps_s": timed,
            "torch_imported": steps.get("torch_imported"),
            "dominant": max(timed, key=timed.get),
        }
    return out
