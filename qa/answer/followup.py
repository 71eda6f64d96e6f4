"""Follow-up questions made standalone without an LLM.

"Who threatened weapons convoys?" then "What did he say about that in 2017?": the second
question can only be searched once "he" is Sergei Ryabkov and "that" the convoys. The
previous turn gives both: its answer (the short answer it led with, or the first entity of
the asked kind in its text) and its question's own names and topic. Pronouns and "the
company / the minister"-style references are replaced by the matching one; a follow-up
that names nothing of its own ("And how many were injured?") keeps the previous
question's specifics. The history is plain (question, answer text) pairs, as the page and
the API send it, so this works the same for every front end and generator.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from index.annotate import find_entities
from qa.answer.question import Analysis, analyze, parse

_PERSON = {"he", "she", "him", "her", "his", "hers", "himself", "herself"}
_GROUP = {"they", "them", "their", "theirs"}
_THING = {"it", "its"}
_TOPIC = {"that", "this"}
_PLACE = {"there"}
_POSSESSIVE = {"his", "her", "its", "their"}
_DEFINITE = re.compile(
    r"\bthe (minister|president|company|firm|country|city|group|party|organisation|"
    r"organization|man|woman|official|leader|team|club|agency|prime minister|spokesman)\b",
    re.I,
)
_DEFINITE_KIND = {
    "minister": "person",
    "president": "person",
    "man": "person",
    "woman": "person",
    "official": "person",
    "leader": "person",
    "prime minister": "person",
    "spokesman": "person",
    "company": "organisation",
    "firm": "organisation",
    "group": "organisation",
    "party": "organisation",
    "organisation": "organisation",
    "organization": "organisation",
    "team": "organisation",
    "club": "organisation",
    "agency": "organisation",
    "country": "place",
    "city": "place",
}
_LEADS = re.compile(r"^\s*(?:and|but|so|also|then|ok|okay|now)\b[\s,]*", re.I)
_ABOUT = re.compile(r"^\s*(?:what|how) about\s+", re.I)
_KIND_LABELS = {
    "person": {"PERSON"},
    "organisation": {"ORG"},
    "place": {"GPE", "LOC", "FAC"},
}


@dataclass
class Rewrite:
    """The question as searched, and what was done to get it."""

    question: str
    changed: bool = False
    notes: list[str] = field(default_factory=list)
    # The previous answer's fact: a follow-up asks something new, so it is not the answer.
    previous_answer: str | None = None


@dataclass
class _Turn:
    """What the previous turn offers to resolve references with."""

    analysis: Analysis
    answer: str | None  # the previous answer's fact (a name, number, place)
    answer_label: str | None
    entities: list[tuple[str, str]]  # (text, label) named in the previous question
    topic: str | None  # the previous question's last noun phrase that is a thing
    plural: list[str] = field(default_factory=list)  # its plural noun phrases, first first


def standalone(question: str, history: Sequence[tuple[str, str]] | None) -> Rewrite:
    """`question` with its references to the previous turn resolved (see the module)."""
    a = analyze(question)
    refs = [(s, e, t, tag) for s, e, t, tag in a.pronouns if t.lower() in _ALL]
    if not history:
        if refs:
            names = ", ".join(f"'{t}'" for _, _, t, _ in refs)
            return Rewrite(
                question,
                notes=[f"no earlier turn to resolve {names} against; searched as asked"],
            )
        return Rewrite(question)
    prev_q, prev_a = history[-1]
    turn = _previous(prev_q, prev_a)
    rewrite = _rewrite(question, a, refs, prev_q, turn)
    rewrite.previous_answer = turn.answer
    return rewrite


def _rewrite(question: str, a: Analysis, refs: list, prev_q: str, turn: _Turn) -> Rewrite:
    fragment = _wh_fragment(question, prev_q)
    if fragment is not None:  # "And what prison term?": the previous question, re-asked
        return Rewrite(fragment, True)
    text = question
    used_person: set[str] = set()
    replaced = False
    # Right to left, so earlier offsets stay valid.
    for start, end, word, tag in sorted(refs, reverse=True):
        value = _resolve(word.lower(), turn, used_person)
        if value is None:
            continue
        if word.lower() in _POSSESSIVE and (tag == "PRP$" or word.lower() != "her"):
            value = f"{value}'s"
        text = text[:start] + value + text[end:]
        replaced = True
    backed = _definite_back(text, prev_q)
    replaced = replaced or backed != text
    text = backed
    m = _DEFINITE.search(text)
    if m and not replaced:
        kind = _DEFINITE_KIND.get(m.group(1).lower())
        value = _of_kind(kind, turn)
        if value:
            text = text[: m.start()] + value + text[m.end() :]
            replaced = True
    about = _ABOUT.match(text)
    if about:  # "What about Germany?": the previous question, about the new subject
        subject = text[about.end() :].rstrip(" ?")
        return Rewrite(_swap_subject(prev_q, turn, subject), True)
    text = _LEADS.sub("", text)
    text = text[:1].upper() + text[1:]
    if not _names_anything(text) or (not replaced and _is_elliptic(a)):
        context = [t for t, _ in turn.entities] or ([turn.topic] if turn.topic else [])
        extra = [c for c in context if c.lower() not in text.lower()]
        if extra:
            text = f"{text.rstrip(' ?')} ({', '.join(extra)})?"
            replaced = True
    if not replaced and text == question:
        return Rewrite(question)
    return Rewrite(text, True)


_ALL = _PERSON | _GROUP | _THING | _TOPIC | _PLACE
# What "it" can stand for when the previous answer was one (not a person, number or date).
_THING_LABELS = {"ORG", "WORK_OF_ART", "EVENT", "LAW", "PRODUCT", "FAC"}


def _previous(question: str, answer: str) -> _Turn:
    pa = analyze(question)
    entities = [(s.text, s.label) for s in pa.specifics if s.kind == "entity"]
    short, label = _answer_fact(pa, answer)
    singular, plural = _topics(question, {t.lower() for t, _ in entities})
    return _Turn(pa, short, label, entities, singular[-1] if singular else None, plural)


# Heads of noun phrases that name no thing a pronoun could stand for.
_NOT_TOPICS = {"step", "latest", "archive", "article", "thing", "way", "lot", "kind", "what"}


def _topics(question: str, names: set[str]) -> tuple[list[str], list[str]]:
    """The previous question's noun phrases that "it" (singular) or "they" (plural) can
    stand for: not a bare name, a date, a pronoun's phrase or a word like "the latest";
    "which professor" counts as "professor", "how many warheads" as "warheads"."""
    singular: list[str] = []
    plural: list[str] = []
    for chunk in parse(question).noun_chunks:
        words = [t for t in chunk if t.lower_ not in _WH_WORDS]
        if not words or words[0].tag_ in {"PRP$", "PRP", "WP", "WDT"}:
            continue
        root = chunk.root
        if root.lemma_.lower() in _NOT_TOPICS or root.ent_type_ in _NOT_TOPIC_LABELS:
            continue
        text = question[words[0].idx : chunk.end_char]
        if text.lower() in names or root.pos_ == "PRON":
            continue
        (plural if root.tag_ in {"NNS", "NNPS"} else singular).append(text)
    return singular, plural


_WH_WORDS = {"which", "what", "whose", "how", "many", "much"}
_NOT_TOPIC_LABELS = {"DATE", "TIME", "CARDINAL", "ORDINAL", "PERCENT", "MONEY", "QUANTITY"}


def _answer_fact(pa: Analysis, answer: str) -> tuple[str | None, str | None]:
    """The fact the previous answer gave: our extractive answers lead with it ("X — …");
    otherwise the first entity of the asked kind in its opening text."""
    if not answer or answer.startswith("I could not find"):
        return None, None
    listed = re.match(r"\s*[-•]\s*([^(\n:,]+?)\s*[(:,]", answer)
    if listed:  # a who-said answer: a list of speakers, the first the most relevant
        return listed.group(1).strip(), "PERSON"
    head, sep, _ = answer.partition(" — ")
    if sep and 0 < len(head) <= 80 and "[" not in head:
        label = next(iter(sorted(pa.labels)), None)
        if pa.kind == "person":
            label = "PERSON"
        elif label is None:  # a "what …" question answered with a name: what the name is
            found = find_entities([head])[0]
            label = found[0][2] if found else None
        return head.strip(), label
    if not pa.labels:
        return None, None
    opening = re.sub(r"\[\d+\]", "", answer[:400])
    for s, e, label in find_entities([opening])[0]:
        if label in pa.labels and opening[s:e].lower() not in pa.question.lower():
            return opening[s:e], label
    return None, None


def _resolve(word: str, turn: _Turn, used_person: set[str]) -> str | None:
    if word in _PERSON:
        candidates = []
        if turn.answer and turn.answer_label == "PERSON":
            candidates.append(turn.answer)
        candidates += [t for t, label in turn.entities if label == "PERSON"]
        for c in candidates:
            if c not in used_person:
                used_person.add(c)
                return c
        return candidates[0] if candidates else None
    if word in _GROUP:
        if turn.answer and turn.answer_label in {"ORG", "NORP", "GPE"}:
            return turn.answer
        if turn.plural:  # "how many warheads …" then "how many of them …"
            return turn.plural[0]
        groups = [t for t, label in turn.entities if label in {"ORG", "NORP", "GPE"}]
        return groups[0] if groups else turn.topic
    if word in _PLACE:
        if turn.answer and turn.answer_label in {"GPE", "LOC", "FAC"}:
            return turn.answer
        places = [t for t, label in turn.entities if label in {"GPE", "LOC", "FAC"}]
        return f"in {places[0]}" if places else None
    if word in _THING:
        if turn.answer and turn.answer_label in _THING_LABELS:
            return turn.answer
        return turn.topic or (turn.entities[0][0] if turn.entities else None)
    if word in _TOPIC:
        topic = turn.topic or (turn.plural[0] if turn.plural else None)
        return topic or (turn.entities[0][0] if turn.entities else None)
    return None


def _of_kind(kind: str | None, turn: _Turn) -> str | None:
    labels = _KIND_LABELS.get(kind or "", set())
    if turn.answer and turn.answer_label in labels:
        return turn.answer
    return next((t for t, label in turn.entities if label in labels), None)


def _swap_subject(prev_q: str, turn: _Turn, subject: str) -> str:
    """The previous question with its first named entity replaced by the new subject."""
    for text, _ in turn.entities:
        if text in prev_q:
            return prev_q.replace(text, subject, 1)
    return f"{prev_q.rstrip(' ?')} ({subject})?"


def _names_anything(text: str) -> bool:
    return any(s.kind != "term" for s in analyze(text).specifics)


def _is_elliptic(a: Analysis) -> bool:
    """A short follow-up that names nothing ("And how many were injured?")."""
    return not a.key_specifics() and len(a.question.split()) <= 8


def _wh_fragment(question: str, prev_q: str) -> str | None:
    """A follow-up that is only a wh-phrase ("And what prison term?", "Which year?")
    asks the previous question again about something else: the previous question with
    its own wh-phrase ("What fine") replaced. None when the follow-up has a verb."""
    asked = _LEADS.sub("", question).strip()
    if _ABOUT.match(asked):  # "What about Germany?" swaps the subject instead
        return None
    doc = parse(asked)
    words = [t for t in doc if not t.is_punct]
    if not words or words[0].tag_ not in {"WDT", "WP", "WRB"}:
        return None
    if any(t.pos_ in {"VERB", "AUX"} for t in words):
        return None
    new = "".join(t.text_with_ws for t in words).strip()
    prev = parse(prev_q)
    wh = next((t for t in prev if t.tag_ in {"WDT", "WP", "WRB"}), None)
    if wh is None:
        return None
    # The previous wh-phrase: the wh-word and the noun it opens ("What fine", "How many
    # warheads"), or the wh-word and its adjective ("How old"), or the wh-word alone.
    end = wh.i
    if wh.dep_ == "det" and wh.head.pos_ in {"NOUN", "PROPN"} and wh.head.i > wh.i:
        end = wh.head.i
    elif wh.lower_ == "how" and wh.i + 1 < len(prev) and prev[wh.i + 1].pos_ in {"ADJ", "ADV"}:
        end = wh.i + 1
        quantity = prev[end]
        if quantity.lower_ in {"many", "much"} and quantity.head.pos_ == "NOUN":
            end = max(end, quantity.head.i)
    if end + 1 >= len(prev):
        return None
    rest = prev_q[prev[end + 1].idx :].strip()
    if not rest:
        return None
    return f"{new[:1].upper()}{new[1:]} {rest}"


def _definite_back(question: str, prev_q: str) -> str:
    """A follow-up's "the committee" is the previous question's "House Intelligence
    Committee": a definite noun phrase whose head noun ends a longer phrase of the
    previous question takes that phrase."""
    doc = parse(question)
    prev = parse(prev_q)
    fuller: dict[str, str] = {}
    for chunk in [*prev.noun_chunks, *prev.ents]:
        words = [t for t in chunk if t.tag_ not in {"DT", "WDT", "WP", "PRP$"}]
        if len(words) >= 2:
            text = prev_q[words[0].idx : words[-1].idx + len(words[-1])]
            fuller.setdefault(words[-1].lemma_.lower(), text)
    text = question
    for t in reversed(list(doc)):
        if t.pos_ != "NOUN" or t.lemma_.lower() not in fuller:
            continue
        left = t.i - 1
        if left < 0 or doc[left].lower_ != "the":
            continue
        value = fuller[t.lemma_.lower()]
        if value.lower() in question.lower():
            continue
        start, end = doc[left].idx, t.idx + len(t)
        text = text[:start] + "the " + value + text[end:]
    return text
