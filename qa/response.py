"""The answer object shared by the CLI, the page and the HTTP API.

One shape everywhere, so a portal that reads the API sees exactly what the page shows.
"""

from __future__ import annotations

from datetime import date as _date

from pydantic import BaseModel, Field, computed_field

# What every generator says when the archive does not hold the answer.
REFUSAL = "I could not find this in the archive."


class Filters(BaseModel):
    """Metadata filters; every one that is set must hold."""

    sources: list[str] = Field(
        default_factory=list, description="Outlets, e.g. ['tass.com'] (case-insensitive)."
    )
    since: str | None = Field(None, description="ISO date, inclusive.")
    until: str | None = Field(None, description="ISO date, inclusive.")
    article_ids: list[str] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.sources or self.since or self.until or self.article_ids)


class TimeRange(BaseModel):
    """The dates a time-aware question was answered over ("as of March 2017", "latest")."""

    since: str | None = Field(None, description="ISO date, inclusive (None: open).")
    until: str | None = Field(None, description="ISO date, inclusive (None: open).")
    order: str | None = Field(
        None, description="latest or first: candidates were ordered by date, newest/oldest first."
    )
    phrase: str = Field("", description="The words of the question the range was read from.")
    reference_date: str | None = Field(
        None, description="What relative phrases ('last month') were resolved against."
    )

    def describe(self) -> str:
        """One line for the reader: 'Dates used: up to 31 March 2017 (latest first)'."""
        if self.since and self.until:
            span = f"{human_date(self.since)} to {human_date(self.until)}"
        elif self.since:
            span = f"from {human_date(self.since)}"
        elif self.until:
            span = f"up to {human_date(self.until)}"
        else:
            span = "the whole archive"
        how = {"latest": " (newest first)", "first": " (oldest first)"}.get(self.order or "", "")
        return f"Dates used: {span}{how}"


class StoryCopy(BaseModel):
    """Another outlet's (or an earlier/later) copy of the same story (index.stories)."""

    article_id: str
    title: str
    source: str | None
    date: str | None
    url: str | None

    @computed_field(description="Outlet and date: 'cnn.com, 1 March 2017'.")
    @property
    def label(self) -> str:
        return dated_label(self.source, self.date)


class OtherReport(BaseModel):
    """Another outlet's retrieved paragraph that reports the same event and says the same
    about it, in its own words (qa.retrieval.events): not a copy of the article."""

    article_id: str
    chunk_id: str
    title: str
    source: str | None
    date: str | None
    url: str | None
    paragraphs: list[int] = Field(description="Its paragraph numbers in its article.")
    similarity: float = Field(description="Cosine of the two paragraphs' embeddings.")
    shared_names: list[str] = Field(
        default_factory=list, description="Named entities both paragraphs mention (lower case)."
    )

    @computed_field(description="Outlet and date: 'rte.ie, 2 March 2017'.")
    @property
    def label(self) -> str:
        return dated_label(self.source, self.date)


_REPORTED_BY = (
    "Other outlets' retrieved paragraphs that report the same event and say the same thing "
    "(one per outlet, most similar first); with this one, 'reported by N outlets'."
)


def reporting_outlets(reported_by: list[OtherReport]) -> int:
    return 1 + len({(r.source or "").lower() for r in reported_by})


class Citation(BaseModel):
    """One numbered source: the exact paragraph and the verbatim quote taken from it."""

    n: int
    article_id: str
    chunk_id: str
    title: str
    source: str | None
    date: str | None
    url: str | None
    paragraph: int = Field(description="Paragraph number in the article, from 1.")
    text: str = Field(description="The paragraph's full text.")
    quote: str = Field(description="Verbatim sentence quoted from the paragraph ('' when none).")
    quote_start: int = Field(-1, description="Offset of the quote in `text` (-1 when no quote).")
    quote_end: int = -1
    score: float = Field(0.0, description="Relevance of the quote or paragraph to the question.")
    verified: bool = Field(
        True, description="The quote was found in the paragraph (always so for extractive)."
    )
    match: str = Field(
        "exact", description="How the quote was found: exact, normalized, fuzzy or unverified."
    )

    also_published_by: list[StoryCopy] = Field(
        default_factory=list,
        description="Near-duplicate copies of this article (the same story republished).",
    )
    reported_by: list[OtherReport] = Field(default_factory=list, description=_REPORTED_BY)

    @computed_field(description="Outlets reporting this (1 + the outlets in reported_by).")
    @property
    def reported_by_outlets(self) -> int:
        return reporting_outlets(self.reported_by)

    @computed_field(
        description="Outlet and date as the reader sees them: 'tass.com, 14 March 2017'."
    )
    @property
    def label(self) -> str:
        return dated_label(self.source, self.date)


class Quote(BaseModel):
    """One attributed statement (who said what), with the citation of its paragraph."""

    speaker: str = Field(description="The speaker as the text names them ('he', 'Ryabkov').")
    normalized: str = Field(description="The article's fullest name for the speaker.")
    role: str = Field("", description="Role or title the text gives ('' when none).")
    verb: str = Field(description="Lemma of the speech verb ('warn', 'according to').")
    statement: str = Field(description="The statement, verbatim (= citation.quote).")
    direct: bool = Field(description="A quotation-mark span (else reported speech).")
    resolved: bool = Field(description="False: a pronoun with no named speaker before it.")
    date: str | None = None
    source: str | None = None
    score: float = Field(0.0, description="Similarity to the query (0 without one).")
    citation: Citation


class Passage(BaseModel):
    """A retrieved chunk, with its scores (search results and `related` sources)."""

    rank: int
    chunk_id: str
    article_id: str
    title: str
    source: str | None
    date: str | None
    url: str | None
    paragraphs: list[int]
    text: str
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    also_published_by: list[StoryCopy] = Field(
        default_factory=list, description="Near-duplicate copies of this article."
    )
    reported_by: list[OtherReport] = Field(default_factory=list, description=_REPORTED_BY)

    @computed_field(description="Outlets reporting this (1 + the outlets in reported_by).")
    @property
    def reported_by_outlets(self) -> int:
        return reporting_outlets(self.reported_by)


class Timings(BaseModel):
    retrieve_ms: float = 0.0
    generate_ms: float = 0.0
    total_ms: float = 0.0
    rewrite_ms: float = Field(0.0, description="Follow-up question rewriting (LLM).")
    verdict_ms: float = Field(
        0.0,
        description="Deciding a yes/no question's verdict (one one-token LLM call; part of "
        "generate_ms).",
    )
    first_token_ms: float | None = Field(
        None, description="From the call to the first generated token (LLM)."
    )


class Answer(BaseModel):
    question: str
    answer: str
    short_answer: str | None = Field(
        None,
        description="The fact asked for (a name, number, date) as the cited text writes it; "
        "null for descriptions, yes/no questions and refusals.",
    )
    refused: bool = False
    citations: list[Citation] = Field(default_factory=list)
    related: list[Passage] = Field(default_factory=list, description="Retrieved but not quoted.")
    notes: list[str] = Field(
        default_factory=list, description="What the system did that the reader should know."
    )
    filters: Filters = Field(default_factory=Filters)
    generator: str = "extractive"
    timings: Timings = Field(default_factory=Timings)
    model: str | None = Field(None, description="The language model that wrote the answer.")
    standalone_question: str | None = Field(
        None, description="The follow-up rewritten with the chat history, as retrieved."
    )
    verdict: str | None = Field(
        None, description="A closed question's verdict: Yes/No or the offered word it chose."
    )
    verdict_logodds: float | None = Field(
        None,
        description="Log-odds of the question's first option (Yes, or the first offered "
        "word) over the second in the model's first token, when the verdict was decided "
        "from them; positive favours the first.",
    )
    time_range: TimeRange | None = Field(
        None, description="The date range and order a time-aware question was answered with."
    )
    verified_citations: int = Field(0, description="Citations whose quote was found.")
    unverified_citations: int = Field(0, description="Citations shown without a quote.")


def human_date(value: str | None) -> str | None:
    """'2017-03-14...' as '14 March 2017' (None when there is no date; the raw text when
    it is not ISO)."""
    if not value:
        return None
    try:
        d = _date.fromisoformat(value[:10])
    except ValueError:
        return value
    return f"{d.day} {d.strftime('%B')} {d.year}"


def dated_label(source: str | None, date: str | None) -> str:
    """Every citation says who published it and when, so an answer never reads as timeless."""
    return ", ".join([source or "unknown outlet", human_date(date) or "undated"])
