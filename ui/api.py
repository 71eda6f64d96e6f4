"""The HTTP API: `/api/ask`, `/api/ask/stream` (SSE), `/api/search`, `/api/quotes`,
`/api/health`.

Portals and scripts get the same `Answer` JSON the CLI prints and the page shows. Every
request is checked before any work is done (empty or oversized question, too much
history, unknown outlet, bad date), and each problem is a 4xx with `{"error": "..."}`;
an index that cannot be loaded is a 503 with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.errors import ArchiveQAError, FilterError, QuestionError
from qa.response import Answer, Filters, Passage, Quote
from qa.retrieval.filters import make_filters
from qa.service import QAService, check_now, clean_question
from qa.timeline import Timeline
from ui.holder import ServiceHolder

log = logging.getLogger("archive_qa.ui")


class FilterSpec(BaseModel):
    """Metadata filters; unknown keys are an error, so a typo is never silently ignored."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] = Field(default_factory=list, description="Outlets, e.g. ['tass.com'].")
    since: str | None = Field(None, description="Only articles on/after this date (YYYY-MM-DD).")
    until: str | None = Field(None, description="Only articles on/before this date (YYYY-MM-DD).")
    article_ids: list[str] = Field(default_factory=list)


class Turn(BaseModel):
    question: str
    answer: str


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "Who threatened weapons convoys?"}]},
    )

    question: str = Field(description="The question.")
    history: list[Turn] = Field(
        default_factory=list, description="Earlier turns of the conversation, oldest first."
    )
    filters: FilterSpec | None = None
    k: int | None = Field(None, ge=1, le=50, description="Paragraphs to retrieve.")
    now: str | None = Field(
        None,
        description="Reference date (YYYY-MM-DD) for relative time phrases ('last month'); "
        "default: the `now` setting, else the archive's newest article.",
    )


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "Ryabkov convoys", "k": 5}]}
    )

    query: str
    filters: FilterSpec | None = None
    k: int = Field(10, ge=1, le=100)


class QuotesRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"query": "weapons convoys"}, {"speaker": "Ryabkov"}]},
    )

    query: str = ""
    speaker: str | None = None
    filters: FilterSpec | None = None
    limit: int = Field(20, ge=1, le=200)


class TimelineRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "Brexit", "by": "month"}]}
    )

    query: str = Field("", description="What to chart ('' or '*': the whole archive).")
    by: Literal["month", "week", "day"] = "month"
    filters: FilterSpec | None = None


class Health(BaseModel):
    status: str
    build_id: str
    articles: int
    chunks: int
    built_at: str
    model: str
    sources: list[tuple[str, int]]
    date_range: tuple[str | None, str | None]
    warning: str | None = Field(
        None, description="Set when a newer build exists but could not be loaded."
    )


class ErrorBody(BaseModel):
    error: str


@dataclass
class Prepared:
    """A request that passed every check, with the service to run it on."""

    service: QAService
    question: str
    filters: Filters | None
    history: list[tuple[str, str]]
    k: int | None
    now: str | None = None


ERRORS = {
    400: {"model": ErrorBody, "description": "Empty question or bad filters."},
    401: {"model": ErrorBody, "description": "Missing or wrong API key."},
    413: {"model": ErrorBody, "description": "Question or history too long."},
    503: {"model": ErrorBody, "description": "The index cannot be loaded."},
}


def _fail(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def _holder(request: Request) -> ServiceHolder:
    return request.app.state.holder


def _service(holder: ServiceHolder) -> QAService:
    try:
        return holder.get()
    except ArchiveQAError as exc:
        raise _fail(503, str(exc)) from None


def _question(text: str, limit: int) -> str:
    try:
        return clean_question(text, limit)
    except QuestionError as exc:
        too_long = len(" ".join(text.split())) > limit
        raise _fail(413 if too_long else 400, str(exc)) from None


def _filters(service: QAService, spec: FilterSpec | None) -> Filters | None:
    if spec is None:
        return None
    try:
        f = make_filters(
            spec.sources,
            spec.since,
            spec.until,
            [n for n, _ in service.info().sources],
            spec.article_ids,
        )
    except FilterError as exc:
        raise _fail(400, f"bad filters: {exc}") from None
    return None if f.is_empty() else f


def prepare_ask(body: AskRequest, request: Request) -> Prepared:
    holder = _holder(request)
    limit = holder.settings.max_question_chars
    question = _question(body.question, limit)
    if len(body.history) > holder.settings.max_history_turns:
        raise _fail(
            413,
            f"history has {len(body.history)} turns; the limit is {holder.settings.max_history_turns}",
        )
    for i, t in enumerate(body.history, start=1):
        if len(t.question) > limit or len(t.answer) > 10 * limit:
            raise _fail(413, f"history turn {i} is longer than the limit")
    service = _service(holder)
    with _guarded():
        filters = _filters(service, body.filters)
        now = check_now(body.now)
    return Prepared(
        service=service,
        question=question,
        filters=filters,
        history=[(t.question, t.answer) for t in body.history],
        k=body.k,
        now=now,
    )


router = APIRouter(prefix="/api", tags=["archive"])


@router.post("/ask", responses=ERRORS)
def ask(p: Annotated[Prepared, Depends(prepare_ask)]) -> Answer:
    """Answer a question, every claim quoted from and cited to its paragraph."""
    with _guarded():
        return p.service.ask(p.question, k=p.k, filters=p.filters, history=p.history, now=p.now)


@router.post("/ask/stream", response_class=EventSourceResponse, responses=ERRORS)
def ask_stream(p: Annotated[Prepared, Depends(prepare_ask)]) -> Iterator[ServerSentEvent]:
    """Server-sent events: `token` events (`{"text": ...}`) as the answer is written, then
    one `answer` event with the full answer object (citations included), or `error`."""
    try:
        for piece in p.service.stream(
            p.question, k=p.k, filters=p.filters, history=p.history, now=p.now
        ):
            if isinstance(piece, Answer):
                yield ServerSentEvent(event="answer", data=piece.model_dump(mode="json"))
                return
            yield ServerSentEvent(event="token", data={"text": piece})
        yield ServerSentEvent(event="error", data={"error": "the answer stream ended early"})
    except (ArchiveQAError, ValueError) as exc:
        yield ServerSentEvent(event="error", data={"error": str(exc)})
    except Exception as exc:  # the stream has started: report in-band, log the traceback
        log.exception("streaming an answer failed")
        yield ServerSentEvent(event="error", data={"error": _internal(exc)})


@router.post("/search", responses=ERRORS)
def search(body: SearchRequest, request: Request) -> list[Passage]:
    """Ranked paragraphs for a query, without an answer."""
    holder = _holder(request)
    query = _question(body.query, holder.settings.max_question_chars)
    service = _service(holder)
    with _guarded():
        return service.search(query, k=body.k, filters=_filters(service, body.filters))


@router.post("/quotes", responses=ERRORS)
def quotes(body: QuotesRequest, request: Request) -> list[Quote]:
    """Who said what: attributed statements about a query and/or by a speaker."""
    holder = _holder(request)
    query = _question(body.query, holder.settings.max_question_chars) if body.query.strip() else ""
    if not query and not (body.speaker or "").strip():
        raise _fail(400, "give a query, a speaker, or both")
    service = _service(holder)
    with _guarded():
        return service.quotes(
            query, body.speaker, filters=_filters(service, body.filters), limit=body.limit
        )


@router.post("/timeline", responses=ERRORS)
def timeline(body: TimelineRequest, request: Request) -> Timeline:
    """Matching articles per period and outlet (bounded: at most 400 periods, 8 outlets)."""
    holder = _holder(request)
    query = body.query
    if query.strip() not in ("", "*"):
        query = _question(query, holder.settings.max_question_chars)
    service = _service(holder)
    with _guarded():
        return service.timeline(query, body.by, _filters(service, body.filters))


@router.get("/health", responses={503: ERRORS[503]})
def health(request: Request) -> Health:
    """Index status: 200 with what the index holds, or 503 with why it cannot be loaded."""
    holder = _holder(request)
    service = _service(holder)
    with _guarded():
        info = service.info()
    return Health(
        status="ok",
        build_id=info.build_id,
        warning=holder.reload_error,
        articles=info.articles,
        chunks=info.chunks,
        built_at=info.built_at,
        model=info.model,
        sources=info.sources,
        date_range=info.date_range,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every API error as `{"error": "..."}` with a fitting status, never a traceback."""

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e.get('loc', ()) if x != 'body') or 'body'}: {e.get('msg')}"
            for e in exc.errors()
        )
        return JSONResponse({"error": f"bad request: {problems}"}, status_code=422)


def _internal(exc: Exception) -> str:
    return f"internal error ({type(exc).__name__}); see the server log"


@contextmanager
def _guarded() -> Iterator[None]:
    """Failures inside the service as JSON errors; handled here rather than by an app-wide
    handler, because Starlette re-raises those and the connection is then dropped."""
    try:
        yield
    except HTTPException:
        raise
    except (QuestionError, FilterError) as exc:
        raise _fail(400, str(exc)) from None
    except ArchiveQAError as exc:  # e.g. an answer generator that cannot be reached
        raise _fail(503, str(exc)) from None
    except Exception as exc:
        log.exception("request failed")
        raise _fail(500, _internal(exc)) from None
