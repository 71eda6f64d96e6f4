"""Shared fixtures: the real model and real indexes, built once per test session.

The session index holds the seed article plus a fixed subset of the real NewsArticles
archive: every article that mentions Ryabkov or weapons convoys (the hardest
distractors for the seed question) and every 7th article by id (about 560).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import NEWS_FIELDS, SEED, read_news_rows, subset_rows, write_csv

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# The suite's extractive tests must not switch to an LLM because models/ holds one;
# the LLM tests choose their generator explicitly.
os.environ.setdefault("ARCHIVE_QA_GENERATOR", "extractive")
# The test Ray cluster lives on 127.0.0.1; Ray reads this when it is first imported (see
# tests.helpers.start_ray_cluster).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# The converted embedding model is cached per test session, not in the user's ~/.cache.
os.environ.setdefault("ARCHIVE_QA_EMBED_CACHE_DIR", tempfile.mkdtemp(prefix="archive-qa-embed-"))


@pytest.fixture(scope="session")
def news_rows() -> list[dict[str, str]]:
    return read_news_rows()


@pytest.fixture(scope="session")
def subset_csv(news_rows, tmp_path_factory) -> Path:
    return write_csv(subset_rows(news_rows), tmp_path_factory.mktemp("subset") / "news-subset.csv")


@pytest.fixture(scope="session")
def embedder():
    """The product's embedder (the settings' backend), shared by every session index."""
    from qa.settings import Settings

    return Settings().load_embedder()


@pytest.fixture(scope="session")
def build_options():
    from index.builder import BuildOptions
    from index.loaders import FieldMap

    return BuildOptions(fields=FieldMap.parse(NEWS_FIELDS), progress=False)


@pytest.fixture(scope="session")
def news_index(tmp_path_factory, subset_csv, embedder, build_options) -> Path:
    """Seed + fixed real-archive subset, built once; tests must not modify it."""
    from index.builder import build_index

    root = tmp_path_factory.mktemp("news-index") / "index"
    build_index([SEED, subset_csv], root, embedder, build_options)
    return root


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder, build_options) -> Path:
    """The seed article alone (a second): for the LLM chain tests, where each model call
    costs seconds and the question is about the seed."""
    from index.builder import build_index

    root = tmp_path_factory.mktemp("seed-index") / "index"
    build_index([SEED], root, embedder, build_options)
    return root


@pytest.fixture(scope="session")
def untitled_index(tmp_path_factory, subset_csv, embedder, build_options) -> Path:
    """The same articles indexed without their headlines: for honest headline→article tests."""
    from dataclasses import replace

    from index.builder import build_index

    root = tmp_path_factory.mktemp("untitled-index") / "index"
    build_index([subset_csv], root, embedder, replace(build_options, index_titles=False))
    return root


@pytest.fixture(scope="session")
def service(news_index):
    from qa.service import QAService
    from qa.settings import Settings

    svc = QAService.from_settings(Settings(index_dir=news_index))
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def scale_csv(news_rows, tmp_path_factory) -> Path:
    """A small fixed subset for the scale-out tests (Milvus, Ray): every article that
    mentions Ryabkov or convoys, and every 400th article by id (about 30)."""
    rows = [
        r
        for r in news_rows
        if int(r["article_id"]) % 400 == 0
        or "ryabkov" in r["text"].lower()
        or "convoy" in r["text"].lower()
    ]
    return write_csv(rows, tmp_path_factory.mktemp("scale") / "scale-subset.csv")


@pytest.fixture(scope="session")
def tiny_csv(scale_csv, tmp_path_factory) -> Path:
    """Four articles of the scale subset: company for the seed in the write tests."""
    import csv

    with open(scale_csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))[:4]
    return write_csv(rows, tmp_path_factory.mktemp("tiny") / "tiny.csv")


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory) -> Iterator[str]:
    """A real two-node Ray cluster (a head and one more node, 1 CPU each) on 127.0.0.1
    for the session, this process connected to it as the driver; its address."""
    from tests.helpers import start_ray_cluster

    with start_ray_cluster() as address:
        yield address


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> Iterator[str]:
    """A real `milvus-lite server` on a free 127.0.0.1 port for the session; its uri."""
    from tests.helpers import free_port, start_milvus_server

    with start_milvus_server(tmp_path_factory.mktemp("milvus"), free_port()) as uri:
        yield uri
