"""What a question asks for, and what an answer to it must be about.

The reader needs two things from a question before it reads any paragraph: the kind of
answer wanted (a person, a place, a number, a date, a yes or no, an explanation), which
picks the entity labels that can answer it; and the question's specifics (the names,
numbers, dates, quoted phrases and rarer words it is about), which the evidence must
mention for the archive to count as answering it. Both come from spaCy's parse of the
question (`en_core_web_sm`: entities, part-of-speech and dependencies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from qa.answer.form import AUX

# Answer kinds and the entity labels (OntoNotes, as en_core_web_sm predicts them) that can
# answer them. `description` and `yesno` are answered with sentences, not an entity.
KIND_LABELS: dict[str, frozenset[str]] = {
    "person": frozenset({"PERSON"}),
    "organisation": frozenset({"ORG"}),
    "place": frozenset({"GPE", "LOC", "FAC"}),
    "date": frozenset({"DATE", "TIME"}),
    "number": frozenset({"CARDINAL", "QUANTITY", "PERCENT", "MONEY"}),
    "amount": frozenset({"MONEY", "QUANTITY", "PERCENT", "CARDINAL"}),
    "duration": frozenset({"DATE", "TIME"}),
    "work": frozenset({"WORK_OF_ART", "LAW", "EVENT", "ORG", "PRODUCT"}),
    "nationality": frozenset({"NORP", "GPE"}),
    "yesno": frozenset(),
    "description": frozenset(),
}

# The head noun of "which/what <noun>" → the kind of answer. Nouns not listed leave the
# kind to the wh-word (a "what" question then wants a description).
_FOCUS_KIND = {
    "person": {
        "person",
        "man",
        "woman",
        "people",
        "president",
        "minister",
        "leader",
        "official",
        "spokesman",
        "spokeswoman",
        "spokesperson",
        "candidate",
        "player",
        "actor",
        "actress",
        "singer",
        "coach",
        "manager",
        "chief",
        "ceo",
        "executive",
        "director",
        "judge",
        "journalist",
        "reporter",
        "author",
        "writer",
        "pilot",
        "politician",
        "lawmaker",
        "senator",
        "governor",
        "mayor",
        "ambassador",
        "envoy",
        "secretary",
        "chancellor",
        "king",
        "queen",
        "prince",
        "princess",
        "general",
        "commander",
        "soldier",
        "officer",
        "suspect",
        "victim",
        "chairman",
        "chairwoman",
        "founder",
        "owner",
        "lawyer",
        "doctor",
        "scientist",
        "researcher",
        "activist",
        "artist",
        "star",
        "athlete",
        "footballer",
        "striker",
        "goalkeeper",
        "champion",
        "winner",
        "successor",
        "predecessor",
        "head",
        "adviser",
        "advisor",
        "prosecutor",
        "defender",
        "midfielder",
        "rapper",
        "designer",
        "freshman",
        "student",
        "professor",
        "teacher",
        "economist",
        "analyst",
        "expert",
    },
    "organisation": {
        "company",
        "firm",
        "organisation",
        "organization",
        "group",
        "party",
        "agency",
        "bank",
        "team",
        "club",
        "newspaper",
        "paper",
        "network",
        "airline",
        "university",
        "union",
        "militia",
        "body",
        "ministry",
        "department",
        "court",
        "broadcaster",
        "channel",
        "charity",
        "ngo",
        "institution",
        "carrier",
        "manufacturer",
        "maker",
        "retailer",
        "bloc",
        "alliance",
        "coalition",
        "outlet",
        "magazine",
        "website",
        "app",
        "platform",
        "brand",
        "school",
        "college",
        "council",
        "committee",
        "authority",
        "regulator",
        "force",
        "army",
        "navy",
        "service",
        "operator",
        "insurer",
        "investor",
        "lender",
        "publisher",
        "studio",
        "label",
        "federation",
        "association",
        "league",
        "movement",
    },
    "place": {
        "country",
        "city",
        "town",
        "state",
        "region",
        "province",
        "nation",
        "capital",
        "village",
        "island",
        "area",
        "district",
        "place",
        "continent",
        "county",
        "prison",
        "airport",
        "port",
        "hospital",
        "stadium",
        "neighbourhood",
        "neighborhood",
        "border",
        "location",
        "site",
        "venue",
        "territory",
        "republic",
        "kingdom",
        "sea",
        "river",
        "mountain",
        "street",
        "square",
        "camp",
        "base",
        "facility",
        "station",
    },
    "date": {"year", "month", "day", "date", "decade", "century", "time", "season", "week"},
    "number": {"number", "figure", "total", "toll", "count", "score", "age"},
    "amount": {
        "amount",
        "cost",
        "price",
        "sum",
        "fine",
        "budget",
        "value",
        "fee",
        "salary",
        "revenue",
        "profit",
        "loss",
        "deficit",
        "debt",
        "worth",
        "bill",
        "share",
        "stake",
        "percentage",
        "percent",
        "proportion",
        "rate",
        "size",
        "distance",
        "height",
        "weight",
    },
    "duration": {"sentence", "term", "period", "duration", "length"},
    "work": {
        "book",
        "film",
        "movie",
        "song",
        "album",
        "show",
        "novel",
        "series",
        "programme",
        "program",
        "play",
        "poem",
        "documentary",
        "agreement",
        "treaty",
        "law",
        "bill",
        "act",
        "deal",
        "accord",
        "plan",
        "operation",
        "event",
        "tournament",
        "award",
        "prize",
        "title",
        "name",
        "slogan",
        "campaign",
        "painting",
        "report",
    },
    "nationality": {"nationality", "citizenship", "ethnicity"},
}
_FOCUS = {noun: kind for kind, nouns in _FOCUS_KIND.items() for noun in nouns}

# The auxiliaries a yes/no question opens with (the answer forms' list, plus these).
_AUX_START = AUX | {"am"}
_HOW = {
    "many": "number",
    "much": "amount",
    "long": "duration",
    "old": "number",
    "far": "amount",
    "big": "amount",
    "large": "amount",
    "high": "amount",
    "tall": "amount",
    "often": "number",
}
# Words that carry no specific of their own, even when spaCy tags them as nouns/verbs.
_GENERIC = {
    "say",
    "tell",
    "report",
    "happen",
    "do",
    "make",
    "go",
    "get",
    "take",
    "give",
    "be",
    "have",
    "archive",
    "article",
    "news",
    "story",
    "reported",
    "thing",
    "people",
    "time",
    "year",
    "day",
    "way",
    "one",
    "lot",
    "according",
    "accord",
    "mention",
    "state",
    "call",
    "know",
    "think",
    "want",
    "need",
    "use",
    "become",
    "show",
    "include",
    "find",
    "let",
    "latest",
    "first",
    "last",
    "new",
    "recent",
    "early",
    "late",
    "current",
    "many",
    "much",
}
# Quoted phrases: double quotes, or single ones that open after a space (not the
# apostrophe of "Stanford's").
_QUOTED = re.compile(r"[\"“]([^\"“”]{3,80})[\"”]|(?:^|\s)[‘']([^‘’']{3,80})[’'](?!\w)")


@dataclass(frozen=True)
class Specific:
    """Something the question is about that the evidence must mention."""

    text: str
    kind: str  # entity | number | year | quote | term
    label: str = ""  # the entity label, for entities
    weight: float = 1.0

    def variants(self) -> tuple[str, ...]:
        """Lower-cased forms that count as a mention (a person's surname counts)."""
        t = self.text.lower()
        forms = [t]
        if self.kind == "entity" and self.label == "PERSON" and " " in t:
            forms.append(t.split()[-1])
        if self.kind == "entity" and t.startswith("the "):
            forms.append(t[4:])
        return tuple(dict.fromkeys(forms))


@dataclass
class Analysis:
    """A question read for answering: the kind of answer, its labels, its specifics."""

    question: str
    kind: str
    labels: frozenset[str]
    focus: str | None = None  # the head noun of "which <noun>", when there is one
    specifics: list[Specific] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)  # content lemmas, for sentence scoring
    entity_texts: list[str] = field(default_factory=list)  # the question's own entities
    # (start, end, text, Penn tag: PRP$ for a possessive "her"/"his")
    pronouns: list[tuple[int, int, str, str]] = field(default_factory=list)
    noun_chunks: list[str] = field(default_factory=list)
    english: bool = True
    count: int = 1  # "which two ministers": how many answers are asked for

    @property
    def wants_entity(self) -> bool:
        return bool(self.labels)

    def key_specifics(self) -> list[Specific]:
        """The specifics an answer cannot do without: names, numbers, years, quotes."""
        return [s for s in self.specifics if s.kind != "term"]


@lru_cache(maxsize=1)
def question_pipeline() -> Any:
    """The full English pipeline (parser included): questions are short, so it is cheap."""
    import importlib

    from index.annotate import PIPELINE_PACKAGE

    return importlib.import_module(PIPELINE_PACKAGE).load()


def parse(text: str) -> Any:
    return _parse_cached(text)


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Any:
    return question_pipeline()(text)


def answer_kind(doc: Any) -> tuple[str, str | None]:
    """(kind, focus noun) from the wh-word and, for "which/what X", the noun X."""
    words = [t for t in doc if not t.is_punct]
    if not words:
        return "description", None
    lowered = [t.lower_ for t in words]
    first = lowered[0]
    if first in {"and", "but", "so", "then", "also", "now"} and len(words) > 1:
        words, lowered, first = words[1:], lowered[1:], lowered[1]
    # "In which country ...", "As of 2017, who ...": the first wh-word decides.
    wh_index = next(
        (
            i
            for i, w in enumerate(lowered)
            if w in {"who", "whom", "whose", "which", "what", "when", "where", "why", "how"}
        ),
        None,
    )
    if wh_index is None:
        return ("yesno" if first in _AUX_START else "description"), None
    wh = lowered[wh_index]
    nxt = lowered[wh_index + 1] if wh_index + 1 < len(lowered) else ""
    if wh_index > 2 and first in _AUX_START:
        return "yesno", None
    if wh in {"who", "whom", "whose"}:
        return "person", None
    if wh == "when":
        return "date", None
    if wh == "where":
        return "place", None
    if wh == "why":
        return "description", None
    if wh == "how":
        if nxt in _HOW:
            # "how many people / how many dollars": the counted noun can say amount.
            kind = _HOW[nxt]
            if nxt == "old":
                return "number", "age"
            if nxt == "many" and wh_index + 2 < len(words):
                counted = words[wh_index + 2].lemma_.lower()
                if counted in {"year", "month", "day", "week", "hour", "decade"}:
                    return "duration", counted
            return kind, None
        return "description", None
    # which / what: the noun it asks about ("which country", "what is the name of the ...")
    focus = _focus_noun(words, wh_index)
    if focus is not None:
        kind = _FOCUS.get(focus)
        if kind is not None:
            return kind, focus
        return "description", focus
    # "What did X say it would cost?": the verb names the kind.
    if any(t.pos_ in {"VERB", "AUX"} and t.lemma_.lower() in _AMOUNT_VERBS for t in words):
        return "amount", None
    return "description", None


_AMOUNT_VERBS = {"cost", "pay", "spend", "charge", "earn", "raise", "owe", "fine", "worth"}


def _focus_noun(words: list[Any], wh_index: int) -> str | None:
    """The noun a which/what question asks for: "which [Russian] pilot", "what [is the]
    name of the film" (the noun after "of" when the first is a word like name/kind)."""
    for w in words[wh_index + 1 : wh_index + 6]:
        if w.pos_ in {"AUX", "VERB"} and w.lower_ in _AUX_START and w.i == words[wh_index].i + 1:
            # "what did ...", "which is ...": a focus noun, if any, follows "is the"
            if w.lower_ not in {"is", "are", "was", "were"}:
                return None
            continue
        if w.pos_ in {"NOUN", "PROPN"}:
            while w.dep_ in {"compound", "nmod"} and w.head.pos_ in {"NOUN", "PROPN"}:
                w = w.head  # "the death toll", "which University of Florida freshman"
            lemma = w.lemma_.lower()
            if lemma in {"name", "kind", "type", "sort"}:
                for child in w.children:
                    if child.lower_ == "of":
                        for obj in child.children:
                            if obj.pos_ in {"NOUN", "PROPN"}:
                                return obj.lemma_.lower()
            return lemma
        if w.pos_ in {"VERB"} and w.lower_ not in _AUX_START:
            return None
    return None


def analyze(question: str) -> Analysis:
    """The question's kind, labels and specifics (see the module docstring)."""
    doc = parse(question)
    kind, focus = answer_kind(doc)
    labels = KIND_LABELS[kind] | ({"DATE"} if focus == "age" else frozenset())
    a = Analysis(question=question, kind=kind, labels=labels, focus=focus)
    a.english = _looks_english(doc)
    a.count = _asked_count(doc, focus)
    covered: list[tuple[int, int]] = []
    for ent in doc.ents:
        text = re.sub(r"['’]s$", "", ent.text).strip(" '\"“”‘’?")
        if not text:
            continue
        covered.append((ent.start_char, ent.end_char))
        a.entity_texts.append(text)
        if ent.label_ == "DATE" and re.fullmatch(r"(?:19|20)\d\d", text):
            a.specifics.append(Specific(text, "year", ent.label_))
        elif ent.label_ in {"CARDINAL", "QUANTITY", "MONEY", "PERCENT", "ORDINAL"}:
            if ent.label_ != "ORDINAL":
                a.specifics.append(Specific(text, "number", ent.label_))
        elif ent.label_ in {"DATE", "TIME"}:
            for year in re.findall(r"\b(?:19|20)\d\d\b", text):
                a.specifics.append(Specific(year, "year", "DATE"))
        else:
            a.specifics.append(Specific(_strip_article(text), "entity", ent.label_))
    for m in _QUOTED.finditer(question):
        phrase = (m.group(1) or m.group(2) or "").strip()
        if " " in phrase:
            a.specifics.append(Specific(phrase, "quote"))
    # Runs of proper nouns the NER missed ("Marine Le Pen" in a question) are one name.
    run: list[Any] = []
    for tok in [*doc, None]:
        if (
            tok is not None
            and tok.pos_ == "PROPN"
            and not any(s <= tok.idx < e for s, e in covered)
        ):
            run.append(tok)
            continue
        if run:
            start, end = run[0].idx, run[-1].idx + len(run[-1])
            name = question[start:end]
            if name.lower() not in _WH:
                a.specifics.append(Specific(name, "entity", "PROPN"))
                a.entity_texts.append(name)
                covered.append((start, end))
            run = []
    for tok in doc:
        inside = any(s <= tok.idx < e for s, e in covered)
        if tok.pos_ == "PRON" and tok.lower_ in _PRONOUNS:
            a.pronouns.append((tok.idx, tok.idx + len(tok), tok.text, tok.tag_))
        if tok.is_stop or tok.is_punct or not tok.is_alpha or len(tok) < 3:
            continue
        lemma = tok.lemma_.lower()
        if lemma in _GENERIC or (focus is not None and lemma == focus):
            continue
        if tok.pos_ in {"NOUN", "PROPN", "VERB", "ADJ", "NUM"}:
            a.terms.append(lemma)
            if tok.pos_ in {"NOUN", "ADJ"} and not inside:
                a.specifics.append(Specific(lemma, "term", weight=0.5))
    for chunk in doc.noun_chunks:
        if chunk.root.lower_ in _PRONOUNS or chunk.root.lower_ in _WH:
            continue
        a.noun_chunks.append(chunk.text)
    a.specifics = list(dict.fromkeys(a.specifics))
    return a


_PRONOUNS = {
    "he",
    "she",
    "him",
    "her",
    "his",
    "hers",
    "they",
    "them",
    "their",
    "theirs",
    "it",
    "its",
    "that",
    "this",
    "there",
    "these",
    "those",
}
_WH = {"who", "whom", "whose", "which", "what", "when", "where", "why", "how"}


_COUNTS = {"two": 2, "three": 3, "four": 4, "both": 2, "2": 2, "3": 3, "4": 4}


def _asked_count(doc: Any, focus: str | None) -> int:
    """2 for "which two ministers", "both"; else 1."""
    if focus is None:
        return 1
    for tok in doc:
        if tok.lemma_.lower() == focus:
            for child in tok.children:
                if child.dep_ in {"nummod", "det", "predet"} and child.lower_ in _COUNTS:
                    return _COUNTS[child.lower_]
    return 1


def _strip_article(text: str) -> str:
    return text[4:] if text.lower().startswith("the ") else text


def _looks_english(doc: Any) -> bool:
    """A question in another language has few English function words and, in most
    European languages, accented letters; a keyword query of one or two words passes."""
    words = [t for t in doc if t.is_alpha]
    if len(words) <= 2:
        return True
    stops = sum(1 for t in words if t.is_stop) / len(words)
    letters = [ch for t in words for ch in t.text]
    foreign = sum(1 for ch in letters if not ch.isascii()) / max(len(letters), 1)
    return stops >= 0.2 and foreign < 0.05
