"""The performance benchmark (`archive-qa bench`, `scripts/bench.py`).

Speed is reported as ratios against baselines run in the same process on the same
data, because the machines are shared and absolute times alone mean little. One module
per section: `build` (our build vs raw encode vs LangChain's usual recipe), `backends`
(torch vs OpenVINO: speed and vector agreement), `query` (retrieve/answer latency on
real MultiHop-RAG questions, local-LLM timing), `coldstart` (CLI start-up), `scale`
(FAISS index types on synthetic 100k/1M-chunk sets); `run` ties them together and
`table` prints the result.
"""
