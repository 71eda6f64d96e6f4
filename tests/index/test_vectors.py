"""FAISS index choice and memory-mapped loading, with real FAISS indexes."""

from __future__ import annotations

import numpy as np
import pytest

from index import vectors


def unit_vectors(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_choose_index_type_thresholds():
    assert vectors.choose_index_type(200_000, 200_000) == "Flat"
    assert vectors.choose_index_type(200_001, 200_000).endswith(",SQ8")
    assert vectors.ivf_nlist(1_000) == 128 and vectors.ivf_nlist(1_000_000) == 4096
    assert vectors.ivf_nlist(10) == 64  # never fewer lists than that


@pytest.mark.parametrize("index_type", ["Flat", "IVF64,SQ8"])
def test_mmap_load_gives_the_same_results(tmp_path, index_type):
    x = unit_vectors(5000)
    index = vectors.new_index(32, index_type, training=x)
    vectors.add(index, x, list(range(100, 5100)))
    vectors.save(index, tmp_path)
    plain = vectors.load(tmp_path, index_type=index_type)
    mapped = vectors.load(tmp_path, mmap=True, index_type=index_type)
    for idx in (plain, mapped):
        vectors.set_search_params(idx, 64)
    d1, i1 = plain.search(x[:20], 10)
    d2, i2 = mapped.search(x[:20], 10)
    assert (i1 == i2).all() and np.allclose(d1, d2)
    assert i1[0, 0] == 100  # ids survive both ways
