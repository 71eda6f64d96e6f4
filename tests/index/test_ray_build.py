"""`build --engine ray` on a real two-node Ray cluster on 127.0.0.1 (session fixture):
the same chunk ids and vectors as a local build, published the same way (into the index
folder, or into Milvus), on the seed + four NewsArticles articles."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import NEWS_FIELDS, SEED, SEED_QUESTION, run_cli

pytest.importorskip("ray")


def _vectors(root) -> dict[str, np.ndarray]:
    """chunk id → vector of a built index folder."""
    from index.archive import ArchiveIndex
    from index.compactor import _vectors_by_id

    index = ArchiveIndex.open(root)
    try:
        ids, vecs = _vectors_by_id(index.faiss)
        chunks = index.chunks([int(i) for i in ids])
        return {chunks[int(i)].chunk_id: v for i, v in zip(ids, vecs)}
    finally:
        index.close()


def test_ray_build_equals_local_build(ray_cluster, tiny_csv, embedder, build_options, tmp_path):
    import ray

    from index.builder import build_index
    from index.ray_build import build_on_ray
    from qa.service import QAService, open_index
    from qa.settings import Settings

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    local = tmp_path / "local"
    build_index([SEED, tiny_csv], local, embedder, build_options)
    distributed = tmp_path / "ray"
    result = build_on_ray([SEED, tiny_csv], distributed, embedder, build_options, ray_cluster)
    stats = result.timings["ray"]
    assert stats["cluster_cpus"] == 2 and stats["actors"] == 1  # one CPU left for tasks
    a, b = _vectors(local), _vectors(distributed)
    assert sorted(a) == sorted(b) and len(a) == result.chunks
    cosines = np.array([float(a[cid] @ b[cid]) for cid in a])
    assert cosines.min() >= 0.9999
    settings = Settings(index_dir=distributed)
    svc = QAService(settings, embedder, open_index(settings, embedder))
    try:
        assert "Ryabkov" in svc.ask(SEED_QUESTION).citations[0].text
    finally:
        svc.close()


def test_ray_build_into_milvus_from_the_cli(ray_cluster, milvus_server, tiny_csv):
    """The CLI as a user runs it (a separate driver process) on the cluster's address,
    publishing into Milvus; then `ask` answers from Milvus."""
    env = {
        "ARCHIVE_QA_BACKEND": "milvus",
        "ARCHIVE_QA_MILVUS_URI": milvus_server,
        "ARCHIVE_QA_MILVUS_COLLECTION": "scale_ray",
    }
    build = run_cli(
        "build",
        str(SEED),
        str(tiny_csv),
        "--fields",
        NEWS_FIELDS,
        "--engine",
        "ray",
        "--ray-address",
        ray_cluster,
        "-q",
        "--json",
        env=env,
    )
    assert build.returncode == 0, build.stderr
    assert '"faiss": "milvus"' in build.stdout and "embedded on Ray" in build.stdout
    ask = run_cli("ask", SEED_QUESTION, env=env)
    assert ask.returncode == 0, ask.stderr
    assert "Ryabkov" in ask.stdout
    # The driver found the statements and published them beside the chunks.
    assert "Sergei Ryabkov (Deputy foreign minister)" in ask.stdout


def test_ray_options_are_checked():
    bad = run_cli("build", str(SEED), "--engine", "spark")
    assert bad.returncode == 1 and "unknown engine 'spark'" in bad.stderr
    lonely = run_cli("build", str(SEED), "--ray-address", "127.0.0.1:1")
    assert lonely.returncode == 1 and "--ray-address needs --engine ray" in lonely.stderr
