"""Who said what: questions about attributed statements, answered from the statements
table the build fills (`index.quotes`), as a list of speakers with their words cited.

"Who threatened weapons convoys?" is a question about speakers, not about a fact: the
reader would quote one sentence; the user wants every speaker, each with what they said.
The statements are ranked by the embedder's similarity to the question's topic (the same
MiniLM the index uses), candidates coming from the hybrid search over the topic's
paragraphs, or, for "What did Ryabkov say about …?", from the speaker's own statements.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from index.chunker import ChunkSettings, display_paragraphs
from index.quotes import SPEECH_LEMMAS
from index.store import ChunkStore, StoredStatement
from qa.response import Citation, Filters, Quote

_VERBS = {
    "say": "say",
    "said": "say",
    "says": "say",
    "warn": "warn",
    "warned": "warn",
    "warns": "warn",
    "threaten": "threaten",
    "threatened": "threaten",
    "threatens": "threaten",
    "claim": "claim",
    "claimed": "claim",
    "claims": "claim",
    "deny": "deny",
    "denied": "deny",
    "denies": "deny",
    "accused": "accuse",
    "accuses": "accuse",
    "insisted": "insist",
    "insists": "insist",
    "urged": "urge",
    "urges": "urge",
    "told": "tell",
    "tells": "tell",
    "stated": "state",
    "announced": "announce",
    "argued": "argue",
    "predicted": "predict",
    "vowed": "vow",
    "promised": "promise",
    "alleged": "allege",
    "tell": "tell",
}
_VERB_ALT = "|".join(sorted(_VERBS, key=len, reverse=True))
WHAT_DID = re.compile(
    r"^\s*what\s+(?:else\s+)?(?:did|does|has|have|had)\s+(.+?)\s+"
    rf"({_VERB_ALT})\b\s*(?:about|of|on|regarding|concerning)?\s*(.*?)[\s?.!]*$",
    re.IGNORECASE,
)
# Verbs a question's verb also accepts ("who threatened" finds "warned … legitimate targets").
_KIN = {
    "threaten": {"threaten", "warn"},
    "warn": {"warn", "threaten", "caution"},
    "claim": {"claim", "allege", "say", "insist"},
    "deny": {"deny", "reject"},
}
VERB_BONUS = 0.05
# Least similarity to the topic a listed statement needs (statement-level cosine runs
# lower than paragraph-level, hence below the reader's `min_relevance`).
STATEMENT_FLOOR = 0.3
# How far below the best statement a listed one may score (as `qa.answer.development`
# keeps a story's paragraphs near its best one).
STATEMENT_MARGIN = 0.15
MAX_SPEAKERS = 8
# How near its speaker's name a paragraph must describe the role a question asks about.
ROLE_WINDOW = 40
SEARCH_K = 40


_SECOND_QUESTION = re.compile(
    r"(?:,|\b(?:and|but|or))\s+(?:who|whom|what|when|where|why|how|which)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class QuoteQuestion:
    """What a who-said question asks: the topic to rank by, a speaker to filter by, the verb,
    and for "Which <role> said …?" the role the speaker must be described by (its head noun
    in `role_head`)."""

    topic: str
    speaker: str | None
    verb: str | None
    role: str | None = None
    role_head: str | None = None

    @property
    def search_text(self) -> str:
        """What finds the candidate paragraphs: the role names the speaker's context too."""
        return f"{self.role} {self.topic}" if self.role else self.topic


# Speech verbs a question may ask about: the extractor's, less those that in a question
# usually mean something else ("Who wrote the book?", "Who reported the crime?").
QUESTION_LEMMAS = SPEECH_LEMMAS - {"write", "report", "agree", "add", "note", "describe"}


def parse_quote_question(question: str) -> QuoteQuestion | None:
    """The question's speaker/topic/verb, or None when it is not a who-said question, or
    asks something else besides ("Who threatened convoys and what did Zelensky say?" is
    two questions: a list of speakers would answer only the first).

    "Who <speech verb> …?" and "Which/What <role> <speech verb> …?" are read from spaCy's
    parse of the question (the subject of the speech verb is the wh-word, or a noun the
    wh-determiner opens); "What did X say about …?" by its fixed shape."""
    if _SECOND_QUESTION.search(question):
        return None
    m = WHAT_DID.match(question)
    if m:
        return QuoteQuestion(m.group(3).strip(), m.group(1).strip(), None)
    return _asked_about_speakers(question)


def _asked_about_speakers(question: str) -> QuoteQuestion | None:
    from qa.answer.question import parse

    doc = parse(question)
    sent = next(iter(doc.sents), None)
    if sent is None:
        return None
    root = sent.root
    lemma = root.lemma_.lower()
    if root.pos_ not in ("VERB", "AUX") or lemma not in QUESTION_LEMMAS:
        return None
    subjects = [t for t in root.children if t.dep_ in ("nsubj", "nsubjpass") and t.i < root.i]
    if len(subjects) != 1:
        return None
    subject = subjects[0]
    words = [t for t in sent if not t.is_punct]
    first = words[0] if words else None
    role = role_head = None
    if subject.lower_ == "who":
        if subject.i != first.i:
            return None
    elif first is not None and first.lower_ in ("which", "what") and first.i < subject.i:
        # "Which former Bush Treasury official said …": the role is everything between
        # the wh-word and the speech verb, its head the subject noun.
        if subject.pos_ not in ("NOUN", "PROPN"):
            return None
        role = doc[first.i + 1 : subject.right_edge.i + 1].text.strip()
        role_head = subject.lemma_.lower()
        if not role:
            return None
    else:
        return None
    rest = [t for t in doc[root.i + 1 :] if not (t.is_punct and t.i == len(doc) - 1)]
    if rest and rest[0].lower_ == "that" and rest[0].dep_ == "mark":
        rest = rest[1:]
    topic = doc[rest[0].i : rest[-1].i + 1].text.strip(" ?.!") if rest else ""
    if not topic:
        return None
    return QuoteQuestion(topic, None, lemma, role, role_head)


def described_as(
    found: Sequence[FoundStatement], head: str, texts: dict[int, str]
) -> list[FoundStatement]:
    """The statements whose speaker the article describes by the question's role noun:
    "Which spokeswoman said …" keeps speakers whose own role (or name) says spokeswoman;
    when none does, those the paragraph calls one next to their name ("Adam Tomkins of
    the Scottish Conservatives said"). `texts` maps a chunk row to its paragraph text."""
    stem = re.escape(head.lower().rstrip("s"))
    pattern = re.compile(rf"\b{stem}", re.IGNORECASE)
    own = [
        f
        for f in found
        if pattern.search(" ".join(filter(None, (f.statement.role, f.statement.speaker))))
    ]
    if own:
        return own
    near = re.compile(rf"\b{stem}", re.IGNORECASE)
    kept = []
    for f in found:
        text = texts.get(f.statement.row, "")
        name = f.statement.speaker
        for m in re.finditer(re.escape(name), text) if name else ():
            window = text[max(0, m.start() - ROLE_WINDOW) : m.end() + ROLE_WINDOW]
            if near.search(window):
                kept.append(f)
                break
    return kept


@dataclass(frozen=True)
class FoundStatement:
    statement: StoredStatement
    score: float


class StatementFinder:
    """Statements of one index, filtered and ranked; shared by answers, CLI and API."""

    def __init__(self, store: ChunkStore, searcher: Any, embedder: Any, chunking: ChunkSettings):
        self.store = store
        self.searcher = searcher
        self.embedder = embedder
        self.chunking = chunking

    @property
    def available(self) -> bool:
        return self.store.has_statements

    def find(
        self,
        topic: str = "",
        speaker: str | None = None,
        filters: Filters | None = None,
        verb: str | None = None,
        limit: int = 20,
        search: str | None = None,
    ) -> list[FoundStatement]:
        """Statements about `topic` (ranked by similarity) and/or by `speaker`; `search`
        finds the candidate paragraphs when it should say more than the topic."""
        filters = filters or Filters()
        where = {"sources": filters.sources, "since": filters.since, "until": filters.until}
        if speaker:
            found = self.store.find_statements(speaker=speaker, **where)
        elif topic:
            hits = self.searcher.search(search or topic, SEARCH_K, filters).hits
            found = self.store.find_statements(rows=[h.chunk.row for h in hits], **where)
        else:
            found = self.store.find_statements(limit=limit, **where)
        if filters.article_ids:
            found = [s for s in found if s.article_id in set(filters.article_ids)]
        if not found:
            return []
        if not topic:
            return [FoundStatement(s, 0.0) for s in found[:limit]]
        q = self.embedder.encode_query(topic)
        vecs = self.embedder.encode([f"{s.speaker}: {s.statement}" for s in found])
        scores = vecs @ q
        kin = _KIN.get(verb or "", {verb} if verb else set())
        ranked = [
            FoundStatement(s, float(sc) + (VERB_BONUS if s.verb in kin else 0.0))
            for s, sc in zip(found, scores)
        ]
        ranked.sort(key=lambda f: (-f.score, f.statement.row, f.statement.start))
        return ranked[:limit]

    def citation(self, found: FoundStatement, n: int) -> Citation:
        """A normal citation whose quote is the statement, offsets into its paragraph."""
        s = found.statement
        chunk = self.store.chunks_by_rows([s.row])[s.row]
        article = self.store.article(s.article_id)
        text = chunk.text
        if article is not None:
            paras = display_paragraphs(article.text, self.chunking)
            if 1 <= s.paragraph <= len(paras):
                a, b = paras[s.paragraph - 1]
                text = article.text[a:b]
        quote = text[s.start : s.end]
        verified = quote == s.statement
        return Citation(
            n=n,
            article_id=s.article_id,
            chunk_id=chunk.chunk_id,
            title=chunk.title,
            source=chunk.source,
            date=chunk.date,
            url=chunk.url,
            paragraph=s.paragraph,
            text=text,
            quote=s.statement,
            quote_start=s.start if verified else -1,
            quote_end=s.end if verified else -1,
            score=round(found.score, 4),
            verified=verified,
            match="exact" if verified else "unverified",
        )


def by_speaker(
    found: Sequence[FoundStatement], max_speakers: int = MAX_SPEAKERS
) -> list[FoundStatement]:
    """Each speaker's best statement, best speaker first. An unresolved pronoun ("he",
    with no named speaker before it) answers no "who" question: it is left out here (the
    quotes listing keeps it, marked)."""
    seen: set[str] = set()
    out: list[FoundStatement] = []
    for f in found:
        if not f.statement.resolved or not _names_someone(f.statement.normalized):
            continue
        key = f.statement.normalized.lower()
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
        if len(out) >= max_speakers:
            break
    return out


def _names_someone(speaker: str) -> bool:
    """A speaker a "who" question can be answered with: not a figure ("77 percent"), not
    a span that swallowed a quotation (an extraction slip on a garbled paragraph)."""
    return (
        bool(speaker)
        and not speaker[0].isdigit()
        and not any(c in speaker for c in '"“”?')
        and len(speaker.split()) <= 8
    )


def not_the_addressee(found: Sequence[FoundStatement], topic: str) -> list[FoundStatement]:
    """A who-said question's answer is not someone its topic names: "Who told Donald Tusk
    of the timing?" asks who spoke to Tusk, so Tusk's own statements are left out."""
    named = {w.lower() for w in re.findall(r"\b[A-Z][\w'’-]{2,}", topic)}
    return [
        f
        for f in found
        if not named & {w.lower() for w in re.findall(r"[\w'’-]+", f.statement.normalized)}
    ]


def speaker_label(s: StoredStatement) -> str:
    name = s.normalized if s.resolved else f"{s.speaker} (unresolved)"
    return f"{name} ({s.role})" if s.role else name


def compose(found: Sequence[FoundStatement], citations: Sequence[Citation]) -> str:
    """The answer text: one line per speaker, the statement verbatim, cited, dated."""
    lines = []
    for f, c in zip(found, citations):
        s = f.statement
        date = f", {s.date[:10]}" if s.date else ""
        lines.append(f"- {speaker_label(s)}{date}, {s.verb}: “{s.statement}” [{c.n}]")
    return "\n".join(lines)


def quote_of(found: FoundStatement, citation: Citation) -> Quote:
    s = found.statement
    return Quote(
        speaker=s.speaker,
        normalized=s.normalized,
        role=s.role,
        verb=s.verb,
        statement=s.statement,
        direct=s.direct,
        resolved=s.resolved,
        date=s.date,
        source=s.source,
        score=round(found.score, 4),
        citation=citation,
    )


def relevant(
    found: Sequence[FoundStatement], floor: float, margin: float = STATEMENT_MARGIN
) -> list[FoundStatement]:
    """Statements at least `floor` similar to the topic and within `margin` of the best
    one: a list of speakers on the topic, not everyone who said something near it."""
    best = max((f.score for f in found), default=0.0)
    return [f for f in found if f.score >= max(floor, best - margin)]


__all__ = [
    "FoundStatement",
    "QuoteQuestion",
    "StatementFinder",
    "by_speaker",
    "compose",
    "described_as",
    "not_the_addressee",
    "parse_quote_question",
    "quote_of",
    "relevant",
    "speaker_label",
]
