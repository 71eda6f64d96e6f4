"""A local GGUF model (llama.cpp through xllamacpp) as a LangChain chat model.

Wrapping it as a `BaseChatModel` keeps the chain plain LangChain: the same prompt and
parser run on this, on `ChatOpenAI`, or on any other chat model. Loading takes seconds
and a GB of memory, so there is one loaded model per process (per path and settings),
and calls to it are serialised (llama.cpp here runs one slot).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field

from qa.errors import LocalModelError
from qa.llm.fetch import check_model_file

_LOCK = threading.Lock()
_SERVERS: dict[tuple[str, int, int], Any] = {}


def _server(path: Path, n_ctx: int, threads: int) -> Any:
    key = (str(path.resolve()), n_ctx, threads)
    with _LOCK:
        if key in _SERVERS:
            return _SERVERS[key]
        check_model_file(path)
        try:
            import xllamacpp as xlc
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise LocalModelError("xllamacpp is not installed: pip install xllamacpp") from exc
        p = xlc.CommonParams()
        p.model.path = str(path)
        p.n_ctx = n_ctx
        p.n_parallel = 1
        p.cpuparams.n_threads = threads
        p.cpuparams_batch.n_threads = threads
        p.sampling.temp = 0.0
        p.verbosity = -1
        p.warmup = False
        try:
            server = xlc.Server(p)
        except Exception as exc:
            raise LocalModelError(f"llama.cpp could not load {path}: {exc}") from exc
        # Drop servers of other settings: one loaded model per process.
        _SERVERS.clear()
        _SERVERS[key] = server
        return server


def _role(m: BaseMessage) -> str:
    if isinstance(m, SystemMessage):
        return "system"
    if isinstance(m, HumanMessage):
        return "user"
    if isinstance(m, AIMessage):
        return "assistant"
    return getattr(m, "role", "user")


class LocalChatModel(BaseChatModel):
    """Chat model over a GGUF file on CPU; greedy decoding, so answers are repeatable."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: Path
    n_ctx: int = 4096
    threads: int = Field(2, ge=1)
    max_tokens: int = 256
    temperature: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "llama.cpp"

    @property
    def model_name(self) -> str:
        return self.model_path.name

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": str(self.model_path), "n_ctx": self.n_ctx}

    def load(self) -> None:
        """Load now (else on first use); raises a clear error for a missing/bad file."""
        _server(self.model_path, self.n_ctx, self.threads)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> dict:
        req: dict[str, Any] = {
            "messages": [{"role": _role(m), "content": m.content} for m in messages],
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
        }
        if stop:
            req["stop"] = stop
        # A JSON schema the reply must follow (llama.cpp compiles it to a grammar).
        if kwargs.get("response_format"):
            req["response_format"] = kwargs["response_format"]
        if kwargs.get("grammar"):  # or a GBNF grammar
            req["grammar"] = kwargs["grammar"]
        # First-token alternatives (the chain's verdict step), in OpenAI's format.
        if kwargs.get("logprobs"):
            req["logprobs"] = True
            req["top_logprobs"] = int(kwargs.get("top_logprobs") or 1)
        return req

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        server = _server(self.model_path, self.n_ctx, self.threads)
        with _LOCK:
            r = server.handle_chat_completions(self._request(messages, stop, **kwargs))
        if not isinstance(r, dict) or "choices" not in r:
            raise LocalModelError(f"llama.cpp returned an error: {r}")
        choice = r["choices"][0]
        text = choice["message"].get("content") or ""
        meta = {"model_name": self.model_name, "usage": r.get("usage"), "timings": r.get("timings")}
        if choice.get("logprobs"):
            meta["logprobs"] = choice["logprobs"]
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(content=text, response_metadata=meta))],
            llm_output=meta,
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """True token streaming: llama.cpp calls back per token on a worker thread."""
        server = _server(self.model_path, self.n_ctx, self.threads)
        req = {**self._request(messages, stop, **kwargs), "stream": True}
        q: queue.Queue[Any] = queue.Queue()
        done = object()

        def work() -> None:
            try:
                with _LOCK:
                    server.handle_chat_completions(req, q.put)
            except Exception as exc:  # surfaced in the caller's thread
                q.put(exc)
            finally:
                q.put(done)

        threading.Thread(target=work, daemon=True, name="llama-stream").start()
        while (item := q.get()) is not done:
            if isinstance(item, Exception):
                raise LocalModelError(f"llama.cpp failed while generating: {item}") from item
            if not isinstance(item, dict) or "choices" not in item:
                if isinstance(item, dict) and "error" in item:
                    raise LocalModelError(f"llama.cpp returned an error: {item['error']}")
                continue
            for choice in item["choices"]:
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                    if run_manager:
                        run_manager.on_llm_new_token(piece, chunk=chunk)
                    yield chunk
