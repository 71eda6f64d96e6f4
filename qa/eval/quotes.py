"""How well the build finds attributed statements, against hand labels (data/eval/quotes.jsonl).

Each label line is one attributed statement read by hand: `article_id`, `paragraph`
(display paragraph, from 1), `speaker` (the full name or the phrase the text names),
`role` ("" when none), `verb` (lemma), `statement` (the span, verbatim), `split` (`dev`:
the articles the extractor was tuned on; `test`: articles labelled later and only measured).
Labels hold no article text beyond the statement; the articles come from the archive (or
the seed).

A labelled paragraph is labelled completely, so precision counts the extractor's
statements in labelled paragraphs only. A predicted statement *overlaps* a label when
their spans share a character in the same paragraph; *exact* when the spans are equal
after trimming quotation marks and punctuation at the ends. Its speaker is right when the
last word of either the label's speaker or the predicted normalised speaker is a word of
the other (a surname or the head noun: "Kennedy" ~ "Robert F. Kennedy Jr.", "Officials" ~
"Officials in Athens"), case-insensitive.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from index.chunker import ChunkSettings, display_paragraphs
from index.quotes import Statement, extract_articles

_TRIM = "\"“”‘’'«» .,;:—-"


SPLITS = ("dev", "test")


def load_labels(path: Path, split: str = "all") -> list[dict[str, Any]]:
    """The label lines of `split` (`dev`, `test` or `all`)."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"unknown split {split!r}: use dev, test or all")
    rows = []
    for no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        missing = {"article_id", "paragraph", "speaker", "verb", "statement", "split"} - set(row)
        if missing:
            raise ValueError(f"{path}:{no} lacks {sorted(missing)}")
        if row["split"] not in SPLITS:
            raise ValueError(f"{path}:{no} has split {row['split']!r}, not dev or test")
        if split in ("all", row["split"]):
            rows.append(row)
    return rows


def _span(paragraph: str, statement: str) -> tuple[int, int] | None:
    i = paragraph.find(statement)
    if i < 0:
        squeezed = re.sub(r"\s+", " ", paragraph)
        i = squeezed.find(statement)
        if i < 0:
            return None
    return i, i + len(statement)


def _trimmed(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip(_TRIM)).lower()


def _words(name: str) -> list[str]:
    return [w.strip(".,'’").removesuffix("'s").removesuffix("’s") for w in name.lower().split()]


def _same_speaker(gold: str, predicted: str) -> bool:
    g, p = _words(gold), _words(predicted)
    return bool(g and p) and (g[-1] in p or p[-1] in g)


def evaluate(
    labels: Sequence[dict[str, Any]], articles: dict[str, Any], settings: ChunkSettings
) -> dict[str, Any]:
    """Speaker and span precision/recall of the extractor over the labelled paragraphs; with
    labels of both splits, the same figures per split under `by_split` (one extraction)."""
    ids = sorted({r["article_id"] for r in labels if r["article_id"] in articles})
    found, report = extract_articles([articles[i] for i in ids], settings)
    predicted: dict[tuple[str, int], list[Statement]] = {}
    for aid, statements in zip(ids, found):
        for s in statements:
            predicted.setdefault((aid, s.paragraph), []).append(s)
    out = _score(labels, articles, predicted, settings)
    out["skipped_paragraphs"] = report.skipped_paragraphs
    splits = sorted({r.get("split", "") for r in labels})
    if len(splits) > 1:
        out["by_split"] = {
            name: _score(
                [r for r in labels if r.get("split", "") == name], articles, predicted, settings
            )
            for name in splits
        }
    return out


def _score(
    labels: Sequence[dict[str, Any]],
    articles: dict[str, Any],
    predicted: dict[tuple[str, int], list[Statement]],
    settings: ChunkSettings,
) -> dict[str, Any]:
    ids = sorted({r["article_id"] for r in labels if r["article_id"] in articles})
    missing = sorted({r["article_id"] for r in labels} - set(ids))
    gold: dict[tuple[str, int], list[tuple[dict, tuple[int, int]]]] = {}
    unplaced = []
    for r in labels:
        if r["article_id"] not in articles:
            continue
        text = articles[r["article_id"]].text
        paras = display_paragraphs(text, settings)
        no = int(r["paragraph"])
        span = _span(text[slice(*paras[no - 1])], r["statement"]) if 1 <= no <= len(paras) else None
        if span is None:
            unplaced.append(r)
            continue
        gold.setdefault((r["article_id"], no), []).append((r, span))
    n_gold = sum(len(v) for v in gold.values())
    preds = [(key, s) for key in gold for s in predicted.get(key, [])]
    over_p = exact_p = speaker_p = 0
    for key, s in preds:
        hits = [(r, sp) for r, sp in gold[key] if sp[0] < s.end and s.start < sp[1]]
        if hits:
            over_p += 1
            exact_p += any(_trimmed(r["statement"]) == _trimmed(s.statement) for r, _ in hits)
            speaker_p += any(_same_speaker(r["speaker"], s.normalized) for r, _ in hits)
    over_r = exact_r = speaker_r = 0
    for key, items in gold.items():
        for r, sp in items:
            hits = [s for s in predicted.get(key, []) if sp[0] < s.end and s.start < sp[1]]
            over_r += bool(hits)
            exact_r += any(_trimmed(r["statement"]) == _trimmed(s.statement) for s in hits)
            speaker_r += any(_same_speaker(r["speaker"], s.normalized) for s in hits)

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 3) if b else None

    return {
        "labels": len(labels),
        "articles": len(ids),
        "outlets": sorted({articles[i].source or "?" for i in ids}),
        "paragraphs": len(gold),
        "gold_statements": n_gold,
        "predicted_in_labelled_paragraphs": len(preds),
        "speaker_precision": ratio(speaker_p, len(preds)),
        "speaker_recall": ratio(speaker_r, n_gold),
        "span_overlap_precision": ratio(over_p, len(preds)),
        "span_overlap_recall": ratio(over_r, n_gold),
        "span_exact_precision": ratio(exact_p, len(preds)),
        "span_exact_recall": ratio(exact_r, n_gold),
        "labels_not_found_in_their_paragraph": len(unplaced),
        "articles_missing": missing,
    }


def draw_articles(
    articles: Iterable[Any], seed: int, per_outlet: int, exclude: set[str] = frozenset()
) -> dict[str, list[str]]:
    """Which articles to label, per outlet, in reading order: unique articles of 800-2,200
    characters with at least two "said" (short enough to read whole, with statements to
    label), ids sorted numerically per outlet, one `random.Random(seed)` drawing
    `per_outlet` of each outlet in alphabetical order. `exclude`: articles labelled before."""
    by_outlet: dict[str, list[str]] = defaultdict(list)
    for a in articles:
        if a.id in exclude or not 800 <= len(a.text) <= 2200:
            continue
        if len(re.findall(r"\bsaid\b", a.text)) >= 2:
            by_outlet[a.source or "?"].append(a.id)
    rng = random.Random(seed)
    return {
        outlet: rng.sample(sorted(ids, key=int), per_outlet)
        for outlet, ids in sorted(by_outlet.items())
    }


def load_articles(sources: Iterable[Path], fields: str, wanted: set[str]) -> dict[str, Any]:
    """The labelled articles, read with the product's loaders."""
    from index.loaders import FieldMap, LoadReport, iter_articles

    out = {}
    for a in iter_articles(list(sources), LoadReport(), FieldMap.parse(fields)):
        if a.id in wanted:
            out[a.id] = a
    return out
