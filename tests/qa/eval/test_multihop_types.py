"""Evaluating one MultiHop-RAG query type (the temporal queries, before and after time
hints): the retrieval and answer evaluations keep only the types asked for."""

from __future__ import annotations

import pytest

from qa.eval.multihop import load_queries, stratified_sample
from qa.eval.retrieval import load_multihop_queries
from tests.helpers import ROOT

MULTIHOP = ROOT.parent / "shared" / "data" / "multihop-rag"
pytestmark = pytest.mark.skipif(
    not (MULTIHOP / "queries_train.json").is_file(), reason="MultiHop-RAG data not beside the repo"
)


def test_retrieval_queries_of_one_type():
    every = load_multihop_queries(MULTIHOP)
    temporal = load_multihop_queries(MULTIHOP, ["temporal_query"])
    assert temporal and all(q["question_type"] == "temporal_query" for q in temporal)
    assert temporal == [q for q in every if q["question_type"] == "temporal_query"]
    with pytest.raises(ValueError, match="unknown query type tempral"):
        load_multihop_queries(MULTIHOP, ["tempral"])


def test_answer_sample_of_one_type():
    queries = load_queries(MULTIHOP)
    picked = stratified_sample(queries, 30, 7, ["temporal_query"])
    assert len(picked) == 30 and {q["question_type"] for q in picked} == {"temporal_query"}
    mixed = stratified_sample(queries, 10, 7, ["temporal_query", "null_query"])
    assert sorted(q["question_type"] for q in mixed) == ["null_query"] * 5 + ["temporal_query"] * 5
    with pytest.raises(ValueError, match="unknown query type"):
        stratified_sample(queries, 10, 7, ["temporal"])
