"""Our own answer evaluation: questions written by reading the demo archive's articles.

MultiHop-RAG's questions are shaped by how that benchmark was generated; people asking a
news archive ask "who / how many / when" about one story, follow up on the last answer,
and ask about things the archive does not hold. The set in data/eval/ (see its README)
was written that way, and this module scores the service against it:

- right: an acceptable answer string (every fact, for two-fact questions) appears in the
  short answer when the generator gives one, else in the answer text (case, spacing,
  quotes and punctuation ignored), AND a citation comes from the gold article. Beside it:
  the answer stated whatever was cited (another outlet may report the same fact), and
  whether a cited paragraph of the gold article holds the evidence sentence; a
  how-did-it-develop question also needs citations of the story from two dates or more,
  in date order;
- answerable wrongly declined: `answer.refused` on a question the archive answers;
- unanswerable declined: `answer.refused` on a near-miss whose fact the archive lacks;
- follow-ups right: second turns, asked with the first turn's question and answer as
  history, right by the same rules (declined, when the follow-up is unanswerable).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from index.errors import ArchiveQAError
from qa.response import Answer, Citation

EVAL_DIR = Path(__file__).resolve().parents[2] / "data" / "eval"
SPLITS = ("dev", "test")
Split = Literal["dev", "test"]

# Quote marks as the archive writes them (straight, curly, and the CSV's mangled "?).
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "`": "'"})


class EvalSetError(ArchiveQAError):
    """The evaluation set is missing or malformed."""


@dataclass(frozen=True)
class Question:
    """One turn: what is asked, what counts as its answer, and where the archive says so."""

    question: str
    type: str
    answerable: bool
    article_id: str
    answers: tuple[str, ...] = ()
    also_answers: tuple[tuple[str, ...], ...] = ()
    evidence: tuple[str, ...] = ()
    other_articles: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def gold_articles(self) -> set[str]:
        return {self.article_id, *self.other_articles}

    @property
    def answer_groups(self) -> list[tuple[str, ...]]:
        """Every fact the answer must state, each as its acceptable variants."""
        return [self.answers, *self.also_answers] if self.answers else list(self.also_answers)


@dataclass(frozen=True)
class Item:
    """A record of the set: one question, or a conversation of several turns."""

    id: str
    split: str
    turns: tuple[Question, ...]
    tags: tuple[str, ...] = field(default=())


def _question(d: dict[str, Any], where: str) -> Question:
    try:
        q = Question(
            question=d["question"],
            type=d["type"],
            answerable=bool(d["answerable"]),
            article_id=str(d["article_id"]),
            answers=tuple(d.get("answers", ())),
            also_answers=tuple(tuple(g) for g in d.get("also_answers", ())),
            evidence=tuple(d.get("evidence", ())),
            other_articles=tuple(str(a) for a in d.get("other_articles", ())),
            tags=tuple(d.get("tags", ())),
        )
    except (KeyError, TypeError) as exc:
        raise EvalSetError(f"{where}: malformed question ({exc})") from None
    if q.answerable and not q.answers:
        raise EvalSetError(f"{where}: an answerable question needs `answers`")
    return q


def load_set(split: Split | None = None, directory: Path = EVAL_DIR) -> list[Item]:
    """The set's records of one split (both when None), in file order."""
    splits = SPLITS if split is None else (split,)
    if split is not None and split not in SPLITS:
        raise EvalSetError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    items: list[Item] = []
    for name in splits:
        path = directory / f"answers-{name}.jsonl"
        if not path.is_file():
            raise EvalSetError(f"evaluation set not found: {path}")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalSetError(f"{where}: not JSON ({exc.msg})") from None
            turns = d.get("turns") or [d]
            items.append(
                Item(
                    id=str(d["id"]),
                    split=d.get("split", name),
                    turns=tuple(_question(t, where) for t in turns),
                    tags=tuple(d.get("tags", ())),
                )
            )
    return items


def normalize(text: str) -> str:
    """Lower case, quotes unified, punctuation as spaces: "U.S." matches "U.S", "5,650"
    matches "5,650" and a curly apostrophe matches a straight one."""
    text = text.translate(_QUOTES).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def contains(text: str, phrase: str) -> bool:
    """The phrase occurs in the text as whole words, after `normalize`."""
    needle = normalize(phrase)
    return bool(needle) and f" {needle} " in f" {normalize(text)} "


def answer_text(answer: Answer) -> str:
    """What is scored: the short answer when the generator gives one, else the answer."""
    short = getattr(answer, "short_answer", None)
    return short if short else answer.answer


DEVELOPMENT_TAG = "time:development"


def tells_a_course(q: Question, citations: Sequence[Citation]) -> bool:
    """A how-did-it-develop answer tells the story's course: it cites the story's articles
    (the gold one or `other_articles`) from at least two dates, in date order, since one
    right article would not be a development."""
    dates = [c.date for c in citations if c.article_id in q.gold_articles and c.date]
    return len(set(dates)) >= 2 and dates == sorted(dates)


def score_turn(q: Question, answer: Answer, seconds: float) -> dict[str, Any]:
    """One turn's row: the flags the report counts, and what was answered and cited."""
    text = answer_text(answer)
    found = bool(q.answer_groups) and all(
        any(contains(text, a) for a in group) for group in q.answer_groups
    )
    cited_gold = any(c.article_id in q.gold_articles for c in answer.citations)
    evidence_cited = any(
        c.article_id in q.gold_articles and any(contains(c.text, e) for e in q.evidence)
        for c in answer.citations
    )
    refused = bool(answer.refused)
    if DEVELOPMENT_TAG in q.tags:
        cited_gold = cited_gold and tells_a_course(q, answer.citations)
    right = (not refused and found and cited_gold) if q.answerable else refused
    first = answer.timings.first_token_ms
    return {
        "question": q.question,
        "type": q.type,
        "answerable": q.answerable,
        "tags": list(q.tags),
        "gold_article": q.article_id,
        "answers": list(q.answers),
        "right": right,
        "answer_found": found,
        "cited_gold": cited_gold,
        "evidence_cited": evidence_cited,
        "refused": refused,
        "seconds": round(seconds, 4),
        "first_token_s": None if first is None else round(first / 1000, 4),
        "short_answer": getattr(answer, "short_answer", None),
        "answer": answer.answer,
        "standalone_question": answer.standalone_question,
        "citations": [
            {"n": c.n, "article_id": c.article_id, "paragraph": c.paragraph}
            for c in answer.citations
        ],
    }


AskFn = Callable[[str, Sequence[tuple[str, str]]], Answer]


def run_items(
    ask: AskFn,
    items: Sequence[Item],
    progress: Callable[[int, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Ask every item's turns in order, each later turn with the earlier ones as history."""
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(items, start=1):
        history: list[tuple[str, str]] = []
        for n, q in enumerate(item.turns, start=1):
            t0 = time.perf_counter()
            answer = ask(q.question, list(history))
            row = {
                "id": item.id,
                "split": item.split,
                "turn": n,
                **score_turn(q, answer, time.perf_counter() - t0),
            }
            rows.append(row)
            history.append((q.question, answer.answer))
            if progress:
                progress(i, row)
    return rows


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# Tags reported as their own lines besides the answer types: issue 16's who-said questions,
# and each kind of issue 17's time questions.
TAG_LINES = (
    "who-said",
    "two-fact",
    "time:latest",
    "time:first",
    "time:as-of",
    "time:in-period",
    DEVELOPMENT_TAG,
)


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts per answer type and overall (follow-ups also as their own line)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["type"]].append(r)
        groups["overall"].append(r)
        for tag in TAG_LINES:
            if tag in r["tags"]:
                groups[tag].append(r)
        if r["turn"] > 1:
            groups["follow-up turns"].append(r)

    def line(rs: list[dict[str, Any]]) -> dict[str, Any]:
        ans = [r for r in rs if r["answerable"]]
        una = [r for r in rs if not r["answerable"]]
        secs = [r["seconds"] for r in rs]
        firsts = [r["first_token_s"] for r in rs if r["first_token_s"] is not None]
        return {
            "questions": len(rs),
            "answerable": len(ans),
            "right": sum(r["right"] for r in ans),
            "answer_found": sum(r["answer_found"] and not r["refused"] for r in ans),
            "evidence_cited": sum(r["evidence_cited"] for r in ans),
            "wrongly_declined": sum(r["refused"] for r in ans),
            "unanswerable": len(una),
            "declined": sum(r["refused"] for r in una),
            "p50_s": _pct(secs, 50),
            "p95_s": _pct(secs, 95),
            "first_token_p50_s": _pct(firsts, 50),
            "first_token_p95_s": _pct(firsts, 95),
        }

    extra = (*TAG_LINES, "follow-up turns", "overall")
    order = sorted(k for k in groups if k not in extra)
    by_type = {k: line(groups[k]) for k in [*order, *extra] if k in groups}
    follow = groups.get("follow-up turns", [])
    return {
        "by_type": by_type,
        "followups": len(follow),
        "followups_right": sum(r["right"] for r in follow),
    }


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def frac(a: int, b: int) -> str:
        return f"{a}/{b} ({a / b:.0%})" if b else "–"

    def secs(v: float | None) -> str:
        return "–" if v is None else f"{v:.2f}"

    s = report["summary"]
    title = (
        f"archive-qa eval answers — split {report['split']}, generator {report['generator']}, "
        f"{report['items']} records, {report['questions']} questions"
    )
    table = Table(title=title)
    for col in (
        "type",
        "n",
        "right answer + citation",
        "answer stated, any citation",
        "evidence ¶ cited",
        "answerable declined",
        "unanswerable declined",
        "p50 s",
        "p95 s",
        "1st token p50/p95 s",
    ):
        table.add_column(col, justify="left" if col == "type" else "right")
    names = list(s["by_type"])
    for i, (name, v) in enumerate(s["by_type"].items()):
        following = names[i + 1] if i + 1 < len(names) else None
        table.add_row(
            name,
            str(v["questions"]),
            frac(v["right"], v["answerable"]),
            frac(v["answer_found"], v["answerable"]),
            frac(v["evidence_cited"], v["answerable"]),
            frac(v["wrongly_declined"], v["answerable"]),
            frac(v["declined"], v["unanswerable"]),
            secs(v["p50_s"]),
            secs(v["p95_s"]),
            f"{secs(v['first_token_p50_s'])}/{secs(v['first_token_p95_s'])}",
            end_section=following in (TAG_LINES[0], "follow-up turns", "overall"),
        )
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=150)
    console.print(table)
    console.print(f"follow-ups right: {frac(s['followups_right'], s['followups'])}")
