"""What the tests share besides fixtures: paths, the real archive's rows, the CLI as a
user runs it, and the real server (uvicorn on a free 127.0.0.1 port) and Chromium."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "sample" / "captured-russian-soldier.txt"
ARCHIVE = ROOT / "data" / "archive" / "NewsArticles.zip"
NEWS_FIELDS = "id=article_id,date=publish_date,url=article_source_link"
SEED_QUESTION = "Who threatened weapons convoys?"


def read_news_rows() -> list[dict[str, str]]:
    if not ARCHIVE.is_file():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "get_archive.py")], check=True)
    with zipfile.ZipFile(ARCHIVE) as zf, zf.open("NewsArticles.csv") as fh:
        return list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8", newline="")))


def subset_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    def keep(r: dict[str, str]) -> bool:
        text = r["text"].lower()
        return int(r["article_id"]) % 7 == 0 or "ryabkov" in text or "convoy" in text

    return [r for r in rows if keep(r)]


def write_csv(rows: list[dict[str, str]], path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the installed `archive-qa` entry point as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread; yield its base url (no trailing /)."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def chromium_or_fail() -> str:
    """Debian's chromium; scripts/test.sh installs it. Outside CI a missing one skips."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; scripts/test.sh installs it with apt-get")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return ""


@contextmanager
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    path = chromium_or_fail()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shown(*texts: str):
    """Paragraphs as the LLM chain shows them (numbered from 1), for citation checks without a model."""
    from qa.answer.citations import Shown
    from qa.response import Citation

    def make(n: int, text: str):
        def citation(new: int, a: int, b: int, how: str, score: float) -> Citation:
            return Citation(
                n=new,
                article_id=f"art{n}",
                chunk_id=f"chunk{n}",
                title=f"title {n}",
                source=None,
                date=None,
                url=None,
                paragraph=n,
                text=text,
                quote=text[a:b] if a >= 0 else "",
                quote_start=a,
                quote_end=b,
                verified=a >= 0,
                match=how,
            )

        return Shown(n=n, text=text, chunk_text=text, make_citation=citation)

    return [make(i, t) for i, t in enumerate(texts, start=1)]


def listening_addresses(pid: int) -> set[str]:
    """The IP addresses a process and its children listen on (TCP)."""
    import psutil

    procs = [psutil.Process(pid)]
    procs += procs[0].children(recursive=True)
    out = set()
    for p in procs:
        try:
            conns = p.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        out |= {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}
    return out


def is_loopback(ip: str) -> bool:
    return ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1") or ip.startswith("127.")


@contextmanager
def start_milvus_server(data_dir: Path, port: int, timeout: float = 60) -> Iterator[str]:
    """`milvus-lite server` bound to 127.0.0.1:`port` until the block ends; yields its uri.
    The process is checked to listen on loopback only."""
    exe = Path(sys.executable).with_name("milvus-lite")
    log = open(data_dir / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            str(exe),
            "server",
            "--data-dir",
            str(data_dir / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"milvus-lite server exited: {(data_dir / 'server.log').read_text()}"
                )
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("milvus-lite server did not start listening")
            time.sleep(0.1)
        bad = {ip for ip in listening_addresses(proc.pid) if not is_loopback(ip)}
        if bad:
            raise RuntimeError(f"milvus-lite server listens on non-loopback addresses {bad}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def start_ray_cluster() -> Iterator[str]:
    """A head and one more node (1 CPU each) on 127.0.0.1, this process their driver.

    Ray's own `ray.cluster_utils.Cluster` (the gcs_server and a raylet per node, as
    `ray start` runs them): `ray start --address` on one machine swaps 127.0.0.1 for the
    machine's network address (Ray 2.60 `resolve_ip_for_localhost`), and with another
    loopback address its servers listen on every interface. Checked: every process
    listens on loopback only."""
    import tempfile

    import ray
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    if ray_constants.ENABLE_RAY_CLUSTER:  # set before Ray's first import (tests/conftest.py)
        raise RuntimeError("set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing ray")

    temp = tempfile.mkdtemp(prefix="aqray")  # short: Ray's socket paths have a limit
    # Cluster() still writes the head's address into Ray's default temp folder
    # (/tmp/ray/ray_current_cluster) and fails when that folder does not exist yet.
    from ray._common.utils import get_default_ray_temp_dir

    os.makedirs(get_default_ray_temp_dir(), exist_ok=True)
    args = {"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args={**args, "temp_dir": temp})
    try:
        cluster.add_node(**args)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
        bad = {ip for ip in listening_addresses(os.getpid()) if not is_loopback(ip)}
        if bad:
            raise RuntimeError(f"the Ray cluster listens on non-loopback addresses {bad}")
        yield cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()
