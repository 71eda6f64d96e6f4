"""The OpenVINO embedding backend against the torch reference, with the real MiniLM model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.archive import ArchiveIndex
from index.builder import BuildOptions, build_index
from index.embedder import (
    OpenVINOEmbedder,
    UnsupportedModel,
    _pipeline_spec,
    default_model_path,
    load_embedder,
)
from tests.helpers import ROOT, SEED, SEED_QUESTION

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def ov_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ov-cache")


@pytest.fixture(scope="module")
def ov_embedder(ov_cache) -> OpenVINOEmbedder:
    e = load_embedder(default_model_path(), None, "openvino", str(ov_cache))
    assert isinstance(e, OpenVINOEmbedder)
    return e


@pytest.fixture(scope="module")
def torch_embedder():
    """The reference: sentence-transformers on torch (the session's embedder is OpenVINO)."""
    return load_embedder(default_model_path(), None, "torch")


def seed_paragraphs() -> list[str]:
    text = SEED.read_text(encoding="utf-8")
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def test_openvino_vectors_match_torch_on_real_paragraphs(ov_embedder, torch_embedder):
    paras = seed_paragraphs()
    assert len(paras) > 20
    long_text = " ".join(paras)  # past max_seq_length: both truncate the same way
    texts = [*paras, long_text, SEED_QUESTION]
    a = ov_embedder.encode(texts, batch_size=8)
    b = torch_embedder.encode(texts, batch_size=8)
    assert a.shape == b.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.99, cos.min()
    # Same ranking of the seed's paragraphs for the seed question.
    q_a = ov_embedder.encode_query(SEED_QUESTION)
    q_b = torch_embedder.encode_query(SEED_QUESTION)
    top_a = np.argsort(-(a[: len(paras)] @ q_a))[:5]
    top_b = np.argsort(-(b[: len(paras)] @ q_b))[:5]
    assert top_a[0] == top_b[0]
    assert len(set(top_a) & set(top_b)) >= 4
    assert ov_embedder.token_lengths(paras[:5]) == torch_embedder.token_lengths(paras[:5])
    assert ov_embedder.name == torch_embedder.name
    assert ov_embedder.dim == torch_embedder.dim


def test_conversion_is_cached_and_loads_without_torch(ov_embedder, ov_cache):
    ir = ov_embedder.ir_dir
    assert ir.parent == ov_cache and (ir / "model.xml").is_file()
    meta = json.loads((ir / "meta.json").read_text())
    assert meta["precision"] == "fp32"
    assert not list(ov_cache.glob(".tmp-*"))  # no half-written conversion left behind
    # A fresh process reuses the conversion and never imports torch or transformers.
    code = (
        "import sys; from index.embedder import OpenVINOEmbedder, default_model_path;"
        f"e = OpenVINOEmbedder(default_model_path(), cache_dir={str(ov_cache)!r});"
        "v = e.encode_query('weapons convoys');"
        "print(e.ir_dir, 'torch' in sys.modules, 'transformers' in sys.modules, round(float(v @ v), 4))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(ir), "False", "False", "1.0"]


def test_backend_is_recorded_and_indexes_work_across_backends(
    tmp_path, ov_embedder, torch_embedder
):
    result = build_index([SEED], tmp_path / "ix", ov_embedder, BuildOptions(progress=False))
    assert result.manifest.model.backend == "openvino"
    # Built with openvino, searched with torch query vectors: the vectors agree.
    idx = ArchiveIndex.open(tmp_path / "ix", model_name=torch_embedder.name, dim=torch_embedder.dim)
    hits_torch = idx.dense_search(torch_embedder.encode_query(SEED_QUESTION), 3)
    hits_ov = idx.dense_search(ov_embedder.encode_query(SEED_QUESTION), 3)
    assert [r for r, _ in hits_torch] == [r for r, _ in hits_ov]
    idx.close()


def test_unsupported_pipelines_are_refused(tmp_path):
    model = tmp_path / "model"
    shutil.copytree(default_model_path(), model)
    modules = json.loads((model / "modules.json").read_text())
    (model / "modules.json").write_text(json.dumps(modules[:1]))  # no pooling module
    with pytest.raises(UnsupportedModel, match="Transformer"):
        _pipeline_spec(model)
    (model / "modules.json").write_text(json.dumps(modules))
    pooling = model / "1_Pooling" / "config.json"
    cfg = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**cfg, "pooling_mode_mean_tokens": False}))
    with pytest.raises(UnsupportedModel, match="pooling"):
        _pipeline_spec(model)


def test_settings_choose_the_backend(monkeypatch, tmp_path):
    from qa.settings import Settings

    assert Settings(embed_backend=" OpenVINO ").embed_backend == "openvino"
    with pytest.raises(ValueError, match="backend"):
        Settings(embed_backend="onnx")
    monkeypatch.setenv("ARCHIVE_QA_EMBED_BACKEND", "torch")
    monkeypatch.setenv("ARCHIVE_QA_EMBED_CACHE_DIR", str(tmp_path))
    s = Settings()
    assert s.embed_backend == "torch" and s.embed_cache_dir == tmp_path
    assert s.load_embedder().backend == "torch"


def test_openvino_sends_and_writes_no_telemetry(tmp_path):
    """Converting and running the model leaves HOME untouched (no ~/intel/openvino_ga_cid)."""
    home, cache = tmp_path / "home", tmp_path / "cache"
    home.mkdir()
    code = (
        "from index.embedder import OpenVINOEmbedder, default_model_path;"
        f"e = OpenVINOEmbedder(default_model_path(), cache_dir={str(cache)!r});"
        "print(e.encode_query('weapons convoys').shape)"
    )
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".c")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert any(cache.rglob("model.xml"))  # converted here, into the cache it was given
    assert list(home.rglob("*")) == []
