"""Every error archive-qa raises on purpose, under one base class, `ArchiveQAError`.

Catch `ArchiveQAError` to handle all of them; each message says what is wrong and what
to do, so front ends print it as it is (one line in the CLI, a 4xx/503 body in the API).
The index layer's errors are defined in `index.errors` (the index never imports `qa`)
and re-exported here, so this is the one module a caller needs.
"""

from __future__ import annotations

from index.errors import (
    ArchiveQAError,
    ArticleNotFoundError,
    BuildLockedError,
    EmptyArchiveError,
    IndexCorruptError,
    IndexMismatchError,
    IndexNotFoundError,
    IndexOutdatedError,
    ModelError,
    UnsupportedModel,
)

__all__ = [
    "ArchiveQAError",
    "ArticleNotFoundError",
    "BuildLockedError",
    "DecomposeSettingsError",
    "EmptyArchiveError",
    "FilterError",
    "GeneratorError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexOutdatedError",
    "LocalModelError",
    "ModelError",
    "ModelFileError",
    "OpenAISettingsError",
    "QuestionError",
    "ServiceUnavailable",
    "UnknownGeneratorError",
    "UnsupportedModel",
]


class QuestionError(ArchiveQAError, ValueError):
    """The question itself is unusable (empty, too long, not text, k out of range)."""


class FilterError(ArchiveQAError, ValueError):
    """A filter value (outlet, date) is unusable; the message names it."""


class DecomposeSettingsError(ArchiveQAError):
    """LLM decomposition was asked for without a generator LLM to do it."""


class UnknownGeneratorError(ArchiveQAError, ValueError):
    """A generator name that no registered generator answers to."""


class GeneratorError(ArchiveQAError):
    """The answer model could not answer (endpoint down, timeout, crash); says why."""


class LocalModelError(ArchiveQAError):
    """llama.cpp could not load or run the local model."""


class ModelFileError(ArchiveQAError):
    """The GGUF file is missing, incomplete or not the expected one."""


class OpenAISettingsError(ArchiveQAError):
    """The openai generator is selected but not configured."""


class ServiceUnavailable(ArchiveQAError):
    """The index or model could not be loaded; the message says why and what to do."""
