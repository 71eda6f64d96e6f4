"""archive-qa's Python API: question answering over a news archive, every claim cited.

    from qa import open_archive

    with open_archive("indexes/demo") as archive:
        answer = archive.ask("Who threatened weapons convoys?")
        print(answer.answer)
        for c in answer.citations:
            print(c.n, c.title, c.paragraph)

`open_archive` returns a `QAService`: `ask`, `stream`, `search`, `retriever()` (a
LangChain `BaseRetriever`) and `as_runnable()` (a LangChain `Runnable` giving the same
`Answer` as the CLI and the HTTP API). Names load on first use, so `import qa` stays
cheap for the command line's start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "open_archive": "qa.service",
    "QAService": "qa.service",
    "Settings": "qa.settings",
    "get_settings": "qa.settings",
    "Answer": "qa.response",
    "Citation": "qa.response",
    "Passage": "qa.response",
    "Filters": "qa.response",
    "Timings": "qa.response",
    "ArchiveRetriever": "qa.retrieval.retriever",
    "make_filters": "qa.retrieval.filters",
    "register_generator": "qa.llm.factory",
    "generator_names": "qa.llm.factory",
    "ArchiveQAError": "qa.errors",
    "ArticleNotFoundError": "qa.errors",
    "BuildLockedError": "qa.errors",
    "DecomposeSettingsError": "qa.errors",
    "EmptyArchiveError": "qa.errors",
    "FilterError": "qa.errors",
    "GeneratorError": "qa.errors",
    "IndexCorruptError": "qa.errors",
    "IndexMismatchError": "qa.errors",
    "IndexNotFoundError": "qa.errors",
    "IndexOutdatedError": "qa.errors",
    "LocalModelError": "qa.errors",
    "ModelError": "qa.errors",
    "ModelFileError": "qa.errors",
    "OpenAISettingsError": "qa.errors",
    "QuestionError": "qa.errors",
    "ServiceUnavailable": "qa.errors",
    "UnknownGeneratorError": "qa.errors",
    "UnsupportedModel": "qa.errors",
}

__all__ = [
    "Answer",
    "ArchiveQAError",
    "ArchiveRetriever",
    "ArticleNotFoundError",
    "BuildLockedError",
    "Citation",
    "DecomposeSettingsError",
    "EmptyArchiveError",
    "FilterError",
    "Filters",
    "GeneratorError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexOutdatedError",
    "LocalModelError",
    "ModelError",
    "ModelFileError",
    "OpenAISettingsError",
    "Passage",
    "QAService",
    "QuestionError",
    "ServiceUnavailable",
    "Settings",
    "Timings",
    "UnknownGeneratorError",
    "UnsupportedModel",
    "__version__",
    "generator_names",
    "get_settings",
    "make_filters",
    "open_archive",
    "register_generator",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from qa.errors import (
        ArchiveQAError,
        ArticleNotFoundError,
        BuildLockedError,
        DecomposeSettingsError,
        EmptyArchiveError,
        FilterError,
        GeneratorError,
        IndexCorruptError,
        IndexMismatchError,
        IndexNotFoundError,
        IndexOutdatedError,
        LocalModelError,
        ModelError,
        ModelFileError,
        OpenAISettingsError,
        QuestionError,
        ServiceUnavailable,
        UnknownGeneratorError,
        UnsupportedModel,
    )
    from qa.llm.factory import generator_names, register_generator
    from qa.response import Answer, Citation, Filters, Passage, Timings
    from qa.retrieval.filters import make_filters
    from qa.retrieval.retriever import ArchiveRetriever
    from qa.service import QAService, open_archive
    from qa.settings import Settings, get_settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qa' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
